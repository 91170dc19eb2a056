//! Dashboard sessions and CSRF protection.
//!
//! - The session cookie (`gh_session`) carries the session JWT that `domain::accounts` issues
//!   for the API too; every page resolves it with `accounts::authenticate`, so the tenant's
//!   status (suspension) is read fresh on each request.
//! - CSRF: a random token lives in its own cookie (`gh_csrf`, `HttpOnly`, `SameSite=Lax`) and
//!   every form carries it in a hidden `csrf` field. The middleware refuses any `POST` whose
//!   field does not match the cookie (constant-time compare) with 403 before a handler runs.
//!   Another site can neither read the cookie nor set it, so it cannot forge the field.
use axum::{
    body::{Body, Bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use domain::{
    AppCtx,
    accounts::{self, Principal, StaffCtx},
    tenants::TenantCtx,
    tenants::{self, MeOut},
};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::page::{self, WebError};

pub const SESSION_COOKIE: &str = "gh_session";
pub const CSRF_COOKIE: &str = "gh_csrf";
pub const CSRF_FIELD: &str = "csrf";
/// Forms are small; anything larger is refused before parsing.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The CSRF token of this request, for the hidden field of every form on the page.
#[derive(Clone, Debug)]
pub struct Csrf(pub String);

fn secure(ctx: &AppCtx) -> bool {
    ctx.config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

fn cookie(ctx: &AppCtx, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(ctx))
        .build()
}

/// The session cookie for a freshly issued session token. It lasts as long as the browser
/// session; the token inside stops working after `accounts::SESSION_TTL_HOURS` anyway.
pub fn session_cookie(ctx: &AppCtx, token: String) -> Cookie<'static> {
    cookie(ctx, SESSION_COOKIE, token)
}

/// A cookie that removes the session.
pub fn clear_session(ctx: &AppCtx) -> Cookie<'static> {
    let mut c = cookie(ctx, SESSION_COOKIE, String::new());
    c.make_removal();
    c
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Gives every visitor a CSRF token and refuses a `POST` whose `csrf` field does not match it.
pub async fn csrf(State(ctx): State<AppCtx>, req: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let existing = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64);
    let (mut parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return page::message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Form too large",
                    "That form was larger than the dashboard accepts.",
                );
            }
        };
        let sent = form_field(&bytes, CSRF_FIELD);
        let ok = match (&existing, &sent) {
            (Some(c), Some(s)) => bool::from(c.as_bytes().ct_eq(s.as_bytes())),
            _ => false,
        };
        if !ok {
            return page::message(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was missing its security token or it did not match. Go back, reload the page and try again.",
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    let token = existing.clone().unwrap_or_else(new_token);
    parts.extensions.insert(Csrf(token.clone()));
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if existing.is_none()
        && let Ok(v) = HeaderValue::from_str(&cookie(&ctx, CSRF_COOKIE, token).to_string())
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    // Pages show per-user data: never cache them in shared caches.
    if !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn form_field(body: &Bytes, name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Csrf>()
            .cloned()
            .unwrap_or_else(|| Csrf(String::new())))
    }
}

async fn principal(parts: &mut Parts, ctx: &AppCtx) -> Option<Principal> {
    let jar = CookieJar::from_headers(&parts.headers);
    let token = jar.get(SESSION_COOKIE)?.value().to_string();
    if token.is_empty() {
        return None;
    }
    accounts::authenticate(ctx, &token).await.ok()
}

/// Whoever is signed in, if anyone (front page, login page).
pub struct MaybeSignedIn(pub Option<Principal>);

impl FromRequestParts<AppCtx> for MaybeSignedIn {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        Ok(MaybeSignedIn(principal(parts, ctx).await))
    }
}

/// A signed-in creator: their tenant context, who they are and their workspace.
pub struct CreatorSession {
    pub t: TenantCtx,
    pub me: MeOut,
    pub csrf: String,
}

/// Pages answer a missing session with a redirect to the login page, not an error.
pub struct NeedLogin;

impl IntoResponse for NeedLogin {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppCtx> for CreatorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        let csrf = Csrf::from_request_parts(parts, ctx)
            .await
            .map_err(IntoResponse::into_response)?
            .0;
        match principal(parts, ctx).await {
            Some(Principal::Creator(t)) => {
                let me = tenants::me(ctx, &t)
                    .await
                    .map_err(|e| WebError(e).into_response())?;
                Ok(CreatorSession { t, me, csrf })
            }
            Some(Principal::Staff(_)) => Err(Redirect::to("/staff").into_response()),
            None => Err(NeedLogin.into_response()),
        }
    }
}

/// A signed-in staff member.
pub struct StaffSession {
    pub s: StaffCtx,
    pub csrf: String,
}

impl FromRequestParts<AppCtx> for StaffSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, Self::Rejection> {
        let csrf = Csrf::from_request_parts(parts, ctx)
            .await
            .map_err(IntoResponse::into_response)?
            .0;
        match principal(parts, ctx).await {
            Some(Principal::Staff(s)) => Ok(StaffSession { s, csrf }),
            Some(Principal::Creator(_)) => Err(page::message(
                StatusCode::FORBIDDEN,
                "Staff only",
                "The staff console is for platform staff. Your dashboard is at /projects.",
            )),
            None => Err(NeedLogin.into_response()),
        }
    }
}
