//! The creator's side of payments: the list and the refund, the one place a payment is refunded.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{bot, payment, subscriber};

use entity::payment::{PaymentStatus, RecordedBy};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    events, projects,
    subscriptions::{self, Withdrawn},
    telegram::{self},
    tenancy::{Action, TenantCtx},
};

use super::ALREADY_REFUNDED;

// --- the creator's side -----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentOut {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub subscriber_id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// Whole Stars for `XTR`.
    pub amount: i64,
    pub currency: String,
    pub telegram_payment_charge_id: String,
    pub is_recurring: bool,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub renewal_canceled: bool,
    pub status: PaymentStatus,
    pub recorded_by: RecordedBy,
    /// The time this payment added to its subscription (until null: lifetime).
    pub added_from: DateTime<Utc>,
    pub added_until: Option<DateTime<Utc>>,
    pub paid_at: DateTime<Utc>,
    pub refunded_at: Option<DateTime<Utc>>,
}

impl From<payment::Model> for PaymentOut {
    fn from(p: payment::Model) -> Self {
        PaymentOut {
            id: p.id,
            plan_id: p.plan_id,
            subscriber_id: p.subscriber_id,
            subscription_id: p.subscription_id,
            amount: p.amount,
            currency: p.currency,
            telegram_payment_charge_id: p.telegram_payment_charge_id,
            is_recurring: p.is_recurring,
            subscription_expires_at: p.subscription_expires_at,
            renewal_canceled: p.renewal_canceled,
            status: p.status,
            recorded_by: p.recorded_by,
            added_from: p.added_from,
            added_until: p.added_until,
            paid_at: p.paid_at,
            refunded_at: p.refunded_at,
        }
    }
}

/// The project's payments, newest first (at most 1,000).
pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<PaymentOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(payment::Entity::find()
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(p.id))
        .order_by_desc(payment::Column::PaidAt)
        .order_by_desc(payment::Column::Id)
        .limit(1_000)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Refunds a payment — the one place a payment is refunded. Owners and admins only. One
/// transaction: the payment is claimed `paid → refunded` by a conditional update (a second
/// refund, also a concurrent one, finds nothing to claim: 409 `payment_already_refunded`,
/// nothing changed), the time it bought is taken away exactly
/// (`subscriptions::withdraw_payment`, the replay code rollback uses), one audit entry, and
/// Telegram's `refundStarPayment` — last, so a refusal from Telegram rolls everything back.
/// Then the user is removed from the channels if nothing else covers them, or told the new end.
pub async fn refund(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    payment_id: Uuid,
) -> Result<PaymentOut> {
    // A refund takes time away from a subscription, as revoking does.
    t.may(Action::ManageSubscriptions)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let pay = payment::Entity::find_by_id(payment_id)
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("payment"))?;
    let already = || Error::conflict(ALREADY_REFUNDED, "this payment was already refunded");
    if pay.status == PaymentStatus::Refunded {
        return Err(already());
    }
    let b = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict("bot_not_connected", "the project has no bot"))?;
    let user = subscriber::Entity::find_by_id(pay.subscriber_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscriber"))?
        .telegram_user_id;
    // Loaded (and cached) before the transaction: on the embedded default the pool has one
    // connection, which the transaction holds while Telegram is asked.
    telegram::registry::get(ctx, b.id).await?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let claimed = payment::Entity::update_many()
        .col_expr(
            payment::Column::Status,
            Expr::value(PaymentStatus::Refunded),
        )
        .col_expr(payment::Column::RefundedAt, Expr::value(now))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(pay.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Paid))
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        txn.rollback().await?;
        return Err(already());
    }
    let withdrawn = subscriptions::withdraw_payment(&txn, &pay, now).await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "payment.refunded", "payment", pay.id).details(
            serde_json::json!({
                "amount": pay.amount,
                "currency": pay.currency,
                "telegram_payment_charge_id": pay.telegram_payment_charge_id,
                "subscription_id": pay.subscription_id,
            }),
        ),
        now,
    )
    .await?;
    events::emit(
        &txn,
        t.tenant_id,
        events::Event::new(
            events::EventType::PaymentRefunded,
            serde_json::json!({
                "payment_id": pay.id, "project_id": pay.project_id, "plan_id": pay.plan_id,
                "subscriber_id": pay.subscriber_id, "subscription_id": pay.subscription_id,
                "amount": pay.amount, "currency": pay.currency,
                "telegram_payment_charge_id": pay.telegram_payment_charge_id,
            }),
        ),
        now,
    )
    .await?;
    telegram::sender::refund_star_payment(ctx, b.id, user, &pay.telegram_payment_charge_id).await?;
    txn.commit().await?;
    match withdrawn {
        Withdrawn::Revoked(id) => {
            subscriptions::remove_revoked_because(
                ctx,
                &[id],
                "Your payment was refunded and your access removed.",
            )
            .await?;
        }
        Withdrawn::Shortened(id, _) => {
            subscriptions::tell_shortened_because(ctx, &[id], "A payment of yours was refunded.")
                .await;
        }
        Withdrawn::Unchanged => {}
    }
    let pay = payment::Entity::find_by_id(pay.id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("payment"))?;
    Ok(pay.into())
}
