//! Access codes: validation, generation through the worker, idempotency, quota (Free hard cap,
//! paid overage, grants, cycles, frees, concurrency, a lost Redis), listing, CSV, delete,
//! rollback, expiry.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use domain::codes::{ALPHABET, CODE_LEN};
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{assert_field_error, batch, monthly_plan, typed_like_a_person, urlencode},
};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

async fn codes_in_db(app: &TestApp, tenant: Uuid) -> Vec<entity::access_code::Model> {
    entity::access_code::Entity::find()
        .filter(entity::access_code::Column::TenantId.eq(tenant))
        .all(&app.ctx.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn batch_input_is_validated() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"plan_id": plan, "quantity": 0, "consent": true}),
            "quantity",
            "quantity_out_of_range",
        ),
        (
            json!({"plan_id": plan, "quantity": 1001, "consent": true}),
            "quantity",
            "quantity_out_of_range",
        ),
        (
            json!({"plan_id": plan, "quantity": 1}),
            "consent",
            "consent_required",
        ),
        (
            json!({"plan_id": plan, "quantity": 1, "consent": true, "max_activations": 0}),
            "max_activations",
            "invalid_max_activations",
        ),
        (
            json!({"plan_id": plan, "quantity": 1, "consent": true, "expiry": {"date": "2020-01-01T00:00:00Z"}}),
            "expiry",
            "expiry_in_past",
        ),
        (
            json!({"plan_id": plan, "quantity": 1, "consent": true, "expiry": {"preset": "2d"}}),
            "expiry",
            "invalid_expiry",
        ),
        (
            json!({"plan_id": plan, "quantity": 1, "consent": true, "expiry": {"days": 0}}),
            "expiry",
            "invalid_expiry",
        ),
    ];
    for (body, field, code) in cases {
        let r = app.post_batch(&c, &pid, body.clone(), None).await;
        assert_field_error(&r, field, code, &body.to_string());
    }
    let r = app
        .post_batch(&c, &pid, batch(&Uuid::new_v4().to_string(), 1), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", Some("plan_id"));
    let r = app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/preview"),
            Some(json!({"plan_id": plan, "quantity": 1001})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("quantity"),
    );

    // Inactive plan, then access codes disabled for the project.
    app.as_creator(
        &c,
        Method::PATCH,
        &format!("/api/v1/projects/{pid}/plans/{plan}"),
        Some(json!({"active": false})),
    )
    .await;
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::CONFLICT, "plan_inactive", Some("plan_id"));
    app.as_creator(
        &c,
        Method::PATCH,
        &format!("/api/v1/projects/{pid}/plans/{plan}"),
        Some(json!({"active": true})),
    )
    .await;
    app.as_creator(
        &c,
        Method::PATCH,
        &format!("/api/v1/projects/{pid}"),
        Some(json!({"access_codes_enabled": false})),
    )
    .await;
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::CONFLICT, "access_codes_disabled", None);
    // Nothing was generated or counted by any of the refusals.
    assert!(codes_in_db(&app, c.tenant_id).await.is_empty());
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        0
    );
}

