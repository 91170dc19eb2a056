//! Redemption and subscriptions through the bot: deep links and typed codes, distinct
//! replies, the attempt limit, extension, join requests (forwarded links declined), owner
//! notifications, reminders and expiry with a walking clock, revocation, `/my`, and delivery
//! of generated batches to the creator's linked chat.
use std::time::Duration as StdDuration;

use chrono::Duration;
use gatehouse_tests::{
    Backend,
    app::assert_error,
    factories::{BotProject, batch, gold_plan, typed_like_a_person},
    fake_telegram::FakeTelegram,
    telegram::updates,
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

const CHANNEL: i64 = -1_001_234_567_890;

/// The project every test here starts from: a creator on Growth, a channel granted by the
/// plan, and a connected bot.
async fn setup(backend: Backend, plan: Value) -> BotProject {
    BotProject::builder(backend)
        .billing_plan("growth_monthly")
        .channel(CHANNEL)
        .plan(plan)
        .build()
        .await
}

/// A creator's PATCH of the project or its plan, which must succeed.
async fn patch(s: &BotProject, path: &str, body: Value) {
    let (st, b) = s
        .app
        .as_creator(&s.c, Method::PATCH, path, Some(body))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_deep_link_redeems_at_once_and_grants_an_unshareable_join_link() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    s.link_owner(4242).await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(1, 777, &format!("/start c_{code}")).await;
    let (text, buttons) = s.reply_with_buttons(777, "Code accepted").await;
    assert!(text.contains("“Gold”"), "{text}");
    let links = s.tg.calls_to(&s.bot.token, "createChatInviteLink");
    assert_eq!(links.len(), 1);
    // One message with a "Join <channel>" URL button carrying the personal link (not a
    // link in the text): one link call + one message for one channel, no membership check.
    assert_eq!(buttons.len(), 1, "{buttons:?}");
    assert!(buttons[0].0.starts_with("Join "), "{buttons:?}");
    assert!(
        buttons[0].1.starts_with("https://t.me/+"),
        "a personal link: {buttons:?}"
    );
    assert!(
        !text.contains("https://t.me/+"),
        "no link in the text: {text}"
    );
    assert!(s.tg.calls_to(&s.bot.token, "getChatMember").is_empty());
    assert_eq!(links[0].params["chat_id"].as_i64(), Some(CHANNEL));
    assert_eq!(
        links[0].params["creates_join_request"], true,
        "links create join requests"
    );
    assert!(links[0].params.get("member_limit").is_none());
    // The owner hears of it: who, which code, which plan.
    let note = s.reply(4242, "New activation").await;
    assert!(
        note.contains(&code) && note.contains("Gold") && note.contains("ann777"),
        "{note}"
    );

    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["status"], "active");
    assert_eq!(subs[0]["source"], "access_code");
    assert_eq!(
        subs[0]["price_minor"], 0,
        "code orders are zero-priced unless the project prices them"
    );

    // The subscriber's join request is approved; a forwarded link used by someone else is declined.
    assert_eq!(s.join_request(2, 777).await, StatusCode::OK);
    s.tg.wait_for(
        &s.bot.token,
        "approveChatJoinRequest",
        1,
        StdDuration::from_secs(10),
    )
    .await;
    assert_eq!(s.join_request(3, 888).await, StatusCode::OK);
    let declined =
        s.tg.wait_for(
            &s.bot.token,
            "declineChatJoinRequest",
            1,
            StdDuration::from_secs(10),
        )
        .await;
    assert_eq!(declined[0].params["user_id"].as_i64(), Some(888));
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "approveChatJoinRequest").len(),
        1
    );
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "approveChatJoinRequest")[0].params["user_id"].as_i64(),
        Some(777)
    );
}

#[tokio::test]
async fn the_button_asks_for_a_code_and_validates_what_is_typed() {
    let s = setup(Backend::Sqlite, gold_plan()).await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.app
        .post_update(&s.bot, &updates::callback(1, 501, "redeem", &s.bot))
        .await;
    s.reply(501, "Send me your access code").await;
    s.say_as_update(2, 501, "not a code").await;
    s.reply(501, "doesn't exist").await;
    // Typed the way people type: lower case, dashes, O for 0 and l for 1.
    let typed = typed_like_a_person(&code, 'O');
    s.say_as_update(3, 501, &typed).await;
    s.reply(501, "Code accepted").await;
}

