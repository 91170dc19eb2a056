//! Using a promo code in the bot: the promo a subscriber typed (or a deep link carried) and
//! whether they may use it now, the plans it discounts and their prices, a place under its cap
//! held when Telegram asks the pre-checkout question, the payment that uses the place, and
//! places given back when their payment never came.
//!
//! The cap is `promo_codes.uses`, taken by a conditional update (`uses < max_uses`) at
//! pre-checkout — the last moment before Telegram charges, so fifty buyers at once get exactly
//! as many "yes" as there are places. A place is a `promo_holds` row: the payment marks it used;
//! one unpaid after [`HOLD_FOR`] is given back ([`release_lapsed`]). A payment that finds no
//! place of its own (it came after its place was given back) is honoured — Telegram already
//! charged — and counted, over the cap if it is full (`over_cap`, reported in the list).
//! Once per user is a unique key on the holds (`<promo>:<subscriber>`), used places included.
//! Renewals of a discounted Stars subscription carry the promo too: each is recorded with its
//! money but takes no place.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use entity::{payment, plan, promo_code, promo_hold, promo_redemption};

use crate::{
    AppCtx,
    error::{Error, Result},
    events,
    telegram::BotHandle,
};

use super::{Discount, discounted, key};

/// No promo code of this project is spelled like that.
pub const PROMO_UNKNOWN: &str = "promo_unknown";
/// Its validity window has not begun.
pub const PROMO_NOT_STARTED: &str = "promo_not_started";
/// Its validity window has ended, or the creator deactivated it.
pub const PROMO_EXPIRED: &str = "promo_expired";
/// Every place under its cap is taken.
pub const PROMO_EXHAUSTED: &str = "promo_exhausted";
/// It does not apply to this plan (or to any plan sold here).
pub const PROMO_WRONG_PLAN: &str = "promo_wrong_plan";
/// Once per user, and this user used it (or is paying with it now).
pub const PROMO_ALREADY_USED: &str = "promo_already_used";
/// For new customers only, and this user paid in this project before.
pub const PROMO_NEW_CUSTOMERS_ONLY: &str = "promo_new_customers_only";

/// How long a place under the cap waits for its payment after pre-checkout said yes.
pub const HOLD_FOR: Duration = Duration::minutes(15);
/// Places given back per sweep.
const RELEASE_BATCH: u64 = 500;

/// What the promo takes off.
pub fn discount_of(p: &promo_code::Model) -> Discount {
    match (p.percent_off, p.stars_off) {
        (Some(pc), _) => Discount::Percent(u32::try_from(pc).unwrap_or(0)),
        (None, Some(s)) => Discount::Stars(u32::try_from(s).unwrap_or(0)),
        (None, None) => Discount::Stars(0),
    }
}

/// Whether the promo discounts this plan (no plans listed: every plan).
pub fn applies_to(p: &promo_code::Model, plan_id: Uuid) -> bool {
    let ids: Vec<Uuid> = serde_json::from_value(p.plan_ids.clone()).unwrap_or_default();
    ids.is_empty() || ids.contains(&plan_id)
}

/// The price of a plan listed at `list` ⭐ with this promo.
pub fn price_with(p: &promo_code::Model, list: u32) -> u32 {
    discounted(list, discount_of(p))
}

/// A 30-day Stars plan bought with a first-payment-only promo is sold as one discounted
/// 30-day purchase (a one-time invoice), not as a Stars subscription that would renew at the
/// discounted price.
pub fn sold_once(p: &promo_code::Model, pl: &plan::Model) -> bool {
    p.first_payment_only && pl.duration_days == Some(30)
}

/// The promo of this project spelled like `typed` (normalised like an access code).
pub async fn find_typed(ctx: &AppCtx, h: &BotHandle, typed: &str) -> Result<promo_code::Model> {
    let k = key(typed);
    if k.is_empty() || k.len() > super::CODE_MAX {
        return Err(Error::conflict(PROMO_UNKNOWN, "no such promo code"));
    }
    promo_code::Entity::find()
        .filter(promo_code::Column::ProjectId.eq(h.project_id))
        .filter(promo_code::Column::TenantId.eq(h.tenant_id))
        .filter(promo_code::Column::CodeKey.eq(k))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict(PROMO_UNKNOWN, "no such promo code"))
}

