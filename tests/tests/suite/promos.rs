//! Promo codes through the API: made (chosen or generated, normalised like access codes),
//! every bad field named, a taken code refused (also when two creates race), listed with
//! uses and money, deactivated, each change audited — on PostgreSQL and SQLite.
use gatehouse_tests::{Creator, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    c: &Creator,
    m: Method,
    pid: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.as_creator(
        c,
        m,
        &format!("/api/v1/projects/{pid}/promo-codes{path}"),
        body,
    )
    .await
}

async fn made_listed_deactivated(app: TestApp) {
    let c = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&c).await;
    let (s, p) = call(
        &app,
        &c,
        Method::POST,
        &pid,
        "",
        Some(
            json!({"code": "spring-25", "percent_off": 25, "plan_ids": [plan_id], "max_uses": 10,
            "first_payment_only": true, "new_customers_only": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["code"], "SPRING25");
    assert_eq!(p["percent_off"], 25);
    assert_eq!(p["plan_ids"], json!([plan_id]));
    assert_eq!(p["max_uses"], 10);
    assert_eq!(p["once_per_user"], true);
    assert_eq!(p["first_payment_only"], true);
    assert_eq!(p["new_customers_only"], true);
    assert_eq!(p["active"], true);

    // The same code as a person might type it is the same code.
    let (s, b) = call(
        &app,
        &c,
        Method::POST,
        &pid,
        "",
        Some(json!({"code": "Spr1ng 25", "stars_off": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "promo_code_taken");

    // Generated when left out.
    let (s, g) = call(
        &app,
        &c,
        Method::POST,
        &pid,
        "",
        Some(json!({"stars_off": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["code"].as_str().unwrap().len(), 8);

    let (s, list) = call(&app, &c, Method::GET, &pid, "", None).await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for p in list {
        assert_eq!(p["uses"], 0);
        assert_eq!(p["revenue_stars"], 0);
        assert_eq!(p["discount_stars"], 0);
        assert_eq!(p["list_stars"], 0);
    }

    let id = p["id"].as_str().unwrap();
    let (s, d) = call(
        &app,
        &c,
        Method::POST,
        &pid,
        &format!("/{id}/deactivate"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["active"], false);
    // Twice is harmless and audited once.
    let (s, _) = call(
        &app,
        &c,
        Method::POST,
        &pid,
        &format!("/{id}/deactivate"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let actions = app.audit_actions(c.tenant_id).await;
    assert_eq!(actions.iter().filter(|a| *a == "promo.created").count(), 2);
    assert_eq!(
        actions.iter().filter(|a| *a == "promo.deactivated").count(),
        1
    );
    let (_, list) = call(&app, &c, Method::GET, &pid, "", None).await;
    let d = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap();
    assert_eq!(d["active"], false);

    // Another tenant sees nothing of it.
    let other = app.signup().await;
    let (s, _) = call(
        &app,
        &other,
        Method::POST,
        &pid,
        &format!("/{id}/deactivate"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_promo_code_is_made_listed_and_deactivated() {
    made_listed_deactivated(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_promo_code_is_made_listed_and_deactivated_on_sqlite() {
    made_listed_deactivated(TestApp::spawn_sqlite().await).await;
}

#[tokio::test]
async fn every_bad_field_of_a_promo_code_is_named() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, _) = app.project_with_plan(&c).await;
    let cases = [
        (
            json!({"code": "ab", "percent_off": 10}),
            "code",
            "invalid_code",
        ),
        (
            json!({"code": "SPRING!25", "percent_off": 10}),
            "code",
            "invalid_code",
        ),
        (
            json!({"code": "SUMMER", "percent_off": 10}),
            "code",
            "invalid_code",
        ),
        (json!({"percent_off": 0}), "percent_off", "out_of_range"),
        (json!({"percent_off": 100}), "percent_off", "out_of_range"),
        (
            json!({"percent_off": 10, "stars_off": 5}),
            "percent_off",
            "one_discount",
        ),
        (json!({}), "percent_off", "one_discount"),
        (json!({"stars_off": 0}), "stars_off", "out_of_range"),
        (
            json!({"percent_off": 10, "max_uses": 0}),
            "max_uses",
            "out_of_range",
        ),
        (
            json!({"percent_off": 10, "plan_ids": [uuid::Uuid::now_v7()]}),
            "plan_ids",
            "unknown_plan",
        ),
        (
            json!({"percent_off": 10, "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}),
            "ends_at",
            "before_start",
        ),
        (
            json!({"percent_off": 10, "ends_at": "2001-01-01T00:00:00Z"}),
            "ends_at",
            "in_the_past",
        ),
    ];
    for (body, field, code) in cases {
        let (s, b) = call(&app, &c, Method::POST, &pid, "", Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {b}");
        assert_eq!(b["error"]["fields"][field]["code"], code, "{body} → {b}");
    }
    let (_, list) = call(&app, &c, Method::GET, &pid, "", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn two_creates_of_one_code_at_once_make_one() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, _) = app.project_with_plan(&c).await;
    let tries = (0..8).map(|_| {
        call(
            &app,
            &c,
            Method::POST,
            &pid,
            "",
            Some(json!({"code": "RACE2026", "percent_off": 10})),
        )
    });
    let got = futures::future::join_all(tries).await;
    let made = got
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let taken = got
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "promo_code_taken")
        .count();
    assert_eq!((made, taken), (1, 7), "{got:?}");
}
