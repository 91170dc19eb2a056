//! Staff: who may call the staff routes (creators, API keys, anonymous, read-only staff),
//! suspension through the API, and the embedded default.
use super::*;

// --- roles ----------------------------------------------------------------------------------

#[tokio::test]
async fn every_staff_route_refuses_creators_api_keys_and_anonymous_callers() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (_, key) = app.create_api_key(&c, "k").await;
    let key = key["secret"].as_str().unwrap().to_string();
    let before = audit_of(&app, c.tenant_id).await.len();

    // The list below is every staff route the API serves: adding one without testing it fails.
    let (_, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let mut served: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/api/v1/staff"))
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    served.sort();
    let mut tested: Vec<String> = staff_routes(c.tenant_id)
        .iter()
        .map(|(m, p, _)| {
            let p = p.split('?').next().unwrap_or_default();
            format!("{m} {}", p.replace(&c.tenant_id.to_string(), "{tenant_id}"))
        })
        .collect();
    tested.sort();
    assert_eq!(served, tested);

    for (m, path, body) in staff_routes(c.tenant_id) {
        let r = app
            .call(m.clone(), &path, Some(&c.token), body.clone())
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "staff_only", None);
        let r = app.call(m.clone(), &path, Some(&key), body.clone()).await;
        assert_error(&r, StatusCode::FORBIDDEN, "staff_only", None);
        let r = app.call(m.clone(), &path, None, body).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    }
    // Nothing happened to the tenant.
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "active");
    assert_eq!(me["tenant"]["billing_plan"], "free");
    assert_eq!(usage(&app, c.tenant_id).await.bonus, 0);
    assert_eq!(audit_of(&app, c.tenant_id).await.len(), before);
}

#[tokio::test]
async fn readonly_staff_read_every_staff_route_and_every_write_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let ro = app.staff(StaffRole::StaffReadonly).await;
    let staff = app.staff(StaffRole::Staff).await;

    for (m, path, body) in staff_routes(c.tenant_id) {
        let r = app
            .call(m.clone(), &path, Some(&ro.token), body.clone())
            .await;
        if m == Method::GET {
            assert_eq!(r.0, StatusCode::OK, "{m} {path}: {}", r.1);
        } else {
            assert_error(&r, StatusCode::FORBIDDEN, "staff_readonly", None);
            // Refused before the input is even looked at.
            let r = app
                .call(
                    m.clone(),
                    &path,
                    Some(&ro.token),
                    Some(json!({"codes": 0, "plan": "x"})),
                )
                .await;
            assert_error(&r, StatusCode::FORBIDDEN, "staff_readonly", None);
        }
    }
    // Unsuspend is refused too when there is something to unsuspend.
    domain::staff::suspend(&app.ctx, &staff.ctx, c.tenant_id, "fraud check")
        .await
        .unwrap();
    let r = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/unsuspend"),
            Some(&ro.token),
            Some(json!({"reason": "done"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "staff_readonly", None);

    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "suspended");
    assert_eq!(me["tenant"]["billing_plan"], "free");
    assert_eq!(usage(&app, c.tenant_id).await.bonus, 0);
    // The only entry is the one real staff wrote.
    let entries = audit_of(&app, c.tenant_id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_user_id, Some(staff.ctx.user_id));
}

// --- suspension -----------------------------------------------------------------------------

