//! Staff operations: role boundaries on every staff route, suspension through the API, search,
//! tenant detail, quota grants, plan overrides, and the audit log (one entry per action,
//! filters, paging, and no way to edit or delete it).
use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::accounts::StaffRole;
use entity::audit_entry;
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{PASSWORD, StaffMember, assert_field_error, monthly_plan, unique_email, urlencode},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

// --- helpers --------------------------------------------------------------------------------

/// A unique word to find this test's tenants among everyone else's in the shared database.
fn token() -> String {
    format!("tok{}", &Uuid::new_v4().simple().to_string()[..10])
}

async fn signup_named(app: &TestApp, workspace: &str) -> Creator {
    let email = unique_email("creator");
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "workspace": workspace})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Creator {
        email,
        tenant_id: b["tenant_id"].as_str().unwrap().parse().unwrap(),
        token: b["token"].as_str().unwrap().to_string(),
    }
}

/// A bot row as the bots area will store it (connecting real bots lands elsewhere).
async fn insert_bot(app: &TestApp, c: &Creator, project_id: &str, username: &str) -> Uuid {
    let id = Uuid::now_v7();
    entity::bot::ActiveModel {
        id: Set(id),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id.parse().unwrap()),
        telegram_bot_id: Set((Uuid::new_v4().as_u128() as i64).abs()),
        username: Set(username.to_string()),
        token_encrypted: Set("sealed".into()),
        webhook_secret: Set("secret".into()),
        mode: Set("polling".into()),
        created_at: Set(app.ctx.now()),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    id
}

/// A finished code batch counted in `cycle_start`, as the codes area will record one.
async fn insert_batch(
    app: &TestApp,
    c: &Creator,
    project_id: &str,
    plan_id: &str,
    free: i32,
    overage: i32,
    cycle_start: DateTime<Utc>,
) {
    app.insert_done_batch(
        c,
        project_id,
        plan_id,
        (free, overage),
        cycle_start,
        "messages",
    )
    .await;
}

async fn insert_subscriber(
    app: &TestApp,
    c: &Creator,
    project_id: &str,
    plan_id: &str,
    subscription: Option<(&str, Option<DateTime<Utc>>)>,
) {
    let now = app.ctx.now();
    let id = Uuid::now_v7();
    entity::subscriber::ActiveModel {
        id: Set(id),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id.parse().unwrap()),
        telegram_user_id: Set((Uuid::new_v4().as_u128() as i64).abs()),
        username: Set(None),
        first_name: Set("Ann".into()),
        created_at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    if let Some((status, ends_at)) = subscription {
        entity::subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id),
            project_id: Set(project_id.parse().unwrap()),
            subscriber_id: Set(id),
            plan_id: Set(plan_id.parse().unwrap()),
            source: Set("manual".into()),
            access_code_id: Set(None),
            price_minor: Set(0),
            currency: Set("USD".into()),
            starts_at: Set(now - Duration::days(1)),
            ends_at: Set(ends_at),
            status: Set(status.into()),
            reminder_sent_at: Set(None),
            ended_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.ctx.db)
        .await
        .unwrap();
    }
}

async fn audit_of(app: &TestApp, tenant: Uuid) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::TenantId.eq(tenant))
        .order_by_asc(audit_entry::Column::At)
        .order_by_asc(audit_entry::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap()
}

fn tenant_path(id: Uuid, rest: &str) -> String {
    format!("/api/v1/staff/tenants/{id}{rest}")
}