/// Whether the bot's project has a promo code someone could use now (active, in its window,
/// under its cap): `/start` then shows "I have a promo code".
pub async fn any_open(ctx: &AppCtx, h: &BotHandle) -> Result<bool> {
    let now = ctx.now();
    let n = promo_code::Entity::find()
        .filter(promo_code::Column::ProjectId.eq(h.project_id))
        .filter(promo_code::Column::TenantId.eq(h.tenant_id))
        .filter(promo_code::Column::Active.eq(true))
        .filter(
            promo_code::Column::StartsAt
                .is_null()
                .or(promo_code::Column::StartsAt.lte(now)),
        )
        .filter(
            promo_code::Column::EndsAt
                .is_null()
                .or(promo_code::Column::EndsAt.gt(now)),
        )
        .filter(
            promo_code::Column::MaxUses
                .is_null()
                .or(Expr::col(promo_code::Column::Uses).lt(Expr::col(promo_code::Column::MaxUses))),
        )
        .count(&ctx.db)
        .await?;
    Ok(n > 0)
}

/// The promo of this project with this id (a button or an invoice names it).
pub async fn find_id(ctx: &AppCtx, h: &BotHandle, id: Uuid) -> Result<promo_code::Model> {
    promo_code::Entity::find_by_id(id)
        .filter(promo_code::Column::ProjectId.eq(h.project_id))
        .filter(promo_code::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict(PROMO_UNKNOWN, "no such promo code"))
}

/// Whether this subscriber may use the promo now, whatever the plan: active and in its window,
/// a place left under the cap, not used by them before when once per user (a place held for
/// `except_payload` — the invoice being checked — is theirs and does not count), and no
/// earlier payment in this project when for new customers only. Refused with the promo error
/// codes of this module.
pub async fn usable(
    db: &impl ConnectionTrait,
    p: &promo_code::Model,
    subscriber_id: Uuid,
    except_payload: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    if !p.active || p.ends_at.is_some_and(|e| e <= now) {
        return Err(Error::conflict(PROMO_EXPIRED, "this promo code has ended"));
    }
    if let Some(s) = p.starts_at.filter(|s| *s > now) {
        return Err(
            Error::conflict(PROMO_NOT_STARTED, "this promo code has not started")
                .with_details(serde_json::json!({ "starts_at": s })),
        );
    }
    let own_place = match except_payload {
        Some(payload) => {
            promo_hold::Entity::find()
                .filter(promo_hold::Column::InvoicePayload.eq(payload))
                .filter(promo_hold::Column::PromoCodeId.eq(p.id))
                .count(db)
                .await?
                > 0
        }
        None => false,
    };
    if !own_place && p.max_uses.is_some_and(|m| p.uses >= m) {
        return Err(Error::conflict(
            PROMO_EXHAUSTED,
            "this promo code is used up",
        ));
    }
    if p.once_per_user && !own_place {
        let mut q = promo_hold::Entity::find()
            .filter(promo_hold::Column::PromoCodeId.eq(p.id))
            .filter(promo_hold::Column::SubscriberId.eq(subscriber_id))
            .filter(
                promo_hold::Column::PaymentId
                    .is_not_null()
                    .or(promo_hold::Column::ExpiresAt.gt(now)),
            );
        if let Some(payload) = except_payload {
            q = q.filter(promo_hold::Column::InvoicePayload.ne(payload));
        }
        let held = q.count(db).await? > 0;
        let paid = promo_redemption::Entity::find()
            .filter(promo_redemption::Column::PromoCodeId.eq(p.id))
            .filter(promo_redemption::Column::SubscriberId.eq(subscriber_id))
            .count(db)
            .await?
            > 0;
        if held || paid {
            return Err(Error::conflict(
                PROMO_ALREADY_USED,
                "this promo code was used already",
            ));
        }
    }
    if p.new_customers_only {
        let paid_before = payment::Entity::find()
            .filter(payment::Column::ProjectId.eq(p.project_id))
            .filter(payment::Column::SubscriberId.eq(subscriber_id))
            .count(db)
            .await?
            > 0;
        if paid_before {
            return Err(Error::conflict(
                PROMO_NEW_CUSTOMERS_ONLY,
                "this promo code is for new customers",
            ));
        }
    }
    Ok(())
}

/// A plan the promo discounts, with its list price and the price with the promo.
#[derive(Debug, Clone)]
pub struct PromoPrice {
    pub plan: plan::Model,
    pub list: u32,
    pub price: u32,
}

