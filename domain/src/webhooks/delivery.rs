//! Sending the webhook outbox, at least once, from any number of workers.
//!
//! - A sender *claims* a due row (`pending`, `next_attempt_at <= now`, its tenant active and
//!   its endpoint enabled) by a conditional update — compare-and-set on `attempts` — that
//!   also moves `next_attempt_at` out by a lease ([`LEASE_SECS`]) and names the claimer, so
//!   of several workers exactly one sends it; a worker that dies mid-send leaves it to be
//!   taken again as soon as it is dead by the heartbeat rule (`crate::claims`), or when the
//!   lease ends. Results are written only while the claim is still ours.
//! - The request is signed as the Standard Webhooks specification says: `webhook-id` (the
//!   event id), `webhook-timestamp` (Unix seconds), `webhook-signature: v1,<base64
//!   HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the base64-decoded part of the
//!   endpoint's `whsec_` secret. No redirects are followed; a receiver gets [`TIMEOUT_SECS`].
//! - A 2xx delivers it. Anything else is retried with exponential backoff and jitter
//!   (`WEBHOOK_RETRY_BASE_SECS`, doubling to 1 h) until 24 h after the event; then the
//!   delivery is `failed`, the endpoint marked failing (`failing_since`) and the workspace's
//!   linked owner Telegram accounts told, once per failing spell.
//! - A suspended tenant's rows are not claimed: held, sent after unsuspension.
//! - One tenant never stalls another. At most [`fairness::IN_FLIGHT_PER_ENDPOINT`] attempts per
//!   endpoint are in flight across all workers (claims for an endpoint serialise on its row;
//!   PostgreSQL locks it, SQLite serialises every write), and each pass gives every endpoint
//!   with due work one turn, the longest-waiting first (round robin). A worker sends each
//!   claimed attempt in a task of its own ([`dispatch_due`]) and claims again on its next
//!   tick without waiting for slow receivers: a receiver that never answers holds its
//!   endpoint's two slots for the timeout, nothing else. An endpoint whose last
//!   [`fairness::COOLDOWN_AFTER`] attempts all got no answer is cooled down (a minute, doubling to 15)
//!   and gets no attempt meanwhile; any answer ends the cooldown count. Manual retries are
//!   rate-limited per workspace (`webhooks::retry`).
use std::time::Instant;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use rand::Rng;
use std::sync::Arc;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::Semaphore;
use uuid::Uuid;

use entity::{
    bot, webhook_attempt, webhook_delivery, webhook_delivery::DeliveryStatus, webhook_endpoint,
};

use super::{
    fairness::{self, claim_due, work_left},
    guard,
};
use crate::{
    AppCtx, bots,
    error::{Error, Result},
    i18n,
    telegram::{self, crypto},
};

/// A receiver is cut off after this long.
pub const TIMEOUT_SECS: u64 = 10;
/// How long a claim keeps other workers off a row (≫ a round at the timeout).
pub const LEASE_SECS: i64 = 120;
pub const BACKOFF_MAX_SECS: i64 = 3600;
/// Rows claimed per round at most.
pub const ROUND: usize = 32;
/// Attempts one worker process has in flight at most.
pub const IN_FLIGHT_PER_PROCESS: usize = 128;

