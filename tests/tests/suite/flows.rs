//! Signup → login → project → plan, on both database backends.
use gatehouse_tests::{
    Backend, TestApp,
    factories::{PASSWORD, monthly_plan, unique_email},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn signup_login_project_plan(app: TestApp) {
    let email = unique_email("flow");
    let (s, signup) = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "workspace": "Flow Club"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{signup}");

    let (s, login) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email.to_uppercase(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap();

    let (s, me) = app.call(Method::GET, "/api/v1/me", Some(token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["email"], email);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["tenant"]["billing_plan"], "free");
    assert_eq!(me["tenant"]["status"], "active");
    assert_eq!(me["tenant"]["id"], signup["tenant_id"]);

    let (s, project) = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(token),
            Some(json!({"name": "Inner Circle"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{project}");
    assert_eq!(project["access_codes_enabled"], true);
    assert_eq!(project["codes_priced"], false);
    let pid = project["id"].as_str().unwrap();

    let (s, channel) = app
        .call(
            Method::POST,
            &format!("/api/v1/projects/{pid}/channels"),
            Some(token),
            Some(json!({"telegram_chat_id": -1001234567890_i64, "title": "VIP"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{channel}");

    let mut plan_in = monthly_plan();
    plan_in["channel_ids"] = json!([channel["id"]]);
    let (s, plan) = app
        .call(
            Method::POST,
            &format!("/api/v1/projects/{pid}/plans"),
            Some(token),
            Some(plan_in),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["duration_days"], 30);
    assert_eq!(plan["currency"], "USD");
    assert_eq!(plan["channel_ids"], json!([channel["id"]]));

    let (s, lifetime) = app
        .call(Method::POST, &format!("/api/v1/projects/{pid}/plans"), Some(token),
            Some(json!({"name": "Forever", "price_minor": 0, "currency": "eur", "lifetime": true, "codes_only": true})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lifetime}");
    assert_eq!(lifetime["lifetime"], true);
    assert_eq!(lifetime["duration_days"], serde_json::Value::Null);
    assert_eq!(lifetime["currency"], "EUR");

    let (s, plans) = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{pid}/plans"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(plans.as_array().unwrap().len(), 2);

    let (s, patched) = app
        .call(
            Method::PATCH,
            &format!(
                "/api/v1/projects/{pid}/plans/{}",
                plan["id"].as_str().unwrap()
            ),
            Some(token),
            Some(json!({"active": false, "price_minor": 1500})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(patched["price_minor"], 1500);
    assert_eq!(
        patched["name"], "Monthly",
        "fields left out stay as they were"
    );

    let (s, projects) = app
        .call(Method::GET, "/api/v1/projects", Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(projects.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn signup_login_project_plan_on_postgres() {
    let app = TestApp::spawn().await;
    assert_eq!(app.backend, Backend::Postgres);
    signup_login_project_plan(app).await;
}

#[tokio::test]
async fn signup_login_project_plan_on_sqlite() {
    let app = TestApp::spawn_sqlite().await;
    assert!(!app.ctx.config.is_postgres());
    signup_login_project_plan(app).await;
}
