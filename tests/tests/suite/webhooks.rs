//! Outgoing webhooks through the API, the bot and the worker, against a local receiver (an
//! axum server on 127.0.0.1:0). Signatures are checked with the `standardwebhooks` crate
//! from crates.io — an implementation independent of ours (it uses `hmac-sha256`, the
//! product the RustCrypto `hmac` crate).
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration as StdDuration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::{assert_error, isolated_pg_database},
    factories::{BotProject, assert_field_error},
    web::{assert_contains, assert_lacks},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_string()
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    /// Requests still to answer with 500.
    fail_next: Arc<AtomicUsize>,
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    state: ReceiverState,
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.got.lock().unwrap().push(Received { headers, body });
    let failing = s
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let state = ReceiverState::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state }
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits (bounded) for at least `n` requests.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("expected {n} webhook requests, got {:?}", self.got());
    }
}

/// Checks the signature with the independent `standardwebhooks` implementation.
fn verify(secret: &str, r: &Received) {
    let wh = standardwebhooks::Webhook::new(secret).expect("secret");
    let mut headers = HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, r.header(name).parse().unwrap());
    }
    wh.verify(&r.body, &headers)
        .unwrap_or_else(|e| panic!("signature of {:?} rejected: {e:?}", r.json()));
}

/// Settings for a test app that sends webhooks: private receivers allowed, fast polling and
/// retries, and a database of its own — every worker sends every tenant's outbox, so apps
/// of tests running beside this one (other settings, other clocks) must not see it.
pub(crate) async fn fast_webhooks() -> HashMap<String, String> {
    HashMap::from([
        ("DATABASE_URL".to_string(), isolated_pg_database().await),
        ("WEBHOOK_ALLOW_PRIVATE".to_string(), "true".to_string()),
        ("WEBHOOK_POLL_MS".to_string(), "50".to_string()),
        ("WEBHOOK_RETRY_BASE_SECS".to_string(), "0".to_string()),
    ])
}

async fn bot_project() -> BotProject {
    let mut b = BotProject::builder(Backend::Postgres);
    for (k, v) in fast_webhooks().await {
        b = b.env(&k, &v);
    }
    b.build().await
}

