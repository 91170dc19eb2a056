//! Creator billing: overview, Stripe Checkout and billing portal sessions, and the Stripe
//! webhook endpoint.
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use domain::{
    AppCtx,
    billing::{
        self, BillingOut, CheckoutIn, CheckoutOut, PortalOut, WebhookOut,
        outbox::{self, UsageRecordFilter, UsageRecordOut},
    },
};

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiQuery, Creator, RawText, Staff},
};

/// Plan, payment status, cycle, quota and overage of this cycle, and unbilled usage.
#[utoipa::path(get, path = "/api/v1/billing", tag = "billing",
    responses((status = 200, body = BillingOut)))]
pub async fn overview(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<BillingOut>> {
    Ok(Json(billing::overview(&ctx, &t).await?))
}

/// A Stripe Checkout session for a paid plan (subscribe or change plan).
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing", request_body = CheckoutIn,
    responses((status = 200, body = CheckoutOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn checkout(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<CheckoutIn>,
) -> ApiResult<Json<CheckoutOut>> {
    Ok(Json(billing::checkout(&ctx, &t, b).await?))
}

/// A Stripe billing portal session to manage the subscription and payment methods.
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing",
    responses((status = 200, body = PortalOut), (status = 409, body = ErrorBody)))]
pub async fn portal(State(ctx): State<AppCtx>, Creator(t): Creator) -> ApiResult<Json<PortalOut>> {
    Ok(Json(billing::portal(&ctx, &t).await?))
}

/// Stripe events, verified by `Stripe-Signature`; each event id is applied once.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing", security(),
    request_body(content = String, description = "the Stripe event, exactly as signed", content_type = "application/json"),
    responses((status = 200, body = WebhookOut),
        (status = 401, body = ErrorBody, description = "`invalid_signature` or `signature_expired`"),
        (status = 409, body = ErrorBody, description = "`billing_offline`: no `STRIPE_WEBHOOK_SECRET` configured"),
        (status = 422, body = ErrorBody, description = "`invalid_event`: signed but malformed")))]
pub async fn stripe_webhook(
    State(ctx): State<AppCtx>,
    headers: HeaderMap,
    RawText(payload): RawText,
) -> ApiResult<(StatusCode, Json<WebhookOut>)> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    Ok((
        StatusCode::OK,
        Json(billing::receive_webhook(&ctx, &payload, signature).await?),
    ))
}

/// Usage records across tenants for staff, e.g. `?status=failed` with Stripe's reason.
#[utoipa::path(get, path = "/api/v1/staff/billing/usage-records", tag = "staff",
    params(UsageRecordFilter),
    responses((status = 200, body = Vec<UsageRecordOut>), (status = 403, body = ErrorBody)))]
pub async fn staff_usage_records(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiQuery(filter): ApiQuery<UsageRecordFilter>,
) -> ApiResult<Json<Vec<UsageRecordOut>>> {
    Ok(Json(outbox::staff_usage_records(&ctx, &s, filter).await?))
}
