//! The workspace's team: members and roles, invites, accepting an invite (public), and
//! ownership transfer. Who may do what is `domain::tenancy::Action`'s table.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    team::{self, AcceptOut, InviteCreatedOut, InviteIn, InviteOut, MemberOut},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, ClientIp, Creator},
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteBody {
    pub email: String,
    /// `admin` or `member`.
    pub role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcceptBody {
    /// The token of the invite link (its last path segment).
    pub token: String,
    /// With an existing account for the invite's email, that account's password (a login);
    /// otherwise the new account's password (a signup).
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    /// `owner`, `admin` or `member`.
    pub role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransferBody {
    /// The member who becomes owner; the caller becomes an admin.
    pub user_id: Uuid,
}

/// The workspace's members and their roles.
#[utoipa::path(get, path = "/api/v1/team", tag = "team", responses((status = 200, body = Vec<MemberOut>)))]
pub async fn members(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<Vec<MemberOut>>> {
    Ok(Json(team::members(&ctx, &t).await?))
}

/// Changes a member's role (owners only). 409 `last_owner` when it would leave no owner.
#[utoipa::path(patch, path = "/api/v1/team/members/{user_id}", tag = "team",
    params(("user_id" = Uuid, Path)), request_body = RoleBody,
    responses((status = 200, body = MemberOut), (status = 409, body = ErrorBody, description = "`last_owner`")))]
pub async fn change_role(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<MemberOut>> {
    Ok(Json(team::change_role(&ctx, &t, user_id, &b.role).await?))
}

/// Removes a member (owners only), or leaves the workspace when it is the caller's own id.
/// Their sessions stop working at once and the API keys they created are revoked.
#[utoipa::path(delete, path = "/api/v1/team/members/{user_id}", tag = "team",
    params(("user_id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = ErrorBody, description = "`last_owner`")))]
pub async fn remove_member(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(user_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    team::remove_member(&ctx, &t, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes another member the owner; the caller becomes an admin.
#[utoipa::path(post, path = "/api/v1/team/transfer-ownership", tag = "team", request_body = TransferBody,
    responses((status = 200, body = MemberOut), (status = 404, body = ErrorBody, description = "`not_found`: no such member")))]
pub async fn transfer_ownership(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<TransferBody>,
) -> ApiResult<Json<MemberOut>> {
    Ok(Json(team::transfer_ownership(&ctx, &t, b.user_id).await?))
}

/// Invites someone by email as `admin` or `member`: a one-time link valid 7 days, shown in
/// this answer only.
#[utoipa::path(post, path = "/api/v1/team/invites", tag = "team", request_body = InviteBody,
    responses((status = 201, body = InviteCreatedOut),
        (status = 409, body = ErrorBody, description = "`already_member`, `invite_pending`")))]
pub async fn create_invite(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiJson(b): ApiJson<InviteBody>,
) -> ApiResult<(StatusCode, Json<InviteCreatedOut>)> {
    let out = team::create_invite(
        &ctx,
        &t,
        InviteIn {
            email: b.email,
            role: b.role,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// The workspace's invites with their status (never their links).
#[utoipa::path(get, path = "/api/v1/team/invites", tag = "team", responses((status = 200, body = Vec<InviteOut>)))]
pub async fn list_invites(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
) -> ApiResult<Json<Vec<InviteOut>>> {
    Ok(Json(team::list_invites(&ctx, &t).await?))
}

/// Revokes a pending invite; its link stops working at once.
#[utoipa::path(delete, path = "/api/v1/team/invites/{invite_id}", tag = "team",
    params(("invite_id" = Uuid, Path)),
    responses((status = 200, body = InviteOut), (status = 409, body = ErrorBody, description = "`invite_not_pending`")))]
pub async fn revoke_invite(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(invite_id): ApiPath<Uuid>,
) -> ApiResult<Json<InviteOut>> {
    Ok(Json(team::revoke_invite(&ctx, &t, invite_id).await?))
}

/// Accepts an invite: signs up (no account with the invite's email yet) or logs in (one
/// exists, without a workspace), joins the workspace and returns a session.
#[utoipa::path(post, path = "/api/v1/team/invites/accept", tag = "team", security(), request_body = AcceptBody,
    responses((status = 200, body = AcceptOut),
        (status = 401, body = ErrorBody, description = "`invalid_credentials`: wrong password of the existing account"),
        (status = 404, body = ErrorBody, description = "`invite_not_found`"),
        (status = 409, body = ErrorBody, description = "`invite_expired`, `invite_used`, `invite_revoked`, `already_member`, `account_in_other_workspace`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`"),
        (status = 503, body = ErrorBody, description = "`server_busy`")))]
pub async fn accept_invite(
    State(ctx): State<AppCtx>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<AcceptBody>,
) -> ApiResult<Json<AcceptOut>> {
    Ok(Json(team::accept(&ctx, &b.token, &b.password, ip).await?))
}
