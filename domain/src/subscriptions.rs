//! Subscriptions: redeeming an access code (one transaction; the activation count never
//! passes max activations), unshareable channel access (join-request links approved only for
//! a subscriber whose active subscription covers the channel), renewal reminders, expiry and
//! revocation (removal from the plan's channels), and the members pages of the API.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;
use uuid::Uuid;

use entity::{
    access_code, activation, bot, channel, plan, plan_channel, project, redeem_failure, subscriber,
    subscription,
};

use crate::{
    AppCtx, audit,
    bots::{self, BotHandle},
    codes,
    error::{Error, ErrorKind, Result},
    projects,
    tenants::TenantCtx,
};

/// Failed code attempts allowed per user per bot within [`FAILURE_WINDOW_MINUTES`].
pub const MAX_FAILURES: u64 = 5;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

pub const ACTIVE: &str = "active";
pub const EXPIRED: &str = "expired";
pub const REVOKED: &str = "revoked";

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

#[derive(Debug, Clone)]
pub struct Redeemed {
    pub plan_name: String,
    pub ends_at: Option<DateTime<Utc>>,
    /// True when an active subscription to the same plan was extended.
    pub extended: bool,
    pub links: Vec<AccessLink>,
}

fn failure(code: &'static str, message: &str) -> Error {
    Error::new(ErrorKind::Conflict, code, message)
}

async fn recent_failures(ctx: &AppCtx, bot_id: Uuid, user: i64) -> Result<Vec<DateTime<Utc>>> {
    let since = ctx.now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
    Ok(redeem_failure::Entity::find()
        .select_only()
        .column(redeem_failure::Column::At)
        .filter(redeem_failure::Column::BotId.eq(bot_id))
        .filter(redeem_failure::Column::TelegramUserId.eq(user))
        .filter(redeem_failure::Column::At.gt(since))
        .order_by_asc(redeem_failure::Column::At)
        .into_tuple()
        .all(&ctx.db)
        .await?)
}

