//! The dashboard's bot section (connect with field errors, disconnect after confirming, the
//! link-my-Telegram deep link), the members page with revocation, the redemptions chart, and
//! tenant isolation of all of them.
use chrono::Duration;
use gatehouse_tests::{
    Backend, Creator, TestApp,
    factories::BotProject,
    telegram::{ConnectedBot, updates},
    web::{WebClient, assert_contains, assert_lacks, assert_redirect},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CHANNEL: i64 = -1_001_777_000_111;

async fn api_bot_status(app: &TestApp, c: &Creator, pid: &str) -> StatusCode {
    let c = app.relogin(c).await;
    app.as_creator(
        &c,
        Method::GET,
        &format!("/api/v1/projects/{pid}/bot"),
        None,
    )
    .await
    .0
}

fn project_id(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn web_connecting_a_bad_token_shows_the_field_error_and_stores_nothing() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = project_id(&app.create_project(&c).await);
    let mut w = app.web_login(&c.email).await;

    // Well-formed, but Telegram does not know it.
    let r = w
        .post_form(
            &format!("/projects/{pid}/bot"),
            &[("token", "123456:AAnotarealtoken")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(
        &r.body,
        r#"<p class="field-error" id="token-error">Telegram does not accept this bot token"#,
    );
    assert_contains(&r.body, r#"aria-invalid="true""#);
    // The typed token is a secret: it is not echoed back.
    assert_lacks(&r.body, "AAnotarealtoken");
    // Not even a token shape.
    let r = w
        .post_form(&format!("/projects/{pid}/bot"), &[("token", "not a token")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, r#"id="token-error""#);
    assert_eq!(api_bot_status(&app, &c, &pid).await, StatusCode::NOT_FOUND);
    assert!(
        w.get(&format!("/projects/{pid}"))
            .await
            .body
            .contains("No bot connected yet."),
    );

    // A bot already serving another project is refused next to the field too.
    let other = project_id(&app.create_project(&c).await);
    let fb = tg.add_bot();
    let r = w
        .post_form(&format!("/projects/{other}/bot"), &[("token", &fb.token)])
        .await;
    assert_redirect(&r, &format!("/projects/{other}#bot"));
    let r = w
        .post_form(&format!("/projects/{pid}/bot"), &[("token", &fb.token)])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_contains(
        &r.body,
        r#"id="token-error">this bot is already connected to another project"#,
    );
    assert_eq!(api_bot_status(&app, &c, &pid).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_connect_link_my_telegram_and_disconnect() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = project_id(&app.create_project(&c).await);
    let mut w = app.web_login(&c.email).await;
    let fb = tg.add_bot();

    let r = w
        .post_form(&format!("/projects/{pid}/bot"), &[("token", &fb.token)])
        .await;
    assert_redirect(&r, &format!("/projects/{pid}#bot"));
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(
        &page.body,
        &format!("Connected: <strong>@{} (webhook)</strong>", fb.username),
    );
    assert_contains(
        &page.body,
        "webhook at <code>https://gatehouse.example.com/tg/",
    );
    assert_contains(&page.body, "not linked");
    let hook = tg.webhook(&fb.token).expect("setWebhook was called");
    assert_eq!(api_bot_status(&app, &c, &pid).await, StatusCode::OK);

    // Link my Telegram: a one-time deep link to the bot.
    let r = w
        .post_form(&format!("/projects/{pid}/bot/owner-link"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let prefix = format!("https://t.me/{}?start=o_", fb.username);
    let at = r.body.find(&prefix).unwrap_or_else(|| panic!("{}", r.body));
    let rest = &r.body[at + "https://t.me/".len() + fb.username.len() + "?start=".len()..];
    let payload = &rest[..rest.find('"').unwrap()];
    // Pressing Start with it links this Telegram account to the project.
    let (s, b) = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let bot = ConnectedBot {
        id: b["id"].as_str().unwrap().parse().unwrap(),
        project_id: pid.clone(),
        token: fb.token.clone(),
        telegram_id: fb.id,
        username: fb.username.clone(),
        secret: hook["secret_token"].as_str().map(str::to_string),
    };
    let s = app
        .post_update(
            &bot,
            &updates::message(1, 4_321, &format!("/start {payload}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    tg.wait_for_text(&fb.token, 4_321, "now an owner").await;
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(
        &page.body,
        r#"<dd id="owner-status"><span class="pill ok">linked</span>"#,
    );

    // Disconnecting asks first, then forgets the bot.
    let confirm = w.get(&format!("/projects/{pid}/bot/disconnect")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert_contains(
        &confirm.body,
        &format!("<h1>Disconnect @{}?</h1>", fb.username),
    );
    assert_eq!(api_bot_status(&app, &c, &pid).await, StatusCode::OK);
    let r = w
        .post_form(&format!("/projects/{pid}/bot/disconnect"), &[])
        .await;
    assert_redirect(&r, &format!("/projects/{pid}#bot"));
    assert_eq!(api_bot_status(&app, &c, &pid).await, StatusCode::NOT_FOUND);
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(&page.body, "No bot connected yet.");
    assert!(!tg.calls_to(&fb.token, "deleteWebhook").is_empty());
    // Without a bot there is nothing to link to.
    let r = w
        .post_form(&format!("/projects/{pid}/bot/owner-link"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_contains(&r.body, r#"id="bot-error""#);
}

/// A project with a channel, a plan, a connected bot and two members who redeemed codes
/// through the bot, and the owner's dashboard session.
struct Members {
    s: BotProject,
    w: WebClient,
}

impl std::ops::Deref for Members {
    type Target = BotProject;
    fn deref(&self) -> &BotProject {
        &self.s
    }
}

async fn members_setup() -> Members {
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .channel(CHANNEL)
        .build()
        .await;
    let codes = s.codes(3, json!({})).await;
    for (i, user) in [(0, 501), (1, 502)] {
        s.say_as_update(i + 1, user, &format!("/start c_{}", codes[i as usize]))
            .await;
        s.reply(user, "Code accepted").await;
    }
    let w = s.app.web_login(&s.c.email).await;
    Members { s, w }
}

fn sub_id_of(members_page: &str, username: &str) -> String {
    let at = members_page
        .find(&format!("(@{username})"))
        .unwrap_or_else(|| panic!("{username} not listed: {members_page}"));
    let row = members_page[..at].rfind("<tr id=\"sub-").unwrap() + "<tr id=\"sub-".len();
    members_page[row..row + 36].to_string()
}

#[tokio::test]
async fn web_members_are_listed_and_a_revoke_ends_the_subscription() {
    let mut m = members_setup().await;
    let pid = m.pid.clone();
    let page = m.w.get(&format!("/projects/{pid}/members")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(
        &page.body,
        r#"<span id="subscriber-count">2</span> subscribers"#,
    );
    assert_eq!(
        page.body.matches(r#"data-status="active""#).count(),
        2,
        "{}",
        page.body
    );
    assert_contains(&page.body, "<td>Gold</td>");
    // A 30-day plan shows its end date (today + 30 days).
    let ends = (m.app.ctx.now() + Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert_contains(&page.body, &format!("<td>{ends} "));
    let sub = sub_id_of(&page.body, "ann501");

    let confirm =
        m.w.get(&format!("/projects/{pid}/members/{sub}/revoke"))
            .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert_contains(&confirm.body, "Revoke this subscription?");
    let r =
        m.w.post_form(&format!("/projects/{pid}/members/{sub}/revoke"), &[])
            .await;
    assert_redirect(&r, &format!("/projects/{pid}/members?notice=revoked"));
    let page =
        m.w.get(&format!("/projects/{pid}/members?notice=revoked"))
            .await;
    assert_contains(&page.body, "Subscription revoked.");
    let row = &page.body[page.body.find(&format!("<tr id=\"sub-{sub}\">")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(r#"data-status="revoked""#), "{row}");
    assert!(
        !row.contains("/revoke\""),
        "no revoke link on a revoked one: {row}"
    );
    assert_eq!(page.body.matches(r#"data-status="active""#).count(), 1);
    // The member was removed from the channel and told.
    m.tg.wait_for_text(&m.bot.token, 501, "revoked").await;
    assert!(
        !m.tg.calls_to(&m.bot.token, "banChatMember").is_empty()
            || !m.tg.calls_to(&m.bot.token, "unbanChatMember").is_empty(),
        "removed from the channel"
    );
    // Revoking twice is refused.
    let again =
        m.w.post_form(&format!("/projects/{pid}/members/{sub}/revoke"), &[])
            .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

#[tokio::test]
async fn web_overview_charts_redemptions_per_day_for_the_last_30_days() {
    let mut m = members_setup().await;
    let pid = m.pid.clone();
    let today = m.app.ctx.now().format("%Y-%m-%d").to_string();
    let page = m.w.get(&format!("/projects/{pid}")).await;
    assert_contains(&page.body, r#"<strong id="redemptions-total">2</strong>"#);
    assert!(
        page.body.contains(&format!(
            r#"data-day="{today}" data-count="2"><title>{today}: 2</title>"#
        )),
        "one bar for today, as tall as the chart: {}",
        page.body
    );
    assert_contains(&page.body, r#"y="0" width="8" height="100""#);
    // The text alternative: an aria-label and a table.
    assert_contains(
        &page.body,
        r#"role="img" aria-label="Redemptions per day from "#,
    );
    assert_contains(&page.body, ": 2 in total, at most 2 on one day");
    assert_contains(&page.body, &format!("<tr><td>{today}</td><td>2</td></tr>"));
    // 29 days later today's redemptions are still in the window; a day after, they are not.
    m.app.clock.advance(Duration::days(29));
    let mut w = m.app.web_login(&m.c.email).await;
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(&page.body, r#"<strong id="redemptions-total">2</strong>"#);
    assert!(
        page.body
            .contains(&format!("<tr><td>{today}</td><td>2</td></tr>"))
    );
    m.app.clock.advance(Duration::days(1));
    let mut w = m.app.web_login(&m.c.email).await;
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(&page.body, r#"<strong id="redemptions-total">0</strong>"#);
    assert_contains(&page.body, "No redemptions in the last 30 days.");
}

#[tokio::test]
async fn web_another_tenant_gets_not_found_for_bot_members_and_revoke() {
    let mut m = members_setup().await;
    let pid = m.pid.clone();
    let page = m.w.get(&format!("/projects/{pid}/members")).await;
    let sub = sub_id_of(&page.body, "ann502");

    let other = m.app.signup().await;
    let mut x = m.app.web_login(&other.email).await;
    let fb = m.tg.add_bot();
    for path in [
        format!("/projects/{pid}/members"),
        format!("/projects/{pid}/members/{sub}/revoke"),
        format!("/projects/{pid}/bot/disconnect"),
    ] {
        let r = x.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "GET {path}: {}", r.body);
    }
    for (path, fields) in [
        (format!("/projects/{pid}/members/{sub}/revoke"), vec![]),
        (format!("/projects/{pid}/bot/disconnect"), vec![]),
        (format!("/projects/{pid}/bot/owner-link"), vec![]),
        (
            format!("/projects/{pid}/bot"),
            vec![("token", fb.token.as_str())],
        ),
    ] {
        let r = x.post_form(&path, &fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "POST {path}: {}", r.body);
    }
    // Nothing changed for the owner.
    let page = m.w.get(&format!("/projects/{pid}/members")).await;
    assert_eq!(
        page.body.matches(r#"data-status="active""#).count(),
        2,
        "{}",
        page.body
    );
    assert_eq!(api_bot_status(&m.app, &m.c, &pid).await, StatusCode::OK);
    // Their own project's id with the owner's subscription id is not found either.
    let mine = project_id(&m.app.create_project(&other).await);
    let r = x
        .get(&format!("/projects/{mine}/members/{sub}/revoke"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
