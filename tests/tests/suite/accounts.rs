//! Accounts: signup rules, login limits, sessions, API keys, staff bootstrap.
use domain::accounts::{StaffRole, create_staff};
use gatehouse_tests::{
    TestApp,
    app::assert_error,
    factories::{PASSWORD, unique_email},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn signup_validates_every_field_and_refuses_a_taken_email() {
    let app = TestApp::spawn().await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": "nope", "password": "short", "workspace": ""})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("email"),
    );
    assert_eq!(r.1["error"]["fields"]["password"]["code"], "too_short");
    assert_eq!(r.1["error"]["fields"]["workspace"]["code"], "required");

    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": "a@b.io"})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_json",
        Some("password"),
    );

    let c = app.signup().await;
    let r = app
        .call(Method::POST, "/api/v1/auth/signup", None,
            Some(json!({"email": c.email.to_uppercase(), "password": PASSWORD, "workspace": "Again"})))
        .await;
    assert_error(&r, StatusCode::CONFLICT, "email_taken", Some("email"));
}

#[tokio::test]
async fn login_refuses_wrong_passwords_and_limits_attempts() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    for _ in 0..domain::accounts::LOGIN_MAX_FAILURES {
        let r = app
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": c.email, "password": "wrong password!"})),
            )
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    }
    // Even the right password is refused while the limit holds.
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": c.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");

    // After the window the right password works again.
    app.clock.advance(chrono::Duration::minutes(16));
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": c.email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);

    // An unknown account gets the same answer as a wrong password.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": unique_email("ghost"), "password": PASSWORD})),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
}

#[tokio::test]
async fn sessions_expire_and_garbage_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&c.token), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &app.call(Method::GET, "/api/v1/me", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    assert_error(
        &app.call(Method::GET, "/api/v1/me", Some("not-a-jwt"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    // A token signed with another secret is refused.
    let mut forged = c.token.clone();
    forged.pop();
    forged.push(if c.token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&forged), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(chrono::Duration::hours(
        domain::accounts::SESSION_TTL_HOURS + 1,
    ));
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&c.token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_and_revocable() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (s, created) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "CI"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("gh_") && secret.len() > 40);

    // The key works as a bearer credential for the same tenant.
    let (s, me) = app
        .call(Method::GET, "/api/v1/me", Some(&secret), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["tenant"]["id"], c.tenant_id.to_string());
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(&secret),
            Some(json!({"name": "Via key"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Listing never shows the secret, and the database holds only a hash.
    let (_, list) = app
        .as_creator(&c, Method::GET, "/api/v1/api-keys", None)
        .await;
    assert!(!list.to_string().contains(&secret));
    use sea_orm::EntityTrait;
    let stored = entity::api_key::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|k| !k.key_hash.contains(&secret[3..]) && k.key_hash.len() == 64)
    );

    let id = created["id"].as_str().unwrap();
    let (s, revoked) = app
        .as_creator(&c, Method::DELETE, &format!("/api/v1/api-keys/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", Some(&secret), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let actions = audit_actions(&app, c.tenant_id).await;
    assert_eq!(actions, vec!["api_key.created", "api_key.revoked"]);
}

pub async fn audit_actions(app: &TestApp, tenant: uuid::Uuid) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    entity::audit_entry::Entity::find()
        .filter(entity::audit_entry::Column::TenantId.eq(tenant))
        .order_by_asc(entity::audit_entry::Column::At)
        .order_by_asc(entity::audit_entry::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn staff_exist_only_through_the_command_and_cannot_use_creator_routes() {
    let app = TestApp::spawn().await;
    // Signup never makes staff, whatever the body says.
    let email = unique_email("sneaky");
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "workspace": "X", "role": "staff"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, login) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    let (_, me) = app
        .call(Method::GET, "/api/v1/me", login["token"].as_str(), None)
        .await;
    assert_eq!(me["role"], "owner");

    let staff_email = unique_email("staff");
    create_staff(&app.ctx, &staff_email, PASSWORD, StaffRole::Staff)
        .await
        .unwrap();
    let dup = create_staff(&app.ctx, &staff_email, PASSWORD, StaffRole::Staff)
        .await
        .unwrap_err();
    assert_eq!(dup.code, "email_taken");
    let (s, login) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": staff_email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = app
        .call(
            Method::GET,
            "/api/v1/projects",
            login["token"].as_str(),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "creator_only", None);
}
