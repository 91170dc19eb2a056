//! Staff: the audit log: filters and pages, no edits or deletes, one entry per destructive action,
//! and racing staff actions.
use super::*;

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
    let (_, key) = app.create_api_key(&c, "k").await;
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
    let me = app.me(&c).await;
    let user_id = me["user_id"].as_str().unwrap().to_string();

    // API key created: one entry, never the secret.
    let (_, key) = app.create_api_key(&c, "CI").await;
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
    let me = app.me(&c).await;
    assert_eq!(
        me["tenant"]["suspended_reason"],
        entries[0].details["reason"]
    );
}
