//! A project's Telegram bot and owner links.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    bots::{self, BotIn, BotOut, LinkedOwnerOut, OwnerLinkOut},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, Creator},
};

/// Connects the project's bot (or replaces its token): `getMe` validates it, then Telegram
/// gets our webhook (with `PUBLIC_URL`) or the bot is served by long polling.
#[utoipa::path(put, path = "/api/v1/projects/{project_id}/bot", tag = "bots", request_body = BotIn,
    params(("project_id" = Uuid, Path)),
    responses((status = 200, body = BotOut), (status = 422, body = ErrorBody, description = "invalid_bot_token"),
        (status = 409, body = ErrorBody, description = "bot_already_connected"), (status = 404, body = ErrorBody)))]
pub async fn connect(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<BotIn>,
) -> ApiResult<Json<BotOut>> {
    Ok(Json(bots::connect(&ctx, &t, project_id, b).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/bot", tag = "bots",
    params(("project_id" = Uuid, Path)), responses((status = 200, body = BotOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<BotOut>> {
    Ok(Json(bots::get(&ctx, &t, project_id).await?))
}

/// Disconnects the bot: removes its webhook and forgets its token.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/bot", tag = "bots",
    params(("project_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn disconnect(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    bots::disconnect(&ctx, &t, project_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time deep link (valid one hour) that links a Telegram account as an owner.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/owner-link", tag = "bots",
    params(("project_id" = Uuid, Path)),
    responses((status = 201, body = OwnerLinkOut), (status = 409, body = ErrorBody, description = "bot_not_connected")))]
pub async fn create_owner_link(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<OwnerLinkOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(bots::create_owner_link(&ctx, &t, project_id).await?),
    ))
}

/// The project's linked owner Telegram accounts; `active` is false when no current member
/// is behind a link.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/owners", tag = "bots",
    params(("project_id" = Uuid, Path)),
    responses((status = 200, body = Vec<LinkedOwnerOut>), (status = 404, body = ErrorBody)))]
pub async fn list_owners(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<LinkedOwnerOut>>> {
    Ok(Json(bots::list_owners(&ctx, &t, project_id).await?))
}

/// Unlinks an owner Telegram account at once (audited as `owner.unlinked`).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/owners/{owner_id}", tag = "bots",
    params(("project_id" = Uuid, Path), ("owner_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlink_owner(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, owner_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    bots::unlink_owner(&ctx, &t, project_id, owner_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
