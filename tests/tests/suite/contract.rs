//! The API contract: bad path and query parameters answer the JSON error envelope naming the
//! parameter, and the OpenAPI document declares the statuses operations answer (walked here).
use gatehouse_tests::{TestApp, app::assert_error};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Operations that take no bearer credential (`security: []` in the document).
const PUBLIC: [(&str, &str); 8] = [
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/team/invites/accept"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/webhooks/stripe"),
    ("post", "/tg/{bot_id}"),
];

async fn openapi(app: &TestApp) -> Value {
    let (s, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    doc
}

/// Every operation of the document: method, path, operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Needs a bearer credential: inherits the document's requirement, or names `bearer`.
fn needs_bearer(op: &Value) -> bool {
    match op.get("security") {
        None => true,
        Some(reqs) => reqs
            .as_array()
            .expect("security is a list")
            .iter()
            .any(|r| r.get("bearer").is_some()),
    }
}

fn declares_error_envelope(op: &Value, status: &str) -> bool {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/ErrorBody"
}

fn with_ids(path: &str) -> String {
    let id = "01900000-0000-7000-8000-000000000000";
    path.split('/')
        .map(|seg| if seg.starts_with('{') { id } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn a_bad_path_uuid_answers_the_envelope_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let resp = app
        .http
        .get(app.url("/api/v1/projects/notauuid"))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = resp.json().await.unwrap();
    let got = (StatusCode::UNPROCESSABLE_ENTITY, body);
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_path",
        Some("project_id"),
    );
    assert_eq!(
        got.1["error"]["fields"]["project_id"]["code"],
        "invalid_uuid"
    );

    // The second of two parameters is named too, not the first nor "path".
    let project = app.create_project_id(&c).await;
    for (path, field) in [
        (format!("/api/v1/projects/{project}/plans/12345"), "plan_id"),
        (
            format!("/api/v1/projects/{project}/codes/x-y/rollback"),
            "code_id",
        ),
        ("/api/v1/projects/%E2%82%AC/bot".to_string(), "project_id"),
    ] {
        let r = app.call(Method::GET, &path, Some(&c.token), None).await;
        let r = if r.0 == StatusCode::METHOD_NOT_ALLOWED {
            app.call(Method::POST, &path, Some(&c.token), None).await
        } else {
            r
        };
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_path",
            Some(field),
        );
        assert_eq!(
            r.1["error"]["fields"].as_object().unwrap().len(),
            1,
            "{}",
            r.1
        );
    }

    // A staff route the same way.
    let s = app.staff(domain::accounts::StaffRole::Staff).await;
    let r = app
        .call(
            Method::GET,
            "/api/v1/staff/tenants/nope",
            Some(&s.token),
            None,
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_path",
        Some("tenant_id"),
    );
}

#[tokio::test]
async fn a_bad_query_parameter_answers_the_envelope_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let project = app.create_project_id(&c).await;
    for (query, field) in [
        ("limit=lots", "limit"),
        ("status=sparkling", "status"),
        ("plan_id=notauuid", "plan_id"),
        ("expires_after=yesterday", "expires_after"),
    ] {
        for route in ["codes", "codes/export.csv"] {
            let path = format!("/api/v1/projects/{project}/{route}?{query}");
            let resp = app
                .http
                .get(app.url(&path))
                .bearer_auth(&c.token)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            assert_eq!(
                resp.headers()["content-type"].to_str().unwrap(),
                "application/json",
                "{path}"
            );
            let r = (status, resp.json::<Value>().await.unwrap());
            assert_error(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                Some(field),
            );
            assert_eq!(
                r.1["error"]["fields"][field]["code"], "invalid_value",
                "{path}"
            );
        }
    }
    let s = app.staff(domain::accounts::StaffRole::Staff).await;
    let r = app
        .call(
            Method::GET,
            "/api/v1/staff/billing/usage-records?tenant_id=someone",
            Some(&s.token),
            None,
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
        Some("tenant_id"),
    );
}

#[tokio::test]
async fn the_document_declares_401_on_every_authenticated_operation() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() > 40, "only {} operations", ops.len());
    let mut public = Vec::new();
    for (method, path, op) in &ops {
        if !needs_bearer(op) {
            public.push((method.as_str(), path.as_str()));
            continue;
        }
        for status in ["401", "403"] {
            assert!(
                declares_error_envelope(op, status),
                "{method} {path} does not declare {status} with the error envelope"
            );
        }
        // And the route really answers it: no credential is 401 before anything is read.
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (s, b) = app.call(m, &with_ids(path), None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], "unauthenticated", "{method} {path}");
    }
    public.sort();
    let mut expected = PUBLIC.to_vec();
    expected.sort();
    assert_eq!(public, expected, "the public operations");
}

#[tokio::test]
async fn the_document_declares_what_parameters_and_bodies_can_answer() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for (method, path, op) in operations(&doc) {
        if path.starts_with("/tg/") {
            continue; // Telegram's webhook answers statuses only, described on the route.
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let has = |loc: &str| params.iter().any(|p| p["in"] == loc);
        let mut wanted = Vec::new();
        if has("path") {
            wanted.extend(["404", "422"]);
        }
        if has("query") {
            wanted.push("422");
        }
        if op.get("requestBody").is_some() {
            wanted.extend(["413", "422"]);
        }
        for status in wanted {
            assert!(
                declares_error_envelope(&op, status),
                "{method} {path} does not declare {status} with the error envelope"
            );
        }
    }
    let tg = &doc["paths"]["/tg/{bot_id}"]["post"];
    for status in ["200", "401", "404", "503"] {
        assert!(
            tg["responses"].get(status).is_some(),
            "/tg/{{bot_id}} {status}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["telegram_secret"]["name"],
        "x-telegram-bot-api-secret-token"
    );
}
