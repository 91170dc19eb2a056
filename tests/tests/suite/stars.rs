//! Telegram Stars, through the surfaces users touch: the bot's webhook (`/start` → "Buy for
//! N ⭐" → invoice → `pre_checkout_query` → `successful_payment` → access link → join request),
//! `/my`'s "Cancel renewal", the API's payments, refunds and revenue, and the worker's
//! reconciliation of Star transactions whose update never arrived. Bad input: forged and
//! replayed payloads, another user's invoice, a changed price, a plan turned off, a suspended
//! tenant, duplicate (also parallel) `successful_payment`, refunding twice.
use chrono::{Duration, Utc};
use gatehouse_tests::{Backend, app::assert_error, stars::*, telegram::updates};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_plan_is_bought_end_to_end_renewed_its_renewal_cancelled_and_refunded() {
    let s = setup(30, 250, &[]).await;
    let user = 4_242;

    // /start offers the plan for Stars beside "Redeem a code".
    s.say(user, "/start").await;
    let welcome = s.tg.wait_for_text(&s.bot.token, user, "Plans:").await;
    let buttons = welcome.params["reply_markup"]["inline_keyboard"].to_string();
    assert!(buttons.contains("Buy for 250 ⭐"), "{buttons}");
    assert!(buttons.contains(&format!("buy:{}", s.plan)), "{buttons}");
    assert!(buttons.contains("Redeem a code"), "{buttons}");

    // A 30-day plan is a Stars subscription: an invoice link renewed every 30 days.
    let inv = buy(&s, user, "createInvoiceLink").await;
    assert_eq!(inv["currency"], "XTR");
    assert_eq!(inv["subscription_period"], 2_592_000);
    assert_eq!(inv["provider_token"], "");
    assert_eq!(inv["prices"].as_array().unwrap().len(), 1);
    assert_eq!(inv["prices"][0]["amount"], 250);
    let payload = inv["payload"].as_str().unwrap().to_string();
    assert!(payload.len() <= 128, "{payload}");
    let offer = s.reply(user, "250 ⭐ a month").await;
    assert!(offer.contains("Gold"), "{offer}");

    let ok = pre_checkout(&s, user, &payload, 250).await;
    assert_eq!(ok["ok"], true, "{ok}");

    let expires = (Utc::now() + Duration::days(30)).timestamp();
    pay(&s, user, &payload, 250, "charge-1", Some((true, expires))).await;
    let (paid, buttons) = s.reply_with_buttons(user, "Payment received").await;
    assert!(
        buttons
            .iter()
            .any(|(t, url)| t.starts_with("Join ") && url.starts_with("https://t.me/+fake")),
        "the access link as a Join button: {paid} {buttons:?}"
    );
    s.reply(OWNER, "New payment").await;

    // The link's join request is approved for the payer.
    assert_eq!(
        s.join_request(s.next_update_id(), user).await,
        StatusCode::OK
    );
    let approved =
        s.tg.wait_for(
            &s.bot.token,
            "approveChatJoinRequest",
            1,
            std::time::Duration::from_secs(10),
        )
        .await;
    assert_eq!(approved[0].params["user_id"], user);

    let list = payments(&s).await;
    let first = payment(&list, "charge-1").clone();
    assert_eq!(first["amount"], 250);
    assert_eq!(first["currency"], "XTR");
    assert_eq!(first["status"], "paid");
    assert_eq!(first["recorded_by"], "update");
    assert_eq!(first["is_recurring"], true);
    let sid = first["subscription_id"].as_str().unwrap().to_string();
    let sub = subscription(&s, &sid).await;
    assert_eq!(sub["source"], "payment");
    assert_eq!(sub["status"], "active");
    let first_end = time(&sub["ends_at"]);
    assert!(close(first_end, Utc::now() + Duration::days(30)), "{sub}");

    // Telegram renews it once: the same subscription is extended by 30 days.
    pay(
        &s,
        user,
        &payload,
        250,
        "charge-2",
        Some((false, expires + 2_592_000)),
    )
    .await;
    s.reply(user, "is extended").await;
    let sub = subscription(&s, &sid).await;
    assert_eq!(time(&sub["ends_at"]), first_end + Duration::days(30));
    assert_eq!(payments(&s).await.len(), 2);

    // /my offers "Cancel renewal"; pressing it tells Telegram, and the offer goes away.
    s.say(user, "/my").await;
    let my =
        s.tg.wait_for_text(&s.bot.token, user, "Renews monthly")
            .await;
    let data = format!("nr:{sid}");
    assert!(
        my.params["reply_markup"].to_string().contains(&data),
        "{:?}",
        my.params
    );
    s.press(user, &data).await;
    s.reply(user, "Renewal cancelled").await;
    let edit = s.tg.calls_to(&s.bot.token, "editUserStarSubscription");
    assert_eq!(edit.len(), 1);
    assert_eq!(edit[0].params["user_id"], user);
    assert_eq!(edit[0].params["telegram_payment_charge_id"], "charge-1");
    assert_eq!(edit[0].params["is_canceled"], true);
    let before = s.texts_to(user).len();
    s.say(user, "/my").await;
    s.replies(user, "Your subscriptions", 2).await;
    let last =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .rfind(|c| c.params["chat_id"] == user)
            .unwrap();
    assert!(s.texts_to(user).len() > before);
    assert!(
        !last.params["reply_markup"].to_string().contains("nr:"),
        "{:?}",
        last.params
    );
    // The subscription runs to its end.
    assert_eq!(subscription(&s, &sid).await["status"], "active");

    // Refunding the renewal takes exactly its 30 days away; the user keeps the first month.
    let renewal_id = payment(&payments(&s).await, "charge-2")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = api(
        &s,
        Method::POST,
        &format!("/payments/{renewal_id}/refund"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "refunded");
    let refunds = s.tg.calls_to(&s.bot.token, "refundStarPayment");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].params["user_id"], user);
    assert_eq!(refunds[0].params["telegram_payment_charge_id"], "charge-2");
    let sub = subscription(&s, &sid).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["ends_at"]), first_end);
    s.reply(user, "A payment of yours was refunded").await;

    // Twice: 409 with a stable code, nothing changes, Telegram is not asked again.
    let again = api(
        &s,
        Method::POST,
        &format!("/payments/{renewal_id}/refund"),
        None,
    )
    .await;
    assert_error(
        &again,
        StatusCode::CONFLICT,
        "payment_already_refunded",
        None,
    );
    assert_eq!(s.tg.calls_to(&s.bot.token, "refundStarPayment").len(), 1);
    assert_eq!(time(&subscription(&s, &sid).await["ends_at"]), first_end);

    // Refunding the first payment too: nothing covers the user any more; they are removed.
    let first_id = first["id"].as_str().unwrap();
    let (st, b) = api(
        &s,
        Method::POST,
        &format!("/payments/{first_id}/refund"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(subscription(&s, &sid).await["status"], "revoked");
    let bans = s.calls("banChatMember", 1).await;
    assert_eq!(bans[0]["user_id"], user);
    assert_eq!(bans[0]["chat_id"], CHANNEL);

    // Each refund is audited once.
    let audited = s.audited("payment.refunded").await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn other_durations_get_a_one_time_invoice_and_bad_pre_checkouts_are_refused_clearly() {
    let s = setup(7, 100, &[]).await;
    let user = 5_151;
    s.say(user, "/start").await;
    s.reply(user, "Plans:").await;

    let inv = buy(&s, user, "sendInvoice").await;
    assert_eq!(inv["chat_id"], user);
    assert_eq!(inv["currency"], "XTR");
    assert_eq!(inv["provider_token"], "");
    assert_eq!(inv["prices"].as_array().unwrap().len(), 1);
    assert_eq!(inv["prices"][0]["amount"], 100);
    assert!(inv.get("subscription_period").is_none_or(Value::is_null));
    let payload = inv["payload"].as_str().unwrap().to_string();

    // `message` is a catalogue key; the payer's Telegram language is English.
    let refused = |a: &Value, message: &str| {
        assert_eq!(a["ok"], false, "{a}");
        let text = domain::i18n::t(domain::i18n::Lang::En, message);
        assert_eq!(a["error_message"], text.as_str(), "{a}");
    };
    // Forged: one character of the signature changed; or not ours at all.
    let mut forged = payload.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    refused(
        &pre_checkout(&s, user, &forged, 100).await,
        domain::payments::REFUSE_FORGED,
    );
    refused(
        &pre_checkout(&s, user, "p1.hello", 100).await,
        domain::payments::REFUSE_FORGED,
    );
    // Another user paying an invoice made for this one.
    refused(
        &pre_checkout(&s, 9_999, &payload, 100).await,
        domain::payments::REFUSE_FORGED,
    );
    // The price changed between invoice and payment.
    let (st, b) = api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"price_stars": 150})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    refused(
        &pre_checkout(&s, user, &payload, 100).await,
        domain::payments::REFUSE_PRICE,
    );
    api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"price_stars": 100})),
    )
    .await;
    assert_eq!(pre_checkout(&s, user, &payload, 100).await["ok"], true);
    // The plan turned off.
    api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"active": false})),
    )
    .await;
    refused(
        &pre_checkout(&s, user, &payload, 100).await,
        domain::payments::REFUSE_PLAN,
    );
    api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"active": true})),
    )
    .await;

    // Paid once: the same payload again is a replay.
    pay(&s, user, &payload, 100, "one-time-1", None).await;
    let (paid, buttons) = s.reply_with_buttons(user, "Payment received").await;
    assert!(
        buttons
            .iter()
            .any(|(t, url)| t.starts_with("Join ") && url.starts_with("https://t.me/+fake")),
        "{paid} {buttons:?}"
    );
    refused(
        &pre_checkout(&s, user, &payload, 100).await,
        domain::payments::REFUSE_USED,
    );
    let list = payments(&s).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["is_recurring"], false);
    assert!(list[0]["subscription_expires_at"].is_null());
    // A one-time purchase offers no renewal to cancel.
    s.say(user, "/my").await;
    let my =
        s.tg.wait_for_text(&s.bot.token, user, "Your subscriptions")
            .await;
    assert!(!my.params["reply_markup"].to_string().contains("nr:"));

    // A suspended tenant sells nothing.
    let fresh = invoice_payload(&s, user, "sendInvoice").await;
    let staff = s.app.staff(domain::accounts::StaffRole::Staff).await;
    domain::staff::suspend(&s.app.ctx, &staff.ctx, s.c.tenant_id, "review")
        .await
        .unwrap();
    refused(
        &pre_checkout(&s, user, &fresh, 100).await,
        domain::payments::REFUSE_PAUSED,
    );
}

