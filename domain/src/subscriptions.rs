//! Subscriptions, the one owner of a subscription and its states: granting a plan (new or
//! extended: one rule, whatever the source), unshareable channel access (join-request links
//! approved only for a subscriber whose active subscription covers the channel), renewal
//! reminders, expiry and revocation (removal from the plan's channels), and the members pages.
//! Redeeming a code is `redemption`.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, sea_query::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{access_code, activation, bot, channel, plan, plan_channel, subscriber, subscription};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    projects,
    telegram::{self, BotHandle},
    tenancy::TenantCtx,
    tenants,
};

pub use entity::subscription::{SubscriptionSource, SubscriptionStatus};

/// The Telegram user redeeming.
#[derive(Debug, Clone)]
pub struct TgUser {
    pub id: i64,
    pub username: Option<String>,
    pub first_name: String,
}

/// Access to one channel after redeeming: a personal join-request link, or a note that the
/// user is already in.
#[derive(Debug, Clone, Serialize)]
pub struct AccessLink {
    pub channel: String,
    pub link: Option<String>,
    pub already_member: bool,
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

/// The one rule for giving a subscriber a plan, inside the caller's transaction: the active
/// subscription to the same plan is extended by the plan's duration from its current end (or
/// from now, if that is later), otherwise a new one starts now. Answers the subscription and
/// whether it was extended.
pub async fn grant(
    txn: &impl ConnectionTrait,
    g: Grant<'_>,
    now: DateTime<Utc>,
) -> Result<(subscription::Model, bool)> {
    let pl = g.plan;
    let existing = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(g.subscriber_id))
        .filter(subscription::Column::PlanId.eq(pl.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .one(txn)
        .await?;
    let length = pl.duration_days.map(|d| Duration::days(i64::from(d)));
    let (subscription, extended) = match existing {
        Some(s) => {
            let ends_at = match (s.ends_at, length) {
                (Some(end), Some(len)) => Some(Ord::max(end, now) + len),
                _ => None,
            };
            let mut am = s.into_active_model();
            am.ends_at = Set(ends_at);
            // A new end deserves a new reminder.
            am.reminder_sent_at = Set(None);
            am.updated_at = Set(now);
            (am.update(txn).await?, true)
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
            (s, false)
        }
    };
    Ok((subscription, extended))
}

/// The project's subscriber for a Telegram user, created on first contact.
pub(crate) async fn subscriber_for(
    ctx: &AppCtx,
    h: &BotHandle,
    user: &TgUser,
) -> Result<subscriber::Model> {
    let find = || {
        subscriber::Entity::find()
            .filter(subscriber::Column::ProjectId.eq(h.project_id))
            .filter(subscriber::Column::TelegramUserId.eq(user.id))
            .one(&ctx.db)
    };
    if let Some(s) = find().await? {
        return Ok(s);
    }
    let inserted = subscriber::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(h.tenant_id),
        project_id: Set(h.project_id),
        telegram_user_id: Set(user.id),
        username: Set(user.username.clone()),
        first_name: Set(user.first_name.chars().take(255).collect()),
        created_at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await;
    match inserted {
        Ok(s) => Ok(s),
        // Two first redemptions at once: the other insert won.
        Err(_) => find()
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("subscriber vanished"))),
    }
}

async fn channels_of_plan(db: &impl ConnectionTrait, plan_id: Uuid) -> Result<Vec<channel::Model>> {
    let ids: Vec<Uuid> = plan_channel::Entity::find()
        .select_only()
        .column(plan_channel::Column::ChannelId)
        .filter(plan_channel::Column::PlanId.eq(plan_id))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(channel::Entity::find()
        .filter(channel::Column::Id.is_in(ids))
        .order_by_asc(channel::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A fresh personal join-request link per channel of the subscription's plan (or a note that
/// the user is already there).
pub async fn access_links(
    ctx: &AppCtx,
    h: &BotHandle,
    s: &subscription::Model,
    user_id: i64,
) -> Result<Vec<AccessLink>> {
    let mut out = vec![];
    for ch in channels_of_plan(&ctx.db, s.plan_id).await? {
        if !ch.available {
            continue;
        }
        if telegram::sender::is_member(ctx, h.id, ch.telegram_chat_id, user_id)
            .await
            .unwrap_or(false)
        {
            out.push(AccessLink {
                channel: ch.title,
                link: None,
                already_member: true,
            });
            continue;
        }
        let name = format!("sub {}", &s.id.simple().to_string()[..12]);
        let link =
            telegram::sender::create_join_request_link(ctx, h.id, ch.telegram_chat_id, &name)
                .await?;
        out.push(AccessLink {
            channel: ch.title,
            link: Some(link),
            already_member: false,
        });
    }
    Ok(out)
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
            access_links(ctx, h, &s, user_id).await?
        } else {
            vec![]
        };
        out.push(MySubscription {
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

/// One reminder a day before the end. Each reminder is claimed with a conditional update
/// first, so two workers sweeping at once send it once. Suspended tenants get none (their
/// bots are paused); their subscriptions still run out.
pub async fn send_reminders(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::ReminderSentAt.is_null())
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .filter(subscription::Column::EndsAt.lte(now + Duration::days(1)))
        .limit(1_000)
        .all(&ctx.db)
        .await?;
    let mut sent = 0;
    for s in due {
        if !tenants::is_active(&ctx.db, s.tenant_id).await? {
            continue;
        }
        let claimed = subscription::Entity::update_many()
            .col_expr(subscription::Column::ReminderSentAt, Expr::value(now))
            .filter(subscription::Column::Id.eq(s.id))
            .filter(subscription::Column::ReminderSentAt.is_null())
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
            s.ends_at
                .map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        );
        if let Err(e) = telegram::send_message(ctx, b.id, user, &text, None).await {
            tracing::warn!(error = %e, subscription = %s.id, "reminder not delivered");
        }
        sent += 1;
    }
    Ok(sent)
}

/// Ends subscriptions whose time is up: status expired (claimed by a conditional update, so
/// each is ended once), removal from each channel of the plan, and a message to the user.
/// Lifetime subscriptions never end.
pub async fn expire_due(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.lte(now))
        .limit(1_000)
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

/// Claims the end of an active subscription; false when someone else ended it first.
async fn end(ctx: &AppCtx, s: &subscription::Model, status: SubscriptionStatus) -> Result<bool> {
    let now = ctx.now();
    Ok(subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value(status))
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .exec(&ctx.db)
        .await?
        .rows_affected
        == 1)
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
    for s in subscription::Entity::find()
        .filter(subscription::Column::Id.is_in(ids.iter().copied()))
        .all(&ctx.db)
        .await?
    {
        remove_access(
            ctx,
            &s,
            Some("Your access was revoked by the community's owner."),
        )
        .await;
    }
    Ok(())
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

pub async fn list_subscribers(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
) -> Result<Vec<SubscriberOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id))
        .order_by_desc(subscriber::Column::CreatedAt)
        .limit(1_000)
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

pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<SubscriptionOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscription::Entity::find()
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::ProjectId.eq(p.id))
        .order_by_desc(subscription::Column::CreatedAt)
        .limit(1_000)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
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
    t.writable()?;
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
