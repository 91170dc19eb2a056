//! Assembling the HTTP application and running processes until shutdown.
use std::time::Duration;

use axum::{Router, extract::MatchedPath, http::Request, middleware, serve::ListenerExt};
use domain::AppCtx;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

/// Everything served over HTTP: API, dashboard, Telegram webhooks, operations.
pub fn router(ctx: AppCtx) -> Router {
    api::router(ctx.clone(), bot_router::openapi())
        .merge(web::router(ctx.clone()))
        .merge(bot_router::router(ctx))
        .layer(middleware::from_fn(api::ops::track))
        .layer(
            // Spans are named by the route template, never the raw path (ids stay out of names).
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!(
                    "http",
                    otel.name = format!("{} {}", req.method(), route),
                    method = %req.method(),
                    route = %route,
                )
            }),
        )
        .layer(CatchPanicLayer::new())
}

/// Serves HTTP on `listener` until `shutdown`, then lets in-flight requests finish.
pub async fn serve_http(
    ctx: AppCtx,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(ctx);
    // TCP_NODELAY: a reply is one small write; without it Nagle holds it behind the
    // client's delayed ACK (≈ 40 ms per request on a keep-alive connection).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    // The peer address feeds login limiting (`domain::limits::client_ip`).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    // Updates acknowledged to Telegram are handled before the process exits.
    bot_router::drain(Duration::from_secs(20)).await;
    Ok(())
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested; finishing in-flight work");
        token.cancel();
        // A second signal, or a stuck shutdown, must not hang forever.
        tokio::time::sleep(Duration::from_secs(30)).await;
        tracing::warn!("graceful shutdown took too long; exiting");
        std::process::exit(1);
    });
}
