//! Free trials through the bot webhook and HTTP: offered on `/start`, taken once per
//! Telegram user per project (also across plans, also when twenty taps arrive at once),
//! reminded with a "Buy" button, bought during the trial with the paid time starting at its
//! end, and counted as converted in revenue.
use chrono::{Duration, Utc};
use futures::future::join_all;
use gatehouse_tests::{app::assert_error, stars::*, telegram::updates};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// The labels of the buttons of the message to `user` containing `needle`.
async fn buttons_of(
    s: &gatehouse_tests::factories::BotProject,
    user: i64,
    needle: &str,
) -> Vec<String> {
    let call = s.tg.wait_for_text(&s.bot.token, user, needle).await;
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect()
}

async fn offer_trial(
    s: &gatehouse_tests::factories::BotProject,
    days: Value,
) -> (StatusCode, Value) {
    api(
        s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"trial_days": days})),
    )
    .await
}

#[tokio::test]
async fn a_trial_is_taken_reminded_with_a_buy_button_and_bought_from_its_end() {
    // The reminder sweep serves every tenant: a database of its own counts only ours.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    for bad in [json!(0), json!(91), json!("a week")] {
        let r = offer_trial(&s, bad.clone()).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.1);
    }
    let r = offer_trial(&s, json!(0)).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("trial_days"),
    );
    let (st, plan) = offer_trial(&s, json!(7)).await;
    assert_eq!(st, StatusCode::OK, "{plan}");
    assert_eq!(plan["trial_days"], 7);

    let user = 6_301;
    s.say(user, "/start").await;
    let offered = buttons_of(&s, user, "Plans:").await;
    assert!(
        offered.contains(&"Gold: Try free for 7 days".to_string()),
        "{offered:?}"
    );
    s.press(user, &format!("trial:{}", s.plan)).await;
    let (text, joins) = s.reply_with_buttons(user, "free trial").await;
    assert!(text.contains("“Gold”") && text.contains("/my"), "{text}");
    assert_eq!(joins.len(), 1, "a Join button: {joins:?}");
    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["source"], "trial");
    let trial_end = time(&subs[0]["ends_at"]);
    assert!(
        close(trial_end, Utc::now() + Duration::days(7)),
        "{trial_end}"
    );

    // Offered no more to this user.
    s.say(user, "/start").await;
    s.app.wait_idle().await;
    let menus: Vec<Value> =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["chat_id"] == user)
            .filter(|c| c.params["text"].as_str().unwrap_or("").contains("Plans:"))
            .map(|c| c.params)
            .collect();
    assert_eq!(menus.len(), 2);
    assert!(!menus[1].to_string().contains("Try free"), "{}", menus[1]);

    // A day before its end: the reminder offers to buy.
    s.app.clock.advance(Duration::days(6) + Duration::hours(1));
    let sent = domain::subscriptions::send_reminders(&s.app.ctx)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let b = buttons_of(&s, user, "Your free trial of “Gold” ends on").await;
    assert!(b.contains(&"Buy for 250 ⭐".to_string()), "{b:?}");

    // Bought during the trial: the paid 30 days start when the trial ends.
    let (_, sid) = subscribe(&s, user, 250, "trial-buy-1").await;
    assert_eq!(
        sid,
        subs[0]["id"].as_str().unwrap(),
        "the trial's subscription goes on"
    );
    let after = subscription(&s, &sid).await;
    let ends = time(&after["ends_at"]);
    assert!(
        close(ends, trial_end + Duration::days(30)),
        "ends {ends}, trial ended {trial_end}"
    );

    // The lists filter by source: the trial's subscription (bought on) is a trial's.
    for (source, n) in [("trial", 1), ("payment", 0), ("access_code", 0)] {
        let (st, list) = api(
            &s,
            Method::GET,
            &format!("/subscriptions?source={source}"),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{list}");
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            n,
            "{source}: {list}"
        );
    }

    // Revenue counts the trial and its conversion.
    let (st, rev) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(st, StatusCode::OK, "{rev}");
    assert_eq!(rev["trials"]["started"], 1, "{rev}");
    assert_eq!(rev["trials"]["converted"], 1, "{rev}");
}

#[tokio::test]
async fn one_trial_per_user_ever_also_across_plans_and_when_twenty_taps_arrive_at_once() {
    let s = setup(30, 250, &[]).await;
    assert_eq!(offer_trial(&s, json!(3)).await.0, StatusCode::OK);
    let (st, silver) = api(
        &s,
        Method::POST,
        "/plans",
        Some(json!({"name": "Silver", "price_minor": 500, "currency": "USD", "duration_days": 30, "price_stars": 100, "trial_days": 5})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{silver}");
    let user = 6_302;
    let taps = join_all((0..20).map(|_| {
        let upd = updates::callback(
            s.next_update_id(),
            user,
            &format!("trial:{}", s.plan),
            &s.bot,
        );
        let s = &s;
        async move { s.app.post_update(&s.bot, &upd).await }
    }))
    .await;
    assert!(taps.iter().all(|t| *t == StatusCode::OK), "{taps:?}");
    s.app.wait_idle().await;
    let trials = entity::trial::Entity::find()
        .filter(entity::trial::Column::ProjectId.eq(s.pid.parse::<uuid::Uuid>().unwrap()))
        .all(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(trials.len(), 1, "{trials:?}");
    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    let started = s
        .texts_to(user)
        .iter()
        .filter(|t| t.contains("has started"))
        .count();
    assert_eq!(started, 1, "{:?}", s.texts_to(user));
    // Every tap was answered.
    assert_eq!(s.tg.calls_to(&s.bot.token, "answerCallbackQuery").len(), 20);

    // Another plan's trial is refused too, with the plans as the way forward.
    s.press(user, &format!("trial:{}", silver["id"].as_str().unwrap()))
        .await;
    s.reply(user, "had your free trial here already").await;
    let menu = buttons_of(&s, user, "Plans:").await;
    assert!(menu.iter().any(|b| b.contains("Buy for")), "{menu:?}");
    assert!(!menu.iter().any(|b| b.contains("Try free")), "{menu:?}");
    assert_eq!(s.subscriptions().await.len(), 1);

    // A plan without a trial (any more) says so.
    assert_eq!(offer_trial(&s, Value::Null).await.0, StatusCode::OK);
    let other = 6_303;
    s.press(other, &format!("trial:{}", s.plan)).await;
    s.reply(other, "offers no free trial").await;
    assert_eq!(s.subscriptions().await.len(), 1);
}
