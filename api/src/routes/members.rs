//! Subscribers and subscriptions of a project, and revocation.
use axum::{Json, extract::State};
use domain::{
    AppCtx,
    subscriptions::{self, MemberFilter, SubscriberPage, SubscriptionOut, SubscriptionPage},
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery, Creator},
};

/// Subscribers, newest first, a page at a time; with `plan_id`, `status` or `source`, only
/// those with a subscription matching them all.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/subscribers", tag = "members",
    params(("project_id" = Uuid, Path), MemberFilter), responses((status = 200, body = SubscriberPage), (status = 404, body = ErrorBody)))]
pub async fn subscribers(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<MemberFilter>,
) -> ApiResult<Json<SubscriberPage>> {
    Ok(Json(
        subscriptions::list_subscribers(&ctx, &t, project_id, f).await?,
    ))
}

/// Subscriptions, newest first, a page at a time, filtered by plan, status, source or
/// subscriber.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/subscriptions", tag = "members",
    params(("project_id" = Uuid, Path), MemberFilter), responses((status = 200, body = SubscriptionPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<MemberFilter>,
) -> ApiResult<Json<SubscriptionPage>> {
    Ok(Json(subscriptions::list(&ctx, &t, project_id, f).await?))
}

/// Revokes a subscription: the user leaves the plan's channels and is told.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/subscriptions/{subscription_id}/revoke", tag = "members",
    params(("project_id" = Uuid, Path), ("subscription_id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, subscription_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<SubscriptionOut>> {
    Ok(Json(
        subscriptions::revoke(&ctx, &t, project_id, subscription_id).await?,
    ))
}