#[tokio::test]
async fn every_failure_has_its_own_reply_and_failures_are_limited() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let codes = s.codes(4, json!({"expiry": {"preset": "1d"}})).await;
    // Used up (max 1): a second user.
    s.say_as_update(1, 601, &format!("/start c_{}", codes[0]))
        .await;
    s.reply(601, "Code accepted").await;
    s.say_as_update(2, 602, &format!("/start c_{}", codes[0]))
        .await;
    s.reply(602, "used as many times").await;
    // Already redeemed by the same user (a code with room left).
    let multi = s.codes(1, json!({"max_activations": 5})).await.remove(0);
    s.say_as_update(3, 603, &format!("/start c_{multi}")).await;
    s.reply(603, "Code accepted").await;
    s.say_as_update(4, 603, &format!("/start c_{multi}")).await;
    s.reply(603, "already redeemed").await;
    // Plan no longer active.
    patch(
        &s,
        &format!("/api/v1/projects/{}/plans/{}", s.pid, s.plan),
        json!({"active": false}),
    )
    .await;
    s.say_as_update(5, 604, &format!("/start c_{}", codes[1]))
        .await;
    s.reply(604, "no longer available").await;
    patch(
        &s,
        &format!("/api/v1/projects/{}/plans/{}", s.pid, s.plan),
        json!({"active": true}),
    )
    .await;
    // Codes disabled for the project.
    patch(
        &s,
        &format!("/api/v1/projects/{}", s.pid),
        json!({"access_codes_enabled": false}),
    )
    .await;
    s.say_as_update(6, 605, &format!("/start c_{}", codes[1]))
        .await;
    s.reply(605, "not accepted here").await;
    patch(
        &s,
        &format!("/api/v1/projects/{}", s.pid),
        json!({"access_codes_enabled": true}),
    )
    .await;
    // Expired.
    s.app.clock.advance(Duration::days(2));
    s.say_as_update(7, 606, &format!("/start c_{}", codes[2]))
        .await;
    s.reply(606, "has expired").await;
    // Unknown, five times: then the limit answers, even for a good code.
    for i in 0..5 {
        s.say_as_update(10 + i, 607, "/start c_ZZZZZZZZZZZZ").await;
    }
    s.tg.wait_for(&s.bot.token, "sendMessage", 1, StdDuration::from_secs(5))
        .await;
    let good = s.codes(1, json!({})).await;
    // (the clock moved: a fresh session for the creator is not needed by the bot path)
    s.say_as_update(20, 607, &format!("/start c_{}", good[0]))
        .await;
    let text = s.reply(607, "Too many failed attempts").await;
    assert!(text.contains("minute"), "{text}");
    // After the window the good code works.
    s.app.clock.advance(Duration::minutes(16));
    s.say_as_update(21, 607, &format!("/start c_{}", good[0]))
        .await;
    s.reply(607, "Code accepted").await;
}

#[tokio::test]
async fn redeeming_again_for_the_same_plan_extends_the_subscription() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let codes = s.codes(2, json!({})).await;
    s.say_as_update(1, 700, &format!("/start c_{}", codes[0]))
        .await;
    s.reply(700, "Code accepted").await;
    let first = s.subscriptions().await.remove(0);
    s.say_as_update(2, 700, &format!("/start c_{}", codes[1]))
        .await;
    s.reply(700, "extended").await;
    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1, "extended, not a second subscription");
    let end = |v: &Value| {
        v["ends_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(end(&subs[0]) - end(&first), Duration::days(30));
    let activations = entity::activation::Entity::find()
        .filter(
            entity::activation::Column::SubscriptionId.eq(first["id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap()),
        )
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(activations, 2);
}

#[tokio::test]
async fn a_user_already_in_the_channel_gets_a_join_button_without_a_membership_check() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    s.tg.set_member_status(CHANNEL, 710, "member");
    let code = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(1, 710, &format!("/start c_{code}")).await;
    let (_, buttons) = s.reply_with_buttons(710, "Code accepted").await;
    // A join-request link harms no member (the request is approved again), so the bot does
    // not ask Telegram first: N + 1 calls for N channels.
    assert_eq!(buttons.len(), 1, "{buttons:?}");
    assert!(s.tg.calls_to(&s.bot.token, "getChatMember").is_empty());
    assert_eq!(s.tg.calls_to(&s.bot.token, "createChatInviteLink").len(), 1);
}

#[tokio::test]
async fn a_hundred_parallel_redemptions_of_a_three_use_code_make_exactly_three() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let code = s.codes(1, json!({"max_activations": 3})).await.remove(0);
    let h = domain::bots::handle(&s.app.ctx, s.bot.id)
        .await
        .unwrap()
        .unwrap();
    let results = futures::future::join_all((0..100).map(|i| {
        let (ctx, h, code) = (s.app.ctx.clone(), h.clone(), code.clone());
        async move {
            let user = domain::subscriptions::TgUser {
                id: 10_000 + i,
                username: None,
                first_name: "P".into(),
                language_code: None,
            };
            domain::redemption::redeem(&ctx, &h, &user, &code).await
        }
    }))
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 3);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.code == "code_used_up"),
        "the rest are told it is used up"
    );
    let c = entity::access_code::Entity::find()
        .filter(entity::access_code::Column::Code.eq(&code))
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.activation_count, 3);
    let activations = entity::activation::Entity::find()
        .filter(entity::activation::Column::AccessCodeId.eq(c.id))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(activations, 3);
    assert_eq!(s.subscriptions().await.len(), 3);
}

