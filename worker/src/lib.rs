//! Background work on apalis: the `GenerateCodes`, `DeliverBatch` and `SendBroadcast` jobs (stored in the
//! application database, so they survive restarts) and the schedules: code expiry and
//! subscription sweeps every minute, the usage outbox flush, due scheduled broadcasts and the
//! stuck-batch and stuck-broadcast recovery every `JOB_SWEEP_SECS` (5 s), and the webhook outbox every `WEBHOOK_POLL_MS` (1 s). `gatehouse worker` runs only this; `gatehouse serve` runs
//! it beside the API. Any number of workers can run: jobs are claimed by one worker each,
//! and scheduled sweeps are written to be harmless when two workers tick at once.
//!
//! Failed jobs are retried with exponential backoff and jitter (`JOB_RETRY_MIN_MS` doubling
//! up to `JOB_RETRY_MAX_MS`), [`domain::jobs::MAX_ATTEMPTS`] attempts in all. Workers beat
//! every `JOB_HEARTBEAT_SECS`; a worker silent for [`MISSED_HEARTBEATS`] beats is dead, and
//! the next beat of any live worker (or a restarted one) puts its jobs back in the queue.
mod quiet_poll;

use std::{str::FromStr, time::Duration};

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use domain::{
    AppCtx,
    config::MISSED_HEARTBEATS,
    jobs::{DeliverBatch, GenerateCodes, SendBroadcast, queue_name},
};
use quiet_poll::QuietPoll;
use tokio_util::sync::CancellationToken;
use tower::{
    retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    util::rng::HasherRng,
};

