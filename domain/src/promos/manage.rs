//! A creator's promo codes: create (every bad field named at once), list with uses and the
//! money they moved, deactivate. Each change is audited.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{plan, promo_code, promo_redemption};

use crate::{
    AppCtx, audit,
    error::{Error, FieldErrors, Result},
    projects,
    tenancy::{Action, TenantCtx},
    validate,
};

use super::{CODE_MAX, CODE_MIN, PROMO_CODE_TAKEN, generate, key};

/// The most uses a cap may allow.
pub const MAX_USES_MAX: i64 = 1_000_000;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PromoIn {
    /// The text subscribers type or open as `start=p_<CODE>` (4–32 letters and digits; case,
    /// spaces and dashes ignored). Leave out to have one generated.
    pub code: Option<String>,
    /// 1–99 percent off. Give this or `stars_off`, not both.
    pub percent_off: Option<i64>,
    /// Stars off the plan's price (1–10,000); the price never drops below 1 ⭐.
    pub stars_off: Option<i64>,
    /// The plans it applies to; empty or left out: every plan sold for Stars.
    #[serde(default)]
    pub plan_ids: Vec<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Total payments it may discount (1–1,000,000); left out: no cap.
    pub max_uses: Option<i64>,
    /// Each subscriber may use it once (default true).
    pub once_per_user: Option<bool>,
    /// Only subscribers who never paid in this project.
    #[serde(default)]
    pub new_customers_only: bool,
    /// For 30-day Stars subscriptions: discount the first payment only (sold as a one-time
    /// invoice for the first period, then the subscription offered at full price). Otherwise
    /// every renewal is discounted.
    #[serde(default)]
    pub first_payment_only: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromoOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub code: String,
    pub percent_off: Option<i32>,
    pub stars_off: Option<i32>,
    pub plan_ids: Vec<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_uses: Option<i32>,
    /// Payments that carried it.
    pub uses: i32,
    /// Payments that arrived after the cap was reached (honoured, Telegram had charged).
    pub over_cap: i64,
    pub once_per_user: bool,
    pub new_customers_only: bool,
    pub first_payment_only: bool,
    pub active: bool,
    /// Stars the plans would have cost at list price.
    pub list_stars: i64,
    /// Stars the promo took off.
    pub discount_stars: i64,
    /// Stars paid.
    pub revenue_stars: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
struct Money {
    over_cap: i64,
    list: i64,
    paid: i64,
}

fn out(p: promo_code::Model, m: Option<&Money>) -> PromoOut {
    let plan_ids = serde_json::from_value(p.plan_ids).unwrap_or_default();
    let zero = Money::default();
    let m = m.unwrap_or(&zero);
    PromoOut {
        id: p.id,
        project_id: p.project_id,
        code: p.code,
        percent_off: p.percent_off,
        stars_off: p.stars_off,
        plan_ids,
        starts_at: p.starts_at,
        ends_at: p.ends_at,
        max_uses: p.max_uses,
        uses: p.uses,
        over_cap: m.over_cap,
        once_per_user: p.once_per_user,
        new_customers_only: p.new_customers_only,
        first_payment_only: p.first_payment_only,
        active: p.active,
        list_stars: m.list,
        discount_stars: m.list - m.paid,
        revenue_stars: m.paid,
        created_at: p.created_at,
    }
}

fn check_code(raw: &str) -> Result<(String, String)> {
    let k = key(raw);
    let shown: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let clean = shown.chars().all(|c| c.is_ascii_alphanumeric());
    if !clean || !(CODE_MIN..=CODE_MAX).contains(&k.len()) || k.len() != shown.len() {
        return Err(Error::field(
            "code",
            "invalid_code",
            "must be 4–32 letters and digits (U is not used)",
        ));
    }
    Ok((shown, k))
}

/// Creates a promo code. Every bad field is reported at once (422 naming each); a code the
/// project already has (as normalised) is 409 `promo_code_taken` on `code`.
pub async fn create(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: PromoIn,
) -> Result<PromoOut> {
    t.may(Action::ManagePlans)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let mut errs = FieldErrors::default();
    let code = match input.code.as_deref() {
        Some(raw) => errs.check(check_code(raw)),
        None => {
            let c = generate();
            Some((c.clone(), c))
        }
    };
    match (input.percent_off, input.stars_off) {
        (Some(_), Some(_)) | (None, None) => errs.add(
            "percent_off",
            "one_discount",
            "give either percent_off (1–99) or stars_off",
        ),
        (Some(v), None) if !(1..=99).contains(&v) => {
            errs.add("percent_off", "out_of_range", "must be between 1 and 99")
        }
        (None, Some(v)) => {
            errs.check(validate::price_stars("stars_off", v));
        }
        _ => {}
    }
    if let (Some(a), Some(b)) = (input.starts_at, input.ends_at)
        && b <= a
    {
        errs.add("ends_at", "before_start", "must be after starts_at");
    }
    if input.ends_at.is_some_and(|e| e <= ctx.now()) {
        errs.add("ends_at", "in_the_past", "must be in the future");
    }
    if let Some(n) = input.max_uses
        && !(1..=MAX_USES_MAX).contains(&n)
    {
        errs.add("max_uses", "out_of_range", "must be between 1 and 1000000");
    }
    let wanted: BTreeSet<Uuid> = input.plan_ids.iter().copied().collect();
    if !wanted.is_empty() {
        let found: BTreeSet<Uuid> = plan::Entity::find()
            .filter(plan::Column::TenantId.eq(t.tenant_id))
            .filter(plan::Column::ProjectId.eq(p.id))
            .filter(plan::Column::Id.is_in(wanted.iter().copied()))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|pl| pl.id)
            .collect();
        if found != wanted {
            errs.add(
                "plan_ids",
                "unknown_plan",
                "every plan must belong to this project",
            );
        }
    }
    errs.finish()?;
    let (shown, code_key) = code.expect("checked");
    let taken = promo_code::Entity::find()
        .filter(promo_code::Column::ProjectId.eq(p.id))
        .filter(promo_code::Column::CodeKey.eq(&code_key))
        .one(&ctx.db)
        .await?;
    let taken_err = || {
        Error::conflict(PROMO_CODE_TAKEN, "this project already has that promo code")
            .with_field("code")
    };
    if taken.is_some() {
        return Err(taken_err());
    }
    let now = ctx.now();
    let plan_ids: Vec<Uuid> = wanted.into_iter().collect();
    let txn = ctx.db.begin().await?;
    let row = promo_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        code: Set(shown),
        code_key: Set(code_key),
        percent_off: Set(input.percent_off.map(|v| v as i32)),
        stars_off: Set(input.stars_off.map(|v| v as i32)),
        plan_ids: Set(serde_json::json!(plan_ids)),
        starts_at: Set(input.starts_at),
        ends_at: Set(input.ends_at),
        max_uses: Set(input.max_uses.map(|v| v as i32)),
        uses: Set(0),
        once_per_user: Set(input.once_per_user.unwrap_or(true)),
        new_customers_only: Set(input.new_customers_only),
        first_payment_only: Set(input.first_payment_only),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // Two creates of one code at once: the unique index lets one in.
    let row = match row.insert(&txn).await {
        Ok(r) => r,
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Err(taken_err());
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &txn,
        audit::Entry::creator(t, "promo.created", "promo_code", row.id).details(
            serde_json::json!({
                "code": row.code, "percent_off": row.percent_off, "stars_off": row.stars_off,
                "plan_ids": row.plan_ids, "max_uses": row.max_uses,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(out(row, None))
}

/// The project's promo codes, newest first, each with its uses and the money it moved.
pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<PromoOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let promos = promo_code::Entity::find()
        .filter(promo_code::Column::TenantId.eq(t.tenant_id))
        .filter(promo_code::Column::ProjectId.eq(p.id))
        .order_by_desc(promo_code::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let mut money: BTreeMap<Uuid, Money> = BTreeMap::new();
    for r in promo_redemption::Entity::find()
        .filter(promo_redemption::Column::TenantId.eq(t.tenant_id))
        .filter(promo_redemption::Column::ProjectId.eq(p.id))
        .all(&ctx.db)
        .await?
    {
        let m = money.entry(r.promo_code_id).or_default();
        m.list += i64::from(r.list_stars);
        m.paid += i64::from(r.paid_stars);
        m.over_cap += i64::from(r.over_cap);
    }
    Ok(promos
        .into_iter()
        .map(|pr| {
            let m = money.get(&pr.id);
            out(pr, m)
        })
        .collect())
}

/// Stops a promo code: no new invoice or pre-checkout accepts it. Payments already charged
/// are still honoured. Deactivating twice is harmless (one audit entry per change).
pub async fn deactivate(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    promo_id: Uuid,
) -> Result<PromoOut> {
    t.may(Action::ManagePlans)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let row = promo_code::Entity::find_by_id(promo_id)
        .filter(promo_code::Column::TenantId.eq(t.tenant_id))
        .filter(promo_code::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("promo_code"))?;
    let row = if row.active {
        let now = ctx.now();
        let txn = ctx.db.begin().await?;
        let mut am = row.into_active_model();
        am.active = Set(false);
        am.updated_at = Set(now);
        let row = am.update(&txn).await?;
        audit::record(
            &txn,
            audit::Entry::creator(t, "promo.deactivated", "promo_code", row.id)
                .details(serde_json::json!({"code": row.code})),
            now,
        )
        .await?;
        txn.commit().await?;
        row
    } else {
        row
    };
    Ok(list(ctx, t, project_id)
        .await?
        .into_iter()
        .find(|o| o.id == row.id)
        .unwrap_or_else(|| out(row, None)))
}
