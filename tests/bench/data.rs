//! Data-scale harness: how user-facing costs grow with the data. Figures, not pass/fail.
//!
//! Seeds one tenant on PostgreSQL at `BENCH_SCALE` × (1,000,000 codes — a third unredeemed,
//! a third redeemed three times each, a third expired — in 2,000 batches across 20 plans;
//! 300,000 subscribers; 1,000,000 activations and as many subscriptions; 50,000 Stars
//! payments), beside 50 other tenants of 1/50 that size each, by `INSERT … SELECT
//! generate_series` in the database (the rows the product writes, without its per-row work).
//! Then, through the real HTTP API of the app in this process:
//! - every list, filter and search, first page and a deep cursor, revenue over 30 and 366
//!   days: p50/p99 over repeated calls, and whether PostgreSQL read a large table
//!   sequentially meanwhile (`pg_stat_user_tables.seq_scan`);
//! - the CSV export of every code: rows/s beside `COPY (SELECT …) TO STDOUT` of the same rows
//!   (`psql`), and the growth of this process's peak RSS;
//! - the sweeps with 1 % of the rows due: time and rows touched.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-data`
//! (`BENCH_SCALE=0.1` for a quicker look; `BENCH_CALLS` calls per route, default 30).
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use gatehouse_tests::{Backend, TestApp, app::isolated_pg_database};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

/// Tables big enough that a sequential scan of one is a defect.
const LARGE: &[&str] = &[
    "access_codes",
    "activations",
    "subscriptions",
    "subscribers",
    "payments",
    "code_batches",
];

fn env_f64(k: &str, d: f64) -> f64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

