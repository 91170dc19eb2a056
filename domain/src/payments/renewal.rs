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
    i18n, renewals,
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

/// What Telegram says happened to a user's Stars subscription (the `subscription` update,
/// `BotSubscriptionUpdated.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramRenewal {
    /// The user cancelled it in Telegram: it runs to its end and does not renew.
    Canceled,
    /// The user turned it back on.
    Active,
    /// Telegram could not charge the renewal: it ends at the end of the period.
    Failed,
}

impl TelegramRenewal {
    pub fn parse(state: &str) -> Option<Self> {
        match state {
            "canceled" => Some(Self::Canceled),
            "active" => Some(Self::Active),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Keeps `renewal_canceled` true to Telegram's `subscription` update for the charge that
/// started the subscription (`invoice_payload`), and tells the user what it means. A state
/// for a payload that is not ours, or another user's, is ignored (logged). Turning back on a
/// subscription the creator revoked cancels it again in Telegram. Updates may never come
/// (older Bot API, polling): everything else keeps working from our own records.
pub async fn telegram_changed(
    ctx: &AppCtx,
    h: &BotHandle,
    user_id: i64,
    invoice_payload: &str,
    state: TelegramRenewal,
) -> Result<()> {
    let Some(charge) = payment::Entity::find()
        .filter(payment::Column::ProjectId.eq(h.project_id))
        .filter(payment::Column::InvoicePayload.eq(invoice_payload))
        .filter(payment::Column::IsFirstRecurring.eq(true))
        .one(&ctx.db)
        .await?
    else {
        tracing::warn!(bot = %h.id, "subscription update for a payload we never recorded");
        return Ok(());
    };
    let mine = subscriber::Entity::find_by_id(charge.subscriber_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|s| s.telegram_user_id == user_id);
    let Some(sid) = charge.subscription_id.filter(|_| mine) else {
        tracing::warn!(bot = %h.id, "subscription update for another user's charge ignored");
        return Ok(());
    };
    let Some(s) = subscription::Entity::find_by_id(sid).one(&ctx.db).await? else {
        return Ok(());
    };
    let pl = plan::Entity::find_by_id(s.plan_id).one(&ctx.db).await?;
    let plan_name = pl.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let day = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let active = s.status == subscriptions::SubscriptionStatus::Active;
    let lang = i18n::stored(ctx, h.project_id, user_id).await?;
    let say = |key: &str| {
        i18n::tr(
            lang,
            key,
            &[
                ("plan", plan_name.as_str().into()),
                ("day", day(s.ends_at).into()),
            ],
        )
    };
    let (canceled, text, keyboard) = match state {
        TelegramRenewal::Active if active => (false, say("renewal-on-again"), None),
        TelegramRenewal::Active => {
            // Revoked by the creator: it must not charge again.
            telegram::sender::edit_user_star_subscription(
                ctx,
                h.id,
                user_id,
                &charge.telegram_payment_charge_id,
                true,
            )
            .await?;
            (true, say("renewal-ended-by-creator"), None)
        }
        TelegramRenewal::Canceled => (true, say("renewal-off"), None),
        TelegramRenewal::Failed => {
            let buy = pl
                .as_ref()
                .filter(|p| p.active && p.price_stars.is_some())
                .map(|p| {
                    vec![vec![telegram::Button::Callback {
                        text: i18n::tr(
                            lang,
                            "button-renew",
                            &[("stars", p.price_stars.unwrap_or_default().into())],
                        ),
                        data: format!("{}{}", super::BUY_PREFIX, p.id),
                    }]]
                });
            (true, say("renewal-failed"), buy)
        }
    };
    payment::Entity::update_many()
        .col_expr(
            payment::Column::RenewalCanceled,
            sea_orm::sea_query::Expr::value(canceled),
        )
        .col_expr(
            payment::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(ctx.now()),
        )
        .filter(payment::Column::Id.eq(charge.id))
        .exec(&ctx.db)
        .await?;
    if active || state != TelegramRenewal::Canceled {
        telegram::send_message(ctx, h.id, user_id, &text, keyboard).await?;
    }
    Ok(())
}