async fn record_failure(ctx: &AppCtx, bot_id: Uuid, user: i64) -> Result<()> {
    redeem_failure::ActiveModel {
        id: Set(Uuid::now_v7()),
        bot_id: Set(bot_id),
        telegram_user_id: Set(user),
        at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await?;
    Ok(())
}

/// Redeems what a user typed (or a `c_<CODE>` deep link) through a project's bot.
/// Failures have distinct codes — `code_unknown`, `code_expired`, `code_used_up`,
/// `code_already_redeemed`, `plan_inactive`, `codes_disabled` — and count towards the
/// per-user limit (`too_many_attempts`, with `retry_after`).
pub async fn redeem(ctx: &AppCtx, h: &BotHandle, user: &TgUser, typed: &str) -> Result<Redeemed> {
    let fails = recent_failures(ctx, h.id, user.id).await?;
    if fails.len() as u64 >= MAX_FAILURES {
        let retry =
            (fails[0] + Duration::minutes(FAILURE_WINDOW_MINUTES) - ctx.now()).num_seconds();
        return Err(Error::rate_limited(
            "too_many_attempts",
            "too many failed attempts",
            Ord::max(retry, 1) as u64,
        ));
    }
    match activate(ctx, h, user, typed).await {
        Ok(r) => Ok(r),
        Err(e) if e.kind == ErrorKind::Conflict => {
            record_failure(ctx, h.id, user.id).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

async fn find_or_create_subscriber(
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

async fn activate(ctx: &AppCtx, h: &BotHandle, user: &TgUser, typed: &str) -> Result<Redeemed> {
    let unknown = || failure("code_unknown", "no such code");
    let code = codes::normalize(typed).ok_or_else(unknown)?;
    let project = project::Entity::find_by_id(h.project_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))?;
    if !project.access_codes_enabled {
        return Err(failure(
            "codes_disabled",
            "access codes are turned off for this project",
        ));
    }
    let c = access_code::Entity::find()
        .filter(access_code::Column::ProjectId.eq(h.project_id))
        .filter(access_code::Column::Code.eq(&code))
        .one(&ctx.db)
        .await?
        .ok_or_else(unknown)?;
    let now = ctx.now();
    let pl = plan::Entity::find_by_id(c.plan_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("plan"))?;
    let sub = find_or_create_subscriber(ctx, h, user).await?;
    let already = activation::Entity::find()
        .filter(activation::Column::AccessCodeId.eq(c.id))
        .filter(activation::Column::SubscriberId.eq(sub.id))
        .count(&ctx.db)
        .await?;
    if already > 0 {
        return Err(failure(
            "code_already_redeemed",
            "you have already redeemed this code",
        ));
    }
    if c.expires_at.is_some_and(|e| e <= now) {
        return Err(failure("code_expired", "this code has expired"));
    }
    if c.activation_count >= c.max_activations {
        return Err(failure("code_used_up", "this code has been used up"));
    }
    if !pl.active {
        return Err(failure(
            "plan_inactive",
            "the plan of this code is no longer offered",
        ));
    }

    let txn = ctx.db.begin().await?;
    // The conditional update is the guard: concurrent redemptions serialise on the row and
    // only those that still find room succeed.
    let took = access_code::Entity::update_many()
        .col_expr(
            access_code::Column::ActivationCount,
            Expr::col(access_code::Column::ActivationCount).add(1),
        )
        .filter(access_code::Column::Id.eq(c.id))
        .filter(
            Expr::col(access_code::Column::ActivationCount)
                .lt(Expr::col(access_code::Column::MaxActivations)),
        )
        .filter(
            sea_orm::Condition::any()
                .add(access_code::Column::ExpiresAt.is_null())
                .add(access_code::Column::ExpiresAt.gt(now)),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    if took == 0 {
        txn.rollback().await?;
        return Err(failure("code_used_up", "this code has been used up"));
    }
    let activation_id = Uuid::now_v7();
    let inserted = activation::ActiveModel {
        id: Set(activation_id),
        tenant_id: Set(h.tenant_id),
        access_code_id: Set(c.id),
        subscriber_id: Set(sub.id),
        subscription_id: Set(None),
        at: Set(now),
    }
    .insert(&txn)
    .await;
    if inserted.is_err() {
        txn.rollback().await?;
        return Err(failure(
            "code_already_redeemed",
            "you have already redeemed this code",
        ));
    }
    let existing = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .filter(subscription::Column::PlanId.eq(pl.id))
        .filter(subscription::Column::Status.eq(ACTIVE))
        .one(&txn)
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
            (am.update(&txn).await?, true)
        }
        None => {
            let s = subscription::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(h.tenant_id),
                project_id: Set(h.project_id),
                subscriber_id: Set(sub.id),
                plan_id: Set(pl.id),
                source: Set("access_code".into()),
                access_code_id: Set(Some(c.id)),
                price_minor: Set(if project.codes_priced {
                    pl.price_minor
                } else {
                    0
                }),
                currency: Set(pl.currency.clone()),
                starts_at: Set(now),
                ends_at: Set(length.map(|l| now + l)),
                status: Set(ACTIVE.into()),
                reminder_sent_at: Set(None),
                ended_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            (s, false)
        }
    };
    activation::Entity::update_many()
        .col_expr(
            activation::Column::SubscriptionId,
            Expr::value(subscription.id),
        )
        .filter(activation::Column::Id.eq(activation_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;

    notify_owners(ctx, h, user, &code, &pl.name).await;
    let links = access_links(ctx, h, &subscription, user.id).await?;
    Ok(Redeemed {
        plan_name: pl.name,
        ends_at: subscription.ends_at,
        extended,
        links,
    })
}

/// Tells the project's linked owners who redeemed which code for which plan. A failed
/// notification never undoes the redemption.
async fn notify_owners(ctx: &AppCtx, h: &BotHandle, user: &TgUser, code: &str, plan_name: &str) {
    let who = match &user.username {
        Some(u) => format!("@{u} ({})", user.first_name),
        None => format!("{} (id {})", user.first_name, user.id),
    };
    let text = format!("New activation: {who} redeemed code {code} for “{plan_name}”.");
    match bots::owner_chat_ids(ctx, h.project_id).await {
        Ok(chats) => {
            for chat in chats {
                if let Err(e) = bots::send_message(ctx, h.id, chat, &text, None).await {
                    tracing::warn!(error = %e, "owner notification failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "owner chats unavailable"),
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
        if bots::sender::is_member(ctx, h.id, ch.telegram_chat_id, user_id)
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
            bots::sender::create_join_request_link(ctx, h.id, ch.telegram_chat_id, &name).await?;
        out.push(AccessLink {
            channel: ch.title,
            link: Some(link),
            already_member: false,
        });
    }
    Ok(out)
}

/// A join request to a channel: approved only for a subscriber whose active subscription's
/// plan grants that channel; anyone else (a forwarded link) is declined. Returns whether it
/// was approved.
pub async fn on_join_request(
    ctx: &AppCtx,
    h: &BotHandle,
    chat_id: i64,
    user_id: i64,
) -> Result<bool> {
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
        bots::sender::approve_join(ctx, h.id, chat_id, user_id).await?;
    } else {
        bots::sender::decline_join(ctx, h.id, chat_id, user_id).await?;
    }
    Ok(allowed)
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
        .filter(subscription::Column::Status.eq(ACTIVE))
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
    pub status: String,
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
        let links = if s.status == ACTIVE {
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
        .filter(subscription::Column::Status.eq(ACTIVE))
        .filter(subscription::Column::ReminderSentAt.is_null())
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .filter(subscription::Column::EndsAt.lte(now + Duration::days(1)))
        .limit(1_000)
        .all(&ctx.db)
        .await?;
    let mut sent = 0;
    for s in due {
        if !crate::tenants::is_active(&ctx.db, s.tenant_id).await? {
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
        if let Err(e) = bots::send_message(ctx, b.id, user, &text, None).await {
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
        .filter(subscription::Column::Status.eq(ACTIVE))
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.lte(now))
        .limit(1_000)
        .all(&ctx.db)
        .await?;
    let mut ended = 0;
    for s in due {
        if end(ctx, &s, EXPIRED).await? {
            ended += 1;
            let text = "Your subscription has ended and your access was removed. Redeem a new code any time to come back.";
            remove_access(ctx, &s, Some(text)).await;
        }
    }
    Ok(ended)
}

/// Claims the end of an active subscription; false when someone else ended it first.
async fn end(ctx: &AppCtx, s: &subscription::Model, status: &str) -> Result<bool> {
    let now = ctx.now();
    Ok(subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value(status))
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(ACTIVE))
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
            if let Err(e) = bots::sender::remove_member(ctx, b.id, ch.telegram_chat_id, user).await
            {
                tracing::warn!(error = %e, channel = %ch.id, "removing a member failed");
            }
        }
        if let Some(text) = message
            && let Err(e) = bots::send_message(ctx, b.id, user, text, None).await
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
    pub source: String,
    pub access_code_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub starts_at: DateTime<Utc>,
    /// Null for lifetime.
    pub ends_at: Option<DateTime<Utc>>,
    pub status: String,
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
    if s.status != ACTIVE {
        return Err(Error::conflict(
            "subscription_not_active",
            "only an active subscription can be revoked",
        ));
    }
    if !end(ctx, &s, REVOKED).await? {
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