/// Creates an endpoint; returns its id and secret.
pub(crate) async fn endpoint(
    app: &TestApp,
    c: &Creator,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let (s, b) = app
        .as_creator(
            c,
            Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(json!({"url": url, "event_types": events})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let secret = b["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (b["id"].as_str().unwrap().to_string(), secret)
}

#[tokio::test]
async fn signed_events_reach_only_the_endpoints_that_subscribed_to_them() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    let redeemed = Receiver::start().await;
    let batches = Receiver::start().await;
    let (rid, rsecret) = endpoint(
        app,
        c,
        &redeemed.url,
        &["code.redeemed", "subscription.created"],
    )
    .await;
    let (_, bsecret) = endpoint(app, c, &batches.url, &["code_batch.done"]).await;

    let codes = bp.codes(1, json!({})).await;
    let got = batches.wait_for(1).await;
    verify(&bsecret, &got[0]);
    let done = got[0].json();
    assert_eq!(done["type"], "code_batch.done");
    assert_eq!(done["version"], 1);
    assert_eq!(done["data"]["quantity"], 1);
    assert_eq!(done["data"]["project_id"], bp.pid.as_str());

    bp.say(701, &format!("/start c_{}", codes[0])).await;
    bp.reply(701, "Code accepted").await;
    let got = redeemed.wait_for(2).await;
    for r in &got {
        verify(&rsecret, r);
        let body = r.json();
        // The header id is the body's stable event id.
        assert_eq!(r.header("webhook-id"), body["id"].as_str().unwrap());
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert!(body["timestamp"].is_string());
        assert_eq!(r.header("content-type"), "application/json");
    }
    let mut types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["code.redeemed", "subscription.created"]);
    let redemption = got
        .iter()
        .map(Received::json)
        .find(|b| b["type"] == "code.redeemed")
        .unwrap();
    assert_eq!(redemption["data"]["code"], codes[0].as_str());
    assert_eq!(redemption["data"]["subscriber"]["telegram_user_id"], 701);

    // Redeeming a second code of the plan extends: `subscription.extended` is not wanted here.
    let more = bp.codes(1, json!({})).await;
    bp.say(701, &format!("/start c_{}", more[0])).await;
    bp.replies(701, "Code accepted", 2).await;
    let got = redeemed.wait_for(3).await;
    let third = got[2].json();
    assert_eq!(third["type"], "code.redeemed", "{third}");
    batches.wait_for(2).await;
    // Give a stray unsubscribed event every chance to show up before counting.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(redeemed.got().len(), 3);
    assert_eq!(batches.got().len(), 2);
    assert!(
        batches
            .got()
            .iter()
            .all(|r| r.json()["type"] == "code_batch.done")
    );

    // The delivery log shows each as delivered with a 200.
    let (s, log) = app
        .as_creator(
            c,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{rid}/attempts"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|a| a["status_code"] == 200), "{log:?}");
    let (_, deliveries) = app
        .as_creator(
            c,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{rid}/deliveries"),
            None,
        )
        .await;
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{deliveries}"
    );
}

#[tokio::test]
async fn a_receiver_answering_500_is_retried_until_it_takes_the_event_and_can_be_retried_by_hand() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    let r = Receiver::start().await;
    r.state.fail_next.store(2, Ordering::SeqCst);
    let (eid, secret) = endpoint(app, c, &r.url, &["code_batch.done"]).await;
    bp.codes(1, json!({})).await;
    let got = r.wait_for(3).await;
    // The same event, signed each time.
    let ids: HashSet<String> = got.iter().map(|x| x.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "{got:?}");
    for x in &got {
        verify(&secret, x);
    }
    let deliveries = loop {
        let (_, d) = app
            .as_creator(
                c,
                Method::GET,
                &format!("/api/v1/webhooks/endpoints/{eid}/deliveries"),
                None,
            )
            .await;
        if d[0]["status"] == "delivered" {
            break d;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    assert_eq!(deliveries[0]["attempts"], 3);
    let (_, log) = app
        .as_creator(
            c,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{eid}/attempts"),
            None,
        )
        .await;
    let codes: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert!(log[0]["latency_ms"].is_i64());

    // Manual retry sends the same event again.
    let did = deliveries[0]["id"].as_str().unwrap();
    let (s, b) = app
        .as_creator(
            c,
            Method::POST,
            &format!("/api/v1/webhooks/endpoints/{eid}/deliveries/{did}/retry"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let got = r.wait_for(4).await;
    assert_eq!(got[3].header("webhook-id"), got[0].header("webhook-id"));
    verify(&secret, &got[3]);
}

#[tokio::test]
async fn after_24_hours_of_failures_the_endpoint_is_failing_and_the_owner_is_told() {
    let mut b = BotProject::builder(Backend::Postgres).owner(4242);
    for (k, v) in fast_webhooks().await {
        b = b.env(&k, &v);
    }
    let bp = b.build().await;
    let (app, c) = (&bp.app, &bp.c);
    let r = Receiver::start().await;
    r.state.fail_next.store(usize::MAX, Ordering::SeqCst);
    let (eid, _) = endpoint(app, c, &r.url, &["code_batch.done"]).await;
    bp.codes(1, json!({})).await;
    r.wait_for(2).await;
    app.clock.advance(chrono::Duration::hours(25));
    bp.reply(4242, "webhook endpoint").await;
    let c = app.relogin(c).await;
    let (_, e) = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{eid}"),
            None,
        )
        .await;
    assert!(e["failing_since"].is_string(), "{e}");
    let (_, d) = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{eid}/deliveries"),
            None,
        )
        .await;
    assert_eq!(d[0]["status"], "failed", "{d}");
}

#[tokio::test]
async fn nothing_is_sent_for_a_suspended_workspace_until_it_is_unsuspended() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    let r = Receiver::start().await;
    let (_, secret) = endpoint(app, c, &r.url, &["subscription.ended"]).await;
    let codes = bp.codes(1, json!({})).await;
    bp.say(702, &format!("/start c_{}", codes[0])).await;
    bp.reply(702, "Code accepted").await;

    let staff = app.staff(domain::accounts::StaffRole::Staff).await;
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/api/v1/staff/tenants/{}/suspend", c.tenant_id),
            Some(&staff.token),
            Some(json!({"reason": "unpaid"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The subscription ends while the workspace is suspended: the event is written...
    // (Its end is moved into the past in the database rather than the clock moved forward,
    // so the signature's timestamp stays near the real time the verifier compares with.)
    entity::subscription::Entity::update_many()
        .col_expr(
            entity::subscription::Column::EndsAt,
            sea_orm::sea_query::Expr::value(Some(app.ctx.now() - chrono::Duration::minutes(1))),
        )
        .filter(entity::subscription::Column::TenantId.eq(c.tenant_id))
        .exec(&app.ctx.db)
        .await
        .unwrap();
    // (The worker's own minute sweep may be the one that ends it.)
    domain::subscriptions::expire_due(&app.ctx).await.unwrap();
    let held = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::TenantId.eq(c.tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].event_type, "subscription.ended");
    // ... but held: no sender claims it.
    let pass = domain::webhooks::deliver_due(&app.ctx).await.unwrap();
    assert_eq!(pass.claimed, 0);
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(r.got().is_empty(), "{:?}", r.got());

    let (s, b) = app
        .call(
            Method::POST,
            &format!("/api/v1/staff/tenants/{}/unsuspend", c.tenant_id),
            Some(&staff.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got = r.wait_for(1).await;
    verify(&secret, &got[0]);
    let body = got[0].json();
    assert_eq!(body["type"], "subscription.ended");
    assert_eq!(body["data"]["status"], "expired");
    assert_eq!(body["data"]["subscriber"]["telegram_user_id"], 702);
}

#[tokio::test]
async fn parallel_senders_deliver_each_event_once() {
    let app = TestApp::spawn_full(Backend::Postgres, fast_webhooks().await, false).await;
    let c = app.signup().await;
    let r = Receiver::start().await;
    endpoint(&app, &c, &r.url, &["code.redeemed"]).await;
    let now = app.ctx.now();
    for i in 0..40 {
        domain::events::emit(
            &app.ctx.db,
            c.tenant_id,
            domain::events::Event::new(domain::events::EventType::CodeRedeemed, json!({"n": i})),
            now,
        )
        .await
        .unwrap();
    }
    let passes =
        futures::future::join_all((0..4).map(|_| domain::webhooks::deliver_due(&app.ctx))).await;
    let passes: Vec<_> = passes.into_iter().map(Result::unwrap).collect();
    let delivered: usize = passes.iter().map(|p| p.delivered).sum();
    let errors: Vec<(Option<i32>, Option<String>)> = entity::webhook_attempt::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status_code != Some(200))
        .map(|a| (a.status_code, a.error))
        .collect();
    assert!(errors.is_empty(), "{passes:?} {errors:?}");
    assert_eq!(delivered, 40);
    let got = r.got();
    assert_eq!(got.len(), 40);
    let ids: HashSet<String> = got.iter().map(|x| x.header("webhook-id")).collect();
    assert_eq!(ids.len(), 40);
}

#[tokio::test]
async fn endpoints_must_be_https_and_public_unless_allowed() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let got = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(json!({"url": "http://example.com/hook", "event_types": ["code.redeemed"]})),
        )
        .await;
    assert_field_error(&got, "url", "https_required", "plain http");
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
        "https://[::a00:8]/hook",
        "https://[2002:a00:8::1]/hook",
        "https://[fec0::1]/hook",
        "https://localhost:8443/hook",
    ] {
        let got = app
            .as_creator(
                &c,
                Method::POST,
                "/api/v1/webhooks/endpoints",
                Some(json!({"url": url, "event_types": ["code.redeemed"]})),
            )
            .await;
        assert_field_error(&got, "url", "private_address", url);
    }
    let got = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(json!({"url": "https://hooks.example.com/x", "event_types": ["nope"]})),
        )
        .await;
    assert_field_error(&got, "event_types", "unknown_event_type", "unknown type");

    // Another workspace's endpoint is not found.
    let allowed = TestApp::spawn_on(Backend::Postgres, fast_webhooks().await).await;
    let a = allowed.signup().await;
    let b = allowed.signup().await;
    let (id, _) = endpoint(&allowed, &a, "http://127.0.0.1:9/hook", &["code.redeemed"]).await;
    let got = allowed
        .as_creator(
            &b,
            Method::GET,
            &format!("/api/v1/webhooks/endpoints/{id}"),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
    let (_, list) = allowed
        .as_creator(&a, Method::GET, "/api/v1/webhooks/endpoints", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none(), "{list}");
}

#[tokio::test]
async fn the_dashboard_adds_an_endpoint_shows_its_secret_once_and_lists_its_deliveries() {
    let bp = bot_project().await;
    let app = &bp.app;
    let r = Receiver::start().await;
    r.state.fail_next.store(1, Ordering::SeqCst);
    let mut w = app.web_login(&bp.c.email).await;

    let bad = w
        .post_form(
            "/webhooks",
            &[
                ("url", "ftp://example.com"),
                ("event_types", "code.redeemed"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_contains(&bad.body, "must be an https:// URL");

    let made = w
        .post_form(
            "/webhooks",
            &[("url", &r.url), ("event_types", "code_batch.done")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = made
        .body
        .split("<code id=\"webhook-secret\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the secret on the page")
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let list = w.get("/webhooks").await;
    assert_lacks(&list.body, &secret);
    assert_contains(&list.body, &r.url);

    bp.codes(1, json!({})).await;
    // The first attempt gets a 500; the retry succeeds. Both signed with the shown secret.
    let got = r.wait_for(2).await;
    for x in &got {
        verify(&secret, x);
    }
    let (_, eps) = app
        .as_creator(&bp.c, Method::GET, "/api/v1/webhooks/endpoints", None)
        .await;
    let id = eps[0]["id"].as_str().unwrap().to_string();
    let page = w.get(&format!("/webhooks/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "code_batch.done");
    assert_contains(&page.body, "500");
    let did = page
        .body
        .split("id=\"delivery-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let again = w
        .post_form(&format!("/webhooks/{id}/deliveries/{did}/retry"), &[])
        .await;
    assert_contains(&again.body, "queued to be sent again");
    r.wait_for(3).await;

    // Another workspace's endpoint page is not found.
    let other = app.signup().await;
    let mut w2 = app.web_login(&other.email).await;
    assert_eq!(
        w2.get(&format!("/webhooks/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Which endpoints listen is cached per process (every grant asks); adding or disabling one
/// through the API takes effect for the very next event.
#[tokio::test]
async fn an_endpoint_added_or_disabled_counts_from_the_next_event() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    // A redemption with no endpoint yet: the process now knows "nobody listens".
    let codes = bp.codes(3, json!({})).await;
    bp.say(711, &format!("/start c_{}", codes[0])).await;
    bp.reply(711, "Code accepted").await;

    let receiver = Receiver::start().await;
    let (eid, _) = endpoint(app, c, &receiver.url, &["code.redeemed"]).await;
    bp.say(712, &format!("/start c_{}", codes[1])).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["data"]["subscriber"]["telegram_user_id"], 712);

    let (s, b) = app
        .as_creator(
            c,
            Method::PATCH,
            &format!("/api/v1/webhooks/endpoints/{eid}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    bp.say(713, &format!("/start c_{}", codes[2])).await;
    bp.reply(713, "Code accepted").await;
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(
        receiver.got().len(),
        1,
        "a disabled endpoint gets nothing new"
    );
    // Held, not dropped: enabled again, it receives the event it missed.
    let (s, b) = app
        .as_creator(
            c,
            Method::PATCH,
            &format!("/api/v1/webhooks/endpoints/{eid}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "the held event, once");
    assert_eq!(got[1].json()["data"]["subscriber"]["telegram_user_id"], 713);
}

#[tokio::test]
async fn an_endpoint_deleted_while_another_process_has_it_cached_never_fails_a_redemption() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    let receiver = Receiver::start().await;
    let (eid, _) = endpoint(app, c, &receiver.url, &["code.redeemed"]).await;
    let codes = bp.codes(2, json!({})).await;
    bp.say(721, &format!("/start c_{}", codes[0])).await;
    bp.reply(721, "Code accepted").await;
    receiver.wait_for(1).await;

    // Another process deletes the endpoint and its announcement never arrives here: the row
    // goes (its deliveries with it), this process still has the endpoint cached.
    entity::webhook_endpoint::Entity::delete_by_id(eid.parse::<uuid::Uuid>().unwrap())
        .exec(&app.ctx.db)
        .await
        .unwrap();
    bp.say(722, &format!("/start c_{}", codes[1])).await;
    bp.reply(722, "Code accepted").await;
    let subs = bp.subscriptions().await;
    assert_eq!(subs.len(), 2, "both redemptions granted: {subs:?}");
    let rows = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::TenantId.eq(c.tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert!(rows.is_empty(), "no row for the deleted endpoint: {rows:?}");
}

#[tokio::test]
async fn a_stars_subscription_reaches_webhooks_in_stars_not_the_plans_currency() {
    use gatehouse_tests::stars;
    let env = fast_webhooks().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The plan's fiat price is 15.00 USD; it is bought for 250 ⭐.
    let s = stars::setup(30, 250, &env).await;
    let r = Receiver::start().await;
    endpoint(
        &s.app,
        &s.c,
        &r.url,
        &["subscription.created", "payment.succeeded"],
    )
    .await;
    stars::subscribe(&s, 9_191, 250, "xtr-1").await;
    let got = r.wait_for(2).await;
    let by_type = |t: &str| {
        got.iter()
            .map(Received::json)
            .find(|e| e["type"] == t)
            .unwrap_or_else(|| panic!("{t} in {got:?}"))
    };
    let created = by_type("subscription.created");
    assert_eq!(created["data"]["currency"], "XTR", "{created}");
    assert_eq!(created["data"]["price_minor"], 250, "{created}");
    let paid = by_type("payment.succeeded");
    assert_eq!(paid["data"]["currency"], "XTR", "{paid}");
    assert_eq!(paid["data"]["amount"], 250, "{paid}");
}

#[tokio::test]
async fn a_finished_broadcast_emits_broadcast_done_once_with_its_counts() {
    let bp = bot_project().await;
    let (app, c) = (&bp.app, &bp.c);
    let hook = Receiver::start().await;
    let (_, secret) = endpoint(app, c, &hook.url, &["broadcast.done"]).await;
    let codes = bp.codes(2, json!({})).await;
    for (user, code) in [801, 802].iter().zip(&codes) {
        bp.say(*user, &format!("/start c_{code}")).await;
        bp.reply(*user, "Code accepted").await;
    }
    bp.tg.block(&bp.bot.token, 802);
    let (s, b) = app
        .as_creator(
            c,
            Method::POST,
            &format!("/api/v1/projects/{}/broadcasts", bp.pid),
            Some(json!({"text": "<i>News</i>", "segment": {"kind": "all"}, "send": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let got = hook.wait_for(1).await;
    verify(&secret, &got[0]);
    let done = got[0].json();
    assert_eq!(done["type"], "broadcast.done");
    assert_eq!(done["data"]["broadcast_id"], b["id"]);
    assert_eq!(done["data"]["project_id"], bp.pid.as_str());
    assert_eq!(done["data"]["recipients"], 2, "{done}");
    assert_eq!(done["data"]["sent"], 1, "{done}");
    assert_eq!(done["data"]["blocked"], 1, "{done}");
    // Running the job again after it finished emits nothing more.
    let id = uuid::Uuid::parse_str(b["id"].as_str().unwrap()).unwrap();
    domain::broadcasts::run(&app.ctx, id).await.unwrap();
    app.wait_idle().await;
    let n = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::TenantId.eq(c.tenant_id))
        .filter(entity::webhook_delivery::Column::EventType.eq("broadcast.done"))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .len();
    assert_eq!(n, 1);
}
