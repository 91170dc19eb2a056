//! Granting a plan, new or extended: one rule whatever the source, and the subscriber a Telegram
//! user is.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use entity::{plan, subscriber, subscription};

use crate::{
    AppCtx,
    error::Result,
    events::{self, EventType},
    telegram::BotHandle,
};

use entity::subscription::{SubscriptionSource, SubscriptionStatus};

use super::TgUser;

/// What a grant of a plan is made of (a redeemed code today; a payment later).
pub struct Grant<'a> {
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub subscriber_id: Uuid,
    pub plan: &'a plan::Model,
    pub source: SubscriptionSource,
    pub access_code_id: Option<Uuid>,
    pub price_minor: i64,
}

/// What a payment bought, in place of what the plan says: the span Telegram charged for (a
/// Stars subscription's 30 days, whatever the plan's duration became since; `None` for the
/// plan's own duration) and the currency it was paid in.
pub struct Bought<'a> {
    pub span: Option<Duration>,
    pub currency: &'a str,
}

/// What a grant did: the subscription, whether it was extended, and the time it added
/// (recorded on the activation, so a rollback can take exactly that away).
#[derive(Debug, Clone)]
pub struct Granted {
    pub subscription: subscription::Model,
    pub extended: bool,
    pub added_from: DateTime<Utc>,
    /// `None` for lifetime.
    pub added_until: Option<DateTime<Utc>>,
}

/// Serialises every change of one subscriber's subscriptions inside the caller's
/// transaction, also when there is no subscription row yet to lock: `SELECT … FOR NO KEY
/// UPDATE` on the subscriber's row on PostgreSQL. (Not `FOR UPDATE`: the caller may already
/// hold the `KEY SHARE` lock an insert referencing the subscriber takes, e.g. the
/// activation, and two such callers upgrading to `FOR UPDATE` would deadlock.) SQLite has
/// one writer (and the embedded default one pooled connection), so a writing transaction is
/// already alone; the lock clause is not emitted there.
pub(super) async fn lock_subscriber(txn: &impl ConnectionTrait, subscriber_id: Uuid) -> Result<()> {
    subscriber::Entity::find_by_id(subscriber_id)
        .select_only()
        .column(subscriber::Column::Id)
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    Ok(())
}

/// The one rule for giving a subscriber a plan, inside the caller's transaction: the active
/// subscription to the same plan is extended by the plan's duration from its current end (or
/// from now, if that is later), otherwise a new one starts now.
///
/// Atomic: the subscriber's row is locked first, so two grants for one subscriber (two
/// codes redeemed at once) run one after the other and the second extends what the first
/// made; the active subscription is read `FOR UPDATE`, so the end sweep's claim (which
/// re-checks `ends_at`) waits for the extension and then refuses it.
pub async fn grant(
    txn: &impl ConnectionTrait,
    g: Grant<'_>,
    now: DateTime<Utc>,
) -> Result<Granted> {
    lock_subscriber(txn, g.subscriber_id).await?;
    grant_locked(txn, g, now).await
}

/// [`grant`] for a caller whose transaction already holds the subscriber's row lock (a
/// redemption upserts the subscriber inside its transaction, which locks the row).
pub(crate) async fn grant_locked(
    txn: &impl ConnectionTrait,
    g: Grant<'_>,
    now: DateTime<Utc>,
) -> Result<Granted> {
    grant_with(txn, g, None, now).await
}

/// [`grant`] of what a payment bought (its span and currency rather than the plan's).
pub async fn grant_bought(
    txn: &impl ConnectionTrait,
    g: Grant<'_>,
    bought: Bought<'_>,
    now: DateTime<Utc>,
) -> Result<Granted> {
    lock_subscriber(txn, g.subscriber_id).await?;
    grant_with(txn, g, Some(bought), now).await
}

