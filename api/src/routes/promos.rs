//! Promo codes of a project.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    promos::{self, PromoIn, PromoOut},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

/// Creates a promo code (chosen or generated). 422 names each bad field; 409
/// `promo_code_taken` when the project already has the code.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/promo-codes", tag = "promos", request_body = PromoIn,
    params(("project_id" = Uuid, Path)),
    responses((status = 201, body = PromoOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<PromoIn>,
) -> ApiResult<(StatusCode, Json<PromoOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(promos::create(&ctx, &t, project_id, b).await?),
    ))
}

/// The project's promo codes with uses, revenue and discount given.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/promo-codes", tag = "promos",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = Vec<PromoOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<PromoOut>>> {
    Ok(Json(promos::list(&ctx, &t, project_id).await?))
}

/// Stops a promo code; payments already charged are honoured.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/promo-codes/{promo_id}/deactivate", tag = "promos",
    params(("project_id" = Uuid, Path), ("promo_id" = Uuid, Path)),
    responses((status = 200, body = PromoOut), (status = 404, body = ErrorBody)))]
pub async fn deactivate(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, promo_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<PromoOut>> {
    Ok(Json(
        promos::deactivate(&ctx, &t, project_id, promo_id).await?,
    ))
}