#[tokio::test]
async fn thirty_codes_are_generated_unique_and_downloadable_as_csv() {
    for app in [TestApp::spawn().await, TestApp::spawn_sqlite().await] {
        let c = app.signup().await;
        app.set_billing_plan(c.tenant_id, "starter_monthly").await;
        let (pid, plan) = app.project_with_plan(&c).await;
        let (s, b) = app
            .post_batch(&c, &pid, batch(&plan, 30), Some("first-batch"))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["quantity"], 30);
        assert_eq!(b["free_count"], 30);
        assert_eq!(b["overage_count"], 0);
        let done = app.wait_batch(&c, &pid, b["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["generated"], 30);
        // No bot and no linked chat: the batch is done, downloadable, and delivery waits.
        assert_eq!(done["delivery"], "waiting_for_linked_chat");

        let codes = codes_in_db(&app, c.tenant_id).await;
        assert_eq!(codes.len(), 30);
        let distinct: HashSet<&str> = codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(distinct.len(), 30);
        assert!(
            codes
                .iter()
                .all(|c| c.code.len() == CODE_LEN && c.code.bytes().all(|b| ALPHABET.contains(&b)))
        );

        let resp = app
            .http
            .get(app.url(&format!(
                "/api/v1/projects/{pid}/code-batches/{}/codes.csv",
                b["id"].as_str().unwrap()
            )))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let body = resp.text().await.unwrap();
        let mut sorted = codes.clone();
        sorted.sort_by_key(|c| c.id);
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut expected = String::from(
            "\u{feff}Access Code,Plan Name,Join Link,Expires At,Price,Currency,Started On,Ends On\r\n",
        );
        for code in &sorted {
            expected.push_str(&format!(
                "{},Monthly,,,0.00,USD,{},{}\r\n",
                code.code,
                ts(code.created_at),
                ts(code.created_at + Duration::days(30))
            ));
        }
        assert_eq!(body, expected, "CSV byte for byte");
    }
}

#[tokio::test]
async fn csv_has_join_links_prices_expiry_and_neutralised_formulas() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let p = app.create_project(&c).await;
    let pid = p["id"].as_str().unwrap();
    app.as_creator(
        &c,
        Method::PATCH,
        &format!("/api/v1/projects/{pid}"),
        Some(json!({"codes_priced": true})),
    )
    .await;
    let plan = app
        .create_plan(&c, pid, json!({"name": "=HYPERLINK(\"http://x\")", "price_minor": 1999, "currency": "EUR", "lifetime": true}))
        .await;
    // A connected bot gives the join links their username.
    entity::bot::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant_id),
        project_id: Set(pid.parse().unwrap()),
        telegram_bot_id: Set(rand_id()),
        username: Set("club_bot".into()),
        token_encrypted: Set("x".into()),
        webhook_secret: Set("s".into()),
        mode: Set("polling".into()),
        created_at: Set(Utc::now()),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    let mut body = batch(plan["id"].as_str().unwrap(), 2);
    body["expiry"] = json!({"days": 10});
    let (_, b) = app.post_batch(&c, pid, body, None).await;
    app.wait_batch(&c, pid, b["id"].as_str().unwrap()).await;
    let csv = app
        .http
        .get(app.url(&format!("/api/v1/projects/{pid}/codes/export.csv")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut codes = codes_in_db(&app, c.tenant_id).await;
    codes.sort_by_key(|c| c.id);
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut expected = String::from(
        "\u{feff}Access Code,Plan Name,Join Link,Expires At,Price,Currency,Started On,Ends On\r\n",
    );
    for code in &codes {
        expected.push_str(&format!(
            "{0},\"'=HYPERLINK(\"\"http://x\"\")\",https://t.me/club_bot?start=c_{0},{1},19.99,EUR,{2},\r\n",
            code.code,
            ts(code.expires_at.unwrap()),
            ts(code.created_at),
        ));
        assert_eq!(
            code.expires_at.unwrap() - code.created_at,
            Duration::days(10)
        );
    }
    assert_eq!(csv, expected);
}

fn rand_id() -> i64 {
    (Uuid::new_v4().as_u128() as i64).abs() % 9_000_000_000 + 1_000_000_000
}

#[tokio::test]
async fn each_expiry_preset_sets_the_codes_expiry() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let date = "2031-05-06T07:08:09Z";
    for (expiry, kind) in [
        (json!({"preset": "none"}), "none"),
        (json!({"preset": "1d"}), "1d"),
        (json!({"preset": "1w"}), "1w"),
        (json!({"preset": "1m"}), "1m"),
        (json!({"preset": "1y"}), "1y"),
        (json!({"days": 45}), "days"),
        (json!({"date": date}), "date"),
        (Value::Null, "none"),
    ] {
        let mut body = batch(&plan, 1);
        if !expiry.is_null() {
            body["expiry"] = expiry;
        }
        let (s, b) = app.post_batch(&c, &pid, body, None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["expiry"], kind);
        let created: DateTime<Utc> = b["created_at"].as_str().unwrap().parse().unwrap();
        let expected = match kind {
            "none" => None,
            "1d" => Some(created + Duration::days(1)),
            "1w" => Some(created + Duration::days(7)),
            "1m" => Some(created + chrono::Months::new(1)),
            "1y" => Some(created + chrono::Months::new(12)),
            "days" => Some(created + Duration::days(45)),
            _ => Some(date.parse().unwrap()),
        };
        let got: Option<DateTime<Utc>> = b["codes_expire_at"].as_str().map(|s| s.parse().unwrap());
        assert_eq!(got, expected, "{kind}");
        let done = app.wait_batch(&c, &pid, b["id"].as_str().unwrap()).await;
        let codes = app
            .all_codes(
                &c,
                &pid,
                &format!("&batch_id={}", b["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(codes.len(), 1, "{done}");
        let code_exp: Option<DateTime<Utc>> =
            codes[0]["expires_at"].as_str().map(|s| s.parse().unwrap());
        assert_eq!(
            code_exp, expected,
            "{kind}: the code carries the batch's expiry"
        );
    }
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_batch_and_generates_once() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let (s1, b1) = app
        .post_batch(&c, &pid, batch(&plan, 3), Some("key-1"))
        .await;
    let (s2, b2) = app
        .post_batch(&c, &pid, batch(&plan, 3), Some("key-1"))
        .await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(b1["id"], b2["id"]);
    // Concurrent replays too.
    let replays = futures::future::join_all(
        (0..10).map(|_| app.post_batch(&c, &pid, batch(&plan, 3), Some("key-1"))),
    )
    .await;
    assert!(
        replays
            .iter()
            .all(|(s, b)| *s == StatusCode::ACCEPTED && b["id"] == b1["id"])
    );
    let r = app
        .post_batch(&c, &pid, batch(&plan, 2), Some("key-1"))
        .await;
    assert_error(
        &r,
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        Some("Idempotency-Key"),
    );
    app.wait_batch(&c, &pid, b1["id"].as_str().unwrap()).await;
    assert_eq!(codes_in_db(&app, c.tenant_id).await.len(), 3);
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        3
    );

    // Parallel first uses of one key make one batch.
    let results = futures::future::join_all(
        (0..10).map(|_| app.post_batch(&c, &pid, batch(&plan, 1), Some("key-2"))),
    )
    .await;
    let ids: HashSet<String> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::ACCEPTED, "{b}");
            b["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    app.wait_batch(&c, &pid, ids.iter().next().unwrap()).await;
    assert_eq!(codes_in_db(&app, c.tenant_id).await.len(), 4);
}

async fn free_plan_hard_cap(app: TestApp) {
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let preview = |q: i64| {
        let (app, c, pid, plan) = (&app, &c, pid.clone(), plan.clone());
        async move {
            let (s, p) = app
                .as_creator(
                    c,
                    Method::POST,
                    &format!("/api/v1/projects/{pid}/codes/preview"),
                    Some(json!({"plan_id": plan, "quantity": q})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{p}");
            p
        }
    };
    let p = preview(3).await;
    assert_eq!(
        (
            p["free_left"].as_i64(),
            p["free"].as_i64(),
            p["overage"].as_i64(),
            p["allowed"].as_bool()
        ),
        (Some(5), Some(3), Some(0), Some(true))
    );
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 3), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let p = preview(3).await;
    assert_eq!(p["allowed"], false);
    assert_eq!(p["free_left"], 2);
    assert_eq!(p["reason"], "quota_exceeded");
    let r = app.post_batch(&c, &pid, batch(&plan, 3), None).await;
    assert_error(
        &r,
        StatusCode::PAYMENT_REQUIRED,
        "quota_exceeded",
        Some("quantity"),
    );
    assert_eq!(r.1["error"]["details"]["left"], 2);
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 2), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_eq!(r.1["error"]["details"]["left"], 0);
    let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    assert_eq!(
        (u.used, u.limit, u.free_left, u.overage_codes),
        (5, 5, 0, 0)
    );

    // A staff grant adds to this cycle's free quota.
    let staff = app.staff(domain::accounts::StaffRole::Staff).await;
    let (s, g) = app
        .call(
            Method::POST,
            &format!("/api/v1/staff/tenants/{}/quota-grants", c.tenant_id),
            Some(&staff.token),
            Some(json!({"codes": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 2), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::PAYMENT_REQUIRED, "quota_exceeded", None);

    // A new cycle starts a fresh quota (grants do not roll over).
    let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    app.clock.set(u.cycle_end + Duration::seconds(1));
    let c = app.relogin(&c).await;
    let preview = |q: i64| {
        let (app, c, pid, plan) = (&app, c.clone(), pid.clone(), plan.clone());
        async move {
            let (s, p) = app
                .as_creator(
                    &c,
                    Method::POST,
                    &format!("/api/v1/projects/{pid}/codes/preview"),
                    Some(json!({"plan_id": plan, "quantity": q})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{p}");
            p
        }
    };
    let p = preview(5).await;
    assert_eq!(p["free_left"], 5, "{p}");
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 5), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::PAYMENT_REQUIRED, "quota_exceeded", None);
    let u2 = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    assert_eq!(u2.cycle_start, u.cycle_end);
    assert_eq!((u2.used, u2.limit), (5, 5));
}

#[tokio::test]
async fn free_plan_is_a_hard_cap_per_cycle_with_redis() {
    free_plan_hard_cap(TestApp::spawn().await).await;
}

#[tokio::test]
async fn free_plan_is_a_hard_cap_per_cycle_in_single_node_mode() {
    free_plan_hard_cap(TestApp::spawn_sqlite().await).await;
}

#[tokio::test]
async fn paid_plans_split_into_free_and_overage_matching_the_preview() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "starter_monthly").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let (s, _) = app.post_batch(&c, &pid, batch(&plan, 150), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, p) = app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/preview"),
            Some(json!({"plan_id": plan, "quantity": 100})),
        )
        .await;
    assert_eq!(
        (
            p["free_left"].as_i64(),
            p["free"].as_i64(),
            p["overage"].as_i64(),
            p["fee_minor"].as_i64()
        ),
        (Some(50), Some(50), Some(50), Some(500))
    );
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 100), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        (
            b["free_count"].as_i64(),
            b["overage_count"].as_i64(),
            b["fee_minor"].as_i64()
        ),
        (
            p["free"].as_i64(),
            p["overage"].as_i64(),
            p["fee_minor"].as_i64()
        )
    );
    let records = entity::usage_record::Entity::find()
        .filter(entity::usage_record::Column::TenantId.eq(c.tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].overage_count, 50);
    assert_eq!(records[0].fee_minor, p["fee_minor"].as_i64().unwrap());
    assert_eq!(records[0].identifier, records[0].id.to_string());
    assert_eq!(records[0].status, "pending");
    let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    assert_eq!(
        (u.used, u.overage_codes, u.overage_fee_minor),
        (250, 50, 500)
    );
}

