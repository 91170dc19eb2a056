//! Subscriptions, the one owner of a subscription and its states: granting a plan (new or
//! extended: one rule, whatever the source), unshareable channel access (join-request links
//! approved only for a subscriber whose active subscription covers the channel), renewal
//! reminders, expiry and revocation (removal from the plan's channels), and the members pages.
//! Redeeming a code is `redemption`.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{
    access_code, activation, bot, channel, payment, plan, plan_channel, subscriber, subscription,
    tenant, tenant::TenantStatus,
};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    events::{self, EventType},
    projects,
    telegram::{self, BotHandle},
    tenancy::{Action, TenantCtx},
};

pub use entity::subscription::{SubscriptionSource, SubscriptionStatus};

/// The Telegram user redeeming.
#[derive(Debug, Clone)]
pub struct TgUser {
    pub id: i64,
    pub username: Option<String>,
    pub first_name: String,
}

/// Access to one channel: a personal join-request link (the bot approves only the
/// subscriber; a user already in the channel loses nothing by holding one).
#[derive(Debug, Clone, Serialize)]
pub struct AccessLink {
    pub channel: String,
    pub link: String,
}

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
async fn lock_subscriber(txn: &impl ConnectionTrait, subscriber_id: Uuid) -> Result<()> {
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
    let pl = g.plan;
    let existing = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(g.subscriber_id))
        .filter(subscription::Column::PlanId.eq(pl.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .lock_exclusive()
        .one(txn)
        .await?;
    let length = pl.duration_days.map(|d| Duration::days(i64::from(d)));
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
                currency: Set(pl.currency.clone()),
                starts_at: Set(now),
                ends_at: Set(length.map(|l| now + l)),
                status: Set(SubscriptionStatus::Active),
                reminder_sent_at: Set(None),
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

/// What taking one activation's time back did to its subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// The subscription had already ended; nothing to take.
    Unchanged,
    /// Time remains: the subscription now ends at this time (`None`: lifetime).
    Shortened(Uuid, Option<DateTime<Utc>>),
    /// No granted time remains: the subscription is revoked (its user must leave the channels).
    Revoked(Uuid),
}

/// One grant of time to a subscription: a code's activation or a Stars payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantRef {
    Activation(Uuid),
    Payment(Uuid),
}

/// A grant and the span it added, as the replay of [`withdraw_grant`] reads it.
struct Span {
    r: GrantRef,
    at: DateTime<Utc>,
    added_from: Option<DateTime<Utc>>,
    added_until: Option<DateTime<Utc>>,
    access_code_id: Option<Uuid>,
}

/// Takes back exactly the time one activation added to its subscription, inside the
/// caller's transaction (the caller deletes the activation afterwards). See
/// [`withdraw_grant`].
pub(crate) async fn withdraw(
    txn: &impl ConnectionTrait,
    a: &activation::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    let Some(sid) = a.subscription_id else {
        return Ok(Withdrawn::Unchanged);
    };
    withdraw_grant(
        txn,
        sid,
        a.subscriber_id,
        GrantRef::Activation(a.id),
        a.added_from.is_some(),
        now,
    )
    .await
}

/// Takes back exactly the time a Stars payment added to its subscription (a refund), inside
/// the caller's transaction, which has already marked the payment refunded.
pub(crate) async fn withdraw_payment(
    txn: &impl ConnectionTrait,
    p: &payment::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    let Some(sid) = p.subscription_id else {
        return Ok(Withdrawn::Unchanged);
    };
    withdraw_grant(
        txn,
        sid,
        p.subscriber_id,
        GrantRef::Payment(p.id),
        true,
        now,
    )
    .await
}

