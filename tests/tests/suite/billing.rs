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
        status: Set(outbox::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        sent_at: Set(None),
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
        "message",
    )
    .await;
}

/// Flushes (advancing the clock past any backoff) until nothing is pending; bounded.
async fn flush_until_settled(app: &TestApp) {
    for _ in 0..30 {
        billing::flush_usage(&app.ctx).await.unwrap();
        let pending = usage_record::Entity::find()
            .filter(usage_record::Column::Status.eq(outbox::PENDING))
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

// --- Checkout and portal ------------------------------------------------------------------

#[tokio::test]
async fn checkout_asks_for_the_plan_and_overage_prices_and_creates_the_customer_once() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;

    let (s, b) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "starter_monthly"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.com/")
    );
    let customer = load_tenant(&app, c.tenant_id)
        .await
        .stripe_customer_id
        .unwrap();

    let (s, b) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "growth_annual"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let customers = fake.calls_to("POST", "/v1/customers");
    assert_eq!(customers.len(), 1, "one Stripe customer per tenant");
    assert_eq!(
        customers[0].param("metadata[tenant_id]"),
        Some(c.tenant_id.to_string().as_str())
    );
    assert_eq!(customers[0].param("email"), Some(c.email.as_str()));

    let sessions = fake.calls_to("POST", "/v1/checkout/sessions");
    assert_eq!(sessions.len(), 2);
    for (call, price) in sessions.iter().zip([
        fake_stripe::PRICE_STARTER_MONTHLY,
        fake_stripe::PRICE_GROWTH_ANNUAL,
    ]) {
        assert_eq!(call.param("mode"), Some("subscription"));
        assert_eq!(call.param("customer"), Some(customer.as_str()));
        assert_eq!(
            call.param("client_reference_id"),
            Some(c.tenant_id.to_string().as_str())
        );
        assert_eq!(call.param("line_items[0][price]"), Some(price));
        assert_eq!(call.param("line_items[0][quantity]"), Some("1"));
        assert_eq!(
            call.param("line_items[1][price]"),
            Some(fake_stripe::PRICE_OVERAGE)
        );
        assert_eq!(
            call.param("line_items[1][quantity]"),
            None,
            "metered prices take no quantity"
        );
        assert_eq!(
            call.param("subscription_data[metadata][tenant_id]"),
            Some(c.tenant_id.to_string().as_str())
        );
    }

    let (s, b) = app
        .as_creator(&c, Method::POST, "/api/v1/billing/portal", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.com/")
    );
    let portal = fake.calls_to("POST", "/v1/billing_portal/sessions");
    assert_eq!(portal[0].param("customer"), Some(customer.as_str()));
}

#[tokio::test]
async fn checkout_refuses_free_and_unknown_plans_and_portal_needs_a_customer() {
    let (app, _fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    for plan in ["free", "platinum"] {
        let r = app
            .as_creator(
                &c,
                Method::POST,
                "/api/v1/billing/checkout",
                Some(json!({"plan": plan})),
            )
            .await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("plan"),
        );
    }
    let r = app
        .as_creator(&c, Method::POST, "/api/v1/billing/portal", None)
        .await;
    assert_error(&r, StatusCode::CONFLICT, "no_billing_account", None);
}

