//! Bots: the webhook endpoint: the secret first, repeated update ids, malformed and unhandled
//! updates.
use super::*;

#[tokio::test]
async fn webhook_checks_the_secret_before_anything_else() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
    let (_, bot) = app.project_with_bot(&c, &tg).await;
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
        .bearer_auth(gatehouse_tests::app::METRICS_TOKEN)
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
        .filter(|c| {
            c.token == bot.token && !["getme", "setwebhook", "setmycommands"].contains(&&*c.method)
        })
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
}
