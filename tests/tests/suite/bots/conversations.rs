//! Bots: the subscriber and owner conversations: /start, the redeem button, the paused service,
//! owner links, code counts, channel registration.
use super::*;

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

/// Where nothing can be bought in the bot (codes only, no Stars), `/start` lists the plans
/// but says how to get access — the creator's contact text, or a standard hint — instead of
/// "Pick a plan below".
#[tokio::test]
async fn start_with_nothing_to_buy_says_how_to_get_access() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (pid, bot) = app.project_with_bot(&c, &tg).await;
    app.create_plan(&c, &pid, monthly_plan()).await;
    let start = |id: i64, user: i64| {
        let (app, bot) = (&app, &bot);
        async move {
            assert_eq!(
                app.post_update(bot, &updates::message(id, user, "/start"))
                    .await,
                StatusCode::OK
            );
        }
    };
    start(1, 5_101).await;
    let msg = tg.wait_for_text(&bot.token, 5_101, "Plans:").await;
    let text = msg.params["text"].as_str().unwrap();
    assert!(!text.contains("Pick a plan"), "{text}");
    assert!(
        text.contains("How to get access: ask the creator for an access code"),
        "{text}"
    );
    assert_eq!(
        msg.params["reply_markup"]["inline_keyboard"][0][0]["text"],
        "Redeem a code"
    );

    // The creator's own words, set through the API (and bounded).
    let long = "x".repeat(domain::projects::CONTACT_MAX + 1);
    let r = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"contact_text": long})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("contact_text"),
    );
    // NUL cannot be stored: refused as a field error, not a server error.
    let r = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"contact_text": "a\u{0}b"})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("contact_text"),
    );
    assert_eq!(
        r.1["error"]["fields"]["contact_text"]["code"],
        "invalid_characters"
    );
    let (s, p) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"contact_text": "Write to @jazzclub for a code."})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["contact_text"], "Write to @jazzclub for a code.");
    start(2, 5_102).await;
    let text = tg.wait_for_text(&bot.token, 5_102, "Plans:").await.params["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("How to get access: Write to @jazzclub for a code."),
        "{text}"
    );

    // Once a plan is sold for Stars, the plans are to pick from again.
    let (s, _) = app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(json!({"stars_enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.create_plan(
        &c,
        &pid,
        json!({"name": "Gold", "price_minor": 500, "currency": "USD", "duration_days": 7, "price_stars": 50}),
    )
    .await;
    start(3, 5_103).await;
    let msg = tg.wait_for_text(&bot.token, 5_103, "Plans:").await;
    let text = msg.params["text"].as_str().unwrap();
    assert!(text.contains("Pick a plan"), "{text}");
    assert!(!text.contains("How to get access"), "{text}");
    assert_eq!(
        msg.params["reply_markup"]["inline_keyboard"][0][0]["text"],
        "Gold: Buy for 50 ⭐"
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
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
    let pid = app.create_project_id(&c).await;
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
    let pid2 = app.create_project_id(&c).await;
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
            expired_at: Set(None),
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
    let (pid, bot) = app.project_with_bot(&c, &tg).await;
    // The fixture's promotions come from Telegram user 555: a linked owner.
    app.link_owner(&c, &pid, &bot, &tg, 555, 900_555).await;
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
