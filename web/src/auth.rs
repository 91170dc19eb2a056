//! Signup, login, logout and the front page.
use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use domain::{
    AppCtx, ErrorKind,
    accounts::{self, Principal},
    tenants::{self, SignupIn},
};

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::{self, Csrf, MaybeSignedIn},
};

fn home_of(p: &Principal) -> &'static str {
    match p {
        Principal::Creator(_) => "/projects",
        Principal::Staff(_) => "/staff",
    }
}

/// Signed in: the dashboard. Otherwise the product's front page with login and signup.
pub async fn front_page(MaybeSignedIn(p): MaybeSignedIn) -> Response {
    match p {
        Some(p) => Redirect::to(home_of(&p)).into_response(),
        None => Html(include_str!("front_page.html")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    l: Layout,
    email: String,
    workspace: String,
    errors: FormErrors,
}

pub async fn signup_page(Csrf(csrf): Csrf) -> Response {
    page::ok(&SignupPage {
        l: Layout::anonymous("Sign up", &csrf),
        email: String::new(),
        workspace: String::new(),
        errors: FormErrors::default(),
    })
}

pub async fn signup(
    State(ctx): State<AppCtx>,
    Csrf(csrf): Csrf,
    ClientIp(client): ClientIp,
    jar: CookieJar,
    form: FormData,
) -> WebResult {
    let input = SignupIn {
        email: form.get("email"),
        // Passwords are taken as typed (spaces may be part of them).
        password: form
            .0
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        workspace: form.get("workspace"),
        client,
    };
    match tenants::signup(&ctx, input).await {
        Ok(out) => {
            let jar = jar.add(session::session_cookie(&ctx, out.session.token));
            Ok((jar, Redirect::to("/projects")).into_response())
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            Ok(page::render(
                errors.status(),
                &SignupPage {
                    l: Layout::anonymous("Sign up", &csrf),
                    email: form.get("email"),
                    workspace: form.get("workspace"),
                    errors,
                },
            ))
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    email: String,
    errors: FormErrors,
}

pub async fn login_page(Csrf(csrf): Csrf, MaybeSignedIn(p): MaybeSignedIn) -> Response {
    if let Some(p) = p {
        return Redirect::to(home_of(&p)).into_response();
    }
    page::ok(&LoginPage {
        l: Layout::anonymous("Log in", &csrf),
        email: String::new(),
        errors: FormErrors::default(),
    })
}

/// The client address (`domain::limits::client_ip`), for login limiting.
pub struct ClientIp(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<AppCtx> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        ctx: &AppCtx,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(domain::limits::client_ip(
            peer,
            forwarded,
            ctx.config.trusted_proxy_hops,
        )))
    }
}

pub async fn login(
    State(ctx): State<AppCtx>,
    ClientIp(ip): ClientIp,
    Csrf(csrf): Csrf,
    jar: CookieJar,
    form: FormData,
) -> WebResult {
    let email = form.get("email");
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let result = accounts::login(&ctx, &email, &password, ip).await;
    let session = match result {
        Ok(s) => s,
        Err(e) => {
            let mut errors = match e.kind {
                // One message for unknown email and wrong password alike.
                ErrorKind::Unauthenticated => FormErrors {
                    general: Some("That email and password do not match an account.".into()),
                    status: Some(StatusCode::UNAUTHORIZED),
                    ..Default::default()
                },
                _ => FormErrors::from_error(e)?,
            };
            if errors.status.is_none() {
                errors.status = Some(StatusCode::UNPROCESSABLE_ENTITY);
            }
            return Ok(page::render(
                errors.status(),
                &LoginPage {
                    l: Layout::anonymous("Log in", &csrf),
                    email,
                    errors,
                },
            ));
        }
    };
    let p = accounts::authenticate(&ctx, &session.token).await?;
    let jar = jar.add(session::session_cookie(&ctx, session.token));
    Ok((jar, Redirect::to(home_of(&p))).into_response())
}

pub async fn logout(State(ctx): State<AppCtx>, jar: CookieJar) -> Response {
    let jar = jar.add(session::clear_session(&ctx));
    (jar, Redirect::to("/login")).into_response()
}
