//! The retention offer: a project may name a promo code (`projects.retention_promo_id`) to
//! offer once per subscription when its subscriber presses "Cancel renewal". Accepting cancels
//! the Stars renewal at the list price and offers the plan's subscription at the discounted
//! price; what is paid is added after the time already bought (the one grant rule). Declining
//! cancels the renewal as the button said.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

use entity::{project, subscriber, subscription};

use crate::{AppCtx, error::Result, promos, renewals, telegram::BotHandle};

use super::invoice::plan_on_sale;

/// What "Cancel renewal" offers instead.
#[derive(Debug, Clone)]
pub struct RetentionOffer {
    pub subscription_id: Uuid,
    pub plan_id: Uuid,
    pub plan_name: String,
    pub promo_id: Uuid,
    pub code: String,
    pub list: u32,
    pub price: u32,
}

/// The offer for this user's subscription, made at most once per subscription (claimed by a
/// conditional update of `retention_offered_at`), when the project names a retention promo
/// that this user may use on this plan, makes it cheaper, and the subscription renews.
/// `None`: cancel as asked.
pub async fn retention_offer(
    ctx: &AppCtx,
    h: &BotHandle,
    user_id: i64,
    subscription_id: Uuid,
) -> Result<Option<RetentionOffer>> {
    let Some(promo_id) = project::Entity::find_by_id(h.project_id)
        .one(&ctx.db)
        .await?
        .and_then(|p| p.retention_promo_id)
    else {
        return Ok(None);
    };
    let Some(s) = subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(None);
    };
    let mine = subscriber::Entity::find_by_id(s.subscriber_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|x| x.telegram_user_id == user_id);
    if !mine
        || s.retention_offered_at.is_some()
        || renewals::live_charges(&ctx.db, s.id).await?.is_empty()
    {
        return Ok(None);
    }
    let Ok((pl, list)) = plan_on_sale(ctx, h, s.plan_id).await else {
        return Ok(None);
    };
    let Ok(pr) = promos::find_id(ctx, h, promo_id).await else {
        return Ok(None);
    };
    let now = ctx.now();
    if !promos::applies_to(&pr, pl.id)
        || promos::usable(&ctx.db, &pr, s.subscriber_id, None, now)
            .await
            .is_err()
    {
        return Ok(None);
    }
    let price = promos::price_with(&pr, list);
    if price >= list {
        return Ok(None);
    }
    let claimed = subscription::Entity::update_many()
        .col_expr(subscription::Column::RetentionOfferedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::RetentionOfferedAt.is_null())
        .exec(&ctx.db)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Ok(None);
    }
    Ok(Some(RetentionOffer {
        subscription_id: s.id,
        plan_id: pl.id,
        plan_name: pl.name,
        promo_id: pr.id,
        code: pr.code,
        list,
        price,
    }))
}

/// What accepting the retention offer did: the renewal at the list price is cancelled; the
/// caller offers the plan with `promo_id` (`payments::offer`).
#[derive(Debug, Clone)]
pub struct Retained {
    pub plan_id: Uuid,
    pub promo_id: Uuid,
    pub list: u32,
    pub ends_at: Option<DateTime<Utc>>,
}

/// "Stay for N ⭐": cancels the renewal at the list price (`cancel_renewal`, refused with
/// `no_renewal` when nothing renews any more) and names the plan and promo to offer.
pub async fn accept_retention(
    ctx: &AppCtx,
    h: &BotHandle,
    user_id: i64,
    subscription_id: Uuid,
) -> Result<Retained> {
    let promo_id = project::Entity::find_by_id(h.project_id)
        .one(&ctx.db)
        .await?
        .and_then(|p| p.retention_promo_id);
    let (_, ends_at) = super::cancel_renewal(ctx, h, user_id, subscription_id).await?;
    let s = subscription::Entity::find_by_id(subscription_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| crate::Error::not_found("subscription"))?;
    let list = plan_on_sale(ctx, h, s.plan_id).await.map_or(0, |(_, l)| l);
    let promo_id = promo_id.ok_or_else(|| {
        crate::Error::conflict(promos::PROMO_EXPIRED, "the retention offer was withdrawn")
    })?;
    Ok(Retained {
        plan_id: s.plan_id,
        promo_id,
        list,
        ends_at,
    })
}
