//! Long polling for bots connected without a public URL: one poller task per polling bot.
//!
//! A supervisor looks for polling bots every few seconds and starts a poller for each new
//! one. A poller re-reads its bot from the database before every `getUpdates`, so it stops
//! once the bot is disconnected (or switched to a webhook). Failures back off exponentially
//! up to a minute; a 429 waits its `retry_after`. With Redis, a poller holds a short lease
//! per bot so that several worker processes never poll the same bot (Telegram would answer
//! 409 to all but one); without Redis there is a single node by definition.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use domain::{AppCtx, bots};
use teloxide::{RequestError, payloads::GetUpdatesSetters, prelude::Requester};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{conversation, update::Incoming};

/// How long one `getUpdates` waits for updates before answering empty.
pub const POLL_TIMEOUT_SECS: u32 = 25;
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const LEASE_MS: u64 = 60_000;
/// How often a worker that does not hold a bot's lease checks whether it became free.
const LEASE_RETRY: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs pollers for all polling bots until `shutdown`.
pub async fn run_pollers(ctx: AppCtx, shutdown: CancellationToken) {
    run_pollers_with(ctx, shutdown, Duration::from_secs(3), None).await
}

/// [`run_pollers`] looking for newly connected bots every `discover`, for every tenant or only
/// `only_tenant` (the test suite runs many apps, each with its own fake Telegram, against one
/// database).
pub async fn run_pollers_with(
    ctx: AppCtx,
    shutdown: CancellationToken,
    discover: Duration,
    only_tenant: Option<Uuid>,
) {
    // This supervisor's identity for poll leases (one per supervisor, so even two in one
    // process never poll the same bot).
    let instance = Uuid::new_v4().to_string();
    let mut running: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
    let mut last_prune = Instant::now();
    let mut tick = tokio::time::interval(discover);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        running.retain(|_, j| !j.is_finished());
        match bots::polling_bots(&ctx, only_tenant).await {
            Ok(ids) => {
                for id in ids {
                    running.entry(id).or_insert_with(|| {
                        tokio::spawn(poll_bot(
                            ctx.clone(),
                            id,
                            instance.clone(),
                            shutdown.child_token(),
                        ))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing polling bots failed"),
        }
        if ctx.redis.is_none() && last_prune.elapsed() > PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = bots::prune_seen_updates(&ctx).await {
                tracing::warn!(error = %e, "pruning seen updates failed");
            }
        }
    }
    for (_, j) in running {
        let _ = j.await;
    }
}

/// Whether this process may poll `bot_id` now (always, without Redis).
async fn hold_lease(ctx: &AppCtx, bot_id: Uuid, instance: &str) -> domain::Result<bool> {
    let Some(r) = &ctx.redis else {
        return Ok(true);
    };
    let mut r = r.clone();
    let key = format!("gh:tg:poll:{bot_id}");
    // Take it if free, or extend it if it is ours.
    let script = redis::Script::new(
        r"local v = redis.call('GET', KEYS[1])
          if v == false or v == ARGV[1] then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
          end
          return 0",
    );
    let got: i64 = script
        .key(key)
        .arg(instance)
        .arg(LEASE_MS)
        .invoke_async(&mut r)
        .await?;
    Ok(got == 1)
}

/// Gives the lease back when a poller stops, so another worker can take over at once.
async fn release_lease(ctx: &AppCtx, bot_id: Uuid, instance: &str) {
    let Some(r) = &ctx.redis else {
        return;
    };
    let mut r = r.clone();
    let script = redis::Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
          return 0",
    );
    let res: Result<i64, _> = script
        .key(format!("gh:tg:poll:{bot_id}"))
        .arg(instance)
        .invoke_async(&mut r)
        .await;
    if let Err(e) = res {
        tracing::warn!(bot = %bot_id, error = %e, "releasing poll lease failed");
    }
}

async fn poll_bot(ctx: AppCtx, bot_id: Uuid, instance: String, shutdown: CancellationToken) {
    tracing::info!(bot = %bot_id, "poller started");
    let mut offset: i32 = 0;
    let mut backoff = Duration::from_secs(1);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // The database, not the cache, decides whether this bot is still ours to poll.
        let h = match bots::still_polling(&ctx, bot_id).await {
            Ok(true) => match bots::handle(&ctx, bot_id).await {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(bot = %bot_id, error = %e, "loading polling bot failed");
                    pause(&shutdown, &mut backoff).await;
                    continue;
                }
            },
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(bot = %bot_id, error = %e, "checking polling bot failed");
                pause(&shutdown, &mut backoff).await;
                continue;
            }
        };
        match hold_lease(&ctx, bot_id, &instance).await {
            Ok(true) => {}
            Ok(false) => {
                // Another process polls this bot; check again later in case it stops.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(LEASE_RETRY) => continue,
                }
            }
            Err(e) => {
                tracing::warn!(bot = %bot_id, error = %e, "poll lease failed");
                pause(&shutdown, &mut backoff).await;
                continue;
            }
        }
        let req = h
            .bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(bots::ALLOWED_UPDATES);
        let res = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = req => r,
        };
        match res {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                for u in updates {
                    offset = offset.max(u.id.0 as i32 + 1);
                    let inc = match serde_json::to_value(&u)
                        .and_then(serde_json::from_value::<Incoming>)
                    {
                        Ok(inc) => inc,
                        Err(e) => {
                            tracing::warn!(bot = %bot_id, error = %e, "unreadable polled update dropped");
                            continue;
                        }
                    };
                    match bots::first_sight(&ctx, &h, inc.update_id).await {
                        Ok(true) => conversation::dispatch(&ctx, &h, inc).await,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(bot = %bot_id, error = %e, "update de-duplication failed")
                        }
                    }
                }
            }
            Err(RequestError::RetryAfter(s)) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(s.duration()) => {}
                }
            }
            Err(e) => {
                tracing::warn!(bot = %bot_id, error = %e, "getUpdates failed; backing off");
                pause(&shutdown, &mut backoff).await;
            }
        }
    }
    release_lease(&ctx, bot_id, &instance).await;
    tracing::info!(bot = %bot_id, "poller stopped");
}

async fn pause(shutdown: &CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}