#[tokio::test]
async fn a_plan_price_in_stars_is_validated_and_stars_can_be_switched_off() {
    let s = setup(7, 100, &[]).await;
    for bad in [0, 10_001, -5] {
        let got = api(
            &s,
            Method::PATCH,
            &format!("/plans/{}", s.plan),
            Some(json!({"price_stars": bad})),
        )
        .await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("price_stars"),
        );
        assert_eq!(
            got.1["error"]["fields"]["price_stars"]["code"], "out_of_range",
            "{}",
            got.1
        );
    }
    let (st, b) = api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"price_stars": 10_000})),
    )
    .await;
    assert_eq!(
        (st, &b["price_stars"]),
        (StatusCode::OK, &json!(10_000)),
        "{b}"
    );
    let (st, b) = api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"price_stars": null})),
    )
    .await;
    assert_eq!(
        (st, &b["price_stars"]),
        (StatusCode::OK, &Value::Null),
        "{b}"
    );
    let (st, b) = api(&s, Method::POST, "/plans", Some(json!({"name": "X", "price_minor": 0, "currency": "USD", "duration_days": 1, "price_stars": 20_000}))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // Without a Stars price there is no Buy button; with Stars off, none at all.
    s.say(1, "/start").await;
    let w = s.tg.wait_for_text(&s.bot.token, 1, "Plans:").await;
    assert!(!w.params["reply_markup"].to_string().contains("buy:"));
    api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"price_stars": 100})),
    )
    .await;
    api(&s, Method::PATCH, "", Some(json!({"stars_enabled": false}))).await;
    s.say(2, "/start").await;
    let w = s.tg.wait_for_text(&s.bot.token, 2, "Plans:").await;
    assert!(!w.params["reply_markup"].to_string().contains("buy:"));
    // An old Buy button is refused clearly.
    s.press(2, &format!("buy:{}", s.plan)).await;
    s.reply(2, "not accepted here").await;
    assert!(s.tg.calls_to(&s.bot.token, "sendInvoice").is_empty());
}

