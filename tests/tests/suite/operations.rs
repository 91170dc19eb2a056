//! Operations endpoints, OpenAPI, metrics by route template, body limits.
use gatehouse_tests::{TestApp, app::assert_error};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn health_and_readiness_on_both_backends() {
    for app in [TestApp::spawn().await, TestApp::spawn_sqlite().await] {
        let (s, b) = app.call(Method::GET, "/healthz", None, None).await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, Some("ok")));
        let (s, b) = app.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "ready");
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn_sqlite().await;
    app.ctx.db.clone().close().await.unwrap();
    let (s, b) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["status"], "not_ready");
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let app = TestApp::spawn().await;
    let (s, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/signup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/projects", "post"),
        ("/api/v1/projects", "get"),
        ("/api/v1/projects/{project_id}", "patch"),
        ("/api/v1/projects/{project_id}/channels", "post"),
        ("/api/v1/projects/{project_id}/plans", "post"),
        ("/api/v1/projects/{project_id}/plans/{plan_id}", "patch"),
        ("/api/v1/api-keys/{key_id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["PlanIn"].is_object());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let p = app.create_project(&c).await;
    let id = p["id"].as_str().unwrap();
    app.as_creator(&c, Method::GET, &format!("/api/v1/projects/{id}"), None)
        .await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(gatehouse_tests::app::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/projects/{project_id}""#),
        "{text}"
    );
    assert!(!text.contains(id), "raw ids never become labels");
    // Statements sent to the database so far (signup and project creation wrote some).
    let statements: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("db_statements_total "))
        .expect("db_statements_total is exported")
        .trim()
        .parse()
        .unwrap();
    assert!(statements >= 2, "{statements}");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(api::MAX_BODY_BYTES + 10));
    let resp = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&c.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");

    let resp = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&c.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .call(Method::POST, "/api/v1/projects", Some(&c.token), None)
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_media_type",
        None,
    );
}

#[tokio::test]
async fn metrics_are_served_only_to_the_metrics_token() {
    let app = TestApp::spawn().await;
    let get = |token: Option<&'static str>| {
        let mut r = app.http.get(app.url("/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap() }
    };
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (
            Some("test-metrics-token-wrong-wrong"),
            StatusCode::UNAUTHORIZED,
        ),
        // A creator's session is not the metrics token.
        (Some("eyJhbGciOiJIUzI1NiJ9.e30.x"), StatusCode::UNAUTHORIZED),
    ] {
        let r = get(token).await;
        assert_eq!(r.status(), status);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "metrics_unauthorized", "{body}");
    }
    let r = get(Some(gatehouse_tests::app::METRICS_TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("http_requests_total"));

    // Without METRICS_TOKEN nothing is served; a too short one is refused at start.
    let off = TestApp::spawn_full(
        gatehouse_tests::Backend::Sqlite,
        std::collections::HashMap::from([("METRICS_TOKEN".to_string(), String::new())]),
        false,
    )
    .await;
    let r = off.http.get(off.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "metrics_disabled");
    let short = domain::config::Config::from_lookup(|k| {
        (k == "METRICS_TOKEN").then(|| "short".to_string())
    })
    .unwrap_err();
    assert_eq!(short.var, "METRICS_TOKEN");
}