#[tokio::test]
async fn reminders_and_expiry_happen_once_even_with_two_workers() {
    let s = setup(
        Backend::Postgres,
        json!({"name": "Week", "price_minor": 0, "currency": "USD", "duration_days": 7}),
    )
    .await;
    let codes = s.codes(1, json!({})).await;
    s.say_as_update(1, 800, &format!("/start c_{}", codes[0]))
        .await;
    s.reply(800, "Code accepted").await;
    // Stars sells the plan too: the reminder offers to renew with Stars.
    patch(
        &s,
        &format!("/api/v1/projects/{}", s.pid),
        json!({"stars_enabled": true}),
    )
    .await;
    patch(
        &s,
        &format!("/api/v1/projects/{}/plans/{}", s.pid, s.plan),
        json!({"price_stars": 50}),
    )
    .await;
    // A second app on the same database stands for a second worker process.
    let ctx2 = s.app.ctx.clone();

    s.app.clock.advance(Duration::days(5));
    let (a, b) = tokio::join!(
        domain::subscriptions::send_reminders(&s.app.ctx),
        domain::subscriptions::send_reminders(&ctx2)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 0, "not yet: more than a day left");
    s.app.clock.advance(Duration::days(1) + Duration::hours(1));
    let (a, b) = tokio::join!(
        domain::subscriptions::send_reminders(&s.app.ctx),
        domain::subscriptions::send_reminders(&ctx2)
    );
    a.unwrap();
    b.unwrap();
    let call = s.tg.wait_for_text(&s.bot.token, 800, "ends on").await;
    // The reminder names the plan and carries a way forward.
    assert!(
        callback_data(&call).contains(&"redeem".to_string()),
        "{call:?}"
    );
    domain::subscriptions::send_reminders(&s.app.ctx)
        .await
        .unwrap();
    let reminders =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["text"].as_str().unwrap_or("").contains("ends on"))
            .count();
    assert_eq!(reminders, 1, "one reminder, never twice");

    s.app.clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(
        domain::subscriptions::expire_due(&s.app.ctx),
        domain::subscriptions::expire_due(&ctx2)
    );
    a.unwrap();
    b.unwrap();
    // The end-of-access message names the plan and carries the reminder's way back.
    let ended = s.tg.wait_for_text(&s.bot.token, 800, "has ended").await;
    assert!(
        ended.params["text"].as_str().unwrap().contains("“Week”"),
        "{ended:?}"
    );
    let buttons = callback_data(&ended);
    assert!(buttons.contains(&"redeem".to_string()), "{ended:?}");
    assert!(
        buttons.contains(&format!("buy:{}", s.plan)),
        "Renew for 50 ⭐: {ended:?}"
    );
    assert!(
        format!("{ended:?}").contains("Renew for 50 ⭐"),
        "{ended:?}"
    );
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "banChatMember").len(),
        1,
        "removed once"
    );
    let unban = s.tg.calls_to(&s.bot.token, "unbanChatMember");
    assert_eq!(unban.len(), 1);
    assert_eq!(
        unban[0].params["only_if_banned"], true,
        "unban only if banned, so they can come back"
    );
    assert_eq!(s.subscriptions().await[0]["status"], "expired");
    // A join request now is declined.
    s.join_request(50, 800).await;
    s.tg.wait_for(
        &s.bot.token,
        "declineChatJoinRequest",
        1,
        StdDuration::from_secs(10),
    )
    .await;
}