async fn parallel_free_tenant(app: TestApp) {
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let results = futures::future::join_all(
        (0..50).map(|i| app.post_batch(&c, &pid, batch(&plan, 1 + i % 2), None)),
    )
    .await;
    let accepted: i64 = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b["quantity"].as_i64().unwrap())
        .sum();
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == StatusCode::ACCEPTED || b["error"]["code"] == "quota_exceeded")
    );
    assert!(accepted <= 5, "accepted {accepted}");
    assert!(
        accepted >= 4,
        "the quota was used, not refused wholesale: {accepted}"
    );
    let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    assert_eq!(u.used, accepted);
}

#[tokio::test]
async fn fifty_parallel_requests_never_exceed_the_free_quota_with_redis() {
    parallel_free_tenant(TestApp::spawn().await).await;
}

#[tokio::test]
async fn fifty_parallel_requests_never_exceed_the_free_quota_in_single_node_mode() {
    parallel_free_tenant(TestApp::spawn_sqlite().await).await;
}

async fn parallel_paid_tenant(app: TestApp) {
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "starter_monthly").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let results = futures::future::join_all(
        (0..50).map(|_| app.post_batch(&c, &pid, batch(&plan, 10), None)),
    )
    .await;
    let (mut free, mut over) = (0, 0);
    for (s, b) in &results {
        assert_eq!(*s, StatusCode::ACCEPTED, "{b}");
        free += b["free_count"].as_i64().unwrap();
        over += b["overage_count"].as_i64().unwrap();
    }
    assert_eq!((free, over), (200, 300));
    let recorded: i64 = entity::usage_record::Entity::find()
        .filter(entity::usage_record::Column::TenantId.eq(c.tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .iter()
        .map(|r| i64::from(r.overage_count))
        .sum();
    assert_eq!(recorded, 300);
}

#[tokio::test]
async fn fifty_parallel_requests_on_a_paid_plan_split_exactly_with_redis() {
    parallel_paid_tenant(TestApp::spawn().await).await;
}

#[tokio::test]
async fn fifty_parallel_requests_on_a_paid_plan_split_exactly_in_single_node_mode() {
    parallel_paid_tenant(TestApp::spawn_sqlite().await).await;
}

#[tokio::test]
async fn losing_every_redis_key_mid_run_never_lets_a_tenant_exceed_its_quota() {
    // Its own Redis database, so FLUSHDB here is FLUSHALL for this app and spares other tests.
    let app = TestApp::spawn_on(
        Backend::Postgres,
        HashMap::from([(
            "REDIS_URL".to_string(),
            "redis://127.0.0.1:6379/7".to_string(),
        )]),
    )
    .await;
    for _round in 0..3 {
        let c = app.signup().await;
        let (pid, plan) = app.project_with_plan(&c).await;
        let mut redis = app.ctx.redis.clone().unwrap();
        let flusher = async {
            for _ in 0..5 {
                let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
                tokio::task::yield_now().await;
            }
        };
        let requests = futures::future::join_all(
            (0..30).map(|_| app.post_batch(&c, &pid, batch(&plan, 1), None)),
        );
        let (results, ()) = tokio::join!(requests, flusher);
        let accepted = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::ACCEPTED)
            .count() as i64;
        assert!(accepted <= 5, "accepted {accepted}");
        let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
        assert!(u.used <= 5, "database says {}", u.used);
        // The batches the API accepted are exactly the ones the database counts.
        assert_eq!(u.used, accepted);
        // And with the key gone again, the counter is rebuilt from the database.
        let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
        let r = app
            .post_batch(&c, &pid, batch(&plan, 6 - accepted.max(1)), None)
            .await;
        assert_error(&r, StatusCode::PAYMENT_REQUIRED, "quota_exceeded", None);
    }
}

