//! The web dashboard for creators and the staff console (server-rendered pages). Pages call
//! the same `domain` services as the API.
use axum::{Router, response::Html, routing::get};
use domain::AppCtx;

/// The dashboard routes. Until the dashboard issue lands this serves the front page that
/// tells a visitor where the API and its documentation are.
pub fn router(ctx: AppCtx) -> Router {
    Router::new().route("/", get(front_page)).with_state(ctx)
}

async fn front_page() -> Html<&'static str> {
    Html(include_str!("front_page.html"))
}
