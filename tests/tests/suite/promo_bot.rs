//! Promo codes through the bot webhook and HTTP: typed after "I have a promo code" or carried
//! by a deep link, shown as discounted Buy buttons, carried by the invoice and checked at
//! pre-checkout (the price must be the discounted one; a tampered one is refused), the cap
//! taken at pre-checkout (fifty buyers at once, ten places: exactly ten accepted), a payment
//! after its place lapsed honoured and reported over the cap, first payment only, the trial's
//! reminder and the retention offer, every refusal with its own reply, and the money per
//! promo in the list, in revenue and in `promo.redeemed`.
use chrono::Duration;
use futures::future::join_all;
use gatehouse_tests::{app::assert_error, factories::BotProject, stars::*, telegram::updates};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::webhooks::{Receiver, endpoint, fast_webhooks};

/// Makes a promo code of the project; returns it.
async fn promo(s: &BotProject, body: Value) -> Value {
    let (st, p) = api(s, Method::POST, "/promo-codes", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    p
}

async fn promo_listed(s: &BotProject, code: &str) -> Value {
    let (st, list) = api(s, Method::GET, "/promo-codes", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .cloned()
        .unwrap_or_else(|| panic!("{code} in {list}"))
}

/// The callback buttons (label, data) of the latest message to `user` containing `needle`.
async fn callbacks(s: &BotProject, user: i64, needle: &str) -> (String, Vec<(String, String)>) {
    s.tg.wait_for_text(&s.bot.token, user, needle).await;
    let call = s
        .tg
        .calls_to(&s.bot.token, "sendMessage")
        .into_iter()
        .rfind(|c| {
            c.params["chat_id"] == user && c.params["text"].as_str().unwrap_or("").contains(needle)
        })
        .unwrap();
    let text = call.params["text"].as_str().unwrap().to_string();
    let buttons = call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| {
            Some((
                b["text"].as_str()?.to_string(),
                b["callback_data"].as_str()?.to_string(),
            ))
        })
        .collect();
    (text, buttons)
}

fn data_of(buttons: &[(String, String)], label: &str) -> String {
    buttons
        .iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("a button {label:?} in {buttons:?}"))
        .1
        .clone()
}

/// Presses `data` and waits for the invoice sent by `method`: its parameters.
async fn invoice_after(s: &BotProject, user: i64, data: &str, method: &str) -> Value {
    let before = s.tg.calls_to(&s.bot.token, method).len();
    s.press(user, data).await;
    let calls =
        s.tg.wait_for(
            &s.bot.token,
            method,
            before + 1,
            std::time::Duration::from_secs(10),
        )
        .await;
    calls[before].params.clone()
}

