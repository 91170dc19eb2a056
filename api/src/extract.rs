//! Extractors: the authenticated creator (tenant context) or staff member, and a JSON body,
//! path and query whose rejections speak the API's error format.
use axum::{
    extract::{
        FromRequest, FromRequestParts, Path, RawPathParams, Request,
        rejection::{JsonRejection, PathRejection},
    },
    http::{header, request::Parts},
};
use domain::{
    AppCtx, Error,
    accounts::{self, Principal, StaffCtx},
    tenants::TenantCtx,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::unauthenticated(
                "unauthenticated",
                "send Authorization: Bearer <session token or API key>",
            )
            .into()
        })
}

async fn principal(parts: &mut Parts, ctx: &AppCtx) -> Result<Principal, ApiError> {
    if let Some(p) = parts.extensions.get::<Principal>() {
        return Ok(p.clone());
    }
    let p = accounts::authenticate(ctx, bearer(parts)?).await?;
    parts.extensions.insert(p.clone());
    Ok(p)
}

/// A creator request: the tenant context, resolved once per request.
pub struct Creator(pub TenantCtx);

impl FromRequestParts<AppCtx> for Creator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        match principal(parts, ctx).await? {
            Principal::Creator(t) => Ok(Creator(t)),
            Principal::Staff(_) => {
                Err(Error::forbidden("creator_only", "this route is for creator accounts").into())
            }
        }
    }
}

/// A staff request; creators get 403 on every staff route.
pub struct Staff(pub StaffCtx);

impl FromRequestParts<AppCtx> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        match principal(parts, ctx).await? {
            Principal::Staff(s) => Ok(Staff(s)),
            Principal::Creator(_) => {
                Err(Error::forbidden("staff_only", "this route is for platform staff").into())
            }
        }
    }
}

/// `Json<T>` whose rejections are API errors (`invalid_json` with the field when known).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_error(rej).into()),
        }
    }
}

/// [`ApiJson`] for a body that may be left out: a request without `Content-Type` has none.
pub struct MaybeApiJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MaybeApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(MaybeApiJson(None));
        }
        let ApiJson(v) = ApiJson::<T>::from_request(req, state).await?;
        Ok(MaybeApiJson(Some(v)))
    }
}

fn json_error(rej: JsonRejection) -> Error {
    match rej {
        JsonRejection::JsonDataError(e) => {
            // serde_path_to_error style text: "field: message at line … column …"
            let text = e.body_text();
            let detail = text
                .split_once(": ")
                .map(|(_, rest)| rest.to_string())
                .unwrap_or(text.clone());
            let field = detail
                .split_once(": ")
                .map(|(path, _)| path.to_string())
                .filter(|p| !p.contains(' '));
            let mut err = Error::new(domain::ErrorKind::Invalid, "invalid_json", detail);
            if let Some(f) = field {
                err = err.with_field(&f);
            } else if let Some(f) = missing_field(&text) {
                err = err.with_field(&f);
            }
            err
        }
        JsonRejection::JsonSyntaxError(e) => {
            Error::new(domain::ErrorKind::Invalid, "invalid_json", e.body_text())
        }
        JsonRejection::MissingJsonContentType(_) => Error::new(
            domain::ErrorKind::Invalid,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            body_too_large()
        }
        other => Error::new(
            domain::ErrorKind::Invalid,
            "invalid_body",
            other.body_text(),
        ),
    }
}

fn body_too_large() -> Error {
    Error::new(
        domain::ErrorKind::TooLarge,
        "body_too_large",
        format!("the body must be at most {} bytes", crate::MAX_BODY_BYTES),
    )
}

