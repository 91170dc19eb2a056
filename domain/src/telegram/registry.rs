//! The per-process cache of connected bots: one teloxide `Bot` per bot, all sharing one
//! reqwest client, built on first use and reused for every update and message after that.
//!
//! The cache is only a cache: the database is the truth. An entry is dropped at once when
//! this process disconnects or reconnects the bot ([`changed`]); with Redis, the change is
//! also published on [`INVALIDATIONS`] and every other process drops its entry as soon as
//! the message arrives ([`listen`], milliseconds). Without Redis (one node), or if a message
//! is missed while a listener reconnects, entries are re-read after [`REVALIDATE_AFTER`].
use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dashmap::DashMap;
use sea_orm::EntityTrait;
use teloxide::Bot;
use uuid::Uuid;

use entity::bot;

use crate::{AppCtx, error::Result, telegram::crypto};

/// How long a cached bot is trusted before it is re-read from the database.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(60);

/// A connected bot as the router and the sender need it. The token lives only inside `bot`.
pub struct BotHandle {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub telegram_bot_id: i64,
    pub username: String,
    pub webhook_secret: String,
    pub mode: String,
    pub bot: Bot,
    pub(crate) pace: Mutex<super::sender::Pace>,
    loaded_at: Instant,
}

impl std::fmt::Debug for BotHandle {
    // Hand-written so the token inside `bot` can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotHandle")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

static CACHE: LazyLock<DashMap<Uuid, Arc<BotHandle>>> = LazyLock::new(DashMap::new);
/// Bot ids recently asked for and not found, with when: a flood of updates for ids that are
/// no bot (a scanner, a bot deleted long ago that Telegram still calls) is answered without
/// a database read each. Short-lived, bounded, and dropped for an id as soon as a bot with
/// it is connected ([`changed`] evicts it on every process).
static MISSING: LazyLock<DashMap<Uuid, Instant>> = LazyLock::new(DashMap::new);
/// How long "no such bot" is believed.
pub const FORGET_UNKNOWN_AFTER: Duration = Duration::from_secs(5);
/// Unknown ids remembered at most; past it the list starts again.
const MISSING_AT_MOST: usize = 10_000;
/// Moves on every eviction: a row read before an eviction is used but not cached, so a
/// read that raced a change never puts the older bot back (as `facts` does).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The one HTTP client every bot of this process talks to Telegram through.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    teloxide::net::default_reqwest_settings()
        // Long polling holds a request for up to `POLL_TIMEOUT`; leave room above it.
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(64)
        .build()
        .expect("building the Telegram HTTP client")
});

/// A teloxide client for `token` on the shared connection pool.
pub fn client_for(ctx: &AppCtx, token: &str) -> Result<Bot> {
    let url = reqwest::Url::parse(&ctx.config.telegram_api_url)
        .map_err(|e| crate::Error::internal(anyhow::anyhow!("TELEGRAM_API_URL: {e}")))?;
    Ok(Bot::with_client(token, CLIENT.clone()).set_api_url(url))
}

fn build(ctx: &AppCtx, row: bot::Model) -> Result<Arc<BotHandle>> {
    let token = crypto::decrypt(&ctx.keys.at_rest, row.id, &row.token_encrypted)?;
    Ok(Arc::new(BotHandle {
        id: row.id,
        tenant_id: row.tenant_id,
        project_id: row.project_id,
        telegram_bot_id: row.telegram_bot_id,
        username: row.username,
        webhook_secret: row.webhook_secret,
        mode: row.mode,
        bot: client_for(ctx, &token)?,
        pace: Mutex::new(super::sender::Pace::default()),
        loaded_at: Instant::now(),
    }))
}

/// The connected bot `id`, from the cache or the database; `None` when no such bot exists.
pub async fn get(ctx: &AppCtx, id: Uuid) -> Result<Option<Arc<BotHandle>>> {
    if let Some(h) = CACHE.get(&id)
        && h.loaded_at.elapsed() < REVALIDATE_AFTER
    {
        return Ok(Some(h.clone()));
    }
    if MISSING
        .get(&id)
        .is_some_and(|at| at.elapsed() < FORGET_UNKNOWN_AFTER)
    {
        return Ok(None);
    }
    let generation = GENERATION.load(Ordering::SeqCst);
    let Some(row) = bot::Entity::find_by_id(id).one(&ctx.db).await? else {
        CACHE.remove(&id);
        if GENERATION.load(Ordering::SeqCst) == generation {
            if MISSING.len() >= MISSING_AT_MOST {
                MISSING.clear();
            }
            MISSING.insert(id, Instant::now());
        }
        return Ok(None);
    };
    let fresh = build(ctx, row)?;
    // Keep the pacing state of the entry being replaced, so a refresh cannot reset limits.
    if let Some(old) = CACHE.get(&id) {
        let carried = old.pace.lock().map(|p| p.clone()).unwrap_or_default();
        *fresh.pace.lock().expect("fresh lock") = carried;
    }
    if GENERATION.load(Ordering::SeqCst) != generation {
        return Ok(Some(fresh));
    }
    CACHE.insert(id, fresh.clone());
    Ok(Some(fresh))
}

