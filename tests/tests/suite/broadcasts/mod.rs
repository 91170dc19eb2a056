//! Broadcasts through the API, the worker and the fake Telegram: segments computed when
//! sending starts, Telegram's HTML subset checked with the position of a fault, the role
//! table, blocked users marked and left out, cancel, and each recipient reached once however
//! often sending is asked for or the job runs.
use std::time::{Duration, Instant};

mod dashboard;
mod in_flight;
mod pacing;
mod photo;
mod recovery;
mod schedule;
mod trial_run;

use gatehouse_tests::{
    Backend, Creator,
    app::assert_error,
    factories::{BotProject, assert_field_error},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use domain::broadcasts::IN_FLIGHT;

async fn setup() -> BotProject {
    setup_on(Backend::Postgres).await
}

async fn setup_on(backend: Backend) -> BotProject {
    BotProject::builder(backend)
        .billing_plan("growth_monthly")
        .build()
        .await
}

/// A plan of the project that lasts `days` days; returns its id.
async fn plan_of_days(s: &BotProject, name: &str, days: i64) -> String {
    let p = s
        .app
        .create_plan(
            &s.c,
            &s.pid,
            json!({"name": name, "price_minor": 500, "currency": "USD", "duration_days": days}),
        )
        .await;
    p["id"].as_str().unwrap().to_string()
}

/// Each user redeems a code of `plan` through the bot (becoming a subscriber with a
/// subscription of that plan).
async fn subscribe(s: &BotProject, plan: &str, users: &[i64]) {
    let codes = s.codes(users.len() as i64, json!({"plan_id": plan})).await;
    for (user, code) in users.iter().zip(codes) {
        s.say(*user, &format!("/start c_{code}")).await;
        s.reply(*user, "Code accepted").await;
    }
}

fn path(s: &BotProject, rest: &str) -> String {
    format!("/api/v1/projects/{}/broadcasts{rest}", s.pid)
}

async fn call(
    s: &BotProject,
    c: &Creator,
    method: Method,
    rest: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    s.app.as_creator(c, method, &path(s, rest), body).await
}

/// Creates a broadcast as the owner; `send` sends it at once.
async fn create(s: &BotProject, text: &str, segment: Value, send: bool) -> Value {
    let (st, b) = call(
        s,
        &s.c,
        Method::POST,
        "",
        Some(json!({"text": text, "segment": segment, "send": send})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b
}

/// Polls the broadcast (bounded) until its status is `status`. Generous, like the batches'
/// wait: the process-level tests run many processes on few cores beside these.
async fn wait_status(s: &BotProject, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (st, b) = call(s, &s.c, Method::GET, &format!("/{id}"), None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        if b["status"] == status {
            return b;
        }
        assert!(Instant::now() < deadline, "never {status}: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many messages with `needle` the bot sent to `user`.
fn got(s: &BotProject, user: i64, needle: &str) -> usize {
    s.texts_to(user)
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

#[tokio::test]
async fn ending_within_three_days_reaches_those_and_nobody_else() {
    ending_within_three_days(setup().await).await;
}

#[tokio::test]
async fn ending_within_three_days_reaches_those_and_nobody_else_on_sqlite() {
    ending_within_three_days(setup_on(Backend::Sqlite).await).await;
}

async fn ending_within_three_days(s: BotProject) {
    let short = plan_of_days(&s, "Weekend", 2).await;
    subscribe(&s, &short, &[101]).await;
    subscribe(&s, &s.plan, &[102]).await;
    let segment = json!({"kind": "ending_within", "days": 3});
    let text = "<b>Your access ends soon</b> — renew with /start";

    let (st, p) = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        Some(json!({"text": text, "segment": segment})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["recipients"], 1, "{p}");
    let (st, p) = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        Some(json!({"text": text, "segment": {"kind": "all"}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["recipients"], 2, "{p}");

    let b = create(&s, text, segment, true).await;
    assert_eq!(b["recipients"], 1, "{b}");
    let done = wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(done["progress"]["sent"], 1, "{done}");
    assert_eq!(done["progress"]["pending"], 0, "{done}");
    assert_eq!(got(&s, 101, "Your access ends soon"), 1);
    assert_eq!(got(&s, 102, "Your access ends soon"), 0);
    // Sent as HTML, through the bot.
    let call =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .find(|c| {
                c.params["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("ends soon")
            })
            .unwrap();
    assert_eq!(call.params["parse_mode"], "HTML");
    assert_eq!(s.audited("broadcast.sent").await, 1);

    // Those with access now, of the 30-day plan only: 102.
    let b = create(
        &s,
        "Gold news",
        json!({"kind": "active", "plan_ids": [s.plan]}),
        true,
    )
    .await;
    wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(got(&s, 102, "Gold news"), 1);
    assert_eq!(got(&s, 101, "Gold news"), 0);
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_marked_and_left_out_of_the_next_broadcast() {
    let s = setup().await;
    subscribe(&s, &s.plan, &[201, 202]).await;
    s.tg.block(&s.bot.token, 202);

    let b = create(&s, "First news", json!({"kind": "all"}), true).await;
    assert_eq!(b["recipients"], 2, "{b}");
    let done = wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(done["progress"]["sent"], 1, "{done}");
    assert_eq!(done["progress"]["blocked"], 1, "{done}");
    assert_eq!(done["progress"]["failed"], 0, "{done}");
    let blocked = entity::subscriber::Entity::find()
        .filter(entity::subscriber::Column::TelegramUserId.eq(202))
        .filter(entity::subscriber::Column::ProjectId.eq(Uuid::parse_str(&s.pid).unwrap()))
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert!(blocked.blocked_at.is_some());

    let tried_202 = |s: &BotProject| {
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(202))
            .count()
    };
    let before = tried_202(&s);
    let b = create(&s, "Second news", json!({"kind": "all"}), true).await;
    assert_eq!(b["recipients"], 1, "the blocked user is left out: {b}");
    let done = wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(done["progress"]["sent"], 1, "{done}");
    assert_eq!(got(&s, 201, "Second news"), 1);
    assert_eq!(
        tried_202(&s),
        before,
        "nothing was tried for the blocked user"
    );
}

#[tokio::test]
async fn malformed_html_is_refused_with_its_position_and_members_cannot_send() {
    let s = setup().await;
    let text = "Hello <b>there</i>";
    let got = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(json!({"text": text, "segment": {"kind": "all"}})),
    )
    .await;
    assert_field_error(&got, "text", "invalid_html", "a wrong closing tag");
    assert_eq!(got.1["error"]["details"]["position"], 14, "{}", got.1);
    let got = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        Some(json!({"text": "<script>x</script>", "segment": {"kind": "all"}})),
    )
    .await;
    assert_field_error(&got, "text", "invalid_html", "an unknown tag");
    assert_eq!(got.1["error"]["details"]["position"], 0, "{}", got.1);
    let got = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(json!({"text": "x".repeat(4097), "segment": {"kind": "all"}})),
    )
    .await;
    assert_field_error(&got, "text", "invalid_html", "too long");
    let got = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(
            json!({"text": "Hi", "segment": {"kind": "ending_within", "days": 0},
            "button": {"kind": "url", "text": "Open", "url": "ftp://example.com"}}),
        ),
    )
    .await;
    assert_field_error(&got, "segment", "out_of_range", "zero days");
    assert_field_error(&got, "button", "invalid_url", "not http");
    let (_, list) = call(&s, &s.c, Method::GET, "", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "nothing was saved: {list}"
    );

    let (member, _) = s.app.teammate(&s.c, "member").await;
    let got = call(
        &s,
        &member,
        Method::POST,
        "",
        Some(json!({"text": "Hi", "segment": {"kind": "all"}, "send": true})),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden_role", None);
    let draft = create(&s, "Draft", json!({"kind": "all"}), false).await;
    let id = draft["id"].as_str().unwrap();
    let got = call(&s, &member, Method::POST, &format!("/{id}/send"), None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden_role", None);
    // Members read.
    let (st, b) = call(&s, &member, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "draft");
}

#[tokio::test]
async fn sending_twice_and_running_the_job_again_reach_each_recipient_once() {
    let s = setup().await;
    let users = [401, 402, 403, 404];
    subscribe(&s, &s.plan, &users).await;
    let draft = create(&s, "Once only", json!({"kind": "all"}), false).await;
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(draft["status"], "draft");
    assert_eq!(got(&s, 401, "Once only"), 0, "a draft sends nothing");

    // Two sends at once, and the job run by hand beside the worker's.
    let send = format!("/{id}/send");
    let (a, b) = tokio::join!(
        call(&s, &s.c, Method::POST, &send, None),
        call(&s, &s.c, Method::POST, &send, None),
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    let bid = Uuid::parse_str(&id).unwrap();
    let (x, y) = tokio::join!(
        domain::broadcasts::run(&s.app.ctx, bid),
        domain::broadcasts::run(&s.app.ctx, bid),
    );
    // A runner that finds the last recipients held by another asks to be retried.
    for r in [x, y] {
        if let Err(e) = r {
            assert_eq!(e.code, "broadcast_in_progress", "{e}");
        }
    }
    let done = wait_status(&s, &id, "done").await;
    assert_eq!(done["recipients"], 4, "{done}");
    assert_eq!(done["progress"]["sent"], 4, "{done}");
    s.app.wait_idle().await;

    // Again, after it finished: the endpoint, the job, and a fresh job in the queue.
    let (st, again) = call(&s, &s.c, Method::POST, &send, None).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "done");
    domain::broadcasts::run(&s.app.ctx, bid).await.unwrap();
    domain::jobs::push(
        &s.app.ctx.db,
        &s.app.ctx,
        domain::jobs::SendBroadcast { broadcast_id: bid },
    )
    .await
    .unwrap();
    s.app.wait_idle().await;
    for u in users {
        assert_eq!(got(&s, u, "Once only"), 1, "user {u}");
    }
    assert_eq!(s.audited("broadcast.sent").await, 1);
}

#[tokio::test]
async fn ended_within_reaches_those_who_lost_access_lately_and_not_those_who_have_it() {
    let s = setup().await;
    subscribe(&s, &s.plan, &[601, 602]).await;
    // 601's subscription ended yesterday (its end moved into the past, then the sweep).
    let sub_of = |user: i64| {
        let db = s.app.ctx.db.clone();
        let pid = Uuid::parse_str(&s.pid).unwrap();
        async move {
            entity::subscriber::Entity::find()
                .filter(entity::subscriber::Column::ProjectId.eq(pid))
                .filter(entity::subscriber::Column::TelegramUserId.eq(user))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let gone = sub_of(601).await;
    entity::subscription::Entity::update_many()
        .col_expr(
            entity::subscription::Column::EndsAt,
            sea_orm::sea_query::Expr::value(Some(s.app.ctx.now() - chrono::Duration::minutes(1))),
        )
        .filter(entity::subscription::Column::SubscriberId.eq(gone))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    domain::subscriptions::expire_due(&s.app.ctx).await.unwrap();
    s.app.wait_idle().await;

    let preview = |segment: Value| {
        let s = &s;
        async move {
            let (st, p) = call(
                s,
                &s.c,
                Method::POST,
                "/preview",
                Some(json!({"text": "x", "segment": segment})),
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{p}");
            p["recipients"].as_u64().unwrap()
        }
    };
    assert_eq!(preview(json!({"kind": "ended_within", "days": 7})).await, 1);
    assert_eq!(preview(json!({"kind": "active"})).await, 1);
    assert_eq!(preview(json!({"kind": "never_subscribed"})).await, 0);
    let b = create(
        &s,
        "We miss you",
        json!({"kind": "ended_within", "days": 7}),
        true,
    )
    .await;
    wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(got(&s, 601, "We miss you"), 1);
    assert_eq!(got(&s, 602, "We miss you"), 0);
    // A week and a day later, the end is outside the window.
    s.app.clock.advance(chrono::Duration::days(8));
    let c = s.app.relogin(&s.c).await;
    let (st, p) = call(
        &s,
        &c,
        Method::POST,
        "/preview",
        Some(json!({"text": "x", "segment": {"kind": "ended_within", "days": 7}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["recipients"], 0, "{p}");
}

#[tokio::test]
async fn a_redeem_button_goes_with_the_message_and_active_narrows_by_batch_and_source() {
    let s = setup().await;
    subscribe(&s, &s.plan, &[701]).await;
    subscribe(&s, &s.plan, &[702]).await;
    let batches = s.batches().await;
    let first = batches
        .iter()
        .min_by_key(|b| b.created_at)
        .unwrap()
        .id
        .to_string();
    let preview = |segment: Value| {
        let s = &s;
        async move {
            let (st, p) = call(
                s,
                &s.c,
                Method::POST,
                "/preview",
                Some(json!({"text": "x", "segment": segment})),
            )
            .await;
            (st, p)
        }
    };
    let (st, p) = preview(json!({"kind": "active", "batch_id": first})).await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(
        p["recipients"], 1,
        "one subscriber came from the first batch: {p}"
    );
    let (_, p) = preview(json!({"kind": "active", "source": "access_code"})).await;
    assert_eq!(p["recipients"], 2, "{p}");
    let (_, p) = preview(json!({"kind": "active", "source": "payment"})).await;
    assert_eq!(p["recipients"], 0, "{p}");
    let got_err = preview(json!({"kind": "active", "batch_id": Uuid::now_v7()})).await;
    assert_field_error(&got_err, "segment", "unknown_batch", "another batch");

    let (st, b) = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(json!({
            "text": "Got a code? <a href=\"https://example.com/shop\">Or buy one</a>",
            "segment": {"kind": "active", "batch_id": first},
            "button": {"kind": "redeem"},
            "send": true,
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["button"]["kind"], "redeem", "{b}");
    wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    let sent: Vec<_> =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| {
                c.params["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Got a code?")
            })
            .collect();
    assert_eq!(sent.len(), 1);
    let button = &sent[0].params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "Redeem a code", "{button}");
    assert_eq!(button["callback_data"], "redeem", "{button}");
    // The bot understands it: pressing it asks for a code.
    let user = sent[0].params["chat_id"].as_i64().unwrap();
    s.press(user, "redeem").await;
    s.reply(user, "Send me your access code").await;
}

#[tokio::test]
async fn the_trial_segment_is_those_with_access_through_a_trial() {
    let s = setup().await;
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::PATCH,
            &format!("/api/v1/projects/{}/plans/{}", s.pid, s.plan),
            Some(json!({"trial_days": 7})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.say(711, "/start").await;
    s.reply(711, "Plans:").await;
    s.press(711, &format!("trial:{}", s.plan)).await;
    s.reply(711, "free trial").await;
    subscribe(&s, &s.plan, &[712]).await;

    let b = create(
        &s,
        "Enjoying the trial?",
        json!({"kind": "active", "source": "trial"}),
        true,
    )
    .await;
    assert_eq!(b["recipients"], 1, "{b}");
    wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(got(&s, 711, "Enjoying the trial?"), 1);
    assert_eq!(got(&s, 712, "Enjoying the trial?"), 0);
}

#[tokio::test]
async fn everyone_who_started_the_bot_is_reached_and_pressing_start_again_unblocks() {
    let s = setup().await;
    s.say(801, "/start").await;
    s.reply(801, "Plans:").await;
    subscribe(&s, &s.plan, &[802]).await;
    s.tg.block(&s.bot.token, 801);
    let b = create(&s, "Hello all", json!({"kind": "all"}), true).await;
    assert_eq!(b["recipients"], 2, "whoever started the bot: {b}");
    let done = wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(done["progress"]["blocked"], 1, "{done}");
    let (_, p) = call(
        &s,
        &s.c,
        Method::POST,
        "/preview",
        Some(json!({"text": "x", "segment": {"kind": "never_subscribed"}})),
    )
    .await;
    assert_eq!(p["recipients"], 0, "801 blocked the bot: {p}");

    // 801 unblocks the bot and presses Start: reachable again, and never subscribed.
    s.tg.unblock(&s.bot.token, 801);
    s.say(801, "/start").await;
    s.replies(801, "Plans:", 2).await;
    let b = create(&s, "Try us", json!({"kind": "never_subscribed"}), true).await;
    assert_eq!(b["recipients"], 1, "{b}");
    wait_status(&s, b["id"].as_str().unwrap(), "done").await;
    assert_eq!(got(&s, 801, "Try us"), 1);
    assert_eq!(got(&s, 802, "Try us"), 0);
}

#[tokio::test]
async fn control_characters_are_refused_where_they_are() {
    let s = setup().await;
    let got = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(json!({"text": "ab\u{0}c", "segment": {"kind": "all"},
            "button": {"kind": "url", "text": "Open", "url": "https://example.com/\u{0}"}})),
    )
    .await;
    assert_field_error(&got, "text", "invalid_html", "a NUL");
    assert_eq!(got.1["error"]["details"]["position"], 2, "{}", got.1);
    assert_field_error(&got, "button", "invalid_url", "a NUL in the URL");
}

#[tokio::test]
async fn nothing_is_sent_through_a_project_without_a_bot_but_a_draft_may_wait() {
    let app = gatehouse_tests::TestApp::spawn().await;
    let c = app.signup().await;
    let pid = app.create_project_id(&c).await;
    let path = format!("/api/v1/projects/{pid}/broadcasts");
    let body = |send: bool| Some(json!({"text": "Hi", "segment": {"kind": "all"}, "send": send}));
    let got = app.as_creator(&c, Method::POST, &path, body(true)).await;
    assert_error(&got, StatusCode::CONFLICT, "bot_not_connected", None);
    let (st, list) = app.as_creator(&c, Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing saved: {list}");
    let (st, draft) = app.as_creator(&c, Method::POST, &path, body(false)).await;
    assert_eq!(st, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_str().unwrap();
    let got = app
        .as_creator(&c, Method::POST, &format!("{path}/{id}/send"), None)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "bot_not_connected", None);
}

#[tokio::test]
async fn another_workspace_s_broadcast_is_not_found() {
    let s = setup().await;
    let draft = create(&s, "Ours", json!({"kind": "all"}), false).await;
    let id = draft["id"].as_str().unwrap();
    let other = s.app.signup().await;
    let their_pid = s.app.create_project_id(&other).await;
    for (method, rest) in [
        (Method::GET, format!("/{id}")),
        (Method::POST, format!("/{id}/send")),
        (Method::POST, format!("/{id}/cancel")),
    ] {
        // Through our project's path, and through their own project's.
        let got = call(&s, &other, method.clone(), &rest, None).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
        let got = s
            .app
            .as_creator(
                &other,
                method,
                &format!("/api/v1/projects/{their_pid}/broadcasts{rest}"),
                None,
            )
            .await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
    }
    let (_, still) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(still["status"], "draft", "{still}");
}