#[tokio::test]
async fn a_subscription_created_in_stripe_links_the_tenant_and_its_plan_cannot_be_bought_twice() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    // The customer exists (first checkout), the subscription is announced by its own event.
    let (s, _) = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "growth_annual"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let customer = load_tenant(&app, c.tenant_id)
        .await
        .stripe_customer_id
        .unwrap();
    let start = ts(app.ctx.now());
    let end = start + 365 * 86_400;
    let sub = format!("sub_{}", Uuid::new_v4().simple());
    let (s, r) = subscription_event(
        &app,
        &fake,
        "customer.subscription.created",
        fake_stripe::subscription_json(
            &sub,
            &customer,
            &c.tenant_id.to_string(),
            fake_stripe::PRICE_GROWTH_ANNUAL,
            "active",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_plan, "growth_annual");
    assert_eq!(t.stripe_subscription_id.as_deref(), Some(sub.as_str()));
    assert_eq!((t.cycle_start, t.cycle_end), (at(start), at(end)));
    assert_eq!(billing_of(&app, &c).await["quota"]["limit"], 6_500);

    let r = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "growth_annual"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "already_subscribed", Some("plan"));

    // A subscription whose payment fails at Stripe marks the tenant past due.
    let (s, _) = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &sub,
            &customer,
            &c.tenant_id.to_string(),
            fake_stripe::PRICE_GROWTH_ANNUAL,
            "past_due",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let b = billing_of(&app, &c).await;
    assert_eq!(b["status"], "past_due");
    assert_eq!(b["plan"], "growth_annual");
}

#[tokio::test]
async fn openapi_describes_the_billing_routes() {
    let app = TestApp::spawn_sqlite().await;
    let (s, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for (path, method) in [
        ("/api/v1/billing", "get"),
        ("/api/v1/billing/checkout", "post"),
        ("/api/v1/billing/portal", "post"),
        ("/webhooks/stripe", "post"),
        ("/api/v1/staff/billing/usage-records", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    for schema in [
        "BillingOut",
        "CheckoutIn",
        "CheckoutOut",
        "PortalOut",
        "WebhookOut",
        "UsageRecordOut",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}

#[tokio::test]
async fn a_plan_without_a_configured_price_cannot_be_bought() {
    let fake = FakeStripe::start().await;
    let mut env = fake.env();
    env.remove("STRIPE_PRICE_GROWTH_ANNUAL");
    let app = TestApp::spawn_full(Backend::Sqlite, env, false).await;
    let c = app.signup().await;
    let r = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "growth_annual"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "plan_unavailable", Some("plan"));
    assert!(fake.calls().is_empty(), "nothing reached Stripe");
}

#[tokio::test]
async fn stripe_outage_during_checkout_is_a_clean_503() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    fake.fail_next(1, Fault::ServerError);
    let r = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "starter_monthly"})),
        )
        .await;
    assert_error(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "stripe_unavailable",
        None,
    );
    assert!(
        !r.1.to_string().contains("stripe 500"),
        "no internals in the body: {}",
        r.1
    );
}

