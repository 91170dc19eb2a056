//! Payments in Telegram Stars, the one owner of a payment and its states (paid → refunded):
//! the invoice a subscriber asks for (a signed payload naming plan, subscriber and a nonce),
//! the answer to `pre_checkout_query`, recording a `successful_payment` once per
//! `telegram_payment_charge_id` (granting the plan through `subscriptions::grant`, the one
//! rule for new and extended time, source `payment`), cancelling a Stars subscription's
//! renewal, refunds (the time bought is taken away exactly, as a code rollback does),
//! reconciliation of recent Star transactions, and revenue.
//!
//! A payment is recorded in exactly one place, [`record_paid`], and refunded in exactly one,
//! [`refund`]; both are one transaction.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use entity::{access_code, activation, bot, payment, plan, project, subscriber, subscription};

pub use entity::payment::{PaymentStatus, RecordedBy};

use crate::{
    AppCtx, audit, bots,
    error::{Error, FieldErrors, Result},
    events, projects,
    subscriptions::{self, AccessLink, SubscriptionSource, TgUser, Withdrawn},
    telegram::{self, BotHandle, Button, sender::StarsInvoice},
    tenancy::{Action, TenantCtx},
    tenants,
};

/// Telegram Stars' currency code.
pub const CURRENCY: &str = "XTR";
/// A Stars subscription renews every 30 days (the only period Telegram allows).
pub const SUBSCRIPTION_PERIOD_SECS: u32 = 2_592_000;
/// Callback data prefix of a "Buy for N ⭐" button (`buy:<plan id>`).
pub const BUY_PREFIX: &str = "buy:";
/// Callback data prefix of a "Cancel renewal" button (`nr:<subscription id>`).
pub const CANCEL_RENEWAL_PREFIX: &str = "nr:";

/// The project does not sell for Stars.
pub const STARS_DISABLED: &str = "stars_disabled";
/// The plan is not (or no longer) sold for Stars.
pub const PLAN_NOT_FOR_SALE: &str = "plan_not_for_sale";
/// Refunding a payment that was already refunded.
pub const ALREADY_REFUNDED: &str = "payment_already_refunded";
/// No renewal to cancel.
pub const NO_RENEWAL: &str = "no_renewal";

/// What a subscriber sees when a pre-checkout is refused.
pub const REFUSE_FORGED: &str = "This invoice is not valid. Send /start for a new one.";
pub const REFUSE_USED: &str = "This invoice was already paid. Send /start for a new one.";
pub const REFUSE_PLAN: &str = "This plan is no longer available. Send /start to see the plans.";
pub const REFUSE_PRICE: &str =
    "The price of this plan has changed. Send /start for an invoice at the current price.";
pub const REFUSE_PAUSED: &str = "This service is paused at the moment. Please try again later.";

// --- the signed payload ---------------------------------------------------------------------

/// `p1.<plan>.<subscriber>.<nonce>.<mac>`: ids as 32 hex digits, an 8-hex-digit nonce, and
/// 22 characters of base64url HMAC-SHA256 under a key derived for this purpose — 100 bytes,
/// within Telegram's 128.
fn sign(ctx: &AppCtx, plan_id: Uuid, subscriber_id: Uuid) -> String {
    let nonce = format!("{:08x}", rand::random::<u32>());
    let body = format!("p1.{}.{}.{nonce}", plan_id.simple(), subscriber_id.simple());
    format!("{body}.{}", mac(ctx, &body))
}

fn mac(ctx: &AppCtx, body: &str) -> String {
    use base64::Engine;
    let mut m = Hmac::<Sha256>::new_from_slice(&ctx.keys.invoice).expect("any key length");
    m.update(body.as_bytes());
    let tag = m.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// The plan and subscriber a payload names, if it is ours (constant-time comparison).
fn verify(ctx: &AppCtx, payload: &str) -> Option<(Uuid, Uuid)> {
    use subtle::ConstantTimeEq;
    let (body, tag) = payload.rsplit_once('.')?;
    let expected = mac(ctx, body);
    if expected.as_bytes().ct_eq(tag.as_bytes()).unwrap_u8() != 1 {
        return None;
    }
    let mut parts = body.split('.');
    if parts.next()? != "p1" {
        return None;
    }
    let plan = Uuid::parse_str(parts.next()?).ok()?;
    let sub = Uuid::parse_str(parts.next()?).ok()?;
    Some((plan, sub))
}

// --- buying through the bot -------------------------------------------------------------------

async fn project_of(ctx: &AppCtx, h: &BotHandle) -> Result<project::Model> {
    project::Entity::find_by_id(h.project_id)
        .filter(project::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))
}

