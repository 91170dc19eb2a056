//! Join requests: the bot judges only requests through invite links it created.
use gatehouse_tests::{Backend, factories::BotProject};
use reqwest::StatusCode;

#[tokio::test]
async fn join_requests_through_links_the_bot_did_not_create_are_left_alone() {
    let s = BotProject::builder(Backend::Postgres)
        .channel(-100_5151)
        .build()
        .await;
    // Through the creator's own invite link, and through a public "request to join" (no
    // link): neither approved nor declined, whoever asks.
    assert_eq!(
        s.join_request_through(1, 901, Some(123_456)).await,
        StatusCode::OK
    );
    assert_eq!(s.join_request_through(2, 902, None).await, StatusCode::OK);
    s.app.wait_idle().await;
    let judged = |m: &str| s.tg.calls_to(&s.bot.token, m).len();
    assert_eq!(judged("declineChatJoinRequest"), 0);
    assert_eq!(judged("approveChatJoinRequest"), 0);
    // Through a link the bot made, a non-subscriber is still declined.
    assert_eq!(s.join_request(3, 903).await, StatusCode::OK);
    s.app.wait_idle().await;
    let declined = s.tg.calls_to(&s.bot.token, "declineChatJoinRequest");
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0].params["user_id"].as_i64(), Some(903));
}
