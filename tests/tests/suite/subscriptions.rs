//! Subscriptions under concurrency and rollback, through the bot's webhook and the HTTP API:
//! codes redeemed at once by one user make one subscription; the end sweep and the reminder
//! sweep leave alone a subscription renewed while they ran (a slow fake Telegram holds the
//! sweep mid-run); suspended tenants' due reminders never starve other tenants'; rollback
//! takes away exactly what each activation added, and redeemed codes cannot be deleted.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use gatehouse_tests::{
    Backend,
    app::{assert_error, isolated_pg_database},
    factories::BotProject,
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

const CHANNEL: i64 = -1_001_234_567_891;

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("a timestamp: {v}"))
        .parse()
        .unwrap()
}

/// A creator on Growth with a 30-day "Gold" plan granting one channel, and a bot. With
/// `isolated`, the app has a PostgreSQL database of its own and no scheduled sweeps: the
/// sweeps act on every tenant, so a test that walks the clock and runs them must not share
/// the run's database (nor have the worker's cron sweep beside it).
async fn setup(backend: Backend, isolated: Option<&str>) -> BotProject {
    let mut b = BotProject::builder(backend)
        .billing_plan("growth_monthly")
        .channel(CHANNEL);
    if let Some(url) = isolated {
        b = b.env("DATABASE_URL", url).env("WORKER_SCHEDULES", "off");
    }
    b.build().await
}

/// `user` redeems `code` through the bot and waits for its answer containing `reply` (a new
/// one, not an earlier redemption's).
async fn redeem(s: &BotProject, user: i64, code: &str, reply: &str) {
    let before = s
        .texts_to(user)
        .iter()
        .filter(|t| t.contains(reply))
        .count();
    s.say(user, &format!("/start c_{code}")).await;
    s.replies(user, reply, before + 1).await;
}

async fn subscriber_id(s: &BotProject, user: i64) -> Uuid {
    entity::subscriber::Entity::find()
        .filter(entity::subscriber::Column::ProjectId.eq(s.pid.parse::<Uuid>().unwrap()))
        .filter(entity::subscriber::Column::TelegramUserId.eq(user))
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .expect("the subscriber")
        .id
}

/// The user's subscriptions as the API lists them.
async fn subscriptions_of(s: &BotProject, user: i64) -> Vec<Value> {
    let id = subscriber_id(s, user).await.to_string();
    s.subscriptions()
        .await
        .into_iter()
        .filter(|x| x["subscriber_id"] == id.as_str())
        .collect()
}

