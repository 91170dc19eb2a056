//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.
use std::sync::OnceLock;

use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use domain::AppCtx;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed once, however many apps a test starts).
pub fn metrics_handle() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .expect("static buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (embedding); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        // Histograms keep every sample until they are drained, which `build_recorder` leaves
        // to its caller: without this, a process nobody scrapes grows by every request's
        // latency sample for ever. A thread, so it runs whichever runtime (if any) is current.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

/// Counts requests and their latency by route template (never by raw path, to bound cardinality).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

#[utoipa::path(get, path = "/healthz", tag = "operations", security(), responses((status = 200, description = "the process is alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, description = "database (and Redis when configured) answer", body = ReadyOut),
        (status = 503, description = "a dependency does not answer", body = ReadyOut)))]
pub async fn readyz(State(ctx): State<AppCtx>) -> Response {
    match ctx.check_ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(ReadyOut {
                status: "ready".into(),
                reason: None,
            }),
        )
            .into_response(),
        Err(why) => {
            tracing::warn!(%why, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ReadyOut {
                    status: "not_ready".into(),
                    reason: Some(why),
                }),
            )
                .into_response()
        }
    }
}

/// `/readyz`: `ready`, or `not_ready` with the reason.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReadyOut {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics_unauthorized`: no or a wrong `Authorization: Bearer <METRICS_TOKEN>`", body = crate::error::ErrorBody),
        (status = 404, description = "`metrics_disabled`: `METRICS_TOKEN` is not set", body = crate::error::ErrorBody)))]
pub async fn metrics_text(State(ctx): State<AppCtx>, headers: axum::http::HeaderMap) -> Response {
    let Some(token) = ctx.config.metrics_token.as_deref() else {
        return crate::error::ApiError::from(domain::Error::new(
            domain::ErrorKind::NotFound,
            "metrics_disabled",
            "metrics are served only when METRICS_TOKEN is set",
        ))
        .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return crate::error::ApiError::from(domain::Error::new(
            domain::ErrorKind::Unauthenticated,
            "metrics_unauthorized",
            "send Authorization: Bearer <METRICS_TOKEN>",
        ))
        .into_response();
    }
    metrics::counter!("db_statements_total").absolute(domain::ctx::statements_sent());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
        .into_response()
}