/// A plan of the bot's project that is on sale for Stars now, with its price.
async fn plan_on_sale(ctx: &AppCtx, h: &BotHandle, plan_id: Uuid) -> Result<(plan::Model, u32)> {
    let pl = plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict(PLAN_NOT_FOR_SALE, "no such plan"))?;
    match pl.price_stars {
        Some(stars) if pl.active && !pl.codes_only && stars > 0 => Ok((pl, stars as u32)),
        _ => Err(Error::conflict(
            PLAN_NOT_FOR_SALE,
            "this plan is not sold for Stars",
        )),
    }
}

/// How the invoice went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoiced {
    /// A one-time invoice message (`sendInvoice`).
    Invoice,
    /// A Stars subscription link (`createInvoiceLink` with a 30-day period) in a message
    /// with a pay button.
    SubscriptionLink(String),
}

/// A subscriber pressed "Buy for N ⭐": sends a Stars invoice for the plan — a monthly Stars
/// subscription for 30-day plans, a one-time invoice otherwise. Refused with
/// `stars_disabled` / `plan_not_for_sale`.
pub async fn offer(
    ctx: &AppCtx,
    h: &BotHandle,
    user: &TgUser,
    chat: i64,
    plan_id: Uuid,
) -> Result<Invoiced> {
    let p = project_of(ctx, h).await?;
    if !p.stars_enabled {
        return Err(Error::conflict(
            STARS_DISABLED,
            "Stars payments are turned off for this project",
        ));
    }
    let (pl, stars) = plan_on_sale(ctx, h, plan_id).await?;
    let sub = subscriptions::subscriber_for(&ctx.db, h, user, ctx.now()).await?;
    let payload = sign(ctx, pl.id, sub.id);
    let term = match pl.duration_days {
        None => "for life".to_string(),
        Some(1) => "for 1 day".to_string(),
        Some(d) => format!("for {d} days"),
    };
    let title: String = pl.name.chars().take(32).collect();
    let description = format!("Access to “{}” {term} in {}.", pl.name, p.name);
    let description: String = description.chars().take(255).collect();
    let invoice = StarsInvoice {
        title: &title,
        description: &description,
        payload: &payload,
        label: &title,
        stars,
    };
    if pl.duration_days == Some(30) {
        let link = telegram::sender::create_invoice_link(
            ctx,
            h.id,
            &invoice,
            Some(SUBSCRIPTION_PERIOD_SECS),
        )
        .await?;
        let text = format!(
            "“{}” — {stars} ⭐ a month. Telegram renews it every 30 days until you cancel (/my).",
            pl.name
        );
        let keyboard = vec![vec![Button::Url {
            text: format!("Subscribe for {stars} ⭐ / month"),
            url: link.clone(),
        }]];
        telegram::send_message(ctx, h.id, chat, &text, Some(keyboard)).await?;
        Ok(Invoiced::SubscriptionLink(link))
    } else {
        telegram::sender::send_invoice(ctx, h.id, chat, &invoice).await?;
        Ok(Invoiced::Invoice)
    }
}

/// A `pre_checkout_query`, in our terms.
#[derive(Debug, Clone)]
pub struct PreCheckout {
    pub from_user_id: i64,
    pub currency: String,
    pub total_amount: i64,
    pub payload: String,
}