/// Every staff route with a valid body, as (method, path, body).
fn staff_routes(tenant: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/staff/tenants".into(), None),
        (Method::GET, tenant_path(tenant, ""), None),
        (
            Method::POST,
            tenant_path(tenant, "/suspend"),
            Some(json!({"reason": "abuse report"})),
        ),
        (
            Method::POST,
            tenant_path(tenant, "/unsuspend"),
            Some(json!({})),
        ),
        (
            Method::POST,
            tenant_path(tenant, "/quota-grants"),
            Some(json!({"codes": 10})),
        ),
        (
            Method::PUT,
            tenant_path(tenant, "/plan"),
            Some(json!({"plan": "growth_monthly"})),
        ),
        (Method::GET, "/api/v1/staff/audit".into(), None),
        (
            Method::GET,
            "/api/v1/staff/billing/usage-records?status=failed".into(),
            None,
        ),
    ]
}

/// A new session for a staff member, for after the test clock has run past the old one.
async fn relogin(app: &TestApp, s: &StaffMember) -> String {
    domain::accounts::login(&app.ctx, &s.ctx.email, PASSWORD)
        .await
        .unwrap()
        .token
}

async fn usage(app: &TestApp, tenant: Uuid) -> domain::quota::QuotaUsage {
    domain::quota::usage(&app.ctx, tenant).await.unwrap()
}

// --- roles ----------------------------------------------------------------------------------

#[tokio::test]
async fn every_staff_route_refuses_creators_api_keys_and_anonymous_callers() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (_, key) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "k"})),
        )
        .await;
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
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
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

    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
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
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
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
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
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
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
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

// --- search, list, detail -------------------------------------------------------------------

async fn search(app: &TestApp, s: &StaffMember, query: &str) -> Vec<Uuid> {
    let (st, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/tenants?{query}"),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn staff_find_tenants_by_name_email_bot_username_and_id() {
    let app = TestApp::spawn().await;
    let ro = app.staff(StaffRole::StaffReadonly).await;
    let tok = token();
    let a = signup_named(&app, &format!("Yoga {} Club", tok.to_uppercase())).await;
    let b = app.signup().await;
    let bp = app.create_project(&b).await;
    let bot_name = format!("{tok}_vip_bot");
    insert_bot(&app, &b, bp["id"].as_str().unwrap(), &bot_name).await;
    let other = app.signup().await;

    // Name, any case, part of it.
    assert_eq!(
        search(&app, &ro, &format!("q={tok}")).await,
        [b.tenant_id, a.tenant_id]
    );
    assert_eq!(
        search(&app, &ro, &format!("q=yoga%20{tok}")).await,
        [a.tenant_id]
    );
    // Owner email, part of it, any case.
    let local = b.email.split('@').next().unwrap().to_uppercase();
    assert_eq!(
        search(&app, &ro, &format!("q={local}")).await,
        [b.tenant_id]
    );
    // Bot username, with or without @.
    assert_eq!(
        search(&app, &ro, &format!("q=%40{tok}_VIP")).await,
        [b.tenant_id]
    );
    assert_eq!(
        search(&app, &ro, &format!("q={bot_name}")).await,
        [b.tenant_id]
    );
    // Tenant id.
    assert_eq!(
        search(&app, &ro, &format!("q={}", other.tenant_id)).await,
        [other.tenant_id]
    );
    // LIKE wildcards in the search are literal characters.
    assert!(search(&app, &ro, &format!("q={tok}%25")).await.is_empty());
    // `_` matches only itself, not any one character (the token's last character is no `_`).
    assert!(
        search(&app, &ro, &format!("q={}_", &tok[..tok.len() - 1]))
            .await
            .is_empty()
    );
    assert!(
        search(&app, &ro, "q=nothing-matches-this-xyzzy")
            .await
            .is_empty()
    );

    // The summary carries what the list view needs.
    let (_, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/tenants?q={}", a.tenant_id),
            Some(&ro.token),
            None,
        )
        .await;
    let t = &page["items"][0];
    assert_eq!(t["owner_email"], a.email);
    assert_eq!(t["status"], "active");
    assert_eq!(t["billing_plan"], "free");
    assert_eq!(page["next_cursor"], Value::Null);

    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/tenants?q={}", "x".repeat(255)),
            Some(&ro.token),
            None,
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("q"),
    );
}