/// Takes back exactly the time one grant (a code's activation or a Stars payment) added to
/// its subscription. The subscription's other grants — activations and paid payments alike —
/// are replayed in the order they were made as if this one had never happened: each starts
/// at the later of its own time and the previous one's end and keeps its own length, so
/// later grants shift earlier by the time taken away. When no granted time remains (no other
/// grant, or what is left already ended) the subscription is revoked. Grants from before
/// spans were recorded (`added_from` null) take the plan's duration off the end instead.
async fn withdraw_grant(
    txn: &impl ConnectionTrait,
    subscription_id: Uuid,
    subscriber_id: Uuid,
    removed: GrantRef,
    removed_known: bool,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    lock_subscriber(txn, subscriber_id).await?;
    let Some(s) = subscription::Entity::find_by_id(subscription_id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(Withdrawn::Unchanged);
    };
    if s.status != SubscriptionStatus::Active {
        return Ok(Withdrawn::Unchanged);
    }
    let mut others: Vec<Span> = activation::Entity::find()
        .filter(activation::Column::SubscriptionId.eq(s.id))
        .all(txn)
        .await?
        .into_iter()
        .filter(|o| removed != GrantRef::Activation(o.id))
        .map(|o| Span {
            r: GrantRef::Activation(o.id),
            at: o.at,
            added_from: o.added_from,
            added_until: o.added_until,
            access_code_id: Some(o.access_code_id),
        })
        .collect();
    others.extend(
        payment::Entity::find()
            .filter(payment::Column::SubscriptionId.eq(s.id))
            .filter(payment::Column::Status.eq(payment::PaymentStatus::Paid))
            .all(txn)
            .await?
            .into_iter()
            .filter(|o| removed != GrantRef::Payment(o.id))
            .map(|o| Span {
                r: GrantRef::Payment(o.id),
                // When it was granted (as an activation's `at`), not when Telegram charged.
                at: o.created_at,
                added_from: Some(o.added_from),
                added_until: o.added_until,
                access_code_id: None,
            }),
    );
    let key = |g: &GrantRef| match g {
        GrantRef::Activation(id) | GrantRef::Payment(id) => *id,
    };
    others.sort_by_key(|o| (o.at, key(&o.r)));
    if others.is_empty() {
        return revoke_in(txn, &s, now).await;
    }
    let known = removed_known && others.iter().all(|o| o.added_from.is_some());
    let (starts_at, ends_at, access_code_id) = if known {
        // Replay what remains.
        let mut end: Option<Option<DateTime<Utc>>> = None;
        let mut starts_at = None;
        for o in &others {
            let length = o
                .added_until
                .zip(o.added_from)
                .map(|(until, from)| until - from);
            let from = match end {
                Some(Some(e)) => Ord::max(e, o.at),
                _ => o.at,
            };
            let until = match (end, length) {
                // After a lifetime grant everything is lifetime.
                (Some(None), _) | (_, None) => None,
                (_, Some(len)) => Some(from + len),
            };
            starts_at.get_or_insert(from);
            end = Some(until);
            if (o.added_from, o.added_until) != (Some(from), until) {
                match o.r {
                    GrantRef::Activation(id) => {
                        activation::Entity::update_many()
                            .col_expr(activation::Column::AddedFrom, Expr::value(from))
                            .col_expr(activation::Column::AddedUntil, Expr::value(until))
                            .filter(activation::Column::Id.eq(id))
                            .exec(txn)
                            .await?;
                    }
                    GrantRef::Payment(id) => {
                        payment::Entity::update_many()
                            .col_expr(payment::Column::AddedFrom, Expr::value(from))
                            .col_expr(payment::Column::AddedUntil, Expr::value(until))
                            .filter(payment::Column::Id.eq(id))
                            .exec(txn)
                            .await?;
                    }
                }
            }
        }
        (
            starts_at.unwrap_or(s.starts_at),
            end.flatten(),
            others[0].access_code_id,
        )
    } else {
        let plan = plan::Entity::find_by_id(s.plan_id).one(txn).await?;
        let length = plan
            .and_then(|p| p.duration_days)
            .map(|d| Duration::days(i64::from(d)));
        let ends_at = match (s.ends_at, length) {
            (Some(e), Some(len)) => Some(e - len),
            (e, _) => e,
        };
        (s.starts_at, ends_at, others[0].access_code_id)
    };
    if ends_at.is_some_and(|e| e <= now) {
        return revoke_in(txn, &s, now).await;
    }
    let changed = ends_at != s.ends_at;
    let mut am = s.into_active_model();
    am.starts_at = Set(starts_at);
    am.ends_at = Set(ends_at);
    am.access_code_id = Set(access_code_id);
    if changed {
        am.reminder_sent_at = Set(None);
    }
    am.updated_at = Set(now);
    let s = am.update(txn).await?;
    Ok(Withdrawn::Shortened(s.id, s.ends_at))
}

