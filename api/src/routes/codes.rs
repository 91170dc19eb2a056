//! Access codes: preview, batches, listing/search, CSV export, delete, rollback.
use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use domain::{
    AppCtx,
    batches::{self, BatchIn, BatchOut, PreviewIn, PreviewOut},
    codes::{self, CodeFilter, CodePage, RollbackOut},
    export,
    tenants::TenantCtx,
};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, Creator},
};

/// Free codes left, this batch's free/overage split and fee, and whether it is allowed.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/codes/preview", tag = "codes", request_body = PreviewIn,
    params(("project_id" = Uuid, Path)), responses((status = 200, body = PreviewOut), (status = 422, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`plan_inactive` or `access_codes_disabled`")))]
pub async fn preview(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<PreviewIn>,
) -> ApiResult<Json<PreviewOut>> {
    Ok(Json(batches::preview(&ctx, &t, project_id, b).await?))
}

/// Accepts a batch (202) and generates it in the background. Send an `Idempotency-Key`
/// header: the same key returns the same batch and never generates twice.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/code-batches", tag = "codes", request_body = BatchIn,
    params(("project_id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = BatchOut),
        (status = 402, body = ErrorBody, description = "`quota_exceeded` or `payment_past_due`"),
        (status = 409, body = ErrorBody, description = "`plan_inactive`, `access_codes_disabled`, `bot_not_connected` or `idempotency_key_reused`"),
        (status = 422, body = ErrorBody)))]
pub async fn create_batch(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<BatchIn>,
) -> ApiResult<(StatusCode, Json<BatchOut>)> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string).unwrap_or_default());
    let (batch, _created) = batches::create(&ctx, &t, project_id, b, key).await?;
    let batch = batches::with_progress(&ctx, batch).await?;
    Ok((StatusCode::ACCEPTED, Json(batch)))
}

/// A batch and its progress.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/code-batches/{batch_id}", tag = "codes",
    params(("project_id" = Uuid, Path), ("batch_id" = Uuid, Path)), responses((status = 200, body = BatchOut), (status = 404, body = ErrorBody)))]
pub async fn get_batch(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, batch_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<BatchOut>> {
    Ok(Json(batches::get(&ctx, &t, project_id, batch_id).await?))
}

/// The batch's codes as CSV.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/code-batches/{batch_id}/codes.csv", tag = "codes",
    params(("project_id" = Uuid, Path), ("batch_id" = Uuid, Path)), responses((status = 200, content_type = "text/csv"), (status = 404, body = ErrorBody)))]
pub async fn batch_csv(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, batch_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    let b = batches::get(&ctx, &t, project_id, batch_id).await?;
    let filter = CodeFilter {
        batch_id: Some(b.id),
        ..Default::default()
    };
    csv_response(ctx, t, project_id, filter, format!("codes-{batch_id}.csv")).await
}

/// Codes of a project, newest first, filtered; `q` searches by (normalised) code.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/codes", tag = "codes",
    params(("project_id" = Uuid, Path), CodeFilter), responses((status = 200, body = CodePage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<CodeFilter>,
) -> ApiResult<Json<CodePage>> {
    Ok(Json(codes::list(&ctx, &t, project_id, f).await?))
}

/// The filtered view as CSV, streamed.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/codes/export.csv", tag = "codes",
    params(("project_id" = Uuid, Path), CodeFilter), responses((status = 200, content_type = "text/csv")))]
pub async fn export_csv(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<CodeFilter>,
) -> ApiResult<Response> {
    csv_response(ctx, t, project_id, f, "codes.csv".into()).await
}

/// The CSV as an attachment; `domain::export::csv_stream` checks the project before any byte.
async fn csv_response(
    ctx: AppCtx,
    t: TenantCtx,
    project_id: Uuid,
    f: CodeFilter,
    filename: String,
) -> ApiResult<Response> {
    let stream = export::csv_stream(&ctx, &t, project_id, f).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Deletes an unredeemed code; one of this cycle gives its quota unit back. A redeemed code
/// is refused with 409 `code_redeemed` (it stays for reporting; roll it back instead).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/codes/{code_id}", tag = "codes",
    params(("project_id" = Uuid, Path), ("code_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, code_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    codes::delete(&ctx, &t, project_id, code_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the code and its activations; each subscription loses exactly the time its
/// activation added, and is revoked (its user removed from the channels) when none remains.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/codes/{code_id}/rollback", tag = "codes",
    params(("project_id" = Uuid, Path), ("code_id" = Uuid, Path)), responses((status = 200, body = RollbackOut), (status = 404, body = ErrorBody)))]
pub async fn rollback(
    State(ctx): State<AppCtx>,
    Creator(t): Creator,
    ApiPath((project_id, code_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<RollbackOut>> {
    Ok(Json(codes::rollback(&ctx, &t, project_id, code_id).await?))
}