#[tokio::test]
async fn a_one_day_plan_is_reminded_half_way_not_at_redemption() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let s = setup(
            backend,
            json!({"name": "Day pass", "price_minor": 0, "currency": "USD", "duration_days": 1}),
        )
        .await;
        let code = s.codes(1, json!({})).await.remove(0);
        s.say_as_update(1, 7_720, &format!("/start c_{code}")).await;
        s.reply(7_720, "Code accepted").await;
        // Right after redemption the end is already within a day: no reminder yet.
        assert_eq!(
            domain::subscriptions::send_reminders(&s.app.ctx)
                .await
                .unwrap(),
            0,
            "not at the moment of redemption"
        );
        s.app.clock.advance(Duration::hours(11));
        assert_eq!(
            domain::subscriptions::send_reminders(&s.app.ctx)
                .await
                .unwrap(),
            0,
            "not in the first half"
        );
        s.app.clock.advance(Duration::hours(2));
        assert_eq!(
            domain::subscriptions::send_reminders(&s.app.ctx)
                .await
                .unwrap(),
            1,
            "half-way through, about 11 hours before the end"
        );
        let call = s.tg.wait_for_text(&s.bot.token, 7_720, "ends on").await;
        assert!(
            call.params["text"].as_str().unwrap().contains("Day pass"),
            "{call:?}"
        );
    }
}

#[tokio::test]
async fn lifetime_subscriptions_never_expire() {
    let s = setup(
        Backend::Sqlite,
        json!({"name": "Forever", "price_minor": 0, "currency": "USD", "lifetime": true}),
    )
    .await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(1, 810, &format!("/start c_{code}")).await;
    let text = s.reply(810, "Code accepted").await;
    assert!(text.contains("for life"), "{text}");
    s.app.clock.advance(Duration::days(365 * 50));
    assert_eq!(
        domain::subscriptions::send_reminders(&s.app.ctx)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        domain::subscriptions::expire_due(&s.app.ctx).await.unwrap(),
        0
    );
    let c = s.app.relogin(&s.c).await;
    let (_, subs) = s
        .app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{}/subscriptions", s.pid),
            None,
        )
        .await;
    assert_eq!(subs["items"][0]["status"], "active");
    assert!(subs["items"][0]["ends_at"].is_null());
}

#[tokio::test]
async fn revocation_and_rollback_remove_the_user_from_the_channels() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let codes = s.codes(2, json!({})).await;
    s.say_as_update(1, 820, &format!("/start c_{}", codes[0]))
        .await;
    s.reply(820, "Code accepted").await;
    s.say_as_update(2, 821, &format!("/start c_{}", codes[1]))
        .await;
    s.reply(821, "Code accepted").await;
    let subs = s.subscriptions().await;
    let subscriber = entity::subscriber::Entity::find()
        .filter(entity::subscriber::Column::TelegramUserId.eq(820))
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let sid = subs
        .iter()
        .find(|x| x["subscriber_id"] == subscriber.id.to_string())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = s.app.signup().await;
    let r = s
        .app
        .as_creator(
            &other,
            Method::POST,
            &format!("/api/v1/projects/{}/subscriptions/{sid}/revoke", s.pid),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/subscriptions/{sid}/revoke", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "revoked");
    let bans = s.tg.calls_to(&s.bot.token, "banChatMember");
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].params["user_id"].as_i64(), Some(820));
    s.reply(820, "revoked").await;
    let r = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/subscriptions/{sid}/revoke", s.pid),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "subscription_not_active", None);

    // Rolling back the other code removes its user the same way.
    let code_id = s
        .app
        .all_codes(&s.c, &s.pid, &format!("&q={}", codes[1]))
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/codes/{code_id}/rollback", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let bans = s.tg.calls_to(&s.bot.token, "banChatMember");
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[1].params["user_id"].as_i64(), Some(821));
    let actions = s.app.audit_actions(s.c.tenant_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "subscription.revoked")
            .count(),
        1
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "code.rolled_back").count(),
        1
    );
}

