//! The subscribers and subscriptions lists, in the API and on the dashboard's members page:
//! newest first, a cursor page at a time, filtered by plan, status and source; a subscriber
//! is listed when one of their subscriptions matches every filter.
use std::collections::HashSet;

use gatehouse_tests::{
    Backend,
    factories::{BotProject, batch},
    web::{assert_contains, assert_lacks},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CHANNEL: i64 = -100_555;

/// `user` redeems `code` and waits for this redemption's own answer.
async fn redeem(s: &BotProject, user: i64, code: &str) {
    let before = s
        .texts_to(user)
        .iter()
        .filter(|t| t.contains("Code accepted"))
        .count();
    s.say(user, &format!("/start c_{code}")).await;
    s.replies(user, "Code accepted", before + 1).await;
}

async fn get(s: &BotProject, path: &str) -> Value {
    let c = s.app.relogin(&s.c).await;
    let (st, b) = s
        .app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{}/{path}", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{path}: {b}");
    b
}

/// Follows `next_cursor` from `path` (which carries its filters) and collects every id.
async fn all_ids(s: &BotProject, path: &str, limit: u64) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut q = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = get(s, &q).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit, "{page}");
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    (ids, pages)
}

#[tokio::test]
async fn members_lists_page_by_cursor_and_filter_by_plan_status_and_source() {
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .channel(CHANNEL)
        .build()
        .await;
    let c = s.app.relogin(&s.c).await;
    let other_plan = s
        .app
        .create_plan(
            &c,
            &s.pid,
            json!({"name": "Silver", "price_minor": 100, "currency": "USD", "duration_days": 7}),
        )
        .await;
    let other_plan = other_plan["id"].as_str().expect("a plan").to_string();
    let codes = s.codes(5, json!({})).await;
    for (i, code) in codes.iter().enumerate() {
        redeem(&s, 3_000 + i as i64, code).await;
    }
    let silver = {
        let (st, b) = s
            .app
            .post_batch(&c, &s.pid, batch(&other_plan, 1), None)
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{b}");
        let done = s
            .app
            .wait_batch(&c, &s.pid, b["id"].as_str().unwrap())
            .await;
        let codes = s
            .app
            .all_codes(
                &c,
                &s.pid,
                &format!("&batch_id={}", done["id"].as_str().unwrap()),
            )
            .await;
        codes[0]["code"].as_str().unwrap().to_string()
    };
    redeem(&s, 3_000, &silver).await;

    // A code shows who redeemed it.
    let redeemed = get(&s, "codes?status=redeemed&limit=100").await;
    let mut who: Vec<i64> = redeemed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let by = c["redeemed_by"].as_array().unwrap();
            assert_eq!(by.len(), 1, "{c}");
            assert!(by[0]["at"].is_string(), "{c}");
            by[0]["telegram_user_id"].as_i64().unwrap()
        })
        .collect();
    who.sort();
    assert_eq!(who, vec![3_000, 3_000, 3_001, 3_002, 3_003, 3_004]);
    let fresh = s.codes(1, json!({})).await;
    let unredeemed = get(&s, &format!("codes?q={}", fresh[0])).await;
    assert_eq!(unredeemed["items"][0]["redeemed_by"], json!([]));

    // Six subscriptions of five subscribers, two to a page: every one exactly once, newest first.
    let (subs, pages) = all_ids(&s, "subscriptions", 2).await;
    assert_eq!(subs.len(), 6, "{subs:?}");
    assert_eq!(pages, 3);
    assert_eq!(subs.iter().collect::<HashSet<_>>().len(), 6);
    let mut sorted = subs.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(subs, sorted, "newest (largest time-ordered id) first");
    let (subscribers, _) = all_ids(&s, "subscribers", 2).await;
    assert_eq!(subscribers.len(), 5);

    // Filters: by plan, on both lists.
    let (silver_subs, _) = all_ids(&s, &format!("subscriptions?plan_id={other_plan}"), 10).await;
    assert_eq!(silver_subs.len(), 1);
    let (silver_members, _) = all_ids(&s, &format!("subscribers?plan_id={other_plan}"), 10).await;
    assert_eq!(silver_members.len(), 1);

    // Revoke one gold subscription: status filters split the list.
    let gold_first = get(&s, &format!("subscriptions?plan_id={}&limit=1", s.plan)).await;
    let sid = gold_first["items"][0]["id"].as_str().unwrap().to_string();
    let (st, b) = s
        .app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{}/subscriptions/{sid}/revoke", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (revoked, _) = all_ids(&s, "subscriptions?status=revoked", 10).await;
    assert_eq!(revoked, vec![sid.clone()]);
    let (active, _) = all_ids(&s, "subscriptions?status=active", 10).await;
    assert_eq!(active.len(), 5);
    assert!(!active.contains(&sid));
    let (by_code, _) = all_ids(&s, "subscriptions?source=access_code", 10).await;
    assert_eq!(by_code.len(), 6);
    let (paid, _) = all_ids(&s, "subscriptions?source=payment", 10).await;
    assert!(paid.is_empty());
    // One subscriber's subscriptions.
    let who =
        get(&s, &format!("subscriptions?plan_id={other_plan}")).await["items"][0]["subscriber_id"]
            .as_str()
            .unwrap()
            .to_string();
    let (theirs, _) = all_ids(&s, &format!("subscriptions?subscriber_id={who}"), 10).await;
    assert_eq!(theirs.len(), 2, "gold and silver");

    // A bad filter value is the JSON envelope naming the parameter.
    let c = s.app.relogin(&s.c).await;
    let (st, b) = s
        .app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{}/subscriptions?status=sleeping", s.pid),
            None,
        )
        .await;
    assert!(st.is_client_error(), "{st} {b}");
    assert!(b["error"]["code"].is_string(), "{b}");

    // The dashboard: the codes page names who redeemed each code.
    let mut w = s.app.web_login(&s.c.email).await;
    let codes_page = w
        .get(&format!("/projects/{}/codes?status=redeemed", s.pid))
        .await;
    assert_eq!(codes_page.status, StatusCode::OK);
    assert_contains(&codes_page.body, "Redeemed by");
    let first_names: Vec<String> = get(&s, "subscribers?limit=100").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["first_name"].as_str().unwrap().to_string())
        .collect();
    for name in &first_names {
        assert_contains(
            &codes_page.body,
            &format!("<td class=\"redeemed-by\">{name}"),
        );
    }

    // The members page: filtered, paged.
    let page = w
        .get(&format!("/projects/{}/members?status=revoked", s.pid))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, &format!("sub-{sid}"));
    for other in &active {
        assert_lacks(&page.body, &format!("sub-{other}"));
    }
    let page = w
        .get(&format!("/projects/{}/members?plan_id={other_plan}", s.pid))
        .await;
    assert_contains(&page.body, &format!("sub-{}", silver_subs[0]));
    assert_lacks(&page.body, "id=\"next-page\"");
}

