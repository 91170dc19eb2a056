//! Telegram side of Gatehouse: webhook updates at `POST /tg/{bot_id}`, long polling for bots
//! without a public URL, and the subscriber and owner conversations.
//!
//! Both ways in end in [`conversation::dispatch`], so a webhook bot and a polling bot behave
//! the same. Incoming updates are read into our own small, lenient types ([`update`]) rather
//! than teloxide's full `Update`: we need a handful of fields, and an unusual field elsewhere in
//! an update must not make us drop it. Outgoing calls go through teloxide (via
//! `domain::bots::sender`).
pub mod conversation;
mod in_flight;
pub mod polling;
pub mod update;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use domain::{AppCtx, bots};
use uuid::Uuid;

pub use in_flight::{drain, updates_in_flight};
pub use polling::{run_pollers, run_pollers_with};

/// The header Telegram sends the webhook's `secret_token` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Webhook routes for connected bots.
pub fn router(ctx: AppCtx) -> Router {
    Router::new()
        .route("/tg/{bot_id}", post(webhook))
        .with_state(ctx)
}

/// The OpenAPI description of the webhook route, merged into `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    WebhookDoc::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(webhook), modifiers(&TelegramSecret))]
struct WebhookDoc;

/// Telegram authenticates itself with the `secret_token` we gave `setWebhook`, not a bearer.
struct TelegramSecret;

impl utoipa::Modify for TelegramSecret {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "telegram_secret",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(SECRET_HEADER))),
            );
    }
}

/// Counts updates by how they ended (`telegram_updates_total{outcome}` on `/metrics`).
fn count(outcome: &'static str) {
    metrics::counter!("telegram_updates_total", "outcome" => outcome).increment(1);
}

/// One update from Telegram. Checks, in order: the bot exists (404), the secret header
/// matches in constant time (401, before the body is even parsed), the body parses (if not:
/// logged and acknowledged, since Telegram would otherwise retry it for a day), the update id
/// is new (repeats are acknowledged and dropped). The update is then handled in the
/// background so Telegram gets its answer at once. Answers carry no body: Telegram reads only
/// the status.
#[utoipa::path(post, path = "/tg/{bot_id}", tag = "telegram",
    security(("telegram_secret" = [])),
    params(("bot_id" = Uuid, Path, description = "our `bots.id` (a value that is not one is an unknown bot)")),
    request_body(content = Object, description = "a Telegram `Update`", content_type = "application/json"),
    responses(
        (status = 200, description = "accepted; malformed and repeated updates are acknowledged and dropped too"),
        (status = 401, description = "the secret header is missing or wrong"),
        (status = 404, description = "no such bot"),
        (status = 503, description = "the bot or de-duplication could not be read; Telegram retries"),
    ))]
async fn webhook(
    State(ctx): State<AppCtx>,
    Path(bot_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Ok(bot_id) = Uuid::parse_str(&bot_id) else {
        count("unknown_bot");
        return StatusCode::NOT_FOUND;
    };
    let h = match bots::handle(&ctx, bot_id).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            count("unknown_bot");
            return StatusCode::NOT_FOUND;
        }
        Err(e) => {
            tracing::error!(bot = %bot_id, error = %e, "loading bot failed");
            count("error");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    if !bots::secret_matches(&h, headers.get(SECRET_HEADER).map(|v| v.as_bytes())) {
        count("bad_secret");
        return StatusCode::UNAUTHORIZED;
    }
    let upd: update::Incoming = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(bot = %bot_id, error = %e, bytes = body.len(), "malformed update acknowledged and dropped");
            count("malformed");
            return StatusCode::OK;
        }
    };
    match bots::first_sight(&ctx, &h, upd.update_id).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(bot = %bot_id, update_id = upd.update_id, "repeated update dropped");
            count("repeated");
            return StatusCode::OK;
        }
        // Not acknowledged, so Telegram delivers it again once we can tell repeats apart.
        Err(e) => {
            tracing::error!(bot = %bot_id, error = %e, "update de-duplication failed");
            count("error");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    count("accepted");
    if upd.is_handled() {
        in_flight::spawn(h.tenant_id, async move {
            conversation::dispatch(&ctx, &h, upd).await
        });
    }
    StatusCode::OK
}