async fn grant_with(
    txn: &impl ConnectionTrait,
    g: Grant<'_>,
    bought: Option<Bought<'_>>,
    now: DateTime<Utc>,
) -> Result<Granted> {
    let pl = g.plan;
    let existing = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(g.subscriber_id))
        .filter(subscription::Column::PlanId.eq(pl.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .lock_exclusive()
        .one(txn)
        .await?;
    let plan_length = pl.duration_days.map(|d| Duration::days(i64::from(d)));
    let length = bought.as_ref().and_then(|b| b.span).or(plan_length);
    let currency = bought
        .as_ref()
        .map_or_else(|| pl.currency.clone(), |b| b.currency.to_string());
    let granted = match existing {
        Some(s) => {
            let added_from = s.ends_at.map_or(now, |end| Ord::max(end, now));
            let ends_at = match (s.ends_at, length) {
                (Some(_), Some(len)) => Some(added_from + len),
                _ => None,
            };
            let mut am = s.into_active_model();
            am.ends_at = Set(ends_at);
            // A new end deserves a new reminder.
            am.reminder_sent_at = Set(None);
            am.updated_at = Set(now);
            Granted {
                subscription: am.update(txn).await?,
                extended: true,
                added_from,
                added_until: ends_at,
            }
        }
        None => {
            let s = subscription::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(g.tenant_id),
                project_id: Set(g.project_id),
                subscriber_id: Set(g.subscriber_id),
                plan_id: Set(pl.id),
                source: Set(g.source),
                access_code_id: Set(g.access_code_id),
                price_minor: Set(g.price_minor),
                currency: Set(currency),
                starts_at: Set(now),
                ends_at: Set(length.map(|l| now + l)),
                status: Set(SubscriptionStatus::Active),
                reminder_sent_at: Set(None),
                retention_offered_at: Set(None),
                ended_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            Granted {
                added_until: s.ends_at,
                subscription: s,
                extended: false,
                added_from: now,
            }
        }
    };
    let kind = if granted.extended {
        EventType::SubscriptionExtended
    } else {
        EventType::SubscriptionCreated
    };
    events::emit_subscription(txn, g.tenant_id, kind, granted.subscription.id, now).await?;
    Ok(granted)
}

/// A Telegram user started the bot (`/start`): they are a subscriber of the project from now
/// on (the "everyone who started the bot" of broadcasts), with their current names, and no
/// longer blocked if they had blocked the bot (pressing Start again is how one unblocks).
pub async fn started(ctx: &AppCtx, h: &BotHandle, user: &TgUser) -> Result<subscriber::Model> {
    subscriber_for(&ctx.db, h, user, ctx.now()).await
}

/// The project's subscriber for a Telegram user, created on first contact, with the name
/// Telegram sent this time (a subscriber who changed their @username or first name is shown
/// by the current one). One statement either way: an insert that, on the (project, user)
/// pair it shares with an existing subscriber, refreshes the names and returns that row.
/// Inside a transaction it also holds the subscriber's row lock until the end, as
/// [`grant`] would take it.
pub(crate) async fn subscriber_for(
    db: &impl ConnectionTrait,
    h: &BotHandle,
    user: &TgUser,
    now: DateTime<Utc>,
) -> Result<subscriber::Model> {
    use sea_orm::sea_query::OnConflict;
    let fresh = subscriber::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(h.tenant_id),
        project_id: Set(h.project_id),
        telegram_user_id: Set(user.id),
        username: Set(user.username.clone()),
        first_name: Set(user.first_name.chars().take(255).collect()),
        created_at: Set(now),
        blocked_at: Set(None),
        language_code: Set(user
            .language_code
            .as_ref()
            .map(|c| c.chars().take(35).collect())),
    };
    let mut refreshed = vec![
        subscriber::Column::Username,
        subscriber::Column::FirstName,
        subscriber::Column::BlockedAt,
    ];
    if user.language_code.is_some() {
        refreshed.push(subscriber::Column::LanguageCode);
    }
    Ok(subscriber::Entity::insert(fresh)
        .on_conflict(
            OnConflict::columns([
                subscriber::Column::ProjectId,
                subscriber::Column::TelegramUserId,
            ])
            // Someone who talks to the bot again has unblocked it.
            .update_columns(refreshed)
            .to_owned(),
        )
        .exec_with_returning(db)
        .await?)
}
