//! A broadcast with a photo: sent with `sendPhoto`, its text as the caption (Telegram's
//! 1,024 characters), the URL checked on its field.
use super::*;

#[tokio::test]
async fn a_photo_goes_with_its_caption_and_bad_photos_and_long_captions_are_refused() {
    let s = setup().await;
    pacing::insert_subscribers(&s, [1_501, 1_502]).await;
    let body = |text: String, photo: &str| {
        Some(
            json!({"text": text, "segment": {"kind": "all"}, "photo_url": photo,
            "button": {"kind": "url", "text": "Shop", "url": "https://example.com/shop"}}),
        )
    };
    let got_err = call(
        &s,
        &s.c,
        Method::POST,
        "",
        body("Look".into(), "ftp://example.com/a.jpg"),
    )
    .await;
    assert_field_error(&got_err, "photo_url", "invalid_url", "not http");
    let long = "x".repeat(1_025);
    let got_err = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        body(long.clone(), "https://example.com/a.jpg"),
    )
    .await;
    assert_field_error(
        &got_err,
        "text",
        "caption_too_long",
        "over 1,024 with a photo",
    );
    // The same text without a photo is a message of its own (up to 4,096).
    let (st, p) = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        Some(json!({"text": long, "segment": {"kind": "all"}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{p}");

    let mut b = body(
        "<b>New season</b> is here".into(),
        "https://example.com/season.jpg",
    )
    .unwrap();
    b["send"] = json!(true);
    let (st, created) = call(&s, &s.c, Method::POST, "", Some(b)).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["photo_url"], "https://example.com/season.jpg");
    let done = wait_status(&s, created["id"].as_str().unwrap(), "done").await;
    assert_eq!(done["progress"]["sent"], 2, "{done}");
    let photos = s.tg.calls_to(&s.bot.token, "sendPhoto");
    assert_eq!(photos.len(), 2, "{photos:?}");
    for p in &photos {
        assert_eq!(p.params["photo"], "https://example.com/season.jpg", "{p:?}");
        assert_eq!(p.params["caption"], "<b>New season</b> is here");
        assert_eq!(p.params["parse_mode"], "HTML");
        assert_eq!(
            p.params["reply_markup"]["inline_keyboard"][0][0]["url"],
            "https://example.com/shop"
        );
    }
    assert_eq!(got(&s, 1_501, "New season"), 0, "no separate text message");
}
