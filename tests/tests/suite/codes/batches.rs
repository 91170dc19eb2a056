//! Codes: creating batches: input validation, generation and the CSV, expiry presets, idempotency
//! keys, and failed or retried jobs.
use super::*;

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
    assert_eq!(app.quota_used(c.tenant_id).await, 0);
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
        // No linked chat: the batch is done, downloadable, and delivery waits.
        assert_eq!(done["delivery"], "waiting_for_linked_chat");
        let (_, bot) = app
            .as_creator(
                &c,
                Method::GET,
                &format!("/api/v1/projects/{pid}/bot"),
                None,
            )
            .await;
        let username = bot["username"]
            .as_str()
            .expect("the bot's username")
            .to_string();

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
                // Price is the plan's face value even though code orders are not priced.
                "{},Monthly,https://t.me/{username}?start=c_{},,9.99,USD,{},{}\r\n",
                code.code,
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
    assert_eq!(app.quota_used(c.tenant_id).await, 3);

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
                expired_at: Set(None),
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
            domain::batches::generate(&app.ctx, batch_id),
            domain::batches::generate(&app.ctx, batch_id)
        );
        a.unwrap();
        b2.unwrap();
        domain::batches::generate(&app.ctx, batch_id).await.unwrap();
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
        assert_eq!(b.status.to_string(), "done");
    }
}

#[tokio::test]
async fn a_failed_batch_releases_its_reservation() {
    let app = TestApp::spawn_without_worker(Backend::Postgres).await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let (_, b) = app.post_batch(&c, &pid, batch(&plan, 4), None).await;
    assert_eq!(app.quota_used(c.tenant_id).await, 4);
    domain::batches::give_up(
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
    assert_eq!(app.quota_used(c.tenant_id).await, 0);
    let (s, _) = app.post_batch(&c, &pid, batch(&plan, 5), None).await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "the live counter gave the units back too"
    );
}

/// Codes are delivered and redeemed through the project's bot: without a connected one, the
/// API refuses a batch (409 `bot_not_connected`, nothing reserved), the dashboard's form says
/// so before anything is typed and refuses the submit with the same words.
#[tokio::test]
async fn codes_are_refused_for_a_project_without_a_connected_bot() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let path = format!("/api/v1/projects/{pid}/code-batches");
    let r = app
        .as_creator(&c, Method::POST, &path, Some(batch(&plan, 1)))
        .await;
    assert_error(&r, StatusCode::CONFLICT, "bot_not_connected", None);
    assert_eq!(app.quota_used(c.tenant_id).await, 0, "nothing reserved");

    let mut w = app.web_login(&c.email).await;
    let page = w.get(&format!("/projects/{pid}/codes/new")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"no-bot\""), "{}", page.body);
    let fields = [
        ("plan_id", plan.as_str()),
        ("quantity", "1"),
        ("expiry", "none"),
        ("max_activations", "1"),
        ("idempotency_key", "no-bot-web"),
        ("consent", "1"),
    ];
    let r = w
        .post_form(&format!("/projects/{pid}/batches"), &fields)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body
            .contains("Telegram bot first: codes are delivered and redeemed through it"),
        "{}",
        r.body
    );
    assert_eq!(app.quota_used(c.tenant_id).await, 0);

    // Connected, the same request is accepted and the hint is gone.
    app.ensure_bot(&c, &pid).await;
    let (s, b) = app
        .as_creator(&c, Method::POST, &path, Some(batch(&plan, 1)))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let page = w.get(&format!("/projects/{pid}/codes/new")).await;
    assert!(!page.body.contains("id=\"no-bot\""));
}
