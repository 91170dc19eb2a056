//! The HTTP mapping of the one domain error: status, stable code, message, fields.
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use domain::{Error, ErrorKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// Error body: `{"error":{"code","message","fields","details"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorPayload,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorPayload {
    /// Stable snake_case code.
    pub code: String,
    pub message: String,
    /// Field name → `{code, message}` for each field at fault.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, domain::error::FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The status of an error kind (the mapping is `domain::ErrorKind::http_status`).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0.into_data();
        let status = status_of(e.kind);
        if status.is_server_error() {
            // Details go to the log only; the body never leaks internals.
            tracing::error!(error = ?e.source, code = e.code, "request failed");
        }
        let body = ErrorBody {
            error: ErrorPayload {
                code: e.code.to_string(),
                message: e.message,
                fields: e.fields,
                details: e.details,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = e.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
