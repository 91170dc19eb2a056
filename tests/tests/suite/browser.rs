//! End to end in headless Chromium: a creator signs up, creates a project, connects a bot
//! (fake Telegram), creates a plan, generates 30 codes, watches the batch finish and exports the CSV; staff find a tenant and
//! suspend it, and the creator sees the suspension. Screenshots of each main page go to
//! `target/screenshots/`.
use domain::accounts::{self, Principal, StaffRole};
use fantoccini::{Client, Locator};
use gatehouse_tests::{
    Backend, TestApp,
    browser::{click, fill, html, screenshot, wait_for, with_browser},
    factories::{PASSWORD, unique_email},
    telegram::{ConnectedBot, updates},
};
use reqwest::StatusCode;

async fn tenant_of(app: &TestApp, email: &str) -> uuid::Uuid {
    let s = accounts::login(
        &app.ctx,
        email,
        PASSWORD,
        std::net::Ipv4Addr::LOCALHOST.into(),
    )
    .await
    .expect("login");
    match accounts::authenticate(&app.ctx, &s.token)
        .await
        .expect("principal")
    {
        Principal::Creator(t) => t.tenant_id,
        Principal::Staff(_) => panic!("not a creator"),
    }
}

/// Fetches a link of the page with the browser's cookies (downloads are not shown by
/// headless Chromium, so the test reads the file the link serves).
async fn download(app: &TestApp, c: &Client, href: &str) -> (StatusCode, String) {
    let cookies = c.get_all_cookies().await.expect("cookies");
    let header = cookies
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let url = if href.starts_with("http") {
        href.to_string()
    } else {
        app.url(href)
    };
    let resp = reqwest::Client::new()
        .get(url)
        .header(reqwest::header::COOKIE, header)
        .send()
        .await
        .expect("download");
    (resp.status(), resp.text().await.expect("csv body"))
}

async fn login(c: &Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/login")).await.expect("login page");
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "button[type=submit]").await;
}

