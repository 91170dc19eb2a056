//! Access-code benchmarks: figures and ratios, not pass/fail.
//!
//! 1. `POST …/code-batches` → batch `done` for 1,000 codes, through the API and the apalis
//!    worker on PostgreSQL + Redis (median of 10; delivery excluded: no linked chat).
//! 2. codes/s for one 100,000-code batch through the same bulk writer
//!    (`domain::batches::generate`), beside a raw multi-row INSERT of the same shape.
//! 3. quota reservations/s (the Lua script, 32 concurrent callers) beside
//!    `redis-benchmark -t incr` run in the same process tree.
//!
//! Run: `cargo run --release -p gatehouse-tests --bin bench-codes`
use std::time::{Duration, Instant};

use chrono::Utc;
use gatehouse_tests::{Backend, TestApp, factories::batch};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_annual").await;
    let (pid, plan) = app.project_with_plan(&c).await;

    // 1. API → worker → done, 1,000 codes.
    let mut times = vec![];
    for _ in 0..10 {
        let start = Instant::now();
        let (s, b) = app.post_batch(&c, &pid, batch(&plan, 1000), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let id = b["id"].as_str().unwrap().to_string();
        loop {
            let (_, got) = app
                .as_creator(
                    &c,
                    reqwest::Method::GET,
                    &format!("/api/v1/projects/{pid}/code-batches/{id}"),
                    None,
                )
                .await;
            if got["status"] == "done" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let med = median(times.clone());
    println!("batch of 1,000 codes, POST → done (PostgreSQL + Redis, via the worker)");
    println!(
        "  median {med:.1} ms over 10 (min {:.1}, max {:.1}); goal ≤ 150 ms → {:.2}× the goal",
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max),
        med / 150.0
    );

    // 2. 100,000 codes through the bulk writer vs a raw multi-row INSERT.
    let bulk = TestApp::spawn_without_worker(Backend::Postgres).await;
    let c2 = bulk.signup().await;
    bulk.set_billing_plan(c2.tenant_id, "growth_annual").await;
    let (pid2, plan2) = bulk.project_with_plan(&c2).await;
    let (_, small) = bulk.post_batch(&c2, &pid2, batch(&plan2, 1), None).await;
    let template = entity::code_batch::Entity::find_by_id(
        small["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
    )
    .one(&bulk.ctx.db)
    .await
    .unwrap()
    .unwrap();
    let big_id = Uuid::now_v7();
    let mut big: entity::code_batch::ActiveModel = template.clone().into();
    big.id = Set(big_id);
    big.quantity = Set(100_000);
    big.idempotency_key = Set(None);
    big.status = Set(entity::code_batch::BatchStatus::Queued);
    big.insert(&bulk.ctx.db).await.unwrap();
    let start = Instant::now();
    domain::batches::generate(&bulk.ctx, big_id).await.unwrap();
    let ours = start.elapsed().as_secs_f64();
    let ours_rate = 100_000.0 / ours;

    // The same rows as plain multi-row INSERT statements (literal VALUES, 2,000 rows each,
    // no conflict handling, no batch lock): the floor our path is compared with.
    let raw_batch = Uuid::now_v7();
    let mut raw: entity::code_batch::ActiveModel = template.clone().into();
    raw.id = Set(raw_batch);
    raw.idempotency_key = Set(None);
    raw.insert(&bulk.ctx.db).await.unwrap();
    let now = Utc::now().to_rfc3339();
    let cycle = template.cycle_start.to_rfc3339();
    let statements: Vec<String> = (0..50)
        .map(|_| {
            let values: Vec<String> = (0..2_000)
                .map(|_| {
                    format!(
                        "('{}','{}','{}','{}','{}','{}',1,0,NULL,'{cycle}','{now}')",
                        Uuid::now_v7(),
                        template.tenant_id,
                        template.project_id,
                        template.plan_id,
                        raw_batch,
                        domain::codes::new_code()
                    )
                })
                .collect();
            format!(
                "INSERT INTO access_codes (id, tenant_id, project_id, plan_id, batch_id, code, \
                 max_activations, activation_count, expires_at, cycle_start, created_at) VALUES {}",
                values.join(",")
            )
        })
        .collect();
    let start = Instant::now();
    for sql in &statements {
        bulk.ctx.db.execute_unprepared(sql).await.unwrap();
    }
    let raw_secs = start.elapsed().as_secs_f64();
    let raw_rate = 100_000.0 / raw_secs;
    println!("100,000-code batch through the bulk writer");
    println!(
        "  {ours_rate:.0} codes/s ({ours:.2} s); raw multi-row INSERT {raw_rate:.0} codes/s ({raw_secs:.2} s)"
    );
    println!(
        "  ratio {:.2}× raw (goal ≥ 0.5×); {:.2}× the 50,000/s goal",
        ours_rate / raw_rate,
        ours_rate / 50_000.0
    );

    // The physical floor: COPY of the same 100,000 rows (same columns, same table, all its
    // indexes and foreign keys) through psql's \copy, timed from psql's start to its end.
    let copy_batch = Uuid::now_v7();
    let mut cb: entity::code_batch::ActiveModel = template.clone().into();
    cb.id = Set(copy_batch);
    cb.idempotency_key = Set(None);
    cb.insert(&bulk.ctx.db).await.unwrap();
    let db_name: String = {
        use sea_orm::{ConnectionTrait, Statement};
        let row = bulk
            .ctx
            .db
            .query_one_raw(Statement::from_string(
                bulk.ctx.db.get_database_backend(),
                "SELECT current_database() AS d",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "d").unwrap()
    };
    let csv_path = std::env::temp_dir().join(format!("gh-copy-{copy_batch}.csv"));
    let mut csv = String::with_capacity(100_000 * 200);
    for _ in 0..100_000 {
        csv.push_str(&format!(
            "{},{},{},{},{},{},1,0,,{cycle},{now}\n",
            Uuid::now_v7(),
            template.tenant_id,
            template.project_id,
            template.plan_id,
            copy_batch,
            domain::codes::new_code()
        ));
    }
    std::fs::write(&csv_path, csv).unwrap();
    let start = Instant::now();
    let copied = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", &db_name, "-qc"])
        .arg(format!(
            "\\copy access_codes (id, tenant_id, project_id, plan_id, batch_id, code, \
             max_activations, activation_count, expires_at, cycle_start, created_at) \
             FROM '{}' WITH (FORMAT csv)",
            csv_path.display()
        ))
        .output();
    let copy_secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&csv_path);
    match copied {
        Ok(o) if o.status.success() => {
            let copy_rate = 100_000.0 / copy_secs;
            println!(
                "  COPY of the same 100,000 rows into access_codes, same run: {copy_rate:.0} rows/s ({copy_secs:.2} s); bulk writer ÷ COPY = {:.2}× (goal ≥ 0.9×)",
                ours_rate / copy_rate
            );
        }
        Ok(o) => println!(
            "  COPY failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(_) => println!("  psql NOT FOUND: no COPY baseline"),
    }

    // 3. Quota reservations/s beside redis-benchmark INCR.
    let redis = bulk.ctx.redis.clone().unwrap();
    let facts = domain::quota::cycle_facts(&bulk.ctx.db, c2.tenant_id, Utc::now())
        .await
        .unwrap();
    let facts = std::sync::Arc::new(facts);
    let n = 20_000usize;
    let start = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (ctx, facts) = (bulk.ctx.clone(), facts.clone());
            tokio::spawn(async move {
                for _ in 0..n / 32 {
                    domain::quota::reserve(&ctx, &facts, Uuid::now_v7(), 1)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let ours = (n / 32 * 32) as f64 / start.elapsed().as_secs_f64();
    // Leave the tenant's counter as it was for anyone reading the database afterwards.
    let key = domain::quota::redis_key(c2.tenant_id, facts.tenant.cycle_start);
    let mut conn = redis.clone();
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    bulk.ctx.db.execute_unprepared("SELECT 1").await.unwrap();
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "-t",
            "incr",
            "-n",
            "100000",
            "-c",
            "32",
            "-q",
        ])
        .output();
    println!("quota reservations (Lua script, 32 concurrent callers)");
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let incr: f64 = text
                .split_whitespace()
                .find_map(|w| w.parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            println!(
                "  {ours:.0} reservations/s; redis-benchmark INCR {incr:.0} req/s; ratio {:.2}× (goal ≥ 0.5×)",
                ours / incr
            );
        }
        _ => println!("  {ours:.0} reservations/s; redis-benchmark not found, no ratio"),
    }
}