#[tokio::test]
async fn my_lists_subscriptions_with_end_dates_and_fresh_links() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    s.say_as_update(1, 830, "/my").await;
    s.reply(830, "no subscriptions").await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(2, 830, &format!("/start c_{code}")).await;
    s.reply(830, "Code accepted").await;
    s.say_as_update(3, 830, "/my").await;
    let (text, buttons) = s.reply_with_buttons(830, "Your subscriptions").await;
    assert!(text.contains("“Gold” — active until"), "{text}");
    assert_eq!(buttons.len(), 1, "{buttons:?}");
    assert!(buttons[0].1.starts_with("https://t.me/+"), "{buttons:?}");
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "createChatInviteLink").len(),
        2,
        "a fresh link for /my"
    );
}

#[tokio::test]
async fn my_is_throttled_per_user_with_a_way_forward() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say(840, &format!("/start c_{code}")).await;
    s.reply(840, "Code accepted").await;
    let limit = domain::subscriptions::MINE_PER_MINUTE as usize;
    for _ in 0..limit + 2 {
        s.say(840, "/my").await;
    }
    s.app.wait_idle().await;
    let texts = s.texts_to(840);
    let lists = texts
        .iter()
        .filter(|t| t.contains("Your subscriptions"))
        .count();
    let waits: Vec<&String> = texts
        .iter()
        .filter(|t| t.contains("Send /my again in"))
        .collect();
    assert_eq!(lists, limit, "{texts:?}");
    assert_eq!(waits.len(), 2, "every /my is answered: {texts:?}");
    // Invite links were made only for the answered lists (one more for the redemption).
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "createChatInviteLink").len(),
        limit + 1
    );
    // Another user is not held back; the user is again after the minute.
    s.say(841, "/my").await;
    s.reply(841, "no subscriptions").await;
    s.app.clock.advance(Duration::seconds(61));
    s.say(840, "/my").await;
    s.app.wait_idle().await;
    let lists_now = s
        .texts_to(840)
        .iter()
        .filter(|t| t.contains("Your subscriptions"))
        .count();
    assert_eq!(lists_now, limit + 1);
}

