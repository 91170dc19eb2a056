//! Bots: connecting and disconnecting, the webhook endpoint, conversations, owner linking,
//! channel registration, polling, and the outgoing sender, all against the fake Bot API.
use std::time::Duration;

use domain::accounts::StaffRole;
use gatehouse_tests::{
    Backend, TestApp,
    app::assert_error,
    factories::{BotProject, monthly_plan},
    fake_telegram::Fault,
    telegram::{PUBLIC_URL, updates},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn connecting_validates_the_token_encrypts_it_and_sets_the_webhook() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let p = app.create_project(&c).await;
    let pid = p["id"].as_str().unwrap();
    let path = format!("/api/v1/projects/{pid}/bot");

    // A malformed token never reaches Telegram; a well-formed unknown one is refused by getMe.
    let r = app
        .as_creator(
            &c,
            Method::PUT,
            &path,
            Some(json!({"token": "not a token"})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_bot_token",
        Some("token"),
    );
    let revoked = tg.add_bot();
    tg.revoke(&revoked.token);
    let r = app
        .as_creator(
            &c,
            Method::PUT,
            &path,
            Some(json!({"token": revoked.token})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_bot_token",
        Some("token"),
    );
    assert_eq!(tg.calls_to(&revoked.token, "getMe").len(), 1);
    assert!(tg.calls_to(&revoked.token, "setWebhook").is_empty());
    let r = app.as_creator(&c, Method::GET, &path, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let stored = entity::bot::Entity::find()
        .filter(entity::bot::Column::ProjectId.eq(pid.parse::<Uuid>().unwrap()))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert!(stored.is_empty(), "a refused token stores nothing");

    let fb = tg.add_bot();
    let (s, b) = app
        .as_creator(&c, Method::PUT, &path, Some(json!({"token": fb.token})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        !b.to_string().contains(&fb.token),
        "the token is never shown again"
    );
    let id = b["id"].as_str().unwrap();
    assert_eq!(b["mode"], "webhook");
    assert_eq!(b["username"], fb.username);
    assert_eq!(b["telegram_bot_id"], fb.id);
    assert_eq!(b["webhook_url"], format!("{PUBLIC_URL}/tg/{id}"));

    let hook = tg.webhook(&fb.token).expect("setWebhook was called");
    assert_eq!(hook["url"], format!("{PUBLIC_URL}/tg/{id}"));
    let secret = hook["secret_token"].as_str().unwrap();
    assert!(
        secret.len() >= 32
            && secret
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    );
    let allowed: Vec<&str> = hook["allowed_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for u in [
        "message",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
    ] {
        assert!(allowed.contains(&u), "{u} missing from {allowed:?}");
    }

    // At rest: encrypted, not the token, and it decrypts back under the app's key.
    let row = entity::bot::Entity::find_by_id(id.parse::<Uuid>().unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.token_encrypted.contains(&fb.token));
    assert!(
        !row.token_encrypted
            .contains(&fb.token[fb.token.find(':').unwrap() + 1..])
    );
    assert_eq!(
        domain::bots::crypto::decrypt(&app.ctx.keys.at_rest, row.id, &row.token_encrypted).unwrap(),
        fb.token
    );
    assert_eq!(row.webhook_secret, secret);

    // Reconnecting (token rotation) keeps the bot's id, so its webhook URL stays put.
    let (s, again) = app
        .as_creator(&c, Method::PUT, &path, Some(json!({"token": fb.token})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["id"], id);
    let audit = entity::audit_entry::Entity::find()
        .filter(entity::audit_entry::Column::TenantId.eq(c.tenant_id))
        .filter(entity::audit_entry::Column::Action.eq("bot.connected"))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
}

#[tokio::test]
async fn a_bot_connected_to_another_project_is_refused() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let (c1, c2) = (app.signup().await, app.signup().await);
    let p1 = app.create_project(&c1).await;
    let p2 = app.create_project(&c2).await;
    let bot = app.connect_bot(&c1, p1["id"].as_str().unwrap(), &tg).await;
    let hooks_before = tg.calls_to(&bot.token, "setWebhook").len();
    for (c, p) in [(&c2, &p2), (&c1, &app.create_project(&c1).await)] {
        let r = app
            .as_creator(
                c,
                Method::PUT,
                &format!("/api/v1/projects/{}/bot", p["id"].as_str().unwrap()),
                Some(json!({"token": bot.token})),
            )
            .await;
        assert_error(
            &r,
            StatusCode::CONFLICT,
            "bot_already_connected",
            Some("token"),
        );
    }
    // The first project's webhook was not touched by the refused attempts.
    assert_eq!(tg.calls_to(&bot.token, "setWebhook").len(), hooks_before);
    assert_eq!(
        tg.webhook(&bot.token).unwrap()["secret_token"].as_str(),
        bot.secret.as_deref()
    );
}

#[tokio::test]
async fn bot_routes_are_tenant_scoped_and_refuse_suspended_tenants() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let (owner, other) = (app.signup().await, app.signup().await);
    let p = app.create_project(&owner).await;
    let pid = p["id"].as_str().unwrap();
    let bot = app.connect_bot(&owner, pid, &tg).await;
    let fresh = tg.add_bot();
    for (m, path, body) in [
        (Method::GET, format!("/api/v1/projects/{pid}/bot"), None),
        (
            Method::PUT,
            format!("/api/v1/projects/{pid}/bot"),
            Some(json!({"token": fresh.token})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{pid}/bot"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/owner-link"),
            None,
        ),
    ] {
        let r = app.as_creator(&other, m, &path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    }
    assert!(tg.calls_to(&fresh.token, "getMe").is_empty());

    let staff = app.staff(StaffRole::Staff).await;
    domain::staff::suspend(&app.ctx, &staff.ctx, owner.tenant_id, "unpaid")
        .await
        .unwrap();
    for (m, path, body) in [
        (
            Method::PUT,
            format!("/api/v1/projects/{pid}/bot"),
            Some(json!({"token": fresh.token})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{pid}/bot"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/owner-link"),
            None,
        ),
    ] {
        let r = app.as_creator(&owner, m, &path, body).await;
        assert_error(&r, StatusCode::FORBIDDEN, "tenant_suspended", None);
    }
    // Reads still work, and the bot is still connected.
    let (s, b) = app
        .as_creator(
            &owner,
            Method::GET,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["id"], bot.id.to_string());
    assert!(tg.calls_to(&bot.token, "deleteWebhook").is_empty());
}

#[tokio::test]
async fn disconnect_removes_the_webhook_forgets_the_bot_and_is_audited() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    // Warm the router's cache so disconnect must evict it.
    assert_eq!(
        app.post_update(&bot, &updates::message(1, 42, "hi")).await,
        StatusCode::OK
    );

    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(tg.calls_to(&bot.token, "deleteWebhook").len(), 1);
    assert!(tg.webhook(&bot.token).is_none());
    let r = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(
        app.post_update(&bot, &updates::message(2, 42, "/start"))
            .await,
        StatusCode::NOT_FOUND
    );
    let r = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let audit = entity::audit_entry::Entity::find()
        .filter(entity::audit_entry::Column::TenantId.eq(c.tenant_id))
        .filter(entity::audit_entry::Column::Action.eq("bot.disconnected"))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .expect("audit entry");
    assert_eq!(
        audit.target_id.as_deref(),
        Some(bot.id.to_string().as_str())
    );

    // The same Telegram bot can now be connected elsewhere.
    let other = app.create_project(&c).await;
    let fb = gatehouse_tests::fake_telegram::FakeBot {
        token: bot.token.clone(),
        id: bot.telegram_id,
        username: bot.username.clone(),
    };
    app.connect_fake_bot(&c, other["id"].as_str().unwrap(), &tg, &fb)
        .await;
}

#[tokio::test]
async fn webhook_checks_the_secret_before_anything_else() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let start = updates::message(10, 42, "/start").to_string();

    for secret in [None, Some("wrong"), Some("")] {
        assert_eq!(
            app.post_update_with(bot.id, secret, start.clone()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Even a malformed body is refused for a wrong secret (nothing is parsed first).
    assert_eq!(
        app.post_update_with(bot.id, Some("wrong"), "{{{".into())
            .await,
        StatusCode::UNAUTHORIZED
    );
    // Another bot's secret does not open this bot.
    let other = app
        .connect_bot(
            &c,
            app.create_project(&c).await["id"].as_str().unwrap(),
            &tg,
        )
        .await;
    assert_eq!(
        app.post_update_with(bot.id, other.secret.as_deref(), start.clone())
            .await,
        StatusCode::UNAUTHORIZED
    );
    app.wait_idle().await;
    assert!(tg.calls_to(&bot.token, "sendMessage").is_empty());
    // The rejected update id was not remembered: the genuine delivery is processed.
    assert_eq!(
        app.post_update_with(bot.id, bot.secret.as_deref(), start)
            .await,
        StatusCode::OK
    );
    tg.wait_for(&bot.token, "sendMessage", 1, WAIT).await;

    // Unknown bots are 404, whatever the secret.
    assert_eq!(
        app.post_update_with(Uuid::now_v7(), bot.secret.as_deref(), "{}".into())
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.http
            .post(app.url("/tg/not-a-uuid"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn repeated_updates_are_processed_once_on(backend: Backend) {
    let (app, tg) = TestApp::spawn_with_telegram(backend, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let start = updates::message(77, 42, "/start");
    for _ in 0..3 {
        assert_eq!(app.post_update(&bot, &start).await, StatusCode::OK);
    }
    tg.wait_for(&bot.token, "sendMessage", 1, WAIT).await;
    app.wait_idle().await;
    assert_eq!(tg.calls_to(&bot.token, "sendMessage").len(), 1);
    // A new id is processed; ids are per bot, so another bot's 77 is new too.
    assert_eq!(
        app.post_update(&bot, &updates::message(78, 43, "/start"))
            .await,
        StatusCode::OK
    );
    let other = app
        .connect_bot(
            &c,
            app.create_project(&c).await["id"].as_str().unwrap(),
            &tg,
        )
        .await;
    assert_eq!(app.post_update(&other, &start).await, StatusCode::OK);
    tg.wait_for(&bot.token, "sendMessage", 2, WAIT).await;
    tg.wait_for(&other.token, "sendMessage", 1, WAIT).await;
}

#[tokio::test]
async fn repeated_update_ids_are_processed_once_with_redis() {
    repeated_updates_are_processed_once_on(Backend::Postgres).await;
}

#[tokio::test]
async fn repeated_update_ids_are_processed_once_in_single_node_mode() {
    repeated_updates_are_processed_once_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn malformed_updates_are_acknowledged_and_dropped() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    for body in [
        "not json",
        "{}",
        r#"{"update_id":"x"}"#,
        r#"{"update_id":5,"message":{"text":"/start"}}"#,
        "[]",
    ] {
        assert_eq!(
            app.post_update_with(bot.id, bot.secret.as_deref(), body.into())
                .await,
            StatusCode::OK,
            "{body}"
        );
    }
    // Operators see what happened to updates.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("telegram_updates_total{outcome=\"malformed\"}"),
        "{metrics}"
    );
    // Update kinds the bot does not act on are acknowledged quietly.
    let edited = json!({"update_id": 6, "edited_message": {"message_id": 1, "date": 1, "chat": {"id": 42, "type": "private"}, "text": "x"}});
    assert_eq!(app.post_update(&bot, &edited).await, StatusCode::OK);
    app.wait_idle().await;
    let sent: Vec<_> = tg
        .calls()
        .into_iter()
        .filter(|c| c.token == bot.token && c.method != "getme" && c.method != "setwebhook")
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
}

#[tokio::test]
async fn start_shows_the_welcome_public_plans_and_the_redeem_button() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (s, p) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "Jazz Club", "welcome_message": "Hello from the Jazz Club!"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = p["id"].as_str().unwrap();
    app.create_plan(&c, pid, monthly_plan()).await;
    app.create_plan(
        &c,
        pid,
        json!({"name": "Forever", "price_minor": 0, "currency": "EUR", "lifetime": true}),
    )
    .await;
    app.create_plan(
        &c,
        pid,
        json!({"name": "Secret Gift", "price_minor": 0, "currency": "USD", "duration_days": 7, "codes_only": true}),
    )
    .await;
    let retired = app
        .create_plan(
            &c,
            pid,
            json!({"name": "Retired", "price_minor": 100, "currency": "USD", "duration_days": 7}),
        )
        .await;
    let (s, _) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!(
                "/api/v1/projects/{pid}/plans/{}",
                retired["id"].as_str().unwrap()
            ),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let bot = app.connect_bot(&c, pid, &tg).await;

    assert_eq!(
        app.post_update(&bot, &updates::message(1, 4242, "/start"))
            .await,
        StatusCode::OK
    );
    let msg = tg
        .wait_for_text(&bot.token, 4242, "Hello from the Jazz Club!")
        .await;
    let text = msg.params["text"].as_str().unwrap();
    assert!(text.contains("Monthly — 9.99 USD / 30 days"), "{text}");
    assert!(text.contains("Forever — free / lifetime"), "{text}");
    assert!(
        !text.contains("Secret Gift") && !text.contains("Retired"),
        "{text}"
    );
    let button = &msg.params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "Redeem a code");
    assert_eq!(button["callback_data"], "redeem");

    // With access codes switched off there is no button.
    let (s, _) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"access_codes_enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.post_update(&bot, &updates::message(2, 4343, "/start"))
            .await,
        StatusCode::OK
    );
    let msg = tg
        .wait_for_text(&bot.token, 4343, "Hello from the Jazz Club!")
        .await;
    assert!(
        msg.params.get("reply_markup").is_none_or(|m| m.is_null()),
        "{}",
        msg.params
    );
}

#[tokio::test]
async fn the_redeem_button_asks_for_a_code_and_keeps_the_state_in_the_database() {
    the_redeem_button_asks_for_a_code_and_keeps_the_state_in_the_database_on(Backend::Postgres)
        .await;
}

#[tokio::test]
async fn the_redeem_button_asks_for_a_code_and_keeps_the_state_in_the_database_on_sqlite() {
    the_redeem_button_asks_for_a_code_and_keeps_the_state_in_the_database_on(Backend::Sqlite).await;
}

async fn the_redeem_button_asks_for_a_code_and_keeps_the_state_in_the_database_on(
    backend: Backend,
) {
    let (app, tg) = TestApp::spawn_with_telegram(backend, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    assert_eq!(
        app.post_update(&bot, &updates::callback(3, 777, "redeem", &bot))
            .await,
        StatusCode::OK
    );
    let answered = tg
        .wait_for(&bot.token, "answerCallbackQuery", 1, WAIT)
        .await;
    assert_eq!(answered[0].params["callback_query_id"], "cb3");
    tg.wait_for_text(&bot.token, 777, "Send me your access code")
        .await;
    // The state is a database row, so any process can pick the conversation up.
    let row = entity::bot_conversation::Entity::find_by_id((bot.id, 777i64))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .expect("conversation row");
    assert_eq!(row.state, "awaiting_code");
    assert_eq!(
        domain::bots::conversation(&app.ctx, bot.id, 777)
            .await
            .unwrap(),
        Some(domain::bots::Conversation::AwaitingCode)
    );
    // It expires, and /start starts over.
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        domain::bots::conversation(&app.ctx, bot.id, 777)
            .await
            .unwrap(),
        None
    );
    app.clock.advance(chrono::Duration::minutes(-61));
    assert_eq!(
        app.post_update(&bot, &updates::message(4, 777, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for(&bot.token, "sendMessage", 2, WAIT).await;
    assert_eq!(
        domain::bots::conversation(&app.ctx, bot.id, 777)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_suspended_tenants_bot_says_the_service_is_paused() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let staff = app.staff(StaffRole::Staff).await;
    domain::staff::suspend(&app.ctx, &staff.ctx, c.tenant_id, "abuse")
        .await
        .unwrap();
    assert_eq!(
        app.post_update(&bot, &updates::message(1, 42, "/start"))
            .await,
        StatusCode::OK
    );
    let msg = tg.wait_for_text(&bot.token, 42, "paused").await;
    assert!(msg.params.get("reply_markup").is_none_or(|m| m.is_null()));
    assert_eq!(
        app.post_update(&bot, &updates::callback(2, 42, "redeem", &bot))
            .await,
        StatusCode::OK
    );
    let answered = tg
        .wait_for(&bot.token, "answerCallbackQuery", 1, WAIT)
        .await;
    assert!(
        answered[0].params["text"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    assert_eq!(
        domain::bots::conversation(&app.ctx, bot.id, 42)
            .await
            .unwrap(),
        None
    );
    // Lifting the suspension brings the bot back.
    domain::staff::unsuspend(&app.ctx, &staff.ctx, c.tenant_id, "resolved")
        .await
        .unwrap();
    assert_eq!(
        app.post_update(&bot, &updates::message(3, 42, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 42, "Welcome").await;
}

#[tokio::test]
async fn owner_links_bind_a_telegram_account_once() {
    owner_links_bind_a_telegram_account_once_on(Backend::Postgres).await;
}

#[tokio::test]
async fn owner_links_bind_a_telegram_account_once_on_sqlite() {
    owner_links_bind_a_telegram_account_once_on(Backend::Sqlite).await;
}

async fn owner_links_bind_a_telegram_account_once_on(backend: Backend) {
    let (app, tg) = TestApp::spawn_with_telegram(backend, true).await;
    let (c, other) = (app.signup().await, app.signup().await);
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let link_path = format!("/api/v1/projects/{pid}/owner-link");
    let r = app.as_creator(&c, Method::POST, &link_path, None).await;
    assert_error(&r, StatusCode::CONFLICT, "bot_not_connected", None);
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let r = app.as_creator(&other, Method::POST, &link_path, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);

    let (s, b) = app.as_creator(&c, Method::POST, &link_path, None).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let link = b["link"].as_str().unwrap();
    let prefix = format!("https://t.me/{}?start=o_", bot.username);
    assert!(link.starts_with(&prefix), "{link}");
    let payload = link
        .strip_prefix(&format!("https://t.me/{}?start=", bot.username))
        .unwrap();
    assert!(
        payload.len() <= 64
            && payload
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    );
    // Only a hash is stored.
    let stored = entity::owner_link::Entity::find()
        .filter(entity::owner_link::Column::ProjectId.eq(pid.parse::<Uuid>().unwrap()))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.token_hash.contains(&payload[2..]));

    // Not an owner yet.
    assert_eq!(
        app.post_update(&bot, &updates::message(1, 1001, "/codes"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 1001, "for the project's owners")
        .await;

    assert_eq!(
        app.post_update(
            &bot,
            &updates::message(2, 1001, &format!("/start {payload}"))
        )
        .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 1001, "now an owner of “Inner Circle”")
        .await;
    assert_eq!(
        domain::bots::owner_chat_ids(&app.ctx, pid.parse().unwrap())
            .await
            .unwrap(),
        vec![1001]
    );
    // One use: someone else opening the same link gets nothing.
    assert_eq!(
        app.post_update(
            &bot,
            &updates::message(3, 2002, &format!("/start {payload}"))
        )
        .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 2002, "unknown, expired or already used")
        .await;
    assert_eq!(
        app.post_update(&bot, &updates::message(4, 2002, "/codes"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 2002, "for the project's owners")
        .await;
    // The linked owner gets owner commands.
    assert_eq!(
        app.post_update(&bot, &updates::message(5, 1001, "/codes"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 1001, "Unredeemed: 0").await;

    // An expired link does nothing.
    let (_, b) = app.as_creator(&c, Method::POST, &link_path, None).await;
    let late = b["link"]
        .as_str()
        .unwrap()
        .split("start=")
        .nth(1)
        .unwrap()
        .to_string();
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        app.post_update(&bot, &updates::message(6, 3003, &format!("/start {late}")))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 3003, "unknown, expired or already used")
        .await;
    // A link of another project's bot does not work here either.
    let pid2 = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot2 = app.connect_bot(&c, &pid2, &tg).await;
    let (_, b) = app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid2}/owner-link"),
            None,
        )
        .await;
    let foreign = b["link"]
        .as_str()
        .unwrap()
        .split("start=")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        app.post_update(
            &bot,
            &updates::message(7, 4004, &format!("/start {foreign}"))
        )
        .await,
        StatusCode::OK
    );
    tg.wait_for_text(&bot.token, 4004, "unknown, expired or already used")
        .await;
    assert!(tg.calls_to(&bot2.token, "sendMessage").is_empty());
}

#[tokio::test]
async fn owners_see_code_counts_by_status() {
    let s = BotProject::builder(Backend::Postgres)
        .plan(monthly_plan())
        .build()
        .await;
    let (app, c, pid) = (&s.app, &s.c, &s.pid);
    let now = app.ctx.now();
    let day = chrono::Duration::days(1);
    for (i, (count, expires)) in [
        (0, None),
        (0, Some(now + day)),
        (0, Some(now + day)),
        (1, None),
        (1, Some(now - day)),
        (0, Some(now - day)),
    ]
    .into_iter()
    .enumerate()
    {
        entity::access_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id),
            project_id: Set(pid.parse().unwrap()),
            plan_id: Set(s.plan.parse().unwrap()),
            batch_id: Set(None),
            code: Set(format!("TESTCODE000{i}")),
            max_activations: Set(1),
            activation_count: Set(count),
            expires_at: Set(expires),
            cycle_start: Set(now),
            created_at: Set(now),
        }
        .insert(&app.ctx.db)
        .await
        .unwrap();
    }
    s.link_owner(99).await;
    s.say_as_update(2, 99, "/codes").await;
    let text = s.reply(99, "Unredeemed").await;
    assert!(
        text.contains("Unredeemed: 3")
            && text.contains("Redeemed: 2")
            && text.contains("Expired: 1"),
        "{text}"
    );
}

async fn wait_channels(
    app: &TestApp,
    c: &gatehouse_tests::Creator,
    pid: &str,
    want: Box<dyn Fn(&serde_json::Value) -> bool>,
) -> serde_json::Value {
    for _ in 0..100 {
        let list = app
            .as_creator(
                c,
                Method::GET,
                &format!("/api/v1/projects/{pid}/channels"),
                None,
            )
            .await
            .1;
        if want(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("channels never reached the expected state");
}

#[tokio::test]
async fn the_bot_made_admin_registers_a_channel_and_removal_marks_it_unavailable() {
    the_bot_made_admin_registers_a_channel_and_removal_marks_it_unavailable_on(Backend::Postgres)
        .await;
}

#[tokio::test]
async fn the_bot_made_admin_registers_a_channel_and_removal_marks_it_unavailable_on_sqlite() {
    the_bot_made_admin_registers_a_channel_and_removal_marks_it_unavailable_on(Backend::Sqlite)
        .await;
}

async fn the_bot_made_admin_registers_a_channel_and_removal_marks_it_unavailable_on(
    backend: Backend,
) {
    let (app, tg) = TestApp::spawn_with_telegram(backend, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let promote = updates::my_chat_member(
        1,
        &bot,
        -1001234567890,
        "channel",
        "VIP Lounge",
        "left",
        "administrator",
    );
    assert_eq!(app.post_update(&bot, &promote).await, StatusCode::OK);
    let list = wait_channels(
        &app,
        &c,
        &pid,
        Box::new(|l| l.as_array().is_some_and(|a| a.len() == 1)),
    )
    .await;
    assert_eq!(list[0]["telegram_chat_id"], -1001234567890i64);
    assert_eq!(list[0]["title"], "VIP Lounge");
    assert_eq!(list[0]["kind"], "channel");
    assert_eq!(list[0]["available"], true);

    let removed = updates::my_chat_member(
        2,
        &bot,
        -1001234567890,
        "channel",
        "VIP Lounge",
        "administrator",
        "left",
    );
    assert_eq!(app.post_update(&bot, &removed).await, StatusCode::OK);
    wait_channels(&app, &c, &pid, Box::new(|l| l[0]["available"] == false)).await;

    let back = updates::my_chat_member(
        3,
        &bot,
        -1001234567890,
        "channel",
        "VIP Lounge 2",
        "left",
        "administrator",
    );
    assert_eq!(app.post_update(&bot, &back).await, StatusCode::OK);
    let list = wait_channels(&app, &c, &pid, Box::new(|l| l[0]["available"] == true)).await;
    assert_eq!(list[0]["title"], "VIP Lounge 2");

    // A group too; a plain membership (not admin) registers nothing.
    let group = updates::my_chat_member(
        4,
        &bot,
        -1009876,
        "supergroup",
        "Chat",
        "left",
        "administrator",
    );
    app.post_update(&bot, &group).await;
    wait_channels(
        &app,
        &c,
        &pid,
        Box::new(|l| l.as_array().is_some_and(|a| a.len() == 2)),
    )
    .await;
    let member = updates::my_chat_member(5, &bot, -1005555, "group", "Plain", "left", "member");
    app.post_update(&bot, &member).await;
    app.wait_idle().await;
    let list = wait_channels(&app, &c, &pid, Box::new(|_| true)).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn without_a_public_url_bots_are_served_by_long_polling() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, false).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let (_, b) = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(b["mode"], "polling");
    assert!(b["webhook_url"].is_null());
    assert!(tg.calls_to(&bot.token, "setWebhook").is_empty());
    assert_eq!(tg.calls_to(&bot.token, "deleteWebhook").len(), 1);

    // The poller backs off over errors (here Telegram's 409 for a competing poller; a 5xx
    // would add teloxide's own 10 s wait) and then delivers what was queued.
    tg.fail_next(Some("getUpdates"), 2, Fault::Status(409));
    app.start_pollers(&c);
    tg.push_update(&bot.token, updates::message(500, 42, "/start"));
    tg.wait_for_text(&bot.token, 42, "Welcome").await;
    let polls = tg.calls_to(&bot.token, "getUpdates");
    assert!(polls.len() >= 3, "two failures then a success");
    assert_eq!(
        (polls[0].status, polls[1].status, polls[2].status),
        (409, 409, 200)
    );
    let (first_wait, second_wait) = (
        polls[1].at.duration_since(polls[0].at),
        polls[2].at.duration_since(polls[1].at),
    );
    assert!(first_wait >= Duration::from_millis(900), "backed off");
    assert!(
        second_wait >= Duration::from_millis(1800),
        "backed off longer"
    );
    // The next poll confirms the update (offset past it), so it is not delivered twice.
    tg.push_update(&bot.token, updates::message(501, 43, "/start"));
    tg.wait_for_text(&bot.token, 43, "Welcome").await;
    let later = tg
        .wait_for(&bot.token, "getUpdates", polls.len() + 2, WAIT)
        .await;
    assert!(later.iter().any(|c| c.params["offset"] == 502));
    assert_eq!(tg.calls_to(&bot.token, "sendMessage").len(), 2);

    // Disconnecting stops the poller.
    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Timing, not idleness: a poller runs outside jobs and update tasks, and a long poll at
    // the fake lasts 1 s, so a poll under way when we disconnected ends within 1.5 s, and a
    // poller still alive would poll again within the next 1.5 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = tg.calls_to(&bot.token, "getUpdates").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        tg.calls_to(&bot.token, "getUpdates").len(),
        after,
        "the poller stopped"
    );
}

#[tokio::test]
async fn a_thousand_bots_each_answer_through_their_own_token() {
    use futures::StreamExt;
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let bots: Vec<_> = futures::stream::iter(0..1000)
        .map(|_| async {
            let pid = app.create_project(&c).await["id"]
                .as_str()
                .unwrap()
                .to_string();
            app.connect_bot(&c, &pid, &tg).await
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(bots.len(), 1000);
    let app = &app;
    let statuses: Vec<StatusCode> = futures::stream::iter(bots.iter().enumerate())
        .map(|(i, b)| async move {
            app.post_update(b, &updates::message(1, 100_000 + i as i64, "/start"))
                .await
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent = tg
            .calls()
            .into_iter()
            .filter(|c| c.method == "sendmessage")
            .count();
        if sent >= 1000 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, b) in bots.iter().enumerate() {
        let sent = tg.calls_to(&b.token, "sendMessage");
        assert_eq!(sent.len(), 1, "bot {i}");
        assert_eq!(
            sent[0].params["chat_id"],
            100_000 + i as i64,
            "bot {i} answered its own user"
        );
    }
    // And nothing was sent through a token other than the receiving bot's.
    assert_eq!(
        tg.calls()
            .into_iter()
            .filter(|c| c.method == "sendmessage")
            .count(),
        1000
    );
}

#[tokio::test]
async fn the_sender_waits_out_a_429_and_then_delivers() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    let id = domain::bots::send_message(&app.ctx, bot.id, 42, "hello", None)
        .await
        .expect("delivered after the 429");
    assert!(id > 0);
    let calls = tg.calls_to(&bot.token, "sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[1].status, 200);
    assert_eq!(calls[1].params["text"], "hello");
    // The retry came after the wait Telegram asked for (a lower bound our own sleep ensures).
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(900));

    // Through a conversation too: the /start reply survives a 429.
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    app.post_update(&bot, &updates::message(1, 43, "/start"))
        .await;
    tg.wait_for_text(&bot.token, 43, "Welcome").await;

    // A transient server error is retried; a refusal is reported as the domain error.
    tg.fail_next(Some("sendMessage"), 1, Fault::Status(500));
    domain::bots::send_message(&app.ctx, bot.id, 44, "again", None)
        .await
        .unwrap();
    tg.revoke(&bot.token);
    let e = domain::bots::send_message(&app.ctx, bot.id, 45, "lost", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, "telegram_rejected");
}

#[tokio::test]
async fn the_sender_paces_messages_per_chat_and_per_bot() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let ctx = &app.ctx;
    // Three messages to one chat at once go out about a second apart, in order of reservation.
    let sends = (0..3).map(|i| async move {
        domain::bots::send_message(ctx, bot.id, 42, &format!("m{i}"), None)
            .await
            .unwrap()
    });
    futures::future::join_all(sends).await;
    let calls = tg.calls_to(&bot.token, "sendMessage");
    assert_eq!(calls.len(), 3);
    for w in calls.windows(2) {
        assert!(w[1].at.duration_since(w[0].at) >= Duration::from_millis(900));
    }
    // Thirty-one messages to different chats take at least a second (30 per second per bot).
    let start = std::time::Instant::now();
    let sends = (0..31).map(|i| async move {
        domain::bots::send_message(ctx, bot.id, 1000 + i, "hi", None)
            .await
            .unwrap()
    });
    futures::future::join_all(sends).await;
    assert!(start.elapsed() >= Duration::from_millis(950));
    assert_eq!(tg.calls_to(&bot.token, "sendMessage").len(), 34);
}

#[tokio::test]
async fn documents_are_uploaded_as_multipart() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let csv = b"Access Code,Plan Name\nABCD,Monthly\n".to_vec();
    domain::bots::send_document(&app.ctx, bot.id, 42, "codes.csv", csv, Some("Your codes"))
        .await
        .unwrap();
    let call = &tg.calls_to(&bot.token, "sendDocument")[0];
    assert_eq!(call.params["chat_id"], 42);
    assert_eq!(call.params["caption"], "Your codes");
    assert_eq!(call.params["document"]["filename"], "codes.csv");
    assert_eq!(
        call.params["document"]["content"],
        "Access Code,Plan Name\nABCD,Monthly\n"
    );
    // Unknown bots are a not-found, not a panic.
    let e = domain::bots::send_message(&app.ctx, Uuid::now_v7(), 42, "x", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_found");
}

/// The fake answers every Bot API method the product uses in a shape teloxide reads, so other
/// flows (invites, join requests, removals) can rely on it.
#[tokio::test]
async fn the_fake_bot_api_answers_every_method_in_teloxides_shapes() {
    use teloxide::{
        payloads::CreateChatInviteLinkSetters,
        prelude::Requester,
        types::{ChatId, MessageId, UserId},
    };
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Sqlite, false).await;
    let fb = tg.add_bot();
    let bot = domain::bots::registry::client_for(&app.ctx, &fb.token).unwrap();
    let chat = ChatId(-1001234);
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.user.id.0 as i64, fb.id);
    let link = bot
        .create_chat_invite_link(chat)
        .creates_join_request(true)
        .name("sub-1")
        .await
        .unwrap();
    assert!(link.creates_join_request);
    assert!(
        bot.revoke_chat_invite_link(chat, link.invite_link.clone())
            .await
            .unwrap()
            .is_revoked
    );
    bot.approve_chat_join_request(chat, UserId(42))
        .await
        .unwrap();
    bot.decline_chat_join_request(chat, UserId(43))
        .await
        .unwrap();
    bot.ban_chat_member(chat, UserId(42)).await.unwrap();
    bot.unban_chat_member(chat, UserId(42)).await.unwrap();
    let member = bot.get_chat_member(chat, UserId(42)).await.unwrap();
    assert_eq!(member.user.id, UserId(42));
    assert_eq!(bot.get_chat(chat).await.unwrap().id, chat);
    let sent = bot.send_message(ChatId(42), "hi").await.unwrap();
    let edited = bot
        .edit_message_text(ChatId(42), MessageId(sent.id.0), "edited")
        .await
        .unwrap();
    assert_eq!(edited.text(), Some("edited"));
    assert!(bot.get_updates().await.unwrap().is_empty());
    for m in [
        "getMe",
        "createChatInviteLink",
        "revokeChatInviteLink",
        "approveChatJoinRequest",
        "declineChatJoinRequest",
        "banChatMember",
        "unbanChatMember",
        "getChatMember",
        "getChat",
        "sendMessage",
        "editMessageText",
        "getUpdates",
    ] {
        assert_eq!(tg.calls_to(&fb.token, m).len(), 1, "{m}");
    }
    assert_eq!(
        tg.calls_to(&fb.token, "banChatMember")[0].params["user_id"],
        42
    );
    // A token the fake does not know is a 401, as Telegram answers.
    tg.revoke(&fb.token);
    assert!(matches!(
        bot.get_me().await,
        Err(teloxide::RequestError::Api(
            teloxide::ApiError::InvalidToken
        ))
    ));
}

/// The embedded default: SQLite, no Redis, no public URL — bots are served by polling.
#[tokio::test]
async fn the_embedded_default_serves_bots_by_polling() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Sqlite, false).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    app.start_pollers(&c);
    tg.push_update(&bot.token, updates::message(900, 42, "/start"));
    tg.push_update(&bot.token, updates::callback(901, 42, "redeem", &bot));
    tg.wait_for_text(&bot.token, 42, "Welcome").await;
    tg.wait_for_text(&bot.token, 42, "Send me your access code")
        .await;
    assert_eq!(
        domain::bots::conversation(&app.ctx, bot.id, 42)
            .await
            .unwrap(),
        Some(domain::bots::Conversation::AwaitingCode)
    );
    // Polled updates are recorded for de-duplication like webhook ones.
    let seen = entity::bot_update::Entity::find()
        .filter(entity::bot_update::Column::BotId.eq(bot.id))
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn switching_the_project_to_another_bot_releases_the_old_one() {
    switching_the_project_to_another_bot_releases_the_old_one_on(Backend::Postgres).await;
}

#[tokio::test]
async fn switching_the_project_to_another_bot_releases_the_old_one_on_sqlite() {
    switching_the_project_to_another_bot_releases_the_old_one_on(Backend::Sqlite).await;
}

async fn switching_the_project_to_another_bot_releases_the_old_one_on(backend: Backend) {
    let (app, tg) = TestApp::spawn_with_telegram(backend, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = app.connect_bot(&c, &pid, &tg).await;
    // Warm the cache with the first bot's secret.
    assert_eq!(
        app.post_update(&first, &updates::message(1, 42, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for(&first.token, "sendMessage", 1, WAIT).await;
    let cached = domain::bots::handle(&app.ctx, first.id)
        .await
        .unwrap()
        .unwrap();
    let again = domain::bots::handle(&app.ctx, first.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&cached, &again),
        "one client per bot, reused"
    );

    let second = app.connect_bot(&c, &pid, &tg).await;
    assert_eq!(
        second.id, first.id,
        "the project's bot id and webhook URL stay"
    );
    assert_eq!(tg.calls_to(&first.token, "deleteWebhook").len(), 1);
    assert!(tg.webhook(&first.token).is_none());
    // The old secret no longer opens the endpoint; the new one does, answering as the new bot.
    assert_eq!(
        app.post_update(&first, &updates::message(2, 43, "/start"))
            .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_update(&second, &updates::message(3, 43, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&second.token, 43, "Welcome").await;
    assert!(
        tg.calls_to(&first.token, "sendMessage")
            .iter()
            .all(|c| c.params["chat_id"] != 43)
    );
    let fresh = domain::bots::handle(&app.ctx, first.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&cached, &fresh),
        "reconnecting replaced the cached client"
    );
    // The released Telegram bot can now go to another project.
    let other = app.create_project(&c).await;
    let fb = gatehouse_tests::fake_telegram::FakeBot {
        token: first.token.clone(),
        id: first.telegram_id,
        username: first.username.clone(),
    };
    app.connect_fake_bot(&c, other["id"].as_str().unwrap(), &tg, &fb)
        .await;
}

/// A writer that keeps everything logged during one test.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn bot_tokens_never_reach_the_logs() {
    use tracing_subscriber::util::SubscriberInitExt;
    // Everything runs on this test's thread (current-thread runtime), so a thread-local
    // subscriber sees the app, the handlers and the sender alike, at debug level for all crates.
    let logs = CapturedLogs::default();
    let sink = logs.clone();
    let _guard = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish()
        .set_default();

    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = tg.add_bot();
    tg.revoke(&refused.token);
    let r = app
        .as_creator(
            &c,
            Method::PUT,
            &format!("/api/v1/projects/{pid}/bot"),
            Some(json!({"token": refused.token})),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    let bot = app.connect_bot(&c, &pid, &tg).await;
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    app.post_update(&bot, &updates::message(1, 42, "/start"))
        .await;
    tg.wait_for(&bot.token, "sendMessage", 2, WAIT).await;
    // Failures are logged with their causes: a revoked token, then disconnecting with it.
    tg.revoke(&bot.token);
    app.post_update(&bot, &updates::message(2, 42, "/start"))
        .await;
    tg.wait_for(&bot.token, "sendMessage", 3, WAIT).await;
    app.wait_idle().await;
    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("bot connected") && text.contains("handling update failed"),
        "captured: {text}"
    );
    assert!(text.contains("Telegram asked to slow down"));
    for token in [&bot.token, &refused.token] {
        let secret_part = token.split_once(':').unwrap().1;
        assert!(!text.contains(secret_part), "a bot token was logged");
    }
    assert!(
        !text.contains(bot.secret.as_deref().unwrap()),
        "a webhook secret was logged"
    );
}

/// Two workers against the same Redis never poll one bot at once (Telegram would answer 409
/// to one of them, as the fake does); the second takes over when the first stops.
#[tokio::test]
async fn two_workers_never_poll_the_same_bot_at_once() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, false).await;
    let c = app.signup().await;
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let first = app.start_pollers(&c);
    tg.wait_for(&bot.token, "getUpdates", 1, WAIT).await;
    app.start_pollers(&c);
    for i in 0..3 {
        tg.push_update(&bot.token, updates::message(700 + i, 50 + i, "/start"));
        tg.wait_for_text(&bot.token, 50 + i, "Welcome").await;
    }
    // Let a few idle long polls (1 s each at the fake) go by, where two pollers would overlap.
    // Timing, not idleness: what is awaited is the passing of poll periods.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let polls = tg.wait_for(&bot.token, "getUpdates", 5, WAIT).await;
    assert!(
        polls.iter().all(|p| p.status == 200),
        "a second poller was let in: {:?}",
        polls.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    assert_eq!(tg.calls_to(&bot.token, "sendMessage").len(), 3);

    // The first worker stops and gives its lease back; the second takes over.
    first.cancel();
    tg.push_update(&bot.token, updates::message(710, 60, "/start"));
    tg.wait_for_text(&bot.token, 60, "Welcome").await;
}
