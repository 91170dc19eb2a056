//! Plans of a project.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    plans::{self, PlanIn, PlanOut, PlanPatch},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

#[utoipa::path(post, path = "/api/v1/projects/{project_id}/plans", tag = "plans", request_body = PlanIn,
    params(("project_id" = Uuid, Path)), responses((status = 201, body = PlanOut), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<PlanIn>,
) -> ApiResult<(StatusCode, Json<PlanOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(plans::create(&ctx, &t, project_id, b).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/plans", tag = "plans",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = Vec<PlanOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<PlanOut>>> {
    Ok(Json(plans::list(&ctx, &t, project_id).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/plans/{plan_id}", tag = "plans",
    params(("project_id" = Uuid, Path), ("plan_id" = Uuid, Path)), responses((status = 200, body = PlanOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, plan_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<PlanOut>> {
    Ok(Json(plans::get(&ctx, &t, project_id, plan_id).await?))
}

/// Changes a plan; deactivating it stops new codes and redemptions for it.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/plans/{plan_id}", tag = "plans", request_body = PlanPatch,
    params(("project_id" = Uuid, Path), ("plan_id" = Uuid, Path)), responses((status = 200, body = PlanOut), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, plan_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(b): ApiJson<PlanPatch>,
) -> ApiResult<Json<PlanOut>> {
    Ok(Json(plans::update(&ctx, &t, project_id, plan_id, b).await?))
}
