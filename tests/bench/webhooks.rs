//! Webhook throughput benchmark (a harness that prints figures, not a test).
//!
//! Starts the real app (PostgreSQL + Redis, webhook mode) beside the fake Bot API, connects
//! `BENCH_BOTS` bots (default 10,000; rows written directly, since connecting them one by one
//! through the API would measure setup, not routing), then posts `BENCH_UPDATES` no-op updates
//! (default 200,000; an `edited_message`, which the bot ignores) to `POST /tg/{bot_id}` from
//! `BENCH_CONCURRENCY` (default 64) keep-alive clients, round-robin over the bots. Each
//! update goes through the whole path: bot lookup, constant-time secret check, parse, Redis
//! de-duplication. Prints updates/s, p50/p90/p99/max latency (as the client saw it) and the
//! resident memory each connected bot adds once its client is cached.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-webhooks`
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use gatehouse_tests::{Backend, TestApp};
use sea_orm::{EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

struct Target {
    id: Uuid,
    telegram_id: i64,
    secret: String,
}

async fn post_all(
    app: &TestApp,
    client: &reqwest::Client,
    bots: &[Target],
    count: usize,
    concurrency: usize,
    next_update: &AtomicU64,
    seen: &std::sync::Mutex<Vec<(i64, u64)>>,
) -> Vec<Duration> {
    futures::stream::iter(0..count)
        .map(|i| {
            let b = &bots[i % bots.len()];
            let update_id = next_update.fetch_add(1, Ordering::Relaxed);
            seen.lock().unwrap().push((b.telegram_id, update_id));
            let body = json!({
                "update_id": update_id,
                "edited_message": {
                    "message_id": 1, "date": 1_763_700_000,
                    "chat": {"id": 42, "type": "private", "first_name": "Ann"},
                    "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
                    "text": "edited",
                }
            })
            .to_string();
            let url = app.url(&format!("/tg/{}", b.id));
            async move {
                let t = Instant::now();
                let status = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-telegram-bot-api-secret-token", &b.secret)
                    .body(body)
                    .send()
                    .await
                    .expect("post")
                    .status();
                assert_eq!(status, reqwest::StatusCode::OK);
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Update ids wrk sends start here (far above the in-process client's).
const WRK_FIRST_UPDATE: u64 = 9_000_000_000;

struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// wrk's "1.23ms" / "870.00us" / "1.02s" as milliseconds.
fn wrk_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

/// Ten seconds of wrk (one thread, `concurrency` connections) posting no-op updates with
/// `webhooks.lua` to `base`; None when wrk is not installed. Panics on any answer but 200.
fn wrk_run(base: &str, bots: &[Target], concurrency: usize) -> Option<WrkRun> {
    let dir = std::env::temp_dir().join(format!("bench-webhooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let list = dir.join("bots.txt");
    let lines: String = bots
        .iter()
        .map(|b| format!("{} {}\n", b.id, b.secret))
        .collect();
    std::fs::write(&list, lines).ok()?;
    let script = dir.join("webhooks.lua");
    std::fs::write(&script, include_str!("webhooks.lua")).ok()?;
    let out = std::process::Command::new("wrk")
        .args(["-t1", "-d10s", "--latency"])
        .args(["-c", &concurrency.to_string()])
        .arg("-s")
        .arg(&script)
        .arg(base)
        .arg("--")
        .arg(&list)
        .arg(WRK_FIRST_UPDATE.to_string())
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "every wrk update must be answered 200: {text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
    };
    Some(WrkRun {
        rps: field("Requests/sec:")?.parse().ok()?,
        p50_ms: wrk_ms(&field("50%")?)?,
        p99_ms: wrk_ms(&field("99%")?)?,
    })
}

/// The product's listener settings (TCP_NODELAY) serving `app`; returns its base URL.
async fn serve(app: axum::Router) -> String {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener.tap_io(|tcp| _ = tcp.set_nodelay(true)), app).await;
    });
    base
}

/// `POST /tg/{bot_id}` that reads the body and answers 200, after one `SET key 1 NX EX 60`
/// when given Redis (keys under `gh:bench:floor:`, gone in a minute).
fn floor_router(redis: Option<redis::aio::ConnectionManager>) -> axum::Router {
    use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
    type Floor = (Option<redis::aio::ConnectionManager>, Arc<AtomicU64>);
    async fn handle(State((redis, n)): State<Floor>, body: Bytes) -> StatusCode {
        std::hint::black_box(&body);
        if let Some(mut r) = redis {
            let key = format!("gh:bench:floor:{}", n.fetch_add(1, Ordering::Relaxed));
            let set: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(60)
                .query_async(&mut r)
                .await
                .expect("SET");
            assert!(set.is_some());
        }
        StatusCode::OK
    }
    let state: Floor = (redis, Arc::new(AtomicU64::new(0)));
    Router::new()
        .route("/tg/{bot_id}", post(handle))
        .with_state(state)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let n_bots = env("BENCH_BOTS", 10_000);
    let n_updates = env("BENCH_UPDATES", 200_000);
    let concurrency = env("BENCH_CONCURRENCY", 64);
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let creator = app.signup().await;
    let now = app.ctx.now();

    println!("setting up {n_bots} connected bots…");
    let mut bots = Vec::with_capacity(n_bots);
    for chunk in (0..n_bots).collect::<Vec<_>>().chunks(1000) {
        let mut projects = Vec::new();
        let mut rows = Vec::new();
        for _ in chunk {
            let fb = tg.add_bot();
            let (pid, bid) = (Uuid::now_v7(), Uuid::now_v7());
            let secret = format!("bench{}", Uuid::new_v4().simple());
            projects.push(entity::project::ActiveModel {
                id: Set(pid),
                tenant_id: Set(creator.tenant_id),
                name: Set(format!("Bench {bid}")),
                welcome_message: Set("Welcome".into()),
                contact_text: Set(String::new()),
                access_codes_enabled: Set(true),
                codes_priced: Set(false),
                stars_enabled: Set(false),
                unused_code_ttl_days: Set(None),
                expired_code_retention_days: Set(30),
                default_language: Set("en".into()),
                welcome_texts: Set("{}".into()),
                trial_promo_id: Set(None),
                retention_promo_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
            rows.push(entity::bot::ActiveModel {
                id: Set(bid),
                tenant_id: Set(creator.tenant_id),
                project_id: Set(pid),
                telegram_bot_id: Set(fb.id),
                username: Set(fb.username.clone()),
                token_encrypted: Set(domain::telegram::crypto::encrypt(
                    &app.ctx.keys.at_rest,
                    bid,
                    &fb.token,
                )
                .unwrap()),
                webhook_secret: Set(secret.clone()),
                mode: Set("webhook".into()),
                created_at: Set(now),
            });
            bots.push(Target {
                id: bid,
                telegram_id: fb.id,
                secret,
            });
        }
        entity::project::Entity::insert_many(projects)
            .exec(&app.ctx.db)
            .await
            .unwrap();
        entity::bot::Entity::insert_many(rows)
            .exec(&app.ctx.db)
            .await
            .unwrap();
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next_update = Arc::new(AtomicU64::new(1));
    // Every de-duplication key the run writes, so they can be removed from Redis at the end.
    let seen = std::sync::Mutex::new(Vec::with_capacity(n_updates + n_bots + 5_000));
    // Warm connections, pools and allocator with one bot before measuring memory.
    post_all(
        &app,
        &client,
        &bots[..1],
        5_000,
        concurrency,
        &next_update,
        &seen,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss();
    let cached_before = domain::telegram::registry::cached();
    // One update per bot: every bot's client gets built and cached.
    post_all(
        &app,
        &client,
        &bots,
        n_bots,
        concurrency,
        &next_update,
        &seen,
    )
    .await;
    let rss_after = rss();
    let cached = domain::telegram::registry::cached() - cached_before;
    let per_bot = (rss_after.saturating_sub(rss_before)) as f64 / cached.max(1) as f64;

    println!(
        "measuring {n_updates} no-op updates over {n_bots} bots, {concurrency} concurrent clients…"
    );
    let started = Instant::now();
    let mut lat = post_all(
        &app,
        &client,
        &bots,
        n_updates,
        concurrency,
        &next_update,
        &seen,
    )
    .await;
    let elapsed = started.elapsed();
    lat.sort_unstable();
    println!();
    println!("bots connected (cached clients): {cached}");
    println!(
        "updates:        {n_updates} in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "throughput:     {:.0} updates/s",
        n_updates as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency:        p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
        pct(&lat, 0.50).as_secs_f64() * 1e3,
        pct(&lat, 0.90).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "memory:         {:.0} bytes RSS per connected bot ({:.1} MiB for {cached})",
        per_bot,
        (rss_after.saturating_sub(rss_before)) as f64 / (1024.0 * 1024.0)
    );
    println!(
        "goals:          ≥ 10,000 updates/s: {} · p99 ≤ 5 ms: {} · ≤ 4 KiB per idle bot: {}",
        n_updates as f64 / elapsed.as_secs_f64() >= 10_000.0,
        pct(&lat, 0.99) <= Duration::from_millis(5),
        per_bot <= 4096.0
    );
    // The same updates from a client in another process (wrk, a C load generator like
    // redis-benchmark itself), so the figure is the server's alone, not the server's plus a
    // Rust HTTP client sharing its two cores.
    let ours = n_updates as f64 / elapsed.as_secs_f64();
    let wrk = wrk_run(&app.url(""), &bots, concurrency);
    // What any HTTP server in front of Redis costs on this machine, measured with the same
    // wrk script and the same listener settings: a handler that only reads the body, and one
    // that also does the update's one Redis round trip (SET NX EX on the app's own
    // connection). The product's figure against these two says how much of the gap to SET is
    // our handler and how much is HTTP itself.
    let floors = if wrk.is_some() {
        let redis = app.ctx.redis.clone().expect("bench runs with Redis");
        let bare = serve(floor_router(None)).await;
        let with_redis = serve(floor_router(Some(redis))).await;
        // The product's webhook route without the app's layers (request metrics, trace
        // span, panic catching): the same handler, so the difference is the layers' cost.
        let unlayered = serve(bot_router::router(app.ctx.clone())).await;
        Some((
            wrk_run(&bare, &bots, concurrency).expect("wrk ran before"),
            wrk_run(&with_redis, &bots, concurrency).expect("wrk ran before"),
            wrk_run(&unlayered, &bots, concurrency).expect("wrk ran before"),
        ))
    } else {
        None
    };
    // The floor: each update costs one Redis round trip (the de-duplication SET NX), so the
    // same run's redis-benchmark SET at the same concurrency is the figure to compare with.
    let set = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "-t",
            "set",
            "-n",
            "200000",
            "-q",
        ])
        .args(["-c", &concurrency.to_string()])
        .output();
    let rps = match set {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            text.split_whitespace()
                .find_map(|w| w.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        }
        _ => {
            println!(
                "baseline:       redis-benchmark NOT FOUND (apt-get install redis-tools): no ratio"
            );
            f64::NAN
        }
    };
    println!(
        "baseline:       redis-benchmark -t set -c {concurrency}, same run: {rps:.0} req/s (goal: updates ≥ 0.6× of it)"
    );
    println!(
        "ratio:          client in this process: {ours:.0} updates/s = {:.2}× SET",
        ours / rps
    );
    match &wrk {
        Some(w) => println!(
            "ratio:          client in another process (wrk -t1 -c {concurrency}): {:.0} updates/s = {:.2}× SET; p50 {:.2} ms, p99 {:.2} ms",
            w.rps,
            w.rps / rps,
            w.p50_ms,
            w.p99_ms
        ),
        None => println!(
            "ratio:          wrk NOT FOUND (apt-get install wrk): no figure with the client in another process"
        ),
    }
    if let (Some(w), Some((bare, with_redis, unlayered))) = (&wrk, &floors) {
        println!(
            "floor:          axum, body read, no Redis (wrk -t1 -c {concurrency}): {:.0} req/s = {:.2}× SET; p50 {:.2} ms, p99 {:.2} ms",
            bare.rps,
            bare.rps / rps,
            bare.p50_ms,
            bare.p99_ms
        );
        println!(
            "floor:          axum + one SET NX EX (wrk -t1 -c {concurrency}): {:.0} req/s = {:.2}× SET; p50 {:.2} ms, p99 {:.2} ms",
            with_redis.rps,
            with_redis.rps / rps,
            with_redis.p50_ms,
            with_redis.p99_ms
        );
        println!(
            "floor:          the webhook route without the app's layers (wrk -t1 -c {concurrency}): {:.0} updates/s = {:.2}× SET; p50 {:.2} ms, p99 {:.2} ms",
            unlayered.rps,
            unlayered.rps / rps,
            unlayered.p50_ms,
            unlayered.p99_ms
        );
        println!(
            "split:          webhook = {:.2}× its route without layers = {:.2}× the HTTP+SET floor; HTTP+SET floor = {:.2}× bare HTTP",
            w.rps / unlayered.rps,
            w.rps / with_redis.rps,
            with_redis.rps / bare.rps
        );
    }
    let mut redis = app.ctx.redis.clone().expect("bench runs with Redis");
    if wrk.is_some() {
        // wrk's updates (ids from WRK_FIRST_UPDATE) leave keys too: remove them.
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("gh:tg:seen:*")
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut redis)
                .await
                .expect("scanning");
            let ours: Vec<&String> = keys
                .iter()
                .filter(|k| {
                    k.rsplit(':')
                        .next()
                        .and_then(|u| u.parse::<u64>().ok())
                        .is_some_and(|u| u >= WRK_FIRST_UPDATE)
                })
                .collect();
            if !ours.is_empty() {
                let _: i64 = redis::cmd("DEL")
                    .arg(&ours)
                    .query_async(&mut redis)
                    .await
                    .expect("cleaning up");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    assert!(
        tg.calls()
            .iter()
            .all(|c| c.method == "getme" || c.method == "setwebhook"),
        "no-op updates must not reach Telegram"
    );
    // Leave the shared Redis as it was (the keys would otherwise live for 24 hours).
    let keys: Vec<String> = seen
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|(tg_id, update)| format!("gh:tg:seen:{tg_id}:{update}"))
        .collect();
    let mut removed = 0;
    for chunk in keys.chunks(5_000) {
        let n: i64 = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut redis)
            .await
            .expect("cleaning up");
        removed += n;
    }
    assert_eq!(
        removed as usize,
        keys.len(),
        "every update left one de-duplication key"
    );
}
