//! Bots: long polling for bots without a public URL, and one poller per bot across workers.
use super::*;

#[tokio::test]
async fn without_a_public_url_bots_are_served_by_long_polling() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, false).await;
    let c = app.signup().await;
    let (pid, bot) = app.project_with_bot(&c, &tg).await;
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

/// The embedded default: SQLite, no Redis, no public URL — bots are served by polling.
#[tokio::test]
async fn the_embedded_default_serves_bots_by_polling() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Sqlite, false).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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

/// Two workers against the same Redis never poll one bot at once (Telegram would answer 409
/// to one of them, as the fake does); the second takes over when the first stops.
#[tokio::test]
async fn two_workers_never_poll_the_same_bot_at_once() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, false).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
