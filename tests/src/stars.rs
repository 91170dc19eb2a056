//! Telegram Stars journeys as a subscriber and a creator make them: a creator with a plan sold
//! for Stars, "Buy" → invoice → `pre_checkout_query` → `successful_payment`, the payments
//! list followed by its cursor, and the Stars subscriptions Telegram renews.
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Backend, factories::BotProject, telegram::updates};

pub const CHANNEL: i64 = -1_001_777_000_001;
pub const OWNER: i64 = 7_770;

pub fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("a timestamp: {v}"))
        .parse()
        .unwrap()
}

/// A creator on Growth with a "Gold" plan (15.00 USD, `days` days, `stars` ⭐) granting one
/// channel, a bot, a linked owner, and Stars switched on.
pub async fn setup(days: i64, stars: i64, extra: &[(&str, &str)]) -> BotProject {
    setup_on(Backend::Postgres, days, stars, extra).await
}

pub async fn setup_on(
    backend: Backend,
    days: i64,
    stars: i64,
    extra: &[(&str, &str)],
) -> BotProject {
    let mut b = BotProject::builder(backend)
        .billing_plan("growth_monthly")
        .channel(CHANNEL)
        .owner(OWNER)
        .plan(json!({"name": "Gold", "price_minor": 1500, "currency": "USD", "duration_days": days, "price_stars": stars}));
    for (k, v) in extra {
        b = b.env(k, v);
    }
    let s = b.build().await;
    let (st, body) = api(&s, Method::PATCH, "", Some(json!({"stars_enabled": true}))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["stars_enabled"], true);
    s
}

/// A call to `/api/v1/projects/{pid}{path}` as the creator.
pub async fn api(
    s: &BotProject,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let c = s.app.relogin(&s.c).await;
    s.app
        .as_creator(&c, m, &format!("/api/v1/projects/{}{path}", s.pid), body)
        .await
}

/// `user` presses "Buy" on the plan and gets an invoice: returns the signed payload (from
/// `sendInvoice` or `createInvoiceLink`, whichever the plan uses).
pub async fn buy(s: &BotProject, user: i64, method: &str) -> Value {
    let before = s.tg.calls_to(&s.bot.token, method).len();
    s.press(user, &format!("buy:{}", s.plan)).await;
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

/// Telegram's `pre_checkout_query` for `payload` at `amount` Stars: the bot's answer.
pub async fn pre_checkout(s: &BotProject, user: i64, payload: &str, amount: i64) -> Value {
    let before = s.tg.calls_to(&s.bot.token, "answerPreCheckoutQuery").len();
    let id = s.next_update_id();
    let st = s
        .app
        .post_update(
            &s.bot,
            &updates::pre_checkout_query(id, user, payload, amount),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let calls =
        s.tg.wait_for(
            &s.bot.token,
            "answerPreCheckoutQuery",
            before + 1,
            std::time::Duration::from_secs(10),
        )
        .await;
    let answer = calls[before].params.clone();
    assert_eq!(answer["pre_checkout_query_id"], format!("pcq{id}"));
    answer
}

pub async fn pay(
    s: &BotProject,
    user: i64,
    payload: &str,
    amount: i64,
    charge: &str,
    recurring: Option<(bool, i64)>,
) {
    let upd =
        updates::successful_payment(s.next_update_id(), user, payload, amount, charge, recurring);
    assert_eq!(s.app.post_update(&s.bot, &upd).await, StatusCode::OK);
}

/// Every payment of the project, newest first, following the list's cursor.
pub async fn payments(s: &BotProject) -> Vec<Value> {
    let mut out = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/payments?limit=500&cursor={c}"),
            None => "/payments?limit=500".to_string(),
        };
        let (st, b) = api(s, Method::GET, &path, None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        out.extend(b["items"].as_array().unwrap().iter().cloned());
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

pub fn payment<'a>(list: &'a [Value], charge: &str) -> &'a Value {
    list.iter()
        .find(|p| p["telegram_payment_charge_id"] == charge)
        .unwrap_or_else(|| panic!("payment {charge} in {list:?}"))
}

pub async fn subscription(s: &BotProject, id: &str) -> Value {
    s.subscriptions()
        .await
        .into_iter()
        .find(|x| x["id"] == id)
        .expect("the subscription")
}

pub fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_seconds().abs() < 120
}

/// `user` buys the 30-day plan as a Stars subscription (charge `charge`): the payload and the
/// subscription's id.
pub async fn subscribe(s: &BotProject, user: i64, stars: i64, charge: &str) -> (String, String) {
    let payload = buy(s, user, "createInvoiceLink").await["payload"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pre_checkout(s, user, &payload, stars).await["ok"], true);
    let expires = (Utc::now() + Duration::days(30)).timestamp();
    let before = s
        .texts_to(user)
        .iter()
        .filter(|t| t.contains("Payment received"))
        .count();
    pay(s, user, &payload, stars, charge, Some((true, expires))).await;
    for _ in 0..200 {
        let now = s
            .texts_to(user)
            .iter()
            .filter(|t| t.contains("Payment received"))
            .count();
        if now > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sid = payment(&payments(s).await, charge)["subscription_id"]
        .as_str()
        .unwrap()
        .to_string();
    (payload, sid)
}

pub fn star_cancels(s: &BotProject) -> Vec<Value> {
    s.tg.calls_to(&s.bot.token, "editUserStarSubscription")
        .into_iter()
        .map(|c| c.params)
        .collect()
}

/// `user` presses "Buy" and gets an invoice by `method`: its signed payload.
pub async fn invoice_payload(s: &BotProject, user: i64, method: &str) -> String {
    buy(s, user, method).await["payload"]
        .as_str()
        .expect("the invoice's payload")
        .to_string()
}

/// `user` buys the plan with a one-time invoice paid as `charge` (`stars` ⭐) and is told so:
/// the payment's id.
pub async fn paid_once(s: &BotProject, user: i64, stars: i64, charge: &str) -> String {
    let payload = invoice_payload(s, user, "sendInvoice").await;
    pay(s, user, &payload, stars, charge, None).await;
    s.reply(user, "Payment received").await;
    payment(&payments(s).await, charge)["id"]
        .as_str()
        .unwrap()
        .to_string()
}
