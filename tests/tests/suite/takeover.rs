//! Claims held by a worker that dies are taken over within 30 s, with the product's timings:
//! real `gatehouse worker` processes, one paused by a fault point right after it claimed a
//! piece of work (so the moment is certain), then SIGKILLed. Its claim is tied to its
//! heartbeat, not only to a lease of minutes: while it beats, nobody takes the work; once it
//! stops, another worker does, and the work arrives exactly as often as the contract says.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use gatehouse_tests::{
    cluster::Cluster,
    factories::{Subscribed, batch},
    fake_stripe,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::cluster::{OWNER, batch_row, creator_with_plan, env, link_owner, wait_until};

/// The promise: a dead worker's claim is taken over this soon.
const TAKEOVER: Duration = Duration::from_secs(30);

async fn usage_of(cl: &Cluster, tenant: Uuid) -> Vec<entity::usage_record::Model> {
    entity::usage_record::Entity::find()
        .filter(entity::usage_record::Column::TenantId.eq(tenant))
        .all(&cl.app.ctx.db)
        .await
        .unwrap()
}

/// A Starter tenant (200 free codes) whose second batch of 7 is overage: the usage record
/// the workers must send to Stripe.
async fn overage_of_seven(cl: &Cluster) -> Subscribed {
    let sub = cl
        .app
        .subscribed_tenant(
            &cl.stripe,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
        )
        .await;
    let pid = cl.app.create_project_id(&sub.c).await;
    let plan = cl
        .app
        .create_plan(&sub.c, &pid, gatehouse_tests::factories::monthly_plan())
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (n, overage) in [(200, 0), (7, 7)] {
        let (s, b) = cl.app.post_batch(&sub.c, &pid, batch(&plan, n), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["overage_count"], overage);
    }
    sub
}

#[tokio::test]
async fn a_usage_record_held_by_a_killed_worker_reaches_stripe_once_within_30s() {
    let mut cl = Cluster::start(1, 0, HashMap::new()).await;
    let holder = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_usage_claim=pause")]),
        )
        .await;
    let sub = overage_of_seven(&cl).await;
    wait_until(
        "the holder's claim",
        Duration::from_secs(60),
        &cl,
        || async {
            usage_of(&cl, sub.c.tenant_id)
                .await
                .iter()
                .any(|r| r.claimed_by.is_some() && r.attempts == 1)
        },
    )
    .await;

    // A second, healthy worker does not take the claim of a live (beating) one, even past
    // the time a dead one's claim would be free.
    cl.add("worker", HashMap::new()).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(
        cl.stripe.meter_events().is_empty(),
        "a live worker's claim was taken"
    );

    cl.workers[holder].kill().await;
    let killed = Instant::now();
    wait_until("the meter event", Duration::from_secs(90), &cl, || async {
        !cl.stripe.meter_events().is_empty()
    })
    .await;
    let took = killed.elapsed();
    println!("usage record sent {took:?} after its holder was killed");
    assert!(took < TAKEOVER, "took {took:?}");
    // A few more sweeps send nothing more.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let events = cl.stripe.meter_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["payload"]["value"], "7");
    assert_eq!(
        events[0]["payload"]["stripe_customer_id"],
        sub.customer.as_str()
    );
    let recs = usage_of(&cl, sub.c.tenant_id).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].status.to_string(), "sent");
    assert_eq!(
        recs[0].claimed_by, None,
        "settled records are held by nobody"
    );
}

#[tokio::test]
async fn a_usage_record_sent_by_a_worker_killed_before_recording_it_is_resent_under_its_identifier()
{
    // A quick heartbeat: this test is about the identifier, not the timing.
    let quick = env(&[("JOB_HEARTBEAT_SECS", "1"), ("JOB_SWEEP_SECS", "1")]);
    let mut cl = Cluster::start(1, 0, quick).await;
    let holder = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_usage_sent=pause")]),
        )
        .await;
    let sub = overage_of_seven(&cl).await;
    wait_until("the first send", Duration::from_secs(60), &cl, || async {
        !cl.stripe.meter_events().is_empty()
    })
    .await;
    cl.workers[holder].kill().await;
    cl.add("worker", HashMap::new()).await;
    wait_until(
        "the record settled",
        Duration::from_secs(60),
        &cl,
        || async {
            usage_of(&cl, sub.c.tenant_id)
                .await
                .iter()
                .all(|r| r.status.to_string() == "sent")
        },
    )
    .await;
    let events = cl.stripe.meter_events();
    assert_eq!(events.len(), 2, "sent by the dead worker and its successor");
    // Same identifier and timestamp: Stripe counts the usage once.
    let ids: HashSet<_> = events.iter().map(|e| e["identifier"].clone()).collect();
    let stamps: HashSet<_> = events.iter().map(|e| e["timestamp"].clone()).collect();
    assert_eq!((ids.len(), stamps.len()), (1, 1), "{events:?}");
    let recs = usage_of(&cl, sub.c.tenant_id).await;
    assert_eq!(ids.into_iter().next().unwrap(), recs[0].identifier.as_str());
}