#[tokio::test]
async fn without_stripe_billing_is_offline() {
    let app = TestApp::spawn_full(Backend::Sqlite, HashMap::new(), false).await;
    let c = app.signup().await;
    let r = app
        .as_creator(
            &c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({"plan": "starter_monthly"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "billing_offline", None);
    let r = app
        .as_creator(&c, Method::POST, "/api/v1/billing/portal", None)
        .await;
    assert_error(&r, StatusCode::CONFLICT, "billing_offline", None);
    let r = app.deliver_stripe_raw("{}", Some("t=1,v1=00")).await;
    assert_error(&r, StatusCode::CONFLICT, "billing_offline", None);

    let b = billing_of(&app, &c).await;
    assert_eq!(b["stripe_enabled"], false);
    assert_eq!(b["plan"], "free");
    assert_eq!(b["status"], "active");
    assert_eq!(b["quota"]["limit"], 5);
}

// --- Webhooks -----------------------------------------------------------------------------

#[tokio::test]
async fn webhook_signatures_are_verified() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let Subscribed {
        c,
        customer,
        subscription: sub,
        ..
    } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;
    let failed = fake_stripe::event_json(
        &stripe_event_id(),
        "invoice.payment_failed",
        fake_stripe::invoice_json("in_sig", &customer, &sub, false),
    );
    let payload = failed.to_string();
    let now = app.ctx.now().timestamp();

    let wrong_secret = fake_stripe::sign(&payload, "whsec_someone_else", now);
    let r = app.deliver_stripe_raw(&payload, Some(&wrong_secret)).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_signature", None);

    let stale = fake_stripe::sign(&payload, WEBHOOK_SECRET, now - 301);
    let r = app.deliver_stripe_raw(&payload, Some(&stale)).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "signature_expired", None);

    let good = fake_stripe::sign(&payload, WEBHOOK_SECRET, now);
    let tampered = payload.replace("in_sig", "in_sag");
    let r = app.deliver_stripe_raw(&tampered, Some(&good)).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_signature", None);

    let r = app.deliver_stripe_raw(&payload, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_signature", None);

    assert_eq!(
        load_tenant(&app, c.tenant_id).await.billing_status,
        "active",
        "nothing rejected was applied"
    );

    // Within the tolerance (a little old) and well signed: accepted and applied.
    let recent = fake_stripe::sign(&payload, WEBHOOK_SECRET, now - 200);
    let (s, b) = app.deliver_stripe_raw(&payload, Some(&recent)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["applied"], true);
    assert_eq!(b["event_type"], "invoice.payment_failed");
    assert_eq!(
        load_tenant(&app, c.tenant_id).await.billing_status,
        "past_due"
    );
}

#[tokio::test]
async fn signed_events_are_parsed_strictly_and_unhandled_types_acknowledged() {
    let (app, _fake) = stripe_app(Backend::Postgres).await;
    // A known type whose object is too thin to be a real invoice: refused, not recorded.
    let thin = fake_stripe::event_json(
        &stripe_event_id(),
        "invoice.payment_failed",
        json!({"id": "in_thin", "object": "invoice"}),
    );
    let r = app.deliver_stripe(&thin).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", None);
    // A type Gatehouse does not act on: acknowledged so Stripe stops redelivering it.
    let other = fake_stripe::event_json(
        &stripe_event_id(),
        "customer.created",
        fake_stripe::customer_json("cus_other", Some("x@example.com"), Some("X"), json!({})),
    );
    let (s, b) = app.deliver_stripe(&other).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["event_type"], "customer.created");
}

#[tokio::test]
async fn a_redelivered_event_is_applied_once() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let Subscribed {
        c,
        customer,
        subscription: sub,
        ..
    } = app
        .subscribed_tenant(&fake, "starter_monthly", fake_stripe::PRICE_STARTER_MONTHLY)
        .await;

    let failed = fake_stripe::event_json(
        &stripe_event_id(),
        "invoice.payment_failed",
        fake_stripe::invoice_json("in_1", &customer, &sub, false),
    );
    // Two deliveries of one event at the same moment: exactly one applies.
    let (a, b) = tokio::join!(app.deliver_stripe(&failed), app.deliver_stripe(&failed));
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    assert_eq!(
        [
            a.1["applied"].as_bool().unwrap(),
            b.1["applied"].as_bool().unwrap()
        ]
        .iter()
        .filter(|x| **x)
        .count(),
        1
    );
    assert_eq!(
        load_tenant(&app, c.tenant_id).await.billing_status,
        "past_due"
    );

    let paid = fake_stripe::event_json(
        &stripe_event_id(),
        "invoice.paid",
        fake_stripe::invoice_json("in_1", &customer, &sub, true),
    );
    let (s, r) = app.deliver_stripe(&paid).await;
    assert_eq!((s, r["applied"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(
        load_tenant(&app, c.tenant_id).await.billing_status,
        "active"
    );

    // Stripe redelivers the old failure later: acknowledged, not applied again.
    app.clock.advance(Duration::minutes(2));
    let (s, r) = app.deliver_stripe(&failed).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["applied"], false);
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_status, "active");
    assert_eq!(t.past_due_since, None);
}