#[tokio::test]
async fn the_tenant_list_pages_newest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let staff = app.staff(StaffRole::Staff).await;
    let tok = token();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            signup_named(&app, &format!("{tok} shop {i}"))
                .await
                .tenant_id,
        );
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/staff/tenants?q={tok}&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = app.call(Method::GET, &path, Some(&staff.token), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        pages += 1;
        for t in page["items"].as_array().unwrap() {
            seen.push(t["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Without a search the list pages through everyone, this test's tenants included.
    let (_, page) = app
        .call(
            Method::GET,
            "/api/v1/staff/tenants?limit=1",
            Some(&staff.token),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());

    for (query, field, code) in [
        ("limit=0", "limit", "out_of_range"),
        ("limit=201", "limit", "out_of_range"),
        ("limit=ten", "limit", "out_of_range"),
        ("cursor=not-a-cursor!", "cursor", "invalid_cursor"),
        ("cursor=bm9wZQ", "cursor", "invalid_cursor"),
    ] {
        let r = app
            .call(
                Method::GET,
                &format!("/api/v1/staff/tenants?{query}"),
                Some(&staff.token),
                None,
            )
            .await;
        assert_field_error(&r, field, code, query);
    }
}

#[tokio::test]
async fn tenant_detail_shows_plan_cycle_quota_projects_bots_and_member_counts() {
    let app = TestApp::spawn().await;
    let ro = app.staff(StaffRole::StaffReadonly).await;
    let c = app.signup().await;
    let p1 = app.create_project(&c).await;
    let p1 = p1["id"].as_str().unwrap();
    let (_, p2) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "Second"})),
        )
        .await;
    let p2 = p2["id"].as_str().unwrap();
    let plan = app.create_plan(&c, p1, monthly_plan()).await;
    let plan = plan["id"].as_str().unwrap();
    let bot_id = insert_bot(&app, &c, p1, "detail_bot").await;
    let now = app.ctx.now();
    insert_subscriber(
        &app,
        &c,
        p1,
        plan,
        Some(("active", Some(now + Duration::days(3)))),
    )
    .await;
    insert_subscriber(&app, &c, p1, plan, Some(("active", None))).await;
    insert_subscriber(
        &app,
        &c,
        p1,
        plan,
        Some(("expired", Some(now - Duration::days(1)))),
    )
    .await;
    insert_subscriber(&app, &c, p1, plan, None).await;
    let cycle_start = usage(&app, c.tenant_id).await.cycle_start;
    insert_batch(&app, &c, p1, plan, 3, 0, cycle_start).await;

    let (s, d) = app
        .call(
            Method::GET,
            &tenant_path(c.tenant_id, ""),
            Some(&ro.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["id"], c.tenant_id.to_string());
    assert_eq!(d["name"], "Test Workspace");
    assert_eq!(d["status"], "active");
    assert_eq!(d["billing_plan"], "free");
    assert_eq!(d["owner_email"], c.email);
    assert_eq!(d["users"][0]["role"], "owner");
    assert_eq!(d["quota"]["plan"], "free");
    assert_eq!(d["quota"]["used"], 3);
    assert_eq!(d["quota"]["limit"], 5);
    assert_eq!(d["quota"]["bonus"], 0);
    assert_eq!(d["quota"]["free_left"], 2);
    assert_eq!(d["quota"]["overage_codes"], 0);
    assert!(d["quota"]["cycle_start"].is_string() && d["quota"]["cycle_end"].is_string());
    assert_eq!(d["subscribers"], 4);
    assert_eq!(d["active_subscriptions"], 2);
    let projects = d["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 2);
    assert_eq!(projects[0]["id"], p1);
    assert_eq!(projects[0]["bot"]["id"], bot_id.to_string());
    assert_eq!(projects[0]["bot"]["username"], "detail_bot");
    assert_eq!(projects[0]["subscribers"], 4);
    assert_eq!(projects[0]["active_subscriptions"], 2);
    assert_eq!(projects[1]["id"], p2);
    assert_eq!(projects[1]["bot"], Value::Null);
    assert_eq!(projects[1]["subscribers"], 0);
    // Staff never see bot secrets.
    let text = d.to_string();
    assert!(!text.contains("sealed") && !text.contains("webhook_secret"));

    let r = app
        .call(
            Method::GET,
            &tenant_path(Uuid::now_v7(), ""),
            Some(&ro.token),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
}

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
    assert_eq!(after.plan, domain::billing::CreatorPlan::GrowthMonthly);
    assert_eq!(
        (after.cycle_start, after.cycle_end),
        (before.cycle_start, before.cycle_end)
    );
    assert_eq!(after.used, 4);
    assert_eq!(after.limit, 500 + 10);
    assert_eq!(after.free_left, 506);
    assert_eq!(out["quota"]["limit"], 510);
    let session = domain::accounts::login(&app.ctx, &c.email, PASSWORD)
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

// --- audit log ------------------------------------------------------------------------------

async fn audit_page(app: &TestApp, s: &StaffMember, query: &str) -> Value {
    let (st, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/audit?{query}"),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{query}: {page}");
    page
}

fn actions_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_audit_log_filters_by_tenant_action_actor_and_time_and_pages_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.staff(StaffRole::Staff).await;
    let bob = app.staff(StaffRole::Staff).await;
    let ro = app.staff(StaffRole::StaffReadonly).await;
    let a = app.signup().await;
    let b = app.signup().await;
    // Whole seconds, so the instants below survive the database's timestamp precision.
    app.clock.set(app.ctx.now().trunc_subsecs(0));
    let t0 = app.ctx.now();

    domain::staff::suspend(&app.ctx, &alice.ctx, a.tenant_id, "spam")
        .await
        .unwrap();
    app.clock.advance(Duration::hours(1));
    let t1 = app.ctx.now();
    domain::staff::unsuspend(&app.ctx, &bob.ctx, a.tenant_id, "cleared")
        .await
        .unwrap();
    app.clock.advance(Duration::hours(1));
    let grant = |s: &StaffMember, t: Uuid| {
        let (ctx, s) = (app.ctx.clone(), s.ctx.clone());
        async move {
            domain::staff::grant_quota(
                &ctx,
                &s,
                t,
                domain::staff::QuotaGrantIn {
                    codes: 5,
                    reason: None,
                },
            )
            .await
            .unwrap()
        }
    };
    grant(&alice, b.tenant_id).await;
    app.clock.advance(Duration::hours(1));
    let t3 = app.ctx.now();
    grant(&alice, a.tenant_id).await;

    // By tenant, newest first; readonly staff may read.
    let page = audit_page(&app, &ro, &format!("tenant_id={}", a.tenant_id)).await;
    assert_eq!(
        actions_of(&page),
        [
            "tenant.quota_granted",
            "tenant.unsuspended",
            "tenant.suspended"
        ]
    );
    let e = &page["items"][2];
    assert_eq!(e["actor"], format!("staff:{}", alice.ctx.email));
    assert_eq!(e["actor_user_id"], alice.ctx.user_id.to_string());
    assert_eq!(e["tenant_id"], a.tenant_id.to_string());
    assert_eq!(e["target_type"], "tenant");
    assert_eq!(e["target_id"], a.tenant_id.to_string());
    assert_eq!(e["details"]["reason"], "spam");

    // By action.
    let page = audit_page(
        &app,
        &ro,
        &format!("tenant_id={}&action=tenant.unsuspended", a.tenant_id),
    )
    .await;
    assert_eq!(actions_of(&page), ["tenant.unsuspended"]);
    // By actor: user id, or part of the label (any case).
    let page = audit_page(&app, &ro, &format!("actor={}", alice.ctx.user_id)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let bob_label = bob.ctx.email.split('@').next().unwrap().to_uppercase();
    let page = audit_page(&app, &ro, &format!("actor={bob_label}")).await;
    assert_eq!(actions_of(&page), ["tenant.unsuspended"]);
    // By time window: from inclusive, to exclusive.
    let window = |f: DateTime<Utc>, t: DateTime<Utc>| {
        format!(
            "actor={}&from={}&to={}",
            alice.ctx.user_id,
            urlencode(&f.to_rfc3339()),
            urlencode(&t.to_rfc3339())
        )
    };
    let page = audit_page(&app, &ro, &window(t0, t1)).await;
    assert_eq!(actions_of(&page), ["tenant.suspended"]);
    let page = audit_page(&app, &ro, &window(t1, t3)).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["tenant_id"], b.tenant_id.to_string());
    let page = audit_page(
        &app,
        &ro,
        &format!(
            "tenant_id={}&from={}",
            a.tenant_id,
            urlencode(&t1.to_rfc3339())
        ),
    )
    .await;
    assert_eq!(
        actions_of(&page),
        ["tenant.quota_granted", "tenant.unsuspended"]
    );

    // Paging one at a time walks the same entries in the same order, with no repeats.
    let all = audit_page(&app, &ro, &format!("actor={}", alice.ctx.user_id)).await;
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("actor={}&limit=1", alice.ctx.user_id);
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = audit_page(&app, &ro, &q).await;
        walked.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(Value::Array(walked), all["items"]);

    for (query, field, code) in [
        ("tenant_id=nope", "tenant_id", "invalid_uuid"),
        ("from=yesterday", "from", "invalid_timestamp"),
        ("to=2026-13-01", "to", "invalid_timestamp"),
        (
            "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            "to",
            "before_from",
        ),
        ("limit=500", "limit", "out_of_range"),
        ("cursor=%21%21", "cursor", "invalid_cursor"),
    ] {
        let r = app
            .call(
                Method::GET,
                &format!("/api/v1/staff/audit?{query}"),
                Some(&ro.token),
                None,
            )
            .await;
        assert_field_error(&r, field, code, query);
    }
}

#[tokio::test]
async fn audit_entries_cannot_be_edited_or_deleted_through_any_route() {
    let app = TestApp::spawn().await;
    let staff = app.staff(StaffRole::Staff).await;
    let c = app.signup().await;
    let (_, key) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "k"})),
        )
        .await;
    domain::staff::suspend(&app.ctx, &staff.ctx, c.tenant_id, "original reason")
        .await
        .unwrap();
    let entry = audit_of(&app, c.tenant_id).await.remove(1);
    assert_eq!(entry.action, "tenant.suspended");

    // No route of the API writes to the audit log: every audit path is read-only.
    let (_, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let audit_paths: Vec<(&String, &Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.contains("audit"))
        .collect();
    assert_eq!(audit_paths.len(), 1, "{audit_paths:?}");
    for (path, ops) in audit_paths {
        let methods: Vec<&String> = ops.as_object().unwrap().keys().collect();
        assert_eq!(methods, ["get"], "{path}");
    }

    // And trying anyway changes nothing, with any credential.
    let id = entry.id;
    let before = audit_of(&app, c.tenant_id).await;
    for token in [
        staff.token.as_str(),
        c.token.as_str(),
        key["secret"].as_str().unwrap(),
    ] {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            for path in [
                "/api/v1/staff/audit".to_string(),
                format!("/api/v1/staff/audit/{id}"),
                format!("/api/v1/audit/{id}"),
            ] {
                let (s, _) = app
                    .call(
                        m.clone(),
                        &path,
                        Some(token),
                        Some(json!({"details": {}, "action": "x"})),
                    )
                    .await;
                assert!(
                    s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::NOT_FOUND,
                    "{m} {path}: {s}"
                );
            }
        }
    }
    assert_eq!(audit_of(&app, c.tenant_id).await, before);
    assert_eq!(before[1], entry);
}