#[tokio::test]
async fn a_batch_delivery_held_by_a_killed_worker_reaches_the_owner_once_within_30s() {
    let mut cl = Cluster::start(1, 0, HashMap::new()).await;
    let (c, pid, plan) = creator_with_plan(&cl.app).await;
    cl.app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let bot = cl.app.connect_bot(&c, &pid, &cl.tg).await;
    link_owner(&cl, &c, &pid, &bot).await;
    let holder = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_delivery_claim=pause")]),
        )
        .await;
    // 30 codes go as one CSV file (smaller batches go a message a second, paced per chat).
    let (s, b) = cl.app.post_batch(&c, &pid, batch(&plan, 30), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    wait_until(
        "the holder's claim",
        Duration::from_secs(60),
        &cl,
        || async { batch_row(&cl, &id).await.claimed_by.is_some() },
    )
    .await;
    assert!(cl.tg.calls_to(&bot.token, "sendDocument").is_empty());
    cl.workers[holder].kill().await;
    let killed = Instant::now();
    cl.add("worker", HashMap::new()).await;
    wait_until(
        "the batch delivered",
        Duration::from_secs(90),
        &cl,
        || async { batch_row(&cl, &id).await.delivery == entity::code_batch::DeliveryState::Sent },
    )
    .await;
    let took = killed.elapsed();
    println!("batch delivered {took:?} after its holder was killed");
    assert!(took < TAKEOVER, "took {took:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let docs = cl.tg.calls_to(&bot.token, "sendDocument");
    assert_eq!(docs.len(), 1, "the owner receives the file once");
    assert_eq!(docs[0].params["chat_id"], OWNER);
    let csv = docs[0].params["document"]["content"].as_str().unwrap();
    assert_eq!(csv.lines().count(), 31, "a header and 30 codes");
}

/// A receiver that counts the webhook requests it got (and answers 200).
pub(crate) async fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use axum::{Router, body::Bytes, extract::State, routing::post};
    type Got = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;
    async fn take(State(got): State<Got>, body: Bytes) -> StatusCode {
        got.lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap_or_default());
        StatusCode::OK
    }
    let got: Got = Default::default();
    let app = Router::new()
        .route("/hook", post(take))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// `c` adds an endpoint at `url` for `code_batch.done`, through the API.
async fn batch_done_endpoint(cl: &Cluster, c: &gatehouse_tests::Creator, url: &str) {
    let (s, b) = cl
        .app
        .as_creator(
            c,
            reqwest::Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(serde_json::json!({"url": url, "event_types": ["code_batch.done"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn a_webhook_delivery_held_by_a_killed_worker_reaches_the_receiver_once_within_30s() {
    let mut cl = Cluster::start(1, 0, env(&[("WEBHOOK_ALLOW_PRIVATE", "true")])).await;
    let (c, pid, plan) = creator_with_plan(&cl.app).await;
    let (url, got) = receiver().await;
    batch_done_endpoint(&cl, &c, &url).await;
    let holder = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_webhook_claim=pause")]),
        )
        .await;
    let (s, b) = cl.app.post_batch(&c, &pid, batch(&plan, 3), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let held = || async {
        entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::TenantId.eq(c.tenant_id))
            .all(&cl.app.ctx.db)
            .await
            .unwrap()
            .into_iter()
            .any(|d| d.claimed_by.is_some())
    };
    wait_until("the holder's claim", Duration::from_secs(60), &cl, held).await;
    assert!(got.lock().unwrap().is_empty());
    cl.workers[holder].kill().await;
    let killed = Instant::now();
    cl.add("worker", HashMap::new()).await;
    wait_until("the webhook", Duration::from_secs(90), &cl, || async {
        !got.lock().unwrap().is_empty()
    })
    .await;
    let took = killed.elapsed();
    println!("webhook delivered {took:?} after its holder was killed");
    assert!(took < TAKEOVER, "took {took:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["type"], "code_batch.done");
    assert_eq!(got[0]["data"]["quantity"], 3);
}

#[tokio::test]
async fn webhooks_ignore_proxy_settings_of_the_worker_process() {
    // Every proxy variable points at a port nobody listens on: a client that honoured them
    // would never reach the receiver.
    let dead = "http://127.0.0.1:9";
    // The proxies are the worker's (the api process connects the bot through the fake
    // Telegram as usual); the worker sends the webhook.
    let mut cl = Cluster::start(1, 0, env(&[("WEBHOOK_ALLOW_PRIVATE", "true")])).await;
    cl.add(
        "worker",
        env(&[
            ("HTTP_PROXY", dead),
            ("HTTPS_PROXY", dead),
            ("ALL_PROXY", dead),
            ("http_proxy", dead),
            ("https_proxy", dead),
            ("all_proxy", dead),
        ]),
    )
    .await;
    let (c, pid, plan) = creator_with_plan(&cl.app).await;
    let (url, got) = receiver().await;
    batch_done_endpoint(&cl, &c, &url).await;
    let (s, b) = cl.app.post_batch(&c, &pid, batch(&plan, 2), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    wait_until("the webhook", Duration::from_secs(60), &cl, || async {
        !got.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(got.lock().unwrap()[0]["type"], "code_batch.done");
}