#[tokio::test]
async fn a_retried_job_after_a_partial_write_ends_with_exactly_the_asked_count() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::spawn_without_worker(backend).await;
        let c = app.signup().await;
        app.set_billing_plan(c.tenant_id, "growth_monthly").await;
        let (pid, plan) = app.project_with_plan(&c).await;
        let (_, b) = app.post_batch(&c, &pid, batch(&plan, 500), None).await;
        let batch_id: Uuid = b["id"].as_str().unwrap().parse().unwrap();
        let bm = entity::code_batch::Entity::find_by_id(batch_id)
            .one(&app.ctx.db)
            .await
            .unwrap()
            .unwrap();
        // The first attempt wrote 137 codes and died.
        let rows: Vec<entity::access_code::ActiveModel> = (0..137)
            .map(|_| entity::access_code::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(c.tenant_id),
                project_id: Set(bm.project_id),
                plan_id: Set(bm.plan_id),
                batch_id: Set(Some(batch_id)),
                code: Set(domain::codes::new_code()),
                max_activations: Set(1),
                activation_count: Set(0),
                expires_at: Set(None),
                cycle_start: Set(bm.cycle_start),
                created_at: Set(Utc::now()),
            })
            .collect();
        entity::access_code::Entity::insert_many(rows)
            .exec(&app.ctx.db)
            .await
            .unwrap();
        // The retry, twice at once (a retried job racing a slow first copy).
        let (a, b2) = tokio::join!(
            domain::codes::generate(&app.ctx, batch_id),
            domain::codes::generate(&app.ctx, batch_id)
        );
        a.unwrap();
        b2.unwrap();
        domain::codes::generate(&app.ctx, batch_id).await.unwrap();
        let n = entity::access_code::Entity::find()
            .filter(entity::access_code::Column::BatchId.eq(batch_id))
            .count(&app.ctx.db)
            .await
            .unwrap();
        assert_eq!(n, 500, "{backend:?}");
        let b = entity::code_batch::Entity::find_by_id(batch_id)
            .one(&app.ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.status, "done");
    }
}

