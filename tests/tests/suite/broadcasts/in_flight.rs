//! What happens to the messages in flight (up to `IN_FLIGHT` per job) when a broadcast is
//! canceled, its workspace suspended, its job gives up, or its worker dies.
use std::time::{Duration, Instant};

use super::*;

/// The recipients of a broadcast, straight from the database.
async fn recipients_of(
    db: &sea_orm::DatabaseConnection,
    id: Uuid,
) -> Vec<entity::broadcast_recipient::Model> {
    entity::broadcast_recipient::Entity::find()
        .filter(entity::broadcast_recipient::Column::BroadcastId.eq(id))
        .all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn cancel_stops_the_recipients_not_sent_yet() {
    let s = setup().await;
    let users: Vec<i64> = (0..IN_FLIGHT as i64 + 3).map(|i| 301 + i).collect();
    pacing::insert_subscribers(&s, users.iter().copied()).await;
    // The job's first IN_FLIGHT messages are held at Telegram; the rest wait behind them.
    s.tg.hold("sendMessage", None);
    let b = create(&s, "Flash sale", json!({"kind": "all"}), true).await;
    let id = b["id"].as_str().unwrap().to_string();
    s.tg.wait_held(IN_FLIGHT, Duration::from_secs(10)).await;
    let (st, c) = call(&s, &s.c, Method::POST, &format!("/{id}/cancel"), None).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "canceled");
    s.tg.release();
    s.app.wait_idle().await;

    let reached: usize = users.iter().map(|u| got(&s, *u, "Flash sale")).sum();
    assert_eq!(
        reached, IN_FLIGHT,
        "only the messages already on their way arrived"
    );
    let after = wait_status(&s, &id, "canceled").await;
    assert_eq!(after["progress"]["sent"], IN_FLIGHT, "{after}");
    assert_eq!(after["progress"]["pending"], 3, "{after}");
    assert_eq!(s.audited("broadcast.canceled").await, 1);
    // A canceled broadcast is not sent again.
    let got = call(&s, &s.c, Method::POST, &format!("/{id}/send"), None).await;
    assert_error(&got, StatusCode::CONFLICT, "broadcast_canceled", None);
}

