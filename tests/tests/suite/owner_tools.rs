//! Owner tools in the bot, through the bot's webhook: `/members`.
use gatehouse_tests::{Backend, factories::BotProject};
use serde_json::json;

#[tokio::test]
async fn members_shows_active_subscribers_per_plan_and_the_latest_activations() {
    let s = BotProject::builder(Backend::Postgres)
        .owner(99)
        .build()
        .await;
    s.say(99, "/members").await;
    let empty = s.reply(99, "Active members by plan").await;
    assert!(empty.contains("Gold: 0"), "{empty}");
    assert!(empty.contains("None yet"), "{empty}");

    let codes = s.codes(2, json!({})).await;
    s.say(701, &format!("/start c_{}", codes[0])).await;
    s.reply(701, "Code accepted").await;
    s.say(702, &format!("/start c_{}", codes[1])).await;
    s.reply(702, "Code accepted").await;

    s.say(99, "/members").await;
    s.replies(99, "Active members by plan", 2).await;
    let text = s
        .texts_to(99)
        .into_iter()
        .rfind(|t| t.contains("Active members by plan"))
        .unwrap();
    assert!(text.contains("Gold: 2"), "{text}");
    assert!(
        text.contains(&codes[0]) && text.contains(&codes[1]),
        "{text}"
    );
    assert!(
        text.contains("@ann701") && text.contains("@ann702"),
        "{text}"
    );
    // Newest first.
    assert!(
        text.find(&codes[1]).unwrap() < text.find(&codes[0]).unwrap(),
        "{text}"
    );

    // Not for subscribers.
    s.say(701, "/members").await;
    s.reply(701, "for the project's owners").await;
    assert!(
        !s.texts_to(701).iter().any(|t| t.contains("Active members")),
        "{:?}",
        s.texts_to(701)
    );
}
