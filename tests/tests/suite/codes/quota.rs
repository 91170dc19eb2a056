//! Codes: the per-cycle quota: the free hard cap, the paid split matching the preview, parallel
//! requests, lost Redis keys, and units freed by deleting.
use super::*;

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
    assert_eq!(records[0].status.to_string(), "pending");
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
async fn deleting_an_unredeemed_code_of_this_cycle_frees_one_unit() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    generate(&app, &c, &pid, batch(&plan, 5)).await;
    let codes = app.all_codes(&c, &pid, "").await;
    mark_redeemed(&app, codes[0]["id"].as_str().unwrap()).await;
    // A redeemed code is not deleted (it stays for reporting; rollback is the way) and
    // frees nothing.
    let r = app
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
    assert_error(&r, StatusCode::CONFLICT, "code_redeemed", None);
    assert_eq!(app.quota_used(c.tenant_id).await, 5);
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
    assert_eq!(app.quota_used(c.tenant_id).await, 4);
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
    let actions = app.audit_actions(c.tenant_id).await;
    assert_eq!(actions.iter().filter(|a| *a == "code.deleted").count(), 1);

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
    assert_eq!(app.quota_used(c.tenant_id).await, 0);
    assert_eq!(
        domain::quota::usage(&app.ctx, c.tenant_id)
            .await
            .unwrap()
            .free_left,
        5
    );
}
