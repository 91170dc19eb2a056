//! The deployment as it runs: the built `gatehouse` binary as OS processes (`migrate`, then
//! `api` and `worker` processes on one PostgreSQL and one Redis), Telegram and Stripe faked
//! at the wire. Every claim here is shown through HTTP and the fakes; the database handle is
//! used only to set up what no endpoint offers (a creator plan) and to read the truth.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use gatehouse_tests::{
    Creator, TestApp,
    cluster::{Cluster, quick_timings},
    factories::{batch, monthly_plan},
    fake_stripe::{self, Fault},
    telegram::{ConnectedBot, updates},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) const OWNER: i64 = 7_700;

pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A creator with a project and an active 30-day plan, through api `app`.
pub(crate) async fn creator_with_plan(app: &TestApp) -> (Creator, String, String) {
    let c = app.signup().await;
    let pid = app.create_project_id(&c).await;
    let plan = app.create_plan(&c, &pid, monthly_plan()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (c, pid, plan)
}

/// Links `OWNER` as an owner of the project's bot (owner link, then `/start` with it).
pub(crate) async fn link_owner(cl: &Cluster, c: &Creator, pid: &str, bot: &ConnectedBot) {
    let (s, b) = cl
        .app
        .as_creator(
            c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/owner-link"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let payload = b["link"].as_str().unwrap().split("?start=").nth(1).unwrap();
    let s = cl
        .app
        .post_update(
            bot,
            &updates::message(1, OWNER, &format!("/start {payload}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    cl.tg.wait_for_text(&bot.token, OWNER, "now an owner").await;
}

pub(crate) async fn wait_until<F, Fut>(what: &str, limit: Duration, cl: &Cluster, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}\n{}",
            cl.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn batch_row(cl: &Cluster, id: &str) -> entity::code_batch::Model {
    entity::code_batch::Entity::find_by_id(Uuid::parse_str(id).unwrap())
        .one(&cl.app.ctx.db)
        .await
        .unwrap()
        .expect("the batch")
}

async fn free_left(app: &TestApp, c: &Creator) -> i64 {
    let (s, b) = app
        .as_creator(c, Method::GET, "/api/v1/billing", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["quota"]["free_left"].as_i64().unwrap()
}

#[tokio::test]
async fn two_api_processes_share_writes_the_free_quota_and_bot_changes() {
    let cl = Cluster::start(2, 2, quick_timings()).await;
    let a = &cl.app;
    let b = cl.app_on(1).await;

    // A write on one api process is read at once on the other.
    let (c, pid, plan) = creator_with_plan(a).await;
    let (s, p) = b
        .as_creator(&c, Method::GET, &format!("/api/v1/projects/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["id"], pid.as_str());

    // 50 parallel one-code batches of a Free tenant, spread over both: exactly 5 accepted.
    let results = join_all((0..50).map(|i| {
        let app = if i % 2 == 0 { a } else { &b };
        app.post_batch(&c, &pid, batch(&plan, 1), None)
    }))
    .await;
    let accepted: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(accepted.len(), 5, "{results:?}");
    for (s, body) in results.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
        assert_eq!(*s, StatusCode::PAYMENT_REQUIRED, "{body}\n{}", cl.logs());
        assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    }
    for body in &accepted {
        a.wait_batch(&c, &pid, body["id"].as_str().unwrap()).await;
    }
    assert_eq!(a.all_codes(&c, &pid, "").await.len(), 5);
    assert_eq!(free_left(&b, &c).await, 0);

    // A bot disconnected through api A is no longer served by api B.
    let bot = a.connect_bot(&c, &pid, &cl.tg).await;
    assert_eq!(
        b.post_update(&bot, &updates::message(10, 42, "/start"))
            .await,
        StatusCode::OK,
        "api B serves the bot (and caches it)"
    );

    // The project and plan rows every redemption reads are cached per process; a change made
    // through api A reaches api B's cache through Redis at once, not after the 60 s
    // revalidation. Api B redeems a code (and caches both rows) …
    let codes: Vec<String> = a
        .all_codes(&c, &pid, "")
        .await
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    // `user` sends `code` to api B, which answers with `expect`.
    let redeem_on_b = |update: i64, user: i64, code: &str, expect: &'static str| {
        let update = updates::message(update, user, &format!("/start c_{code}"));
        let (b, bot, tg) = (&b, &bot, &cl.tg);
        async move {
            assert_eq!(b.post_update(bot, &update).await, StatusCode::OK);
            tg.wait_for_text(&bot.token, user, expect).await;
        }
    };
    // A change through api A, then time for api B to hear of it (far inside the 60 s
    // revalidation that would otherwise be the only way it learns).
    let patch_on_a = |path: String, body: Value| {
        let c = &c;
        async move {
            let (s, body) = a.as_creator(c, Method::PATCH, &path, Some(body)).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    redeem_on_b(100, 500, &codes[0], "Code accepted").await;
    // … the project's linked owners are cached too (none yet): an owner linked through api A
    // hears of the next redemption on api B.
    link_owner(&cl, &c, &pid, &bot).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    redeem_on_b(103, 503, &codes[3], "Code accepted").await;
    cl.tg
        .wait_for_text(&bot.token, OWNER, "New activation")
        .await;
    // … api A switches the plan off, and api B refuses the plan's next code.
    patch_on_a(
        format!("/api/v1/projects/{pid}/plans/{plan}"),
        json!({"active": false}),
    )
    .await;
    redeem_on_b(101, 501, &codes[1], "no longer available").await;
    // The same for the project: codes switched off through api A are refused by api B.
    patch_on_a(
        format!("/api/v1/projects/{pid}"),
        json!({"access_codes_enabled": false}),
    )
    .await;
    redeem_on_b(102, 502, &codes[2], "not accepted here").await;
    assert!(
        cl.tg
            .calls_to(&bot.token, "sendMessage")
            .iter()
            .filter(|m| m.params["text"]
                .as_str()
                .unwrap_or("")
                .contains("Code accepted"))
            .count()
            == 2,
        "only the codes redeemed before switching off were accepted"
    );
    let (s, _) = a
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let gone = Instant::now();
    let mut id = 11;
    loop {
        let s = b
            .post_update(&bot, &updates::message(id, 42, "/start"))
            .await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        id += 1;
        assert!(
            gone.elapsed() < Duration::from_secs(2),
            "api B still serves a disconnected bot after {:?}",
            gone.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "bot disconnect on api A seen by api B after {:?}",
        gone.elapsed()
    );
}

#[tokio::test]
async fn a_paid_tenants_split_stays_exact_while_redis_is_flushed_twice() {
    let cl = Cluster::start(2, 1, quick_timings()).await;
    let a = &cl.app;
    let b = cl.app_on(1).await;
    let (c, pid, plan) = creator_with_plan(a).await;
    a.set_billing_plan(c.tenant_id, "starter_monthly").await;
    // 60 batches of 5 against 200 free codes: 40 batches free, 20 overage, whatever Redis
    // forgets in between.
    let (clr, cr, pidr, planr) = (&cl, &c, &pid, &plan);
    let posts = join_all((0..60).map(|i| {
        let app = if i % 2 == 0 { a } else { &b };
        let (cl, c, pid, plan) = (clr, cr, pidr, planr);
        async move {
            if i == 20 || i == 40 {
                cl.flush_redis().await;
            }
            app.post_batch(c, pid, batch(plan, 5), None).await
        }
    }));
    let results = posts.await;
    for (s, body) in &results {
        assert_eq!(*s, StatusCode::ACCEPTED, "{body}\n{}", cl.logs());
    }
    let free: i64 = results
        .iter()
        .map(|(_, b)| b["free_count"].as_i64().unwrap())
        .sum();
    let overage: i64 = results
        .iter()
        .map(|(_, b)| b["overage_count"].as_i64().unwrap())
        .sum();
    assert_eq!((free, overage), (200, 100), "{results:?}");
    let (s, billing) = b.as_creator(&c, Method::GET, "/api/v1/billing", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(billing["quota"]["used"], 300, "{billing}");
    assert_eq!(billing["overage_codes"], 100, "{billing}");
}

/// A number in `0..n` from the operating system's randomness.
fn random_below(n: u64) -> u64 {
    (Uuid::new_v4().as_u128() % u128::from(n)) as u64
}

#[tokio::test]
async fn quota_stays_exact_after_a_tier_change_while_a_private_redis_is_flushed_at_random_times() {
    // Its own Redis server: flushing it touches no other test.
    let redis = gatehouse_tests::redis_server::PrivateRedis::start().await;
    let cl = Cluster::start(2, 0, env(&[("REDIS_URL", &redis.url())])).await;
    let a = &cl.app;
    let b = cl.app_on(1).await;
    for run in 0..6 {
        let (c, pid, plan) = creator_with_plan(a).await;
        // 5 codes used on Free, then Starter (200 free): 60 batches of 5 split 195 + 105.
        let (s, first) = a.post_batch(&c, &pid, batch(&plan, 5), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{first}");
        a.set_billing_plan(c.tenant_id, "starter_monthly").await;
        let flushes: Vec<u64> = (0..2).map(|_| random_below(1_500)).collect();
        let flushing = async {
            let mut at = flushes.clone();
            at.sort_unstable();
            let mut waited = 0;
            for t in at {
                tokio::time::sleep(Duration::from_millis(t - waited)).await;
                waited = t;
                redis.flush().await;
            }
        };
        let (c, pid, plan) = (&c, &pid, &plan);
        let posts = join_all((0..60).map(|i| {
            let app = if i % 2 == 0 { a } else { &b };
            async move {
                tokio::time::sleep(Duration::from_millis(random_below(300))).await;
                app.post_batch(c, pid, batch(plan, 5), None).await
            }
        }));
        let (results, ()) = tokio::join!(posts, flushing);
        for (s, body) in &results {
            assert_eq!(*s, StatusCode::ACCEPTED, "{body}\n{}", cl.logs());
        }
        let free: i64 = results
            .iter()
            .map(|(_, b)| b["free_count"].as_i64().unwrap())
            .sum();
        let overage: i64 = results
            .iter()
            .map(|(_, b)| b["overage_count"].as_i64().unwrap())
            .sum();
        let (s, billing) = b.as_creator(c, Method::GET, "/api/v1/billing", None).await;
        assert_eq!(s, StatusCode::OK);
        println!("run {run}: flushes at {flushes:?} ms, split {free} + {overage}");
        assert_eq!(
            (free, overage),
            (195, 105),
            "run {run}, flushes at {flushes:?} ms"
        );
        assert_eq!(billing["quota"]["used"], 305, "{billing}");
        assert_eq!(billing["overage_codes"], overage, "{billing}");
    }
}

#[tokio::test]
async fn overage_reaches_stripe_once_from_the_worker_while_stripe_refuses_three_tries() {
    let cl = Cluster::start(1, 2, quick_timings()).await;
    let a = &cl.app;
    let sub = a
        .subscribed_tenant(
            &cl.stripe,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
        )
        .await;
    let c = sub.c.clone();
    let pid = a.create_project_id(&c).await;
    let plan = a.create_plan(&c, &pid, monthly_plan()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    cl.stripe
        .fail_next_on("/v1/billing/meter_events", 3, Fault::ServerError);
    // 200 free, then 7 overage.
    let (s, first) = a.post_batch(&c, &pid, batch(&plan, 200), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let (s, over) = a.post_batch(&c, &pid, batch(&plan, 7), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{over}");
    assert_eq!(over["overage_count"], 7);
    // No test code calls the flusher: the workers do, after generation and on their schedule.
    wait_until("the meter event", Duration::from_secs(60), &cl, || async {
        !cl.stripe.meter_events().is_empty()
    })
    .await;
    // A few more sweeps of both workers change nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = cl.stripe.meter_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["payload"]["value"], "7", "{events:?}");
    assert_eq!(
        events[0]["payload"]["stripe_customer_id"],
        sub.customer.as_str()
    );
    let tries = cl.stripe.calls_to("POST", "/v1/billing/meter_events");
    assert_eq!(tries.len(), 4, "three refused, one accepted");
    // Every try carried the same identifier and timestamp.
    let stamps: std::collections::HashSet<_> = tries
        .iter()
        .map(|t| t.param("timestamp").map(str::to_string))
        .collect();
    assert_eq!(stamps.len(), 1, "{tries:?}");
    let (_, billing) = a.as_creator(&c, Method::GET, "/api/v1/billing", None).await;
    assert_eq!(billing["unbilled"]["codes"], 0, "{billing}");
}

#[tokio::test]
async fn workers_killed_mid_delivery_finish_the_batch_within_30s_of_restarting_without_sending_twice()
 {
    // Product timings: the recovery measured here is the one docs/decisions/jobs.md states.
    let mut cl = Cluster::start(1, 2, HashMap::new()).await;
    let (c, pid, plan) = creator_with_plan(&cl.app).await;
    cl.app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let bot = cl.app.connect_bot(&c, &pid, &cl.tg).await;
    link_owner(&cl, &c, &pid, &bot).await;
    // Telegram takes 3 s to accept the CSV: the workers die while it is on its way.
    cl.tg.delay("sendDocument", Duration::from_secs(3));
    let (s, b) = cl.app.post_batch(&c, &pid, batch(&plan, 100), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    wait_until(
        "delivery starting",
        Duration::from_secs(30),
        &cl,
        || async { cl.tg.arrivals("sendDocument") >= 1 },
    )
    .await;
    for w in &mut cl.workers {
        w.kill().await;
    }
    let restarted = Instant::now();
    cl.restart("worker", 0).await;
    cl.restart("worker", 1).await;
    wait_until("the batch done", Duration::from_secs(60), &cl, || async {
        batch_row(&cl, &id).await.delivery == entity::code_batch::DeliveryState::Sent
    })
    .await;
    let took = restarted.elapsed();
    println!("delivery finished {took:?} after the workers restarted");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let docs = cl.tg.calls_to(&bot.token, "sendDocument");
    assert_eq!(docs.len(), 1, "the creator receives the file once");
    let csv = docs[0].params["document"]["content"].as_str().unwrap();
    assert_eq!(csv.lines().count(), 101, "a header and 100 codes");
    let got = cl.app.wait_batch(&c, &pid, &id).await;
    assert_eq!(got["generated"], 100);
    assert_eq!(got["delivery"], "sent");
    assert_eq!(cl.app.all_codes(&c, &pid, "").await.len(), 100);
}

#[tokio::test]
async fn a_worker_dying_after_writing_codes_leaves_exact_counts_for_the_next_one() {
    let mut cl = Cluster::start(1, 0, quick_timings()).await;
    let (c, pid, plan) = creator_with_plan(&cl.app).await;
    cl.app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let dying = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_generation=exit")]),
        )
        .await;
    let (s, b) = cl.app.post_batch(&c, &pid, batch(&plan, 300), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        cl.workers[dying].exited().await,
        Some(86),
        "the fault ended it"
    );
    assert_eq!(batch_row(&cl, &id).await.status.to_string(), "generating");
    let started = Instant::now();
    cl.add("worker", HashMap::new()).await;
    let got = cl.app.wait_batch(&c, &pid, &id).await;
    println!(
        "batch finished {:?} after a new worker started",
        started.elapsed()
    );
    assert_eq!(got["status"], "done", "{got}");
    assert_eq!(got["generated"], 300);
    assert_eq!(cl.app.all_codes(&c, &pid, "").await.len(), 300);
    assert_eq!(free_left(&cl.app, &c).await, 500 - 300);
}

#[tokio::test]
async fn a_request_dying_after_the_reservation_is_failed_by_the_sweep_and_its_quota_released() {
    let mut cl = Cluster::start(0, 1, quick_timings()).await;
    let dying = cl
        .add(
            "api",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_reservation=exit")]),
        )
        .await;
    let erroring = cl
        .add(
            "api",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_reservation=error")]),
        )
        .await;
    let healthy = cl.add("api", HashMap::new()).await;
    let a = cl.app_on(healthy).await;
    let (c, pid, plan) = creator_with_plan(&a).await;

    // An error after the reservation: answered 500, the reservation given back at once.
    let e = cl.app_on(erroring).await;
    let (s, body) = e.post_batch(&c, &pid, batch(&plan, 5), None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(free_left(&a, &c).await, 5);

    // The process dies after reserving all 5 free codes in Redis: no answer.
    let d = cl.app_on(dying).await;
    let r = d
        .http
        .post(d.url(&format!("/api/v1/projects/{pid}/code-batches")))
        .bearer_auth(&c.token)
        .json(&batch(&plan, 5))
        .send()
        .await;
    assert!(r.is_err(), "no answer from a dead process: {r:?}");
    assert_eq!(cl.apis[dying].exited().await, Some(86));
    let stuck = entity::code_batch::Entity::find()
        .all(&a.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.tenant_id == c.tenant_id)
        .expect("the batch left reserving");
    assert_eq!(stuck.status.to_string(), "reserving");

    // The worker's sweep fails it; billing, the preview and Redis agree again.
    wait_until(
        "the stuck batch failed",
        Duration::from_secs(30),
        &cl,
        || async {
            batch_row(&cl, &stuck.id.to_string())
                .await
                .status
                .to_string()
                == "failed"
        },
    )
    .await;
    assert_eq!(free_left(&a, &c).await, 5);
    let (s, p) = a
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/preview"),
            Some(json!({"plan_id": plan, "quantity": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["allowed"], true, "{p}");
    assert_eq!(p["free_left"], 5, "{p}");
    let (s, body) = a.post_batch(&c, &pid, batch(&plan, 5), None).await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "Redis gave the 5 units back: {body}"
    );
}

#[tokio::test]
async fn sigterm_to_an_api_process_loses_none_of_its_acknowledged_updates() {
    let mut cl = Cluster::start(1, 0, quick_timings()).await;
    let (c, pid, _) = creator_with_plan(&cl.app).await;
    let bot = cl.app.connect_bot(&c, &pid, &cl.tg).await;
    let b = cl.app_on(0).await;
    // Replies take a second each to reach Telegram: they are all in flight at SIGTERM.
    cl.tg.delay("sendMessage", Duration::from_secs(1));
    let users: Vec<i64> = (0..10).map(|i| 81_000 + i).collect();
    for (i, u) in users.iter().enumerate() {
        let s = b
            .post_update(&bot, &updates::message(100 + i as i64, *u, "/start"))
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(cl.apis[0].terminate().await, Some(0), "a clean exit");
    for u in users {
        assert!(
            cl.tg
                .calls_to(&bot.token, "sendMessage")
                .iter()
                .any(|m| m.params["chat_id"].as_i64() == Some(u)),
            "user {u} got no reply:\n{}",
            cl.logs()
        );
    }
}

#[tokio::test]
async fn every_schedule_runs_in_the_real_worker_process() {
    // Product timings: code expiry at second 0 of each minute, subscription sweeps at 30;
    // the Stars reconciliation every 2 s instead of 300.
    let cl = Cluster::start(1, 1, env(&[("STARS_RECONCILE_SECS", "2")])).await;
    let a = &cl.app;
    let (c, pid, plan) = creator_with_plan(a).await;
    let bot = a.connect_bot(&c, &pid, &cl.tg).await;
    let (s, b) = a.post_batch(&c, &pid, batch(&plan, 3), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let batch_id = b["id"].as_str().unwrap().to_string();
    a.wait_batch(&c, &pid, &batch_id).await;
    let codes: Vec<String> = a
        .all_codes(&c, &pid, "")
        .await
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    // Two subscribers redeem through the bot.
    let (ending, reminded) = (91_001, 91_002);
    for (i, (user, code)) in [(ending, &codes[0]), (reminded, &codes[1])]
        .iter()
        .enumerate()
    {
        let s = a
            .post_update(
                &bot,
                &updates::message(500 + i as i64, *user, &format!("/start c_{code}")),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        cl.tg
            .wait_for_text(&bot.token, *user, "Code accepted")
            .await;
    }
    // Setup no endpoint offers: one subscription ended a minute ago, one ends in 12 hours,
    // and the third code expired.
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let now = chrono::Utc::now();
    for (user, ends) in [
        (ending, now - chrono::Duration::minutes(1)),
        (reminded, now + chrono::Duration::hours(12)),
    ] {
        let subscriber = entity::subscriber::Entity::find()
            .filter(entity::subscriber::Column::TelegramUserId.eq(user))
            .one(&a.ctx.db)
            .await
            .unwrap()
            .expect("subscriber");
        // Started a month before its end, as a 30-day plan would (a reminder is never sent
        // in a subscription's first 12 hours).
        entity::subscription::Entity::update_many()
            .col_expr(
                entity::subscription::Column::EndsAt,
                Expr::value(Some(ends)),
            )
            .col_expr(
                entity::subscription::Column::StartsAt,
                Expr::value(ends - chrono::Duration::days(30)),
            )
            .filter(entity::subscription::Column::SubscriberId.eq(subscriber.id))
            .exec(&a.ctx.db)
            .await
            .unwrap();
    }
    entity::access_code::Entity::update_many()
        .col_expr(
            entity::access_code::Column::ExpiresAt,
            Expr::value(Some(now - chrono::Duration::minutes(1))),
        )
        .filter(entity::access_code::Column::Code.eq(codes[2].clone()))
        .exec(&a.ctx.db)
        .await
        .unwrap();

    // A promo code's only place, held at a pre-checkout 20 minutes ago whose payment never
    // came: the worker's sweep gives it back.
    let (s, promo) = a
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/promo-codes"),
            Some(serde_json::json!({"code": "ONEPLACE", "percent_off": 10, "max_uses": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{promo}");
    let promo_id: uuid::Uuid = promo["id"].as_str().unwrap().parse().unwrap();
    let holder = entity::subscriber::Entity::find()
        .filter(entity::subscriber::Column::TelegramUserId.eq(ending))
        .one(&a.ctx.db)
        .await
        .unwrap()
        .expect("subscriber");
    entity::promo_hold::Entity::insert(entity::promo_hold::ActiveModel {
        id: sea_orm::Set(uuid::Uuid::now_v7()),
        tenant_id: sea_orm::Set(c.tenant_id),
        project_id: sea_orm::Set(pid.parse().unwrap()),
        promo_code_id: sea_orm::Set(promo_id),
        subscriber_id: sea_orm::Set(holder.id),
        invoice_payload: sea_orm::Set("p2.lapsed".into()),
        once_key: sea_orm::Set(Some(format!("{promo_id}:{}", holder.id))),
        payment_id: sea_orm::Set(None),
        expires_at: sea_orm::Set(now - chrono::Duration::minutes(5)),
        created_at: sea_orm::Set(now - chrono::Duration::minutes(20)),
    })
    .exec_without_returning(&a.ctx.db)
    .await
    .unwrap();
    entity::promo_code::Entity::update_many()
        .col_expr(entity::promo_code::Column::Uses, Expr::value(1))
        .filter(entity::promo_code::Column::Id.eq(promo_id))
        .exec(&a.ctx.db)
        .await
        .unwrap();

    // A Stars payment whose successful_payment update never arrived: the worker's
    // reconciliation of Star transactions records it and sends the access.
    let payer = 91_003;
    let (s, b) = a
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(serde_json::json!({"stars_enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = a
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}/plans/{plan}"),
            Some(serde_json::json!({"price_stars": 50})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let s = a
        .post_update(
            &bot,
            &updates::callback(600, payer, &format!("buy:{plan}"), &bot),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let invoice = cl
        .tg
        .wait_for(&bot.token, "createInvoiceLink", 1, Duration::from_secs(30))
        .await;
    let payload = invoice[0].params["payload"].as_str().unwrap().to_string();
    cl.tg.record_star_payment(
        &bot.token,
        payer,
        &payload,
        50,
        "cluster-charge",
        Some(2_592_000),
    );

    cl.tg
        .wait_for_text_within(
            &bot.token,
            payer,
            "Payment received",
            Duration::from_secs(75),
        )
        .await;
    cl.tg
        .wait_for_text_within(&bot.token, reminded, "ends on", Duration::from_secs(75))
        .await;
    cl.tg
        .wait_for_text_within(&bot.token, ending, "has ended", Duration::from_secs(75))
        .await;
    wait_until(
        "the expired code kept and listed as expired",
        Duration::from_secs(75),
        &cl,
        || async {
            a.all_codes(&c, &pid, "")
                .await
                .iter()
                .any(|x| x["code"] == codes[2].as_str() && x["status"] == "expired")
        },
    )
    .await;
    wait_until(
        "the lapsed promo place given back",
        Duration::from_secs(75),
        &cl,
        || async {
            let (_, list) = a
                .as_creator(
                    &c,
                    Method::GET,
                    &format!("/api/v1/projects/{pid}/promo-codes"),
                    None,
                )
                .await;
            list[0]["uses"] == 0
        },
    )
    .await;
    let subs = {
        let (s, b) = a
            .as_creator(
                &c,
                Method::GET,
                &format!("/api/v1/projects/{pid}/subscriptions"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    };
    let statuses: Vec<&str> = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"expired"), "{subs}");
    assert!(statuses.contains(&"active"), "{subs}");
}

#[tokio::test]
async fn an_update_whose_handling_fails_once_is_retried_and_answered() {
    let mut cl = Cluster::start(0, 0, quick_timings()).await;
    let blip = cl
        .add(
            "api",
            env(&[("GATEHOUSE_TEST_FAULTS", "handling_update=error_once")]),
        )
        .await;
    let a = cl.app_on(blip).await;
    let (c, pid, _) = creator_with_plan(&a).await;
    let bot = a.connect_bot(&c, &pid, &cl.tg).await;
    let s = a
        .post_update(&bot, &updates::message(1, 93_001, "/start"))
        .await;
    assert_eq!(s, StatusCode::OK);
    // The first handling failed (a database blip); the retry answers the user, once.
    cl.tg.wait_for_text(&bot.token, 93_001, "").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let replies = cl
        .tg
        .calls_to(&bot.token, "sendMessage")
        .into_iter()
        .filter(|m| m.params["chat_id"].as_i64() == Some(93_001))
        .count();
    assert_eq!(replies, 1);
    assert!(cl.apis[blip].logs().contains("retrying"), "{}", cl.logs());
}

/// What allows a redemption — the plan offered, codes accepted, the tenant active — is
/// checked against the database in the redemption's own conditional update, so a change
/// made through one api process is refused at once by another even when its cache
/// announcement is lost (the `announcement` fault point drops every one here) and the
/// other process still holds the old rows for its 60 s revalidation. (Turning something
/// back on may take that long to reach a process that missed the announcement; turning it
/// off may not.)
#[tokio::test]
async fn a_change_whose_announcement_is_lost_is_still_refused_by_the_other_api_process() {
    let mut extra = quick_timings();
    extra.insert("GATEHOUSE_TEST_FAULTS".into(), "announcement=error".into());
    let cl = Cluster::start(2, 1, extra).await;
    let a = &cl.app;
    let b = cl.app_on(1).await;
    let staff = a.staff(domain::accounts::StaffRole::Staff).await;
    // Each change on a tenant of its own: two codes, the first redeemed through api B (which
    // then caches the tenant, the project and the plan as allowed), the change made through
    // api A, the second code sent to api B.
    let changes: [(&str, &str); 3] = [
        ("plan", "no longer available"),
        ("codes", "not accepted here"),
        ("suspension", "paused"),
    ];
    for (i, (change, refusal)) in changes.into_iter().enumerate() {
        let (c, pid, plan) = creator_with_plan(a).await;
        let (s, body) = a.post_batch(&c, &pid, batch(&plan, 2), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        a.wait_batch(&c, &pid, body["id"].as_str().unwrap()).await;
        let codes: Vec<String> = a
            .all_codes(&c, &pid, "")
            .await
            .iter()
            .map(|c| c["code"].as_str().unwrap().to_string())
            .collect();
        let bot = a.connect_bot(&c, &pid, &cl.tg).await;
        let user = 610 + 2 * i as i64;
        let redeem_on_b = |update: i64, user: i64, code: &str, expect: &'static str| {
            let update = updates::message(update, user, &format!("/start c_{code}"));
            let (b, bot, tg) = (&b, &bot, &cl.tg);
            async move {
                assert_eq!(b.post_update(bot, &update).await, StatusCode::OK);
                tg.wait_for_text(&bot.token, user, expect).await;
            }
        };
        redeem_on_b(1, user, &codes[0], "Code accepted").await;
        let (s, body) = match change {
            "plan" => {
                a.as_creator(
                    &c,
                    Method::PATCH,
                    &format!("/api/v1/projects/{pid}/plans/{plan}"),
                    Some(json!({"active": false})),
                )
                .await
            }
            "codes" => {
                a.as_creator(
                    &c,
                    Method::PATCH,
                    &format!("/api/v1/projects/{pid}"),
                    Some(json!({"access_codes_enabled": false})),
                )
                .await
            }
            _ => {
                a.call(
                    Method::POST,
                    &format!("/api/v1/staff/tenants/{}/suspend", c.tenant_id),
                    Some(&staff.token),
                    Some(json!({"reason": "chargebacks"})),
                )
                .await
            }
        };
        assert!(s.is_success(), "{change}: {s} {body}");
        redeem_on_b(2, user + 1, &codes[1], refusal).await;
        let granted = entity::activation::Entity::find()
            .filter(entity::activation::Column::TenantId.eq(c.tenant_id))
            .all(&a.ctx.db)
            .await
            .unwrap();
        assert_eq!(granted.len(), 1, "{change}: {granted:?}");
    }

    // Ids that are no bot are answered 404 by api B from a short negative cache: a bot row
    // that appears behind its back is not seen until the cache forgets the id. (A process of
    // its own: the test process's caches are shared by every test running in it.)
    let (c, pid, _) = creator_with_plan(a).await;
    let bot = a.connect_bot(&c, &pid, &cl.tg).await;
    let row = entity::bot::Entity::find_by_id(bot.id)
        .one(&a.ctx.db)
        .await
        .unwrap()
        .unwrap();
    entity::bot::Entity::delete_by_id(bot.id)
        .exec(&a.ctx.db)
        .await
        .unwrap();
    let first = Instant::now();
    let start = |id: i64| updates::message(id, 700, "/start");
    assert_eq!(b.post_update(&bot, &start(1)).await, StatusCode::NOT_FOUND);
    use sea_orm::ActiveModelTrait;
    entity::bot::ActiveModel::from(row)
        .insert(&a.ctx.db)
        .await
        .unwrap();
    assert_eq!(
        b.post_update(&bot, &start(2)).await,
        StatusCode::NOT_FOUND,
        "answered from the negative cache"
    );
    let forget = domain::telegram::registry::FORGET_UNKNOWN_AFTER;
    let mut id = 3;
    while b.post_update(&bot, &start(id)).await == StatusCode::NOT_FOUND {
        assert!(
            first.elapsed() < forget + Duration::from_secs(10),
            "still unknown after {:?}",
            first.elapsed()
        );
        id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        first.elapsed() >= forget,
        "served after {:?}: no negative cache",
        first.elapsed()
    );
}