/// Other per-process caches evicted with this one (by id; `None`: everything), so their
/// rows share this cache's invalidation (`facts` registers itself; this module stays a leaf).
/// Evicts by id (`None`: everything).
type EvictHook = fn(Option<Uuid>);

static ALSO_EVICT: Mutex<Vec<EvictHook>> = Mutex::new(Vec::new());

/// Registers another cache to be evicted whenever this one is (by id or as a whole).
pub fn also_evict(f: EvictHook) {
    ALSO_EVICT.lock().expect("hooks lock").push(f);
}

fn evict_others(id: Option<Uuid>) {
    let hooks = ALSO_EVICT.lock().expect("hooks lock").clone();
    for f in hooks {
        f(id);
    }
}

/// Forgets a bot this process changed or removed, and whatever the registered caches hold
/// under the same id (see [`also_evict`]).
pub fn evict(id: Uuid) {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    CACHE.remove(&id);
    MISSING.remove(&id);
    evict_others(Some(id));
}

/// The Redis channel bot changes are announced on (the message is the bot id).
pub const INVALIDATIONS: &str = "gatehouse:bots:changed";

/// A bot was connected, reconnected or disconnected — or a row another per-process cache
/// holds (a tenant, project or plan in `facts`) changed (`id` is then that row's id): this process forgets
/// it at once, and every other process is told through Redis (best effort; the revalidation
/// catches up). Call it after the change is committed.
pub async fn changed(ctx: &AppCtx, id: Uuid) {
    evict(id);
    if crate::faults::hit(crate::faults::ANNOUNCEMENT).is_err() {
        tracing::warn!(id = %id, "injected fault: the change is not announced");
        return;
    }
    if let Some(redis) = &ctx.redis {
        let mut conn = redis.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(INVALIDATIONS)
            .arg(id.to_string())
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(bot = %id, error = %e, "could not announce a bot change");
        }
    }
}

/// Drops cached bots as other processes announce changes, until `shutdown`. Without Redis
/// there is nothing to listen to. After a lost connection the whole cache is dropped (a
/// message may have been missed) and the subscription is made again.
pub async fn listen(ctx: AppCtx, shutdown: tokio_util::sync::CancellationToken) {
    use futures::StreamExt;
    let Some(url) = ctx.config.redis_url.clone() else {
        return;
    };
    loop {
        let subscribed = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(INVALIDATIONS).await?;
            redis::RedisResult::Ok(pubsub)
        }
        .await;
        match subscribed {
            Ok(mut pubsub) => {
                GENERATION.fetch_add(1, Ordering::SeqCst);
                CACHE.clear();
                MISSING.clear();
                evict_others(None);
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        m = messages.next() => match m {
                            Some(m) => {
                                if let Ok(id) = m.get_payload::<String>()
                                    && let Ok(id) = id.parse::<Uuid>()
                                {
                                    evict(id);
                                }
                            }
                            None => break,
                        },
                    }
                }
                tracing::warn!("bot change subscription lost; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "could not subscribe to bot changes"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// How many bots this process holds clients for (for metrics and the benchmark).
pub fn cached() -> usize {
    CACHE.len()
}

/// Per-chat next-free instants, kept small by dropping chats whose slot has passed.
pub(crate) fn prune(chats: &mut HashMap<i64, Instant>, now: Instant) {
    if chats.len() > 256 {
        chats.retain(|_, t| *t > now);
    }
}

/// Best-effort `deleteWebhook` for a bot we are letting go of (disconnected, or its project
/// deleted); a revoked token or an unreachable Telegram must not stop the creator.
pub(crate) async fn release_webhook(ctx: &AppCtx, b: &bot::Model) {
    use teloxide::prelude::Requester;
    let res = match crypto::decrypt(&ctx.keys.at_rest, b.id, &b.token_encrypted)
        .and_then(|token| client_for(ctx, &token))
    {
        Ok(client) => client
            .delete_webhook()
            .await
            .map_err(super::sender::telegram_error),
        Err(e) => Err(e),
    };
    if let Err(e) = res {
        tracing::warn!(bot = %b.id, error = %e, "could not remove the webhook of a released bot");
    }
}
