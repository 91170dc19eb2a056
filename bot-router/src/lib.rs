//! Telegram side of Gatehouse: webhook updates at `POST /tg/{bot_id}`, long polling for bots
//! without a public URL, and the subscriber and owner conversations.
use axum::Router;
use domain::AppCtx;

/// Webhook routes for connected bots (filled in by the bots issue).
pub fn router(ctx: AppCtx) -> Router {
    Router::new().with_state(ctx)
}