/// Judges a pre-checkout: `None` to accept, or the message the subscriber sees. Accepted only
/// if the payload is ours and names this user, it was not paid before, the tenant is active,
/// Stars are on and the plan is still on sale at the same price (in `XTR`).
pub async fn pre_checkout(
    ctx: &AppCtx,
    h: &BotHandle,
    q: &PreCheckout,
) -> Result<Option<&'static str>> {
    let Some((plan_id, subscriber_id)) = verify(ctx, &q.payload) else {
        tracing::warn!(bot = %h.id, "pre-checkout with a payload that is not ours refused");
        return Ok(Some(REFUSE_FORGED));
    };
    let sub = subscriber::Entity::find_by_id(subscriber_id)
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?;
    if sub.is_none_or(|s| s.telegram_user_id != q.from_user_id) {
        return Ok(Some(REFUSE_FORGED));
    }
    let used = payment::Entity::find()
        .filter(payment::Column::InvoicePayload.eq(&q.payload))
        .one(&ctx.db)
        .await?;
    if used.is_some() {
        return Ok(Some(REFUSE_USED));
    }
    if !tenants::is_active(&ctx.db, h.tenant_id).await? {
        return Ok(Some(REFUSE_PAUSED));
    }
    if !project_of(ctx, h).await?.stars_enabled {
        return Ok(Some(REFUSE_PLAN));
    }
    let Ok((_, stars)) = plan_on_sale(ctx, h, plan_id).await else {
        return Ok(Some(REFUSE_PLAN));
    };
    if q.currency != CURRENCY || q.total_amount != i64::from(stars) {
        return Ok(Some(REFUSE_PRICE));
    }
    Ok(None)
}

/// A paid charge, from a `successful_payment` update or a reconciled Star transaction.
#[derive(Debug, Clone)]
pub struct Charge {
    pub user: TgUser,
    pub currency: String,
    pub total_amount: i64,
    pub payload: String,
    pub telegram_payment_charge_id: String,
    pub is_recurring: bool,
    /// The first payment of a Stars subscription (not a renewal).
    pub is_first_recurring: bool,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub recorded_by: RecordedBy,
    pub paid_at: DateTime<Utc>,
}

/// What recording a charge did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub payment: payment::Model,
    pub subscription: subscription::Model,
    pub plan_name: String,
    pub extended: bool,
    /// The charge was already recorded (a repeated delivery): nothing was done again.
    pub duplicate: bool,
}

