//! The JSON API (`/api/v1`) and the operations endpoints. Handlers are thin: parse, call
//! `domain`, map the result; the OpenAPI document is generated from their annotations.
pub mod contract;
pub mod error;
pub mod extract;
pub mod ops;
pub mod routes;

use axum::{Json, Router, extract::DefaultBodyLimit, routing::get};
use domain::AppCtx;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use routes::{
    accounts, billing, bots, broadcasts, channels, codes, members, payments, plans, projects,
    promos, staff, team, webhooks,
};

/// Largest JSON body the API accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", version = "1", description = "Paid and free membership for Telegram communities."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The API routes and the OpenAPI document describing exactly them, every operation with the
/// error statuses it can answer ([`contract::ErrorResponses`]).
pub fn api_routes() -> (Router<AppCtx>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::signup))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::create_api_key, accounts::list_api_keys))
        .routes(routes!(accounts::revoke_api_key))
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(channels::create, channels::list))
        .routes(routes!(plans::create, plans::list))
        .routes(routes!(plans::get, plans::update))
        .routes(routes!(promos::create, promos::list))
        .routes(routes!(promos::deactivate))
        .routes(routes!(broadcasts::create, broadcasts::list))
        .routes(routes!(broadcasts::preview))
        .routes(routes!(broadcasts::get))
        .routes(routes!(broadcasts::send))
        .routes(routes!(broadcasts::cancel))
        .routes(routes!(broadcasts::send_test))
        .routes(routes!(codes::preview))
        .routes(routes!(codes::create_batch))
        .routes(routes!(codes::get_batch))
        .routes(routes!(codes::batch_csv))
        .routes(routes!(codes::list))
        .routes(routes!(codes::export_csv))
        .routes(routes!(codes::delete))
        .routes(routes!(codes::rollback))
        .routes(routes!(members::subscribers))
        .routes(routes!(members::list))
        .routes(routes!(members::revoke))
        .routes(routes!(payments::list))
        .routes(routes!(payments::get))
        .routes(routes!(payments::refund))
        .routes(routes!(payments::revenue))
        .routes(routes!(staff::list_tenants))
        .routes(routes!(staff::get_tenant))
        .routes(routes!(staff::suspend))
        .routes(routes!(staff::unsuspend))
        .routes(routes!(staff::grant_quota))
        .routes(routes!(staff::override_plan))
        .routes(routes!(staff::list_audit))
        .routes(routes!(billing::overview))
        .routes(routes!(billing::checkout))
        .routes(routes!(billing::portal))
        .routes(routes!(billing::stripe_webhook))
        .routes(routes!(billing::staff_usage_records))
        .routes(routes!(bots::connect, bots::get, bots::disconnect))
        .routes(routes!(bots::create_owner_link))
        .routes(routes!(bots::list_owners))
        .routes(routes!(bots::unlink_owner))
        .routes(routes!(team::members))
        .routes(routes!(team::change_role, team::remove_member))
        .routes(routes!(team::transfer_ownership))
        .routes(routes!(team::create_invite, team::list_invites))
        .routes(routes!(team::revoke_invite))
        .routes(routes!(team::accept_invite))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::attempts))
        .routes(routes!(webhooks::retry))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics_text))
        .split_for_parts();
    utoipa::Modify::modify(&contract::ErrorResponses, &mut doc);
    (routes, doc)
}

/// The API router with its state bound. `beside` documents routes served next to the API by
/// other crates (the Telegram webhook); it is merged into `/api/v1/openapi.json` as it is.
pub fn router(ctx: AppCtx, beside: utoipa::openapi::OpenApi) -> Router {
    ops::metrics_handle();
    let (routes, mut doc) = api_routes();
    doc.merge(beside);
    let doc = std::sync::Arc::new(doc);
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json((*doc).clone()) }
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}
