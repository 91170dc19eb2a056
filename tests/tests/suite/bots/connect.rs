//! Bots: connecting and disconnecting through the API, tenant scoping, and switching a project to
//! another bot.
use super::*;

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
        "pre_checkout_query",
        // Bot API 10.2: Stars subscriptions cancelled, turned back on or failing.
        "subscription",
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
        domain::telegram::crypto::decrypt(&app.ctx.keys.at_rest, row.id, &row.token_encrypted)
            .unwrap(),
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
    let (pid, bot) = app.project_with_bot(&c, &tg).await;
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
    let (pid, first) = app.project_with_bot(&c, &tg).await;
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
