//! Billing: the usage outbox: usage reaching Stripe once through failures, the overage preview,
//! backoff, racing and dying flushers, refusals, offline usage.
use super::*;

// --- Usage outbox -------------------------------------------------------------------------

#[tokio::test]
async fn usage_reaches_stripe_once_each_through_failures() {
    let (app, fake, _) = outbox_app(Backend::Postgres).await;
    let Subscribed { c, customer, .. } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(insert_usage(&app, c.tenant_id, n).await);
    }
    fake.fail_next_on("/meter_events", 3, Fault::ServerError);
    fake.fail_next_on("/meter_events", 2, Fault::RateLimited);

    let first = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!(first.claimed, 5);
    assert_eq!(first.retrying, 5, "{first:?}");
    // Nothing is due again until the backoff passes.
    let again = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!(again.claimed, 0);
    let recs = records_of(&app, c.tenant_id).await;
    assert!(
        recs.iter()
            .all(|r| r.status == entity::usage_record::UsageStatus::Pending
                && r.attempts == 1
                && r.last_error.is_some())
    );
    assert!(
        recs.iter()
            .all(|r| r.next_attempt_at == app.ctx.now() + outbox::backoff(1))
    );

    flush_until_settled(&app).await;
    assert_each_reported_once(&fake, &ids);
    for ev in fake.meter_events() {
        assert_eq!(ev["event_name"], fake_stripe::METER_EVENT_NAME);
        assert_eq!(ev["payload"]["stripe_customer_id"], customer.as_str());
    }
    let by_id: HashMap<String, Value> = fake
        .meter_events()
        .into_iter()
        .map(|e| (e["identifier"].as_str().unwrap().to_string(), e))
        .collect();
    for r in records_of(&app, c.tenant_id).await {
        assert_eq!(r.status.to_string(), "sent");
        assert!(r.sent_at.is_some());
        assert_eq!(
            by_id[&r.id.to_string()]["payload"]["value"],
            r.overage_count.to_string()
        );
    }
    let b = billing_of(&app, &c).await;
    assert_eq!(b["unbilled"]["records"], 0);
}