async fn revoke_in(
    txn: &impl ConnectionTrait,
    s: &subscription::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    subscription::Entity::update_many()
        .col_expr(
            subscription::Column::Status,
            Expr::value(SubscriptionStatus::Revoked),
        )
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .exec(txn)
        .await?;
    events::emit_subscription(txn, s.tenant_id, EventType::SubscriptionRevoked, s.id, now).await?;
    Ok(Withdrawn::Revoked(s.id))
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
    };
    Ok(subscriber::Entity::insert(fresh)
        .on_conflict(
            OnConflict::columns([
                subscriber::Column::ProjectId,
                subscriber::Column::TelegramUserId,
            ])
            .update_columns([subscriber::Column::Username, subscriber::Column::FirstName])
            .to_owned(),
        )
        .exec_with_returning(db)
        .await?)
}

async fn channels_of_plan(db: &impl ConnectionTrait, plan_id: Uuid) -> Result<Vec<channel::Model>> {
    // One round trip: the plan's channel ids as a subquery.
    Ok(channel::Entity::find()
        .filter(
            channel::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(plan_channel::Column::ChannelId)
                    .from(plan_channel::Entity)
                    .and_where(plan_channel::Column::PlanId.eq(plan_id))
                    .to_owned(),
            ),
        )
        .order_by_asc(channel::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A fresh personal join-request link per available channel of the subscription's plan:
/// one `createChatInviteLink` per channel and nothing else (no `getChatMember`: a member who
/// follows a join-request link is simply approved again, so asking first only costs a call).
pub async fn access_links(
    ctx: &AppCtx,
    h: &BotHandle,
    s: &subscription::Model,
) -> Result<Vec<AccessLink>> {
    let mut out = vec![];
    let name = format!("sub {}", &s.id.simple().to_string()[..12]);
    for ch in channels_of_plan(&ctx.db, s.plan_id).await? {
        if !ch.available {
            continue;
        }
        let link =
            telegram::sender::create_join_request_link(ctx, h.id, ch.telegram_chat_id, &name)
                .await?;
        out.push(AccessLink {
            channel: ch.title,
            link,
        });
    }
    Ok(out)
}

/// The one way access goes out to a user: a single message (`text`) with a "Join <channel>"
/// URL button per link, so N channels cost N + 1 Bot API calls (the links, then this message).
/// Redemption and `/my` use it; so can any other grant (a payment).
pub async fn send_access(
    ctx: &AppCtx,
    h: &BotHandle,
    chat_id: i64,
    text: &str,
    links: &[AccessLink],
    more: telegram::Keyboard,
) -> Result<()> {
    let keyboard: telegram::Keyboard = links
        .iter()
        .map(|l| {
            vec![telegram::Button::Url {
                text: format!("Join {}", l.channel),
                url: l.link.clone(),
            }]
        })
        .chain(more)
        .collect();
    let keyboard = (!keyboard.is_empty()).then_some(keyboard);
    telegram::send_message(ctx, h.id, chat_id, text, keyboard).await?;
    Ok(())
}

/// A join request to a channel through an invite link this bot created (`link_creator` is
/// the Telegram id of the link's creator): approved only for a subscriber whose active
/// subscription's plan grants that channel; anyone else (a forwarded link) is declined.
/// Requests through links the bot did not make (the creator's own links, a public
/// channel's "request to join") are not ours to judge and are left alone (`None`).
/// Otherwise returns whether it was approved.
pub async fn on_join_request(
    ctx: &AppCtx,
    h: &BotHandle,
    chat_id: i64,
    user_id: i64,
    link_creator: Option<i64>,
) -> Result<Option<bool>> {
    if link_creator != Some(h.telegram_bot_id) {
        tracing::debug!(bot = %h.id, chat = chat_id, "join request through a link the bot did not create: left alone");
        return Ok(None);
    }
    let ch = channel::Entity::find()
        .filter(channel::Column::ProjectId.eq(h.project_id))
        .filter(channel::Column::TelegramChatId.eq(chat_id))
        .one(&ctx.db)
        .await?;
    let allowed = match ch {
        Some(ch) => covers(ctx, h.project_id, ch.id, user_id).await?,
        None => false,
    };
    if allowed {
        telegram::sender::approve_join(ctx, h.id, chat_id, user_id).await?;
    } else {
        telegram::sender::decline_join(ctx, h.id, chat_id, user_id).await?;
    }
    Ok(Some(allowed))
}

async fn covers(ctx: &AppCtx, project_id: Uuid, channel_id: Uuid, user_id: i64) -> Result<bool> {
    let Some(sub) = subscriber::Entity::find()
        .filter(subscriber::Column::ProjectId.eq(project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(false);
    };
    let now = ctx.now();
    let plans: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::PlanId)
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(
            sea_orm::Condition::any()
                .add(subscription::Column::EndsAt.is_null())
                .add(subscription::Column::EndsAt.gt(now)),
        )
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if plans.is_empty() {
        return Ok(false);
    }
    Ok(plan_channel::Entity::find()
        .filter(plan_channel::Column::PlanId.is_in(plans))
        .filter(plan_channel::Column::ChannelId.eq(channel_id))
        .count(&ctx.db)
        .await?
        > 0)
}

/// The user's subscriptions in this project, with fresh access links for the active ones.
pub struct MySubscription {
    pub id: Uuid,
    pub plan_name: String,
    pub status: SubscriptionStatus,
    pub ends_at: Option<DateTime<Utc>>,
    pub links: Vec<AccessLink>,
}

pub async fn mine(ctx: &AppCtx, h: &BotHandle, user_id: i64) -> Result<Vec<MySubscription>> {
    let Some(sub) = subscriber::Entity::find()
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for s in subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .order_by_desc(subscription::Column::CreatedAt)
        .all(&ctx.db)
        .await?
    {
        let plan_name = plan::Entity::find_by_id(s.plan_id)
            .one(&ctx.db)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let links = if s.status == SubscriptionStatus::Active {
            access_links(ctx, h, &s).await?
        } else {
            vec![]
        };
        out.push(MySubscription {
            id: s.id,
            plan_name,
            status: s.status,
            ends_at: s.ends_at,
            links,
        });
    }
    Ok(out)
}

// --- sweeps -----------------------------------------------------------------------------------

async fn bot_of(ctx: &AppCtx, project_id: Uuid) -> Result<Option<bot::Model>> {
    Ok(bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(project_id))
        .one(&ctx.db)
        .await?)
}

async fn telegram_user(ctx: &AppCtx, subscriber_id: Uuid) -> Result<Option<i64>> {
    Ok(subscriber::Entity::find_by_id(subscriber_id)
        .one(&ctx.db)
        .await?
        .map(|s| s.telegram_user_id))
}

/// How many due subscriptions one sweep takes at most (the next tick takes the rest).
pub const SWEEP_BATCH: u64 = 1_000;

/// Tenants that are not suspended, as a subquery for the sweeps' filters.
fn active_tenants() -> sea_orm::sea_query::SelectStatement {
    tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .filter(tenant::Column::Status.eq(TenantStatus::Active))
        .into_query()
}

/// One reminder a day before the end ([`SWEEP_BATCH`] at a time).
pub async fn send_reminders(ctx: &AppCtx) -> Result<u64> {
    send_reminders_up_to(ctx, SWEEP_BATCH).await
}

/// [`send_reminders`] taking at most `limit` due subscriptions, soonest end first.
/// Suspended tenants get none (their bots are paused; their subscriptions still run out):
/// they are left out by the query itself, so however many of their rows are due they never
/// fill the batch ahead of other tenants. Each reminder is claimed with a conditional update
/// that re-checks what it reminds about — still active, no reminder yet, and the same end
/// date — so two workers send it once, and a subscription extended after it was read is not
/// told of its old end (the extension also reset `reminder_sent_at` for the new end).
pub async fn send_reminders_up_to(ctx: &AppCtx, limit: u64) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::ReminderSentAt.is_null())
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .filter(subscription::Column::EndsAt.lte(now + Duration::days(1)))
        .filter(subscription::Column::TenantId.in_subquery(active_tenants()))
        .order_by_asc(subscription::Column::EndsAt)
        .order_by_asc(subscription::Column::Id)
        .limit(limit)
        .all(&ctx.db)
        .await?;
    let mut sent = 0;
    for s in due {
        let Some(ends_at) = s.ends_at else { continue };
        let claimed = subscription::Entity::update_many()
            .col_expr(subscription::Column::ReminderSentAt, Expr::value(now))
            .filter(subscription::Column::Id.eq(s.id))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
            .filter(subscription::Column::ReminderSentAt.is_null())
            .filter(subscription::Column::EndsAt.eq(ends_at))
            .exec(&ctx.db)
            .await?
            .rows_affected;
        if claimed == 0 {
            continue;
        }
        let (Some(b), Some(user)) = (
            bot_of(ctx, s.project_id).await?,
            telegram_user(ctx, s.subscriber_id).await?,
        ) else {
            continue;
        };
        let plan_name = plan::Entity::find_by_id(s.plan_id)
            .one(&ctx.db)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let text = format!(
            "Your “{plan_name}” subscription ends on {}. Redeem another code or renew to keep your access.",
            ends_at.format("%Y-%m-%d %H:%M UTC")
        );
        if let Err(e) = telegram::send_message(ctx, b.id, user, &text, None).await {
            tracing::warn!(error = %e, subscription = %s.id, "reminder not delivered");
        }
        sent += 1;
    }
    Ok(sent)
}