/// Records a paid charge once per `telegram_payment_charge_id` and grants its plan — the one
/// place a payment is recorded. One transaction: the payment row is inserted with
/// `ON CONFLICT DO NOTHING` on the charge id (so two deliveries of one charge at once insert
/// one row; the loser finds it and reports a duplicate), then `subscriptions::grant` (source
/// `payment`) creates or extends the subscription and the payment records the span it added.
/// A payload that is not ours is refused (`invalid_payload`): Telegram only charges after our
/// pre-checkout accepted it, so this is logged loudly.
pub async fn record_paid(ctx: &AppCtx, h: &BotHandle, c: &Charge) -> Result<Recorded> {
    let Some((plan_id, subscriber_id)) = verify(ctx, &c.payload) else {
        tracing::error!(bot = %h.id, charge = %c.telegram_payment_charge_id, "paid charge with a payload that is not ours");
        return Err(Error::conflict(
            "invalid_payload",
            "the payload is not ours",
        ));
    };
    if let Some(r) = existing(ctx, &c.telegram_payment_charge_id).await? {
        return Ok(r);
    }
    let pl = plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("plan"))?;
    let sub = subscriber::Entity::find_by_id(subscriber_id)
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscriber"))?;
    let now = ctx.now();
    let id = Uuid::now_v7();
    let txn = ctx.db.begin().await?;
    let row = payment::ActiveModel {
        id: Set(id),
        tenant_id: Set(h.tenant_id),
        project_id: Set(h.project_id),
        plan_id: Set(pl.id),
        subscriber_id: Set(sub.id),
        subscription_id: Set(None),
        amount: Set(c.total_amount),
        currency: Set(c.currency.chars().take(3).collect()),
        telegram_payment_charge_id: Set(c.telegram_payment_charge_id.clone()),
        invoice_payload: Set(c.payload.clone()),
        is_recurring: Set(c.is_recurring),
        subscription_expires_at: Set(c.subscription_expires_at),
        renewal_canceled: Set(false),
        status: Set(PaymentStatus::Paid),
        recorded_by: Set(c.recorded_by),
        added_from: Set(now),
        added_until: Set(None),
        paid_at: Set(c.paid_at),
        refunded_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = payment::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(payment::Column::TelegramPaymentChargeId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return existing(ctx, &c.telegram_payment_charge_id)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("payment vanished")));
    }
    let granted = subscriptions::grant(
        &txn,
        subscriptions::Grant {
            tenant_id: h.tenant_id,
            project_id: h.project_id,
            subscriber_id: sub.id,
            plan: &pl,
            source: SubscriptionSource::Payment,
            access_code_id: None,
            price_minor: c.total_amount,
        },
        now,
    )
    .await?;
    payment::Entity::update_many()
        .col_expr(
            payment::Column::SubscriptionId,
            Expr::value(granted.subscription.id),
        )
        .col_expr(payment::Column::AddedFrom, Expr::value(granted.added_from))
        .col_expr(
            payment::Column::AddedUntil,
            Expr::value(granted.added_until),
        )
        .filter(payment::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    events::emit(
        &txn,
        h.tenant_id,
        events::Event::new(
            events::EventType::PaymentSucceeded,
            serde_json::json!({
                "payment_id": id, "project_id": h.project_id, "plan_id": pl.id,
                "subscriber_id": sub.id, "subscription_id": granted.subscription.id,
                "amount": c.total_amount, "currency": c.currency,
                "telegram_payment_charge_id": c.telegram_payment_charge_id,
                "is_recurring": c.is_recurring,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    let payment = payment::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("payment vanished")))?;
    Ok(Recorded {
        payment,
        subscription: granted.subscription,
        plan_name: pl.name,
        extended: granted.extended,
        duplicate: false,
    })
}

async fn existing(ctx: &AppCtx, charge_id: &str) -> Result<Option<Recorded>> {
    let Some(p) = payment::Entity::find()
        .filter(payment::Column::TelegramPaymentChargeId.eq(charge_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(None);
    };
    let Some(s) = (match p.subscription_id {
        Some(sid) => subscription::Entity::find_by_id(sid).one(&ctx.db).await?,
        None => None,
    }) else {
        return Err(Error::conflict(
            "payment_without_subscription",
            "this payment's subscription is gone",
        ));
    };
    let plan_name = plan::Entity::find_by_id(p.plan_id)
        .one(&ctx.db)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    Ok(Some(Recorded {
        payment: p,
        subscription: s,
        plan_name,
        extended: false,
        duplicate: true,
    }))
}

/// What the subscriber is told after paying.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub recorded: Recorded,
    pub links: Vec<AccessLink>,
}

/// A `successful_payment` (or a reconciled charge): recorded once ([`record_paid`]); the
/// first time, the subscriber's access links are made and the linked owners told. A
/// repeated delivery returns `duplicate` and sends nothing.
pub async fn on_paid(ctx: &AppCtx, h: &BotHandle, c: &Charge) -> Result<Delivered> {
    let recorded = record_paid(ctx, h, c).await?;
    if recorded.duplicate {
        return Ok(Delivered {
            recorded,
            links: vec![],
        });
    }
    notify_owners(ctx, h, c, &recorded).await;
    let links = subscriptions::access_links(ctx, h, &recorded.subscription).await?;
    Ok(Delivered { recorded, links })
}

async fn notify_owners(ctx: &AppCtx, h: &BotHandle, c: &Charge, r: &Recorded) {
    let user = &c.user;
    let who = match &user.username {
        Some(u) => format!("@{u} ({})", user.first_name),
        None => format!("{} (id {})", user.first_name, user.id),
    };
    let what = if c.is_recurring && !c.is_first_recurring {
        "renewed"
    } else {
        "bought"
    };
    let text = format!(
        "New payment: {who} {what} “{}” for {} ⭐.",
        r.plan_name, r.payment.amount
    );
    match bots::owner_chat_ids(ctx, h.project_id).await {
        Ok(chats) => {
            for chat in chats {
                if let Err(e) = telegram::send_message(ctx, h.id, chat, &text, None).await {
                    tracing::warn!(error = %e, "owner notification failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "owner chats unavailable"),
    }
}

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
        .filter(payment::Column::SubscriptionExpiresAt.is_not_null())
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
    let recurring = payment::Entity::find()
        .filter(payment::Column::SubscriptionId.eq(s.id))
        .filter(payment::Column::SubscriptionExpiresAt.is_not_null())
        .filter(payment::Column::RenewalCanceled.eq(false))
        .order_by_asc(payment::Column::PaidAt)
        .all(&ctx.db)
        .await?;
    let Some(first) = recurring.first() else {
        return Err(Error::conflict(NO_RENEWAL, "nothing renews"));
    };
    telegram::sender::edit_user_star_subscription(
        ctx,
        h.id,
        user_id,
        &first.telegram_payment_charge_id,
        true,
    )
    .await?;
    payment::Entity::update_many()
        .col_expr(payment::Column::RenewalCanceled, Expr::value(true))
        .col_expr(payment::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(payment::Column::SubscriptionId.eq(s.id))
        .exec(&ctx.db)
        .await?;
    let plan_name = plan::Entity::find_by_id(s.plan_id)
        .one(&ctx.db)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    Ok((plan_name, s.ends_at))
}

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

// --- revenue ----------------------------------------------------------------------------------

/// Revenue of one currency on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayRevenue {
    pub day: NaiveDate,
    pub currency: String,
    /// Minor units (whole Stars for `XTR`).
    pub amount: i64,
}

/// Revenue of one plan in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlanRevenue {
    pub plan_id: Uuid,
    pub plan_name: String,
    pub currency: String,
    pub amount: i64,
    /// Stars payments counted (refunded ones are not).
    pub payments: i64,
    /// Priced code orders counted (zero-priced ones are not).
    pub code_orders: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotal {
    pub currency: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevenueOut {
    /// First day, inclusive (UTC).
    pub from: NaiveDate,
    /// Last day, inclusive (UTC).
    pub to: NaiveDate,
    pub totals: Vec<CurrencyTotal>,
    /// Days with revenue, oldest first.
    pub days: Vec<DayRevenue>,
    pub plans: Vec<PlanRevenue>,
}

/// The longest window revenue is asked for.
pub const REVENUE_MAX_DAYS: i64 = 366;

/// Paid amounts per UTC day and per plan, by currency, from `from` through `to` (default: the
/// last 30 days). Stars payments count unless refunded; code orders (each activation, also
/// one that extended a subscription) count only when they were priced — the project priced
/// code orders when it was redeemed — so zero-priced codes are left out.
pub async fn revenue(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<RevenueOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let to = to.unwrap_or_else(|| ctx.now().date_naive());
    let out_of_range = |f: &str| Error::field(f, "out_of_range", "not a usable date");
    // Dates at the ends of the calendar cannot be stepped past: refused, never a panic.
    let next = to.succ_opt().ok_or_else(|| out_of_range("to"))?;
    let from = match from {
        Some(f) => f,
        None => to
            .checked_sub_signed(Duration::days(29))
            .ok_or_else(|| out_of_range("to"))?,
    };
    let mut errs = FieldErrors::default();
    // What both databases store as a timestamp.
    let usable = |d: NaiveDate| (1970..=9998).contains(&chrono::Datelike::year(&d));
    if !usable(from) {
        errs.add("from", "out_of_range", "must be between 1970 and 9998");
    }
    if !usable(to) {
        errs.add("to", "out_of_range", "must be between 1970 and 9998");
    }
    if !usable(from) || !usable(to) {
        // Reported as they are.
    } else if from > to {
        errs.add("from", "after_to", "must not be after `to`");
    } else if (to - from).num_days() >= REVENUE_MAX_DAYS {
        errs.add("from", "window_too_long", "at most 366 days at a time");
    }
    errs.finish()?;
    let since = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let until = next.and_time(chrono::NaiveTime::MIN).and_utc();

    // (day, plan, currency, amount, is_payment)
    let mut rows: Vec<(NaiveDate, Uuid, String, i64, bool)> = vec![];
    for pay in payment::Entity::find()
        .filter(payment::Column::TenantId.eq(t.tenant_id))
        .filter(payment::Column::ProjectId.eq(p.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Paid))
        .filter(payment::Column::PaidAt.gte(since))
        .filter(payment::Column::PaidAt.lt(until))
        .all(&ctx.db)
        .await?
    {
        rows.push((
            pay.paid_at.date_naive(),
            pay.plan_id,
            pay.currency,
            pay.amount,
            true,
        ));
    }
    let codes = access_code::Entity::find()
        .select_only()
        .column(access_code::Column::Id)
        .filter(access_code::Column::TenantId.eq(t.tenant_id))
        .filter(access_code::Column::ProjectId.eq(p.id))
        .into_query();
    let acts = activation::Entity::find()
        .filter(activation::Column::TenantId.eq(t.tenant_id))
        .filter(activation::Column::At.gte(since))
        .filter(activation::Column::At.lt(until))
        .filter(activation::Column::AccessCodeId.in_subquery(codes))
        .all(&ctx.db)
        .await?;
    if !acts.is_empty() {
        let code_plans: HashMap<Uuid, Uuid> = access_code::Entity::find()
            .select_only()
            .column(access_code::Column::Id)
            .column(access_code::Column::PlanId)
            .filter(access_code::Column::Id.is_in(acts.iter().map(|a| a.access_code_id)))
            .into_tuple::<(Uuid, Uuid)>()
            .all(&ctx.db)
            .await?
            .into_iter()
            .collect();
        let subs: HashMap<Uuid, (i64, String)> = subscription::Entity::find()
            .filter(subscription::Column::Id.is_in(acts.iter().filter_map(|a| a.subscription_id)))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|s| (s.id, (s.price_minor, s.currency)))
            .collect();
        for a in acts {
            let Some(plan_id) = code_plans.get(&a.access_code_id) else {
                continue;
            };
            let Some((sub_price, currency)) = a.subscription_id.and_then(|s| subs.get(&s)) else {
                continue;
            };
            let price = a.price_minor.unwrap_or(*sub_price);
            if price > 0 {
                rows.push((a.at.date_naive(), *plan_id, currency.clone(), price, false));
            }
        }
    }
    let names: HashMap<Uuid, String> = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(p.id))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|pl| (pl.id, pl.name))
        .collect();
    let mut days: BTreeMap<(NaiveDate, String), i64> = BTreeMap::new();
    let mut plans: BTreeMap<(String, Uuid, String), (i64, i64, i64)> = BTreeMap::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (day, plan_id, currency, amount, is_payment) in rows {
        *days.entry((day, currency.clone())).or_default() += amount;
        *totals.entry(currency.clone()).or_default() += amount;
        let name = names.get(&plan_id).cloned().unwrap_or_default();
        let e = plans.entry((name, plan_id, currency)).or_default();
        e.0 += amount;
        if is_payment {
            e.1 += 1;
        } else {
            e.2 += 1;
        }
    }
    Ok(RevenueOut {
        from,
        to,
        totals: totals
            .into_iter()
            .map(|(currency, amount)| CurrencyTotal { currency, amount })
            .collect(),
        days: days
            .into_iter()
            .map(|((day, currency), amount)| DayRevenue {
                day,
                currency,
                amount,
            })
            .collect(),
        plans: plans
            .into_iter()
            .map(
                |((plan_name, plan_id, currency), (amount, payments, code_orders))| PlanRevenue {
                    plan_id,
                    plan_name,
                    currency,
                    amount,
                    payments,
                    code_orders,
                },
            )
            .collect(),
    })
}

// --- reconciliation ---------------------------------------------------------------------------

/// Star transactions read per page, and at most this many pages per bot per run.
const RECONCILE_PAGE: u8 = 100;
const RECONCILE_PAGES: u32 = 10;
/// Transactions older than this are not looked at (Telegram retries updates for 24 h).
const RECONCILE_DAYS: i64 = 7;
/// Bots reconciled at once.
const RECONCILE_CONCURRENCY: usize = 16;

/// Reads the recent Star transactions of every bot whose project sells for Stars (and whose
/// tenant is active) and records each incoming invoice payment whose update never arrived —
/// through [`on_paid`], so access is granted and sent as for a delivered update. A charge
/// already recorded is left alone (the charge id is unique). Returns how many were recorded.
pub async fn reconcile(ctx: &AppCtx) -> Result<u64> {
    let projects: Vec<Uuid> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::StarsEnabled.eq(true))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if projects.is_empty() {
        return Ok(0);
    }
    let bots: Vec<Uuid> = bot::Entity::find()
        .select_only()
        .column(bot::Column::Id)
        .filter(bot::Column::ProjectId.is_in(projects))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    // Several bots at a time, so one slow or failing bot (its retries take seconds) does not
    // hold up the others.
    use futures::StreamExt;
    let recorded = futures::stream::iter(bots)
        .map(|bot_id| async move {
            match reconcile_bot(ctx, bot_id).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(bot = %bot_id, error = %e, "reconciling Star transactions failed");
                    0
                }
            }
        })
        .buffer_unordered(RECONCILE_CONCURRENCY)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    Ok(recorded)
}