#[tokio::test]
async fn a_suspended_workspace_s_broadcast_pauses_and_resumes_on_unsuspension() {
    let s = setup().await;
    let users: Vec<i64> = (0..IN_FLIGHT as i64 + 3).map(|i| 501 + i).collect();
    pacing::insert_subscribers(&s, users.iter().copied()).await;
    s.tg.hold("sendMessage", None);
    let b = create(&s, "Paused news", json!({"kind": "all"}), true).await;
    let id = b["id"].as_str().unwrap().to_string();
    s.tg.wait_held(IN_FLIGHT, Duration::from_secs(10)).await;
    let staff = s.app.staff(domain::accounts::StaffRole::Staff).await;
    let staff_call = |what: &'static str| {
        let app = &s.app;
        let token = staff.token.clone();
        let tenant = s.c.tenant_id;
        async move {
            let (st, b) = app
                .call(
                    Method::POST,
                    &format!("/api/v1/staff/tenants/{tenant}/{what}"),
                    Some(&token),
                    Some(json!({"reason": "unpaid"})),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
    };
    staff_call("suspend").await;
    s.tg.release();
    s.app.wait_idle().await;
    let reached =
        |s: &BotProject| -> usize { users.iter().map(|u| got(s, *u, "Paused news")).sum() };
    assert_eq!(
        reached(&s),
        IN_FLIGHT,
        "only the messages already on their way"
    );
    let (st, held) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(st, StatusCode::OK, "{held}");
    assert_eq!(held["status"], "sending", "{held}");
    assert_eq!(held["paused"], true, "{held}");
    assert_eq!(held["progress"]["pending"], 3, "{held}");

    staff_call("unsuspend").await;
    let done = wait_status(&s, &id, "done").await;
    assert_eq!(done["progress"]["sent"], users.len(), "{done}");
    assert_eq!(done["paused"], false, "{done}");
    for u in users.iter().copied() {
        assert_eq!(got(&s, u, "Paused news"), 1, "user {u}");
    }
}

#[tokio::test]
async fn sending_a_broadcast_whose_job_gave_up_resumes_it() {
    let s = setup().await;
    let users: Vec<i64> = (0..IN_FLIGHT as i64 + 1).map(|i| 901 + i).collect();
    pacing::insert_subscribers(&s, users.iter().copied()).await;
    let b = create(&s, "Resumed news", json!({"kind": "all"}), false).await;
    let id = b["id"].as_str().unwrap().to_string();
    // As if its job had given up: sending, recipients pending, no job queued.
    let bid = Uuid::parse_str(&id).unwrap();
    s.tg.hold("sendMessage", None);
    let (st, sending) = call(&s, &s.c, Method::POST, &format!("/{id}/send"), None).await;
    assert_eq!(st, StatusCode::OK, "{sending}");
    s.tg.wait_held(IN_FLIGHT, Duration::from_secs(10)).await;
    entity::broadcast::Entity::update_many()
        .col_expr(
            entity::broadcast::Column::Status,
            sea_orm::sea_query::Expr::value("canceled"),
        )
        .filter(entity::broadcast::Column::Id.eq(bid))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    s.tg.release();
    s.app.wait_idle().await;
    entity::broadcast::Entity::update_many()
        .col_expr(
            entity::broadcast::Column::Status,
            sea_orm::sea_query::Expr::value("sending"),
        )
        .filter(entity::broadcast::Column::Id.eq(bid))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    let (_, stuck) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(stuck["status"], "sending", "{stuck}");
    assert_eq!(stuck["progress"]["pending"], 1, "{stuck}");

    let (st, again) = call(&s, &s.c, Method::POST, &format!("/{id}/send"), None).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    let done = wait_status(&s, &id, "done").await;
    assert_eq!(done["progress"]["sent"], users.len(), "{done}");
    for u in users.iter().copied() {
        assert_eq!(got(&s, u, "Resumed news"), 1, "user {u}");
    }
}

#[tokio::test]
async fn a_worker_killed_mid_broadcast_is_taken_over_and_everyone_gets_it_exactly_once() {
    use crate::cluster::{creator_with_plan, env, wait_until};
    use gatehouse_tests::cluster::Cluster;
    use sea_orm::ActiveModelTrait;

    let mut cl = Cluster::start(1, 0, std::collections::HashMap::new()).await;
    let (c, pid, _) = creator_with_plan(&cl.app).await;
    let bot = cl.app.connect_bot(&c, &pid, &cl.tg).await;
    let users: Vec<i64> = (0..6).map(|i| 9_100 + i).collect();
    // Subscribers as the bot records them (what no endpoint creates).
    for u in &users {
        entity::subscriber::ActiveModel {
            id: sea_orm::Set(Uuid::now_v7()),
            tenant_id: sea_orm::Set(c.tenant_id),
            project_id: sea_orm::Set(pid.parse().unwrap()),
            telegram_user_id: sea_orm::Set(*u),
            username: sea_orm::Set(None),
            first_name: sea_orm::Set("Ann".into()),
            created_at: sea_orm::Set(chrono::Utc::now()),
            blocked_at: sea_orm::Set(None),
            language_code: sea_orm::Set(None),
        }
        .insert(&cl.app.ctx.db)
        .await
        .unwrap();
    }
    // The holder stops, alive, holding the third recipient it claims; the others (in flight
    // beside it) are sent.
    let holder = cl
        .add(
            "worker",
            env(&[("GATEHOUSE_TEST_FAULTS", "after_broadcast_claim=pause@3")]),
        )
        .await;
    let (st, b) = cl
        .app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/broadcasts"),
            Some(json!({"text": "Big news", "segment": {"kind": "all"}, "send": true})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["recipients"], 6, "{b}");
    let id = Uuid::parse_str(b["id"].as_str().unwrap()).unwrap();
    let db = cl.app.ctx.db.clone();
    wait_until("the third claim", Duration::from_secs(90), &cl, || async {
        let rs = recipients_of(&db, id).await;
        let sent = rs.iter().filter(|r| r.state.to_string() == "sent").count();
        let held = rs
            .iter()
            .filter(|r| r.state.to_string() == "pending" && r.claimed_by.is_some())
            .count();
        sent == users.len() - 1 && held == 1
    })
    .await;

    cl.workers[holder].kill().await;
    let killed = Instant::now();
    cl.add("worker", std::collections::HashMap::new()).await;
    wait_until(
        "the broadcast done",
        Duration::from_secs(90),
        &cl,
        || async {
            entity::broadcast::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .is_some_and(|b| b.status.to_string() == "done")
        },
    )
    .await;
    let took = killed.elapsed();
    println!("broadcast finished {took:?} after its holder was killed");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let sends = cl.tg.calls_to(&bot.token, "sendMessage");
    for u in &users {
        let n = sends
            .iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(*u) && c.params["text"] == "Big news")
            .count();
        assert_eq!(n, 1, "user {u} got it {n} times");
    }
    let rs = recipients_of(&db, id).await;
    assert!(
        rs.iter()
            .all(|r| r.state.to_string() == "sent" && r.claimed_by.is_none())
    );
}