/// Ends subscriptions whose time is up, soonest first, [`SWEEP_BATCH`] at a time: status
/// expired, claimed by a conditional update that re-checks `ends_at <= now` (so each is ended
/// once, and one extended after the sweep read it is left alone), then removal from each
/// channel of the plan and a message to the user. Lifetime subscriptions never end.
pub async fn expire_due(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.lte(now))
        .order_by_asc(subscription::Column::EndsAt)
        .order_by_asc(subscription::Column::Id)
        .limit(SWEEP_BATCH)
        .all(&ctx.db)
        .await?;
    let mut ended = 0;
    for s in due {
        if end(ctx, &s, SubscriptionStatus::Expired).await? {
            ended += 1;
            let text = "Your subscription has ended and your access was removed. Redeem a new code any time to come back.";
            remove_access(ctx, &s, Some(text)).await;
        }
    }
    Ok(ended)
}

/// Claims the end of an active subscription; false when someone else ended it first, or
/// (for expiry) when its end is no longer past because it was extended meanwhile.
async fn end(ctx: &AppCtx, s: &subscription::Model, status: SubscriptionStatus) -> Result<bool> {
    let now = ctx.now();
    let mut claim = subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value(status))
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active));
    match status {
        SubscriptionStatus::Expired => {
            claim = claim
                .filter(subscription::Column::EndsAt.is_not_null())
                .filter(subscription::Column::EndsAt.lte(now));
        }
        SubscriptionStatus::Revoked | SubscriptionStatus::Active => {}
    }
    // The end and its webhook event commit together.
    let txn = ctx.db.begin().await?;
    if claim.exec(&txn).await?.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let kind = match status {
        SubscriptionStatus::Revoked => EventType::SubscriptionRevoked,
        SubscriptionStatus::Expired | SubscriptionStatus::Active => EventType::SubscriptionEnded,
    };
    events::emit_subscription(&txn, s.tenant_id, kind, s.id, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Removes the user from the plan's channels (unless another active subscription still
/// covers a channel) and tells them. Telegram failures are logged, not fatal.
async fn remove_access(ctx: &AppCtx, s: &subscription::Model, message: Option<&str>) {
    let run = async {
        let (Some(b), Some(user)) = (
            bot_of(ctx, s.project_id).await?,
            telegram_user(ctx, s.subscriber_id).await?,
        ) else {
            return Ok::<(), Error>(());
        };
        for ch in channels_of_plan(&ctx.db, s.plan_id).await? {
            if covers(ctx, s.project_id, ch.id, user).await? {
                continue;
            }
            if let Err(e) =
                telegram::sender::remove_member(ctx, b.id, ch.telegram_chat_id, user).await
            {
                tracing::warn!(error = %e, channel = %ch.id, "removing a member failed");
            }
        }
        if let Some(text) = message
            && let Err(e) = telegram::send_message(ctx, b.id, user, text, None).await
        {
            tracing::warn!(error = %e, "end-of-subscription message not delivered");
        }
        Ok(())
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, subscription = %s.id, "removing access failed");
    }
}

