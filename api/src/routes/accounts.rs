//! Signup, login, `GET /me`, and tenant API keys.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    accounts::{self, ApiKeyCreatedOut, ApiKeyOut, Session},
    tenants::{self, MeOut, SignupIn, SignupOut},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, ClientIp, Creator},
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupBody {
    pub email: String,
    pub password: String,
    /// The workspace (tenant) name.
    pub workspace: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ApiKeyIn {
    pub name: String,
}

/// Creates a workspace on the Free plan and its owner, and signs them in. Limited per
/// client address (429 `too_many_attempts` with `Retry-After`), whether or not the email
/// has an account.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", security(), request_body = SignupBody,
    responses((status = 201, body = SignupOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn signup(
    State(ctx): State<AppCtx>,
    ClientIp(client): ClientIp,
    ApiJson(b): ApiJson<SignupBody>,
) -> ApiResult<(StatusCode, Json<SignupOut>)> {
    let out = tenants::signup(
        &ctx,
        SignupIn {
            email: b.email,
            password: b.password,
            workspace: b.workspace,
            client,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Exchanges email and password for a session token. Limited per email and per client
/// address (429 `too_many_attempts` with `Retry-After`); 503 `server_busy` with
/// `Retry-After` when too many passwords are being checked at once.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", security(), request_body = LoginBody,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`no_workspace`: the account was removed from its workspace"),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn login(
    State(ctx): State<AppCtx>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Json<Session>> {
    Ok(Json(
        accounts::login(&ctx, &b.email, &b.password, ip).await?,
    ))
}

/// The signed-in creator and their workspace.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = MeOut)))]
pub async fn me(State(ctx): State<AppCtx>, Creator(t): Creator) -> ApiResult<Json<MeOut>> {
    Ok(Json(tenants::me(&ctx, &t).await?))
}

/// Creates an API key; its secret is shown in this answer only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "accounts", request_body = ApiKeyIn,
    responses((status = 201, body = ApiKeyCreatedOut)))]
pub async fn create_api_key(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<ApiKeyIn>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreatedOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create_api_key(&ctx, &t, &b.name).await?),
    ))
}

/// The workspace's API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "accounts", responses((status = 200, body = Vec<ApiKeyOut>)))]
pub async fn list_api_keys(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<Vec<ApiKeyOut>>> {
    Ok(Json(accounts::list_api_keys(&ctx, &t).await?))
}

/// Revokes an API key at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "accounts",
    params(("key_id" = Uuid, Path)), responses((status = 200, body = ApiKeyOut), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(key_id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKeyOut>> {
    Ok(Json(accounts::revoke_api_key(&ctx, &t, key_id).await?))
}