/// A job stored in the application database's queue, with what running it does.
trait QueuedJob:
    serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + Unpin + 'static
{
    /// The worker's name (before the process' instance suffix).
    const WORKER: &'static str;

    fn run(
        self,
        ctx: &AppCtx,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<(), BoxDynError>> + Send;
}

/// Writes a batch's codes; on the last attempt a failing batch is marked failed and its
/// quota released.
impl QueuedJob for GenerateCodes {
    const WORKER: &'static str = "generate-codes";

    async fn run(self, ctx: &AppCtx, attempt: &Attempt) -> Result<(), BoxDynError> {
        match domain::batches::generate(ctx, self.batch_id).await {
            Ok(b) => {
                // Overage is billed as soon as its codes exist, not at the next schedule.
                if b.overage_count > 0 && b.status.codes_written() {
                    flush_usage(ctx).await;
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(batch = %self.batch_id, error = %e, source = ?e.source, "code generation failed");
                if attempt.current() + 1 >= domain::jobs::MAX_ATTEMPTS {
                    domain::batches::give_up(ctx, self.batch_id, &e.to_string()).await?;
                }
                Err(Box::new(e))
            }
        }
    }
}

impl QueuedJob for DeliverBatch {
    const WORKER: &'static str = "deliver-batch";

    async fn run(self, ctx: &AppCtx, attempt: &Attempt) -> Result<(), BoxDynError> {
        match domain::batches::deliver(ctx, self.batch_id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(batch = %self.batch_id, attempt = attempt.current(), error = %e, source = ?e.source, "delivery failed");
                if attempt.current() + 1 >= domain::jobs::MAX_ATTEMPTS {
                    domain::batches::give_up_delivery(ctx, self.batch_id, &e.to_string()).await?;
                }
                Err(Box::new(e))
            }
        }
    }
}

/// Sends a broadcast to its pending recipients. A failed attempt leaves them pending for
/// the next one (each recipient is recorded as soon as Telegram answers).
impl QueuedJob for SendBroadcast {
    const WORKER: &'static str = "send-broadcast";

    async fn run(self, ctx: &AppCtx, attempt: &Attempt) -> Result<(), BoxDynError> {
        domain::broadcasts::run(ctx, self.broadcast_id)
            .await
            .map_err(|e| {
                tracing::warn!(broadcast = %self.broadcast_id, attempt = attempt.current(), error = %e, source = ?e.source, "broadcast sending failed");
                Box::new(e) as BoxDynError
            })
    }
}

async fn handle<J: QueuedJob>(
    job: J,
    ctx: Data<AppCtx>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    job.run(&ctx, &attempt).await
}

/// Runs one job type's worker on the application database until `shutdown`: each job
/// type is registered once, and the backend (PostgreSQL or SQLite) is chosen here.
async fn run_queue<J: QueuedJob>(
    ctx: &AppCtx,
    name: String,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let timing = ctx.config.jobs;
    let heartbeat = Duration::from_secs(timing.heartbeat_secs);
    // The worker is the same on both backends; only the storage differs.
    macro_rules! work_on {
        ($storage:expr) => {
            WorkerBuilder::new(name)
                .backend($storage)
                .retry(RetryPolicy::retries(domain::jobs::MAX_ATTEMPTS).with_backoff(backoff(ctx)))
                .data(ctx.clone())
                .build(handle::<J>)
                .run_until(until(shutdown))
                .await
        };
    }
    let queue = queue_name::<J>(ctx);
    if ctx.config.is_postgres() {
        work_on!(
            apalis_postgres::PostgresStorage::<J>::new(ctx.db.get_postgres_connection_pool())
                .with_config(
                    apalis_postgres::Config::default()
                        .queue(queue)
                        .heartbeat_interval(heartbeat)
                        .missed_heartbeats(MISSED_HEARTBEATS as usize)
                )
                .with_pubsub()
        )
    } else {
        work_on!(QuietPoll::new(
            apalis_sqlite::SqliteStorage::<J>::new(ctx.db.get_sqlite_connection_pool())
                .with_config(
                    apalis_sqlite::Config::default()
                        .queue(queue)
                        .heartbeat_interval(heartbeat)
                        .missed_heartbeats(MISSED_HEARTBEATS as usize)
                ),
            SQLITE_POLL
        ))
    }
}

/// Exponential backoff with jitter between attempts of one job (fresh for every job).
fn backoff(ctx: &AppCtx) -> ExponentialBackoff {
    let t = ctx.config.jobs;
    let min = Duration::from_millis(t.retry_min_ms);
    ExponentialBackoffMaker::new(
        min,
        Duration::from_millis(t.retry_max_ms).max(min),
        0.5,
        HasherRng::default(),
    )
    .expect("validated backoff bounds")
    .make_backoff()
}

/// Sends due usage records to Stripe; a failure is logged, records stay pending.
async fn flush_usage(ctx: &AppCtx) {
    if let Err(e) = domain::billing::flush_usage(ctx).await {
        tracing::warn!(error = %e, "usage outbox flush failed");
    }
}

/// Every `JOB_SWEEP_SECS`: the usage outbox goes to Stripe, stuck batches are resumed or
/// failed, scheduled broadcasts that are due start, and stuck broadcasts are resumed.
async fn job_sweeps(ctx: AppCtx, shutdown: CancellationToken) {
    let every = Duration::from_secs(ctx.config.jobs.sweep_secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        flush_usage(&ctx).await;
        match domain::batches::recover_stuck(&ctx).await {
            Ok(r) if r.failed + r.resumed > 0 => {
                tracing::info!(
                    failed = r.failed,
                    resumed = r.resumed,
                    "stuck batches recovered"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "stuck batch recovery failed"),
        }
        match domain::broadcasts::start_due(&ctx).await {
            Ok(n) if n > 0 => tracing::info!(started = n, "scheduled broadcasts started"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "starting scheduled broadcasts failed"),
        }
        match domain::broadcasts::recover_stuck(&ctx).await {
            Ok(n) if n > 0 => tracing::info!(resumed = n, "stuck broadcasts resumed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "stuck broadcast recovery failed"),
        }
    }
}

/// Every `JOB_HEARTBEAT_SECS`: this process is alive, so the work it claimed stays its own
/// (`domain::claims`).
async fn liveness(ctx: AppCtx, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(ctx.config.jobs.heartbeat_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = domain::claims::beat(&ctx).await {
            tracing::warn!(error = %e, "worker heartbeat failed");
        }
    }
}

/// Every `STARS_RECONCILE_SECS`: recent Star transactions of each Stars bot, so a paid charge
/// whose `successful_payment` never arrived is recorded and its access granted. Two workers
/// reconciling at once record a charge once (its id is unique).
async fn stars_reconciliation(ctx: AppCtx, shutdown: CancellationToken) {
    let every = Duration::from_secs(ctx.config.jobs.stars_reconcile_secs);
    // The first run one period after start, not at once: a restarting worker need not ask
    // every bot's ledger immediately.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match domain::payments::reconcile(&ctx).await {
            Ok(n) if n > 0 => {
                tracing::warn!(recorded = n, "Stars payments recorded by reconciliation")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Stars reconciliation failed"),
        }
    }
}

/// Every `WEBHOOK_POLL_MS`: due webhook deliveries are claimed (fairly: two attempts in
/// flight per endpoint at most, every endpoint a turn) and each is sent in a task of its
/// own, so a receiver that never answers delays nobody else's; any number of workers share
/// them and each is sent by one.
async fn webhook_deliveries(ctx: AppCtx, shutdown: CancellationToken) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(
        domain::webhooks::delivery::IN_FLIGHT_PER_PROCESS,
    ));
    let mut tick = tokio::time::interval(Duration::from_millis(ctx.config.webhook_poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Claim while full rounds come back (more may be due), then wait for the next tick.
        loop {
            match domain::webhooks::dispatch_due(&ctx, &slots).await {
                Ok(n) if n >= domain::webhooks::delivery::ROUND => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook delivery pass failed");
                    break;
                }
            }
        }
    }
}

