//! Projects and their settings.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    projects::{self, ProjectIn, ProjectOut, ProjectPatch},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectIn,
    responses((status = 201, body = ProjectOut), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<ProjectIn>,
) -> ApiResult<(StatusCode, Json<ProjectOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(projects::create(&ctx, &t, b).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", responses((status = 200, body = Vec<ProjectOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<Vec<ProjectOut>>> {
    Ok(Json(projects::list(&ctx, &t).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = ProjectOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<ProjectOut>> {
    Ok(Json(projects::get(&ctx, &t, project_id).await?))
}

/// Changes settings; fields left out stay as they are.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", request_body = ProjectPatch,
    params(("project_id" = Uuid, Path)), responses((status = 200, body = ProjectOut), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ProjectPatch>,
) -> ApiResult<Json<ProjectOut>> {
    Ok(Json(projects::update(&ctx, &t, project_id, b).await?))
}

/// Deletes the project and everything in it.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    projects::delete(&ctx, &t, project_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