async fn code_id(s: &BotProject, code: &str) -> String {
    let c = s.app.relogin(&s.c).await;
    s.app.all_codes(&c, &s.pid, &format!("&q={code}")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn rollback(s: &BotProject, code: &str) -> (StatusCode, Value) {
    let id = code_id(s, code).await;
    let c = s.app.relogin(&s.c).await;
    s.app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{}/codes/{id}/rollback", s.pid),
            None,
        )
        .await
}

async fn twenty_parallel_redemptions(backend: Backend) {
    let s = setup(backend, None).await;
    let codes = s.codes(20, json!({})).await;
    let user = 1_001;
    // 20 webhook posts at once, one code each, all from the same user.
    let posts = codes.iter().enumerate().map(|(i, code)| {
        let s = &s;
        async move {
            s.say_as_update(100 + i as i64, user, &format!("/start c_{code}"))
                .await
        }
    });
    futures::future::join_all(posts).await;
    // The replies are paced one per second to the chat; the database says when all 20
    // activations are in (each commits with its subscription).
    let mut activations = vec![];
    for _ in 0..600 {
        if let Ok(sub) = entity::subscriber::Entity::find()
            .filter(entity::subscriber::Column::ProjectId.eq(s.pid.parse::<Uuid>().unwrap()))
            .filter(entity::subscriber::Column::TelegramUserId.eq(user))
            .one(&s.app.ctx.db)
            .await
            && let Some(sub) = sub
        {
            activations = entity::activation::Entity::find()
                .filter(entity::activation::Column::SubscriberId.eq(sub.id))
                .filter(entity::activation::Column::SubscriptionId.is_not_null())
                .order_by_asc(entity::activation::Column::AddedFrom)
                .all(&s.app.ctx.db)
                .await
                .unwrap();
            if activations.len() == 20 {
                break;
            }
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(activations.len(), 20, "every code redeemed");
    let subs = subscriptions_of(&s, user).await;
    assert_eq!(
        subs.len(),
        1,
        "one subscription, extended 19 times: {subs:?}"
    );
    assert_eq!(subs[0]["status"], "active");
    assert_eq!(
        time(&subs[0]["ends_at"]) - time(&subs[0]["starts_at"]),
        Duration::days(20 * 30),
        "twenty plan durations"
    );
    // Each activation added the 30 days after the previous one's.
    for w in activations.windows(2) {
        assert_eq!(w[0].added_until, w[1].added_from);
    }
    for a in &activations {
        assert_eq!(
            a.added_until.unwrap() - a.added_from.unwrap(),
            Duration::days(30)
        );
    }
}

#[tokio::test]
async fn twenty_codes_redeemed_at_once_by_one_user_make_one_subscription_of_twenty_durations() {
    twenty_parallel_redemptions(Backend::Postgres).await;
}

#[tokio::test]
async fn twenty_codes_redeemed_at_once_by_one_user_make_one_subscription_on_sqlite() {
    twenty_parallel_redemptions(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_end_sweep_leaves_alone_a_subscription_renewed_while_it_ran() {
    let db = isolated_pg_database().await;
    let s = setup(Backend::Postgres, Some(&db)).await;
    let codes = s.codes(3, json!({})).await;
    redeem(&s, 1_101, &codes[0], "Code accepted").await;
    redeem(&s, 1_102, &codes[1], "Code accepted").await;
    s.app.clock.advance(Duration::days(31));

    // The sweep reads both ended subscriptions, ends the first and hangs in Telegram while
    // removing its user; meanwhile the second user redeems another code.
    s.tg.hold("banChatMember", None);
    let ctx = s.app.ctx.clone();
    let sweep = tokio::spawn(async move { domain::subscriptions::expire_due(&ctx).await });
    s.tg.wait_held(1, StdDuration::from_secs(20)).await;
    redeem(&s, 1_102, &codes[2], "extended").await;
    s.tg.release();
    let ended = sweep.await.unwrap().unwrap();
    assert_eq!(ended, 1, "only the subscription whose end is still past");

    let first = subscriptions_of(&s, 1_101).await.remove(0);
    assert_eq!(first["status"], "expired");
    let renewed = subscriptions_of(&s, 1_102).await.remove(0);
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert_eq!(
        time(&renewed["ends_at"]).timestamp_micros(),
        (s.app.ctx.now() + Duration::days(30)).timestamp_micros()
    );
    let bans = s.tg.calls_to(&s.bot.token, "banChatMember");
    assert!(
        bans.iter()
            .all(|b| b.params["user_id"].as_i64() == Some(1_101)),
        "only the ended user leaves: {bans:?}"
    );
    assert!(
        !s.texts_to(1_102).iter().any(|t| t.contains("has ended")),
        "{:?}",
        s.texts_to(1_102)
    );
}

#[tokio::test]
async fn a_reminder_is_not_sent_for_an_end_date_a_renewal_moved() {
    let db = isolated_pg_database().await;
    let s = setup(Backend::Postgres, Some(&db)).await;
    let codes = s.codes(3, json!({})).await;
    redeem(&s, 1_201, &codes[0], "Code accepted").await;
    redeem(&s, 1_202, &codes[1], "Code accepted").await;
    s.app.clock.advance(Duration::days(29) + Duration::hours(1));

    // The sweep sends the first reminder and hangs in Telegram; the second user renews.
    s.tg.hold("sendMessage", Some(1_201));
    let ctx = s.app.ctx.clone();
    let sweep = tokio::spawn(async move { domain::subscriptions::send_reminders(&ctx).await });
    s.tg.wait_held(1, StdDuration::from_secs(20)).await;
    redeem(&s, 1_202, &codes[2], "extended").await;
    s.tg.release();
    assert_eq!(sweep.await.unwrap().unwrap(), 1);

    s.reply(1_201, "ends on").await;
    assert!(
        !s.texts_to(1_202).iter().any(|t| t.contains("ends on")),
        "no reminder of the old end: {:?}",
        s.texts_to(1_202)
    );
    let renewed = subscriptions_of(&s, 1_202).await.remove(0);
    assert!(
        renewed["reminder_sent_at"].is_null(),
        "the new end still gets its reminder: {renewed}"
    );
    // A day before the new end it comes.
    s.app.clock.advance(Duration::days(30));
    assert_eq!(
        domain::subscriptions::send_reminders(&s.app.ctx)
            .await
            .unwrap(),
        1
    );
    s.reply(1_202, "ends on").await;
}

#[tokio::test]
async fn suspended_tenants_due_reminders_do_not_starve_an_active_tenants() {
    let db = isolated_pg_database().await;
    // The suspended tenant's five reminders fall due before the active tenant's one, and the
    // sweep takes three at a time.
    let suspended = setup(Backend::Postgres, Some(&db)).await;
    let codes = suspended.codes(5, json!({})).await;
    for (i, code) in codes.iter().enumerate() {
        redeem(&suspended, 1_300 + i as i64, code, "Code accepted").await;
    }
    let staff = suspended
        .app
        .staff(domain::accounts::StaffRole::Staff)
        .await;
    domain::staff::suspend(
        &suspended.app.ctx,
        &staff.ctx,
        suspended.c.tenant_id,
        "review",
    )
    .await
    .unwrap();
    let active = setup(Backend::Postgres, Some(&db)).await;
    let code = active.codes(1, json!({})).await.remove(0);
    redeem(&active, 1_310, &code, "Code accepted").await;

    active
        .app
        .clock
        .advance(Duration::days(29) + Duration::hours(1));
    for _ in 0..2 {
        let sent = domain::subscriptions::send_reminders_up_to(&active.app.ctx, 3)
            .await
            .unwrap();
        assert!(sent <= 1);
    }
    active.reply(1_310, "ends on").await;
    let untouched = entity::subscription::Entity::find()
        .filter(entity::subscription::Column::TenantId.eq(suspended.c.tenant_id))
        .all(&active.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(untouched.len(), 5);
    assert!(
        untouched.iter().all(|s| s.reminder_sent_at.is_none()),
        "suspended tenants' reminders are neither sent nor claimed"
    );
}

#[tokio::test]
async fn rollback_takes_away_exactly_the_time_each_code_added() {
    let s = setup(Backend::Postgres, None).await;
    let codes = s.codes(3, json!({})).await;
    let user = 1_401;
    // Day 0, 10 and 20: 30 days each, one after the other: [0, 30), [30, 60), [60, 90).
    redeem(&s, user, &codes[0], "Code accepted").await;
    let t0 = time(&subscriptions_of(&s, user).await[0]["starts_at"]);
    s.app.clock.advance(Duration::days(10));
    redeem(&s, user, &codes[1], "extended").await;
    s.app.clock.advance(Duration::days(10));
    redeem(&s, user, &codes[2], "extended").await;
    let sub = subscriptions_of(&s, user).await.remove(0);
    assert_eq!(time(&sub["ends_at"]), t0 + Duration::days(90));

    // The middle code: its 30 days go, the last code's time moves up.
    let (st, out) = rollback(&s, &codes[1]).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(out["activations_removed"], 1);
    assert_eq!(out["subscriptions_revoked"], 0);
    assert_eq!(out["subscriptions_shortened"], 1);
    let sub = subscriptions_of(&s, user).await.remove(0);
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["ends_at"]), t0 + Duration::days(60));
    s.reply(user, "withdrawn").await;

    // The first code: the last one's 30 days now count from when it was redeemed (day 20).
    let (st, out) = rollback(&s, &codes[0]).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(out["subscriptions_shortened"], 1);
    let sub = subscriptions_of(&s, user).await.remove(0);
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["starts_at"]), t0 + Duration::days(20));
    assert_eq!(time(&sub["ends_at"]), t0 + Duration::days(50));
    assert!(
        s.tg.calls_to(&s.bot.token, "banChatMember").is_empty(),
        "time remains, so the user stays"
    );

    // The last code: nothing remains, so the subscription is revoked and the user removed.
    let (st, out) = rollback(&s, &codes[2]).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(out["subscriptions_revoked"], 1);
    let sub = subscriptions_of(&s, user).await.remove(0);
    assert_eq!(sub["status"], "revoked");
    let bans = s.tg.calls_to(&s.bot.token, "banChatMember");
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].params["user_id"].as_i64(), Some(user));
    s.reply(user, "revoked").await;
}