#[tokio::test]
async fn batches_go_to_the_linked_chat_as_messages_or_one_csv() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    // No linked chat yet: the batch is done and waits.
    let (_, b) = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 3), None)
        .await;
    let done = s
        .app
        .wait_batch(&s.c, &s.pid, b["id"].as_str().unwrap())
        .await;
    assert_eq!(done["delivery"], "waiting_for_linked_chat");
    // Linking the owner's chat delivers it: one forwardable message per code with its link.
    s.link_owner(950).await;
    for c in s.app.all_codes(&s.c, &s.pid, "").await {
        let code = c["code"].as_str().unwrap();
        let text = s.reply(950, code).await;
        assert!(
            text.contains(&format!("https://t.me/{}?start=c_{code}", s.bot.username)),
            "{text}"
        );
    }
    // 25 or more: one CSV file.
    let (_, b) = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 25), None)
        .await;
    let id = b["id"].as_str().unwrap().to_string();
    let docs =
        s.tg.wait_for(&s.bot.token, "sendDocument", 1, StdDuration::from_secs(20))
            .await;
    assert_eq!(docs[0].params["chat_id"].as_i64(), Some(950));
    for _ in 0..200 {
        let (_, got) = s
            .app
            .as_creator(
                &s.c,
                Method::GET,
                &format!("/api/v1/projects/{}/code-batches/{id}", s.pid),
                None,
            )
            .await;
        if got["delivery"] == "sent" {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("the CSV batch was not marked sent");
}

#[tokio::test]
async fn workers_deliver_nothing_for_a_suspended_tenant_and_resume_after() {
    // The worker is driven by hand here, so it is not started with the app.
    let s = BotProject::builder(Backend::Postgres)
        .without_worker()
        .owner(960)
        .build()
        .await;
    let (st, b) = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 2), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let id: Uuid = b["id"].as_str().unwrap().parse().unwrap();
    domain::batches::generate(&s.app.ctx, id).await.unwrap();

    let staff = s.app.staff(domain::accounts::StaffRole::Staff).await;
    domain::staff::suspend(&s.app.ctx, &staff.ctx, s.c.tenant_id, "review")
        .await
        .unwrap();
    domain::batches::deliver(&s.app.ctx, id).await.unwrap();
    let sent_codes = |tg: &FakeTelegram| {
        tg.calls_to(&s.bot.token, "sendMessage")
            .iter()
            .filter(|c| {
                c.params["chat_id"].as_i64() == Some(960)
                    && c.params["text"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("Access code")
            })
            .count()
    };
    assert_eq!(sent_codes(&s.tg), 0, "nothing delivered while suspended");
    let (_, got) = s
        .app
        .as_creator(
            &s.c,
            Method::GET,
            &format!("/api/v1/projects/{}/code-batches/{id}", s.pid),
            None,
        )
        .await;
    assert_eq!(got["delivery"], "paused_tenant_suspended");

    // Unsuspending queues the held delivery; the worker's job then sends it.
    domain::staff::unsuspend(&s.app.ctx, &staff.ctx, s.c.tenant_id, "resolved")
        .await
        .unwrap();
    domain::batches::deliver(&s.app.ctx, id).await.unwrap();
    assert_eq!(sent_codes(&s.tg), 2);
    let (_, got) = s
        .app
        .as_creator(
            &s.c,
            Method::GET,
            &format!("/api/v1/projects/{}/code-batches/{id}", s.pid),
            None,
        )
        .await;
    assert_eq!(got["delivery"], "sent");
}

/// A late code is kept: the sweep marks it expired and gives its unit back at once, the bot
/// answers "expired" (never "doesn't exist") without counting a failed attempt, the creator
/// still finds it under the `expired` filter and by search, and after the project's
/// retention the sweep purges it.
#[tokio::test]
async fn an_expired_code_is_kept_answered_as_expired_and_purged_after_retention() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let codes = s.codes(3, json!({"expiry": {"preset": "1d"}})).await;
    let tenant = s.c.tenant_id;
    let freed = || async {
        entity::quota_free::Entity::find()
            .filter(entity::quota_free::Column::TenantId.eq(tenant))
            .all(&s.app.ctx.db)
            .await
            .unwrap()
            .iter()
            .map(|f| i64::from(f.codes))
            .sum::<i64>()
    };
    s.app.clock.advance(Duration::days(2));
    // Two sweeps at once free each unit once.
    let (a, b) = tokio::join!(
        domain::codes::expire(&s.app.ctx),
        domain::codes::expire(&s.app.ctx)
    );
    assert!(a.unwrap() + b.unwrap() >= 3);
    assert_eq!(freed().await, 3, "each expired code freed exactly once");
    domain::codes::expire(&s.app.ctx).await.unwrap();
    assert_eq!(freed().await, 3, "a later sweep frees nothing again");
    let c = s.app.relogin(&s.c).await;
    let expired = s.app.all_codes(&c, &s.pid, "&status=expired").await;
    assert_eq!(expired.len(), 3, "{expired:?}");
    let found = s
        .app
        .all_codes(&c, &s.pid, &format!("&q={}", codes[0]))
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["status"], "expired");

    // Six late tries: each says expired, none counts towards the attempt limit.
    for i in 0..6 {
        s.say_as_update(i, 650, &format!("/start c_{}", codes[i as usize % 3]))
            .await;
    }
    s.replies(650, "has expired", 6).await;
    assert!(
        s.texts_to(650).iter().all(|t| !t.contains("doesn't exist")),
        "{:?}",
        s.texts_to(650)
    );
    let good = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(10, 650, &format!("/start c_{good}")).await;
    s.reply(650, "Code accepted").await;

    // The retention is a project setting (30 days by default): at 40 days the rows are
    // still listed after 31 days, back at 30 they are purged.
    let (st, b) = s
        .app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{}", s.pid),
            Some(json!({"expired_code_retention_days": 40})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["expired_code_retention_days"], 40);
    s.app.clock.advance(Duration::days(31));
    let c = s.app.relogin(&s.c).await;
    domain::codes::expire(&s.app.ctx).await.unwrap();
    assert_eq!(
        s.app.all_codes(&c, &s.pid, "&status=expired").await.len(),
        3
    );
    let (st, b) = s
        .app
        .as_creator(
            &c,
            Method::PATCH,
            &format!("/api/v1/projects/{}", s.pid),
            Some(json!({"expired_code_retention_days": 30})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    domain::codes::expire(&s.app.ctx).await.unwrap();
    assert!(
        s.app
            .all_codes(&c, &s.pid, "&status=expired")
            .await
            .is_empty()
    );
    assert_eq!(freed().await, 3, "purging frees nothing more");
}

fn callback_data(call: &gatehouse_tests::fake_telegram::Call) -> Vec<String> {
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

/// A code pasted without pressing any button is redeemed (also after a bad deep link), and
/// every private message is answered: `/help`, an unknown command and free text get the
/// short help with buttons that lead on.
#[tokio::test]
async fn a_pasted_code_is_redeemed_and_every_private_message_is_answered() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say_as_update(1, 660, "/start c_ZZZZZZZZZZZZ").await;
    s.reply(660, "doesn't exist").await;
    s.say_as_update(2, 660, &typed_like_a_person(&code, 'O'))
        .await;
    let text = s.reply(660, "Code accepted").await;
    // The success message says what happens next and points to /my.
    assert!(
        text.contains("tap Join") && text.contains("Request to join") && text.contains("/my"),
        "{text}"
    );

    s.say_as_update(3, 661, "/help").await;
    let call = s.tg.wait_for_text(&s.bot.token, 661, "/my").await;
    let data = callback_data(&call);
    assert!(
        ["plans", "my", "redeem"]
            .iter()
            .all(|d| data.iter().any(|x| x == d)),
        "{data:?}"
    );
    s.say_as_update(4, 662, "/plans").await;
    let call =
        s.tg.wait_for_text(&s.bot.token, 662, "don't know that command")
            .await;
    assert!(callback_data(&call).contains(&"plans".to_string()));
    s.say_as_update(5, 663, "hello, how do I join?").await;
    let call = s.tg.wait_for_text(&s.bot.token, 663, "send it here").await;
    assert!(callback_data(&call).contains(&"redeem".to_string()));
    // The buttons lead on.
    s.app
        .post_update(&s.bot, &updates::callback(6, 663, "plans", &s.bot))
        .await;
    s.reply(663, "Plans:").await;
    s.app
        .post_update(&s.bot, &updates::callback(7, 663, "my", &s.bot))
        .await;
    s.reply(663, "no subscriptions here yet").await;
}

/// Connecting a bot sets its command menu for everyone and one per language; linking an
/// owner sets the owner commands for that owner's chat only (`BotCommandScopeChat`).
#[tokio::test]
async fn connecting_sets_the_command_menu_and_owners_get_theirs() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let calls =
        s.tg.wait_for(&s.bot.token, "setMyCommands", 1, StdDuration::from_secs(5))
            .await;
    let names = |c: &gatehouse_tests::fake_telegram::Call| -> Vec<String> {
        let cmds = match &c.params["commands"] {
            Value::String(t) => serde_json::from_str::<Value>(t).unwrap(),
            v => v.clone(),
        };
        cmds.as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&calls[0]), ["start", "my", "help"]);
    assert!(calls[0].params["scope"].is_null(), "{:?}", calls[0].params);
    // Then one menu per language the bot speaks, described in that language.
    let calls =
        s.tg.wait_for(&s.bot.token, "setMyCommands", 5, StdDuration::from_secs(5))
            .await;
    let ru = calls
        .iter()
        .find(|c| c.params["language_code"] == "ru")
        .expect("a Russian menu");
    assert!(
        ru.params["commands"].to_string().contains("Ваши подписки"),
        "{ru:?}"
    );
    s.link_owner(4343).await;
    let calls =
        s.tg.wait_for(&s.bot.token, "setMyCommands", 6, StdDuration::from_secs(5))
            .await;
    let owner = &calls[5];
    let scope = match &owner.params["scope"] {
        Value::String(t) => serde_json::from_str::<Value>(t).unwrap(),
        v => v.clone(),
    };
    assert_eq!(scope["type"], "chat", "{scope}");
    assert_eq!(scope["chat_id"].as_i64(), Some(4343));
    let n = names(owner);
    assert!(n.contains(&"newcode".to_string()) && n.contains(&"codes".to_string()));
}

