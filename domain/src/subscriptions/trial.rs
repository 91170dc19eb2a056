//! Free trials: a plan may offer `trial_days` of free access, taken from the bot's `/start`.
//! One trial per Telegram user per project, ever — also across plans and after leaving —
//! held by the unique (project, user) pair of `trials`, so parallel taps grant one. A trial
//! is a subscription with source `trial`, granted by the one rule (`grant`); buying the plan
//! during the trial extends that subscription from its end, so no trial time is lost.
use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use uuid::Uuid;

use entity::{plan, subscription, trial};

use crate::{
    AppCtx,
    error::{Error, Result},
    telegram::BotHandle,
};

use super::{
    AccessLink, Bought, Grant, SubscriptionSource, SubscriptionStatus, TgUser, access_links,
    grant_bought, subscriber_for,
};

/// The user had their free trial in this project already.
pub const TRIAL_USED: &str = "trial_used";
/// The plan offers no trial (any more).
pub const TRIAL_NOT_OFFERED: &str = "trial_not_offered";
/// The user has the plan already: no trial needed.
pub const ALREADY_SUBSCRIBED: &str = "already_subscribed";

fn refusal(code: &'static str, message: &str) -> Error {
    Error::conflict(code, message.to_string())
}

/// A trial started.
#[derive(Debug, Clone)]
pub struct TrialStarted {
    pub plan_name: String,
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    pub links: Vec<AccessLink>,
}

/// Whether this Telegram user has had a trial in the bot's project.
pub async fn had_trial(ctx: &AppCtx, h: &BotHandle, telegram_user_id: i64) -> Result<bool> {
    Ok(trial::Entity::find()
        .filter(trial::Column::ProjectId.eq(h.project_id))
        .filter(trial::Column::TelegramUserId.eq(telegram_user_id))
        .count(&ctx.db)
        .await?
        > 0)
}

/// Starts the free trial of `plan_id` for `user`.
pub async fn start_trial(
    ctx: &AppCtx,
    h: &BotHandle,
    user: &TgUser,
    plan_id: Uuid,
) -> Result<TrialStarted> {
    let not_offered = || refusal(TRIAL_NOT_OFFERED, "this plan offers no free trial");
    let pl = plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(not_offered)?;
    let days = match pl.trial_days {
        Some(d) if pl.active && !pl.codes_only => d,
        _ => return Err(not_offered()),
    };
    if had_trial(ctx, h, user.id).await? {
        return Err(refusal(TRIAL_USED, "you have had your free trial here"));
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    // The subscriber's row lock (taken by the upsert) serialises this user's taps.
    let sub = subscriber_for(&txn, h, user, now).await?;
    let has_plan = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .filter(subscription::Column::PlanId.eq(pl.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .count(&txn)
        .await?
        > 0;
    if has_plan {
        txn.rollback().await?;
        return Err(refusal(
            ALREADY_SUBSCRIBED,
            "you already have access to this plan",
        ));
    }
    let granted = grant_bought(
        &txn,
        Grant {
            tenant_id: h.tenant_id,
            project_id: h.project_id,
            subscriber_id: sub.id,
            plan: &pl,
            source: SubscriptionSource::Trial,
            access_code_id: None,
            price_minor: 0,
        },
        Bought {
            span: Some(Duration::days(i64::from(days))),
            currency: &pl.currency,
        },
        now,
    )
    .await?;
    // The unique (project, user) pair is the guard: a second trial's whole transaction —
    // grant and all — is rolled back.
    let inserted = trial::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(h.tenant_id),
        project_id: Set(h.project_id),
        telegram_user_id: Set(user.id),
        plan_id: Set(pl.id),
        subscription_id: Set(granted.subscription.id),
        started_at: Set(now),
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            txn.rollback().await?;
            return Err(refusal(TRIAL_USED, "you have had your free trial here"));
        }
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;
    let links = access_links(ctx, h, &granted.subscription).await?;
    Ok(TrialStarted {
        plan_name: pl.name,
        ends_at: granted.subscription.ends_at,
        links,
    })
}