#[tokio::test]
async fn rolling_back_the_first_code_keeps_the_second_codes_time_and_redeemed_codes_stay() {
    let s = setup(Backend::Sqlite, None).await;
    let codes = s.codes(3, json!({})).await;
    let user = 1_501;
    redeem(&s, user, &codes[0], "Code accepted").await;
    redeem(&s, user, &codes[1], "extended").await;
    let sub = subscriptions_of(&s, user).await.remove(0);
    let start = time(&sub["starts_at"]);
    assert_eq!(time(&sub["ends_at"]), start + Duration::days(60));

    // Deleting a redeemed code is refused; it stays for reporting.
    let c = s.app.relogin(&s.c).await;
    let id = code_id(&s, &codes[1]).await;
    let r = s
        .app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{}/codes/{id}", s.pid),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "code_redeemed", None);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("roll it back")
    );
    let listed = s.app.all_codes(&c, &s.pid, "&status=redeemed").await;
    assert_eq!(listed.len(), 2);
    // An unredeemed one goes.
    let unredeemed = code_id(&s, &codes[2]).await;
    let (st, _) = s
        .app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{}/codes/{unredeemed}", s.pid),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // Rolling back the first code leaves the 30 days the second one added.
    let (st, out) = rollback(&s, &codes[0]).await;
    assert_eq!(st, StatusCode::OK, "{out}");
    assert_eq!(out["subscriptions_revoked"], 0);
    let sub = subscriptions_of(&s, user).await.remove(0);
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["ends_at"]), start + Duration::days(30));
    assert_eq!(sub["access_code_id"], id.as_str(), "now the second code's");
    assert!(s.tg.calls_to(&s.bot.token, "banChatMember").is_empty());
}
