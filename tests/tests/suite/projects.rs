//! Projects, channels and plans: validation with stable codes and fields, suspension.
use domain::accounts::StaffRole;
use gatehouse_tests::{
    TestApp,
    app::assert_error,
    factories::{assert_field_error, monthly_plan},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn project_input_is_validated_with_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    for (body, field, code) in [
        (json!({"name": ""}), "name", "required"),
        (json!({"name": "x".repeat(65)}), "name", "too_long"),
        (
            json!({"name": "ok", "unused_code_ttl_days": 0}),
            "unused_code_ttl_days",
            "out_of_range",
        ),
        (
            json!({"name": "ok", "welcome_message": "w".repeat(2001)}),
            "welcome_message",
            "too_long",
        ),
    ] {
        let r = app
            .as_creator(&c, Method::POST, "/api/v1/projects", Some(body))
            .await;
        assert_field_error(&r, field, code, "");
    }
    let ok = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "x".repeat(64)})),
        )
        .await;
    assert_eq!(ok.0, StatusCode::CREATED);
    // Bad input lost nothing: exactly the one valid project exists.
    let (_, list) = app
        .as_creator(&c, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let pid = ok.1["id"].as_str().unwrap();
    let (s, p) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"unused_code_ttl_days": 30, "access_codes_enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["unused_code_ttl_days"], 30);
    assert_eq!(p["access_codes_enabled"], false);
    let (_, p) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"unused_code_ttl_days": null})),
        )
        .await;
    assert_eq!(p["unused_code_ttl_days"], serde_json::Value::Null);
    assert_eq!(p["access_codes_enabled"], false);
}

#[tokio::test]
async fn plan_input_is_validated_with_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let pid = app.create_project_id(&c).await;
    let other = app.create_project_id(&c).await;
    let foreign_channel = app.create_channel(&c, &other, -100777).await;
    let path = format!("/api/v1/projects/{pid}/plans");
    let base = monthly_plan();
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field, code) in [
        (with("name", json!("")), "name", "required"),
        (with("name", json!("n".repeat(65))), "name", "too_long"),
        (
            with("price_minor", json!(-1)),
            "price_minor",
            "invalid_price",
        ),
        (
            with("currency", json!("XX")),
            "currency",
            "invalid_currency",
        ),
        (
            with("currency", json!("ABC")),
            "currency",
            "invalid_currency",
        ),
        (
            with("duration_days", json!(0)),
            "duration_days",
            "invalid_duration",
        ),
        (
            with("duration_days", json!(36_501)),
            "duration_days",
            "invalid_duration",
        ),
        (
            with("duration_days", serde_json::Value::Null),
            "duration_days",
            "invalid_duration",
        ),
        (
            with("lifetime", json!(true)),
            "duration_days",
            "invalid_duration",
        ),
        (
            with("channel_ids", json!([foreign_channel["id"]])),
            "channel_ids",
            "unknown_channel",
        ),
    ] {
        let r = app
            .as_creator(&c, Method::POST, &path, Some(body.clone()))
            .await;
        assert_field_error(&r, field, code, &body.to_string());
    }
    let r = app
        .as_creator(
            &c,
            Method::POST,
            &path,
            Some(with("price_minor", json!("free"))),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_json",
        Some("price_minor"),
    );
    for ok in [
        with("duration_days", json!(1)),
        with("duration_days", json!(36_500)),
        with("price_minor", json!(0)),
    ] {
        app.create_plan(&c, &pid, ok).await;
    }
    let (_, plans) = app.as_creator(&c, Method::GET, &path, None).await;
    assert_eq!(plans.as_array().unwrap().len(), 3);
    let r = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("{path}/{}", plans[0]["id"].as_str().unwrap()),
            Some(json!({"currency": "nope"})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("currency"),
    );
}

#[tokio::test]
async fn a_suspended_tenant_reads_but_every_write_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let project = app.create_project(&c).await;
    let pid = project["id"].as_str().unwrap();
    let plan = app.create_plan(&c, pid, monthly_plan()).await;
    let staff = app.staff(StaffRole::Staff).await.ctx;
    domain::staff::suspend(&app.ctx, &staff, c.tenant_id, "chargeback investigation")
        .await
        .unwrap();

    for path in [
        "/api/v1/me",
        "/api/v1/projects",
        &format!("/api/v1/projects/{pid}"),
        &format!("/api/v1/projects/{pid}/plans"),
        &format!("/api/v1/projects/{pid}/channels"),
        "/api/v1/api-keys",
    ] {
        let (s, b) = app.as_creator(&c, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "suspended");
    assert_eq!(me["tenant"]["suspended_reason"], "chargeback investigation");

    let plan_path = format!(
        "/api/v1/projects/{pid}/plans/{}",
        plan["id"].as_str().unwrap()
    );
    let writes = [
        (
            Method::POST,
            "/api/v1/projects".to_string(),
            Some(json!({"name": "New"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{pid}"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/channels"),
            Some(json!({"telegram_chat_id": -1009, "title": "T"})),
        ),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/plans"),
            Some(monthly_plan()),
        ),
        (
            Method::PATCH,
            plan_path.clone(),
            Some(json!({"active": false})),
        ),
        (
            Method::POST,
            "/api/v1/api-keys".to_string(),
            Some(json!({"name": "k"})),
        ),
    ];
    for (m, path, body) in writes.clone() {
        let r = app.as_creator(&c, m.clone(), &path, body).await;
        assert_error(&r, StatusCode::FORBIDDEN, "tenant_suspended", None);
    }
    // Nothing changed.
    let (_, p) = app
        .as_creator(&c, Method::GET, &format!("/api/v1/projects/{pid}"), None)
        .await;
    assert_eq!(p["name"], project["name"]);

    domain::staff::unsuspend(&app.ctx, &staff, c.tenant_id, "resolved")
        .await
        .unwrap();
    let (s, _) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