/// Removes access for subscriptions another service already marked revoked (code rollback).
pub async fn remove_revoked(ctx: &AppCtx, ids: &[Uuid]) -> Result<()> {
    remove_revoked_because(
        ctx,
        ids,
        "Your access was revoked by the community's owner.",
    )
    .await
}

/// Removes access for subscriptions already marked revoked, telling each user `message`.
pub async fn remove_revoked_because(ctx: &AppCtx, ids: &[Uuid], message: &str) -> Result<()> {
    for s in subscription::Entity::find()
        .filter(subscription::Column::Id.is_in(ids.iter().copied()))
        .all(&ctx.db)
        .await?
    {
        remove_access(ctx, &s, Some(message)).await;
    }
    Ok(())
}

/// Tells the users of subscriptions a rollback shortened when their access now ends.
pub async fn tell_shortened(ctx: &AppCtx, ids: &[Uuid]) {
    tell_shortened_because(
        ctx,
        ids,
        "An access code you redeemed was withdrawn by the community's owner.",
    )
    .await;
}

/// Tells the users of shortened subscriptions why (`reason`) and when their access now ends.
pub async fn tell_shortened_because(ctx: &AppCtx, ids: &[Uuid], reason: &str) {
    let run = async {
        for s in subscription::Entity::find()
            .filter(subscription::Column::Id.is_in(ids.iter().copied()))
            .all(&ctx.db)
            .await?
        {
            let (Some(b), Some(user)) = (
                bot_of(ctx, s.project_id).await?,
                telegram_user(ctx, s.subscriber_id).await?,
            ) else {
                continue;
            };
            let plan_name = plan::Entity::find_by_id(s.plan_id)
                .one(&ctx.db)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            let until = match s.ends_at {
                Some(e) => format!("now ends on {}", e.format("%Y-%m-%d %H:%M UTC")),
                None => "stays for life".to_string(),
            };
            let text = format!("{reason} Your “{plan_name}” subscription {until}.");
            if let Err(e) = telegram::send_message(ctx, b.id, user, &text, None).await {
                tracing::warn!(error = %e, subscription = %s.id, "shortening not told");
            }
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, "telling shortened subscriptions failed");
    }
}