#[tokio::test]
async fn a_deep_linked_promo_sells_at_its_price_refuses_a_tampered_one_and_is_counted() {
    let env = fast_webhooks().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = setup(7, 200, &env).await;
    let hook = Receiver::start().await;
    endpoint(&s.app, &s.c, &hook.url, &["promo.redeemed"]).await;
    let p = promo(&s, json!({"code": "SPRING25", "percent_off": 25})).await;

    let user = 7_101;
    // Typed as people type it: case, dashes.
    s.say(user, "/start p_spring-25").await;
    let (text, b) = callbacks(&s, user, "SPRING25").await;
    assert!(text.contains("25 % off"), "{text}");
    let data = data_of(&b, "Gold: Buy for 150 ⭐ (instead of 200 ⭐)");
    assert!(data.len() <= 64, "{data}");
    let inv = invoice_after(&s, user, &data, "sendInvoice").await;
    assert_eq!(inv["prices"][0]["amount"], 150, "{inv}");
    let payload = inv["payload"].as_str().unwrap().to_string();
    assert!(
        payload.starts_with("p2.") && payload.len() <= 128,
        "{payload}"
    );
    assert!(
        inv["description"].as_str().unwrap().contains("SPRING25"),
        "{inv}"
    );

    // A tampered invoice asking less (or the list price) is refused; the right one is not.
    for wrong in [1, 100, 200] {
        let a = pre_checkout(&s, user, &payload, wrong).await;
        assert_eq!(a["ok"], false, "{wrong}: {a}");
        assert!(
            a["error_message"]
                .as_str()
                .unwrap()
                .contains("price of this plan has changed"),
            "{a}"
        );
    }
    assert_eq!(
        promo_listed(&s, "SPRING25").await["uses"],
        0,
        "a refused pre-checkout takes no place"
    );
    assert_eq!(pre_checkout(&s, user, &payload, 150).await["ok"], true);
    // Asked again for the same invoice: still one place.
    assert_eq!(pre_checkout(&s, user, &payload, 150).await["ok"], true);
    assert_eq!(promo_listed(&s, "SPRING25").await["uses"], 1);
    pay(&s, user, &payload, 150, "promo-charge-1", None).await;
    s.reply(user, "Payment received").await;

    let listed = promo_listed(&s, "SPRING25").await;
    assert_eq!(listed["uses"], 1, "{listed}");
    assert_eq!(listed["list_stars"], 200, "{listed}");
    assert_eq!(listed["discount_stars"], 50, "{listed}");
    assert_eq!(listed["revenue_stars"], 150, "{listed}");
    let (st, rev) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(st, StatusCode::OK, "{rev}");
    assert_eq!(
        rev["promos"],
        json!([{"promo_code_id": p["id"], "code": "SPRING25", "payments": 1, "list_stars": 200,
                "discount_stars": 50, "paid_stars": 150, "over_cap": 0}]),
        "{rev}"
    );
    let got = hook.wait_for(1).await;
    let e = got[0].json();
    assert_eq!(e["type"], "promo.redeemed", "{e}");
    assert_eq!(e["data"]["code"], "SPRING25", "{e}");
    assert_eq!(e["data"]["paid_stars"], 150, "{e}");
    assert_eq!(e["data"]["discount_stars"], 50, "{e}");
    assert_eq!(e["data"]["over_cap"], false, "{e}");

    // Once per user (the default): the second time is refused with its own words and a way on.
    s.say(user, "/start p_SPRING25").await;
    let (_, b) = callbacks(&s, user, "You have used this promo code already").await;
    assert!(b.iter().any(|(_, d)| d == "plans"), "{b:?}");
    // Pressing the old discounted button again is refused too.
    s.press(user, &data).await;
    s.replies(user, "You have used this promo code already", 2)
        .await;
}

