//! One tenant never stalls another's webhooks: twenty endpoints that accept connections and
//! never answer, plus a loop of manual retries, leave another tenant's event arriving within
//! 5 s; no endpoint ever has more than two attempts in flight; an endpoint that keeps
//! timing out is cooled down; manual retries are rate-limited. Through the app's own worker
//! (in-process, on a database of its own) and HTTP.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use gatehouse_tests::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::webhooks::{Receiver, endpoint, fast_webhooks};

/// A receiver that accepts connections and never answers (nor closes them).
struct Tarpit {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Tarpit { url, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn emit(app: &TestApp, tenant: uuid::Uuid, n: i64) {
    domain::events::emit(
        &app.ctx.db,
        tenant,
        domain::events::Event::new(domain::events::EventType::CodeRedeemed, json!({"n": n})),
        app.ctx.now(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn twenty_tarpits_and_a_retry_loop_never_delay_another_tenants_event() {
    let app = TestApp::spawn_on(Backend::Postgres, fast_webhooks().await).await;
    let a = app.signup().await;
    let b = app.signup().await;
    let mut tarpits = Vec::new();
    let mut a_endpoints = Vec::new();
    for _ in 0..domain::webhooks::MAX_ENDPOINTS {
        let t = Tarpit::start().await;
        a_endpoints.push(endpoint(&app, &a, &t.url, &["code.redeemed"]).await.0);
        tarpits.push(t);
    }
    // Five events for each of A's endpoints.
    for n in 0..5 {
        emit(&app, a.tenant_id, n).await;
    }
    let deliveries: Vec<(String, String)> = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::TenantId.eq(a.tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.endpoint_id.to_string(), d.id.to_string()))
        .collect();
    assert_eq!(deliveries.len(), 100);
    // Every tarpit is being tried.
    let started = Instant::now();
    while tarpits.iter().any(|t| t.accepted() == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "tarpits not tried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A loops on manual retries of its deliveries meanwhile.
    let retry_loop = {
        let (app_base, token) = (app.base.clone(), a.token.clone());
        let deliveries = deliveries.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut accepted, mut limited) = (0, 0);
            for (e, d) in deliveries.iter().cycle().take(60) {
                let r = http
                    .post(format!(
                        "{app_base}/api/v1/webhooks/endpoints/{e}/deliveries/{d}/retry"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                match r.status() {
                    StatusCode::ACCEPTED => accepted += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert!(r.headers().get("retry-after").is_some());
                        let body: serde_json::Value = r.json().await.unwrap();
                        assert_eq!(body["error"]["code"], "too_many_retries");
                        limited += 1;
                    }
                    s => panic!("retry answered {s}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (accepted, limited)
        })
    };

    // B's event arrives within 5 s.
    let r = Receiver::start().await;
    endpoint(&app, &b, &r.url, &["code.redeemed"]).await;
    let sent = Instant::now();
    emit(&app, b.tenant_id, 1).await;
    r.wait_for(1).await;
    let took = sent.elapsed();
    println!("tenant B's event arrived after {took:?} beside 20 tarpits");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // Manual retries were limited per workspace.
    let (accepted, limited) = retry_loop.await.unwrap();
    assert_eq!(
        accepted,
        domain::webhooks::RETRIES_PER_MINUTE as usize,
        "{limited} limited"
    );
    assert_eq!(limited, 60 - accepted);

    // Before any attempt timed out (10 s), each tarpit held at most two attempts.
    assert!(started.elapsed() < Duration::from_secs(domain::webhooks::delivery::TIMEOUT_SECS));
    for t in &tarpits {
        assert!(t.accepted() <= 2, "{} attempts in flight", t.accepted());
    }

    // After three unanswered attempts in a row an endpoint is cooled down, and shown so.
    let deadline = Instant::now() + Duration::from_secs(40);
    let eid = &a_endpoints[0];
    loop {
        let (s, e) = app
            .as_creator(
                &a,
                Method::GET,
                &format!("/api/v1/webhooks/endpoints/{eid}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{e}");
        if !e["cooldown_until"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "never cooled down: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // While it cools down, the tarpit gets no new attempt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = tarpits[0].accepted();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        tarpits[0].accepted(),
        before,
        "attempts during the cooldown"
    );
}
