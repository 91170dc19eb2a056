//! Recording a paid charge once per `telegram_payment_charge_id`, granting its plan, and the
//! confirmation the payer and the owners get.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use entity::{payment, plan, subscriber, subscription};

use entity::payment::{PaymentStatus, RecordedBy};

use crate::{
    AppCtx, bots,
    error::{Error, Result},
    events,
    i18n::{self, Lang},
    promos, renewals,
    subscriptions::{self, SubscriptionSource, SubscriptionStatus, TgUser},
    telegram::{self, BotHandle},
};

use super::{CURRENCY, SUBSCRIPTION_PERIOD_SECS, invoice::verify};

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
    /// A renewal of a subscription that was revoked: it bought nothing and was refunded (or
    /// is being refunded), and the Stars subscription was cancelled.
    pub refused: bool,
}

/// Records a paid charge once per `telegram_payment_charge_id` and grants what it bought —
/// the one place a payment is recorded. One transaction: the payment row is inserted with
/// `ON CONFLICT DO NOTHING` on the charge id (so two deliveries of one charge at once insert
/// one row; the loser finds it and reports a duplicate), then `subscriptions::grant_bought`
/// (source `payment`, currency `XTR`) creates or extends the subscription by what was paid
/// for — a Stars subscription's charge by the 30 days Telegram charged for, whatever the
/// plan's duration became since; a one-time payment by the plan's duration — and the payment
/// records the span it bought and added.
///
/// A charge whose payload was paid before is a Stars subscription renewing. When the
/// subscription it renews was revoked (by the creator, a code rollback or a refund), the
/// renewal buys nothing: it is recorded `refunding`, refunded in Telegram (outside any
/// transaction) and the Stars subscription cancelled (`refused`).
///
/// A payload that is not ours is refused (`invalid_payload`): Telegram only charges after our
/// pre-checkout accepted it, so this is logged loudly.
pub async fn record_paid(ctx: &AppCtx, h: &BotHandle, c: &Charge) -> Result<Recorded> {
    let Some(signed) = verify(ctx, &c.payload) else {
        tracing::error!(bot = %h.id, charge = %c.telegram_payment_charge_id, "paid charge with a payload that is not ours");
        return Err(Error::conflict(
            "invalid_payload",
            "the payload is not ours",
        ));
    };
    if let Some(r) = existing(ctx, &c.telegram_payment_charge_id).await? {
        return Ok(r);
    }
    let (plan_id, subscriber_id) = (signed.plan, signed.subscriber);
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
    // Pre-checkout refuses a payload paid before, so only a renewal reuses one.
    let earlier = payment::Entity::find()
        .filter(payment::Column::InvoicePayload.eq(&c.payload))
        .filter(payment::Column::ProjectId.eq(h.project_id))
        .order_by_desc(payment::Column::CreatedAt)
        .one(&ctx.db)
        .await?;
    let revoked = match earlier.as_ref().and_then(|p| p.subscription_id) {
        Some(sid) => subscription::Entity::find_by_id(sid)
            .one(&ctx.db)
            .await?
            .filter(|s| s.status == SubscriptionStatus::Revoked),
        None => None,
    };
    let span = c
        .is_recurring
        .then(|| Duration::seconds(i64::from(SUBSCRIPTION_PERIOD_SECS)));
    let bought = span.or(pl.duration_days.map(|d| Duration::days(i64::from(d))));
    let now = ctx.now();
    let id = Uuid::now_v7();
    let txn = ctx.db.begin().await?;
    let row = payment::ActiveModel {
        id: Set(id),
        tenant_id: Set(h.tenant_id),
        project_id: Set(h.project_id),
        plan_id: Set(pl.id),
        subscriber_id: Set(sub.id),
        subscription_id: Set(revoked.as_ref().map(|s| s.id)),
        amount: Set(c.total_amount),
        currency: Set(c.currency.chars().take(3).collect()),
        telegram_payment_charge_id: Set(c.telegram_payment_charge_id.clone()),
        invoice_payload: Set(c.payload.clone()),
        is_recurring: Set(c.is_recurring),
        is_first_recurring: Set(c.is_recurring && earlier.is_none()),
        subscription_expires_at: Set(c.subscription_expires_at),
        renewal_canceled: Set(false),
        status: Set(if revoked.is_some() {
            PaymentStatus::Refunding
        } else {
            PaymentStatus::Paid
        }),
        recorded_by: Set(c.recorded_by),
        added_from: Set(now),
        added_until: Set(revoked.as_ref().map(|_| now)),
        bought_secs: Set(if revoked.is_some() {
            Some(0)
        } else {
            bought.map(|b| b.num_seconds())
        }),
        paid_at: Set(c.paid_at),
        refunded_at: Set(None),
        confirmed_at: Set(None),
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
    if let Some(s) = revoked {
        txn.commit().await?;
        return refuse_renewal(ctx, h, c, id, s, pl.name).await;
    }
    let granted = subscriptions::grant_bought(
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
        subscriptions::Bought {
            span,
            currency: CURRENCY,
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
    if let Some(promo_id) = signed.promo {
        promos::record_paid(
            &txn,
            &promos::PaidWith {
                promo_id,
                subscriber_id: sub.id,
                plan_id: pl.id,
                payment_id: id,
                payload: c.payload.clone(),
                // The list price when it was paid (pre-checkout checked it moments before).
                list_stars: pl.price_stars.map_or(c.total_amount, i64::from),
                paid_stars: c.total_amount,
                renewal: earlier.is_some(),
            },
            now,
        )
        .await?;
    }
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
        refused: false,
    })
}

/// A renewal of a revoked subscription: refunded at once (the payment was committed
/// `refunding`, so reconciliation finishes it if Telegram's answer is lost), and the Stars
/// subscription cancelled so it does not charge again.
async fn refuse_renewal(
    ctx: &AppCtx,
    h: &BotHandle,
    c: &Charge,
    payment_id: Uuid,
    revoked: subscription::Model,
    plan_name: String,
) -> Result<Recorded> {
    tracing::warn!(bot = %h.id, charge = %c.telegram_payment_charge_id, subscription = %revoked.id, "a renewal of a revoked subscription is refunded");
    let pay = payment::Entity::find_by_id(payment_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("payment vanished")))?;
    if let Err(e) = super::refund::settle(ctx, h.id, c.user.id, &pay, None).await {
        tracing::warn!(error = %e, charge = %c.telegram_payment_charge_id, "refunding a refused renewal failed; reconciliation retries");
    }
    renewals::stop(ctx, &[revoked.id]).await;
    let payment = payment::Entity::find_by_id(payment_id)
        .one(&ctx.db)
        .await?
        .unwrap_or(pay);
    Ok(Recorded {
        payment,
        subscription: revoked,
        plan_name,
        extended: false,
        duplicate: false,
        refused: true,
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
    // Only a refused renewal bought nothing.
    let refused = p.bought_secs == Some(0);
    Ok(Some(Recorded {
        payment: p,
        subscription: s,
        plan_name,
        extended: false,
        duplicate: true,
        refused,
    }))
}

/// A recorded charge, as [`on_paid`] returns it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub recorded: Recorded,
}

/// A `successful_payment` (or a reconciled charge): recorded once ([`record_paid`]); the
/// first time, the linked owners are told. A repeated delivery returns `duplicate`.
pub async fn on_paid(ctx: &AppCtx, h: &BotHandle, c: &Charge) -> Result<Delivered> {
    let recorded = record_paid(ctx, h, c).await?;
    if !recorded.duplicate && !recorded.refused {
        notify_owners(ctx, h, c, &recorded).await;
    }
    Ok(Delivered { recorded })
}

/// What the payer is told: [`on_paid`], then the confirmation ([`paid_head`]) with the
/// subscription's access as Join buttons — sent once per payment, whichever delivery of the
/// charge (a repeated update, reconciliation) finds it not yet sent: it is claimed by a
/// conditional update of `confirmed_at`, released again if Telegram refuses the message. When
/// the access links cannot be made the confirmation still goes, saying to send /my. Returns
/// whether this call sent it.
pub async fn confirm(ctx: &AppCtx, h: &BotHandle, chat: i64, c: &Charge) -> Result<bool> {
    let d = on_paid(ctx, h, c).await?;
    let pay = &d.recorded.payment;
    if pay.confirmed_at.is_some() {
        return Ok(false);
    }
    let now = ctx.now();
    let claimed = payment::Entity::update_many()
        .col_expr(payment::Column::ConfirmedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(pay.id))
        .filter(payment::Column::ConfirmedAt.is_null())
        .exec(&ctx.db)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Ok(false);
    }
    let r = &d.recorded;
    let lang = match c.user.language_code.as_deref().and_then(Lang::from_tag) {
        Some(l) => l,
        None => i18n::stored(ctx, h.project_id, c.user.id).await?,
    };
    let mut text = paid_head(lang, &d);
    let links = if r.refused || r.subscription.status != SubscriptionStatus::Active {
        vec![]
    } else {
        match subscriptions::access_links(ctx, h, &r.subscription).await {
            Ok(links) => links,
            Err(e) => {
                tracing::warn!(error = %e, payment = %pay.id, "access links for a payment not made");
                text.push_str("\n\n");
                text.push_str(&i18n::t(lang, "paid-no-link"));
                vec![]
            }
        }
    };
    if let Err(e) = subscriptions::send_access(ctx, h, lang, chat, &text, &links, vec![]).await {
        // Not sent: the next delivery of the charge, or reconciliation, sends it.
        payment::Entity::update_many()
            .col_expr(
                payment::Column::ConfirmedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(payment::Column::Id.eq(pay.id))
            .exec(&ctx.db)
            .await?;
        return Err(e);
    }
    Ok(true)
}

async fn notify_owners(ctx: &AppCtx, h: &BotHandle, c: &Charge, r: &Recorded) {
    let user = &c.user;
    let who = match &user.username {
        Some(u) => format!("@{u} ({})", user.first_name),
        None => format!("{} (id {})", user.first_name, user.id),
    };
    let key = if c.is_recurring && !c.is_first_recurring {
        "owner-new-renewal"
    } else {
        "owner-new-payment"
    };
    match bots::owner_chat_ids(ctx, h.project_id).await {
        Ok(chats) => {
            for chat in chats {
                // An owner's private chat id is their user id: their own language.
                let lang = i18n::stored(ctx, h.project_id, chat)
                    .await
                    .unwrap_or(Lang::En);
                let text = i18n::tr(
                    lang,
                    key,
                    &[
                        ("who", who.as_str().into()),
                        ("plan", r.plan_name.as_str().into()),
                        ("stars", r.payment.amount.into()),
                    ],
                );
                if let Err(e) = telegram::send_message(ctx, h.id, chat, &text, None).await {
                    tracing::warn!(error = %e, "owner notification failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "owner chats unavailable"),
    }
}

/// The confirmation a payer gets; its access goes with it as Join buttons
/// (`subscriptions::send_access`), from the bot and from the worker's reconciliation alike.
pub fn paid_head(lang: Lang, d: &Delivered) -> String {
    let r = &d.recorded;
    if r.refused {
        let key = if r.payment.status == PaymentStatus::Refunded {
            "paid-refused-refunded"
        } else {
            "paid-refused-will-refund"
        };
        return i18n::tr(
            lang,
            key,
            &[
                ("plan", r.plan_name.as_str().into()),
                ("stars", r.payment.amount.into()),
            ],
        );
    }
    let term = match r.subscription.ends_at {
        Some(t) => i18n::tr(
            lang,
            "until",
            &[("at", t.format("%Y-%m-%d %H:%M UTC").to_string().into())],
        ),
        None => i18n::t(lang, "for-life"),
    };
    let key = if r.extended { "paid-extended" } else { "paid" };
    i18n::tr(
        lang,
        key,
        &[("plan", r.plan_name.as_str().into()), ("term", term.into())],
    )
}