/// A subscriber is listed by the name Telegram sent last: one who changed their @username and
/// first name between two redemptions is shown by the new ones (still one subscriber). A user
/// whose code is refused is not listed at all.
#[tokio::test]
async fn a_subscriber_is_listed_by_the_name_telegram_sent_last() {
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .channel(CHANNEL)
        .build()
        .await;
    let codes = s.codes(2, json!({})).await;
    redeem(&s, 4_000, &codes[0]).await;
    // Someone whose code is refused does not become a subscriber.
    s.say(4_001, &format!("/start c_{}", codes[0])).await;
    s.reply(4_001, "already been used").await;
    let before = get(&s, "subscribers").await;
    assert_eq!(before["items"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["items"][0]["username"], "ann4000", "{before}");

    let mut update = gatehouse_tests::telegram::updates::message(
        s.next_update_id(),
        4_000,
        &format!("/start c_{}", codes[1]),
    );
    update["message"]["from"]["username"] = json!("ann_renamed");
    update["message"]["from"]["first_name"] = json!("Annabel");
    assert_eq!(s.app.post_update(&s.bot, &update).await, StatusCode::OK);
    s.replies(4_000, "Code accepted", 2).await;

    let after = get(&s, "subscribers").await;
    let items = after["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{after}");
    assert_eq!(items[0]["id"], before["items"][0]["id"]);
    assert_eq!(items[0]["username"], "ann_renamed");
    assert_eq!(items[0]["first_name"], "Annabel");
}