#[tokio::test]
async fn fifty_wrong_codes_sent_at_once_are_judged_at_most_five_times() {
    let s = setup(Backend::Postgres, gold_plan()).await;
    let user = 6_707;
    let first = s.next_update_id();
    for _ in 0..50 {
        s.next_update_id();
    }
    let posts = (0..50).map(|i| {
        let upd = updates::message(first + i, user, &format!("ZZZZZZZZZZ{i:02}"));
        let s = &s;
        async move { s.app.post_update(&s.bot, &upd).await }
    });
    for st in futures::future::join_all(posts).await {
        assert_eq!(st, StatusCode::OK);
    }
    // Every message is answered: judged ones say the code does not exist, the rest wait.
    s.tg.wait_for(&s.bot.token, "sendMessage", 50, StdDuration::from_secs(60))
        .await;
    let texts = s.texts_to(user);
    let judged = texts.iter().filter(|t| t.contains("doesn't exist")).count();
    let waiting = texts
        .iter()
        .filter(|t| t.contains("Too many failed attempts"))
        .count();
    assert!(judged <= 5, "{judged} judged: {texts:?}");
    assert_eq!(judged + waiting, 50, "{texts:?}");
    // The wait is real: a good code is refused too until the window passes.
    let good = s.codes(1, json!({})).await;
    s.say(user, &format!("/start c_{}", good[0])).await;
    s.replies(user, "Too many failed attempts", waiting + 1)
        .await;
}