#[tokio::test]
async fn a_failed_batch_releases_its_reservation() {
    let app = TestApp::spawn_without_worker(Backend::Postgres).await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let (_, b) = app.post_batch(&c, &pid, batch(&plan, 4), None).await;
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        4
    );
    domain::codes::give_up(
        &app.ctx,
        b["id"].as_str().unwrap().parse().unwrap(),
        "test: worker gave up",
    )
    .await
    .unwrap();
    let (_, got) = app
        .as_creator(
            &c,
            Method::GET,
            &format!(
                "/api/v1/projects/{pid}/code-batches/{}",
                b["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(got["status"], "failed");
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        0
    );
    let (s, _) = app.post_batch(&c, &pid, batch(&plan, 5), None).await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "the live counter gave the units back too"
    );
}

async fn generate(app: &TestApp, c: &Creator, pid: &str, body: Value) -> String {
    let (s, b) = app.post_batch(c, pid, body, None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    app.wait_batch(c, pid, &id).await;
    id
}

async fn mark_redeemed(app: &TestApp, code_id: &str) {
    let m = entity::access_code::Entity::find_by_id(code_id.parse::<Uuid>().unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut am = m.into_active_model();
    am.activation_count = Set(1);
    am.update(&app.ctx.db).await.unwrap();
}

#[tokio::test]
async fn deleting_an_unredeemed_code_of_this_cycle_frees_one_unit() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    generate(&app, &c, &pid, batch(&plan, 5)).await;
    let codes = app.all_codes(&c, &pid, "").await;
    mark_redeemed(&app, codes[0]["id"].as_str().unwrap()).await;
    // A redeemed code frees nothing.
    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!(
                "/api/v1/projects/{pid}/codes/{}",
                codes[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        5
    );
    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!(
                "/api/v1/projects/{pid}/codes/{}",
                codes[1]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        4
    );
    let (s, b) = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let r = app.post_batch(&c, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::PAYMENT_REQUIRED, "quota_exceeded", None);
    // Deleting twice is a 404, and frees nothing more.
    let r = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!(
                "/api/v1/projects/{pid}/codes/{}",
                codes[1]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let actions = super::accounts::audit_actions(&app, c.tenant_id).await;
    assert_eq!(actions.iter().filter(|a| *a == "code.deleted").count(), 2);

    // A code of a past cycle gives nothing back to the new one.
    let u = domain::quota::usage(&app.ctx, c.tenant_id).await.unwrap();
    app.clock.set(u.cycle_end + Duration::seconds(5));
    let c = app.relogin(&c).await;
    app.as_creator(
        &c,
        Method::DELETE,
        &format!(
            "/api/v1/projects/{pid}/codes/{}",
            codes[2]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        0
    );
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .free_left,
        5
    );
}

#[tokio::test]
async fn listing_filters_searches_and_pages() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let (pid, plan_a) = app.project_with_plan(&c).await;
    let plan_b = app.create_plan(&c, &pid, monthly_plan()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut short = batch(&plan_a, 40);
    short["expiry"] = json!({"preset": "1d"});
    let batch_a = generate(&app, &c, &pid, short).await;
    let batch_b = generate(&app, &c, &pid, batch(&plan_b, 25)).await;

    let all = app.all_codes(&c, &pid, "").await;
    assert_eq!(all.len(), 65);
    let ids: HashSet<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 65, "pages neither repeat nor skip");
    assert!(
        all.windows(2)
            .all(|w| w[0]["id"].as_str() > w[1]["id"].as_str()),
        "newest first"
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&plan_id={plan_b}"))
            .await
            .len(),
        25
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&batch_id={batch_a}"))
            .await
            .len(),
        40
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&batch_id={batch_b}&plan_id={plan_a}"))
            .await
            .len(),
        0
    );

    let target = all
        .iter()
        .find(|c| c["batch_id"] == batch_b.as_str())
        .unwrap();
    mark_redeemed(&app, target["id"].as_str().unwrap()).await;
    assert_eq!(app.all_codes(&c, &pid, "&status=redeemed").await.len(), 1);
    assert_eq!(
        app.all_codes(&c, &pid, "&status=unredeemed").await.len(),
        64
    );
    assert_eq!(app.all_codes(&c, &pid, "&status=expired").await.len(), 0);
    let tomorrow =
        (Utc::now() + Duration::hours(23)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let day_after =
        (Utc::now() + Duration::hours(49)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        app.all_codes(
            &c,
            &pid,
            &format!("&expires_after={tomorrow}&expires_before={day_after}")
        )
        .await
        .len(),
        40
    );
    app.clock.advance(Duration::days(2));
    let c = app.relogin(&c).await;
    assert_eq!(app.all_codes(&c, &pid, "&status=expired").await.len(), 40);
    assert_eq!(
        app.all_codes(&c, &pid, "&status=unredeemed").await.len(),
        24
    );

    // Search normalises what is typed: lower case, dashes, spaces, O for 0, I/L for 1.
    let code = target["code"].as_str().unwrap();
    let typed = typed_like_a_person(code, 'o');
    let found = app
        .all_codes(
            &c,
            &pid,
            &format!("&q={}", urlencode(&format!(" {typed} "))),
        )
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["code"], code);
    let prefix = app.all_codes(&c, &pid, &format!("&q={}", &code[..6])).await;
    assert!(prefix.iter().any(|c| c["code"] == code));

    // The export is the filtered view.
    let csv = app
        .http
        .get(app.url(&format!(
            "/api/v1/projects/{pid}/codes/export.csv?status=expired"
        )))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 41);
}

#[tokio::test]
async fn a_large_export_streams_every_row() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_annual").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    for _ in 0..3 {
        generate(&app, &c, &pid, batch(&plan, 1000)).await;
    }
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/projects/{pid}/codes/export.csv")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let text = resp.text().await.unwrap();
    let codes: HashSet<&str> = text.lines().skip(1).map(|l| &l[..12]).collect();
    assert_eq!(codes.len(), 3000);
}