// --- the members pages of the API -------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberOut {
    pub id: Uuid,
    pub telegram_user_id: i64,
    pub username: Option<String>,
    pub first_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionOut {
    pub id: Uuid,
    pub subscriber_id: Uuid,
    pub plan_id: Uuid,
    pub source: SubscriptionSource,
    pub access_code_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub starts_at: DateTime<Utc>,
    /// Null for lifetime.
    pub ends_at: Option<DateTime<Utc>>,
    pub status: SubscriptionStatus,
    pub reminder_sent_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<subscription::Model> for SubscriptionOut {
    fn from(s: subscription::Model) -> Self {
        SubscriptionOut {
            id: s.id,
            subscriber_id: s.subscriber_id,
            plan_id: s.plan_id,
            source: s.source,
            access_code_id: s.access_code_id,
            price_minor: s.price_minor,
            currency: s.currency,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            status: s.status,
            reminder_sent_at: s.reminder_sent_at,
            ended_at: s.ended_at,
        }
    }
}

/// Filters and page of the subscribers and subscriptions lists: a subscriber is listed when
/// one of their subscriptions matches every filter given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberFilter {
    pub plan_id: Option<Uuid>,
    pub status: Option<SubscriptionStatus>,
    pub source: Option<SubscriptionSource>,
    /// Only this subscriber's subscriptions (the subscriptions list).
    pub subscriber_id: Option<Uuid>,
    /// The last id of the previous page.
    pub cursor: Option<Uuid>,
    /// 1–500, default 50.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberPage {
    pub items: Vec<SubscriberOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionPage {
    pub items: Vec<SubscriptionOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// The largest page of the members lists.
pub const MEMBERS_PAGE_MAX: u64 = 500;

/// The project's subscriptions matching `f` (cursor and limit aside).
fn matching_subscriptions(
    t: &TenantCtx,
    project_id: Uuid,
    f: &MemberFilter,
) -> sea_orm::Select<subscription::Entity> {
    use subscription::Column as C;
    let mut q = subscription::Entity::find()
        .filter(C::TenantId.eq(t.tenant_id))
        .filter(C::ProjectId.eq(project_id));
    if let Some(p) = f.plan_id {
        q = q.filter(C::PlanId.eq(p));
    }
    if let Some(st) = f.status {
        q = q.filter(C::Status.eq(st));
    }
    if let Some(so) = f.source {
        q = q.filter(C::Source.eq(so));
    }
    if let Some(sid) = f.subscriber_id {
        q = q.filter(C::SubscriberId.eq(sid));
    }
    q
}

/// Cuts a page fetched with one extra row: the rows to show and the next cursor.
fn page_of<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(&id);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Subscribers, newest first (ids are time-ordered), a page at a time.
pub async fn list_subscribers(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: MemberFilter,
) -> Result<SubscriberPage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, MEMBERS_PAGE_MAX);
    let mut q = subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id));
    if f.plan_id.is_some() || f.status.is_some() || f.source.is_some() {
        let with = matching_subscriptions(t, p.id, &f)
            .select_only()
            .column(subscription::Column::SubscriberId)
            .into_query();
        q = q.filter(subscriber::Column::Id.in_subquery(with));
    }
    if let Some(sid) = f.subscriber_id {
        q = q.filter(subscriber::Column::Id.eq(sid));
    }
    if let Some(c) = f.cursor {
        q = q.filter(subscriber::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(subscriber::Column::Id)
        .limit(limit + 1)
        .all(&ctx.db)
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |s| s.id);
    Ok(SubscriberPage {
        items: rows
            .into_iter()
            .map(|s| SubscriberOut {
                id: s.id,
                telegram_user_id: s.telegram_user_id,
                username: s.username,
                first_name: s.first_name,
                created_at: s.created_at,
            })
            .collect(),
        next_cursor,
    })
}

