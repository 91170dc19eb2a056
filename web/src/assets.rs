//! Static assets, vendored into the binary (no build step outside cargo).
use axum::{
    http::header,
    response::{IntoResponse, Response},
};

const CSS: &str = include_str!("../static/app.css");

/// The stylesheet; cached for a day (the name changes if it ever needs busting sooner).
pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        CSS,
    )
        .into_response()
}
