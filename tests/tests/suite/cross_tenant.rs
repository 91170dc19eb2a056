//! Tenant B gets 404 on every object of tenant A, through every route that exists.
use gatehouse_tests::{TestApp, factories::monthly_plan};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn another_tenants_objects_are_not_found_through_every_route() {
    let app = TestApp::spawn().await;
    let a = app.signup().await;
    let b = app.signup().await;
    let project = app.create_project(&a).await;
    let pid = project["id"].as_str().unwrap();
    let channel = app.create_channel(&a, pid, -100123).await;
    let mut plan_in = monthly_plan();
    plan_in["channel_ids"] = json!([channel["id"]]);
    let plan = app.create_plan(&a, pid, plan_in).await;
    let plan_id = plan["id"].as_str().unwrap();
    let (_, key) = app.create_api_key(&a, "A's key").await;
    let key_id = key["id"].as_str().unwrap();

    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/projects/{pid}"), None),
        (
            Method::PATCH,
            format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{pid}"), None),
        (
            Method::GET,
            format!("/api/v1/projects/{pid}/channels"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/channels"),
            Some(json!({"telegram_chat_id": -100999, "title": "x"})),
        ),
        (Method::GET, format!("/api/v1/projects/{pid}/plans"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/plans"),
            Some(monthly_plan()),
        ),
        (
            Method::GET,
            format!("/api/v1/projects/{pid}/plans/{plan_id}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/projects/{pid}/plans/{plan_id}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), None),
    ];
    for (m, path, body) in &routes {
        let (s, resp) = app.as_creator(&b, m.clone(), path, body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {resp}");
        assert_eq!(resp["error"]["code"], "not_found");
    }
    // B's own project cannot reach A's channels either.
    let b_project = app.create_project(&b).await;
    let mut stolen = monthly_plan();
    stolen["channel_ids"] = json!([channel["id"]]);
    let (s, _) = app
        .as_creator(
            &b,
            Method::POST,
            &format!(
                "/api/v1/projects/{}/plans",
                b_project["id"].as_str().unwrap()
            ),
            Some(stolen),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Lists never show A's objects.
    let (_, list) = app
        .as_creator(&b, Method::GET, "/api/v1/projects", None)
        .await;
    assert!(!list.to_string().contains(pid));
    let (_, keys) = app
        .as_creator(&b, Method::GET, "/api/v1/api-keys", None)
        .await;
    assert!(!keys.to_string().contains(key_id));

    // And A's objects are untouched.
    let (s, p) = app
        .as_creator(&a, Method::GET, &format!("/api/v1/projects/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["name"], project["name"]);
    let (_, plans) = app
        .as_creator(
            &a,
            Method::GET,
            &format!("/api/v1/projects/{pid}/plans"),
            None,
        )
        .await;
    assert_eq!(plans.as_array().unwrap().len(), 1);
    assert_eq!(plans[0]["name"], "Monthly");
}
