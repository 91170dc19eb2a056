//! Revenue per day and per plan, from Stars payments and priced code orders.
use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use serde::Serialize;
use uuid::Uuid;

use entity::{access_code, activation, payment, plan, subscription};

use entity::payment::PaymentStatus;

use crate::{
    AppCtx,
    error::{Error, FieldErrors, Result},
    projects,
    tenancy::TenantCtx,
};

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
