//! Billing: Stripe webhooks: signatures, strict parsing, redelivery, and subscription events
//! setting plan and cycle.
use super::*;

#[tokio::test]
async fn a_subscription_created_in_stripe_links_the_tenant_and_its_plan_cannot_be_bought_twice() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    // The customer exists (first checkout), the subscription is announced by its own event.
    let (s, _) = app.checkout(&c, "growth_annual").await;
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

    let r = app.checkout(&c, "growth_annual").await;
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
        entity::tenant::BillingStatus::Active,
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
        entity::tenant::BillingStatus::PastDue
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
        entity::tenant::BillingStatus::PastDue
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
        entity::tenant::BillingStatus::Active
    );

    // Stripe redelivers the old failure later: acknowledged, not applied again.
    app.clock.advance(Duration::minutes(2));
    let (s, r) = app.deliver_stripe(&failed).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["applied"], false);
    let t = load_tenant(&app, c.tenant_id).await;
    assert_eq!(t.billing_status.to_string(), "active");
    assert_eq!(t.past_due_since, None);
}

#[tokio::test]
async fn subscription_events_set_plan_and_cycle_and_a_new_period_starts_a_fresh_quota() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let Subscribed {
        c,
        start,
        end,
        customer,
        subscription: sub,
    } = app
        .subscribed_tenant_since(
            &fake,
            "starter_monthly",
            fake_stripe::PRICE_STARTER_MONTHLY,
            ts(app.ctx.now()) - 86_400,
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
