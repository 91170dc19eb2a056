//! A Stars subscription's renewal: which subscriptions renew, and cancelling the renewal from
//! `/my`.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use entity::{payment, plan, subscriber, subscription};

use entity::payment::PaymentStatus;

use crate::{
    AppCtx,
    error::{Error, Result},
    renewals,
    subscriptions::{self},
    telegram::{self, BotHandle},
};

use super::NO_RENEWAL;

/// The active subscriptions of this user whose Stars renewal can be cancelled.
pub async fn renewable(ctx: &AppCtx, h: &BotHandle, user_id: i64) -> Result<Vec<Uuid>> {
    let Some(sub) = subscriber::Entity::find()
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(vec![]);
    };
    let ids: Vec<Option<Uuid>> = payment::Entity::find()
        .select_only()
        .column(payment::Column::SubscriptionId)
        .filter(payment::Column::SubscriberId.eq(sub.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Paid))
        .filter(payment::Column::IsFirstRecurring.eq(true))
        .filter(payment::Column::RenewalCanceled.eq(false))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut out: Vec<Uuid> = ids.into_iter().flatten().collect();
    out.sort();
    out.dedup();
    let active: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::Id)
        .filter(subscription::Column::Id.is_in(out))
        .filter(subscription::Column::Status.eq(subscriptions::SubscriptionStatus::Active))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    Ok(active)
}

/// "Cancel renewal" from `/my`: tells Telegram to stop renewing the user's Stars subscription
/// (`editUserStarSubscription`, `is_canceled`); the subscription runs to its end. Returns the
/// plan's name and the end. `no_renewal` when there is nothing to cancel.
pub async fn cancel_renewal(
    ctx: &AppCtx,
    h: &BotHandle,
    user_id: i64,
    subscription_id: Uuid,
) -> Result<(String, Option<DateTime<Utc>>)> {
    let s = subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict(NO_RENEWAL, "no such subscription"))?;
    let owner = subscriber::Entity::find_by_id(s.subscriber_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|x| x.telegram_user_id == user_id);
    if !owner {
        return Err(Error::conflict(NO_RENEWAL, "not your subscription"));
    }
    // The live Telegram subscription is the latest one started; an earlier one ended (its
    // renewal failed) or was cancelled in Telegram.
    let live = renewals::live_charges(&ctx.db, s.id).await?;
    let Some(latest) = live.first() else {
        return Err(Error::conflict(NO_RENEWAL, "nothing renews"));
    };
    telegram::sender::edit_user_star_subscription(
        ctx,
        h.id,
        user_id,
        &latest.telegram_payment_charge_id,
        true,
    )
    .await?;
    renewals::mark_canceled(&ctx.db, s.id, ctx.now()).await?;
    let plan_name = plan::Entity::find_by_id(s.plan_id)
        .one(&ctx.db)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    Ok((plan_name, s.ends_at))
}
