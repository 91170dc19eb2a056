//! Redemption benchmark, open loop (a harness that prints figures, not a test).
//!
//! The real app on PostgreSQL + Redis in webhook mode beside the fake Bot API on loopback.
//! `BENCH_BOTS` projects (default 200), each with its own bot, a channel and a 30-day plan,
//! and `BENCH_PER_BOT` distinct codes each (default 40) generated through the API and the
//! worker. Redemptions (a distinct user posting `/start c_<CODE>` to `POST /tg/{bot_id}`)
//! then ARRIVE AT A FIXED RATE, round-robin over the bots, whatever the system is doing (open
//! loop): each arrival is its own task started on schedule. A redemption is done when the
//! fake receives the bot's "Code accepted" reply; latency is from the POST to that reply.
//!
//! Each redemption is two Bot API calls of its bot (createChatInviteLink, sendMessage with
//! the "Join" button); Telegram allows a bot about 30 calls a second, so the harness refuses
//! a rate above 10 redemptions/s per bot (20 calls/s, under the budget).
//!
//! 1. A sweep: rates from `BENCH_RATES` (default 50,100,200,300,400,500,600,800), each for
//!    `BENCH_PHASE_SECS` (default 4) of arrivals; a rate is kept up with when every arrival
//!    was answered within 2 s and the answers came at ≥ 95 % of the offered rate. The
//!    highest such rate is the sustained rate.
//! 2. At 50 % of it, for twice as long: p50/p99 POST → reply, with and without the fake's
//!    own cost (the median time the fake takes to answer one createChatInviteLink plus one
//!    sendMessage, measured alone in the same run, subtracted).
//! 3. `pgbench -N` (simple-update, 16 clients, 10 s) on the same server, same run, and the
//!    ratio sustained rate ÷ TPS.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-redemptions`
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

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

/// CPU time, in clock ticks (USER_HZ, 100 a second on Linux), from `/proc`: of this process
/// (the app, the fake Telegram and the load generator: they share it), of its waited-for
/// children (pgbench), of every process named `name`, and of the whole machine (busy time:
/// everything but idle and iowait).
mod cpu {
    pub const HZ: f64 = 100.0;

    fn stat_fields(text: &str) -> Vec<u64> {
        // After the ")" closing the command name: state, then numeric fields from ppid on.
        text.rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(1)
                    .map(|f| f.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// utime + stime of this process (fields 14 and 15 of `stat`).
    pub fn this_process() -> u64 {
        let f = stat_fields(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
        f.get(10).unwrap_or(&0) + f.get(11).unwrap_or(&0)
    }

    /// cutime + cstime of this process (fields 16 and 17): its children once waited for.
    pub fn children() -> u64 {
        let f = stat_fields(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
        f.get(12).unwrap_or(&0) + f.get(13).unwrap_or(&0)
    }

    /// utime + stime summed over the live processes whose command name is `name`.
    pub fn named(name: &str) -> u64 {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        dir.filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|t| {
                t.split_once('(')
                    .and_then(|(_, r)| r.rsplit_once(')'))
                    .is_some_and(|(comm, _)| comm == name)
            })
            .map(|t| {
                let f = stat_fields(&t);
                f.get(10).unwrap_or(&0) + f.get(11).unwrap_or(&0)
            })
            .sum()
    }

    /// Busy ticks of all cores together (`/proc/stat`: user, nice, system, irq, softirq, steal).
    pub fn machine() -> u64 {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let f: Vec<u64> = text
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        [0, 1, 2, 5, 6, 7]
            .iter()
            .map(|&i| f.get(i).unwrap_or(&0))
            .sum()
    }

    #[derive(Clone, Copy)]
    pub struct Sample {
        pub machine: u64,
        pub this: u64,
        pub postgres: u64,
        pub redis: u64,
    }

    pub fn sample() -> Sample {
        Sample {
            machine: machine(),
            this: this_process(),
            postgres: named("postgres"),
            redis: named("redis-server"),
        }
    }

    /// Milliseconds of CPU per unit of work between two samples: machine, this process,
    /// PostgreSQL, Redis.
    pub fn per_unit(a: Sample, b: Sample, units: usize) -> [f64; 4] {
        let ms = |x: u64, y: u64| y.saturating_sub(x) as f64 / HZ * 1000.0 / units.max(1) as f64;
        [
            ms(a.machine, b.machine),
            ms(a.this, b.this),
            ms(a.postgres, b.postgres),
            ms(a.redis, b.redis),
        ]
    }
}

/// pgbench -N's TPS, and the machine's CPU per transaction (milliseconds: all cores' busy
/// time, and pgbench's own, over the number of transactions).
fn pgbench_tps() -> Option<(f64, f64, f64)> {
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
    let (machine0, children0) = (cpu::machine(), cpu::children());
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
    let (machine1, children1) = (cpu::machine(), cpu::children());
    let _ = psql(&format!("DROP DATABASE IF EXISTS {db}"));
    let text = String::from_utf8_lossy(&run.stdout);
    let tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })?;
    let txns: f64 = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("number of transactions actually processed:")
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
    })?;
    let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 / cpu::HZ * 1000.0 / txns.max(1.0);
    Some((tps, ms(machine0, machine1), ms(children0, children1)))
}

