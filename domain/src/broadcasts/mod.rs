//! Broadcasts: a creator's message to a segment of a project's subscribers, sent by the
//! project's bot through the one paced sender (so it shares the bot's budget with every other
//! message). The segment is computed in SQL when sending starts and written as one recipient
//! row per subscriber (one `INSERT … SELECT`, in the transaction that pushes the job); the
//! `SendBroadcast` job then claims recipients one at a time (a conditional update tied to
//! the claimer's liveness, `crate::claims`), sends, and records each as sent, blocked or
//! failed. A re-run or a second worker sends only what is still pending; a worker that died
//! holding a recipient loses it to the next one at once. The one window left is a process
//! dying between Telegram's answer and the update that records it: that recipient would get
//! the message twice.
//!
//! Subscribers who blocked the bot (Telegram's 403 "bot was blocked by the user") are marked
//! (`subscribers.blocked_at`) and left out of every later segment until they talk to the bot
//! again. A suspended tenant's broadcast pauses and resumes on unsuspension.
//!
//! By use case: `html` (Telegram's HTML subset, checked before saving), `input` (every field
//! of a broadcast checked), `manage` (create,
//! preview, send, cancel, get, list), `send` (the job), `recovery` (stuck broadcasts queued
//! again), `schedule` (`send_at`, and the sweep that starts due broadcasts).
mod html;
mod input;
mod manage;
mod recovery;
mod schedule;
mod send;
mod trial_run;

pub use entity::broadcast::BroadcastStatus;
pub use html::{HtmlFault, MAX_CHARS, check as check_html};
pub use input::MAX_CAPTION;
pub use manage::*;
pub use recovery::recover_stuck;
pub use schedule::{MAX_SCHEDULE_DAYS, start_due};
pub use send::{IN_FLIGHT, resume_paused, send as run};
pub use trial_run::{NO_LINKED_CHAT, TestSent, send_test};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition,
    sea_query::{Query, SelectStatement},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{
    access_code, subscriber, subscription,
    subscription::{SubscriptionSource, SubscriptionStatus},
};

/// The most days a segment's window may span.
pub const MAX_WINDOW_DAYS: u32 = 365;

/// Callback data of the "Redeem a code" button (the bot's own `/start` button sends it too).
pub const REDEEM_CALLBACK: &str = "redeem";

/// Who gets a broadcast; computed when sending starts. Subscribers who blocked the bot are
/// always left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Segment {
    /// Everyone the bot knows in this project (every subscriber).
    All,
    /// Subscribers with access now, of the given plans (empty or left out: any plan),
    /// optionally only through a subscription of one source (`access_code`, `payment`,
    /// `trial`: the trial segment) or from a code of one batch.
    Active {
        #[serde(default)]
        plan_ids: Vec<Uuid>,
        #[serde(default)]
        source: Option<SubscriptionSource>,
        #[serde(default)]
        batch_id: Option<Uuid>,
    },
    /// Subscribers with an active subscription that ends within `days` days (1–365).
    EndingWithin { days: u32 },
    /// Subscribers whose subscription ended within the last `days` days (1–365) and who
    /// have no access now.
    EndedWithin { days: u32 },
    /// Subscribers who never had a subscription in this project.
    NeverSubscribed,
}

/// One optional button under the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ButtonIn {
    /// Opens `url` (http or https); `text` is its label (1–64 characters).
    Url { text: String, url: String },
    /// The bot's "Redeem a code" button: asks for a code, as `/start` does.
    Redeem,
}

/// The project's subscriptions' subscriber ids, narrowed by `f`.
fn subs(project_id: Uuid, f: impl FnOnce(&mut SelectStatement)) -> SelectStatement {
    let mut q = Query::select()
        .column(subscription::Column::SubscriberId)
        .from(subscription::Entity)
        .and_where(subscription::Column::ProjectId.eq(project_id))
        .to_owned();
    f(&mut q);
    q
}

/// The subscribers (rows of `subscribers`) a segment holds at `now`.
pub(crate) fn audience(
    tenant_id: Uuid,
    project_id: Uuid,
    seg: &Segment,
    now: DateTime<Utc>,
) -> Condition {
    let active = |q: &mut SelectStatement| {
        q.and_where(subscription::Column::Status.eq(SubscriptionStatus::Active))
            .cond_where(
                Condition::any()
                    .add(subscription::Column::EndsAt.is_null())
                    .add(subscription::Column::EndsAt.gt(now)),
            );
    };
    let base = Condition::all()
        .add(subscriber::Column::TenantId.eq(tenant_id))
        .add(subscriber::Column::ProjectId.eq(project_id))
        .add(subscriber::Column::BlockedAt.is_null());
    match seg {
        Segment::All => base,
        Segment::Active {
            plan_ids,
            source,
            batch_id,
        } => {
            let plans = plan_ids.clone();
            base.add(subscriber::Column::Id.in_subquery(subs(project_id, |q| {
                active(q);
                if !plans.is_empty() {
                    q.and_where(subscription::Column::PlanId.is_in(plans));
                }
                if let Some(s) = source {
                    q.and_where(subscription::Column::Source.eq(*s));
                }
                if let Some(b) = batch_id {
                    q.and_where(
                        subscription::Column::AccessCodeId.in_subquery(
                            Query::select()
                                .column(access_code::Column::Id)
                                .from(access_code::Entity)
                                .and_where(access_code::Column::BatchId.eq(*b))
                                .and_where(access_code::Column::ProjectId.eq(project_id))
                                .to_owned(),
                        ),
                    );
                }
            })))
        }
        Segment::EndingWithin { days } => {
            let until = now + Duration::days(i64::from(*days));
            base.add(subscriber::Column::Id.in_subquery(subs(project_id, |q| {
                q.and_where(subscription::Column::Status.eq(SubscriptionStatus::Active))
                    .and_where(subscription::Column::EndsAt.gt(now))
                    .and_where(subscription::Column::EndsAt.lte(until));
            })))
        }
        Segment::EndedWithin { days } => {
            let since = now - Duration::days(i64::from(*days));
            base.add(subscriber::Column::Id.in_subquery(subs(project_id, |q| {
                q.and_where(subscription::Column::Status.eq(SubscriptionStatus::Expired))
                    .and_where(subscription::Column::EndedAt.gte(since));
            })))
            .add(subscriber::Column::Id.not_in_subquery(subs(project_id, active)))
        }
        Segment::NeverSubscribed => {
            base.add(subscriber::Column::Id.not_in_subquery(subs(project_id, |_| {})))
        }
    }
}
