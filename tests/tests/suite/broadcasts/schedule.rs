//! Scheduled broadcasts: `send_at` checked at the edge, the worker's sweep starting them when
//! due (recipients as the segment holds then), cancel and send-now on a scheduled one.
use std::time::Duration;

use gatehouse_tests::app::isolated_pg_database;

use super::*;

/// A time `mins` minutes after the app's clock, as RFC 3339.
fn in_minutes(s: &BotProject, mins: i64) -> String {
    (s.app.ctx.now() + chrono::Duration::minutes(mins)).to_rfc3339()
}

#[tokio::test]
async fn a_scheduled_broadcast_is_started_by_the_worker_when_due_and_can_be_canceled() {
    // The sweep serves every tenant: a database of its own, swept every second.
    let db = isolated_pg_database().await;
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .env("DATABASE_URL", &db)
        .env("JOB_SWEEP_SECS", "1")
        .build()
        .await;
    pacing::insert_subscribers(&s, [1_201, 1_202]).await;

    // Bad times are refused on the field, and nothing is saved.
    let body = |send_at: Value| {
        Some(json!({"text": "Later", "segment": {"kind": "all"}, "send_at": send_at}))
    };
    let far = (s.app.ctx.now() + chrono::Duration::days(91)).to_rfc3339();
    for (send_at, code) in [
        (json!("tomorrow"), "invalid_time"),
        (json!(in_minutes(&s, -1)), "in_the_past"),
        (json!(far), "too_far"),
    ] {
        let got = call(&s, &s.c, Method::POST, "", body(send_at.clone())).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("send_at"),
        );
        assert_field_error(&got, "send_at", code, &send_at.to_string());
    }
    let (_, list) = call(&s, &s.c, Method::GET, "", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");

    // Scheduled in ten minutes: nothing is written or sent before then.
    let (st, b) = call(&s, &s.c, Method::POST, "", body(json!(in_minutes(&s, 10)))).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "scheduled", "{b}");
    assert_eq!(b["recipients"], 0, "{b}");
    assert!(b["send_at"].is_string(), "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    // A second one, scheduled from a draft through `…/send`, then canceled.
    let draft = create(&s, "Never", json!({"kind": "all"}), false).await;
    let other = draft["id"].as_str().unwrap().to_string();
    let (st, sch) = call(
        &s,
        &s.c,
        Method::POST,
        &format!("/{other}/send"),
        Some(json!({"send_at": in_minutes(&s, 10)})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{sch}");
    assert_eq!(sch["status"], "scheduled", "{sch}");
    let (st, c) = call(&s, &s.c, Method::POST, &format!("/{other}/cancel"), None).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "canceled", "{c}");
    assert_eq!(s.audited("broadcast.scheduled").await, 2);

    // Someone starts the bot meanwhile: the segment is taken when the time comes.
    assert_eq!(
        domain::broadcasts::start_due(&s.app.ctx).await.unwrap(),
        0,
        "not due yet"
    );
    let (_, still) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(still["status"], "scheduled", "{still}");
    pacing::insert_subscribers(&s, [1_203]).await;
    s.app.clock.advance(chrono::Duration::minutes(11));
    let c = s.app.relogin(&s.c).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (_, b) = s
            .app
            .as_creator(&c, Method::GET, &path(&s, &format!("/{id}")), None)
            .await;
        if b["status"] == "done" {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "never done: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["recipients"], 3, "{done}");
    assert_eq!(done["progress"]["sent"], 3, "{done}");
    for u in [1_201, 1_202, 1_203] {
        assert_eq!(got(&s, u, "Later"), 1, "user {u}");
        assert_eq!(got(&s, u, "Never"), 0, "user {u}");
    }
    let (_, canceled) = s
        .app
        .as_creator(&c, Method::GET, &path(&s, &format!("/{other}")), None)
        .await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(s.audited("broadcast.sent").await, 1);
}

#[tokio::test]
async fn a_scheduled_broadcast_can_be_sent_at_once_and_a_started_one_not_rescheduled() {
    let s = setup().await;
    pacing::insert_subscribers(&s, [1_301]).await;
    let (st, b) = call(
        &s,
        &s.c,
        Method::POST,
        "",
        Some(json!({"text": "Now instead", "segment": {"kind": "all"},
            "send_at": in_minutes(&s, 60)})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (st, b) = call(&s, &s.c, Method::POST, &format!("/{id}/send"), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["recipients"], 1, "{b}");
    wait_status(&s, &id, "done").await;
    assert_eq!(got(&s, 1_301, "Now instead"), 1);
    let got_err = call(
        &s,
        &s.c,
        Method::POST,
        &format!("/{id}/send"),
        Some(json!({"send_at": in_minutes(&s, 60)})),
    )
    .await;
    assert_error(&got_err, StatusCode::CONFLICT, "broadcast_started", None);
    let got_err = call(
        &s,
        &s.c,
        Method::POST,
        &format!("/{id}/send"),
        Some(json!({"send_at": "soon"})),
    )
    .await;
    assert_field_error(&got_err, "send_at", "invalid_time", "not a time");
}
