//! Broadcasts of a project: a message to a segment of its subscribers.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    broadcasts::{self, BroadcastIn, BroadcastOut, PreviewIn, PreviewOut, SendIn},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator, MaybeApiJson},
};

/// Creates a broadcast: a draft, with `send: true` sent at once, or with `send_at` (RFC 3339,
/// in the future, at most 90 days ahead) scheduled for then. 422 names each bad
/// field; a text that is not Telegram's HTML subset is `invalid_html` on `text`, with
/// `details.position` (the byte offset of the fault).
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/broadcasts", tag = "broadcasts", request_body = BroadcastIn,
    params(("project_id" = Uuid, Path)),
    responses((status = 201, body = BroadcastOut), (status = 422, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`bot_not_connected`: `send: true` for a project without a bot (nothing is saved)")))]
pub async fn create(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<BroadcastIn>,
) -> ApiResult<(StatusCode, Json<BroadcastOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(broadcasts::create(&ctx, &t, project_id, b).await?),
    ))
}

/// The project's latest broadcasts (newest first), each with its progress.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/broadcasts", tag = "broadcasts",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = Vec<BroadcastOut>)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<BroadcastOut>>> {
    Ok(Json(broadcasts::list(&ctx, &t, project_id).await?))
}

/// How many subscribers the segment holds now, and the text as it would be sent.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/broadcasts/preview", tag = "broadcasts", request_body = PreviewIn,
    params(("project_id" = Uuid, Path)),
    responses((status = 200, body = PreviewOut), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<PreviewIn>,
) -> ApiResult<Json<PreviewOut>> {
    Ok(Json(broadcasts::preview(&ctx, &t, project_id, b).await?))
}

/// One broadcast with its progress (pending, sent, blocked, failed).
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}", tag = "broadcasts",
    params(("project_id" = Uuid, Path), ("broadcast_id" = Uuid, Path)),
    responses((status = 200, body = BroadcastOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, broadcast_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<BroadcastOut>> {
    Ok(Json(
        broadcasts::get(&ctx, &t, project_id, broadcast_id).await?,
    ))
}

/// Sends a draft (or a scheduled broadcast) to its segment as it is now; with a body
/// `{"send_at": …}` schedules it for then instead (422 on `send_at` when it is not RFC 3339,
/// not in the future, or more than 90 days ahead). Sending one already sending resumes it
/// (its job queued again; nobody gets it twice), one done changes nothing; a canceled one is
/// 409 `broadcast_canceled`.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/send", tag = "broadcasts",
    request_body(content = Option<SendIn>, description = "optional: `send_at` to schedule"),
    params(("project_id" = Uuid, Path), ("broadcast_id" = Uuid, Path)),
    responses((status = 200, body = BroadcastOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`broadcast_canceled`, `broadcast_started` (`send_at` for one that started), or `bot_not_connected` (the project has no bot)")))]
pub async fn send(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, broadcast_id)): ApiPath<(Uuid, Uuid)>,
    MaybeApiJson(body): MaybeApiJson<SendIn>,
) -> ApiResult<Json<BroadcastOut>> {
    Ok(Json(
        broadcasts::send(&ctx, &t, project_id, broadcast_id, body.unwrap_or_default()).await?,
    ))
}

/// Stops a broadcast: recipients not sent yet are not sent. A finished one is 409
/// `broadcast_finished`.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/cancel", tag = "broadcasts",
    params(("project_id" = Uuid, Path), ("broadcast_id" = Uuid, Path)),
    responses((status = 200, body = BroadcastOut), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`broadcast_finished`")))]
pub async fn cancel(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, broadcast_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<BroadcastOut>> {
    Ok(Json(
        broadcasts::cancel(&ctx, &t, project_id, broadcast_id).await?,
    ))
}

/// "Send me a test": the broadcast as recipients will get it, to the caller's Telegram chat
/// linked to the project's bot. Its recipients and state are untouched.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/test", tag = "broadcasts",
    params(("project_id" = Uuid, Path), ("broadcast_id" = Uuid, Path)),
    responses((status = 200, body = broadcasts::TestSent), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`no_linked_chat` (link your Telegram account to the bot first) or `bot_not_connected`")))]
pub async fn send_test(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, broadcast_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<broadcasts::TestSent>> {
    Ok(Json(
        broadcasts::send_test(&ctx, &t, project_id, broadcast_id).await?,
    ))
}