async fn reconcile_bot(ctx: &AppCtx, bot_id: Uuid) -> Result<u64> {
    use teloxide::types::{TransactionPartner, TransactionPartnerUserKind};
    let Some(h) = bots::handle(ctx, bot_id).await? else {
        return Ok(0);
    };
    if !tenants::is_active(&ctx.db, h.tenant_id).await? {
        return Ok(0);
    }
    let oldest = ctx.now() - Duration::days(RECONCILE_DAYS);
    let mut recorded = 0;
    for page in 0..RECONCILE_PAGES {
        let txs = telegram::sender::get_star_transactions(
            ctx,
            h.id,
            page * u32::from(RECONCILE_PAGE),
            RECONCILE_PAGE,
        )
        .await?;
        let n = txs.len();
        for tx in txs {
            if tx.date < oldest {
                continue;
            }
            let Some(TransactionPartner::User(u)) = &tx.source else {
                continue;
            };
            let TransactionPartnerUserKind::InvoicePayment(inv) = &u.kind else {
                continue;
            };
            let Some(payload) = inv.invoice_payload.clone() else {
                continue;
            };
            if verify(ctx, &payload).is_none() {
                continue;
            }
            let charge_id = tx.id.0.clone();
            if payment::Entity::find()
                .filter(payment::Column::TelegramPaymentChargeId.eq(&charge_id))
                .one(&ctx.db)
                .await?
                .is_some()
            {
                continue;
            }
            let recurring = inv.subscription_period.is_some();
            let charge = Charge {
                user: TgUser {
                    id: u.user.id.0 as i64,
                    username: u.user.username.clone(),
                    first_name: u.user.first_name.clone(),
                },
                currency: CURRENCY.to_string(),
                total_amount: i64::from(tx.amount),
                payload,
                telegram_payment_charge_id: charge_id,
                is_recurring: recurring,
                is_first_recurring: false,
                subscription_expires_at: inv
                    .subscription_period
                    .filter(|_| recurring)
                    .map(|p| tx.date + p.chrono_duration()),
                recorded_by: RecordedBy::Reconciliation,
                paid_at: tx.date,
            };
            let d = on_paid(ctx, &h, &charge).await?;
            if !d.recorded.duplicate {
                recorded += 1;
                tracing::warn!(bot = %h.id, charge = %charge.telegram_payment_charge_id, "a paid charge whose update never arrived was recorded");
                let head = paid_head(&d);
                if let Err(e) =
                    subscriptions::send_access(ctx, &h, charge.user.id, &head, &d.links, vec![])
                        .await
                {
                    tracing::warn!(error = %e, "payment confirmation not delivered");
                }
            }
        }
        if n < usize::from(RECONCILE_PAGE) {
            break;
        }
    }
    Ok(recorded)
}

/// The confirmation a payer gets; its access goes with it as Join buttons
/// (`subscriptions::send_access`), from the bot and from the worker's reconciliation alike.
pub fn paid_head(d: &Delivered) -> String {
    let r = &d.recorded;
    let until = match r.subscription.ends_at {
        Some(t) => format!("until {}", t.format("%Y-%m-%d %H:%M UTC")),
        None => "for life".to_string(),
    };
    if r.extended {
        format!(
            "✅ Payment received: your “{}” subscription is extended {until}.",
            r.plan_name
        )
    } else {
        format!("✅ Payment received: “{}” {until}.", r.plan_name)
    }
}
