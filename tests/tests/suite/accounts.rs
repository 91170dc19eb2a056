//! Accounts: signup rules, login limits, sessions, API keys, staff bootstrap.
use domain::accounts::{StaffRole, create_staff};
use std::collections::HashMap;

use gatehouse_tests::{
    TestApp,
    app::{Backend, assert_error},
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

    let actions = app.audit_actions(c.tenant_id).await;
    assert_eq!(actions, vec!["api_key.created", "api_key.revoked"]);
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

/// A login from `ip` (the app trusts one proxy hop, so `X-Forwarded-For` names the client).
async fn login_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, resp.json().await.unwrap_or_default())
}

fn behind_one_proxy(extra: &[(&str, &str)]) -> HashMap<String, String> {
    [("TRUSTED_PROXY_HOPS", "1")]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A client address no other test uses (TEST-NET-3 plus a random host part).
fn unique_ip() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!("203.0.{}.{}", (n >> 8) as u8, n as u8)
}

async fn attempts_counted(app: &TestApp, key: &str) -> Option<i32> {
    use sea_orm::EntityTrait;
    entity::login_limit::Entity::find_by_id(key.to_string())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .map(|r| r.attempts)
}

#[tokio::test]
async fn parallel_wrong_logins_for_one_email_verify_at_most_five() {
    let app = TestApp::spawn_on(Backend::Postgres, behind_one_proxy(&[])).await;
    let c = app.signup().await;
    let ip = unique_ip();
    let answers = futures::future::join_all(
        (0..50).map(|_| login_from(&app, &ip, &c.email, "wrong password!")),
    )
    .await;
    let verified = answers
        .iter()
        .filter(|a| a.0 == StatusCode::UNAUTHORIZED)
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(verified <= 5, "{verified} wrong passwords were verified");
    assert_eq!(verified + refused.len(), 50, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|a| a.2["error"]["code"] == "too_many_attempts" && a.1.is_some())
    );
    // The counter (taken before each verification) holds exactly the verified attempts.
    let counted = attempts_counted(&app, &format!("email:{}", c.email)).await;
    assert_eq!(counted, Some(verified as i32));
    // Refused attempts cost the address nothing; the verified ones count against it.
    assert_eq!(
        attempts_counted(&app, &format!("ip:{ip}")).await,
        Some(verified as i32)
    );
    // The right password is refused too while the limit holds.
    let r = login_from(&app, &ip, &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS);
}

async fn address_limit_holds(app: &TestApp, client: &str, spoof: bool) {
    let max = domain::accounts::LOGIN_IP_MAX_FAILURES;
    for i in 0..max {
        // Each guess a different account, so only the address limit can stop them; when
        // `spoof`, each request also claims another address in X-Forwarded-For.
        let claimed = if spoof {
            unique_ip()
        } else {
            client.to_string()
        };
        let r = login_from(app, &claimed, &unique_email("spray"), "wrong password!").await;
        assert_eq!(r.0, StatusCode::UNAUTHORIZED, "attempt {i}: {:?}", r.2);
    }
    let claimed = if spoof {
        unique_ip()
    } else {
        client.to_string()
    };
    let r = login_from(app, &claimed, &unique_email("spray"), "wrong password!").await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.2);
    assert_eq!(r.2["error"]["code"], "too_many_attempts");
    let retry: u64 = r.1.unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
}