#[tokio::test]
async fn a_repeated_successful_payment_acts_once_also_when_delivered_in_parallel() {
    let s = setup(7, 100, &[]).await;
    let user = 6_161;
    let payload = invoice_payload(&s, user, "sendInvoice").await;
    assert_eq!(pre_checkout(&s, user, &payload, 100).await["ok"], true);

    // Twice in a row (two update ids: Telegram's or a reconciliation's second sight).
    pay(&s, user, &payload, 100, "dup-1", None).await;
    s.reply(user, "Payment received").await;
    pay(&s, user, &payload, 100, "dup-1", None).await;
    s.app.wait_idle().await;

    // Ten at once.
    let mut tasks = vec![];
    for _ in 0..10 {
        let upd =
            updates::successful_payment(s.next_update_id(), user, &payload, 100, "dup-2", None);
        let app = &s.app;
        let bot = &s.bot;
        tasks.push(async move { app.post_update(bot, &upd).await });
    }
    for st in futures::future::join_all(tasks).await {
        assert_eq!(st, StatusCode::OK);
    }
    s.app.wait_idle().await;

    let list = payments(&s).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let received = s
        .texts_to(user)
        .iter()
        .filter(|t| t.contains("Payment received"))
        .count();
    assert_eq!(received, 2, "{:?}", s.texts_to(user));
    // One subscription, extended once by the second charge: 14 days in all.
    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1);
    let sub = &subs[0];
    let length = time(&sub["ends_at"]) - time(&sub["starts_at"]);
    assert_eq!(length.num_days(), 14, "{sub}");
}

