//! Redemption throughput benchmark (a harness that prints figures, not a test).
//!
//! The real app on PostgreSQL + Redis in webhook mode beside the fake Bot API on loopback.
//! `BENCH_BOTS` projects (default 200), each with its own bot, a channel and a 30-day plan,
//! and `BENCH_PER_BOT` distinct codes each (default 20) generated through the API and the
//! worker. Then every code is redeemed by a distinct user posting `/start c_<CODE>` to
//! `POST /tg/{bot_id}` from `BENCH_CONCURRENCY` clients (default 64). A redemption is done when
//! the fake receives the bot's "Code accepted" reply; latency is from the POST to that reply.
//! Many bots are used because Telegram allows a bot about 30 calls a second, which the sender
//! respects (each redemption is three Bot API calls: getChatMember, createChatInviteLink,
//! sendMessage). Beside it, `pgbench -N` (simple-update) on the same server, same run.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-redemptions`
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use gatehouse_tests::{
    Backend, TestApp,
    factories::batch,
    telegram::{ConnectedBot, updates},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn pgbench_tps() -> Option<f64> {
    let db = "gatehouse_pgbench";
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qc",
                sql,
            ])
            .output()
    };
    let _ = psql(&format!("DROP DATABASE IF EXISTS {db}"));
    psql(&format!("CREATE DATABASE {db}")).ok()?;
    let init = std::process::Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-i",
            "-s",
            "4",
            "-q",
            db,
        ])
        .output()
        .ok()?;
    if !init.status.success() {
        return None;
    }
    let run = std::process::Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-N",
            "-c",
            "16",
            "-j",
            "2",
            "-T",
            "10",
            db,
        ])
        .output()
        .ok()?;
    let _ = psql(&format!("DROP DATABASE IF EXISTS {db}"));
    let text = String::from_utf8_lossy(&run.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

#[tokio::main]
async fn main() {
    let bots_n = env("BENCH_BOTS", 200);
    let per_bot = env("BENCH_PER_BOT", 20);
    let concurrency = env("BENCH_CONCURRENCY", 64);
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let app = Arc::new(app);
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_annual").await;
    let staff = app.staff(domain::accounts::StaffRole::Staff).await;
    let need = (bots_n * per_bot) as i64;
    if need > 6_500 {
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/api/v1/staff/tenants/{}/quota-grants", c.tenant_id),
                Some(&staff.token),
                Some(json!({"codes": need})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    println!("setting up {bots_n} projects with a bot each and {per_bot} codes per bot …");
    let mut work: Vec<(ConnectedBot, String)> = vec![];
    for i in 0..bots_n {
        let pid = app.create_project(&c).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let ch = app
            .create_channel(&c, &pid, -1_000_000_000_000 - i as i64)
            .await;
        let plan = app
            .create_plan(&c, &pid, json!({"name": "Gold", "price_minor": 0, "currency": "USD", "duration_days": 30, "channel_ids": [ch["id"]]}))
            .await;
        let bot = app.connect_bot(&c, &pid, &tg).await;
        let (s, b) = app
            .post_batch(
                &c,
                &pid,
                batch(plan["id"].as_str().unwrap(), per_bot as i64),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        app.wait_batch(&c, &pid, b["id"].as_str().unwrap()).await;
        for code in app.all_codes(&c, &pid, "").await {
            work.push((bot.clone(), code["code"].as_str().unwrap().to_string()));
        }
    }
    let total = work.len();
    println!("redeeming {total} codes from {concurrency} concurrent clients …");
    let sent: Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Arc::default();
    let start = Instant::now();
    futures::stream::iter(work.into_iter().enumerate())
        .for_each_concurrent(concurrency, |(i, (bot, code))| {
            let (app, sent) = (app.clone(), sent.clone());
            async move {
                let user = 5_000_000 + i as i64;
                sent.lock().unwrap().insert(user, Instant::now());
                let s = app
                    .post_update(
                        &bot,
                        &updates::message(i as i64 + 1, user, &format!("/start c_{code}")),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK);
            }
        })
        .await;
    // Wait until every user has their reply (bounded).
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        let replies: Vec<_> = tg
            .calls()
            .into_iter()
            .filter(|c| {
                c.method == "sendmessage"
                    && c.params["text"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Code accepted")
            })
            .collect();
        if replies.len() >= total || Instant::now() > deadline {
            break replies;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sent = sent.lock().unwrap();
    let mut lat: Vec<f64> = vec![];
    let mut last = start;
    for call in &done {
        if let Some(t0) = call.params["chat_id"].as_i64().and_then(|u| sent.get(&u)) {
            lat.push(call.at.duration_since(*t0).as_secs_f64() * 1000.0);
            last = last.max(call.at);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let secs = last.duration_since(start).as_secs_f64();
    let rate = lat.len() as f64 / secs;
    println!(
        "redemptions end to end through POST /tg/{{bot_id}} (PostgreSQL + Redis, fake Telegram on loopback)"
    );
    println!(
        "  {} of {total} redeemed in {secs:.2} s → {rate:.0} redemptions/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    println!(
        "  goals: ≥ 500/s → {:.2}×; p99 ≤ 50 ms → {:.2}×",
        rate / 500.0,
        pct(&lat, 0.99) / 50.0
    );
    match pgbench_tps() {
        Some(tps) => println!(
            "pgbench -N (simple-update, 16 clients, 10 s) on the same server: {tps:.0} TPS; redemptions/s ÷ TPS = {:.2} (goal ≥ 0.25)",
            rate / tps
        ),
        None => println!("pgbench not available: no ratio"),
    }
}