#[tokio::test]
async fn the_overage_preview_is_what_reaches_stripe() {
    // Production shape with the background worker, which generates the codes.
    let fake = FakeStripe::start().await;
    let mut env = fake.env();
    env.insert("DATABASE_URL".into(), isolated_pg_database().await);
    let app = TestApp::spawn_full(Backend::Postgres, env, true).await;
    let Subscribed { c, customer, .. } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    let (pid, plan_id) = app.project_with_plan(&c).await;

    // 180 free codes first, then a batch of 50 that crosses the 200-code quota.
    let (s, b) = app
        .post_batch(
            &c,
            &pid,
            gatehouse_tests::factories::batch(&plan_id, 180),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let first = b["id"].as_str().unwrap().to_string();
    let (s, preview) = app
        .as_creator(
            &c,
            Method::POST,
            &format!("/api/v1/projects/{pid}/codes/preview"),
            Some(json!({"plan_id": plan_id, "quantity": 50})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(
        (preview["free"].as_i64(), preview["overage"].as_i64()),
        (Some(20), Some(30))
    );
    assert_eq!(preview["fee_minor"], 300);
    let (s, b) = app
        .post_batch(
            &c,
            &pid,
            gatehouse_tests::factories::batch(&plan_id, 50),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");

    let second = b["id"].as_str().unwrap().to_string();
    assert_eq!(app.wait_batch(&c, &pid, &first).await["status"], "done");
    assert_eq!(app.wait_batch(&c, &pid, &second).await["status"], "done");

    let b = billing_of(&app, &c).await;
    assert_eq!(b["overage_codes"], preview["overage"]);
    assert_eq!(b["overage_fee_minor"], preview["fee_minor"]);

    // The worker reports the overage as soon as the codes exist; no test code flushes.
    for _ in 0..200 {
        if !fake.meter_events().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = fake.meter_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["payload"]["value"],
        preview["overage"].to_string()
    );
    assert_eq!(
        events[0]["payload"]["stripe_customer_id"],
        customer.as_str()
    );
    let recs = records_of(&app, c.tenant_id).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(events[0]["identifier"], recs[0].id.to_string());
    assert_eq!(json!(recs[0].fee_minor), preview["fee_minor"]);
    assert_eq!(billing_of(&app, &c).await["unbilled"]["codes"], 0);
}

#[tokio::test]
async fn a_batch_s_overage_is_billed_once_its_codes_exist() {
    let (app, fake, _) = outbox_app(Backend::Postgres).await;
    let Subscribed { c, start, .. } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    insert_batch(&app, &c, at(start), 0, 12).await;
    let batch = code_batch::Entity::find()
        .filter(code_batch::Column::TenantId.eq(c.tenant_id))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let set_status = |status: &'static str| {
        let b = batch.clone();
        let db = app.ctx.db.clone();
        async move {
            let mut am = b.into_active_model();
            am.status = Set(sea_orm::ActiveEnum::try_from_value(&status.to_string()).unwrap());
            am.update(&db).await.unwrap();
        }
    };
    set_status("generating").await;
    let id = insert_usage(&app, c.tenant_id, 12).await;
    let mut am = usage_record::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    am.batch_id = Set(Some(batch.id));
    am.update(&app.ctx.db).await.unwrap();

    // Still generating: it may yet fail and count nothing, so nothing is sent.
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!(r.claimed, 0);
    set_status("failed").await;
    assert_eq!(billing::flush_usage(&app.ctx).await.unwrap().claimed, 0);

    // Generated: billed once.
    set_status("delivering").await;
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!((r.claimed, r.sent), (1, 1));
    assert_each_reported_once(&fake, &[id]);
}

#[test]
fn backoff_doubles_up_to_an_hour() {
    assert_eq!(outbox::backoff(1), Duration::seconds(30));
    assert_eq!(outbox::backoff(2), Duration::seconds(60));
    assert_eq!(outbox::backoff(5), Duration::seconds(480));
    assert_eq!(outbox::backoff(12), Duration::seconds(3600));
    assert_eq!(outbox::backoff(1000), Duration::seconds(3600));
}

async fn records_due(ctx: &domain::AppCtx) -> usize {
    usage_record::Entity::find()
        .filter(usage_record::Column::Status.eq(outbox::UsageStatus::Pending))
        .all(&ctx.db)
        .await
        .unwrap()
        .len()
}

/// Two flushers as two processes would run them: two apps (each with its own connection
/// pool) on one database, flushing at the same moment on a multi-threaded runtime.
async fn two_flushers(backend: Backend) {
    let (app, fake, mut env) = outbox_app(backend).await;
    env.insert("DATABASE_URL".into(), app.ctx.config.database_url.clone());
    let other = TestApp::spawn_full(backend, env, false).await;
    let Subscribed { c, .. } = app
        .subscribed_tenant(&fake, "growth_monthly", fake_stripe::PRICE_GROWTH_MONTHLY)
        .await;
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(insert_usage(&app, c.tenant_id, 1 + n % 3).await);
    }
    fake.fail_next_on("/meter_events", 6, Fault::ServerError);
    let mut claimed = 0;
    for _ in 0..30 {
        other.clock.set(app.ctx.now());
        // Both start together, with warm connection pools.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |ctx: domain::AppCtx, barrier: std::sync::Arc<tokio::sync::Barrier>| async move {
            records_due(&ctx).await;
            barrier.wait().await;
            billing::flush_usage(&ctx).await
        };
        let (a, b) = tokio::join!(
            tokio::spawn(run(app.ctx.clone(), barrier.clone())),
            tokio::spawn(run(other.ctx.clone(), barrier))
        );
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        claimed += a.claimed + b.claimed;
        let left = records_of(&app, c.tenant_id)
            .await
            .iter()
            .filter(|r| r.status != entity::usage_record::UsageStatus::Sent)
            .count();
        if left == 0 {
            break;
        }
        app.clock.advance(Duration::hours(2));
    }
    assert!(claimed >= 60);
    assert_each_reported_once(&fake, &ids);
    assert_eq!(fake.meter_events().len(), 60);
    assert!(
        records_of(&app, c.tenant_id)
            .await
            .iter()
            .all(|r| r.status == entity::usage_record::UsageStatus::Sent)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flushers_at_once_never_send_a_record_twice_on_postgres() {
    two_flushers(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flushers_at_once_never_send_a_record_twice_on_sqlite() {
    two_flushers(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_flusher_that_dies_mid_send_leaves_the_record_for_the_next_one() {
    let (app, fake, env) = outbox_app(Backend::Postgres).await;
    let Subscribed { c, .. } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    let id = insert_usage(&app, c.tenant_id, 7).await;

    // Stripe hangs: the call times out and the record is retried later.
    fake.fail_next_on("/meter_events", 1, Fault::Hang);
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!((r.claimed, r.retrying), (1, 1));
    assert!(fake.meter_identifier_counts().is_empty());

    // The process dies while the request is in flight.
    app.clock.advance(Duration::hours(2));
    fake.fail_next_on("/meter_events", 1, Fault::Hang);
    let ctx = app.ctx.clone();
    let task = tokio::spawn(async move { billing::flush_usage(&ctx).await });
    // Wait until the request is at Stripe (bounded), then kill the flusher.
    for _ in 0..100 {
        if fake.calls_to("POST", "/v1/billing/meter_events").len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(fake.calls_to("POST", "/v1/billing/meter_events").len(), 2);
    task.abort();
    let rec = usage_record::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.status.to_string(),
        "pending",
        "a claimed record is never lost"
    );

    // Restart: a new process on the same database. The claim's lease keeps it off the
    // record until it runs out; then it is sent once.
    let restarted = TestApp::spawn_full(Backend::Postgres, env, false).await;
    restarted.clock.set(app.ctx.now());
    assert_eq!(
        billing::flush_usage(&restarted.ctx).await.unwrap().claimed,
        0
    );
    restarted
        .clock
        .advance(Duration::seconds(outbox::CLAIM_LEASE_SECS + 1));
    let r = billing::flush_usage(&restarted.ctx).await.unwrap();
    assert_eq!((r.claimed, r.sent), (1, 1));
    assert_each_reported_once(&fake, &[id]);
}

#[tokio::test]
async fn a_record_stripe_refuses_is_marked_failed_and_shown_to_staff() {
    let (app, fake, _) = outbox_app(Backend::Postgres).await;
    let Subscribed { c, .. } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    let bad = insert_usage(&app, c.tenant_id, 4).await;
    fake.fail_next_on("/meter_events", 1, Fault::BadRequest);
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!((r.claimed, r.failed), (1, 1));
    let good = insert_usage(&app, c.tenant_id, 2).await;
    app.clock.advance(Duration::days(1));
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!(
        (r.claimed, r.sent),
        (1, 1),
        "a failed record is not sent again"
    );

    let rec = usage_record::Entity::find_by_id(bad)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status.to_string(), "failed");
    let err = rec.last_error.unwrap();
    assert!(
        err.contains("400") && err.contains("No active meter"),
        "{err}"
    );

    let b = billing_of(&app, &c).await;
    assert_eq!(b["unbilled"]["records"], 1);
    assert_eq!(b["unbilled"]["failed_records"], 1);
    assert_eq!(b["unbilled"]["codes"], 4);
    assert_eq!(b["unbilled"]["fee_minor"], 40);

    // Staff see it, with Stripe's reason; read-only staff cannot requeue it.
    let readonly = app.staff(StaffRole::StaffReadonly).await;
    let path = format!(
        "/api/v1/staff/billing/usage-records?status=failed&tenant_id={}",
        c.tenant_id
    );
    let (s, listed) = app
        .call(Method::GET, &path, Some(&readonly.token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], bad.to_string());
    assert_eq!(listed[0]["status"], "failed");
    assert!(
        listed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("No active meter")
    );
    let direct = outbox::staff_usage_records(
        &app.ctx,
        &readonly.ctx,
        outbox::UsageRecordFilter {
            status: Some("failed".into()),
            tenant_id: Some(c.tenant_id),
        },
    )
    .await
    .unwrap();
    assert_eq!(direct.len(), 1);
    let err = outbox::staff_requeue(&app.ctx, &readonly.ctx, bad)
        .await
        .unwrap_err();
    assert_eq!(err.code, "staff_readonly");
    let creator_token = domain::accounts::login(
        &app.ctx,
        &c.email,
        gatehouse_tests::factories::PASSWORD,
        std::net::Ipv4Addr::LOCALHOST.into(),
    )
    .await
    .unwrap()
    .token;
    let r = app
        .call(Method::GET, &path, Some(&creator_token), None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "staff_only", None);

    // Staff requeue it (e.g. after fixing the meter), audited, and it is sent once.
    let staff = app.staff(StaffRole::Staff).await;
    let rec = outbox::staff_requeue(&app.ctx, &staff.ctx, bad)
        .await
        .unwrap();
    assert_eq!(rec.status.to_string(), "pending");
    let err = outbox::staff_requeue(&app.ctx, &staff.ctx, bad)
        .await
        .unwrap_err();
    assert_eq!(err.code, "not_failed");
    flush_until_settled(&app).await;
    assert_each_reported_once(&fake, &[bad, good]);
}

#[tokio::test]
async fn offline_usage_waits_unbilled_and_is_sent_once_stripe_is_configured() {
    let database = isolated_pg_database().await;
    let offline = TestApp::spawn_full(
        Backend::Postgres,
        HashMap::from([("DATABASE_URL".to_string(), database.clone())]),
        false,
    )
    .await;
    let c = offline.signup().await;
    let mut ids = Vec::new();
    for n in [3, 5] {
        ids.push(insert_usage(&offline, c.tenant_id, n).await);
    }
    let r = billing::flush_usage(&offline.ctx).await.unwrap();
    assert!(r.offline);
    assert_eq!(r.claimed, 0);
    let b = billing_of(&offline, &c).await;
    assert_eq!(b["unbilled"]["records"], 2);
    assert_eq!(b["unbilled"]["codes"], 8);
    assert_eq!(b["unbilled"]["fee_minor"], 80);
    drop(offline);

    // Stripe is configured later (same database, new process).
    let fake = FakeStripe::start().await;
    let mut env = fake.env();
    env.insert("DATABASE_URL".into(), database);
    let app = TestApp::spawn_full(Backend::Postgres, env, false).await;
    // The tenant has no Stripe customer yet: its records wait, without burning attempts.
    let r = billing::flush_usage(&app.ctx).await.unwrap();
    assert_eq!(r.claimed, 0);
    assert!(
        records_of(&app, c.tenant_id)
            .await
            .iter()
            .all(|r| r.attempts == 0)
    );

    let start = ts(app.ctx.now());
    app.subscribe(
        &fake,
        &c,
        "starter_monthly",
        fake_stripe::PRICE_STARTER_MONTHLY,
        start,
        start + 30 * 86_400,
    )
    .await;
    flush_until_settled(&app).await;
    assert_each_reported_once(&fake, &ids);
    assert_eq!(billing_of(&app, &c).await["unbilled"]["records"], 0);
}
