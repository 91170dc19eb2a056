//! Payments of a project: the Telegram Stars payments with a refund action (after a
//! confirmation page), and the revenue chart (paid amounts per day, by currency, and per plan).
use askama::Template;
use axum::extract::{Path, Query, State};
use chrono::Duration;
use domain::{
    AppCtx,
    payments::{self, PaymentOut, PaymentStatus, PlanRevenue},
    plans, projects,
    projects::ProjectOut,
    subscriptions::{self, DayCount},
};
use uuid::Uuid;

use crate::{
    chart::Chart,
    page::{self, Layout, WebResult},
    session::CreatorSession,
};

/// Days the revenue chart covers.
const REVENUE_DAYS: i64 = 30;

pub struct PaymentRow {
    pub id: Uuid,
    pub who: String,
    pub plan: String,
    pub amount: String,
    pub kind: &'static str,
    pub paid: String,
    pub status: PaymentStatus,
    pub refundable: bool,
}

/// One currency's revenue chart.
pub struct CurrencyChart {
    pub currency: String,
    pub total: String,
    pub chart: Chart,
}

#[derive(Template)]
#[template(path = "payments.html")]
struct PaymentsPage {
    l: Layout,
    p: ProjectOut,
    rows: Vec<PaymentRow>,
    charts: Vec<CurrencyChart>,
    plans: Vec<(PlanRevenue, String)>,
    refunded: bool,
    /// A refund was asked of Telegram but not yet confirmed.
    refunding: bool,
    /// The cursor of the next (older) page, if there is one.
    next_cursor: Option<Uuid>,
}

#[derive(serde::Deserialize)]
pub struct Params {
    notice: Option<String>,
    /// The last payment of the previous page.
    cursor: Option<Uuid>,
}

/// Payments shown per page.
const PAYMENTS_PER_PAGE: u64 = 100;

fn amount(minor: i64, currency: &str) -> String {
    if currency == payments::CURRENCY {
        format!("{minor} ⭐")
    } else {
        page::money(minor, currency)
    }
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let plan_list = plans::list(&ctx, &s.t, project_id).await?;
    let page_of = payments::list(
        &ctx,
        &s.t,
        project_id,
        payments::PaymentFilter {
            cursor: q.cursor,
            limit: Some(PAYMENTS_PER_PAGE),
        },
    )
    .await?;
    let next_cursor = page_of.next_cursor;
    let paid = page_of.items;
    let subscribers = subscriptions::subscribers_by_id(
        &ctx,
        &s.t,
        project_id,
        paid.iter().map(|pay| pay.subscriber_id).collect(),
    )
    .await?;
    let rows = paid
        .into_iter()
        .map(|pay| PaymentRow {
            id: pay.id,
            who: subscribers
                .iter()
                .find(|m| m.id == pay.subscriber_id)
                .map(|m| domain::subscriptions::display_name(&m.first_name, m.username.as_deref()))
                .unwrap_or_default(),
            plan: plan_list
                .iter()
                .find(|pl| pl.id == pay.plan_id)
                .map(|pl| pl.name.clone())
                .unwrap_or_default(),
            amount: amount(pay.amount, &pay.currency),
            kind: if pay.subscription_expires_at.is_some() {
                "Stars subscription"
            } else {
                "one-time"
            },
            paid: page::when(&pay.paid_at),
            refundable: pay.status == PaymentStatus::Paid,
            status: pay.status,
        })
        .collect();
    let today = ctx.now().date_naive();
    let first = today - Duration::days(REVENUE_DAYS - 1);
    let r = payments::revenue(&ctx, &s.t, project_id, Some(first), Some(today)).await?;
    let charts = r
        .totals
        .iter()
        .map(|t| {
            let days: Vec<DayCount> = (0..REVENUE_DAYS)
                .map(|i| {
                    let day = first + Duration::days(i);
                    let count = r
                        .days
                        .iter()
                        .find(|d| d.day == day && d.currency == t.currency)
                        .map_or(0, |d| d.amount);
                    DayCount { day, count }
                })
                .collect();
            let mut chart = Chart::new(&days);
            chart.label = format!(
                "Revenue in {} per day from {first} to {today}: {} in total",
                t.currency,
                amount(t.amount, &t.currency)
            );
            CurrencyChart {
                currency: t.currency.clone(),
                total: amount(t.amount, &t.currency),
                chart,
            }
        })
        .collect();
    let plans = r
        .plans
        .into_iter()
        .map(|pr| {
            let shown = amount(pr.amount, &pr.currency);
            (pr, shown)
        })
        .collect();
    Ok(page::ok(&PaymentsPage {
        l: Layout::creator(format!("Payments · {}", p.name), &s),
        p,
        rows,
        charts,
        plans,
        refunded: q.notice.as_deref() == Some("refunded"),
        refunding: q.notice.as_deref() == Some("refunding"),
        next_cursor,
    }))
}

#[derive(Template)]
#[template(path = "refund_confirm.html")]
struct RefundPage {
    l: Layout,
    p: ProjectOut,
    pay: PaymentOut,
    amount: String,
}

pub async fn refund_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, payment_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let pay = payments::get(&ctx, &s.t, project_id, payment_id).await?;
    Ok(page::ok(&RefundPage {
        l: Layout::creator("Refund payment", &s),
        p,
        amount: amount(pay.amount, &pay.currency),
        pay,
    }))
}

pub async fn refund(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, payment_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let pay = payments::refund(&ctx, &s.t, project_id, payment_id).await?;
    // Telegram's answer was lost: the refund is finished by reconciliation.
    let notice = if pay.status == PaymentStatus::Refunding {
        "refunding"
    } else {
        "refunded"
    };
    Ok(page::see_other(format!(
        "/projects/{project_id}/payments?notice={notice}"
    )))
}
