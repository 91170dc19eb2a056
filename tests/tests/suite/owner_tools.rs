//! Owner tools in the bot, through the bot's webhook: `/members`, and finding, deleting and
//! rolling back a code (send it, or `/code <CODE>`).
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

/// The callback data of the inline buttons of the last message to `user` containing `needle`.
async fn buttons_of(s: &BotProject, user: i64, needle: &str) -> Vec<String> {
    s.reply(user, needle).await;
    let call =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .rev()
            .find(|c| {
                c.params["chat_id"].as_i64() == Some(user)
                    && c.params["text"].as_str().unwrap_or("").contains(needle)
            })
            .unwrap();
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn an_owner_finds_deletes_and_rolls_back_codes_from_the_bot() {
    const OWNER: i64 = 7_990;
    let s = BotProject::builder(Backend::Postgres)
        .channel(-100_7990)
        .owner(OWNER)
        .build()
        .await;
    let codes = s.codes(2, json!({})).await;
    // A subscriber sending a code redeems it (the owner's lookup is for owners only).
    s.say(7_801, &codes[0]).await;
    s.reply(7_801, "Code accepted").await;

    // The owner sends the other code, typed loosely: it is looked up, not redeemed.
    let typed = format!("{}-{}", &codes[1][..6], &codes[1][6..]).to_lowercase();
    s.say(OWNER, &typed).await;
    let shown = s.reply(OWNER, &format!("Code {}", codes[1])).await;
    assert!(shown.contains("State: unredeemed"), "{shown}");
    assert!(shown.contains("Plan: Gold"), "{shown}");
    assert!(
        !s.texts_to(OWNER)
            .iter()
            .any(|t| t.contains("Code accepted"))
    );
    let del = buttons_of(&s, OWNER, &format!("Code {}", codes[1])).await;
    assert_eq!(del.len(), 1, "{del:?}");
    assert!(del[0].starts_with("oc:del:"), "{del:?}");
    let id = del[0]["oc:del:".len()..].to_string();

    // A non-owner's press does nothing; `/code` is refused to them.
    s.press(7_802, &format!("oc:del!:{id}")).await;
    s.say(7_802, &format!("/code {}", codes[1])).await;
    s.reply(7_802, "for the project's owners").await;
    assert_eq!(s.app.all_codes(&s.c, &s.pid, "").await.len(), 2);

    // Delete asks first, then deletes with the dashboard's call (audited); a second press
    // (a lost reply, a double tap) is told the code is gone.
    s.press(OWNER, &del[0]).await;
    let confirm = buttons_of(&s, OWNER, "Delete code").await;
    assert_eq!(confirm, [format!("oc:del!:{id}"), "oc:keep".to_string()]);
    s.press(OWNER, &confirm[0]).await;
    s.reply(OWNER, "Code deleted").await;
    s.press(OWNER, &confirm[0]).await;
    s.reply(OWNER, "no longer exists").await;
    assert_eq!(s.audited("code.deleted").await, 1);
    let left = s.app.all_codes(&s.c, &s.pid, "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["code"], codes[0]);

    // The redeemed code by `/code`: its state, who redeemed it, and a rollback.
    s.say(OWNER, &format!("/code {}", codes[0])).await;
    let shown = s.reply(OWNER, &format!("Code {}", codes[0])).await;
    assert!(shown.contains("State: redeemed"), "{shown}");
    assert!(shown.contains("@ann7801"), "{shown}");
    let rb = buttons_of(&s, OWNER, &format!("Code {}", codes[0])).await;
    assert!(rb[0].starts_with("oc:rb:"), "{rb:?}");
    s.press(OWNER, &rb[0]).await;
    let confirm = buttons_of(&s, OWNER, "Roll back code").await;
    // Cancel changes nothing.
    s.press(OWNER, &confirm[1]).await;
    s.reply(OWNER, "Nothing changed").await;
    assert_eq!(s.subscriptions().await[0]["status"], "active");
    s.press(OWNER, &confirm[0]).await;
    let done = s
        .reply(OWNER, &format!("Code {} rolled back", codes[0]))
        .await;
    assert!(done.contains("1 activation(s) removed"), "{done}");
    assert!(done.contains("1 subscription(s) ended"), "{done}");
    assert_eq!(s.audited("code.rolled_back").await, 1);
    assert_eq!(s.subscriptions().await[0]["status"], "revoked");
    // The subscriber leaves the plan's channel.
    let bans = s.calls("banChatMember", 1).await;
    assert_eq!(bans[0]["user_id"], 7_801);
    assert!(s.app.all_codes(&s.c, &s.pid, "").await.is_empty());
    // A code the project does not have is answered, with a way forward.
    s.say(OWNER, &format!("/code {}", codes[0])).await;
    s.reply(OWNER, "no such code").await;
}
