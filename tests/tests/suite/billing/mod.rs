//! Creator billing against a fake Stripe: Checkout and portal, signed and de-duplicated
//! webhooks, plans and cycles from Stripe, the past-due guard, and the usage outbox.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use domain::{
    ErrorKind,
    accounts::StaffRole,
    billing::{self, outbox},
    tenants::{Actor, Role, TenantCtx, TenantStatus},
};
use entity::{code_batch, tenant, usage_record};
use gatehouse_tests::{
    Backend, Creator, FakeStripe, TestApp,
    app::{assert_error, isolated_pg_database},
    factories::{Subscribed, monthly_plan, stripe_app, stripe_event_id},
    fake_stripe::{self, Fault, WEBHOOK_SECRET},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

mod checkout;
mod cycles;
mod past_due;
mod usage_outbox;
mod webhooks;

/// For tests that flush the usage outbox: the flusher serves every tenant, so on PostgreSQL
/// it gets a database of its own (SQLite apps always have their own file). Billing apps run
/// without the background worker: the tests drive the flusher themselves.
async fn outbox_app(backend: Backend) -> (TestApp, FakeStripe, HashMap<String, String>) {
    let fake = FakeStripe::start().await;
    let mut env = fake.env();
    if backend == Backend::Postgres {
        env.insert("DATABASE_URL".into(), isolated_pg_database().await);
    }
    let app = TestApp::spawn_full(backend, env.clone(), false).await;
    app.start_on_whole_second();
    (app, fake, env)
}

fn tenant_ctx(c: &Creator) -> TenantCtx {
    TenantCtx {
        tenant_id: c.tenant_id,
        role: Role::Owner,
        status: TenantStatus::Active,
        actor: Actor {
            user_id: None,
            label: c.email.clone(),
        },
    }
}

async fn load_tenant(app: &TestApp, id: Uuid) -> tenant::Model {
    tenant::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
}

/// The billing overview as `GET /api/v1/billing` renders it. Read through the domain, since
/// tests move the clock past the session's lifetime; one test reads it over HTTP.
async fn billing_of(app: &TestApp, c: &Creator) -> Value {
    serde_json::to_value(billing::overview(&app.ctx, &tenant_ctx(c)).await.unwrap()).unwrap()
}

/// Stripe changing the subscription, then telling us with `event_type`.
async fn subscription_event(
    app: &TestApp,
    fake: &FakeStripe,
    event_type: &str,
    sub: Value,
) -> (StatusCode, Value) {
    fake.put_subscription(sub.clone());
    app.deliver_stripe(&fake_stripe::event_json(
        &stripe_event_id(),
        event_type,
        sub,
    ))
    .await
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}

async fn insert_usage(app: &TestApp, tenant_id: Uuid, overage: i32) -> Uuid {
    let id = Uuid::now_v7();
    let now = app.ctx.now();
    usage_record::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        batch_id: Set(None),
        overage_count: Set(overage),
        fee_minor: Set(i64::from(overage) * app.ctx.config.overage_fee_minor),
        identifier: Set(id.to_string()),
        status: Set(outbox::UsageStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        sent_at: Set(None),
        event_at: Set(None),
        claimed_by: Set(None),
        created_at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    id
}

async fn records_of(app: &TestApp, tenant_id: Uuid) -> Vec<usage_record::Model> {
    usage_record::Entity::find()
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .all(&app.ctx.db)
        .await
        .unwrap()
}

/// A batch of codes counted in the cycle starting at `cycle_start`.
async fn insert_batch(
    app: &TestApp,
    c: &Creator,
    cycle_start: DateTime<Utc>,
    free: i32,
    over: i32,
) {
    let project = app.create_project(c).await;
    let pid = project["id"].as_str().unwrap();
    let plan = app.create_plan(c, pid, monthly_plan()).await;
    app.insert_done_batch(
        c,
        pid,
        plan["id"].as_str().unwrap(),
        (free, over),
        cycle_start,
        entity::code_batch::DeliveryState::Sent,
    )
    .await;
}

/// Flushes (advancing the clock past any backoff) until nothing is pending; bounded.
async fn flush_until_settled(app: &TestApp) {
    for _ in 0..30 {
        billing::flush_usage(&app.ctx).await.unwrap();
        let pending = usage_record::Entity::find()
            .filter(usage_record::Column::Status.eq(outbox::UsageStatus::Pending))
            .all(&app.ctx.db)
            .await
            .unwrap();
        if pending.is_empty() {
            return;
        }
        app.clock.advance(Duration::hours(2));
    }
    panic!("usage records still pending after 30 flushes");
}

fn assert_each_reported_once(fake: &FakeStripe, ids: &[Uuid]) {
    let counts = fake.meter_identifier_counts();
    for id in ids {
        assert_eq!(
            counts.get(&id.to_string()),
            Some(&1),
            "record {id} in {counts:?}"
        );
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "a record was reported twice: {counts:?}"
    );
}
