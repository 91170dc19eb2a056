//! The bot speaks the user's language: their Telegram `language_code` when the catalogue has
//! it (matched on the primary subtag), else the project's `default_language`; messages sent
//! without an update (the reminder) use the language last seen from the subscriber; the
//! `/start` welcome can be set per language.
use chrono::Duration;
use gatehouse_tests::{
    Backend,
    app::assert_error,
    factories::{BotProject, gold_plan},
    telegram::updates,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn setup(backend: Backend) -> BotProject {
    BotProject::builder(backend)
        .billing_plan("growth_monthly")
        .channel(-1_001_234_567_001)
        .plan(gold_plan())
        .build()
        .await
}

async fn patch_project(s: &BotProject, body: Value) -> (StatusCode, Value) {
    s.app
        .as_creator(
            &s.c,
            Method::PATCH,
            &format!("/api/v1/projects/{}", s.pid),
            Some(body),
        )
        .await
}

/// `user`, whose Telegram language is `lang`, sends `text`.
async fn say_in(s: &BotProject, lang: &str, update_id: i64, user: i64, text: &str) {
    let st = s
        .app
        .post_update(&s.bot, &updates::message_in(lang, update_id, user, text))
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_russian_user_gets_russian_texts_and_the_russian_welcome() {
    let s = setup(Backend::Sqlite).await;
    let (st, b) = patch_project(
        &s,
        json!({"welcome_texts": {"ru": "Добро пожаловать в клуб!", "es": "¡Bienvenido!"}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["welcome_texts"]["ru"], "Добро пожаловать в клуб!", "{b}");
    let code = s.codes(1, json!({})).await.remove(0);

    say_in(&s, "ru", 1, 501, "/start").await;
    let start = s.reply(501, "Добро пожаловать в клуб!").await;
    assert!(start.contains("Тарифы:"), "{start}");
    assert!(start.contains("30 дней"), "plans in Russian too: {start}");
    say_in(&s, "ru", 2, 501, "/help").await;
    let help = s.reply(501, "Вот что я умею").await;
    assert!(help.contains("/my — ваши подписки"), "{help}");
    say_in(&s, "ru", 3, 501, "/frobnicate").await;
    s.reply(501, "Я не знаю такой команды").await;
    say_in(&s, "ru", 4, 501, &code).await;
    let (text, _) = s.reply_with_buttons(501, "Код принят").await;
    assert!(text.contains("«Gold»"), "{text}");

    // An English user of the same bot still gets English and the project's own welcome.
    s.say_as_update(5, 502, "/start").await;
    let en = s.reply(502, "Plans:").await;
    assert!(!en.contains("Добро"), "{en}");
    // A user with no per-language welcome and a default of English gets the plain welcome,
    // not another language's.
    let sent_to_502 = s.tg.calls_to(&s.bot.token, "sendMessage");
    assert!(
        sent_to_502
            .iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(502))
            .all(|c| !c.params["text"]
                .as_str()
                .unwrap_or("")
                .contains("Bienvenido")),
        "{sent_to_502:?}"
    );
}

#[tokio::test]
async fn a_brazilian_user_gets_portuguese() {
    let s = setup(Backend::Sqlite).await;
    let code = s.codes(1, json!({})).await.remove(0);
    say_in(&s, "pt-BR", 1, 601, "/help").await;
    let help = s.reply(601, "Veja o que eu posso fazer").await;
    assert!(help.contains("/my — suas assinaturas"), "{help}");
    say_in(&s, "pt-br", 2, 601, &format!("/start c_{code}")).await;
    s.reply(601, "Código aceito").await;
}

#[tokio::test]
async fn a_user_in_another_language_gets_the_projects_default_language() {
    let s = setup(Backend::Postgres).await;
    // Only the bot's four languages are accepted.
    let r = patch_project(&s, json!({"default_language": "fr"})).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("default_language"),
    );
    let r = patch_project(&s, json!({"welcome_texts": {"de": "Willkommen"}})).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("welcome_texts"),
    );
    let (st, b) = patch_project(&s, json!({"default_language": "es"})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::GET,
            &format!("/api/v1/projects/{}", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["default_language"], "es", "{b}");

    say_in(&s, "de", 1, 701, "/help").await;
    s.reply(701, "Esto es lo que puedo hacer").await;
    say_in(&s, "de", 2, 701, "/nope").await;
    s.reply(701, "No conozco ese comando").await;
    // A language the bot speaks still wins over the default.
    s.say_as_update(3, 702, "/help").await;
    s.reply(702, "Here is what I can do.").await;
}

#[tokio::test]
async fn the_reminder_reaches_a_russian_subscriber_in_russian() {
    let s = setup(Backend::Postgres).await;
    let code = s.codes(1, json!({})).await.remove(0);
    say_in(&s, "ru", 1, 801, &code).await;
    s.reply(801, "Код принят").await;

    s.app.clock.advance(Duration::days(29) + Duration::hours(1));
    domain::subscriptions::send_reminders(&s.app.ctx)
        .await
        .unwrap();
    let call = s.tg.wait_for_text(&s.bot.token, 801, "заканчивается").await;
    let text = call.params["text"].as_str().unwrap();
    assert!(text.contains("«Gold»"), "{text}");
    let buttons: Vec<String> = call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect();
    assert!(buttons.iter().any(|b| b == "Ввести код"), "{buttons:?}");
}
