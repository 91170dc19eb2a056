//! A broadcast nobody is sending any more is queued again by the worker's sweep.
use std::time::Duration;

use gatehouse_tests::app::isolated_pg_database;

use super::*;

#[tokio::test]
async fn a_stuck_broadcast_is_queued_again_by_the_sweep_and_reaches_everyone_once() {
    // The sweep serves every tenant: a database of its own, swept every second, where a
    // broadcast untouched for two seconds counts as stuck.
    let db = isolated_pg_database().await;
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .env("DATABASE_URL", &db)
        .env("JOB_SWEEP_SECS", "1")
        .env("BATCH_STUCK_AFTER_SECS", "2")
        .build()
        .await;
    let users: Vec<i64> = (0..IN_FLIGHT as i64 + 2).map(|i| 1_001 + i).collect();
    pacing::insert_subscribers(&s, users.iter().copied()).await;
    let b = create(&s, "Stuck news", json!({"kind": "all"}), false).await;
    let id = b["id"].as_str().unwrap().to_string();
    let bid = Uuid::parse_str(&id).unwrap();
    let set_status = |status: &'static str| {
        let db = s.app.ctx.db.clone();
        async move {
            entity::broadcast::Entity::update_many()
                .col_expr(
                    entity::broadcast::Column::Status,
                    sea_orm::sea_query::Expr::value(status),
                )
                .filter(entity::broadcast::Column::Id.eq(bid))
                .exec(&db)
                .await
                .unwrap();
        }
    };
    // As if its job had given up after the first messages: sending, two recipients pending,
    // no job in the queue, nobody holding a recipient.
    s.tg.hold("sendMessage", None);
    let (st, sending) = call(&s, &s.c, Method::POST, &format!("/{id}/send"), None).await;
    assert_eq!(st, StatusCode::OK, "{sending}");
    s.tg.wait_held(IN_FLIGHT, Duration::from_secs(10)).await;
    set_status("canceled").await;
    s.tg.release();
    s.app.wait_idle().await;
    set_status("sending").await;
    let (_, stuck) = call(&s, &s.c, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(stuck["status"], "sending", "{stuck}");
    assert_eq!(stuck["progress"]["pending"], 2, "{stuck}");

    // Nobody asks: once it is untouched for the stuck time (the test clock walks past it),
    // the worker's sweep finds it and its job sends the rest, once.
    s.app.clock.advance(chrono::Duration::seconds(5));
    let done = wait_status(&s, &id, "done").await;
    assert_eq!(done["progress"]["sent"], users.len(), "{done}");
    s.app.wait_idle().await;
    for u in users.iter().copied() {
        assert_eq!(got(&s, u, "Stuck news"), 1, "user {u}");
    }
    // Done now: later sweeps leave it alone.
    assert_eq!(
        domain::broadcasts::recover_stuck(&s.app.ctx).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_broadcast_whose_job_is_queued_or_whose_recipient_is_held_is_not_queued_twice() {
    let db = isolated_pg_database().await;
    let s = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .env("DATABASE_URL", &db)
        .without_worker()
        .build()
        .await;
    pacing::insert_subscribers(&s, [1_101, 1_102]).await;
    let b = create(&s, "Queued news", json!({"kind": "all"}), true).await;
    let bid = Uuid::parse_str(b["id"].as_str().unwrap()).unwrap();
    // Its job waits in the queue (no worker runs it): however old, it is not stuck.
    s.app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(
        domain::broadcasts::recover_stuck(&s.app.ctx).await.unwrap(),
        0
    );
    assert_eq!(s.app.jobs_in_flight().await, 1);

    // The queued job gone, a recipient held by a live claimer (this process, which never
    // beats: its lease is the bound): still not stuck.
    let ctx = &s.app.ctx;
    sea_orm::ConnectionTrait::execute_unprepared(
        &ctx.db,
        &format!(
            "DELETE FROM apalis.jobs WHERE job_type = '{}'",
            domain::jobs::queue_name::<domain::jobs::SendBroadcast>(ctx)
        ),
    )
    .await
    .unwrap();
    entity::broadcast_recipient::Entity::update_many()
        .col_expr(
            entity::broadcast_recipient::Column::ClaimedBy,
            sea_orm::sea_query::Expr::value(Some(domain::claims::me(ctx))),
        )
        .col_expr(
            entity::broadcast_recipient::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(Some(ctx.now() + chrono::Duration::seconds(60))),
        )
        .filter(entity::broadcast_recipient::Column::BroadcastId.eq(bid))
        .filter(entity::broadcast_recipient::Column::TelegramUserId.eq(1_101))
        .exec(&ctx.db)
        .await
        .unwrap();
    assert_eq!(domain::broadcasts::recover_stuck(ctx).await.unwrap(), 0);

    // The lease ran out: queued again, once, however many sweeps run at once.
    s.app.clock.advance(chrono::Duration::minutes(2));
    let (a, b) = tokio::join!(
        domain::broadcasts::recover_stuck(ctx),
        domain::broadcasts::recover_stuck(ctx)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(s.app.jobs_in_flight().await, 1);
    assert_eq!(domain::broadcasts::recover_stuck(ctx).await.unwrap(), 0);
}
