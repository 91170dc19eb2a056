//! Broadcast throughput (a harness that prints figures, not a test).
//!
//! The real app on PostgreSQL + Redis with its worker, one project whose bot talks to the
//! fake Bot API on loopback, and `BENCH_RECIPIENTS` subscribers (default 2,000) written
//! straight to the database. One broadcast to all of them is created with `send: true`;
//! the harness waits until it is `done` and prints the messages per second the fake
//! received (first to last message), beside the bot's budget the sender paces to
//! (1 / `PER_BOT`, about 30 a second), and their ratio. Also: POST → done, and the time to
//! write the recipients (the POST itself). `BENCH_RTT_MS` (default 100) makes the fake answer
//! each `sendMessage` that long after it arrives, as Telegram's real round trip would (a
//! fake on loopback answers in a millisecond, which hides how many messages must be in
//! flight to fill the budget); `BENCH_RTT_MS=0` measures against the bare fake.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-broadcast`
use std::time::{Duration, Instant};

use domain::telegram::sender::PER_BOT;
use gatehouse_tests::{Backend, factories::BotProject};
use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let n: i64 = std::env::var("BENCH_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let rtt: u64 = std::env::var("BENCH_RTT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .build()
        .await;
    if rtt > 0 {
        s.tg.delay("sendMessage", Duration::from_millis(rtt));
    }
    let pid = Uuid::parse_str(&s.pid).unwrap();
    let now = chrono::Utc::now();
    let users: Vec<i64> = (0..n).map(|i| 5_000_000 + i).collect();
    for chunk in users.chunks(1_000) {
        entity::subscriber::Entity::insert_many(chunk.iter().map(|u| {
            entity::subscriber::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(s.c.tenant_id),
                project_id: Set(pid),
                telegram_user_id: Set(*u),
                username: Set(None),
                first_name: Set("Ann".into()),
                created_at: Set(now),
                blocked_at: Set(None),
                language_code: Set(None),
            }
        }))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    }

    let text = "Benchmark broadcast";
    let posted = Instant::now();
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/broadcasts", s.pid),
            Some(json!({"text": text, "segment": {"kind": "all"}, "send": true})),
        )
        .await;
    let created = posted.elapsed();
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["recipients"], n, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(n as u64 / 5 + 60);
    let done = loop {
        let (_, b) = s
            .app
            .as_creator(
                &s.c,
                Method::GET,
                &format!("/api/v1/projects/{}/broadcasts/{id}", s.pid),
                None,
            )
            .await;
        if b["status"] == "done" {
            break b;
        }
        assert!(Instant::now() < deadline, "not done in time: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let total = posted.elapsed();
    let arrivals: Vec<Instant> =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["text"] == text)
            .map(|c| c.at)
            .collect();
    assert_eq!(arrivals.len() as i64, n, "each recipient once");
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    let span = last.duration_since(first).as_secs_f64();
    let rate = (n - 1) as f64 / span;
    let budget = 1.0 / PER_BOT.as_secs_f64();
    println!(
        "recipients: {n} (sent {}, POST wrote them in {created:.2?}); fake round trip {rtt} ms; {} in flight per job",
        done["progress"]["sent"],
        domain::broadcasts::IN_FLIGHT
    );
    println!(
        "messages: {rate:.1}/s first to last ({span:.2} s); budget 1/PER_BOT = {budget:.1}/s; ratio {:.2}×",
        rate / budget
    );
    println!(
        "POST → done: {total:.2?} ({:.1} recipients/s)",
        n as f64 / total.as_secs_f64()
    );
}