/// Every minute: expired and auto-deleted codes.
async fn expire_codes(_tick: Tick, ctx: Data<AppCtx>) -> Result<(), BoxDynError> {
    let n = domain::codes::expire(&ctx).await?;
    if n > 0 {
        tracing::info!(deleted = n, "expired codes removed");
    }
    Ok(())
}

/// PostgreSQL workers wake on LISTEN/NOTIFY; SQLite has no notifications, so its workers look
/// at the queue again this long after finding it empty ([`QuietPoll`]; a queue with work is
/// drained without pauses).
const SQLITE_POLL: Duration = Duration::from_millis(100);

/// Every minute: renewal reminders one day ahead, then subscriptions that ended (each is
/// claimed by a conditional update, so two workers never send or remove twice), then places
/// under promo caps whose payment never came (given back once, by a conditional delete).
async fn subscription_sweeps(_tick: Tick, ctx: Data<AppCtx>) -> Result<(), BoxDynError> {
    let reminded = domain::subscriptions::send_reminders(&ctx).await?;
    let ended = domain::subscriptions::expire_due(&ctx).await?;
    let released = domain::promos::release_lapsed(&ctx).await?;
    if reminded + ended + released > 0 {
        tracing::info!(reminded, ended, released, "subscription sweeps");
    }
    Ok(())
}

async fn until(shutdown: CancellationToken) -> Result<(), std::io::Error> {
    shutdown.cancelled().await;
    Ok(())
}

/// Runs every worker until `shutdown` is cancelled.
pub async fn run(ctx: AppCtx, shutdown: CancellationToken) -> anyhow::Result<()> {
    // apalis tracks workers (and the jobs they hold) by name, so every process needs its own.
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let name = |job: &str| format!("{job}-{}", &instance[..12]);
    tracing::info!(%instance, "worker started");
    let schedule = cron::Schedule::from_str("0 * * * * *").expect("static schedule");
    let schedules = ctx.config.worker_schedules;
    let minute_sweeps = schedules && ctx.config.worker_minute_sweeps;
    let expire = WorkerBuilder::new(name("expire-codes"))
        .backend(CronScheduler::new(schedule))
        .data(ctx.clone())
        .build(expire_codes);
    let sweeps = WorkerBuilder::new(name("subscription-sweeps"))
        .backend(CronScheduler::new(
            cron::Schedule::from_str("30 * * * * *").expect("static schedule"),
        ))
        .data(ctx.clone())
        .build(subscription_sweeps);
    let sweeps_shutdown = shutdown.clone();
    let sweeps = async move {
        if minute_sweeps {
            sweeps.run_until(until(sweeps_shutdown)).await
        } else {
            Ok(())
        }
    };
    let expire_shutdown = shutdown.clone();
    let expire = async move {
        if minute_sweeps {
            expire.run_until(until(expire_shutdown)).await
        } else {
            Ok(())
        }
    };
    let job_sweeps = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            if schedules {
                job_sweeps(ctx, shutdown).await
            }
        }
    };
    let reconciliation = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            if schedules {
                stars_reconciliation(ctx, shutdown).await
            }
        }
    };
    let webhooks = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            if schedules {
                webhook_deliveries(ctx, shutdown).await
            }
        }
    };
    let ((), a, b, d, c, (), (), ()) = tokio::join!(
        liveness(ctx.clone(), shutdown.clone()),
        run_queue::<GenerateCodes>(&ctx, name(GenerateCodes::WORKER), shutdown.clone()),
        run_queue::<DeliverBatch>(&ctx, name(DeliverBatch::WORKER), shutdown.clone()),
        run_queue::<SendBroadcast>(&ctx, name(SendBroadcast::WORKER), shutdown.clone()),
        async {
            let (a, b) = tokio::join!(expire, sweeps);
            a.and(b)
        },
        job_sweeps,
        reconciliation,
        webhooks,
    );
    for r in [a, b, d, c] {
        if let Err(e) = r {
            tracing::warn!(error = %e, "a worker stopped with an error");
        }
    }
    // Everything it claimed is settled: its claims are free at once, not after 20 s.
    if let Err(e) = domain::claims::stop(&ctx).await {
        tracing::warn!(error = %e, "could not record the worker's stop");
    }
    tracing::info!("worker stopped");
    Ok(())
}