#[tokio::test]
async fn browser_creator_generates_30_codes_and_exports_them() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let email = unique_email("browser");
    with_browser(|c| async move {
        // Sign up.
        c.goto(&app.url("/signup")).await.expect("signup page");
        screenshot(&c, "01-signup").await;
        fill(&c, "#workspace", "Browser Books").await;
        fill(&c, "#email", &email).await;
        fill(&c, "#password", PASSWORD).await;
        click(&c, "button[type=submit]").await;
        wait_for(&c, "#name").await;
        assert!(html(&c).await.contains("No projects yet"));
        screenshot(&c, "02-projects-empty").await;

        // A project.
        fill(&c, "#name", "Readers Club").await;
        click(&c, "main button[type=submit]").await;
        wait_for(&c, "#bot").await;
        let project_url = c.current_url().await.expect("url").to_string();
        let pid = project_url.rsplit('/').next().unwrap().to_string();

        // Connect a bot (fake Telegram): a wrong token is refused next to the field first.
        fill(&c, "#token", "123:wrong").await;
        click(&c, "#bot form button[type=submit]").await;
        let err = wait_for(&c, "#token-error").await.text().await.unwrap();
        assert!(
            err.contains("Telegram does not accept this bot token"),
            "{err}"
        );
        screenshot(&c, "05a-bot-token-error").await;
        let fb = tg.add_bot();
        fill(&c, "#token", &fb.token).await;
        click(&c, "#bot form button[type=submit]").await;
        wait_for(&c, "#owner-status").await;
        let status = c
            .find(Locator::Css("#bot-status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(status, format!("Connected: @{} (webhook)", fb.username));
        click(&c, "form[action$='/bot/owner-link'] button").await;
        let link = wait_for(&c, "#owner-link").await.text().await.unwrap();
        assert!(
            link.contains(&format!("https://t.me/{}?start=o_", fb.username)),
            "{link}"
        );
        screenshot(&c, "05b-bot-connected-owner-link").await;
        let hook = tg.webhook(&fb.token).expect("webhook set");
        let bot = ConnectedBot {
            id: hook["url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap(),
            project_id: pid.clone(),
            token: fb.token.clone(),
            telegram_id: fb.id,
            username: fb.username.clone(),
            secret: hook["secret_token"].as_str().map(str::to_string),
        };

        // A channel, then a plan that grants it.
        c.goto(&app.url(&format!("/projects/{pid}/channels")))
            .await
            .unwrap();
        fill(&c, "#title", "Readers VIP").await;
        fill(&c, "#telegram_chat_id", "-1001234567890").await;
        click(&c, "main form button[type=submit]").await;
        wait_for(&c, "table").await;
        screenshot(&c, "03-channels").await;
        c.goto(&app.url(&format!("/projects/{pid}/plans")))
            .await
            .unwrap();
        fill(&c, "#plan-name", "Monthly").await;
        fill(&c, "#price_minor", "999").await;
        fill(&c, "#currency", "USD").await;
        fill(&c, "#duration_days", "30").await;
        click(&c, "input[name=channel_ids]").await;
        click(&c, "main form[action$='/plans'] button[type=submit]").await;
        wait_for(&c, "table").await;
        let plans = html(&c).await;
        assert!(
            plans.contains("USD 9.99") && plans.contains("Readers VIP"),
            "{plans}"
        );
        screenshot(&c, "04-plans").await;
        c.goto(&project_url).await.unwrap();
        screenshot(&c, "05-project-overview").await;

        // 30 codes are beyond the Free plan's 5: the workspace is on Starter, as billing
        // or staff would set it.
        let tenant_id = tenant_of(&app, &email).await;
        app.set_billing_plan(tenant_id, "starter_monthly").await;

        c.goto(&app.url(&format!("/projects/{pid}/codes/new")))
            .await
            .unwrap();
        fill(&c, "#quantity", "30").await;
        click(&c, "input[name=expiry][value='1m']").await;
        screenshot(&c, "06-generate-form").await;
        click(&c, "#preview-button").await;
        let fee = wait_for(&c, "#preview-free").await.text().await.unwrap();
        assert_eq!(fee, "30");
        assert_eq!(
            c.find(Locator::Css("#preview-free-left"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "200"
        );
        assert_eq!(
            c.find(Locator::Css("#preview-overage"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "0"
        );
        screenshot(&c, "07-generate-preview").await;
        click(&c, "#consent").await;
        click(&c, "#confirm-button").await;

        // The batch page refreshes itself until the batch is done.
        wait_for(&c, "#batch-status").await;
        let mut status = String::new();
        for _ in 0..120 {
            status = match c.find(Locator::Css("#batch-status")).await {
                Ok(el) => el
                    .attr("data-status")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            if status == "done" || status == "failed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert_eq!(status, "done");
        screenshot(&c, "08-batch-done").await;
        let href = c
            .find(Locator::Css("#download-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .expect("download link");
        let (s, csv) = download(&app, &c, &href).await;
        assert_eq!(s, StatusCode::OK);
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(
            lines[0],
            "Access Code,Plan Name,Join Link,Expires At,Price,Currency,Started On,Ends On"
        );
        assert_eq!(lines.len(), 31, "header and 30 rows");
        assert!(lines[1..].iter().all(|l| l.contains(",Monthly,")));

        // A subscriber redeems the first code in the bot; members and the chart show it.
        let code = lines[1].split(',').next().unwrap();
        let s = app
            .post_update(
                &bot,
                &updates::message(1, 9_001, &format!("/start c_{code}")),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        tg.wait_for_text(&fb.token, 9_001, "Code accepted").await;
        c.goto(&app.url(&format!("/projects/{pid}/members")))
            .await
            .unwrap();
        wait_for(&c, "#members-table").await;
        assert!(html(&c).await.contains("(@ann9001)"));
        screenshot(&c, "08a-members").await;
        click(&c, "#members-table a[href$='/revoke']").await;
        wait_for(&c, "button.danger").await;
        screenshot(&c, "08b-revoke-confirm").await;
        c.goto(&project_url).await.unwrap();
        let total = wait_for(&c, "#redemptions-total")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(total, "1");
        screenshot(&c, "08c-project-overview-chart").await;
        c.goto(&app.url(&format!("/projects/{pid}/bot/disconnect")))
            .await
            .unwrap();
        wait_for(&c, "button.danger").await;
        screenshot(&c, "08d-bot-disconnect-confirm").await;

        // The code list and its export link.
        c.goto(&app.url(&format!("/projects/{pid}/codes")))
            .await
            .unwrap();
        wait_for(&c, "#codes-table").await;
        screenshot(&c, "09-codes-list").await;
        let export = c
            .find(Locator::Css("#export-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let (s, all) = download(&app, &c, &export).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(all.trim_start_matches('\u{feff}').lines().count(), 31);

        c.goto(&app.url("/billing")).await.unwrap();
        wait_for(&c, "#quota-meter").await;
        assert!(html(&c).await.contains("30 of 200 free codes used"));
        screenshot(&c, "10-billing").await;

        // Phone width: the same pages stay usable.
        c.set_window_size(390, 900).await.unwrap();
        c.goto(&app.url(&format!("/projects/{pid}/codes")))
            .await
            .unwrap();
        wait_for(&c, "#codes-table").await;
        screenshot(&c, "11-codes-list-phone").await;
    })
    .await;
}

#[tokio::test]
async fn browser_staff_suspends_a_tenant_and_the_creator_sees_it() {
    let app = TestApp::spawn().await;
    let creator = app.signup().await;
    app.project_with_plan(&creator).await;
    let staff = app.staff(StaffRole::Staff).await;
    with_browser(|c| async move {
        login(&c, &app, &staff.ctx.email).await;
        wait_for(&c, "#q").await;
        screenshot(&c, "20-staff-tenants").await;
        fill(&c, "#q", &creator.email).await;
        click(&c, "form[role=search] button[type=submit]").await;
        wait_for(&c, "#tenants-table").await;
        c.find(Locator::LinkText("Test Workspace"))
            .await
            .expect("tenant link")
            .click()
            .await
            .unwrap();
        wait_for(&c, "#suspend-form").await;
        screenshot(&c, "21-staff-tenant").await;
        fill(&c, "#suspend-reason", "Chargebacks under review").await;
        click(&c, "#suspend-form button[type=submit]").await;
        wait_for(&c, "#unsuspend-form").await;
        let page = html(&c).await;
        assert!(page.contains("The tenant is suspended."), "{page}");
        assert!(page.contains("Chargebacks under review"));
        screenshot(&c, "22-staff-tenant-suspended").await;
        c.goto(&app.url("/staff/audit")).await.unwrap();
        wait_for(&c, "#audit-table").await;
        assert!(html(&c).await.contains("tenant.suspended"));
        screenshot(&c, "23-staff-audit").await;
        click(&c, "header form button[type=submit]").await; // log out
        wait_for(&c, "#email").await;

        // The creator logs in and sees why.
        login(&c, &app, &creator.email).await;
        let banner = wait_for(&c, "#suspended-banner").await;
        let text = banner.text().await.unwrap();
        assert!(text.contains("suspended"), "{text}");
        assert!(text.contains("Chargebacks under review"), "{text}");
        screenshot(&c, "24-creator-suspended").await;
    })
    .await;
}

/// Escapes text for the pictured conversation.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

/// A subscriber's first conversation with a creator's bot, pictured in Chromium for the
/// README (`target/screenshots/bot-conversation.png`): `/start`, a code by its deep link,
/// `/my`. What is pictured is what the fake Bot API received, so the picture cannot drift
/// from the product; and every message the bot sent in it has a way forward — a button or
/// a command to type.
#[tokio::test]
async fn browser_pictures_a_subscriber_conversation_with_the_bot() {
    use gatehouse_tests::factories::{BotProject, gold_plan};
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .channel(-1_001_234_567_890)
        .plan(gold_plan())
        .build()
        .await;
    let user = 777;
    let code = s.codes(1, serde_json::json!({})).await.remove(0);
    let said = [
        "/start".to_string(),
        format!("/start c_{code}"),
        "/my".into(),
    ];
    let mut turns: Vec<(String, Vec<serde_json::Value>)> = vec![];
    for text in &said {
        let before = s.texts_to(user).len();
        s.say(user, text).await;
        let mut answered = vec![];
        for _ in 0..200 {
            answered =
                s.tg.calls_to(&s.bot.token, "sendMessage")
                    .into_iter()
                    .filter(|c| c.params["chat_id"].as_i64() == Some(user))
                    .skip(before)
                    .map(|c| c.params)
                    .collect();
            if !answered.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!answered.is_empty(), "the bot did not answer {text:?}");
        // A message that follows the first one (a notice after a reply) may still be on its
        // way; give it a moment so the picture is whole.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let answered =
            s.tg.calls_to(&s.bot.token, "sendMessage")
                .into_iter()
                .filter(|c| c.params["chat_id"].as_i64() == Some(user))
                .skip(before)
                .map(|c| c.params)
                .collect();
        turns.push((text.clone(), answered));
    }

    let mut page = String::from(
        "<!doctype html><meta charset=utf-8><style>body{font:15px system-ui,sans-serif;background:#dfe8d4;margin:0;padding:16px;width:560px}\
         .u,.b{max-width:80%;padding:8px 12px;border-radius:12px;margin:6px 0;box-shadow:0 1px 1px #0002}\
         .u{background:#e2ffc7;margin-left:auto;width:fit-content}.b{background:#fff}\
         .k{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}.k span{flex:1 1 45%;text-align:center;background:#5a8fbb;color:#fff;border-radius:6px;padding:6px;font-size:13px}\
         h1{font-size:15px;margin:0 0 8px;color:#333}</style><h1>@",
    );
    page.push_str(&escape(&s.bot.username));
    page.push_str("</h1>");
    for (text, answers) in &turns {
        page.push_str(&format!("<div class=u>{}</div>", escape(text)));
        for a in answers {
            let body = a["text"].as_str().unwrap_or("");
            let buttons: Vec<String> = a["reply_markup"]["inline_keyboard"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["text"].as_str().map(str::to_owned))
                .collect();
            let names_a_command = body.split_whitespace().any(|w| {
                w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/')
                    .starts_with('/')
            });
            assert!(
                !buttons.is_empty() || names_a_command,
                "a message without a way forward (no button, no command): {body:?}"
            );
            let text = if a["parse_mode"].as_str() == Some("HTML") {
                body.replace('\n', "<br>")
            } else {
                escape(body)
            };
            page.push_str(&format!("<div class=b>{text}"));
            if !buttons.is_empty() {
                page.push_str("<div class=k>");
                for b in buttons {
                    page.push_str(&format!("<span>{}</span>", escape(&b)));
                }
                page.push_str("</div>");
            }
            page.push_str("</div>");
        }
    }
    let url = format!(
        "data:text/html;charset=utf-8;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &page)
    );
    with_browser(|c| async move {
        c.set_window_size(620, 900).await.expect("window size");
        c.goto(&url).await.expect("the pictured conversation");
        let shown = html(&c).await;
        assert!(shown.contains("/my"), "the page shows the conversation");
        screenshot(&c, "bot-conversation").await;
    })
    .await;
}
