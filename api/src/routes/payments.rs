//! Telegram Stars payments of a project: the list, refunds, and revenue.
use axum::{Json, extract::State};
use chrono::NaiveDate;
use domain::{
    AppCtx,
    payments::{self, PaymentFilter, PaymentOut, PaymentPage, RevenueOut},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery, Creator},
};

/// The project's Stars payments, newest first, a page at a time (`cursor`: the previous
/// page's `next_cursor`).
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/payments", tag = "payments",
    params(("project_id" = Uuid, Path), PaymentFilter), responses((status = 200, body = PaymentPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<PaymentFilter>,
) -> ApiResult<Json<PaymentPage>> {
    Ok(Json(payments::list(&ctx, &t, project_id, f).await?))
}

/// One Stars payment of the project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/payments/{payment_id}", tag = "payments",
    params(("project_id" = Uuid, Path), ("payment_id" = Uuid, Path)),
    responses((status = 200, body = PaymentOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, payment_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<PaymentOut>> {
    Ok(Json(payments::get(&ctx, &t, project_id, payment_id).await?))
}

/// Refunds a payment (`refundStarPayment`): the time it bought is taken away, the user leaves
/// the channels if nothing else covers them, and a Stars subscription stops renewing. Owners
/// and admins only; audited. When Telegram's answer is lost the payment is returned
/// `refunding`; reconciliation confirms it with Telegram and finishes it.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/payments/{payment_id}/refund", tag = "payments",
    params(("project_id" = Uuid, Path), ("payment_id" = Uuid, Path)),
    responses((status = 200, body = PaymentOut), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`payment_already_refunded` or `bot_not_connected`"),
        (status = 503, body = ErrorBody, description = "`telegram_rejected`: Telegram refused the refund; nothing changed")))]
pub async fn refund(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, payment_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<PaymentOut>> {
    Ok(Json(
        payments::refund(&ctx, &t, project_id, payment_id).await?,
    ))
}

/// The revenue window: UTC days, both inclusive (default: the last 30 days; at most 366).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct RevenueQuery {
    /// First day (`YYYY-MM-DD`).
    pub from: Option<NaiveDate>,
    /// Last day (`YYYY-MM-DD`).
    pub to: Option<NaiveDate>,
}

/// Paid amounts per day and per plan, by currency: Stars payments not refunded, and code
/// orders only when they were priced.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/revenue", tag = "payments",
    params(("project_id" = Uuid, Path), RevenueQuery), responses((status = 200, body = RevenueOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revenue(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<RevenueQuery>,
) -> ApiResult<Json<RevenueOut>> {
    Ok(Json(
        payments::revenue(&ctx, &t, project_id, q.from, q.to).await?,
    ))
}
