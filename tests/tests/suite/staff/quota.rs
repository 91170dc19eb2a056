//! Staff: quota grants and plan overrides, and tenants billed through Stripe.
use super::*;

// --- quota grants ---------------------------------------------------------------------------

#[tokio::test]
async fn a_quota_grant_raises_the_limit_for_the_current_cycle_only() {
    let app = TestApp::spawn().await;
    let staff = app.staff(StaffRole::Staff).await;
    let c = app.signup().await;
    let path = tenant_path(c.tenant_id, "/quota-grants");

    for (body, code, kind) in [
        (json!({"codes": 0}), "out_of_range", "validation_failed"),
        (json!({"codes": -5}), "out_of_range", "validation_failed"),
        (
            json!({"codes": 100_001}),
            "out_of_range",
            "validation_failed",
        ),
        (json!({"codes": "many"}), "invalid_json", "invalid_json"),
        (json!({"codes": 1.5}), "invalid_json", "invalid_json"),
        (json!({}), "invalid_json", "invalid_json"),
    ] {
        let r = app
            .call(Method::POST, &path, Some(&staff.token), Some(body.clone()))
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, kind, Some("codes"));
        if kind == "validation_failed" {
            assert_eq!(r.1["error"]["fields"]["codes"]["code"], code, "{body}");
        }
    }
    let r = app
        .call(
            Method::POST,
            &path,
            Some(&staff.token),
            Some(json!({"codes": 10, "reason": "r".repeat(501)})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("reason"),
    );
    let r = app
        .call(
            Method::POST,
            &tenant_path(Uuid::now_v7(), "/quota-grants"),
            Some(&staff.token),
            Some(json!({"codes": 10})),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(usage(&app, c.tenant_id).await.limit, 5);

    let before = usage(&app, c.tenant_id).await;
    let (s, g) = app
        .call(
            Method::POST,
            &path,
            Some(&staff.token),
            Some(json!({"codes": 100, "reason": "launch giveaway"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["codes"], 100);
    assert_eq!(g["quota"]["limit"], 105);
    assert_eq!(g["quota"]["bonus"], 100);
    let (s, _) = app
        .call(
            Method::POST,
            &path,
            Some(&staff.token),
            Some(json!({"codes": 100_000})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let now = usage(&app, c.tenant_id).await;
    assert_eq!(now.limit, 5 + 100 + 100_000);
    assert_eq!(now.bonus, 100_100);
    assert_eq!(now.free_left, 100_105);
    assert_eq!(
        (now.cycle_start, now.cycle_end),
        (before.cycle_start, before.cycle_end)
    );

    // One entry per grant, with the cycle it belongs to.
    let entries = audit_of(&app, c.tenant_id).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "tenant.quota_granted");
    assert_eq!(entries[0].target_type, "quota_grant");
    assert_eq!(entries[0].target_id.as_deref(), g["id"].as_str());
    assert_eq!(entries[0].actor_user_id, Some(staff.ctx.user_id));
    assert_eq!(entries[0].details["codes"], 100);
    assert_eq!(entries[0].details["reason"], "launch giveaway");
    assert_eq!(entries[0].details["cycle_start"], g["cycle_start"]);
    assert_eq!(entries[1].details["codes"], 100_000);

    // Past the end of the cycle the grants no longer count.
    app.clock.set(before.cycle_end + Duration::seconds(1));
    let next = usage(&app, c.tenant_id).await;
    assert_eq!(next.cycle_start, before.cycle_end);
    assert_eq!((next.limit, next.bonus), (5, 0));
    let staff = StaffMember {
        token: relogin(&app, &staff).await,
        ..staff
    };
    // A grant now belongs to the new cycle.
    let (_, g) = app
        .call(
            Method::POST,
            &path,
            Some(&staff.token),
            Some(json!({"codes": 7})),
        )
        .await;
    assert_eq!(g["quota"]["limit"], 12);
    assert_eq!(
        g["cycle_start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        before.cycle_end
    );
}

#[tokio::test]
async fn a_quota_grant_rolls_a_finished_cycle_forward_before_granting() {
    let app = TestApp::spawn_sqlite().await;
    let staff = app.staff(StaffRole::Staff).await;
    let c = app.signup().await;
    let first = usage(&app, c.tenant_id).await;
    // Nobody looked at the tenant since its cycle ended: the grant must land in the new one.
    app.clock.set(first.cycle_end + Duration::days(2));
    let staff = StaffMember {
        token: relogin(&app, &staff).await,
        ..staff
    };
    let (s, g) = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/quota-grants"),
            Some(&staff.token),
            Some(json!({"codes": 20})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let now = usage(&app, c.tenant_id).await;
    assert_eq!(now.cycle_start, first.cycle_end);
    assert_eq!((now.limit, now.bonus), (25, 20));
}

// --- plan override --------------------------------------------------------------------------

#[tokio::test]
async fn a_plan_override_changes_the_limit_mid_cycle_keeping_cycle_and_used() {
    let app = TestApp::spawn().await;
    let staff = app.staff(StaffRole::Staff).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await;
    let pid = pid["id"].as_str().unwrap();
    let plan = app.create_plan(&c, pid, monthly_plan()).await;
    let before = usage(&app, c.tenant_id).await;
    insert_batch(
        &app,
        &c,
        pid,
        plan["id"].as_str().unwrap(),
        4,
        0,
        before.cycle_start,
    )
    .await;
    domain::staff::grant_quota(
        &app.ctx,
        &staff.ctx,
        c.tenant_id,
        domain::staff::QuotaGrantIn {
            codes: 10,
            reason: None,
        },
    )
    .await
    .unwrap();
    app.clock.advance(Duration::days(10));
    let staff = StaffMember {
        token: relogin(&app, &staff).await,
        ..staff
    };
    let path = tenant_path(c.tenant_id, "/plan");

    for body in [json!({"plan": "platinum"}), json!({"plan": ""})] {
        let r = app
            .call(Method::PUT, &path, Some(&staff.token), Some(body))
            .await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("plan"),
        );
        assert_eq!(r.1["error"]["fields"]["plan"]["code"], "unknown_plan");
    }
    let r = app
        .call(Method::PUT, &path, Some(&staff.token), Some(json!({})))
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_json",
        Some("plan"),
    );

    let (s, out) = app
        .call(
            Method::PUT,
            &path,
            Some(&staff.token),
            Some(json!({"plan": "growth_monthly", "reason": "invoice #1042 paid by wire"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["previous_plan"], "free");
    assert_eq!(out["tenant"]["billing_plan"], "growth_monthly");
    let after = usage(&app, c.tenant_id).await;
    assert_eq!(after.plan, domain::tiers::CreatorPlan::GrowthMonthly);
    assert_eq!(
        (after.cycle_start, after.cycle_end),
        (before.cycle_start, before.cycle_end)
    );
    assert_eq!(after.used, 4);
    assert_eq!(after.limit, 500 + 10);
    assert_eq!(after.free_left, 506);
    assert_eq!(out["quota"]["limit"], 510);
    let session = domain::accounts::login(
        &app.ctx,
        &c.email,
        PASSWORD,
        std::net::Ipv4Addr::LOCALHOST.into(),
    )
    .await
    .unwrap();
    let (_, me) = app
        .call(Method::GET, "/api/v1/me", Some(&session.token), None)
        .await;
    assert_eq!(me["tenant"]["billing_plan"], "growth_monthly");

    // Setting the plan it already has changes nothing and writes no entry.
    let (s, out) = app
        .call(
            Method::PUT,
            &path,
            Some(&staff.token),
            Some(json!({"plan": "growth_monthly"})),
        )
        .await;
    assert_eq!(
        (s, &out["previous_plan"]),
        (StatusCode::OK, &json!("growth_monthly"))
    );

    // Down to Free mid-cycle: the used codes stay counted against the smaller quota.
    let (s, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&staff.token),
            Some(json!({"plan": "free"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let down = usage(&app, c.tenant_id).await;
    assert_eq!((down.used, down.limit, down.free_left), (4, 15, 11));

    // An annual plan keeps this cycle; the next one is a year long.
    let (s, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&staff.token),
            Some(json!({"plan": "starter_annual"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let annual = usage(&app, c.tenant_id).await;
    assert_eq!(annual.cycle_end, before.cycle_end);
    assert_eq!(annual.limit, 2_600 + 10);
    app.clock.set(before.cycle_end + Duration::seconds(1));
    let next = usage(&app, c.tenant_id).await;
    assert_eq!(next.cycle_start, before.cycle_end);
    assert_eq!(next.cycle_end, before.cycle_end + chrono::Months::new(12));
    assert_eq!((next.used, next.limit), (0, 2_600));

    let entries = audit_of(&app, c.tenant_id).await;
    let overrides: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "tenant.plan_overridden")
        .collect();
    assert_eq!(overrides.len(), 3);
    assert_eq!(overrides[0].details["from"], "free");
    assert_eq!(overrides[0].details["to"], "growth_monthly");
    assert_eq!(overrides[0].details["reason"], "invoice #1042 paid by wire");
    assert_eq!(overrides[0].target_id, Some(c.tenant_id.to_string()));
    assert_eq!(overrides[0].actor_user_id, Some(staff.ctx.user_id));
    assert_eq!(overrides[2].details["to"], "starter_annual");
}

#[tokio::test]
async fn a_tenant_billed_through_stripe_cannot_be_overridden() {
    let app = TestApp::spawn().await;
    let staff = app.staff(StaffRole::Staff).await;
    let c = app.signup().await;
    let t = entity::tenant::Entity::find_by_id(c.tenant_id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut am: entity::tenant::ActiveModel = t.into();
    am.stripe_subscription_id = Set(Some("sub_123".into()));
    am.billing_plan = Set("starter_monthly".into());
    am.update(&app.ctx.db).await.unwrap();
    let r = app
        .call(
            Method::PUT,
            &tenant_path(c.tenant_id, "/plan"),
            Some(&staff.token),
            Some(json!({"plan": "growth_annual"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "stripe_managed", Some("plan"));
    assert_eq!(usage(&app, c.tenant_id).await.limit, 200);
    assert!(audit_of(&app, c.tenant_id).await.is_empty());
}