struct Phase {
    offered: usize,
    answered: usize,
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
    /// CPU per answered redemption, ms: machine, this process, PostgreSQL, Redis.
    cpu: [f64; 4],
}

/// Offers `rate` redemptions/s for `secs` seconds (open loop), round-robin over the bots'
/// codes in `queues`; waits (bounded) for the replies.
async fn phase(
    app: &Arc<TestApp>,
    tg: &gatehouse_tests::fake_telegram::FakeTelegram,
    queues: &mut [Vec<(ConnectedBot, String)>],
    next_user: &mut i64,
    rate: f64,
    secs: f64,
) -> Option<Phase> {
    let n = (rate * secs).round() as usize;
    let mut work = vec![];
    let mut i = 0usize;
    while work.len() < n {
        if queues.iter().all(|q| q.is_empty()) {
            println!("  (out of codes: raise BENCH_PER_BOT)");
            return None;
        }
        if let Some(w) = queues[i % queues.len()].pop() {
            work.push(w);
        }
        i += 1;
    }
    let first_user = *next_user;
    *next_user += n as i64;
    let mark = tg.call_count();
    let sent: Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Arc::default();
    let cpu_before = cpu::sample();
    let start = tokio::time::Instant::now();
    let mut tasks = vec![];
    for (k, (bot, code)) in work.into_iter().enumerate() {
        let (app, sent) = (app.clone(), sent.clone());
        let user = first_user + k as i64;
        let at = start + Duration::from_secs_f64(k as f64 / rate);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            sent.lock().unwrap().insert(user, Instant::now());
            let s = app
                .post_update(
                    &bot,
                    &updates::message(user, user, &format!("/start c_{code}")),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let users = first_user..first_user + n as i64;
    // Replies are collected from the calls that arrived since the phase began, a slice at a
    // time, so waiting costs next to nothing beside the system under test.
    let mut replies = vec![];
    let mut seen = mark;
    let done = loop {
        let fresh = tg.calls_since(seen);
        seen += fresh.len();
        replies.extend(fresh.into_iter().filter(|c| {
            c.method == "sendmessage"
                && c.params["chat_id"]
                    .as_i64()
                    .is_some_and(|u| users.contains(&u))
                && c.params["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Code accepted")
        }));
        if replies.len() >= n || Instant::now() > deadline {
            break std::mem::take(&mut replies);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_after = cpu::sample();
    let sent = sent.lock().unwrap();
    let mut lat: Vec<f64> = vec![];
    let t0 = start.into_std();
    let mut last = t0;
    for call in &done {
        if let Some(s) = call.params["chat_id"].as_i64().and_then(|u| sent.get(&u)) {
            lat.push(call.at.duration_since(*s).as_secs_f64() * 1000.0);
            last = last.max(call.at);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if lat.is_empty() {
        return Some(Phase {
            offered: n,
            answered: 0,
            rate: 0.0,
            p50: f64::INFINITY,
            p99: f64::INFINITY,
            max: f64::INFINITY,
            cpu: [f64::NAN; 4],
        });
    }
    Some(Phase {
        offered: n,
        answered: lat.len(),
        rate: lat.len() as f64 / last.duration_since(t0).as_secs_f64(),
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        max: *lat.last().unwrap(),
        cpu: cpu::per_unit(cpu_before, cpu_after, lat.len()),
    })
}

/// The fake's own cost of one redemption: one createChatInviteLink plus one sendMessage,
/// sequentially, median of 200 (milliseconds).
async fn fake_cost(tg: &gatehouse_tests::fake_telegram::FakeTelegram, token: &str) -> f64 {
    let client = reqwest::Client::new();
    let mut t = vec![];
    for i in 0..200 {
        let t0 = Instant::now();
        for (method, body) in [
            (
                "createChatInviteLink",
                json!({"chat_id": -1_000_000_000_000i64, "creates_join_request": true, "name": "sub x"}),
            ),
            (
                "sendMessage",
                json!({"chat_id": 9_000_000 + i, "text": "probe", "reply_markup": {"inline_keyboard": [[{"text": "Join", "url": "https://t.me/+x"}]]}}),
            ),
        ] {
            client
                .post(format!("{}/bot{token}/{method}", tg.url))
                .json(&body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        t.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    pct(&t, 0.5)
}

#[tokio::main]
async fn main() {
    let bots_n = env("BENCH_BOTS", 200);
    let per_bot = env("BENCH_PER_BOT", 40);
    let phase_secs = env("BENCH_PHASE_SECS", 4) as f64;
    let rates: Vec<f64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "50,100,200,300,400,500,600,800".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
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
    let mut queues: Vec<Vec<(ConnectedBot, String)>> = vec![];
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
        let mut q = vec![];
        for code in app.all_codes(&c, &pid, "").await {
            q.push((bot.clone(), code["code"].as_str().unwrap().to_string()));
        }
        queues.push(q);
    }
    let probe_token = queues[0][0].0.token.clone();
    let mut next_user = 5_000_000i64;
    // What one redemption costs, counted rather than read off the code: statements this
    // process sent to PostgreSQL and Bot API calls the fake received, from the POST until the
    // reply, one redemption at a time (the least of five, so a worker's sweep that happens to
    // run meanwhile is not counted).
    let mut counted = vec![];
    for _ in 0..5 {
        let (bot, code) = queues[0].pop().expect("codes for the count");
        let user = next_user;
        next_user += 1;
        let (statements, calls) = (domain::ctx::statements_sent(), tg.call_count());
        let s = app
            .post_update(
                &bot,
                &updates::message(user, user, &format!("/start c_{code}")),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        tg.wait_for_text(&bot.token, user, "Code accepted").await;
        while bot_router::updates_in_flight(c.tenant_id) > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        counted.push((
            domain::ctx::statements_sent() - statements,
            tg.call_count() - calls,
        ));
    }
    let (statements, calls) = counted.iter().min().copied().unwrap();
    println!(
        "one redemption (/start c_<CODE>, first contact, one channel), counted: {statements} database statements (+ BEGIN and COMMIT), {calls} Bot API calls"
    );
    println!(
        "open-loop sweep: arrivals at a fixed rate, round-robin over {bots_n} bots, {phase_secs} s each"
    );
    let mut sustained = 0.0f64;
    for rate in rates {
        if rate / bots_n as f64 > 10.0 {
            println!(
                "  {rate}/s would be over 10 redemptions/s per bot (Telegram's budget): add bots"
            );
            break;
        }
        let Some(p) = phase(&app, &tg, &mut queues, &mut next_user, rate, phase_secs).await else {
            break;
        };
        let kept = p.answered == p.offered && p.max <= 2000.0 && p.rate >= 0.95 * rate;
        println!(
            "  offered {rate:>5.0}/s: answered {}/{} at {:.0}/s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms → {}",
            p.answered,
            p.offered,
            p.rate,
            p.p50,
            p.p99,
            p.max,
            if kept { "kept up" } else { "fell behind" }
        );
        println!(
            "      CPU per redemption: machine {:.2} ms (this process {:.2}, PostgreSQL {:.2}, Redis {:.2})",
            p.cpu[0], p.cpu[1], p.cpu[2], p.cpu[3]
        );
        if !kept {
            break;
        }
        sustained = rate;
    }
    let half = sustained / 2.0;
    let fake = fake_cost(&tg, &probe_token).await;
    if half > 0.0
        && let Some(p) = phase(
            &app,
            &tg,
            &mut queues,
            &mut next_user,
            half,
            phase_secs * 2.0,
        )
        .await
    {
        println!(
            "at 50% of the sustained rate ({half:.0}/s, {} redemptions): POST → reply p50 {:.1} ms, p99 {:.1} ms (max {:.1} ms)",
            p.answered, p.p50, p.p99, p.max
        );
        println!(
            "  without the fake's own cost ({fake:.2} ms per createChatInviteLink + sendMessage, same run): p50 {:.1} ms, p99 {:.1} ms",
            p.p50 - fake,
            p.p99 - fake
        );
        println!("  goal p99 ≤ 50 ms → {:.2}×", p.p99 / 50.0);
        println!(
            "  CPU per redemption: machine {:.2} ms (this process {:.2}, PostgreSQL {:.2}, Redis {:.2})",
            p.cpu[0], p.cpu[1], p.cpu[2], p.cpu[3]
        );
    }
    println!("highest rate kept up with: {sustained:.0} redemptions/s");
    match pgbench_tps() {
        Some((tps, machine, client)) => {
            println!(
                "pgbench -N (simple-update, 16 clients, 10 s) on the same server, same run: {tps:.0} TPS; sustained ÷ TPS = {:.2} (goal ≥ 0.5)",
                sustained / tps
            );
            println!(
                "  CPU per pgbench transaction: machine {machine:.2} ms (pgbench itself {client:.2}, the rest PostgreSQL)"
            );
        }
        None => println!(
            "pgbench NOT FOUND (apt-get install postgresql-contrib): no baseline, no ratio"
        ),
    }
}
