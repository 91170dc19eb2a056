//! Staff: finding tenants, the tenant list's pages, and the tenant detail.
use super::*;

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
    let mut projects = d["projects"].as_array().unwrap().clone();
    assert_eq!(projects.len(), 2);
    // Both were made in the same instant: their order is not the point here.
    if projects[0]["id"] != p1.to_string().as_str() {
        projects.swap(0, 1);
    }
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
