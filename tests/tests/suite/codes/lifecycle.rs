//! Codes: rollback, the expiry sweep, and tenant scoping and suspension of the codes routes.
use super::*;

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
        blocked_at: Set(None),
        language_code: Set(None),
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
        source: Set(sea_orm::ActiveEnum::try_from_value(&"access_code".to_string()).unwrap()),
        access_code_id: Set(Some(code_id)),
        price_minor: Set(0),
        currency: Set("USD".into()),
        starts_at: Set(now),
        ends_at: Set(Some(now + Duration::days(30))),
        status: Set(sea_orm::ActiveEnum::try_from_value(&"active".to_string()).unwrap()),
        reminder_sent_at: Set(None),
        retention_offered_at: Set(None),
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
        // As written before activations recorded their span.
        added_from: Set(None),
        added_until: Set(None),
        price_minor: Set(None),
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
    assert_eq!(sub.status.to_string(), "revoked");
    assert!(sub.ended_at.is_some());
    let actions = app.audit_actions(c.tenant_id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "code.rolled_back").count(),
        1
    );
    // The other code is untouched.
    assert_eq!(app.all_codes(&c, &pid, "").await.len(), 1);
}

#[tokio::test]
async fn the_expiry_sweep_marks_expired_codes_and_deletes_stale_unredeemed_ones() {
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
        domain::batches::generate(&app.ctx, b["id"].as_str().unwrap().parse().unwrap())
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
    assert_eq!(app.quota_used(c.tenant_id).await, 7);

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
        7,
        "redeemed codes stay for reporting, expired ones for the retention period"
    );
    assert_eq!(app.all_codes(&c, &pid, "&status=expired").await.len(), 2);
    assert_eq!(app.quota_used(c.tenant_id).await, 5);

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
    assert_eq!(left.len(), 4);
    assert!(
        left.iter()
            .all(|c| c["status"] == "redeemed" || c["status"] == "expired")
    );
    assert_eq!(app.quota_used(c.tenant_id).await, 2);
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