#[tokio::test]
async fn staff_suspend_and_unsuspend_through_the_api_and_the_creator_sees_it() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let staff = app.staff(StaffRole::Staff).await;
    let project = app.create_project(&c).await;
    let pid = project["id"].as_str().unwrap();

    // A reason is required, and bounded.
    // (No body at all reads as an empty one.)
    for body in [
        None,
        Some(json!({})),
        Some(json!({"reason": "   "})),
        Some(json!({"reason": "x".repeat(501)})),
    ] {
        let r = app
            .call(
                Method::POST,
                &tenant_path(c.tenant_id, "/suspend"),
                Some(&staff.token),
                body,
            )
            .await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("reason"),
        );
        assert_eq!(r.1["error"]["fields"]["reason"]["code"], "invalid_reason");
    }
    // A body that is not JSON is still refused as such.
    let resp = app
        .http
        .post(app.url(&tenant_path(c.tenant_id, "/suspend")))
        .bearer_auth(&staff.token)
        .body("reason=spam")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let r = app
        .call(
            Method::POST,
            &tenant_path(Uuid::now_v7(), "/suspend"),
            Some(&staff.token),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    assert!(audit_of(&app, c.tenant_id).await.is_empty());

    let (s, t) = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/suspend"),
            Some(&staff.token),
            Some(json!({"reason": "  chargebacks under review  "})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "suspended");
    assert!(
        !domain::tenants::is_active(&app.ctx.db, c.tenant_id)
            .await
            .unwrap()
    );

    // The creator sees status and reason, can read, and cannot write.
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "suspended");
    assert_eq!(me["tenant"]["suspended_reason"], "chargebacks under review");
    assert_eq!(
        app.as_creator(&c, Method::GET, &format!("/api/v1/projects/{pid}"), None)
            .await
            .0,
        StatusCode::OK
    );
    let r = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "tenant_suspended", None);

    // Staff see it too.
    let (_, d) = app
        .call(
            Method::GET,
            &tenant_path(c.tenant_id, ""),
            Some(&staff.token),
            None,
        )
        .await;
    assert_eq!(d["status"], "suspended");
    assert_eq!(d["suspended_reason"], "chargebacks under review");

    // Suspending again is a conflict and keeps the first reason.
    let r = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/suspend"),
            Some(&staff.token),
            Some(json!({"reason": "another"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "already_suspended", None);
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["suspended_reason"], "chargebacks under review");

    // Unsuspend (reason and even the body optional) restores everything.
    let (s, t) = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/unsuspend"),
            Some(&staff.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(
        domain::tenants::is_active(&app.ctx.db, c.tenant_id)
            .await
            .unwrap()
    );
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "active");
    assert_eq!(me["tenant"]["suspended_reason"], Value::Null);
    let (s, p) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!((s, p["name"].as_str()), (StatusCode::OK, Some("Renamed")));
    let r = app
        .call(
            Method::POST,
            &tenant_path(c.tenant_id, "/unsuspend"),
            Some(&staff.token),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "not_suspended", None);

    // Exactly one entry per action, refused attempts leave none.
    let entries = audit_of(&app, c.tenant_id).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tenant.suspended", "tenant.unsuspended"]);
    for e in &entries {
        assert_eq!(e.actor, format!("staff:{}", staff.ctx.email));
        assert_eq!(e.actor_user_id, Some(staff.ctx.user_id));
        assert_eq!(e.target_type, "tenant");
        assert_eq!(e.target_id, Some(c.tenant_id.to_string()));
    }
    assert_eq!(entries[0].details["reason"], "chargebacks under review");
    assert_eq!(entries[1].details["reason"], Value::Null);
}

#[tokio::test]
async fn is_active_follows_suspension_on_both_backends() {
    for app in [TestApp::spawn().await, TestApp::spawn_sqlite().await] {
        let c = app.signup().await;
        let staff = app.staff(StaffRole::Staff).await.ctx;
        let db = &app.ctx.db;
        assert!(domain::tenants::is_active(db, c.tenant_id).await.unwrap());
        domain::tenants::ensure_active(db, c.tenant_id)
            .await
            .unwrap();
        domain::staff::suspend(&app.ctx, &staff, c.tenant_id, "paused")
            .await
            .unwrap();
        assert!(!domain::tenants::is_active(db, c.tenant_id).await.unwrap());
        let e = domain::tenants::ensure_active(db, c.tenant_id)
            .await
            .unwrap_err();
        assert_eq!(e.code, "tenant_suspended", "{:?}", app.backend);
        domain::staff::unsuspend(&app.ctx, &staff, c.tenant_id, "")
            .await
            .unwrap();
        assert!(domain::tenants::is_active(db, c.tenant_id).await.unwrap());
        // A tenant that does not exist is not active.
        assert!(
            !domain::tenants::is_active(db, Uuid::now_v7())
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn staff_actions_work_the_same_on_the_embedded_default() {
    let app = TestApp::spawn_sqlite().await;
    assert_eq!(app.backend, Backend::Sqlite);
    let staff = app.staff(StaffRole::Staff).await;
    let tok = token();
    let c = signup_named(&app, &format!("Chess {tok}")).await;
    let p = app.create_project(&c).await;
    insert_bot(&app, &c, p["id"].as_str().unwrap(), &format!("{tok}_bot")).await;
    assert_eq!(
        search(&app, &staff, &format!("q={}", tok.to_uppercase())).await,
        [c.tenant_id]
    );
    assert_eq!(
        search(&app, &staff, &format!("q=%40{tok}_b")).await,
        [c.tenant_id]
    );
    for (m, path, body) in staff_routes(c.tenant_id) {
        let (s, b) = app.call(m.clone(), &path, Some(&staff.token), body).await;
        assert!(s.is_success(), "{m} {path}: {b}");
    }
    let page = audit_page(&app, &staff, &format!("tenant_id={}", c.tenant_id)).await;
    assert_eq!(
        actions_of(&page),
        [
            "tenant.plan_overridden",
            "tenant.quota_granted",
            "tenant.unsuspended",
            "tenant.suspended"
        ]
    );
    let u = usage(&app, c.tenant_id).await;
    assert_eq!((u.limit, u.bonus), (500 + 10, 10));

    // The clock stood still, so all four entries share one instant: paging must still walk
    // them in order, once each (the id breaks the tie).
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("tenant_id={}&limit=1", c.tenant_id);
        if let Some(cur) = &cursor {
            q.push_str(&format!("&cursor={cur}"));
        }
        let page = audit_page(&app, &staff, &q).await;
        walked.extend(actions_of(&page));
        match page["next_cursor"].as_str() {
            Some(cur) => cursor = Some(cur.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, actions_of(&page));
}
