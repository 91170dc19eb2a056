//! Switching a project to another Telegram bot in single-node mode (no Redis): the new
//! bot's update ids are its own sequence and are not taken for repeats of the old bot's.
use gatehouse_tests::{Backend, TestApp, telegram::updates};
use reqwest::StatusCode;

#[tokio::test]
async fn a_switched_bots_update_ids_are_not_repeats_of_the_old_bots() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Sqlite, true).await;
    let c = app.signup().await;
    let (pid, first) = app.project_with_bot(&c, &tg).await;
    assert_eq!(
        app.post_update(&first, &updates::message(7, 42, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&first.token, 42, "Welcome").await;

    let second = app.connect_bot(&c, &pid, &tg).await;
    assert_eq!(second.id, first.id);
    // The new bot's update 7 is a first sight, answered by the new bot...
    assert_eq!(
        app.post_update(&second, &updates::message(7, 43, "/start"))
            .await,
        StatusCode::OK
    );
    tg.wait_for_text(&second.token, 43, "Welcome").await;
    // ...and a real repeat of it is still dropped.
    assert_eq!(
        app.post_update(&second, &updates::message(7, 44, "/start"))
            .await,
        StatusCode::OK
    );
    app.wait_idle().await;
    assert!(
        tg.calls_to(&second.token, "sendMessage")
            .iter()
            .all(|c| c.params["chat_id"] != 44)
    );
}
