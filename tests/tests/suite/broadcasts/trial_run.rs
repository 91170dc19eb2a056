//! "Send me a test": the broadcast goes to the caller's own linked chat exactly as recipients
//! will see it, and nobody else gets it; without a linked chat the answer says how to link one.
use super::*;

#[tokio::test]
async fn a_test_goes_to_the_creators_linked_chat_only_and_changes_nothing() {
    let owner = 1_601;
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .owner(owner)
        .build()
        .await;
    pacing::insert_subscribers(&s, [1_602, 1_603]).await;
    let (st, b) = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(
            json!({"text": "<b>Trial</b> run", "segment": {"kind": "all"},
            "button": {"kind": "url", "text": "Shop", "url": "https://example.com/shop"}}),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (st, sent) = call(&s, &s.c, Method::POST, &format!("/{id}/test"), None).await;
    assert_eq!(st, StatusCode::OK, "{sent}");
    assert_eq!(sent["chat_id"], owner);
    let m = s.tg.wait_for_text(&s.bot.token, owner, "Trial").await;
    assert_eq!(m.params["parse_mode"], "HTML");
    assert_eq!(
        m.params["reply_markup"]["inline_keyboard"][0][0]["url"],
        "https://example.com/shop"
    );
    s.app.wait_idle().await;
    assert_eq!(got(&s, 1_602, "Trial") + got(&s, 1_603, "Trial"), 0);
    let (_, after) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(after["status"], "draft", "{after}");

    // The dashboard's "Send me a test" button does the same.
    let mut w = s.app.web_login(&s.c.email).await;
    let page = w.get(&format!("/projects/{}/broadcasts", s.pid)).await.body;
    assert!(page.contains("Send me a test"), "{page}");
    let r = w
        .post_form(&format!("/projects/{}/broadcasts/{id}/test", s.pid), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    for _ in 0..100 {
        if got(&s, owner, "Trial") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got(&s, owner, "Trial"), 2, "a second test arrived");

    // A creator with no linked chat is told how to get one.
    let bare = setup().await;
    let (_, b) = call(
        &bare,
        &bare.c,
        Method::POST,
        "",
        Some(json!({"text": "Hi", "segment": {"kind": "all"}})),
    )
    .await;
    let r = call(
        &bare,
        &bare.c,
        Method::POST,
        &format!("/{}/test", b["id"].as_str().unwrap()),
        None,
    )
    .await;
    gatehouse_tests::app::assert_error(&r, StatusCode::CONFLICT, "no_linked_chat", None);
    let mut w = bare.app.web_login(&bare.c.email).await;
    let r = w
        .post_form(
            &format!(
                "/projects/{}/broadcasts/{}/test",
                bare.pid,
                b["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("link your Telegram account"), "{}", r.body);
}
