//! Channels of a project.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    channels::{self, ChannelIn, ChannelOut},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

/// Registers a channel or group by hand (the bot also registers those it is made admin of).
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/channels", tag = "channels", request_body = ChannelIn,
    params(("project_id" = Uuid, Path)), responses((status = 201, body = ChannelOut), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ChannelIn>,
) -> ApiResult<(StatusCode, Json<ChannelOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(channels::create(&ctx, &t, project_id, b).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/channels", tag = "channels",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = Vec<ChannelOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ChannelOut>>> {
    Ok(Json(channels::list(&ctx, &t, project_id).await?))
}
