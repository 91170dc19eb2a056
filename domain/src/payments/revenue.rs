//! Revenue per day and per plan, from Stars payments and priced code orders.
use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use entity::plan;

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
    /// Free trials started in the window, and how many of them became paid.
    pub trials: TrialConversion,
    /// Stars payments that carried a promo code in the window (refunded ones left out), per
    /// promo: list price, discount and what was paid.
    pub promos: Vec<PromoRevenue>,
}

/// The money one promo code moved in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sea_orm::FromQueryResult)]
pub struct PromoRevenue {
    pub promo_code_id: Uuid,
    pub code: String,
    /// Payments that carried it (renewals at the discounted price included).
    pub payments: i64,
    /// What they would have cost at the list price, in Stars.
    pub list_stars: i64,
    pub discount_stars: i64,
    /// What was paid, in Stars.
    pub paid_stars: i64,
    /// Payments honoured after the cap was reached.
    pub over_cap: i64,
}

/// Free trials started in a window and, of those, the ones whose subscriber paid in the
/// project after the trial began (bought during or after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrialConversion {
    pub started: u64,
    pub converted: u64,
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

    // Summed by the database per (day, plan, currency): a handful of rows whatever the
    // number of payments and activations, and four bind parameters.
    let mut rows: Vec<(NaiveDate, Uuid, String, i64, i64, bool)> = vec![];
    for (sql, is_payment) in [(PAYMENTS_BY_DAY, true), (CODE_ORDERS_BY_DAY, false)] {
        for g in grouped(ctx, sql, t.tenant_id, p.id, since, until).await? {
            let day = NaiveDate::parse_from_str(&g.day, "%Y-%m-%d").map_err(Error::internal)?;
            rows.push((day, g.plan_id, g.currency, g.amount, g.n, is_payment));
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
    let overflow = || Error::internal(anyhow::anyhow!("revenue sum out of range"));
    let add = |slot: &mut i64, v: i64| -> Result<()> {
        *slot = slot.checked_add(v).ok_or_else(overflow)?;
        Ok(())
    };
    for (day, plan_id, currency, amount, n, is_payment) in rows {
        add(days.entry((day, currency.clone())).or_default(), amount)?;
        add(totals.entry(currency.clone()).or_default(), amount)?;
        let name = names.get(&plan_id).cloned().unwrap_or_default();
        let e = plans.entry((name, plan_id, currency)).or_default();
        add(&mut e.0, amount)?;
        if is_payment {
            add(&mut e.1, n)?;
        } else {
            add(&mut e.2, n)?;
        }
    }
    let trials = trial_conversion(ctx, p.id, since, until).await?;
    let promos = promo_revenue(ctx, t.tenant_id, p.id, since, until).await?;
    Ok(RevenueOut {
        trials,
        promos,
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

/// Summed by the database per promo: one row per promo whatever the number of payments.
const PROMOS_IN_WINDOW: &str = "SELECT r.promo_code_id AS promo_code_id, c.code AS code, \
     COUNT(*) AS payments, CAST(SUM(r.list_stars) AS BIGINT) AS list_stars, \
     CAST(SUM(r.list_stars - r.paid_stars) AS BIGINT) AS discount_stars, \
     CAST(SUM(r.paid_stars) AS BIGINT) AS paid_stars, \
     CAST(SUM(CASE WHEN r.over_cap THEN 1 ELSE 0 END) AS BIGINT) AS over_cap \
     FROM promo_redemptions r JOIN promo_codes c ON c.id = r.promo_code_id \
     JOIN payments p ON p.id = r.payment_id \
     WHERE r.tenant_id = {1} AND r.project_id = {2} AND p.status = 'paid' \
     AND p.paid_at >= {3} AND p.paid_at < {4} GROUP BY r.promo_code_id, c.code ORDER BY c.code";

async fn promo_revenue(
    ctx: &AppCtx,
    tenant_id: Uuid,
    project_id: Uuid,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PromoRevenue>> {
    use sea_orm::FromQueryResult;
    let st = crate::daily::statement(
        ctx.db.get_database_backend(),
        PROMOS_IN_WINDOW,
        "p.paid_at",
        [
            tenant_id.into(),
            project_id.into(),
            since.into(),
            until.into(),
        ],
    );
    Ok(PromoRevenue::find_by_statement(st).all(&ctx.db).await?)
}

/// Trials of a project started in `[since, until)`, and those followed by a paid payment of
/// their subscriber in the project.
async fn trial_conversion(
    ctx: &AppCtx,
    project_id: Uuid,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<TrialConversion> {
    use entity::{payment, subscription, trial};
    use sea_orm::{
        PaginatorTrait,
        sea_query::{Expr, ExprTrait, Query},
    };
    let window = || {
        trial::Entity::find()
            .filter(trial::Column::ProjectId.eq(project_id))
            .filter(trial::Column::StartedAt.gte(since))
            .filter(trial::Column::StartedAt.lt(until))
    };
    let started = window().count(&ctx.db).await?;
    let subscriber_of_trial = Query::select()
        .column(subscription::Column::SubscriberId)
        .from(subscription::Entity)
        .and_where(
            Expr::col((subscription::Entity, subscription::Column::Id))
                .equals((trial::Entity, trial::Column::SubscriptionId)),
        )
        .to_owned();
    let paid_after = Query::select()
        .expr(Expr::val(1))
        .from(payment::Entity)
        .and_where(Expr::col((payment::Entity, payment::Column::ProjectId)).eq(project_id))
        .and_where(Expr::col((payment::Entity, payment::Column::Status)).eq("paid"))
        .and_where(
            Expr::col((payment::Entity, payment::Column::PaidAt))
                .gte(Expr::col((trial::Entity, trial::Column::StartedAt))),
        )
        .and_where(
            Expr::col((payment::Entity, payment::Column::SubscriberId))
                .in_subquery(subscriber_of_trial),
        )
        .to_owned();
    let converted = window()
        .filter(Expr::exists(paid_after))
        .count(&ctx.db)
        .await?;
    Ok(TrialConversion { started, converted })
}

/// Paid (not refunded) Stars payments of a project in a window, per UTC day, plan and
/// currency. `{day}` is the backend's "UTC day of this timestamp" as `YYYY-MM-DD` text;
/// parameters: tenant, project, since, until.
const PAYMENTS_BY_DAY: &str = "SELECT {day} AS day, plan_id, currency, \
     CAST(SUM(amount) AS BIGINT) AS amount, COUNT(*) AS n FROM payments \
     WHERE tenant_id = {1} AND project_id = {2} AND status = 'paid' \
     AND paid_at >= {3} AND paid_at < {4} GROUP BY 1, 2, 3";

/// Priced code orders (activations of the project's codes at the price recorded on them;
/// zero-priced ones left out), per UTC day, plan and currency. Only priced activations are read (the partial index `ix_activations_priced`): revenue costs
/// what was sold, however many free codes were redeemed.
const CODE_ORDERS_BY_DAY: &str = "SELECT {day} AS day, c.plan_id AS plan_id, s.currency AS currency, \
     CAST(SUM(a.price_minor) AS BIGINT) AS amount, COUNT(*) AS n \
     FROM activations a JOIN access_codes c ON c.id = a.access_code_id \
     JOIN subscriptions s ON s.id = a.subscription_id \
     WHERE a.tenant_id = {1} AND c.tenant_id = {1} AND c.project_id = {2} \
     AND a.at >= {3} AND a.at < {4} AND a.price_minor > 0 \
     GROUP BY 1, 2, 3";

#[derive(Debug, sea_orm::FromQueryResult)]
struct Grouped {
    day: String,
    plan_id: Uuid,
    currency: String,
    amount: i64,
    n: i64,
}

async fn grouped(
    ctx: &AppCtx,
    sql: &str,
    tenant_id: Uuid,
    project_id: Uuid,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Grouped>> {
    use sea_orm::FromQueryResult;
    let time_col = if sql.contains("FROM payments") {
        "paid_at"
    } else {
        "a.at"
    };
    let stmt = crate::daily::statement(
        ctx.db.get_database_backend(),
        sql,
        time_col,
        [
            tenant_id.into(),
            project_id.into(),
            since.into(),
            until.into(),
        ],
    );
    Ok(Grouped::find_by_statement(stmt).all(&ctx.db).await?)
}
