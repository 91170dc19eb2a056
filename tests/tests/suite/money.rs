//! Money: the bot, the CSV export and the dashboard print an amount the same way, with the
//! currency's ISO 4217 decimals.
use gatehouse_tests::{Backend, factories::BotProject, web::assert_contains};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn bot_csv_and_dashboard_agree_on_amounts_in_every_currency() {
    let s = BotProject::builder(Backend::Postgres)
        .plan(
            json!({"name": "Som", "price_minor": 150_000, "currency": "UZS", "duration_days": 30}),
        )
        .build()
        .await;
    s.app
        .create_plan(
            &s.c,
            &s.pid,
            json!({"name": "Yen", "price_minor": 1000, "currency": "JPY", "duration_days": 30}),
        )
        .await;
    s.app
        .as_creator(
            &s.c,
            Method::PATCH,
            &format!("/api/v1/projects/{}", s.pid),
            Some(json!({"codes_priced": true})),
        )
        .await;

    // The bot.
    s.say(4100, "/start").await;
    let text = s.reply(4100, "Som").await;
    assert!(text.contains("Som — 1500.00 UZS / 30 days"), "{text}");
    assert!(text.contains("Yen — 1000 JPY / 30 days"), "{text}");

    // The CSV.
    s.codes(1, json!({})).await;
    let c = s.app.relogin(&s.c).await;
    let csv = s
        .app
        .http
        .get(
            s.app
                .url(&format!("/api/v1/projects/{}/codes/export.csv", s.pid)),
        )
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",1500.00,UZS,"), "{csv}");

    // The dashboard.
    let mut w = s.app.web_login(&s.c.email).await;
    let page = w.get(&format!("/projects/{}/plans", s.pid)).await;
    assert_contains(&page.body, "UZS 1500.00");
    assert_contains(&page.body, "JPY 1000");
}