#[tokio::test]
async fn rollback_removes_the_code_and_its_activations_and_revokes_subscriptions() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    generate(&app, &c, &pid, batch(&plan, 2)).await;
    let codes = app.all_codes(&c, &pid, "").await;
    let code_id: Uuid = codes[0]["id"].as_str().unwrap().parse().unwrap();
    let project_id: Uuid = pid.parse().unwrap();
    let plan_id: Uuid = plan.parse().unwrap();
    let now = Utc::now();
    let subscriber = entity::subscriber::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id),
        telegram_user_id: Set(42),
        username: Set(Some("member".into())),
        first_name: Set("Member".into()),
        created_at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    let sub = entity::subscription::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id),
        subscriber_id: Set(subscriber.id),
        plan_id: Set(plan_id),
        source: Set("access_code".into()),
        access_code_id: Set(Some(code_id)),
        price_minor: Set(0),
        currency: Set("USD".into()),
        starts_at: Set(now),
        ends_at: Set(Some(now + Duration::days(30))),
        status: Set("active".into()),
        reminder_sent_at: Set(None),
        ended_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    entity::activation::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(c.tenant_id),
        access_code_id: Set(code_id),
        subscriber_id: Set(subscriber.id),
        subscription_id: Set(Some(sub.id)),
        at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    mark_redeemed(&app, &code_id.to_string()).await;

    let other = app.signup().await;
    let r = app
        .as_creator(
            &other,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/{code_id}/rollback"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);

    let (s, out) = app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/{code_id}/rollback"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(
        (
            out["activations_removed"].as_u64(),
            out["subscriptions_revoked"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        entity::access_code::Entity::find_by_id(code_id)
            .one(&app.ctx.db)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        entity::activation::Entity::find()
            .filter(entity::activation::Column::AccessCodeId.eq(code_id))
            .count(&app.ctx.db)
            .await
            .unwrap(),
        0
    );
    let sub = entity::subscription::Entity::find_by_id(sub.id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.status, "revoked");
    assert!(sub.ended_at.is_some());
    let actions = super::accounts::audit_actions(&app, c.tenant_id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "code.rolled_back").count(),
        1
    );
    // The other code is untouched.
    assert_eq!(app.all_codes(&c, &pid, "").await.len(), 1);
}

