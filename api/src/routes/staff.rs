//! The staff API: find tenants, see their usage, suspend, grant quota, override the plan, read
//! the audit log. Creators get 403 `staff_only` on every route here (the `Staff` extractor);
//! `staff_readonly` may read, and the domain refuses its writes with 403 `staff_readonly`.
use axum::{Json, extract::State, http::StatusCode};
use domain::{
    AppCtx,
    staff::{
        self, AuditPageOut, AuditSearchIn, PlanOverrideIn, PlanOverrideOut, QuotaGrantIn,
        QuotaGrantOut, SuspensionIn, TenantDetailOut, TenantPageOut, TenantSearchIn,
    },
    tenants::TenantOut,
};
use uuid::Uuid;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, OptionalJson, Staff},
};

/// Lists tenants newest first; `q` searches names, member emails and bot usernames.
#[utoipa::path(get, path = "/api/v1/staff/tenants", tag = "staff", params(TenantSearchIn),
    responses((status = 200, body = TenantPageOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_tenants(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiQuery(q): ApiQuery<TenantSearchIn>,
) -> ApiResult<Json<TenantPageOut>> {
    Ok(Json(staff::list_tenants(&ctx, &s, q).await?))
}

/// A tenant's plan, status, cycle, quota, projects, bots and member counts.
#[utoipa::path(get, path = "/api/v1/staff/tenants/{tenant_id}", tag = "staff",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = TenantDetailOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_tenant(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> ApiResult<Json<TenantDetailOut>> {
    Ok(Json(staff::tenant_detail(&ctx, &s, tenant_id).await?))
}

/// Suspends a tenant (reason required): writes refused, bots paused, nothing delivered.
#[utoipa::path(post, path = "/api/v1/staff/tenants/{tenant_id}/suspend", tag = "staff",
    params(("tenant_id" = Uuid, Path)), request_body = SuspensionIn,
    responses((status = 200, body = TenantOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn suspend(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiPath(tenant_id): ApiPath<Uuid>,
    OptionalJson(b): OptionalJson<SuspensionIn>,
) -> ApiResult<Json<TenantOut>> {
    let reason = b.reason.unwrap_or_default();
    Ok(Json(staff::suspend(&ctx, &s, tenant_id, &reason).await?))
}

/// Lifts a suspension (reason optional; the body may be left out).
#[utoipa::path(post, path = "/api/v1/staff/tenants/{tenant_id}/unsuspend", tag = "staff",
    params(("tenant_id" = Uuid, Path)), request_body = SuspensionIn,
    responses((status = 200, body = TenantOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unsuspend(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiPath(tenant_id): ApiPath<Uuid>,
    OptionalJson(b): OptionalJson<SuspensionIn>,
) -> ApiResult<Json<TenantOut>> {
    let reason = b.reason.unwrap_or_default();
    Ok(Json(staff::unsuspend(&ctx, &s, tenant_id, &reason).await?))
}

/// Adds free codes to the tenant's current cycle (1–100,000); they lapse with the cycle.
#[utoipa::path(post, path = "/api/v1/staff/tenants/{tenant_id}/quota-grants", tag = "staff",
    params(("tenant_id" = Uuid, Path)), request_body = QuotaGrantIn,
    responses((status = 201, body = QuotaGrantOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn grant_quota(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<QuotaGrantIn>,
) -> ApiResult<(StatusCode, Json<QuotaGrantOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(staff::grant_quota(&ctx, &s, tenant_id, b).await?),
    ))
}

/// Overrides the tenant's plan (offline billing, comps): the cycle stays, the new plan's free
/// quota applies for the rest of it.
#[utoipa::path(put, path = "/api/v1/staff/tenants/{tenant_id}/plan", tag = "staff",
    params(("tenant_id" = Uuid, Path)), request_body = PlanOverrideIn,
    responses((status = 200, body = PlanOverrideOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn override_plan(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<PlanOverrideIn>,
) -> ApiResult<Json<PlanOverrideOut>> {
    Ok(Json(staff::override_plan(&ctx, &s, tenant_id, b).await?))
}

/// The audit log, newest first; read-only (no route edits or deletes entries).
#[utoipa::path(get, path = "/api/v1/staff/audit", tag = "staff", params(AuditSearchIn),
    responses((status = 200, body = AuditPageOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_audit(
    State(ctx): State<AppCtx>,
    Staff(s): Staff,
    ApiQuery(q): ApiQuery<AuditSearchIn>,
) -> ApiResult<Json<AuditPageOut>> {
    Ok(Json(staff::list_audit(&ctx, &s, q).await?))
}
