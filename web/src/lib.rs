//! The web dashboard for creators and the staff console: server-rendered pages (askama
//! templates checked at compile time, plain HTML forms). Pages call the same `domain`
//! services as the API; this crate only parses forms, calls `domain` and renders.
//!
//! Sessions are a cookie carrying the session JWT (`HttpOnly`, `SameSite=Lax`, `Secure` when
//! `PUBLIC_URL` is https). Every `POST` is checked against a CSRF token (see [`session`]).
use axum::{
    Router, middleware,
    routing::{get, post},
};
use domain::AppCtx;

mod assets;
mod auth;
mod billing;
mod bots;
mod broadcasts;
mod channels;
mod chart;
mod codes;
mod form;
mod members;
mod page;
mod payments;
mod plans;
mod projects;
mod promos;
mod session;
mod staff;
mod team;
mod webhooks;

/// The dashboard and staff console routes.
pub fn router(ctx: AppCtx) -> Router {
    Router::new()
        .route("/", get(auth::front_page))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/projects", get(projects::list_page).post(projects::create))
        .route("/projects/{project_id}", get(projects::overview))
        .route(
            "/projects/{project_id}/settings",
            post(projects::update_settings),
        )
        .route("/projects/{project_id}/bot", post(bots::connect))
        .route(
            "/projects/{project_id}/bot/disconnect",
            get(bots::disconnect_page).post(bots::disconnect),
        )
        .route(
            "/projects/{project_id}/bot/owner-link",
            post(bots::owner_link),
        )
        .route(
            "/projects/{project_id}/owners/{owner_id}/unlink",
            post(bots::unlink_owner),
        )
        .route("/projects/{project_id}/members", get(members::page))
        .route("/projects/{project_id}/payments", get(payments::page))
        .route(
            "/projects/{project_id}/promos",
            get(promos::page).post(promos::create),
        )
        .route("/projects/{project_id}/promos/offers", post(promos::offers))
        .route(
            "/projects/{project_id}/promos/{promo_id}/deactivate",
            post(promos::deactivate),
        )
        .route(
            "/projects/{project_id}/payments/{payment_id}/refund",
            get(payments::refund_page).post(payments::refund),
        )
        .route(
            "/projects/{project_id}/members/{subscription_id}/revoke",
            get(members::revoke_page).post(members::revoke),
        )
        .route(
            "/projects/{project_id}/channels",
            get(channels::page).post(channels::create),
        )
        .route(
            "/projects/{project_id}/plans",
            get(plans::page).post(plans::create),
        )
        .route(
            "/projects/{project_id}/plans/{plan_id}",
            get(plans::edit_page).post(plans::update),
        )
        .route(
            "/projects/{project_id}/plans/{plan_id}/active",
            post(plans::set_active),
        )
        .route(
            "/projects/{project_id}/broadcasts",
            get(broadcasts::page).post(broadcasts::create),
        )
        .route(
            "/projects/{project_id}/broadcasts/{broadcast_id}/send",
            post(broadcasts::send),
        )
        .route(
            "/projects/{project_id}/broadcasts/{broadcast_id}/cancel",
            post(broadcasts::cancel),
        )
        .route(
            "/projects/{project_id}/broadcasts/{broadcast_id}/test",
            post(broadcasts::test),
        )
        .route("/projects/{project_id}/codes", get(codes::list_page))
        .route("/projects/{project_id}/codes/new", get(codes::new_page))
        .route("/projects/{project_id}/codes/preview", post(codes::preview))
        .route(
            "/projects/{project_id}/codes/export.csv",
            get(codes::export_csv),
        )
        .route(
            "/projects/{project_id}/codes/{code_id}/delete",
            get(codes::delete_page).post(codes::delete),
        )
        .route(
            "/projects/{project_id}/codes/{code_id}/rollback",
            get(codes::rollback_page).post(codes::rollback),
        )
        .route("/projects/{project_id}/batches", post(codes::create_batch))
        .route(
            "/projects/{project_id}/batches/{batch_id}",
            get(codes::batch_page),
        )
        .route(
            "/projects/{project_id}/batches/{batch_id}/codes.csv",
            get(codes::batch_csv),
        )
        .route("/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/webhooks/{endpoint_id}", get(webhooks::endpoint))
        .route("/webhooks/{endpoint_id}/enabled", post(webhooks::toggle))
        .route("/webhooks/{endpoint_id}/delete", post(webhooks::delete))
        .route(
            "/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/billing", get(billing::page))
        .route("/billing/checkout", post(billing::checkout))
        .route("/billing/portal", post(billing::portal))
        .route("/team", get(team::page))
        .route("/team/invite", get(team::invite_page).post(team::invite))
        .route(
            "/team/invites/{invite_id}/revoke",
            post(team::revoke_invite),
        )
        .route("/team/members/{user_id}/role", post(team::change_role))
        .route(
            "/team/members/{user_id}/remove",
            get(team::remove_page).post(team::remove),
        )
        .route(
            "/team/members/{user_id}/transfer",
            get(team::transfer_page).post(team::transfer),
        )
        .route("/invite/{token}", get(team::accept_page).post(team::accept))
        .route("/staff", get(staff::tenants_page))
        .route("/staff/tenants/{tenant_id}", get(staff::tenant_page))
        .route("/staff/tenants/{tenant_id}/suspend", post(staff::suspend))
        .route(
            "/staff/tenants/{tenant_id}/unsuspend",
            post(staff::unsuspend),
        )
        .route(
            "/staff/tenants/{tenant_id}/quota-grants",
            post(staff::grant_quota),
        )
        .route(
            "/staff/tenants/{tenant_id}/plan",
            post(staff::override_plan),
        )
        .route("/staff/audit", get(staff::audit_page))
        .route("/static/app.css", get(assets::css))
        .layer(middleware::from_fn_with_state(ctx.clone(), session::csrf))
        .with_state(ctx)
}