#[tokio::test]
async fn the_expiry_sweep_deletes_expired_and_stale_unredeemed_codes_only() {
    // The sweep acts on the whole platform, so this test has a database of its own.
    let env = HashMap::from([(
        "DATABASE_URL".to_string(),
        gatehouse_tests::app::isolated_pg_database().await,
    )]);
    let app = TestApp::spawn_full(Backend::Postgres, env, false).await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let mut short = batch(&plan, 3);
    short["expiry"] = json!({"preset": "1d"});
    let (_, b1) = app.post_batch(&c, &pid, short, None).await;
    let (_, b2) = app.post_batch(&c, &pid, batch(&plan, 4), None).await;
    for b in [&b1, &b2] {
        domain::codes::generate(&app.ctx, b["id"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap();
    }
    let short_codes = app
        .all_codes(
            &c,
            &pid,
            &format!("&batch_id={}", b1["id"].as_str().unwrap()),
        )
        .await;
    let long_codes = app
        .all_codes(
            &c,
            &pid,
            &format!("&batch_id={}", b2["id"].as_str().unwrap()),
        )
        .await;
    mark_redeemed(&app, short_codes[0]["id"].as_str().unwrap()).await;
    mark_redeemed(&app, long_codes[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        7
    );

    app.clock.advance(Duration::hours(25));
    let c = app.relogin(&c).await;
    // Two sweeps at once (two workers ticking together) delete and free each code once.
    // (The sweep is platform-wide; other tests' codes may go too, so count this tenant's.)
    let (a, b) = tokio::join!(
        domain::codes::expire(&app.ctx),
        domain::codes::expire(&app.ctx)
    );
    assert!(a.unwrap() + b.unwrap() >= 2);
    assert_eq!(
        freed_units(&app, c.tenant_id).await,
        2,
        "each expired code freed exactly once"
    );
    assert_eq!(
        app.all_codes(&c, &pid, "").await.len(),
        5,
        "redeemed codes stay for reporting"
    );
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        5
    );

    // The project's unused-code timer applies to existing codes once set.
    app.as_creator(
        &c,
        Method::PATCH,
        &format!("/api/v1/projects/{pid}"),
        Some(json!({"unused_code_ttl_days": 3})),
    )
    .await;
    app.clock.advance(Duration::days(2));
    let c = app.relogin(&c).await;
    assert_eq!(domain::codes::expire(&app.ctx).await.unwrap(), 3);
    assert_eq!(freed_units(&app, c.tenant_id).await, 5);
    let left = app.all_codes(&c, &pid, "").await;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|c| c["status"] == "redeemed"));
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .used,
        2
    );
}