#[tokio::test]
async fn wrong_logins_from_one_address_are_limited_across_accounts() {
    let app = TestApp::spawn_on(Backend::Postgres, behind_one_proxy(&[])).await;
    let c = app.signup().await;
    let ip = unique_ip();
    address_limit_holds(&app, &ip, false).await;
    // Even the right password is refused from that address, before any verification...
    assert_eq!(
        login_from(&app, &ip, &c.email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and the refused attempt did not count against the account.
    assert_eq!(
        attempts_counted(&app, &format!("email:{}", c.email)).await,
        Some(0)
    );
    // Another address is unaffected, and the window ends.
    assert_eq!(
        login_from(&app, &unique_ip(), &c.email, PASSWORD).await.0,
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        login_from(&app, &ip, &c.email, PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_proxies_are_trusted() {
    // The embedded default trusts no proxy: every request below comes from 127.0.0.1,
    // whatever X-Forwarded-For claims.
    let app = TestApp::spawn_sqlite().await;
    address_limit_holds(&app, "127.0.0.1", true).await;
}

#[tokio::test]
async fn saturated_password_hashing_answers_503_and_costs_no_attempt() {
    let app = TestApp::spawn_on(
        Backend::Sqlite,
        behind_one_proxy(&[("PASSWORD_HASH_CONCURRENCY", "1")]),
    )
    .await;
    let c = app.signup().await;
    let ip = unique_ip();
    let held = app.ctx.password_work.acquire().await.unwrap();
    let r = login_from(&app, &ip, &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.2);
    assert_eq!(r.2["error"]["code"], "server_busy");
    assert_eq!(r.1.as_deref(), Some("1"));
    assert_eq!(
        attempts_counted(&app, &format!("email:{}", c.email)).await,
        Some(0)
    );
    assert_eq!(attempts_counted(&app, &format!("ip:{ip}")).await, Some(0));
    // Signup hashes under the same bound.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": unique_email("busy"), "password": PASSWORD, "workspace": "W"})),
        )
        .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "server_busy", None);
    drop(held);
    assert_eq!(
        login_from(&app, &ip, &c.email, PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ended_login_windows_are_pruned_on_write() {
    let app = TestApp::spawn_sqlite().await;
    let (a, b) = (unique_email("a"), unique_email("b"));
    // A's window starts 61 minutes ago (pruning never trusts a clock ahead of the wall's,
    // and keeps every counter younger than the longest window, the sign-ups' hour).
    app.clock.advance(chrono::Duration::minutes(-61));
    login_from(&app, "1.1.1.1", &a, "wrong password!").await;
    assert_eq!(attempts_counted(&app, &format!("email:{a}")).await, Some(1));
    app.clock.advance(chrono::Duration::minutes(61));
    login_from(&app, "1.1.1.1", &b, "wrong password!").await;
    assert_eq!(attempts_counted(&app, &format!("email:{a}")).await, None);
    assert_eq!(attempts_counted(&app, &format!("email:{b}")).await, Some(1));
}

#[tokio::test]
async fn redemption_failures_past_their_window_are_pruned_on_write() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let s = gatehouse_tests::factories::BotProject::builder(Backend::Sqlite)
        .build()
        .await;
    let failures_of = |user: i64| {
        entity::redeem_failure::Entity::find()
            .filter(entity::redeem_failure::Column::TelegramUserId.eq(user))
            .count(&s.app.ctx.db)
    };
    // The first failure 16 minutes ago (pruning never trusts a clock ahead of the wall's).
    s.app.clock.advance(chrono::Duration::minutes(-16));
    s.say(701, "/start c_NOSUCHCODE00").await;
    s.reply(701, "doesn't exist").await;
    assert_eq!(failures_of(701).await.unwrap(), 1);
    s.app.clock.advance(chrono::Duration::minutes(16));
    s.say(702, "/start c_NOSUCHCODE00").await;
    s.replies(702, "doesn't exist", 1).await;
    s.app.wait_idle().await;
    assert_eq!(failures_of(701).await.unwrap(), 0);
    assert_eq!(failures_of(702).await.unwrap(), 1);
}

/// A sign-up from `ip` (behind one trusted proxy).
async fn signup_from(app: &TestApp, ip: &str, email: &str) -> (StatusCode, serde_json::Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/auth/signup"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": PASSWORD, "workspace": "W"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").is_some();
    let mut body: serde_json::Value = resp.json().await.unwrap_or_default();
    body["had_retry_after"] = json!(retry);
    (status, body)
}

#[tokio::test]
async fn signups_are_limited_per_address_whether_or_not_the_email_exists() {
    let app = TestApp::spawn_on(
        Backend::Postgres,
        behind_one_proxy(&[("SIGNUP_PER_ADDRESS_PER_HOUR", "3")]),
    )
    .await;
    // (Every test's own sign-ups come from 127.0.0.1: this one's from addresses of its own.)
    let taken = unique_email("taken");
    assert_eq!(
        signup_from(&app, &unique_ip(), &taken).await.0,
        StatusCode::CREATED
    );
    let ip = unique_ip();
    // Three attempts from one address, one of them for a taken email: each counts.
    assert_eq!(
        signup_from(&app, &ip, &unique_email("a")).await.0,
        StatusCode::CREATED
    );
    let r = signup_from(&app, &ip, &taken).await;
    assert_eq!(r.0, StatusCode::CONFLICT, "{}", r.1);
    assert_eq!(r.1["error"]["code"], "email_taken");
    assert_eq!(
        signup_from(&app, &ip, &unique_email("b")).await.0,
        StatusCode::CREATED
    );
    // Then the address is refused, with the same answer for a new and a taken email.
    let new = signup_from(&app, &ip, &unique_email("c")).await;
    let old = signup_from(&app, &ip, &taken).await;
    for r in [&new, &old] {
        assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS, "{}", r.1);
        assert_eq!(r.1["error"]["code"], "too_many_attempts");
        assert_eq!(r.1["had_retry_after"], true);
    }
    assert_eq!(new.1, old.1, "the refusal tells nothing about the email");
    // Nothing was created by the refused attempts; another address is unaffected.
    let other = unique_email("d");
    assert_eq!(
        signup_from(&app, &unique_ip(), &other).await.0,
        StatusCode::CREATED
    );
    // The window ends.
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        signup_from(&app, &ip, &unique_email("e")).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_guesser_locks_an_account_only_for_their_own_address() {
    let app = TestApp::spawn_on(Backend::Postgres, behind_one_proxy(&[])).await;
    let c = app.signup().await;
    let (guesser, owner) = (unique_ip(), unique_ip());
    for i in 0..domain::accounts::LOGIN_MAX_FAILURES {
        let r = login_from(&app, &guesser, &c.email, "wrong password!").await;
        assert_eq!(r.0, StatusCode::UNAUTHORIZED, "attempt {i}: {:?}", r.2);
    }
    let r = login_from(&app, &guesser, &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.2);
    // The owner, from their usual address, signs in.
    let r = login_from(&app, &owner, &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::OK, "{:?}", r.2);
}

#[tokio::test]
async fn guesses_spread_over_many_addresses_meet_the_accounts_ceiling() {
    // Enough hashing at once that no guess is turned away as "busy" instead.
    let app = TestApp::spawn_on(
        Backend::Postgres,
        behind_one_proxy(&[("PASSWORD_HASH_CONCURRENCY", "256")]),
    )
    .await;
    let c = app.signup().await;
    let ceiling = domain::accounts::LOGIN_EMAIL_MAX_FAILURES as usize;
    // Twice the ceiling, each from an address of its own, all at once.
    let answers = futures::future::join_all((0..2 * ceiling).map(|_| {
        let ip = unique_ip();
        let (app, email) = (&app, &c.email);
        async move { login_from(app, &ip, email, "wrong password!").await }
    }))
    .await;
    let verified = answers
        .iter()
        .filter(|a| a.0 == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(verified <= ceiling, "{verified} guesses were verified");
    assert_eq!(verified + refused, 2 * ceiling, "{answers:?}");
    assert_eq!(
        attempts_counted(&app, &format!("email:{}", c.email)).await,
        Some(verified as i32)
    );
    // At the ceiling even the right password from a new address waits for the window.
    assert_eq!(verified, ceiling);
    let r = login_from(&app, &unique_ip(), &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.2);
    app.clock.advance(chrono::Duration::minutes(16));
    let r = login_from(&app, &unique_ip(), &c.email, PASSWORD).await;
    assert_eq!(r.0, StatusCode::OK, "{:?}", r.2);
}
