//! The dashboard's broadcasts page: linked from the project, the list with progress and what
//! is left, the form with its preview and field errors, send and cancel for admins, and
//! members reading only.
use std::time::Duration;

use gatehouse_tests::web::{assert_contains, assert_lacks, assert_redirect};

use super::*;

#[tokio::test]
async fn web_broadcasts_are_written_previewed_sent_followed_and_canceled() {
    let s = setup().await;
    pacing::insert_subscribers(&s, [1_401, 1_402]).await;
    let mut w = s.app.web_login(&s.c.email).await;
    let list = format!("/projects/{}/broadcasts", s.pid);
    let overview = w.get(&format!("/projects/{}", s.pid)).await;
    assert_contains(&overview.body, &format!("href=\"{list}\""));
    let r = w.get(&list).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_contains(&r.body, "No broadcasts yet");

    // The preview counts who it reaches; a fault is shown on its field, nothing saved.
    let form = |action: &'static str, text: &'static str| {
        vec![
            ("text", text),
            ("segment", "all"),
            ("days", ""),
            ("button", ""),
            ("label", ""),
            ("url", ""),
            ("send_at", ""),
            ("action", action),
        ]
    };
    let r = w
        .post_form(&list, &form("preview", "Hello <b>all</b>"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_contains(&r.body, "Reaches 2 subscribers");
    let r = w.post_form(&list, &form("draft", "Hello <b>all</i>")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, r#"<p class="field-error" id="text-error">"#);
    let mut days = form("preview", "Soon over");
    days[1] = ("segment", "ending_within");
    days[2] = ("days", "many");
    let r = w.post_form(&list, &days).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, r#"id="segment-error""#);
    let (_, saved) = call(&s, &s.c, Method::GET, "", None).await;
    assert_eq!(saved.as_array().unwrap().len(), 0, "{saved}");

    // A draft, then sent from its row; while Telegram holds it, the row shows what is left.
    let r = w.post_form(&list, &form("draft", "Web news")).await;
    assert_redirect(&r, &list);
    let r = w.get(&list).await;
    assert_contains(&r.body, "draft");
    let (_, saved) = call(&s, &s.c, Method::GET, "", None).await;
    let id = saved[0]["id"].as_str().unwrap().to_string();
    s.tg.hold("sendMessage", None);
    let r = w.post_form(&format!("{list}/{id}/send"), &[]).await;
    assert_redirect(&r, &list);
    s.tg.wait_held(2, Duration::from_secs(10)).await;
    let r = w.get(&list).await;
    assert_contains(&r.body, "sending");
    assert_contains(&r.body, "pending 2");
    assert_contains(&r.body, "about 1 s left");
    assert_contains(&r.body, r#"<progress max="2" value="0""#);
    s.tg.release();
    wait_status(&s, &id, "done").await;
    let r = w.get(&list).await;
    assert_contains(&r.body, "done");
    assert_contains(&r.body, "sent 2 · blocked 0 · failed 0 · pending 0");
    assert_contains(&r.body, r#"<progress max="2" value="2""#);
    assert_eq!(got(&s, 1_401, "Web news"), 1);

    // Another draft, canceled from its row.
    let r = w.post_form(&list, &form("draft", "Second thoughts")).await;
    assert_redirect(&r, &list);
    let (_, saved) = call(&s, &s.c, Method::GET, "", None).await;
    let second = saved[0]["id"].as_str().unwrap().to_string();
    let r = w.post_form(&format!("{list}/{second}/cancel"), &[]).await;
    assert_redirect(&r, &list);
    let (_, b) = call(&s, &s.c, Method::GET, &format!("/{second}"), None).await;
    assert_eq!(b["status"], "canceled", "{b}");

    // A member reads the list, is offered no form or buttons, and cannot send.
    let (member, _) = s.app.teammate(&s.c, "member").await;
    let mut m = s.app.web_login(&member.email).await;
    let r = m.get(&list).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_contains(&r.body, "Web news");
    assert_contains(&r.body, "Admins and owners write and send broadcasts.");
    assert_lacks(&r.body, "Send now");
    let r = m.post_form(&list, &form("send", "Member news")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let (_, saved) = call(&s, &s.c, Method::GET, "", None).await;
    assert_eq!(saved.as_array().unwrap().len(), 2, "{saved}");
}