/// The plans of the bot's project sold for Stars now that the promo discounts, in the
/// catalogue's order. Empty: [`PROMO_WRONG_PLAN`].
pub async fn prices(ctx: &AppCtx, h: &BotHandle, p: &promo_code::Model) -> Result<Vec<PromoPrice>> {
    use sea_orm::QueryOrder;
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .filter(plan::Column::Active.eq(true))
        .filter(plan::Column::CodesOnly.eq(false))
        .filter(plan::Column::PriceStars.gt(0))
        .order_by_asc(plan::Column::PriceMinor)
        .order_by_asc(plan::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let out: Vec<PromoPrice> = plans
        .into_iter()
        .filter(|pl| applies_to(p, pl.id))
        .filter_map(|pl| {
            let list = pl.price_stars? as u32;
            Some(PromoPrice {
                price: price_with(p, list),
                list,
                plan: pl,
            })
        })
        .collect();
    if out.is_empty() {
        return Err(Error::conflict(
            PROMO_WRONG_PLAN,
            "this promo code applies to no plan sold here",
        ));
    }
    Ok(out)
}

/// Pre-checkout said the invoice may be paid: takes a place under the cap for it, once per
/// invoice (a repeated question for the same invoice takes none). `None` when held, else the
/// promo error code of the refusal (no place left, or the user holds or used one already).
pub async fn hold(
    ctx: &AppCtx,
    p: &promo_code::Model,
    subscriber_id: Uuid,
    payload: &str,
) -> Result<Option<&'static str>> {
    let mine = || {
        promo_hold::Entity::find()
            .filter(promo_hold::Column::InvoicePayload.eq(payload))
            .count(&ctx.db)
    };
    if mine().await? > 0 {
        return Ok(None);
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let taken = promo_code::Entity::update_many()
        .col_expr(
            promo_code::Column::Uses,
            Expr::col(promo_code::Column::Uses).add(1),
        )
        .filter(promo_code::Column::Id.eq(p.id))
        .filter(promo_code::Column::Active.eq(true))
        .filter(
            promo_code::Column::MaxUses
                .is_null()
                .or(Expr::col(promo_code::Column::Uses).lt(Expr::col(promo_code::Column::MaxUses))),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    if taken == 0 {
        txn.rollback().await?;
        return Ok(Some(PROMO_EXHAUSTED));
    }
    let inserted = promo_hold::Entity::insert(place(p, subscriber_id, payload, None, now))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        txn.rollback().await?;
        // The same invoice asked twice at once holds one place; another invoice of a
        // once-per-user promo finds the user's place taken.
        return Ok(if mine().await? > 0 {
            None
        } else {
            Some(PROMO_ALREADY_USED)
        });
    }
    txn.commit().await?;
    Ok(None)
}

fn place(
    p: &promo_code::Model,
    subscriber_id: Uuid,
    payload: &str,
    payment_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> promo_hold::ActiveModel {
    promo_hold::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        project_id: Set(p.project_id),
        promo_code_id: Set(p.id),
        subscriber_id: Set(subscriber_id),
        invoice_payload: Set(payload.to_string()),
        once_key: Set(p
            .once_per_user
            .then(|| format!("{}:{}", p.id, subscriber_id))),
        payment_id: Set(payment_id),
        expires_at: Set(now + HOLD_FOR),
        created_at: Set(now),
    }
}

/// A payment that carried a promo, as [`record_paid`] sees it.
#[derive(Debug, Clone)]
pub struct PaidWith {
    pub promo_id: Uuid,
    pub subscriber_id: Uuid,
    pub plan_id: Uuid,
    pub payment_id: Uuid,
    pub payload: String,
    pub list_stars: i64,
    pub paid_stars: i64,
    /// A Stars subscription renewing at the discounted price: recorded, takes no place.
    pub renewal: bool,
}

/// Records a payment that carried a promo, in the payment's transaction: its place becomes
/// used (or, when its place was given back, one is counted now, over the cap if it is full),
/// a `promo_redemptions` row keeps the money, and `promo.redeemed` is emitted.
pub(crate) async fn record_paid(
    txn: &impl ConnectionTrait,
    w: &PaidWith,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(p) = promo_code::Entity::find_by_id(w.promo_id).one(txn).await? else {
        tracing::warn!(promo = %w.promo_id, payment = %w.payment_id, "a payment named a promo that is gone");
        return Ok(());
    };
    let mut over_cap = false;
    if !w.renewal {
        let used = promo_hold::Entity::update_many()
            .col_expr(promo_hold::Column::PaymentId, Expr::value(w.payment_id))
            .filter(promo_hold::Column::InvoicePayload.eq(&w.payload))
            .filter(promo_hold::Column::PaymentId.is_null())
            .exec(txn)
            .await?
            .rows_affected;
        if used == 0 {
            // Its place lapsed and was given back (or pre-checkout never held one): Telegram
            // charged, so the payment is honoured and counted now.
            promo_code::Entity::update_many()
                .col_expr(
                    promo_code::Column::Uses,
                    Expr::col(promo_code::Column::Uses).add(1),
                )
                .filter(promo_code::Column::Id.eq(p.id))
                .exec(txn)
                .await?;
            let (uses, max): (i32, Option<i32>) = promo_code::Entity::find_by_id(p.id)
                .select_only()
                .column(promo_code::Column::Uses)
                .column(promo_code::Column::MaxUses)
                .into_tuple()
                .one(txn)
                .await?
                .unwrap_or((p.uses, p.max_uses));
            over_cap = max.is_some_and(|m| uses > m);
            if over_cap {
                tracing::warn!(promo = %p.id, uses, "a promo payment arrived over the cap; honoured and counted");
            }
            promo_hold::Entity::insert(place(
                &p,
                w.subscriber_id,
                &w.payload,
                Some(w.payment_id),
                now,
            ))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(txn)
            .await?;
        }
    }
    promo_redemption::Entity::insert(promo_redemption::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        project_id: Set(p.project_id),
        promo_code_id: Set(p.id),
        subscriber_id: Set(w.subscriber_id),
        plan_id: Set(w.plan_id),
        payment_id: Set(w.payment_id),
        list_stars: Set(w.list_stars as i32),
        paid_stars: Set(w.paid_stars as i32),
        over_cap: Set(over_cap),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(promo_redemption::Column::PaymentId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    events::emit(
        txn,
        p.tenant_id,
        events::Event::new(
            events::EventType::PromoRedeemed,
            serde_json::json!({
                "promo_code_id": p.id, "code": p.code, "project_id": p.project_id,
                "payment_id": w.payment_id, "subscriber_id": w.subscriber_id,
                "plan_id": w.plan_id, "list_stars": w.list_stars, "paid_stars": w.paid_stars,
                "discount_stars": w.list_stars - w.paid_stars, "over_cap": over_cap,
                "renewal": w.renewal,
            }),
        ),
        now,
    )
    .await?;
    Ok(())
}

/// Gives back the places whose payment did not come within [`HOLD_FOR`]. Each is deleted by
/// a conditional delete (still unpaid) before its place is returned, so two workers give a
/// place back once and a payment arriving at that moment either uses it or is counted anew.
pub async fn release_lapsed(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let lapsed: Vec<(Uuid, Uuid)> = promo_hold::Entity::find()
        .select_only()
        .column(promo_hold::Column::Id)
        .column(promo_hold::Column::PromoCodeId)
        .filter(promo_hold::Column::PaymentId.is_null())
        .filter(promo_hold::Column::ExpiresAt.lte(now))
        .limit(RELEASE_BATCH)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut released = 0;
    for (id, promo) in lapsed {
        let txn = ctx.db.begin().await?;
        let gone = promo_hold::Entity::delete_many()
            .filter(promo_hold::Column::Id.eq(id))
            .filter(promo_hold::Column::PaymentId.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if gone == 1 {
            promo_code::Entity::update_many()
                .col_expr(
                    promo_code::Column::Uses,
                    Expr::col(promo_code::Column::Uses).sub(1),
                )
                .filter(promo_code::Column::Id.eq(promo))
                .filter(promo_code::Column::Uses.gt(0))
                .exec(&txn)
                .await?;
            released += 1;
        }
        txn.commit().await?;
    }
    Ok(released)
}

// --- ids in 22 characters ---------------------------------------------------------------------

/// A uuid in 22 characters of base64url (buttons carry 64 bytes, invoice payloads 128).
pub fn short_id(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The uuid of [`short_id`].
pub fn parse_short_id(s: &str) -> Option<Uuid> {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    Uuid::from_slice(&b).ok()
}

/// Callback data of a discounted Buy button: `bp:<plan>.<promo>` (48 bytes).
pub const BUY_WITH_PREFIX: &str = "bp:";

pub fn buy_with_data(plan_id: Uuid, promo_id: Uuid) -> String {
    format!(
        "{BUY_WITH_PREFIX}{}.{}",
        short_id(plan_id),
        short_id(promo_id)
    )
}

/// The plan and promo of a discounted Buy button's data (after the prefix).
pub fn parse_buy_with(rest: &str) -> Option<(Uuid, Uuid)> {
    let (a, b) = rest.split_once('.')?;
    Some((parse_short_id(a)?, parse_short_id(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_in_buttons() {
        let (a, b) = (Uuid::now_v7(), Uuid::new_v4());
        let d = buy_with_data(a, b);
        assert!(d.len() <= 64, "{d}");
        assert_eq!(parse_buy_with(&d[BUY_WITH_PREFIX.len()..]), Some((a, b)));
        assert_eq!(parse_short_id("nope"), None);
    }
}