// --- creator destructive actions ------------------------------------------------------------

#[tokio::test]
async fn each_destructive_creator_action_leaves_exactly_one_audit_entry() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
    let user_id = me["user_id"].as_str().unwrap().to_string();

    // API key created: one entry, never the secret.
    let (_, key) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "CI"})),
        )
        .await;
    let key_id = key["id"].as_str().unwrap().to_string();
    let secret = key["secret"].as_str().unwrap().to_string();
    let entries = audit_of(&app, c.tenant_id).await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.action, "api_key.created");
    assert_eq!(
        (e.target_type.as_str(), e.target_id.as_deref()),
        ("api_key", Some(key_id.as_str()))
    );
    assert_eq!(e.actor, c.email);
    assert_eq!(
        e.actor_user_id.map(|u| u.to_string()),
        Some(user_id.clone())
    );
    assert_eq!(e.details["name"], "CI");
    assert!(!e.details.to_string().contains(&secret[3..]));

    // A project deleted with an API key: one entry naming the key as the actor.
    let p = app.create_project(&c).await;
    let pid = p["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{pid}"),
            Some(&secret),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let entries = audit_of(&app, c.tenant_id).await;
    assert_eq!(entries.len(), 2);
    let e = &entries[1];
    assert_eq!(e.action, "project.deleted");
    assert_eq!(
        (e.target_type.as_str(), e.target_id.as_deref()),
        ("project", Some(pid))
    );
    assert_eq!(e.actor, format!("api_key:{}", &secret[..10]));
    assert_eq!(e.actor_user_id, None);
    assert_eq!(e.details["name"], "Inner Circle");
    // Deleting it again finds nothing and records nothing.
    let (s, _) = app
        .as_creator(&c, Method::DELETE, &format!("/api/v1/projects/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Revoked: one entry; revoking again answers the same key and records nothing.
    for _ in 0..2 {
        let (s, k) = app
            .as_creator(
                &c,
                Method::DELETE,
                &format!("/api/v1/api-keys/{key_id}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{k}");
        assert!(k["revoked_at"].is_string());
    }
    let entries = audit_of(&app, c.tenant_id).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["api_key.created", "project.deleted", "api_key.revoked"]
    );
    let e = &entries[2];
    assert_eq!(
        (e.target_type.as_str(), e.target_id.as_deref()),
        ("api_key", Some(key_id.as_str()))
    );
    assert_eq!(e.actor, c.email);
    assert_eq!(e.details["prefix"], &secret[..10]);

    // Entries survive what they describe: the staff audit view still shows the deleted project.
    let staff = app.staff(StaffRole::StaffReadonly).await;
    let page = audit_page(
        &app,
        &staff,
        &format!("tenant_id={}&action=project.deleted", c.tenant_id),
    )
    .await;
    assert_eq!(page["items"][0]["target_id"], pid);
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

#[tokio::test]
async fn racing_staff_actions_make_one_change_and_one_audit_entry() {
    let app = TestApp::spawn().await;
    let (a, b) = (
        app.staff(StaffRole::Staff).await.ctx,
        app.staff(StaffRole::Staff).await.ctx,
    );
    let c = app.signup().await;
    let (ra, rb) = tokio::join!(
        domain::staff::suspend(&app.ctx, &a, c.tenant_id, "first"),
        domain::staff::suspend(&app.ctx, &b, c.tenant_id, "second"),
    );
    let codes: Vec<&str> = [&ra, &rb]
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.code))
        .collect();
    assert_eq!(codes, ["already_suspended"]);
    let entries = audit_of(&app, c.tenant_id).await;
    assert_eq!(entries.len(), 1);
    let (_, me) = app.as_creator(&c, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        me["tenant"]["suspended_reason"],
        entries[0].details["reason"]
    );
}