#[tokio::test]
async fn subscription_events_set_plan_and_cycle_and_a_new_period_starts_a_fresh_quota() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    let start = ts(app.ctx.now()) - 86_400;
    let end = start + 30 * 86_400;
    let (customer, sub) = app
        .subscribe(
            &fake,
            &c,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
            start,
            end,
        )
        .await;

    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_plan, "starter_monthly");
    assert_eq!(t.stripe_subscription_id.as_deref(), Some(sub.as_str()));
    assert_eq!((t.cycle_start, t.cycle_end), (at(start), at(end)));

    insert_batch(&app, &c, at(start), 200, 30).await;
    let b = billing_of(&app, &c).await;
    assert_eq!(b["plan"], "starter_monthly");
    assert_eq!(b["subscribed"], true);
    assert_eq!(b["quota"]["used"], 230);
    assert_eq!(b["quota"]["limit"], 200);
    assert_eq!(b["quota"]["free_left"], 0);
    assert_eq!(b["overage_codes"], 30);
    assert_eq!(b["overage_fee_minor"], 300);
    assert_eq!(b["cycle_start"], json!(at(start)));

    // Stripe renews: the next period is the next cycle, with a fresh quota.
    let (s, r) = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &sub,
            &customer,
            &c.tenant_id.to_string(),
            fake_stripe::PRICE_STARTER_MONTHLY,
            "active",
            end,
            end + 31 * 86_400,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    app.clock.set(at(end + 60));
    let b = billing_of(&app, &c).await;
    assert_eq!(b["cycle_start"], json!(at(end)));
    assert_eq!(b["cycle_end"], json!(at(end + 31 * 86_400)));
    assert_eq!(b["quota"]["used"], 0);
    assert_eq!(b["quota"]["free_left"], 200);
    assert_eq!(b["overage_codes"], 0);

    // Canceled: back on Free, a monthly cycle from now.
    let mut canceled = fake_stripe::subscription_json(
        &sub,
        &customer,
        &c.tenant_id.to_string(),
        fake_stripe::PRICE_STARTER_MONTHLY,
        "canceled",
        end,
        end + 31 * 86_400,
    );
    canceled["canceled_at"] = json!(end + 60);
    canceled["ended_at"] = json!(end + 60);
    let (s, r) = subscription_event(&app, &fake, "customer.subscription.deleted", canceled).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_plan, "free");
    assert_eq!(t.stripe_subscription_id, None);
    assert_eq!(
        t.stripe_customer_id.as_deref(),
        Some(customer.as_str()),
        "the customer is kept"
    );
    assert_eq!(t.cycle_start, app.ctx.now());
    let b = billing_of(&app, &c).await;
    assert_eq!(b["quota"]["limit"], 5);
}