#[tokio::test]
async fn a_code_of_another_project_does_not_exist_on_this_bot_and_counts_as_a_wrong_guess() {
    let here = setup(Backend::Postgres, gold_plan()).await;
    let elsewhere = setup(Backend::Postgres, gold_plan()).await;
    let theirs = elsewhere.codes(5, json!({})).await;
    let user = 7_731;
    for (i, code) in theirs.iter().enumerate() {
        here.say(user, code).await;
        here.replies(user, "That code doesn't exist", i + 1).await;
    }
    // Five of them are five wrong guesses: the limit now answers, even for a good code.
    let good = here.codes(1, json!({})).await.remove(0);
    here.say(user, &good).await;
    here.reply(user, "Too many failed attempts").await;
    assert!(
        !here
            .texts_to(user)
            .iter()
            .any(|t| t.contains("Code accepted")),
        "{:?}",
        here.texts_to(user)
    );
    // The other project's codes are untouched, and still redeem on their own bot.
    let listed = elsewhere
        .app
        .all_codes(&elsewhere.c, &elsewhere.pid, "&status=unredeemed")
        .await;
    assert_eq!(listed.len(), 5);
    elsewhere.say(user, &theirs[0]).await;
    elsewhere.reply(user, "Code accepted").await;
}

#[tokio::test]
async fn a_codes_only_plan_is_redeemable_by_code_and_absent_from_start() {
    let s = setup(
        Backend::Postgres,
        json!({"name": "Insider", "price_minor": 500, "currency": "USD", "duration_days": 30, "codes_only": true}),
    )
    .await;
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/plans", s.pid),
            Some(json!({"name": "Public", "price_minor": 900, "currency": "USD", "duration_days": 30})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    s.say(7_741, "/start").await;
    let start = s.reply(7_741, "Public").await;
    assert!(!start.contains("Insider"), "{start}");
    let code = s.codes(1, json!({})).await.remove(0);
    s.say(7_741, &code).await;
    let ok = s.reply(7_741, "Code accepted").await;
    assert!(ok.contains("Insider"), "{ok}");
    assert_eq!(s.subscriptions().await[0]["status"], "active");
}

#[tokio::test]
async fn a_plan_granting_two_channels_and_a_group_joins_and_removes_all_three() {
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .build()
        .await;
    let mut ids = vec![];
    let chats = [
        (-100_7751_i64, "News", "channel"),
        (-100_7752, "Archive", "channel"),
        (-100_7753, "Chat", "group"),
    ];
    for (chat, title, kind) in chats {
        let (st, b) = s
            .app
            .as_creator(
                &s.c,
                Method::POST,
                &format!("/api/v1/projects/{}/channels", s.pid),
                Some(json!({"telegram_chat_id": chat, "title": title, "kind": kind})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        ids.push(b["id"].clone());
    }
    patch(
        &s,
        &format!("/api/v1/projects/{}/plans/{}", s.pid, s.plan),
        json!({"channel_ids": ids}),
    )
    .await;
    let code = s.codes(1, json!({})).await.remove(0);
    s.say(7_750, &code).await;
    let (_, joins) = s.reply_with_buttons(7_750, "Code accepted").await;
    assert_eq!(joins.len(), 3, "three Join buttons: {joins:?}");
    for (_, title, _) in chats {
        assert!(
            joins.iter().any(|(label, _)| label.contains(title)),
            "{title}: {joins:?}"
        );
    }
    s.app.clock.advance(Duration::days(31));
    domain::subscriptions::expire_due(&s.app.ctx).await.unwrap();
    s.reply(7_750, "has ended").await;
    let bans = s.calls("banChatMember", 3).await;
    let mut removed_from: Vec<i64> = bans
        .iter()
        .filter(|b| b["user_id"] == 7_750)
        .map(|b| b["chat_id"].as_i64().unwrap())
        .collect();
    removed_from.sort();
    assert_eq!(removed_from, [-100_7753, -100_7752, -100_7751]);
}