#[tokio::test]
async fn revenue_shows_exactly_paid_stars_and_priced_code_orders() {
    let s = setup(7, 250, &[]).await;
    // A zero-priced code order (the default: code orders are not priced).
    let codes = s.codes(3, json!({})).await;
    s.say(100, &format!("/start c_{}", codes[0])).await;
    s.reply(100, "Code accepted").await;
    // Code orders priced from now: a new subscription and an extension of it both count.
    let (st, b) = api(&s, Method::PATCH, "", Some(json!({"codes_priced": true}))).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.say(200, &format!("/start c_{}", codes[1])).await;
    s.reply(200, "Code accepted").await;
    s.say(200, &format!("/start c_{}", codes[2])).await;
    s.reply(200, "is extended").await;
    // Two Stars payments, one of them refunded.
    for (user, charge) in [(300, "rev-1"), (400, "rev-2")] {
        let payload = invoice_payload(&s, user, "sendInvoice").await;
        pay(&s, user, &payload, 250, charge, None).await;
        s.reply(user, "Payment received").await;
    }
    let refunded = payment(&payments(&s).await, "rev-2")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = api(
        &s,
        Method::POST,
        &format!("/payments/{refunded}/refund"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let (st, r) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        r["totals"],
        json!([{"currency": "USD", "amount": 3000}, {"currency": "XTR", "amount": 250}]),
        "{r}"
    );
    let today = Utc::now().date_naive().to_string();
    assert_eq!(
        r["days"],
        json!([
            {"day": today, "currency": "USD", "amount": 3000},
            {"day": today, "currency": "XTR", "amount": 250},
        ]),
        "{r}"
    );
    assert_eq!(
        r["plans"],
        json!([
            {"plan_id": s.plan, "plan_name": "Gold", "currency": "USD", "amount": 3000, "payments": 0, "code_orders": 2},
            {"plan_id": s.plan, "plan_name": "Gold", "currency": "XTR", "amount": 250, "payments": 1, "code_orders": 0},
        ]),
        "{r}"
    );
    // A window without them is empty; a backwards one is refused.
    let (st, r) = api(
        &s,
        Method::GET,
        "/revenue?from=2020-01-01&to=2020-01-31",
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["totals"], json!([]));
    let got = api(
        &s,
        Method::GET,
        "/revenue?from=2026-02-01&to=2026-01-01",
        None,
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("from"),
    );
    for q in [
        "from=0001-01-01&to=0001-01-31",
        "to=+262143-12-31",
        "from=1969-12-01&to=1970-01-01",
    ] {
        let got = api(&s, Method::GET, &format!("/revenue?{q}"), None).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {}", got.1);
    }
    let got = api(&s, Method::GET, "/revenue?from=yesterday", None).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);

    // Another tenant sees none of it.
    let other = s.app.signup().await;
    let got = s
        .app
        .as_creator(
            &other,
            Method::GET,
            &format!("/api/v1/projects/{}/revenue", s.pid),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
    let got = s
        .app
        .as_creator(
            &other,
            Method::POST,
            &format!("/api/v1/projects/{}/payments/{refunded}/refund", s.pid),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn the_worker_records_a_paid_charge_whose_update_never_arrived() {
    let s = setup(7, 100, &[("STARS_RECONCILE_SECS", "1")]).await;
    let user = 7_171;
    let payload = invoice_payload(&s, user, "sendInvoice").await;
    assert_eq!(pre_checkout(&s, user, &payload, 100).await["ok"], true);
    // Telegram charged the user, but the successful_payment update was lost.
    s.tg.record_star_payment(&s.bot.token, user, &payload, 100, "lost-1", None);
    // Someone else's payment to another bot's payload, and an unsigned one, are ignored.
    s.tg.record_star_payment(&s.bot.token, user, "p1.not-ours", 100, "foreign-1", None);

    let (paid, buttons) = s.reply_with_buttons(user, "Payment received").await;
    assert!(
        buttons
            .iter()
            .any(|(t, url)| t.starts_with("Join ") && url.starts_with("https://t.me/+fake")),
        "{paid} {buttons:?}"
    );
    let list = payments(&s).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["telegram_payment_charge_id"], "lost-1");
    assert_eq!(list[0]["recorded_by"], "reconciliation");
    assert_eq!(s.subscriptions().await[0]["status"], "active");

    // Reconciling again, or the late update arriving after all, records nothing twice.
    assert_eq!(domain::payments::reconcile(&s.app.ctx).await.unwrap(), 0);
    pay(&s, user, &payload, 100, "lost-1", None).await;
    s.app.wait_idle().await;
    assert_eq!(payments(&s).await.len(), 1);
    let sub_count = entity::payment::Entity::find()
        .filter(entity::payment::Column::ProjectId.eq(s.pid.parse::<Uuid>().unwrap()))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(sub_count, 1);
    assert_eq!(
        s.texts_to(user)
            .iter()
            .filter(|t| t.contains("Payment received"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_dashboard_lists_payments_refunds_one_and_charts_revenue() {
    use gatehouse_tests::web::{assert_contains, assert_redirect};
    let s = setup(7, 120, &[]).await;
    let user = 8_181;
    let payload = invoice_payload(&s, user, "sendInvoice").await;
    pay(&s, user, &payload, 120, "web-1", None).await;
    s.reply(user, "Payment received").await;
    let pid = s.pid.clone();
    let mut w = s.app.web_login(&s.c.email).await;

    // The plan form carries the Stars price; the settings carry the Stars toggle.
    let plans = w.get(&format!("/projects/{pid}/plans")).await;
    assert_contains(&plans.body, "120 ⭐");
    let overview = w.get(&format!("/projects/{pid}")).await;
    assert_contains(&overview.body, r#"name="stars_enabled" value="1" checked"#);
    let bad = w
        .post_form(
            &format!("/projects/{pid}/plans"),
            &[
                ("name", "Big"),
                ("price_minor", "0"),
                ("currency", "USD"),
                ("duration_days", "7"),
                ("price_stars", "99999"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_contains(&bad.body, r#"id="stars-error""#);

    let page = w.get(&format!("/projects/{pid}/payments")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_contains(&page.body, r#"class="revenue-total">120 ⭐</strong>"#);
    assert_contains(&page.body, r#"data-amount="120""#);
    assert_contains(
        &page.body,
        "<td>Gold</td><td>XTR</td><td>120 ⭐</td><td>1</td><td>0</td>",
    );
    let id = payments(&s).await[0]["id"].as_str().unwrap().to_string();
    assert_contains(&page.body, &format!("/projects/{pid}/payments/{id}/refund"));

    let confirm = w
        .get(&format!("/projects/{pid}/payments/{id}/refund"))
        .await;
    assert_contains(&confirm.body, "Refund this payment?");
    let r = w
        .post_form(&format!("/projects/{pid}/payments/{id}/refund"), &[])
        .await;
    assert_redirect(&r, &format!("/projects/{pid}/payments?notice=refunded"));
    let page = w
        .get(&format!("/projects/{pid}/payments?notice=refunded"))
        .await;
    assert_contains(&page.body, "Payment refunded.");
    assert_contains(&page.body, r#"data-status="refunded""#);
    assert_contains(&page.body, "No revenue in the last 30 days.");
    assert_eq!(s.tg.calls_to(&s.bot.token, "refundStarPayment").len(), 1);
    // A second refund (a stale form) is refused and changes nothing.
    let again = w
        .post_form(&format!("/projects/{pid}/payments/{id}/refund"), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(s.tg.calls_to(&s.bot.token, "refundStarPayment").len(), 1);
}

#[tokio::test]
async fn on_the_embedded_default_a_plan_is_bought_once_and_refunded() {
    let s = setup_on(Backend::Sqlite, 30, 75, &[]).await;
    let user = 9_191;
    let payload = invoice_payload(&s, user, "createInvoiceLink").await;
    assert_eq!(pre_checkout(&s, user, &payload, 75).await["ok"], true);
    let expires = (Utc::now() + Duration::days(30)).timestamp();
    pay(&s, user, &payload, 75, "lite-1", Some((true, expires))).await;
    s.reply(user, "Payment received").await;
    pay(&s, user, &payload, 75, "lite-1", Some((true, expires))).await;
    s.app.wait_idle().await;
    let list = payments(&s).await;
    assert_eq!(list.len(), 1);
    // Revenue is summed by SQLite too (its day bucketing is its own).
    let (st, r) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        r["totals"],
        json!([{"currency": "XTR", "amount": 75}]),
        "{r}"
    );
    assert_eq!(r["days"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["plans"][0]["payments"], 1, "{r}");
    let id = list[0]["id"].as_str().unwrap();
    let (st, b) = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(s.subscriptions().await[0]["status"], "revoked");
    let again = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_error(
        &again,
        StatusCode::CONFLICT,
        "payment_already_refunded",
        None,
    );
}

#[tokio::test]
async fn eight_refunds_of_one_payment_at_once_refund_it_once() {
    let s = setup(7, 100, &[]).await;
    let user = 6_262;
    let id = paid_once(&s, user, 100, "par-1").await;
    let c = s.app.relogin(&s.c).await;
    let path = format!("/api/v1/projects/{}/payments/{id}/refund", s.pid);
    let results =
        futures::future::join_all((0..8).map(|_| s.app.as_creator(&c, Method::POST, &path, None)))
            .await;
    let ok = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter(|r| r.0 != StatusCode::OK) {
        assert_error(r, StatusCode::CONFLICT, "payment_already_refunded", None);
    }
    assert_eq!(s.tg.calls_to(&s.bot.token, "refundStarPayment").len(), 1);
    assert_eq!(s.subscriptions().await[0]["status"], "revoked");
    let audited = s.audited("payment.refunded").await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_revoked_stars_subscriber_is_cancelled_in_telegram_and_a_late_renewal_is_refunded() {
    // Its own database: another test's reconciliation must not ask its Telegram about ours.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    let user = 3_131;
    let (payload, sid) = subscribe(&s, user, 250, "rv-1").await;

    // The creator revokes: Telegram stops the Stars subscription that renews into it.
    let (st, b) = api(
        &s,
        Method::POST,
        &format!("/subscriptions/{sid}/revoke"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let cancels = star_cancels(&s);
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["telegram_payment_charge_id"], "rv-1");
    assert_eq!(cancels[0]["user_id"], user);
    assert_eq!(cancels[0]["is_canceled"], true);

    // A renewal Telegram charged anyway (it was already under way) buys nothing: refunded at
    // once, the user told, still no access.
    let expires = (Utc::now() + Duration::days(60)).timestamp();
    pay(&s, user, &payload, 250, "rv-2", Some((false, expires))).await;
    let told = s.reply(user, "will not renew again").await;
    assert!(told.contains("250 ⭐ are refunded"), "{told}");
    assert!(told.contains("/start"), "{told}");
    let refunds = s.tg.calls_to(&s.bot.token, "refundStarPayment");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].params["telegram_payment_charge_id"], "rv-2");
    assert_eq!(refunds[0].params["user_id"], user);
    let list = payments(&s).await;
    assert_eq!(payment(&list, "rv-2")["status"], "refunded");
    assert_eq!(payment(&list, "rv-1")["status"], "paid");
    assert_eq!(subscription(&s, &sid).await["status"], "revoked");
    assert_eq!(
        s.texts_to(user)
            .iter()
            .filter(|t| t.contains("Payment received"))
            .count(),
        1,
        "only the first payment was received"
    );
    assert_eq!(
        s.join_request(s.next_update_id(), user).await,
        StatusCode::OK
    );
    s.tg.wait_for(
        &s.bot.token,
        "declineChatJoinRequest",
        1,
        std::time::Duration::from_secs(10),
    )
    .await;
    assert!(
        s.tg.calls_to(&s.bot.token, "approveChatJoinRequest")
            .is_empty()
    );
    // The same renewal delivered again does nothing twice.
    pay(&s, user, &payload, 250, "rv-2", Some((false, expires))).await;
    s.app.wait_idle().await;
    assert_eq!(s.tg.calls_to(&s.bot.token, "refundStarPayment").len(), 1);

    // Refunding a Stars subscription's payment cancels it in Telegram too.
    let other = 3_132;
    let (_, _) = subscribe(&s, other, 250, "rf-1").await;
    let id = payment(&payments(&s).await, "rf-1")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "refunded");
    let cancels = star_cancels(&s);
    assert!(
        cancels
            .iter()
            .any(|c| c["telegram_payment_charge_id"] == "rf-1" && c["is_canceled"] == true),
        "{cancels:?}"
    );
}

#[tokio::test]
async fn a_renewal_adds_the_30_days_telegram_charged_for_whatever_the_plan_says_later() {
    let s = setup(30, 250, &[]).await;
    let user = 3_232;
    let (payload, sid) = subscribe(&s, user, 250, "sp-1").await;
    let sub = subscription(&s, &sid).await;
    // Paid in Stars: the subscription says so.
    assert_eq!(sub["currency"], "XTR");
    assert_eq!(sub["price_minor"], 250);
    let first_end = time(&sub["ends_at"]);

    // The creator shortens the plan to one day; the renewal Telegram charges is still 30.
    let (st, b) = api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"duration_days": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let expires = (Utc::now() + Duration::days(60)).timestamp();
    pay(&s, user, &payload, 250, "sp-2", Some((false, expires))).await;
    s.reply(user, "is extended").await;
    let sub = subscription(&s, &sid).await;
    assert_eq!(time(&sub["ends_at"]), first_end + Duration::days(30));
    let list = payments(&s).await;
    assert_eq!(payment(&list, "sp-2")["bought_secs"], 2_592_000);
    assert_eq!(payment(&list, "sp-2")["is_first_recurring"], false);
    assert_eq!(payment(&list, "sp-1")["is_first_recurring"], true);

    // Refunding the renewal takes its 30 days away, not the plan's one day.
    let id = payment(&list, "sp-2")["id"].as_str().unwrap().to_string();
    let (st, b) = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        time(&subscription(&s, &sid).await["ends_at"]),
        first_end,
        "the first month stays"
    );
}

#[tokio::test]
async fn cancel_renewal_stops_the_latest_stars_subscription_not_the_first() {
    let s = setup(30, 250, &[]).await;
    let user = 3_333;
    let (_, sid) = subscribe(&s, user, 250, "cr-1").await;
    // The first Stars subscription lapsed in Telegram (a renewal failed); the user subscribes
    // again, which extends the same subscription.
    let (_, sid2) = subscribe(&s, user, 250, "cr-2").await;
    assert_eq!(sid, sid2);
    s.say(user, "/my").await;
    s.tg.wait_for_text(&s.bot.token, user, "Renews monthly")
        .await;
    s.press(user, &format!("nr:{sid}")).await;
    s.reply(user, "Renewal cancelled").await;
    let cancels = star_cancels(&s);
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["telegram_payment_charge_id"], "cr-2");
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_is_finished_by_reconciliation() {
    use gatehouse_tests::fake_telegram::Fault;
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(7, 100, &[("DATABASE_URL", &db)]).await;
    let user = 3_434;
    let id = paid_once(&s, user, 100, "lost-r1").await;

    // Telegram refunds, but every answer is lost (the sender's retries included).
    s.tg.fail_next(Some("refundStarPayment"), 4, Fault::AnswerLost(502));
    let (st, b) = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        b["status"],
        "refunding",
        "{b} {:?}",
        s.tg.calls_to(&s.bot.token, "refundStarPayment")
            .iter()
            .map(|c| c.status)
            .collect::<Vec<_>>()
    );
    // Not final yet: the buyer keeps access until Telegram confirms.
    assert_eq!(s.subscriptions().await[0]["status"], "active");
    // A second refund is refused; Telegram is not asked again by it.
    let asked = s.tg.calls_to(&s.bot.token, "refundStarPayment").len();
    let again = api(&s, Method::POST, &format!("/payments/{id}/refund"), None).await;
    assert_error(
        &again,
        StatusCode::CONFLICT,
        "payment_already_refunded",
        None,
    );
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "refundStarPayment").len(),
        asked
    );

    // Reconciliation leaves a refund just claimed to its request...
    domain::payments::reconcile(&s.app.ctx).await.unwrap();
    assert_eq!(payments(&s).await[0]["status"], "refunding");
    // ...and a minute on asks again: CHARGE_ALREADY_REFUNDED is the answer, and it is final.
    s.app.clock.advance(Duration::minutes(2));
    domain::payments::reconcile(&s.app.ctx).await.unwrap();
    let list = payments(&s).await;
    assert_eq!(list[0]["status"], "refunded", "{list:?}");
    assert_eq!(s.subscriptions().await[0]["status"], "revoked");
    let bans = s.calls("banChatMember", 1).await;
    assert_eq!(bans[0]["user_id"], user);
    s.reply(user, "Your payment was refunded").await;
    // Once: a later run has nothing to finish.
    domain::payments::reconcile(&s.app.ctx).await.unwrap();
    let audited = s.audited("payment.refunded").await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_thousand_and_one_payments_are_listed_and_the_oldest_refunded_from_the_dashboard() {
    use gatehouse_tests::web::{assert_contains, assert_redirect};
    use sea_orm::{EntityTrait, Set};
    let s = setup(7, 100, &[]).await;
    let user = 3_535;
    let payload = invoice_payload(&s, user, "sendInvoice").await;
    pay(&s, user, &payload, 100, "many-0", None).await;
    s.reply(user, "Payment received").await;
    let first = payments(&s).await.remove(0);
    let pid: Uuid = s.pid.parse().unwrap();
    let sub_id: Uuid = first["subscriber_id"].as_str().unwrap().parse().unwrap();
    let plan_id: Uuid = s.plan.parse().unwrap();
    // A thousand more, as a busy project's ledger would hold (written directly: the bot's
    // pacing would make a thousand confirmations take minutes).
    let now = Utc::now();
    let rows: Vec<entity::payment::ActiveModel> = (1..=1_000)
        .map(|i| entity::payment::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(s.c.tenant_id),
            project_id: Set(pid),
            plan_id: Set(plan_id),
            subscriber_id: Set(sub_id),
            subscription_id: Set(None),
            amount: Set(100),
            currency: Set("XTR".into()),
            telegram_payment_charge_id: Set(format!("many-{i}-{}", Uuid::now_v7())),
            invoice_payload: Set(format!("p1.many.{i}")),
            is_recurring: Set(false),
            is_first_recurring: Set(false),
            subscription_expires_at: Set(None),
            renewal_canceled: Set(false),
            status: Set(entity::payment::PaymentStatus::Paid),
            recorded_by: Set(entity::payment::RecordedBy::Update),
            added_from: Set(now),
            added_until: Set(Some(now)),
            bought_secs: Set(Some(0)),
            paid_at: Set(now),
            refunded_at: Set(None),
            confirmed_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(200) {
        entity::payment::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&s.app.ctx.db)
            .await
            .unwrap();
    }
    let all = payments(&s).await;
    assert_eq!(all.len(), 1_001);
    let oldest = all.last().unwrap();
    assert_eq!(oldest["telegram_payment_charge_id"], "many-0");
    let mut ids: Vec<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1_001, "no payment listed twice");
    let (st, one) = api(
        &s,
        Method::GET,
        &format!("/payments/{}", first["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{one}");
    assert_eq!(one["telegram_payment_charge_id"], "many-0");

    // The dashboard pages too, and refunds the oldest by its id.
    let id = oldest["id"].as_str().unwrap().to_string();
    let mut w = s.app.web_login(&s.c.email).await;
    let page = w.get(&format!("/projects/{}/payments", s.pid)).await;
    assert_contains(&page.body, "Older payments");
    let confirm = w
        .get(&format!("/projects/{}/payments/{id}/refund", s.pid))
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_contains(&confirm.body, "Refund this payment?");
    let r = w
        .post_form(&format!("/projects/{}/payments/{id}/refund", s.pid), &[])
        .await;
    assert_redirect(&r, &format!("/projects/{}/payments?notice=refunded", s.pid));
    let refunds = s.tg.calls_to(&s.bot.token, "refundStarPayment");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].params["telegram_payment_charge_id"], "many-0");
    assert_eq!(s.subscriptions().await[0]["status"], "revoked");
}

#[tokio::test]
async fn revenue_over_a_hundred_thousand_priced_code_orders_answers() {
    use sea_orm::ConnectionTrait;
    let s = setup(7, 250, &[]).await;
    // Prices are bounded, so sums of millions of them stay inside 64 bits.
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            &format!("/api/v1/projects/{}/plans", s.pid),
            Some(json!({"name": "Dear", "price_minor": 1_000_000_000_001_i64, "currency": "USD", "duration_days": 7})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("out_of_range"), "{b}");

    let code = s.codes(1, json!({})).await.remove(0);
    s.say(100, &format!("/start c_{code}")).await;
    s.reply(100, "Code accepted").await;
    let sub = s.subscriptions().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code_id = entity::access_code::Entity::find()
        .filter(entity::access_code::Column::Code.eq(code.as_str()))
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    // 100,000 priced code orders of 1.50 USD today, written in bulk.
    let at = s.app.ctx.now().to_rfc3339();
    let (tenant, pid) = (s.c.tenant_id, &s.pid);
    let db = &s.app.ctx.db;
    db.execute_unprepared(&format!(
        "INSERT INTO subscribers (id, tenant_id, project_id, telegram_user_id, username, first_name, created_at) \
         SELECT gen_random_uuid(), '{tenant}', '{pid}', 50000000 + g, NULL, 'Bulk', '{at}'::timestamptz \
         FROM generate_series(1, 100000) g"
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO activations (id, tenant_id, access_code_id, subscriber_id, subscription_id, at, price_minor) \
         SELECT gen_random_uuid(), '{tenant}', '{code_id}', id, '{sub}', '{at}'::timestamptz, 150 \
         FROM subscribers WHERE project_id = '{pid}' AND telegram_user_id > 50000000"
    ))
    .await
    .unwrap();

    let started = std::time::Instant::now();
    let (st, r) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    eprintln!("revenue over 100,000 activations: {:?}", started.elapsed());
    assert_eq!(
        r["totals"],
        json!([{"currency": "USD", "amount": 15_000_000}]),
        "{r}"
    );
    let plans = r["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{r}");
    assert_eq!(plans[0]["code_orders"], 100_000);
    assert_eq!(plans[0]["payments"], 0);
    let days = r["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{r}");
    assert_eq!(days[0]["amount"], 15_000_000);
}

#[tokio::test]
async fn deleting_a_project_cancels_its_renewing_stars_subscriptions_first() {
    use gatehouse_tests::fake_telegram::Fault;
    use gatehouse_tests::web::assert_contains;
    let s = setup(30, 250, &[]).await;
    let user = 3_636;
    subscribe(&s, user, 250, "del-1").await;

    // The dashboard's disconnect confirmation says what will be cancelled.
    let mut w = s.app.web_login(&s.c.email).await;
    let confirm = w.get(&format!("/projects/{}/bot/disconnect", s.pid)).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_contains(
        &confirm.body,
        "1 Telegram Stars subscription renews monthly",
    );

    // Telegram cannot cancel it: nothing is deleted, the creator is told why.
    s.tg.fail_next(Some("editUserStarSubscription"), 1, Fault::BadRequest);
    let r = s
        .app
        .as_creator(
            &s.c,
            Method::DELETE,
            &format!("/api/v1/projects/{}", s.pid),
            None,
        )
        .await;
    assert_error(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "stars_renewals_not_cancelled",
        None,
    );
    let (st, _) = api(&s, Method::GET, "", None).await;
    assert_eq!(st, StatusCode::OK, "the project is still there");
    assert!(s.tg.webhook(&s.bot.token).is_some());

    // Another process has the bot loaded (it handled an update).
    let second = gatehouse_tests::TestApp::spawn().await;
    let hello = updates::message(s.next_update_id(), 3_637, "/help");
    assert_eq!(second.post_update(&s.bot, &hello).await, StatusCode::OK);

    // Again: cancelled in Telegram, then the webhook removed and the project deleted.
    let r = s
        .app
        .as_creator(
            &s.c,
            Method::DELETE,
            &format!("/api/v1/projects/{}", s.pid),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT, "{}", r.1);
    let cancels = star_cancels(&s);
    assert!(
        cancels
            .iter()
            .any(|c| c["telegram_payment_charge_id"] == "del-1"
                && c["is_canceled"] == true
                && s.tg
                    .calls_to(&s.bot.token, "editUserStarSubscription")
                    .last()
                    .map(|l| l.status)
                    == Some(200)),
        "{cancels:?}"
    );
    assert!(
        s.tg.webhook(&s.bot.token).is_none(),
        "the webhook is removed"
    );
    // Every process forgets the bot: its updates are refused, here and in the other process.
    let late = updates::message(s.next_update_id(), 3_637, "/help");
    assert_eq!(
        s.app.post_update(&s.bot, &late).await,
        StatusCode::NOT_FOUND
    );
    let mut refused = false;
    for _ in 0..100 {
        let late = updates::message(s.next_update_id(), 3_637, "/help");
        if second.post_update(&s.bot, &late).await == StatusCode::NOT_FOUND {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the other process still serves the deleted project's bot"
    );
}

#[tokio::test]
async fn a_payment_confirmation_is_never_lost() {
    use gatehouse_tests::fake_telegram::Fault;
    let s = setup(7, 100, &[]).await;
    // Confirmations Telegram accepted (failed attempts are recorded by the fake too).
    let received = |user: i64| {
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .iter()
            .filter(|c| {
                c.status == 200
                    && c.params["chat_id"].as_i64() == Some(user)
                    && c.params["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Payment received"))
            })
            .count()
    };

    // The access link cannot be made (Telegram fails): the payer still hears, with a way on.
    let user = 3_737;
    let payload = invoice_payload(&s, user, "sendInvoice").await;
    s.tg.fail_next(Some("createChatInviteLink"), 1, Fault::BadRequest);
    pay(&s, user, &payload, 100, "conf-1", None).await;
    let told = s.reply(user, "Payment received").await;
    assert!(told.contains("send /my"), "{told}");

    // Every message fails for a while (the owner's notice, then the payer's confirmation):
    // the payment is recorded but its confirmation lost...
    let other = 3_738;
    let payload = invoice_payload(&s, other, "sendInvoice").await;
    s.tg.fail_next(Some("sendMessage"), 2, Fault::BadRequest);
    pay(&s, other, &payload, 100, "conf-2", None).await;
    s.app.wait_idle().await;
    for _ in 0..400 {
        if s.tg
            .calls_to(&s.bot.token, "sendMessage")
            .iter()
            .filter(|c| c.status == 400)
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.app.wait_idle().await;
    assert_eq!(received(other), 0);
    assert_eq!(payment(&payments(&s).await, "conf-2")["status"], "paid");
    // ...and Telegram delivering the update again sends it, once.
    pay(&s, other, &payload, 100, "conf-2", None).await;
    s.reply(other, "Payment received").await;
    pay(&s, other, &payload, 100, "conf-2", None).await;
    s.app.wait_idle().await;
    assert_eq!(received(other), 1);
    assert_eq!(payments(&s).await.len(), 2);
}

#[tokio::test]
async fn reconciliation_passes_over_a_charge_it_cannot_record_and_covers_stars_switched_off() {
    use sea_orm::{ColumnTrait, QueryFilter};
    // Its own database: reconciliation reads every bot's ledger.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    let pid: Uuid = s.pid.parse().unwrap();
    // A charge whose subscriber is gone cannot be recorded.
    let gone = 3_838;
    let bad = invoice_payload(&s, gone, "createInvoiceLink").await;
    entity::subscriber::Entity::delete_many()
        .filter(entity::subscriber::Column::ProjectId.eq(pid))
        .filter(entity::subscriber::Column::TelegramUserId.eq(gone))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    s.tg.record_star_payment(&s.bot.token, gone, &bad, 250, "bad-1", Some(2_592_000));
    // A subscriber renewing monthly; then the creator switches Stars off.
    let user = 3_839;
    let (payload, sid) = subscribe(&s, user, 250, "rc-1").await;
    let (st, b) = api(&s, Method::PATCH, "", Some(json!({"stars_enabled": false}))).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Telegram renews it, but the update is lost.
    s.tg.record_star_payment(&s.bot.token, user, &payload, 250, "rc-2", Some(2_592_000));

    // The bad charge comes first in the ledger; the renewal after it is still recorded.
    assert_eq!(domain::payments::reconcile(&s.app.ctx).await.unwrap(), 1);
    let list = payments(&s).await;
    assert_eq!(payment(&list, "rc-2")["recorded_by"], "reconciliation");
    assert_eq!(payment(&list, "rc-2")["subscription_id"], sid.as_str());
    assert!(
        list.iter()
            .all(|p| p["telegram_payment_charge_id"] != "bad-1")
    );
    // And again, without failing on it.
    assert_eq!(domain::payments::reconcile(&s.app.ctx).await.unwrap(), 0);
}

/// Telegram's `subscription` update (Bot API 10.2, `BotSubscriptionUpdated`).
fn subscription_update(update_id: i64, user: i64, payload: &str, state: &str) -> Value {
    json!({
        "update_id": update_id,
        "subscription": {
            "user": updates::user(user),
            "invoice_payload": payload,
            "state": state,
        }
    })
}

/// Posts Telegram's `subscription` update for `payload` from `from` to the bot.
async fn tell(s: &gatehouse_tests::factories::BotProject, from: i64, payload: &str, state: &str) {
    let upd = subscription_update(s.next_update_id(), from, payload, state);
    assert_eq!(s.app.post_update(&s.bot, &upd).await, StatusCode::OK);
}

/// The texts of the callback buttons of the latest message to `user` containing `needle`.
async fn buttons_of(
    s: &gatehouse_tests::factories::BotProject,
    user: i64,
    needle: &str,
) -> Vec<String> {
    let call = s.tg.wait_for_text(&s.bot.token, user, needle).await;
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn telegram_subscription_updates_keep_the_renewal_and_its_wording_true() {
    let s = setup(30, 250, &[]).await;
    let user = 8_181;
    let (payload, sid) = subscribe(&s, user, 250, "su-1").await;
    // Renewing: /my says when it renews, not when it ends.
    s.say(user, "/my").await;
    let my = s.reply(user, "Your subscriptions").await;
    assert!(my.contains("renews on"), "{my}");
    let b = buttons_of(&s, user, "Your subscriptions").await;
    assert!(b.iter().any(|b| b.starts_with("Cancel renewal")), "{b:?}");

    // Another user's update for this payload changes nothing.
    tell(&s, 9_999, &payload, "canceled").await;
    // Cancelled in Telegram: it will not renew, /my offers no cancel and shows the end.
    tell(&s, user, &payload, "canceled").await;
    s.reply(user, "will not renew").await;
    assert!(s.texts_to(9_999).is_empty(), "{:?}", s.texts_to(9_999));
    s.say(user, "/my").await;
    s.replies(user, "Your subscriptions", 2).await;
    let my = s
        .texts_to(user)
        .into_iter()
        .rev()
        .find(|t| t.contains("Your subscriptions"))
        .unwrap();
    assert!(my.contains("active until"), "{my}");
    assert!(!my.contains("renews on"), "{my}");

    // Turned back on.
    tell(&s, user, &payload, "active").await;
    s.reply(user, "renews again").await;
    s.say(user, "/my").await;
    s.replies(user, "Your subscriptions", 3).await;
    let my = s
        .texts_to(user)
        .into_iter()
        .rev()
        .find(|t| t.contains("Your subscriptions"))
        .unwrap();
    assert!(my.contains("renews on"), "{my}");

    // The renewal payment failed: the user can renew by hand.
    tell(&s, user, &payload, "failed").await;
    let b = buttons_of(&s, user, "could not charge").await;
    assert_eq!(b, vec!["Renew for 250 ⭐".to_string()]);
    assert_eq!(subscription(&s, &sid).await["status"], "active");

    // Revoked by the creator, then turned back on in Telegram: cancelled again there.
    let (st, body) = api(
        &s,
        Method::POST,
        &format!("/subscriptions/{sid}/revoke"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let before = star_cancels(&s).len();
    tell(&s, user, &payload, "active").await;
    s.reply(user, "can no longer be renewed").await;
    let cancels = star_cancels(&s);
    assert_eq!(cancels.len(), before + 1, "{cancels:?}");
    assert_eq!(cancels.last().unwrap()["is_canceled"], true);
    assert_eq!(
        cancels.last().unwrap()["telegram_payment_charge_id"],
        "su-1"
    );
}

#[tokio::test]
async fn the_reminder_of_a_stars_subscription_that_renews_says_when_it_renews() {
    // The sweep serves every tenant: a database of its own counts only ours.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    let (user, other) = (8_282, 8_283);
    subscribe(&s, user, 250, "rem-1").await;
    let (payload, _) = subscribe(&s, other, 250, "rem-2").await;
    tell(&s, other, &payload, "canceled").await;
    s.reply(other, "will not renew").await;

    s.app.clock.advance(Duration::days(29) + Duration::hours(1));
    let sent = domain::subscriptions::send_reminders(&s.app.ctx)
        .await
        .unwrap();
    assert_eq!(sent, 2, "{:?}", s.subscriptions().await);
    let renewing = s.reply(user, "renews on").await;
    assert!(renewing.contains("/my"), "{renewing}");
    assert!(!s.texts_to(user).iter().any(|t| t.contains("ends on")));
    // The one cancelled in Telegram is told it ends, with a way to renew.
    let b = buttons_of(&s, other, "ends on").await;
    assert!(b.contains(&"Renew for 250 ⭐".to_string()), "{b:?}");
}

#[tokio::test]
async fn disconnecting_the_bot_from_the_dashboard_cancels_its_renewing_stars_subscriptions_first() {
    use gatehouse_tests::fake_telegram::Fault;
    use gatehouse_tests::web::{assert_contains, assert_redirect};
    let s = setup(30, 250, &[]).await;
    subscribe(&s, 3_838, 250, "dis-1").await;
    subscribe(&s, 3_839, 250, "dis-2").await;
    let mut w = s.app.web_login(&s.c.email).await;
    let path = format!("/projects/{}/bot/disconnect", s.pid);
    let confirm = w.get(&path).await;
    assert_contains(
        &confirm.body,
        "2 Telegram Stars subscriptions renew monthly",
    );

    // Telegram refuses one cancellation: the bot stays connected, the creator is told.
    s.tg.fail_next(Some("editUserStarSubscription"), 1, Fault::BadRequest);
    let refused = w.post_form(&path, &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(s.tg.webhook(&s.bot.token).is_some(), "still connected");
    let (st, _) = api(&s, Method::GET, "/bot", None).await;
    assert_eq!(st, StatusCode::OK);

    // Again: both cancelled in Telegram, then the webhook removed and the bot forgotten.
    let done = w.post_form(&path, &[]).await;
    assert_redirect(&done, &format!("/projects/{}#bot", s.pid));
    let cancelled: std::collections::HashSet<String> = star_cancels(&s)
        .iter()
        .filter(|c| c["is_canceled"] == true)
        .map(|c| {
            c["telegram_payment_charge_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        cancelled.contains("dis-1") && cancelled.contains("dis-2"),
        "{cancelled:?}"
    );
    assert!(
        s.tg.webhook(&s.bot.token).is_none(),
        "the webhook is removed"
    );
    let (st, _) = api(&s, Method::GET, "/bot", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Nothing renews any more.
    let renewing = entity::payment::Entity::find()
        .filter(entity::payment::Column::TenantId.eq(s.c.tenant_id))
        .filter(entity::payment::Column::RenewalCanceled.eq(false))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(renewing, 0);
}

#[tokio::test]
async fn rolling_back_a_code_that_revokes_a_stars_subscription_cancels_it_in_telegram() {
    // Its own database: another test's reconciliation must not ask its Telegram about ours.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    let user = 3_535;
    let (_, sid) = subscribe(&s, user, 250, "rb-1").await;
    // A code extends the same subscription past the 30 days the Stars charge bought.
    let code = s.codes(1, json!({})).await.remove(0);
    s.say(user, &format!("/start c_{code}")).await;
    s.reply(user, "is extended").await;

    // Rolled back once the Stars days have passed: only the code's days were still running,
    // so nothing granted remains and the subscription is revoked.
    s.app.clock.advance(Duration::days(31));
    assert!(star_cancels(&s).is_empty(), "nothing cancelled yet");
    let c = s.app.relogin(&s.c).await;
    let id = s.app.all_codes(&c, &s.pid, &format!("&q={code}")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = api(&s, Method::POST, &format!("/codes/{id}/rollback"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["subscriptions_revoked"], 1, "{b}");
    assert_eq!(subscription(&s, &sid).await["status"], "revoked");
    // The Stars subscription that would renew into it is stopped in Telegram.
    let cancels = star_cancels(&s);
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["telegram_payment_charge_id"], "rb-1");
    assert_eq!(cancels[0]["user_id"], user);
    assert_eq!(cancels[0]["is_canceled"], true);
    let renewing = entity::payment::Entity::find()
        .filter(entity::payment::Column::TenantId.eq(s.c.tenant_id))
        .filter(entity::payment::Column::RenewalCanceled.eq(false))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(renewing, 0);
}