#[tokio::test]
async fn each_promo_that_cannot_be_used_gets_its_own_reply_and_the_button_asks_for_one() {
    let s = setup(7, 200, &[]).await;
    let (st, silver) = api(
        &s,
        Method::POST,
        "/plans",
        Some(json!({"name": "Silver", "price_minor": 500, "currency": "USD", "duration_days": 7, "price_stars": 100})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{silver}");
    let later = chrono::Utc::now() + Duration::days(3);
    promo(
        &s,
        json!({"code": "LATER", "percent_off": 10, "starts_at": later}),
    )
    .await;
    let gone = promo(&s, json!({"code": "GONE", "percent_off": 10})).await;
    let (st, b) = api(
        &s,
        Method::POST,
        &format!("/promo-codes/{}/deactivate", gone["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let only_silver = promo(
        &s,
        json!({"code": "SILVER10", "percent_off": 10, "plan_ids": [silver["id"]]}),
    )
    .await;
    promo(
        &s,
        json!({"code": "NEWBIES", "stars_off": 500, "new_customers_only": true}),
    )
    .await;

    // "I have a promo code" is offered while a promo is open; it asks for the code.
    let user = 7_201;
    s.say(user, "/start").await;
    let (_, b) = callbacks(&s, user, "Plans:").await;
    let ask = data_of(&b, "🏷 I have a promo code");
    s.press(user, &ask).await;
    s.reply(user, "Send me your promo code").await;
    // An unknown code: said so, and the bot still waits for one.
    s.say(user, "NOPE-1234").await;
    s.reply(user, "I don't know that promo code").await;
    s.say(user, "newbies").await;
    // 500 ⭐ off a 200 ⭐ plan: never below 1 ⭐.
    let (_, b) = callbacks(&s, user, "NEWBIES").await;
    data_of(&b, "Gold: Buy for 1 ⭐ (instead of 200 ⭐)");
    data_of(&b, "Silver: Buy for 1 ⭐ (instead of 100 ⭐)");

    for (code, words) in [
        ("LATER", "not valid yet"),
        ("GONE", "has ended"),
        ("WHATEVER", "I don't know that promo code"),
    ] {
        s.say(user, &format!("/start p_{code}")).await;
        let (_, b) = callbacks(&s, user, words).await;
        assert!(b.iter().any(|(_, d)| d == "plans"), "{code}: {b:?}");
    }
    // A discounted button naming a plan the promo does not cover (a crafted one).
    let gold = s.plan.to_string();
    let crafted = format!(
        "bp:{}.{}",
        domain::promos::short_id(gold.parse().unwrap()),
        domain::promos::short_id(only_silver["id"].as_str().unwrap().parse().unwrap())
    );
    s.press(user, &crafted).await;
    s.reply(user, "does not apply to this plan").await;
    // SILVER10 offers Silver only.
    s.say(user, "/start p_SILVER10").await;
    let (_, b) = callbacks(&s, user, "SILVER10").await;
    assert!(
        b.iter().all(|(l, _)| !l.starts_with("Gold")),
        "only Silver: {b:?}"
    );
    data_of(&b, "Silver: Buy for 90 ⭐ (instead of 100 ⭐)");

    // Someone who paid here before is not a new customer.
    let buyer = 7_202;
    paid_once(&s, buyer, 200, "paid-before").await;
    s.say(buyer, "/start p_NEWBIES").await;
    s.reply(buyer, "for new customers only").await;

    // Bad settings of the project's promo choices are named.
    let r = api(
        &s,
        Method::PATCH,
        "",
        Some(json!({"trial_promo_id": uuid::Uuid::new_v4()})),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("trial_promo_id"),
    );
}

#[tokio::test]
async fn a_cap_of_ten_with_fifty_buyers_at_once_accepts_exactly_ten_and_honours_a_late_payment() {
    // The lapsed-place sweep serves every tenant: a database of its own counts only ours.
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(7, 200, &[("DATABASE_URL", &db)]).await;
    promo(
        &s,
        json!({"code": "TENONLY", "percent_off": 50, "max_uses": 10}),
    )
    .await;
    let users: Vec<i64> = (0..50).map(|i| 7_300 + i).collect();
    // Fifty people open the deep link and press the discounted button (at once: each chat is
    // paced a second apart, not the bot).
    let invoices = users.iter().map(|&u| {
        let s = &s;
        async move {
            s.say(u, "/start p_TENONLY").await;
            let (_, b) = callbacks(s, u, "TENONLY").await;
            s.press(u, &data_of(&b, "Gold: Buy for 100 ⭐ (instead of 200 ⭐)"))
                .await;
            for _ in 0..400 {
                let sent =
                    s.tg.calls_to(&s.bot.token, "sendInvoice")
                        .into_iter()
                        .find(|c| c.params["chat_id"] == u);
                if let Some(c) = sent {
                    return c.params["payload"].as_str().unwrap().to_string();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("no invoice for {u}")
        }
    });
    let payloads: Vec<String> = join_all(invoices).await;
    // Fifty pre-checkouts at once.
    let before = s.tg.calls_to(&s.bot.token, "answerPreCheckoutQuery").len();
    let ids: Vec<i64> = users.iter().map(|_| s.next_update_id()).collect();
    let posts = users.iter().zip(&payloads).zip(&ids).map(|((u, p), id)| {
        let upd = updates::pre_checkout_query(*id, *u, p, 100);
        let s = &s;
        async move { s.app.post_update(&s.bot, &upd).await }
    });
    for st in join_all(posts).await {
        assert_eq!(st, StatusCode::OK);
    }
    let answers =
        s.tg.wait_for(
            &s.bot.token,
            "answerPreCheckoutQuery",
            before + 50,
            std::time::Duration::from_secs(30),
        )
        .await;
    let answers = &answers[before..];
    let accepted: Vec<&Value> = answers
        .iter()
        .map(|c| &c.params)
        .filter(|a| a["ok"] == true)
        .collect();
    assert_eq!(accepted.len(), 10, "exactly the cap: {answers:?}");
    for a in answers
        .iter()
        .map(|c| &c.params)
        .filter(|a| a["ok"] == false)
    {
        assert!(
            a["error_message"]
                .as_str()
                .unwrap()
                .contains("used as many times as it allows"),
            "{a}"
        );
    }
    assert_eq!(promo_listed(&s, "TENONLY").await["uses"], 10);
    // Which users were accepted.
    let accepted_users: Vec<(i64, String)> = users
        .iter()
        .zip(&payloads)
        .zip(&ids)
        .filter(|((_, _), id)| {
            accepted
                .iter()
                .any(|a| a["pre_checkout_query_id"] == format!("pcq{id}"))
        })
        .map(|((u, p), _)| (*u, p.clone()))
        .collect();
    assert_eq!(accepted_users.len(), 10);
    // Nine pay at once; the tenth goes quiet.
    let (late_user, late_payload) = accepted_users[9].clone();
    let pays = accepted_users[..9].iter().enumerate().map(|(i, (u, p))| {
        let s = &s;
        async move { pay(s, *u, p, 100, &format!("cap-{i}"), None).await }
    });
    join_all(pays).await;
    for (u, _) in &accepted_users[..9] {
        s.reply(*u, "Payment received").await;
    }
    // The quiet one's place lapses and is given back; someone refused before takes it.
    s.app
        .clock
        .advance(domain::promos::HOLD_FOR + Duration::minutes(1));
    assert_eq!(domain::promos::release_lapsed(&s.app.ctx).await.unwrap(), 1);
    assert_eq!(promo_listed(&s, "TENONLY").await["uses"], 9);
    let (refused_user, refused_payload) = users
        .iter()
        .zip(&payloads)
        .find(|(u, _)| !accepted_users.iter().any(|(a, _)| a == *u))
        .map(|(u, p)| (*u, p.clone()))
        .unwrap();
    assert_eq!(
        pre_checkout(&s, refused_user, &refused_payload, 100).await["ok"],
        true
    );
    pay(&s, refused_user, &refused_payload, 100, "cap-10", None).await;
    s.reply(refused_user, "Payment received").await;
    // The quiet one pays after all: Telegram charged, so it is honoured, counted, reported.
    pay(&s, late_user, &late_payload, 100, "cap-late", None).await;
    s.reply(late_user, "Payment received").await;
    let listed = promo_listed(&s, "TENONLY").await;
    assert_eq!(listed["uses"], 11, "{listed}");
    assert_eq!(listed["over_cap"], 1, "{listed}");
    assert_eq!(listed["revenue_stars"], 1_100, "{listed}");
    let (_, rev) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(rev["promos"][0]["payments"], 11, "{rev}");
    assert_eq!(rev["promos"][0]["over_cap"], 1, "{rev}");
}

#[tokio::test]
async fn a_first_payment_only_promo_sells_one_discounted_month_then_offers_the_full_price() {
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    promo(
        &s,
        json!({"code": "FIRST50", "percent_off": 50, "first_payment_only": true}),
    )
    .await;
    let user = 7_401;
    s.say(user, "/start p_FIRST50").await;
    let (_, b) = callbacks(&s, user, "FIRST50").await;
    let data = data_of(&b, "Gold: Buy for 125 ⭐ (instead of 250 ⭐)");
    // One discounted month: a one-time invoice, not a Stars subscription at 125 ⭐.
    let links = s.tg.calls_to(&s.bot.token, "createInvoiceLink").len();
    let inv = invoice_after(&s, user, &data, "sendInvoice").await;
    assert_eq!(inv["prices"][0]["amount"], 125);
    assert!(
        inv.get("subscription_period").is_none_or(Value::is_null),
        "{inv}"
    );
    assert_eq!(
        s.tg.calls_to(&s.bot.token, "createInvoiceLink").len(),
        links
    );
    let payload = inv["payload"].as_str().unwrap().to_string();
    assert_eq!(pre_checkout(&s, user, &payload, 125).await["ok"], true);
    pay(&s, user, &payload, 125, "first-50", None).await;
    s.reply(user, "Payment received").await;
    let subs = s.subscriptions().await;
    let ends = time(&subs[0]["ends_at"]);
    assert!(
        close(ends, chrono::Utc::now() + Duration::days(30)),
        "{ends}"
    );

    // A day before its end the reminder offers the subscription at the full price.
    s.app.clock.advance(Duration::days(29) + Duration::hours(1));
    assert_eq!(
        domain::subscriptions::send_reminders(&s.app.ctx)
            .await
            .unwrap(),
        1
    );
    let (_, b) = callbacks(&s, user, "ends on").await;
    let renew = data_of(&b, "Renew for 250 ⭐");
    let link = invoice_after(&s, user, &renew, "createInvoiceLink").await;
    assert_eq!(link["prices"][0]["amount"], 250, "{link}");
    assert_eq!(link["subscription_period"], 2_592_000, "{link}");
}

#[tokio::test]
async fn a_trials_reminder_offers_the_trial_promo_and_buying_with_it_starts_at_the_trials_end() {
    let db = gatehouse_tests::app::isolated_pg_database().await;
    let s = setup(30, 250, &[("DATABASE_URL", &db)]).await;
    let (st, b) = api(
        &s,
        Method::PATCH,
        &format!("/plans/{}", s.plan),
        Some(json!({"trial_days": 7})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let p = promo(&s, json!({"code": "STAYGOLD", "percent_off": 20})).await;
    let (st, b) = api(
        &s,
        Method::PATCH,
        "",
        Some(json!({"trial_promo_id": p["id"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["trial_promo_id"], p["id"]);

    let user = 7_501;
    s.say(user, "/start").await;
    s.reply(user, "Plans:").await;
    s.press(user, &format!("trial:{}", s.plan)).await;
    s.reply(user, "free trial").await;
    let trial_end = time(&s.subscriptions().await[0]["ends_at"]);

    s.app.clock.advance(Duration::days(6) + Duration::hours(1));
    assert_eq!(
        domain::subscriptions::send_reminders(&s.app.ctx)
            .await
            .unwrap(),
        1
    );
    let (_, b) = callbacks(&s, user, "Your free trial of “Gold” ends on").await;
    data_of(&b, "Buy for 250 ⭐");
    let data = data_of(&b, "Buy for 200 ⭐ with STAYGOLD");
    let link = invoice_after(&s, user, &data, "createInvoiceLink").await;
    assert_eq!(link["prices"][0]["amount"], 200, "{link}");
    let payload = link["payload"].as_str().unwrap().to_string();
    assert_eq!(pre_checkout(&s, user, &payload, 200).await["ok"], true);
    let expires = (chrono::Utc::now() + Duration::days(30)).timestamp();
    pay(
        &s,
        user,
        &payload,
        200,
        "trial-promo",
        Some((true, expires)),
    )
    .await;
    s.reply(user, "Payment received").await;
    let subs = s.subscriptions().await;
    assert_eq!(subs.len(), 1, "the trial's subscription goes on: {subs:?}");
    let ends = time(&subs[0]["ends_at"]);
    assert!(
        close(ends, trial_end + Duration::days(30)),
        "ends {ends}, trial ended {trial_end}"
    );
    assert_eq!(promo_listed(&s, "STAYGOLD").await["revenue_stars"], 200);
}

#[tokio::test]
async fn cancel_renewal_makes_the_retention_offer_once_and_staying_resubscribes_at_its_price() {
    let s = setup(30, 250, &[]).await;
    let p = promo(&s, json!({"code": "DONTGO", "percent_off": 20})).await;
    let (st, b) = api(
        &s,
        Method::PATCH,
        "",
        Some(json!({"retention_promo_id": p["id"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // One subscriber stays.
    let stayer = 7_601;
    let (_, sid) = subscribe(&s, stayer, 250, "ret-1").await;
    s.press(stayer, &format!("nr:{sid}")).await;
    let (text, b) = callbacks(&s, stayer, "Before you go").await;
    assert!(text.contains("200 ⭐") && text.contains("DONTGO"), "{text}");
    assert!(star_cancels(&s).is_empty(), "nothing cancelled yet");
    let stay = data_of(&b, "Stay for 200 ⭐ a month");
    data_of(&b, "Cancel renewal anyway");
    let link = invoice_after(&s, stayer, &stay, "createInvoiceLink").await;
    assert_eq!(link["prices"][0]["amount"], 200, "{link}");
    s.reply(stayer, "is cancelled").await;
    let cancels = star_cancels(&s);
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["telegram_payment_charge_id"], "ret-1");
    assert_eq!(cancels[0]["is_canceled"], true);

    // Another cancels anyway; the offer is made once per subscription.
    let leaver = 7_602;
    let (_, sid2) = subscribe(&s, leaver, 250, "ret-2").await;
    s.press(leaver, &format!("nr:{sid2}")).await;
    let (_, b) = callbacks(&s, leaver, "Before you go").await;
    s.press(leaver, &data_of(&b, "Cancel renewal anyway")).await;
    s.reply(leaver, "Renewal cancelled").await;
    assert_eq!(star_cancels(&s).len(), 2);
    let offers = |u: i64| {
        s.texts_to(u)
            .iter()
            .filter(|t| t.contains("Before you go"))
            .count()
    };
    // The same button again: no second offer.
    s.press(leaver, &format!("nr:{sid2}")).await;
    s.reply(leaver, "There is no renewal to cancel").await;
    s.app.wait_idle().await;
    assert_eq!(offers(leaver), 1);
}

#[tokio::test]
async fn a_promo_is_sold_and_counted_on_sqlite_too() {
    let s = setup_on(gatehouse_tests::Backend::Sqlite, 7, 200, &[]).await;
    promo(&s, json!({"code": "LITE", "stars_off": 20, "max_uses": 1})).await;
    let user = 7_701;
    s.say(user, "/start p_lite").await;
    let (_, b) = callbacks(&s, user, "LITE").await;
    let data = data_of(&b, "Gold: Buy for 180 ⭐ (instead of 200 ⭐)");
    let payload = invoice_after(&s, user, &data, "sendInvoice").await["payload"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pre_checkout(&s, user, &payload, 180).await["ok"], true);
    pay(&s, user, &payload, 180, "lite-1", None).await;
    s.reply(user, "Payment received").await;
    let listed = promo_listed(&s, "LITE").await;
    assert_eq!(
        (listed["uses"].clone(), listed["revenue_stars"].clone()),
        (json!(1), json!(180)),
        "{listed}"
    );
    // The one place is used: the next person is told so.
    s.say(7_702, "/start p_LITE").await;
    s.reply(7_702, "used as many times as it allows").await;
    let (_, rev) = api(&s, Method::GET, "/revenue", None).await;
    assert_eq!(rev["promos"][0]["discount_stars"], 20, "{rev}");
}

#[tokio::test]
async fn the_dashboard_makes_lists_offers_and_deactivates_promo_codes() {
    use gatehouse_tests::web::{assert_contains, assert_lacks};
    let s = setup(30, 250, &[]).await;
    let mut w = s.app.web_login(&s.c.email).await;
    let path = format!("/projects/{}/promos", s.pid);
    let page = w.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "No promo codes yet");
    assert_contains(&page.body, "Promo codes</a>");

    // A bad discount is named next to its box, and what was typed stays.
    let r = w
        .post_form(
            &path,
            &[("code", "WINTER"), ("kind", "percent"), ("amount", "150")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, "id=\"amount-error\"");
    assert_contains(&r.body, "value=\"WINTER\"");

    let plan = s.plan.to_string();
    let r = w
        .post_form(
            &path,
            &[
                ("code", "winter"),
                ("kind", "percent"),
                ("amount", "10"),
                ("plan_ids", plan.as_str()),
                ("max_uses", "5"),
                ("once_per_user", "1"),
                ("ends_on", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = w.get(&path).await.body;
    assert_contains(&page, "id=\"promo-WINTER\"");
    assert_contains(&page, "0 / 5");
    assert_contains(&page, "until 2099-12-31");
    assert_contains(&page, "?start=p_WINTER");
    let listed = promo_listed(&s, "WINTER").await;
    assert_eq!(listed["plan_ids"], json!([plan]));
    assert_eq!(listed["percent_off"], 10);

    // Offered on "Cancel renewal".
    let id = listed["id"].as_str().unwrap().to_string();
    let r = w
        .post_form(
            &format!("{path}/offers"),
            &[("trial_promo_id", ""), ("retention_promo_id", id.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, project) = api(&s, Method::GET, "", None).await;
    assert_eq!(project["retention_promo_id"], id.as_str());
    assert_eq!(project["trial_promo_id"], Value::Null);

    let r = w.post_form(&format!("{path}/{id}/deactivate"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = w.get(&path).await.body;
    assert_contains(&page, "deactivated");
    assert_lacks(&page, "Deactivate<span");
    assert!(
        !promo_listed(&s, "WINTER").await["active"]
            .as_bool()
            .unwrap()
    );
}

#[tokio::test]
async fn one_user_with_two_invoices_of_a_once_per_user_promo_gets_one_accepted_at_once() {
    let s = setup(7, 200, &[]).await;
    promo(&s, json!({"code": "ONCE4ME", "percent_off": 10})).await;
    let user = 7_801;
    s.say(user, "/start p_ONCE4ME").await;
    let (_, b) = callbacks(&s, user, "ONCE4ME").await;
    let data = data_of(&b, "Gold: Buy for 180 ⭐ (instead of 200 ⭐)");
    // Two invoices (two presses), then both asked about at once.
    let first = invoice_after(&s, user, &data, "sendInvoice").await;
    let second = invoice_after(&s, user, &data, "sendInvoice").await;
    let payloads = [&first["payload"], &second["payload"]].map(|p| p.as_str().unwrap().to_string());
    assert_ne!(payloads[0], payloads[1]);
    let before = s.tg.calls_to(&s.bot.token, "answerPreCheckoutQuery").len();
    let posts = payloads.iter().map(|p| {
        let upd = updates::pre_checkout_query(s.next_update_id(), user, p, 180);
        let s = &s;
        async move { s.app.post_update(&s.bot, &upd).await }
    });
    for st in join_all(posts).await {
        assert_eq!(st, StatusCode::OK);
    }
    let answers: Vec<Value> =
        s.tg.wait_for(
            &s.bot.token,
            "answerPreCheckoutQuery",
            before + 2,
            std::time::Duration::from_secs(10),
        )
        .await[before..]
            .iter()
            .map(|c| c.params.clone())
            .collect();
    let ok = answers.iter().filter(|a| a["ok"] == true).count();
    assert_eq!(ok, 1, "{answers:?}");
    let refused = answers.iter().find(|a| a["ok"] == false).unwrap();
    assert!(
        refused["error_message"]
            .as_str()
            .unwrap()
            .contains("used this promo code already"),
        "{refused}"
    );
    assert_eq!(promo_listed(&s, "ONCE4ME").await["uses"], 1);
}

/// Telegram fails a payment whose pre-checkout is not answered within 10 s: a crowd of payers
/// is answered at once, not paced like messages (300 answers paced 34 ms apart would take
/// 10.2 s; here they are all answered within 3 s of being posted).
#[tokio::test]
#[ignore = "timing: scripts/test runs it alone, after the suite"]
async fn three_hundred_pre_checkouts_at_once_are_all_answered_well_inside_telegrams_ten_seconds() {
    let s = setup(7, 200, &[]).await;
    let posted = std::time::Instant::now();
    let posts = (0..300).map(|i| {
        let upd = updates::pre_checkout_query(s.next_update_id(), 7_900 + i, "p1.not.ours", 200);
        let s = &s;
        async move { s.app.post_update(&s.bot, &upd).await }
    });
    for st in join_all(posts).await {
        assert_eq!(st, StatusCode::OK);
    }
    let answers =
        s.tg.wait_for(
            &s.bot.token,
            "answerPreCheckoutQuery",
            300,
            std::time::Duration::from_secs(20),
        )
        .await;
    let last = answers.iter().map(|c| c.at).max().unwrap();
    let took = last - posted;
    println!("300 pre-checkouts answered within {took:?} of being posted");
    assert!(
        took < std::time::Duration::from_secs(3),
        "the last answer came {took:?} after the posts"
    );
}