#[tokio::test]
async fn codes_routes_are_tenant_scoped_and_refused_while_suspended() {
    let app = TestApp::spawn().await;
    let a = app.signup().await;
    let b = app.signup().await;
    let (pid, plan) = app.project_with_plan(&a).await;
    let batch_id = generate(&app, &a, &pid, batch(&plan, 2)).await;
    let code_id = app.all_codes(&a, &pid, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (m, path, body) in [
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/codes/preview"),
            Some(json!({"plan_id": plan, "quantity": 1})),
        ),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/code-batches"),
            Some(batch(&plan, 1)),
        ),
        (
            Method::GET,
            format!("/api/v1/projects/{pid}/code-batches/{batch_id}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/projects/{pid}/code-batches/{batch_id}/codes.csv"),
            None,
        ),
        (Method::GET, format!("/api/v1/projects/{pid}/codes"), None),
        (
            Method::GET,
            format!("/api/v1/projects/{pid}/codes/export.csv"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/projects/{pid}/codes/{code_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/codes/{code_id}/rollback"),
            None,
        ),
    ] {
        let (s, r) = app.as_creator(&b, m.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {r}");
    }
    assert_eq!(app.all_codes(&a, &pid, "").await.len(), 2);

    let staff = app.staff(domain::accounts::StaffRole::Staff).await;
    domain::staff::suspend(&app.ctx, &staff.ctx, a.tenant_id, "review")
        .await
        .unwrap();
    let r = app.post_batch(&a, &pid, batch(&plan, 1), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "tenant_suspended", None);
    let r = app
        .as_creator(
            &a,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/codes/{code_id}"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "tenant_suspended", None);
    let (s, _) = app
        .as_creator(
            &a,
            Method::GET,
            &format!("/api/v1/projects/{pid}/codes"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "reads still work");
}

async fn freed_units(app: &TestApp, tenant: Uuid) -> i64 {
    entity::quota_free::Entity::find()
        .filter(entity::quota_free::Column::TenantId.eq(tenant))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .iter()
        .map(|f| i64::from(f.codes))
        .sum()
}
