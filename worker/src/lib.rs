//! Background work: jobs (code generation, delivery) and schedules (expiry, sweeps, billing
//! outbox). `gatehouse worker` runs only this; `gatehouse serve` runs it beside the API.
use domain::AppCtx;
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown` is cancelled.
pub async fn run(ctx: AppCtx, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _ = ctx;
    tracing::info!("worker started");
    shutdown.cancelled().await;
    tracing::info!("worker stopped");
    Ok(())
}