/// Bytes of the receiver's answer kept in the log.
pub const EXCERPT_BYTES: usize = 1024;

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliverReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` keyed with the decoded secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(Error::internal)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(Error::internal)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Delay before the next attempt after `attempts` failed ones: base · 2^(n-1), at most 1 h,
/// with jitter (75–100 %) so a recovering receiver is not hit by every retry at once.
pub fn backoff(base_secs: u64, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let full = (i64::try_from(base_secs).unwrap_or(BACKOFF_MAX_SECS) << exp).min(BACKOFF_MAX_SECS);
    let ms = full * 1000;
    let jittered = ms - rand::rng().random_range(0..=ms / 4);
    Duration::milliseconds(jittered)
}

/// The process's HTTP client for receivers (one per `WEBHOOK_ALLOW_PRIVATE` setting, so its
/// connections are reused): guarded resolver, no redirects, the receiver timeout, and no
/// proxy whatever the environment says (a proxy would resolve the host itself, around the
/// guard).
fn client(allow_private: bool) -> Result<reqwest::Client> {
    static CLIENTS: [std::sync::OnceLock<reqwest::Client>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let cell = &CLIENTS[usize::from(allow_private)];
    if let Some(c) = cell.get() {
        return Ok(c.clone());
    }
    let built = build_client(allow_private)?;
    Ok(cell.get_or_init(|| built).clone())
}

fn build_client(allow_private: bool) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(guard::GuardedResolver {
            allow_private,
        }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(TIMEOUT_SECS))
        .connect_timeout(std::time::Duration::from_secs(TIMEOUT_SECS))
        .user_agent("Gatehouse-Webhooks/1")
        .build()
        .map_err(Error::internal)
}

/// Claims due deliveries while this process has room in `slots`, and sends each in a task
/// of its own holding a slot until its result is written. Returns how many it claimed (a
/// full [`ROUND`]: call again at once, more may be due). The worker calls it every tick.
pub async fn dispatch_due(ctx: &AppCtx, slots: &Arc<Semaphore>) -> Result<usize> {
    let room = slots.available_permits().min(ROUND);
    if room == 0 {
        return Ok(0);
    }
    let claimed = claim_due(ctx, room).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    crate::faults::reach(crate::faults::AFTER_WEBHOOK_CLAIM).await?;
    let http = client(ctx.config.webhook_allow_private)?;
    let n = claimed.len();
    for (d, claim) in claimed {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        let (ctx, http) = (ctx.clone(), http.clone());
        tokio::spawn(async move {
            let sent = send(&ctx, &http, &d).await;
            if let Err(e) = settle(&ctx, &d, claim, sent).await {
                tracing::warn!(delivery = %d.id, error = %e, "webhook result not written");
            }
            drop(permit);
        });
    }
    Ok(if n == room { ROUND } else { n })
}

/// Sends every due delivery and waits for the answers (a pass for tests and tools; the worker
/// uses [`dispatch_due`]). While other senders hold an endpoint's slots it waits for them,
/// so it returns when nothing is due or in flight. Safe from any number of processes at once.
pub async fn deliver_due(ctx: &AppCtx) -> Result<DeliverReport> {
    let mut report = DeliverReport::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4 * TIMEOUT_SECS);
    loop {
        let claimed = claim_due(ctx, ROUND).await?;
        if claimed.is_empty() {
            if !work_left(ctx).await? || std::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        report.claimed += claimed.len();
        crate::faults::reach(crate::faults::AFTER_WEBHOOK_CLAIM).await?;
        let http = client(ctx.config.webhook_allow_private)?;
        let http = &http;
        let outcomes: Vec<Result<Outcome>> = futures::stream::iter(claimed)
            .map(|(d, claim)| async move {
                let sent = send(ctx, http, &d).await;
                settle(ctx, &d, claim, sent).await
            })
            .buffer_unordered(ROUND)
            .collect()
            .await;
        for o in outcomes {
            match o? {
                Outcome::Delivered => report.delivered += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Lost => {}
            }
        }
    }
    Ok(report)
}

/// What the receiver did with one attempt.
struct Sent {
    /// No answer within [`TIMEOUT_SECS`] (as opposed to a refused connection or an error).
    timed_out: bool,
    status: Option<u16>,
    latency_ms: i32,
    excerpt: Option<String>,
    error: Option<String>,
}

impl Sent {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

async fn send(ctx: &AppCtx, http: &reqwest::Client, d: &webhook_delivery::Model) -> Sent {
    let started = Instant::now();
    let failed = |e: String| Sent {
        timed_out: false,
        status: None,
        latency_ms: elapsed_ms(started),
        excerpt: None,
        error: Some(e),
    };
    let Ok(Some(e)) = webhook_endpoint::Entity::find_by_id(d.endpoint_id)
        .one(&ctx.db)
        .await
    else {
        return failed("endpoint not found".into());
    };
    // The URL is checked again: the setting may have changed since it was saved.
    let url = match guard::check_url(&e.url, ctx.config.webhook_allow_private) {
        Ok(u) => u,
        Err(err) => return failed(err.message.clone()),
    };
    let secret = match crypto::decrypt(&ctx.keys.at_rest, e.id, &e.secret_encrypted) {
        Ok(s) => s,
        Err(_) => return failed("the signing secret cannot be read".into()),
    };
    let ts = ctx.now().timestamp();
    let signature = match sign(&secret, &d.event_id, ts, &d.payload) {
        Ok(s) => s,
        Err(_) => return failed("signing failed".into()),
    };
    let res = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match res {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let mut body: Vec<u8> = Vec::new();
            // Only the start of the answer is kept; the rest is not waited for.
            while body.len() < EXCERPT_BYTES {
                match r.chunk().await {
                    Ok(Some(c)) => body.extend_from_slice(&c),
                    _ => break,
                }
            }
            body.truncate(EXCERPT_BYTES);
            let excerpt = String::from_utf8_lossy(&body).into_owned();
            Sent {
                timed_out: false,
                status: Some(status),
                latency_ms: elapsed_ms(started),
                excerpt: (!excerpt.is_empty()).then_some(excerpt),
                error: None,
            }
        }
        Err(err) if err.is_timeout() => Sent {
            timed_out: true,
            ..failed(format!("no answer within {TIMEOUT_SECS} s"))
        },
        Err(err) => failed(if err.is_connect() {
            "could not connect (or the host resolves to no public address)".into()
        } else {
            "the request failed".into()
        }),
    }
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

enum Outcome {
    Delivered,
    Retrying,
    Failed,
    /// Someone else's claim replaced ours (a manual retry, or a lease that ran out).
    Lost,
}

async fn settle(
    ctx: &AppCtx,
    d: &webhook_delivery::Model,
    claim: i32,
    sent: Sent,
) -> Result<Outcome> {
    let now = ctx.now();
    webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(d.tenant_id),
        endpoint_id: Set(d.endpoint_id),
        delivery_id: Set(d.id),
        attempt: Set(claim),
        status_code: Set(sent.status.map(i32::from)),
        latency_ms: Set(sent.latency_ms),
        response_excerpt: Set(sent.excerpt.clone()),
        error: Set(sent.error.clone()),
        at: Set(now),
    }
    .insert(&ctx.db)
    .await?;
    let error = sent
        .error
        .clone()
        .or_else(|| sent.status.map(|s| format!("answered HTTP {s}")));
    let (status, next, outcome) = if sent.ok() {
        (DeliveryStatus::Delivered, now, Outcome::Delivered)
    } else if now >= d.retry_until {
        (DeliveryStatus::Failed, now, Outcome::Failed)
    } else {
        let next = (now + backoff(ctx.config.webhook_retry_base_secs, claim)).min(d.retry_until);
        (DeliveryStatus::Pending, next, Outcome::Retrying)
    };
    let mut up = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(status))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            webhook_delivery::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            webhook_delivery::Column::LastStatusCode,
            Expr::value(sent.status.map(i32::from)),
        )
        .col_expr(
            webhook_delivery::Column::LastLatencyMs,
            Expr::value(Some(sent.latency_ms)),
        )
        .col_expr(
            webhook_delivery::Column::LastError,
            Expr::value(if sent.ok() { None } else { error }),
        );
    if sent.ok() {
        up = up.col_expr(
            webhook_delivery::Column::DeliveredAt,
            Expr::value(Some(now)),
        );
    }
    let ours = up
        .filter(webhook_delivery::Column::Id.eq(d.id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(webhook_delivery::Column::Attempts.eq(claim))
        .exec(&ctx.db)
        .await?
        .rows_affected
        == 1;
    if !ours {
        return Ok(Outcome::Lost);
    }
    fairness::cool_down_or_not(
        ctx,
        d.endpoint_id,
        sent.status.is_none() && sent.timed_out,
        now,
    )
    .await?;
    match outcome {
        Outcome::Delivered => {
            webhook_endpoint::Entity::update_many()
                .col_expr(
                    webhook_endpoint::Column::FailingSince,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(webhook_endpoint::Column::Id.eq(d.endpoint_id))
                .filter(webhook_endpoint::Column::FailingSince.is_not_null())
                .exec(&ctx.db)
                .await?;
        }
        Outcome::Failed => mark_failing(ctx, d.tenant_id, d.endpoint_id, now).await?,
        Outcome::Retrying | Outcome::Lost => {}
    }
    Ok(outcome)
}

/// Marks the endpoint failing; the first to do so tells the workspace's linked owners.
async fn mark_failing(
    ctx: &AppCtx,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let first = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            Expr::value(Some(now)),
        )
        .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
        .filter(webhook_endpoint::Column::FailingSince.is_null())
        .exec(&ctx.db)
        .await?
        .rows_affected
        == 1;
    if !first {
        return Ok(());
    }
    let Some(e) = webhook_endpoint::Entity::find_by_id(endpoint_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    tracing::warn!(endpoint = %endpoint_id, "webhook endpoint failing: retries ran out");
    for b in bot::Entity::find()
        .filter(bot::Column::TenantId.eq(tenant_id))
        .all(&ctx.db)
        .await?
    {
        for chat in bots::owner_chat_ids(ctx, b.project_id).await? {
            // An owner's private chat id is their user id: their own language.
            let lang = i18n::stored(ctx, b.project_id, chat).await?;
            let text = i18n::tr(lang, "webhook-failing", &[("url", e.url.as_str().into())]);
            if let Err(err) = telegram::send_message(ctx, b.id, chat, &text, None).await {
                tracing::warn!(error = %err, "failing-endpoint notice not delivered");
            }
        }
    }
    Ok(())
}
