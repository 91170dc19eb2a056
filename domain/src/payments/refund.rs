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
    events, projects, renewals,
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
    /// The charge that started a Stars subscription.
    pub is_first_recurring: bool,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub renewal_canceled: bool,
    pub status: PaymentStatus,
    pub recorded_by: RecordedBy,
    /// The time this payment added to its subscription (until null: lifetime).
    pub added_from: DateTime<Utc>,
    pub added_until: Option<DateTime<Utc>>,
    /// The span this payment bought, in seconds (null: lifetime) — 30 days for each charge of
    /// a Stars subscription.
    pub bought_secs: Option<i64>,
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
            is_first_recurring: p.is_first_recurring,
            subscription_expires_at: p.subscription_expires_at,
            renewal_canceled: p.renewal_canceled,
            status: p.status,
            recorded_by: p.recorded_by,
            added_from: p.added_from,
            added_until: p.added_until,
            bought_secs: p.bought_secs,
            paid_at: p.paid_at,
            refunded_at: p.refunded_at,
        }
    }
}

/// The page of the payments list.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentFilter {
    /// The last id of the previous page.
    pub cursor: Option<Uuid>,
    /// 1–500, default 50.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentPage {
    pub items: Vec<PaymentOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// The largest page of the payments list.
pub const PAYMENTS_PAGE_MAX: u64 = 500;

/// The project's payments, newest recorded first (ids are time-ordered), a page at a time.
pub async fn list(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: PaymentFilter,
) -> Result<PaymentPage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, PAYMENTS_PAGE_MAX);
    let mut q = payment::Entity::find()
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(p.id));
    if let Some(c) = f.cursor {
        q = q.filter(payment::Column::Id.lt(c));
    }
    let mut rows = q
        .order_by_desc(payment::Column::Id)
        .limit(limit + 1)
        .all(&ctx.db)
        .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(PaymentPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

/// One payment of the project (another tenant's or project's is not found).
pub async fn get(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    payment_id: Uuid,
) -> Result<PaymentOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(payment::Entity::find_by_id(payment_id)
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("payment"))?
        .into())
}

/// Refunds a payment — the one place a payment is refunded. Owners and admins only. Two
/// phases, so Telegram is never asked inside a transaction: the payment is claimed
/// `paid → refunding` by a committed conditional update (a second refund, also a concurrent
/// one, finds nothing to claim: 409 `payment_already_refunded`, nothing changed), then
/// Telegram's `refundStarPayment` is asked ([`settle`]). Refunded (also
/// `CHARGE_ALREADY_REFUNDED`): the refund is finished ([`finish`]). Refused: the payment is
/// `paid` again and the error returned. No answer: it stays `refunding` and is returned so;
/// reconciliation asks again and finishes it.
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
    if pay.status != PaymentStatus::Paid {
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
    let now = ctx.now();
    let claimed = payment::Entity::update_many()
        .col_expr(
            payment::Column::Status,
            Expr::value(PaymentStatus::Refunding),
        )
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(pay.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Paid))
        .exec(&ctx.db)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Err(already());
    }
    settle(ctx, b.id, user, &pay, Some(t)).await?;
    let pay = payment::Entity::find_by_id(pay.id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("payment"))?;
    Ok(pay.into())
}

/// Asks Telegram to refund a `refunding` payment and acts on the answer: refunded → [`finish`];
/// refused → `paid` again, the error returned; no answer → left `refunding` for
/// reconciliation (logged). Outside any transaction. `by`: the creator who asked, if one did.
pub(crate) async fn settle(
    ctx: &AppCtx,
    bot_id: Uuid,
    user: i64,
    pay: &payment::Model,
    by: Option<&TenantCtx>,
) -> Result<()> {
    use telegram::sender::RefundAnswer;
    match telegram::sender::refund_star_payment(ctx, bot_id, user, &pay.telegram_payment_charge_id)
        .await
    {
        RefundAnswer::Refunded => {
            finish(ctx, pay, by).await?;
            Ok(())
        }
        RefundAnswer::Refused(e) => {
            payment::Entity::update_many()
                .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Paid))
                .col_expr(payment::Column::UpdatedAt, Expr::value(ctx.now()))
                .filter(payment::Column::Id.eq(pay.id))
                .filter(payment::Column::Status.eq(PaymentStatus::Refunding))
                .exec(&ctx.db)
                .await?;
            Err(e)
        }
        RefundAnswer::Unknown(e) => {
            tracing::warn!(error = %e, payment = %pay.id, "refund unconfirmed: left refunding for reconciliation");
            Ok(())
        }
    }
}

/// Finishes a refund Telegram made, once (a conditional claim `refunding → refunded`): in one
/// transaction the time the payment bought is taken away exactly
/// (`subscriptions::withdraw_payment`, the replay code rollback uses), one audit entry, the
/// `payment.refunded` event; then the user is removed from the channels if nothing else
/// covers them (or told the new end) and the Stars subscription renewing into it is
/// cancelled. False when someone else finished it first.
pub(crate) async fn finish(
    ctx: &AppCtx,
    pay: &payment::Model,
    by: Option<&TenantCtx>,
) -> Result<bool> {
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
        .filter(payment::Column::Status.eq(PaymentStatus::Refunding))
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let withdrawn = subscriptions::withdraw_payment(&txn, pay, now).await?;
    let details = serde_json::json!({
        "amount": pay.amount,
        "currency": pay.currency,
        "telegram_payment_charge_id": pay.telegram_payment_charge_id,
        "subscription_id": pay.subscription_id,
    });
    let entry = match by {
        Some(t) => audit::Entry::creator(t, "payment.refunded", "payment", pay.id),
        None => audit::Entry {
            actor_user_id: None,
            actor: "gatehouse".to_string(),
            tenant_id: Some(pay.tenant_id),
            action: "payment.refunded",
            target_type: "payment",
            target_id: Some(pay.id.to_string()),
            details: serde_json::json!({}),
        },
    };
    audit::record(&txn, entry.details(details), now).await?;
    events::emit(
        &txn,
        pay.tenant_id,
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
    txn.commit().await?;
    match withdrawn {
        Withdrawn::Revoked(id) => {
            subscriptions::remove_revoked_because(ctx, &[id], subscriptions::REVOKED_REFUNDED)
                .await?;
        }
        Withdrawn::Shortened(id, _) => {
            subscriptions::tell_shortened_because(ctx, &[id], subscriptions::SHORTENED_REFUNDED)
                .await;
        }
        Withdrawn::Unchanged => {}
    }
    if let Some(sid) = pay.subscription_id {
        renewals::stop(ctx, &[sid]).await;
    }
    Ok(true)
}
