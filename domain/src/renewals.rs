//! Telegram Stars subscriptions that renew: which charge names a live one to Telegram (the
//! latest `is_first_recurring` charge not yet cancelled) and stopping it
//! (`editUserStarSubscription` with `is_canceled`). A leaf: subscriptions (revoke, rollback)
//! and payments (refund, a renewal refused) both stop renewals here, without importing each
//! other. Owns `payments.renewal_canceled`.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use entity::{bot, payment, subscriber, subscription};

use crate::{
    AppCtx, ErrorKind,
    error::{Error, Result},
    telegram,
    tenancy::TenantCtx,
};

/// The Stars subscriptions renewing into a subscription of ours: the charges that started
/// them and were not cancelled, newest first.
pub(crate) async fn live_charges(
    db: &impl ConnectionTrait,
    subscription_id: Uuid,
) -> Result<Vec<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::SubscriptionId.eq(subscription_id))
        .filter(payment::Column::IsFirstRecurring.eq(true))
        .filter(payment::Column::RenewalCanceled.eq(false))
        .order_by_desc(payment::Column::PaidAt)
        .order_by_desc(payment::Column::Id)
        .all(db)
        .await?)
}

/// Records that nothing renews into the subscription any more.
pub(crate) async fn mark_canceled(
    db: &impl ConnectionTrait,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    payment::Entity::update_many()
        .col_expr(payment::Column::RenewalCanceled, Expr::value(true))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::SubscriptionId.eq(subscription_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Stops every Stars subscription renewing into these subscriptions (they were revoked, or a
/// payment of theirs refunded). Each is cancelled in Telegram, then recorded; a Telegram
/// failure is logged and leaves it recorded as renewing — a renewal that still arrives for a
/// revoked subscription is refunded when it is recorded. Never called inside a transaction.
pub async fn stop(ctx: &AppCtx, subscription_ids: &[Uuid]) {
    for sid in subscription_ids {
        if let Err(e) = stop_one(ctx, *sid).await {
            tracing::warn!(error = %e, subscription = %sid, "stopping a Stars renewal failed");
        }
    }
}

async fn stop_one(ctx: &AppCtx, subscription_id: Uuid) -> Result<()> {
    let live = live_charges(&ctx.db, subscription_id).await?;
    if live.is_empty() {
        return Ok(());
    }
    let Some(s) = subscription::Entity::find_by_id(subscription_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    let bot = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(s.project_id))
        .one(&ctx.db)
        .await?;
    let user = subscriber::Entity::find_by_id(s.subscriber_id)
        .one(&ctx.db)
        .await?;
    let (Some(bot), Some(user)) = (bot, user) else {
        return Ok(());
    };
    for p in &live {
        telegram::sender::edit_user_star_subscription(
            ctx,
            bot.id,
            user.telegram_user_id,
            &p.telegram_payment_charge_id,
            true,
        )
        .await?;
    }
    mark_canceled(&ctx.db, subscription_id, ctx.now()).await
}

/// How many Stars subscriptions renew into the project's subscriptions (what deleting the
/// project or disconnecting its bot cancels first).
pub async fn renewing(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<u64> {
    Ok(payment::Entity::find()
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(project_id))
        .filter(payment::Column::IsFirstRecurring.eq(true))
        .filter(payment::Column::RenewalCanceled.eq(false))
        .count(&ctx.db)
        .await?)
}

/// Cancels every Stars subscription renewing into the project's subscriptions, before its
/// bot goes (a project deleted, a bot disconnected): nobody is charged monthly for access
/// that no longer exists. Refused with `stars_renewals_not_cancelled` (503) when Telegram
/// could not cancel one — the caller then deletes nothing; those already cancelled stay so.
pub(crate) async fn stop_project(ctx: &AppCtx, project_id: Uuid) -> Result<u64> {
    let subs: Vec<Option<Uuid>> = payment::Entity::find()
        .select_only()
        .column(payment::Column::SubscriptionId)
        .filter(payment::Column::ProjectId.eq(project_id))
        .filter(payment::Column::IsFirstRecurring.eq(true))
        .filter(payment::Column::RenewalCanceled.eq(false))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut subs: Vec<Uuid> = subs.into_iter().flatten().collect();
    subs.sort_unstable();
    subs.dedup();
    let mut failed = 0;
    for sid in &subs {
        if let Err(e) = stop_one(ctx, *sid).await {
            tracing::warn!(error = %e, subscription = %sid, "cancelling a Stars renewal failed");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "stars_renewals_not_cancelled",
            format!(
                "Telegram could not cancel {failed} Stars subscription(s) renewing in this project; nothing was removed. Try again."
            ),
        ));
    }
    Ok(subs.len() as u64)
}