/// How a subscriber is named to creators: `First (@username)`, or the first name alone.
pub fn display_name(first_name: &str, username: Option<&str>) -> String {
    match username {
        Some(u) => format!("{first_name} (@{u})"),
        None => first_name.to_string(),
    }
}

/// How many subscribers the project has.
pub async fn subscriber_count(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<u64> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id))
        .count(&ctx.db)
        .await?)
}

/// Subscribers of the project by id (for naming them beside subscriptions and payments).
pub async fn subscribers_by_id(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<SubscriberOut>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id))
        .filter(subscriber::Column::Id.is_in(ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| SubscriberOut {
            id: s.id,
            telegram_user_id: s.telegram_user_id,
            username: s.username,
            first_name: s.first_name,
            created_at: s.created_at,
        })
        .collect())
}

/// Subscriptions, newest first (ids are time-ordered), a page at a time.
pub async fn list(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: MemberFilter,
) -> Result<SubscriptionPage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, MEMBERS_PAGE_MAX);
    let mut q = matching_subscriptions(t, p.id, &f);
    if let Some(c) = f.cursor {
        q = q.filter(subscription::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(subscription::Column::Id)
        .limit(limit + 1)
        .all(&ctx.db)
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |s| s.id);
    Ok(SubscriptionPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

/// One subscription of the project (another tenant's or project's is not found).
pub async fn get(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    subscription_id: Uuid,
) -> Result<SubscriptionOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?
        .into())
}

/// Redemptions on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCount {
    pub day: chrono::NaiveDate,
    pub count: i64,
}

/// Redemptions (activations) of the project's codes per UTC day over the last `days` days,
/// today included, oldest first; days without any are there with zero.
pub async fn redemptions_per_day(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    days: u32,
) -> Result<Vec<DayCount>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let days = days.clamp(1, 366);
    let today = ctx.now().date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
    let codes = access_code::Entity::find()
        .select_only()
        .column(access_code::Column::Id)
        .filter(access_code::Column::TenantId.eq(t.tenant_id))
        .filter(access_code::Column::ProjectId.eq(p.id))
        .into_query();
    // Bucketed here rather than with SQL date functions, which differ between PostgreSQL
    // and SQLite; the window bounds the rows read.
    let times: Vec<DateTime<Utc>> = activation::Entity::find()
        .select_only()
        .column(activation::Column::At)
        .filter(activation::Column::TenantId.eq(t.tenant_id))
        .filter(activation::Column::At.gte(since))
        .filter(activation::Column::AccessCodeId.in_subquery(codes))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut out: Vec<DayCount> = (0..i64::from(days))
        .map(|i| DayCount {
            day: first + Duration::days(i),
            count: 0,
        })
        .collect();
    for at in times {
        let i = (at.date_naive() - first).num_days();
        if let Some(d) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            d.count += 1;
        }
    }
    Ok(out)
}