fn missing_field(text: &str) -> Option<String> {
    let i = text.find("missing field `")?;
    let rest = &text[i + "missing field `".len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// [`ApiJson`] for bodies whose every field is optional: a request without a body (no
/// `Content-Type`, nothing or only whitespace sent) reads as `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return ApiJson::<T>::from_request(req, state)
                .await
                .map(|ApiJson(v)| OptionalJson(v));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    body_too_large()
                } else {
                    Error::new(domain::ErrorKind::Invalid, "invalid_body", e.body_text())
                }
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(OptionalJson(T::default()))
        } else {
            Err(Error::new(
                domain::ErrorKind::Invalid,
                "unsupported_media_type",
                "send Content-Type: application/json",
            )
            .into())
        }
    }
}

/// `Query<T>` whose rejections are API errors: 422 `invalid_query` with the parameter at fault
/// in `fields` (its own code: `invalid_value`, or `required` for a missing one), never axum's
/// plain-text 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                let (field, code) = match missing_field(&inner) {
                    Some(f) => (f, "required"),
                    None => (path, "invalid_value"),
                };
                let field = if field.is_empty() || field == "." {
                    "query".to_string()
                } else {
                    field
                };
                param_error("invalid_query", &field, code, format!("{field}: {inner}")).into()
            })
    }
}

/// `Path<T>` whose rejections are API errors: 422 `invalid_path` with the parameter at fault in
/// `fields` (`invalid_uuid` for an id that is not a UUID), never axum's plain-text 400.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(rej) => {
                let raw = RawPathParams::from_request_parts(parts, state).await.ok();
                Err(path_error(rej, raw.as_ref()).into())
            }
        }
    }
}

/// The client address of the request (`domain::limits::client_ip`: the socket peer, or
/// `X-Forwarded-For` read only as far as `TRUSTED_PROXY_HOPS` allows).
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppCtx> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, ctx)))
    }
}

/// The client address of a request's parts (shared with the dashboard's login).
pub fn client_ip(parts: &Parts, ctx: &AppCtx) -> std::net::IpAddr {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    domain::limits::client_ip(peer, forwarded, ctx.config.trusted_proxy_hops)
}

fn path_error(rej: PathRejection, raw: Option<&RawPathParams>) -> Error {
    use axum::extract::path::ErrorKind as K;
    let names: Vec<&str> = raw
        .map(|r| r.iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let PathRejection::FailedToDeserializePathParams(e) = rej else {
        // Only a routing bug (no parameters matched) gets here.
        return Error::internal(rej);
    };
    let (field, expected) = match e.kind() {
        K::ParseErrorAtKey {
            key, expected_type, ..
        } => (Some(key.clone()), *expected_type),
        K::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => (names.get(*index).map(|n| n.to_string()), *expected_type),
        K::ParseError { expected_type, .. } => (None, *expected_type),
        K::DeserializeError { key, .. } | K::InvalidUtf8InPathParam { key } => {
            (Some(key.clone()), "")
        }
        _ => (None, ""),
    };
    let field = field
        .or_else(|| (names.len() == 1).then(|| names[0].to_string()))
        .unwrap_or_else(|| "path".to_string());
    let message = e.body_text();
    let code = if expected.contains("Uuid") || message.to_ascii_lowercase().contains("uuid") {
        "invalid_uuid"
    } else {
        "invalid_value"
    };
    param_error("invalid_path", &field, code, format!("{field}: {message}"))
}

/// 422 with `code` and one field at fault with its own code.
fn param_error(
    code: &'static str,
    field: &str,
    field_code: &'static str,
    message: String,
) -> Error {
    let mut err = Error::new(domain::ErrorKind::Invalid, code, message.clone());
    err.fields.insert(
        field.to_string(),
        domain::error::FieldError {
            code: field_code,
            message,
        },
    );
    err
}

/// A UTF-8 body taken as it is (signed payloads); rejections are API errors (413
/// `body_too_large`, 422 `invalid_body`), not axum's plain text.
pub struct RawText(pub String);

impl<S: Send + Sync> FromRequest<S> for RawText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        String::from_request(req, state)
            .await
            .map(RawText)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    body_too_large().into()
                } else {
                    Error::new(domain::ErrorKind::Invalid, "invalid_body", e.body_text()).into()
                }
            })
    }
}