#[tokio::test]
async fn a_plan_change_mid_cycle_keeps_the_cycle_and_applies_the_new_quota() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    let start = ts(app.ctx.now()) - 10 * 86_400;
    let end = start + 30 * 86_400;
    let (customer, sub) = app
        .subscribe(
            &fake,
            &c,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
            start,
            end,
        )
        .await;
    insert_batch(&app, &c, at(start), 150, 0).await;
    let tid = c.tenant_id.to_string();

    // Upgrade in the portal: same subscription, same period, new price.
    let (s, r) = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &sub,
            &customer,
            &tid,
            fake_stripe::PRICE_GROWTH_MONTHLY,
            "active",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let b = billing_of(&app, &c).await;
    assert_eq!(b["plan"], "growth_monthly");
    assert_eq!(b["cycle_start"], json!(at(start)), "the cycle is kept");
    assert_eq!(
        b["quota"]["used"], 150,
        "codes already counted stay counted"
    );
    assert_eq!(b["quota"]["limit"], 500);
    assert_eq!(b["quota"]["free_left"], 350);

    // Downgrade: the smaller quota applies for the rest of the cycle.
    let (s, _) = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &sub,
            &customer,
            &tid,
            fake_stripe::PRICE_STARTER_MONTHLY,
            "active",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let b = billing_of(&app, &c).await;
    assert_eq!(b["plan"], "starter_monthly");
    assert_eq!(b["quota"]["free_left"], 50);

    // Changing plan through a new Checkout: the new subscription replaces the old one,
    // which is canceled at Stripe, and the old one's end does not take the tenant to Free.
    let sub2 = format!("sub_{}", Uuid::new_v4().simple());
    fake.put_subscription(fake_stripe::subscription_json(
        &sub2,
        &customer,
        &tid,
        fake_stripe::PRICE_GROWTH_ANNUAL,
        "active",
        ts(app.ctx.now()),
        ts(app.ctx.now()) + 365 * 86_400,
    ));
    let session = fake_stripe::checkout_session_json(
        "cs_test_change",
        Some(&customer),
        Some(&sub2),
        Some(&tid),
    );
    let (s, r) = app
        .deliver_stripe(&fake_stripe::event_json(
            &stripe_event_id(),
            "checkout.session.completed",
            session,
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        fake.calls_to("DELETE", &format!("/v1/subscriptions/{sub}"))
            .len(),
        1
    );
    let old = fake.subscription(&sub).unwrap();
    assert_eq!(old["status"], "canceled");
    let (s, _) = app
        .deliver_stripe(&fake_stripe::event_json(
            &stripe_event_id(),
            "customer.subscription.deleted",
            old,
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_plan, "growth_annual");
    assert_eq!(t.stripe_subscription_id.as_deref(), Some(sub2.as_str()));
    assert_eq!(
        t.cycle_start,
        app.ctx.now(),
        "the new subscription's period is the cycle"
    );
}

#[tokio::test]
async fn a_replacing_subscription_takes_over_only_once_active_and_ends_the_old_one() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    let tid = c.tenant_id.to_string();
    let start = ts(app.ctx.now());
    let end = start + 30 * 86_400;
    let (customer, old) = app
        .subscribe(
            &fake,
            &c,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
            start,
            end,
        )
        .await;

    // A second Checkout's subscription is created incomplete (payment pending): nothing changes.
    let new = format!("sub_{}", Uuid::new_v4().simple());
    let (s, _) = subscription_event(
        &app,
        &fake,
        "customer.subscription.created",
        fake_stripe::subscription_json(
            &new,
            &customer,
            &tid,
            fake_stripe::PRICE_GROWTH_MONTHLY,
            "incomplete",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(
        (t.billing_plan.as_str(), t.stripe_subscription_id.as_deref()),
        ("starter_monthly", Some(old.as_str()))
    );
    assert!(
        fake.calls_to("DELETE", &format!("/v1/subscriptions/{old}"))
            .is_empty()
    );

    // Paid: the new one takes over and the old one is canceled at Stripe.
    let (s, _) = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &new,
            &customer,
            &tid,
            fake_stripe::PRICE_GROWTH_MONTHLY,
            "active",
            start,
            end,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(
        (t.billing_plan.as_str(), t.stripe_subscription_id.as_deref()),
        ("growth_monthly", Some(new.as_str()))
    );
    assert_eq!(fake.subscription(&old).unwrap()["status"], "canceled");

    // If Stripe cannot cancel the old one, the event fails (and Stripe will redeliver it).
    let third = format!("sub_{}", Uuid::new_v4().simple());
    fake.fail_next_on(&format!("/v1/subscriptions/{new}"), 1, Fault::ServerError);
    let r = subscription_event(
        &app,
        &fake,
        "customer.subscription.updated",
        fake_stripe::subscription_json(
            &third,
            &customer,
            &tid,
            fake_stripe::PRICE_STARTER_ANNUAL,
            "active",
            start,
            start + 365 * 86_400,
        ),
    )
    .await;
    assert_error(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "stripe_unavailable",
        None,
    );
    assert_eq!(
        load_tenant(&app, c.tenant_id)
            .await
            .stripe_subscription_id
            .as_deref(),
        Some(new.as_str())
    );
}

#[tokio::test]
async fn a_failed_payment_blocks_new_batches_after_the_grace_period() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let Subscribed {
        c,
        customer,
        subscription: sub,
        ..
    } = app
        .subscribed_tenant(&fake, "growth_monthly", fake_stripe::PRICE_GROWTH_MONTHLY)
        .await;
    let tc = tenant_ctx(&c);

    let failed_at = app.ctx.now();
    let (s, _) = app
        .deliver_stripe(&fake_stripe::event_json(
            &stripe_event_id(),
            "invoice.payment_failed",
            fake_stripe::invoice_json("in_f", &customer, &sub, false),
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let b = billing_of(&app, &c).await;
    assert_eq!(b["status"], "past_due");
    assert_eq!(b["past_due_since"], json!(failed_at));
    let grace_end = failed_at + Duration::days(billing::PAST_DUE_GRACE_DAYS);
    assert_eq!(b["grace_ends_at"], json!(grace_end));

    // Within the grace period codes can still be issued.
    billing::ensure_can_issue(&app.ctx, &tc).await.unwrap();
    app.clock.set(grace_end - Duration::seconds(1));
    billing::ensure_can_issue(&app.ctx, &tc).await.unwrap();

    app.clock.set(grace_end);
    let err = billing::ensure_can_issue(&app.ctx, &tc).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PaymentRequired);
    assert_eq!(err.code, "payment_past_due");

    // A second failure does not restart the grace period.
    let (s, _) = app
        .deliver_stripe(&fake_stripe::event_json(
            &stripe_event_id(),
            "invoice.payment_failed",
            fake_stripe::invoice_json("in_f", &customer, &sub, false),
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(billing::ensure_can_issue(&app.ctx, &tc).await.is_err());

    // Paying clears it at once.
    let (s, _) = app
        .deliver_stripe(&fake_stripe::event_json(
            &stripe_event_id(),
            "invoice.paid",
            fake_stripe::invoice_json("in_f", &customer, &sub, true),
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    billing::ensure_can_issue(&app.ctx, &tc).await.unwrap();
    assert_eq!(billing_of(&app, &c).await["status"], "active");
}

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
            .all(|r| r.status == "pending" && r.attempts == 1 && r.last_error.is_some())
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
        assert_eq!(r.status, "sent");
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
    assert_eq!(b["unbilled"]["codes"], preview["overage"]);

    flush_until_settled(&app).await;
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
            am.status = Set(status.into());
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
        .filter(usage_record::Column::Status.eq(outbox::PENDING))
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
            .filter(|r| r.status != "sent")
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
            .all(|r| r.status == "sent")
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
    assert_eq!(rec.status, "pending", "a claimed record is never lost");

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
    assert_eq!(rec.status, "failed");
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
    let creator_token =
        domain::accounts::login(&app.ctx, &c.email, gatehouse_tests::factories::PASSWORD)
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
    assert_eq!(rec.status, "pending");
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

#[tokio::test]
async fn billing_overview_is_scoped_to_the_tenant() {
    let (app, fake) = stripe_app(Backend::Sqlite).await;
    let a = app.signup().await;
    let b = app.signup().await;
    let start = ts(app.ctx.now());
    app.subscribe(
        &fake,
        &a,
        "starter_monthly",
        fake_stripe::PRICE_STARTER_MONTHLY,
        start,
        start + 30 * 86_400,
    )
    .await;
    insert_usage(&app, a.tenant_id, 9).await;
    let (s, ob) = app
        .as_creator(&b, Method::GET, "/api/v1/billing", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{ob}");
    assert_eq!(ob["plan"], "free");
    assert_eq!(ob["subscribed"], false);
    assert_eq!(ob["unbilled"]["records"], 0);
    let (s, oa) = app
        .as_creator(&a, Method::GET, "/api/v1/billing", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{oa}");
    assert_eq!(oa["plan"], "starter_monthly");
    assert_eq!(oa["unbilled"]["codes"], 9);
    assert_eq!(oa["quota"]["limit"], 200);
    assert_eq!(oa["overage_fee_per_code_minor"], 10);
}