/// Revokes a subscription: status revoked, the user removed from the plan's channels and
/// told, one audit entry.
pub async fn revoke(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    subscription_id: Uuid,
) -> Result<SubscriptionOut> {
    t.may(Action::ManageSubscriptions)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let s = subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?;
    if s.status != SubscriptionStatus::Active {
        return Err(Error::conflict(
            "subscription_not_active",
            "only an active subscription can be revoked",
        ));
    }
    if !end(ctx, &s, SubscriptionStatus::Revoked).await? {
        return Err(Error::conflict(
            "subscription_not_active",
            "only an active subscription can be revoked",
        ));
    }
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "subscription.revoked", "subscription", s.id)
            .details(serde_json::json!({"subscriber_id": s.subscriber_id, "plan_id": s.plan_id})),
        ctx.now(),
    )
    .await?;
    remove_access(
        ctx,
        &s,
        Some("Your access was revoked by the community's owner."),
    )
    .await;
    let s = subscription::Entity::find_by_id(s.id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?;
    Ok(s.into())
}

/// `/members` in the bot: active subscribers per plan and the latest activations.
#[derive(Debug, Clone, Serialize)]
pub struct MembersSummary {
    /// (plan name, active subscriptions), every plan of the project, most members first.
    pub per_plan: Vec<(String, u64)>,
    /// The latest activations, newest first.
    pub latest: Vec<RecentActivation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentActivation {
    pub who: String,
    pub code: Option<String>,
    pub plan: String,
    pub at: DateTime<Utc>,
}

/// Activations listed by `/members`.
pub const RECENT_ACTIVATIONS: u64 = 5;

/// Active subscribers per plan and the latest activations of the bot's project (for its
/// linked owners; the caller checks that).
pub async fn members_summary(ctx: &AppCtx, h: &BotHandle) -> Result<MembersSummary> {
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .all(&ctx.db)
        .await?;
    let active: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::PlanId)
        .filter(subscription::Column::ProjectId.eq(h.project_id))
        .filter(subscription::Column::TenantId.eq(h.tenant_id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut per_plan: Vec<(String, u64)> = plans
        .iter()
        .map(|p| {
            let n = active.iter().filter(|id| **id == p.id).count() as u64;
            (p.name.clone(), n)
        })
        .collect();
    per_plan.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let codes = access_code::Entity::find()
        .select_only()
        .column(access_code::Column::Id)
        .filter(access_code::Column::ProjectId.eq(h.project_id))
        .into_query();
    let recent = activation::Entity::find()
        .filter(activation::Column::TenantId.eq(h.tenant_id))
        .filter(activation::Column::AccessCodeId.in_subquery(codes))
        .order_by_desc(activation::Column::At)
        .order_by_desc(activation::Column::Id)
        .limit(RECENT_ACTIVATIONS)
        .all(&ctx.db)
        .await?;
    let mut latest = Vec::with_capacity(recent.len());
    for a in recent {
        let who = subscriber::Entity::find_by_id(a.subscriber_id)
            .one(&ctx.db)
            .await?;
        let code = access_code::Entity::find_by_id(a.access_code_id)
            .one(&ctx.db)
            .await?;
        latest.push(RecentActivation {
            who: who
                .map(|s| match s.username {
                    Some(u) => format!("{} (@{u})", s.first_name),
                    None => s.first_name,
                })
                .unwrap_or_default(),
            plan: code
                .as_ref()
                .and_then(|c| plans.iter().find(|p| p.id == c.plan_id))
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            code: code.map(|c| c.code),
            at: a.at,
        });
    }
    Ok(MembersSummary { per_plan, latest })
}