async fn exec(app: &TestApp, sql: &str) {
    app.ctx
        .db
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Sequential scans of the large tables so far (statistics are flushed about once a second).
async fn seq_scans(app: &TestApp) -> HashMap<String, i64> {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut out = HashMap::new();
    for t in LARGE {
        let n = scalar(
            app,
            &format!("SELECT COALESCE(seq_scan, 0)::bigint FROM pg_stat_user_tables WHERE relname = '{t}'"),
        )
        .await;
        out.insert(t.to_string(), n);
    }
    out
}

/// Seeds a tenant's project: `codes` codes in `batches` batches over the project's plans,
/// `subs` subscribers, an activation and a subscription per use of a redeemed code, and
/// `pays` payments. `salt` keeps codes and Telegram ids apart between tenants.
#[allow(clippy::too_many_arguments)]
async fn seed(
    app: &TestApp,
    tenant: &str,
    project: &str,
    codes: i64,
    batches: i64,
    subs: i64,
    pays: i64,
    salt: i64,
) {
    let per_batch = (codes / batches).max(1);
    exec(app, &format!(
        "INSERT INTO code_batches (id, tenant_id, project_id, plan_id, quantity, expiry_kind, max_activations, status, free_count, overage_count, cycle_start, delivery, delivered_count, created_at, updated_at) \
         SELECT gen_random_uuid(), '{tenant}', '{project}', p.plan_id, {per_batch}, 'none', 3, 'done', {per_batch}, 0, now(), 'sent', 0, now() - (b || ' minutes')::interval, now() \
         FROM generate_series(0, {batches} - 1) b \
         JOIN LATERAL (SELECT id AS plan_id FROM plans WHERE project_id = '{project}' ORDER BY created_at OFFSET (b % (SELECT count(*) FROM plans WHERE project_id = '{project}')) LIMIT 1) p ON true"
    )).await;
    // k % 3: 0 redeemed three times, 1 expired (already swept), 2 unredeemed.
    exec(app, &format!(
        "INSERT INTO access_codes (id, tenant_id, project_id, plan_id, batch_id, code, max_activations, activation_count, expires_at, expired_at, cycle_start, created_at) \
         SELECT gen_random_uuid(), '{tenant}', '{project}', b.plan_id, b.id, upper(lpad(to_hex(({salt}::bigint << 32) + b.n * {per_batch} + i), 12, '0')), 3, \
           CASE WHEN (b.n * {per_batch} + i) % 3 = 0 THEN 3 ELSE 0 END, \
           CASE WHEN (b.n * {per_batch} + i) % 3 = 1 THEN now() - interval '2 days' END, \
           CASE WHEN (b.n * {per_batch} + i) % 3 = 1 THEN now() - interval '2 days' END, now(), b.created_at \
         FROM (SELECT id, plan_id, created_at, row_number() OVER (ORDER BY created_at) - 1 AS n FROM code_batches WHERE project_id = '{project}') b, generate_series(0, {per_batch} - 1) i"
    )).await;
    exec(app, &format!(
        "INSERT INTO subscribers (id, tenant_id, project_id, telegram_user_id, username, first_name, created_at, language_code) \
         SELECT gen_random_uuid(), '{tenant}', '{project}', {salt}::bigint * 10000000 + s, 'user' || s, 'Member ' || s, now() - (s || ' seconds')::interval, 'en' \
         FROM generate_series(1, {subs}) s"
    )).await;
    // Each use of a redeemed code: a subscription of the code's plan for a subscriber, and its
    // activation. Most ended; one in ten active.
    exec(app, &format!(
        "CREATE TABLE bench_uses AS \
         SELECT gen_random_uuid() AS sub_id, c.id AS code_id, c.plan_id, s.id AS subscriber_id, c.created_at + (u || ' hours')::interval AS at, (row_number() OVER ()) AS n \
         FROM (SELECT id, plan_id, created_at, row_number() OVER (ORDER BY id) AS r FROM access_codes WHERE project_id = '{project}' AND activation_count = 3) c \
         CROSS JOIN generate_series(0, 2) u \
         JOIN LATERAL (SELECT id FROM subscribers WHERE project_id = '{project}' AND telegram_user_id = {salt}::bigint * 10000000 + 1 + ((c.r * 3 + u) % {subs})) s ON true"
    )).await;
    exec(app, &format!(
        "INSERT INTO subscriptions (id, tenant_id, project_id, subscriber_id, plan_id, source, access_code_id, price_minor, currency, starts_at, ends_at, status, created_at, updated_at) \
         SELECT sub_id, '{tenant}', '{project}', subscriber_id, plan_id, 'access_code', code_id, 0, 'USD', at, \
           CASE WHEN n % 10 = 0 THEN now() + interval '20 days' ELSE at + interval '30 days' END, \
           CASE WHEN n % 10 = 0 THEN 'active' ELSE 'expired' END, at, at FROM bench_uses"
    )).await;
    exec(app, &format!(
        "INSERT INTO activations (id, tenant_id, access_code_id, subscriber_id, subscription_id, at, price_minor) \
         SELECT gen_random_uuid(), '{tenant}', code_id, subscriber_id, sub_id, at, 0 FROM bench_uses"
    )).await;
    exec(app, "DROP TABLE bench_uses").await;
    exec(app, &format!(
        "INSERT INTO payments (id, tenant_id, project_id, plan_id, subscriber_id, amount, currency, telegram_payment_charge_id, invoice_payload, is_recurring, is_first_recurring, renewal_canceled, status, recorded_by, added_from, paid_at, created_at, updated_at) \
         SELECT gen_random_uuid(), '{tenant}', '{project}', s.plan_id, s.subscriber_id, 250, 'XTR', 'bench-{salt}-' || s.n, 'bench', false, false, false, 'paid', 'update', s.starts_at, \
           now() - ((s.n % 400) || ' days')::interval, s.starts_at, s.starts_at \
         FROM (SELECT plan_id, subscriber_id, starts_at, row_number() OVER () AS n FROM subscriptions WHERE project_id = '{project}' LIMIT {pays}) s"
    )).await;
}

struct Figure {
    name: String,
    p50: f64,
    p99: f64,
    goal: f64,
    scans: Vec<String>,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(
    app: &TestApp,
    c: &gatehouse_tests::Creator,
    name: &str,
    path: &str,
    calls: usize,
    goal: f64,
) -> Figure {
    let (s, b) = app.as_creator(c, Method::GET, path, None).await;
    assert_eq!(s, StatusCode::OK, "{name}: {b}");
    let before = seq_scans(app).await;
    let mut times = vec![];
    for _ in 0..calls {
        let t = Instant::now();
        let (s, _) = app.as_creator(c, Method::GET, path, None).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(s, StatusCode::OK, "{name}");
    }
    let after = seq_scans(app).await;
    let scans = LARGE
        .iter()
        .filter(|t| after[**t] > before[**t])
        .map(|t| format!("{t} ×{}", after[*t] - before[*t]))
        .collect();
    Figure {
        name: name.to_string(),
        p50: pct(&mut times, 0.5),
        p99: pct(&mut times, 0.99),
        goal,
        scans,
    }
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let scale = env_f64("BENCH_SCALE", 1.0);
    let calls = env_f64("BENCH_CALLS", 30.0) as usize;
    let n = |x: f64| ((x * scale).round() as i64).max(1);
    let db = isolated_pg_database().await;
    let app = TestApp::spawn_on(
        Backend::Postgres,
        HashMap::from([
            ("DATABASE_URL".to_string(), db.clone()),
            ("WORKER_MINUTE_SWEEPS".to_string(), "off".to_string()),
        ]),
    )
    .await;

    let seeding = Instant::now();
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_annual").await;
    let (pid, _) = app.project_with_plan(&c).await;
    for i in 1..20 {
        let (s, b) = app
            .as_creator(
                &c,
                Method::POST,
                &format!("/api/v1/projects/{pid}/plans"),
                Some(json!({"name": format!("Plan {i}"), "price_minor": 100 * i, "currency": "USD", "duration_days": 30})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let tenant = c.tenant_id.to_string();
    seed(
        &app,
        &tenant,
        &pid,
        n(1_000_000.0),
        n(2_000.0),
        n(300_000.0),
        n(50_000.0),
        1,
    )
    .await;
    for k in 0..50 {
        let o = app.signup().await;
        let (opid, _) = app.project_with_plan(&o).await;
        seed(
            &app,
            &o.tenant_id.to_string(),
            &opid,
            n(20_000.0),
            n(40.0),
            n(6_000.0),
            n(1_000.0),
            2 + k,
        )
        .await;
    }
    exec(&app, "ANALYZE").await;
    let count = |t: &str| format!("SELECT count(*)::bigint FROM {t} WHERE tenant_id = '{tenant}'");
    let (codes, activations, subscribers, payments) = (
        scalar(&app, &count("access_codes")).await,
        scalar(&app, &count("activations")).await,
        scalar(&app, &count("subscribers")).await,
        scalar(&app, &count("payments")).await,
    );
    println!(
        "seeded in {:.0} s: {codes} codes, {activations} activations (and subscriptions), {subscribers} subscribers, {payments} payments; 50 other tenants at 1/50",
        seeding.elapsed().as_secs_f64()
    );

    let api = format!("/api/v1/projects/{pid}");
    let deep_code = {
        let (_, page) = app
            .as_creator(&c, Method::GET, &format!("{api}/codes?limit=100"), None)
            .await;
        let mut cursor = page["next_cursor"].as_str().map(str::to_string);
        // Ten pages in: a cursor past the first thousand.
        for _ in 0..9 {
            let (_, p) = app
                .as_creator(
                    &c,
                    Method::GET,
                    &format!("{api}/codes?limit=100&cursor={}", cursor.clone().unwrap()),
                    None,
                )
                .await;
            cursor = p["next_cursor"].as_str().map(str::to_string);
        }
        cursor.unwrap()
    };
    let some_code: String = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT code FROM access_codes WHERE project_id = '{pid}' ORDER BY id DESC LIMIT 1 OFFSET 777"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let deep_sub = {
        let (_, p) = app
            .as_creator(
                &c,
                Method::GET,
                &format!("{api}/subscriptions?limit=500"),
                None,
            )
            .await;
        p["next_cursor"].as_str().unwrap_or_default().to_string()
    };
    let routes: Vec<(&str, String)> = vec![
        ("codes, first page", format!("{api}/codes")),
        (
            "codes, deep cursor",
            format!("{api}/codes?cursor={deep_code}"),
        ),
        (
            "codes, status=redeemed",
            format!("{api}/codes?status=redeemed"),
        ),
        (
            "codes, status=expired",
            format!("{api}/codes?status=expired"),
        ),
        (
            "codes, search by code",
            format!("{api}/codes?q={some_code}"),
        ),
        (
            "codes, search by prefix",
            format!("{api}/codes?q={}", &some_code[..6]),
        ),
        ("subscriptions, first page", format!("{api}/subscriptions")),
        (
            "subscriptions, deep cursor",
            format!("{api}/subscriptions?cursor={deep_sub}"),
        ),
        (
            "subscriptions, status=active",
            format!("{api}/subscriptions?status=active"),
        ),
        (
            "subscriptions, source=payment",
            format!("{api}/subscriptions?source=payment"),
        ),
        ("subscribers, first page", format!("{api}/subscribers")),
        ("payments, first page", format!("{api}/payments")),
        ("revenue, 30 days", format!("{api}/revenue")),
        (
            "revenue, 366 days",
            format!(
                "{api}/revenue?from={}",
                (chrono::Utc::now() - chrono::Duration::days(365)).date_naive()
            ),
        ),
        ("promo codes", format!("{api}/promo-codes")),
        ("plans", format!("{api}/plans")),
    ];
    let mut figures = vec![];
    for (name, path) in &routes {
        let goal = if name.starts_with("codes, search by code") {
            10.0
        } else {
            100.0
        };
        figures.push(measure(&app, &c, name, path, calls, goal).await);
    }
    println!();
    println!("| route | p50 ms | p99 ms | goal p99 | sequential scans of large tables |");
    println!("|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {:.1} | {:.1} | ≤ {:.0} ms {} | {} |",
            f.name,
            f.p50,
            f.p99,
            f.goal,
            if f.p99 <= f.goal { "met" } else { "NOT met" },
            if f.scans.is_empty() {
                "none".to_string()
            } else {
                f.scans.join(", ")
            }
        );
    }

    // Export of every code, beside COPY of the same rows.
    let hwm_before = rss_kb("VmHWM:");
    let t = Instant::now();
    let resp = app
        .http
        .get(format!("{}{api}/codes/export.csv", app.base))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Read as it streams (the client keeps no copy: the RSS growth is the server's).
    let mut resp = resp;
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        bytes += chunk.len();
    }
    let export_secs = t.elapsed().as_secs_f64();
    let rows = lines.saturating_sub(1);
    let hwm_growth = rss_kb("VmHWM:").saturating_sub(hwm_before);
    let copy_sql = format!(
        "COPY (SELECT c.code, c.plan_id, c.batch_id, c.activation_count, c.max_activations, c.expires_at, c.created_at FROM access_codes c WHERE c.project_id = '{pid}' ORDER BY c.id) TO STDOUT WITH CSV HEADER"
    );
    let t = Instant::now();
    let copy = std::process::Command::new("psql")
        .arg(&db)
        .arg("-c")
        .arg(&copy_sql)
        .stdout(std::process::Stdio::piped())
        .output();
    let copy_secs = t.elapsed().as_secs_f64();
    println!();
    println!(
        "export of {rows} codes as CSV: {:.0} rows/s ({export_secs:.2} s, {} MB); peak RSS grew {:.1} MiB (goal ≤ 64 MiB)",
        rows as f64 / export_secs,
        bytes / 1_000_000,
        hwm_growth as f64 / 1024.0
    );
    match copy {
        Ok(o) if o.status.success() => {
            let copied = o.stdout.iter().filter(|b| **b == b'\n').count() - 1;
            let copy_rate = copied as f64 / copy_secs;
            println!(
                "  COPY … TO STDOUT of the same {copied} rows (psql): {copy_rate:.0} rows/s → {:.2}× (goal ≥ 0.5×)",
                rows as f64 / export_secs / copy_rate
            );
        }
        _ => println!(
            "  psql not found or failed: no COPY baseline (apt-get install postgresql-client)"
        ),
    }

    // Sweeps with 1 % of the rows due. The app's clock stood still since it started: now.
    app.clock.set(chrono::Utc::now());
    let due = n(10_000.0);
    exec(&app, &format!(
        "UPDATE access_codes SET expires_at = now() - interval '1 minute' WHERE id IN (SELECT id FROM access_codes WHERE project_id = '{pid}' AND activation_count = 0 AND expires_at IS NULL LIMIT {due})"
    )).await;
    let before = seq_scans(&app).await;
    let t = Instant::now();
    let mut touched = 0;
    loop {
        let k = domain::codes::expire(&app.ctx).await.unwrap();
        if k == 0 {
            break;
        }
        touched += k;
    }
    let secs = t.elapsed().as_secs_f64();
    let after = seq_scans(&app).await;
    let scans: Vec<String> = LARGE
        .iter()
        .filter(|t| after[**t] > before[**t])
        .map(|t| t.to_string())
        .collect();
    println!();
    println!(
        "code expiry sweep, {due} of {codes} codes due: {touched} rows in {secs:.2} s ({:.0} rows/s); sequential scans: {}",
        touched as f64 / secs,
        if scans.is_empty() {
            "none".into()
        } else {
            scans.join(", ")
        }
    );
    exec(&app, &format!(
        "UPDATE subscriptions SET ends_at = now() - interval '1 minute' WHERE id IN (SELECT id FROM subscriptions WHERE project_id = '{pid}' AND status = 'active' LIMIT {due})"
    )).await;
    let before = seq_scans(&app).await;
    let t = Instant::now();
    let mut ended = 0;
    loop {
        let k = domain::subscriptions::expire_due(&app.ctx).await.unwrap();
        if k == 0 {
            break;
        }
        ended += k;
    }
    let secs = t.elapsed().as_secs_f64();
    let after = seq_scans(&app).await;
    let scans: Vec<String> = LARGE
        .iter()
        .filter(|t| after[**t] > before[**t])
        .map(|t| t.to_string())
        .collect();
    println!(
        "subscription end sweep, {due} due among {activations}: {ended} ended in {secs:.2} s ({:.0}/s); sequential scans: {}",
        ended as f64 / secs,
        if scans.is_empty() {
            "none".into()
        } else {
            scans.join(", ")
        }
    );
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
