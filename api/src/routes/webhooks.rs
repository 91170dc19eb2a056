//! Outgoing webhook endpoints of the workspace, their delivery log and manual retry
//! (owners and admins).
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    webhooks::{self, AttemptOut, DeliveryOut, EndpointCreatedOut, EndpointIn, EndpointOut},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

/// A new endpoint, or (on PATCH) the fields to change.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct EndpointBody {
    /// `https://…`; must not resolve to a loopback, private or link-local address.
    pub url: Option<String>,
    /// Event types to receive: `code_batch.done`, `code.redeemed`, `subscription.created`,
    /// `subscription.extended`, `subscription.ended`, `subscription.revoked`,
    /// `payment.succeeded`, `payment.refunded`.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

impl From<EndpointBody> for EndpointIn {
    fn from(b: EndpointBody) -> Self {
        EndpointIn {
            url: b.url,
            event_types: b.event_types,
            description: b.description,
            enabled: b.enabled,
        }
    }
}

/// Adds an endpoint. Its signing secret (`whsec_…`) is in this answer only.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks", request_body = EndpointBody,
    responses((status = 201, body = EndpointCreatedOut), (status = 409, body = ErrorBody, description = "`too_many_endpoints`")))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<EndpointBody>,
) -> ApiResult<(StatusCode, Json<EndpointCreatedOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(webhooks::create(&ctx, &t, b.into()).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    responses((status = 200, body = Vec<EndpointOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<Vec<EndpointOut>>> {
    Ok(Json(webhooks::list(&ctx, &t).await?))
}

#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)), responses((status = 200, body = EndpointOut)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(endpoint_id): ApiPath<Uuid>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(webhooks::get(&ctx, &t, endpoint_id).await?))
}

/// Changes the URL, event types, description or enabled flag (a disabled endpoint's
/// deliveries wait).
#[utoipa::path(patch, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks", request_body = EndpointBody,
    params(("endpoint_id" = Uuid, Path)), responses((status = 200, body = EndpointOut)))]
pub async fn update(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(endpoint_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<EndpointBody>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(
        webhooks::update(&ctx, &t, endpoint_id, b.into()).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)), responses((status = 204)))]
pub async fn delete(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(endpoint_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&ctx, &t, endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's latest 100 deliveries (one per event), newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)), responses((status = 200, body = Vec<DeliveryOut>)))]
pub async fn deliveries(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(endpoint_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<DeliveryOut>>> {
    Ok(Json(webhooks::deliveries(&ctx, &t, endpoint_id).await?))
}

/// The delivery log: the endpoint's latest 100 attempts (status code, latency, response
/// excerpt), newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}/attempts", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)), responses((status = 200, body = Vec<AttemptOut>)))]
pub async fn attempts(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(endpoint_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<AttemptOut>>> {
    Ok(Json(webhooks::attempts(&ctx, &t, endpoint_id).await?))
}

/// Sends a delivery again now, with a fresh 24 h of automatic retries. Limited per
/// workspace (429 `too_many_retries` with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryOut), (status = 429, body = ErrorBody)))]
pub async fn retry(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((endpoint_id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<DeliveryOut>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks::retry(&ctx, &t, endpoint_id, delivery_id).await?),
    ))
}
