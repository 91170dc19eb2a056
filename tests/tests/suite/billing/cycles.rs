//! Billing: plan changes mid-cycle, replacing subscriptions, and the past-due guard.
use super::*;

#[tokio::test]
async fn a_plan_change_mid_cycle_keeps_the_cycle_and_applies_the_new_quota() {
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
            ts(app.ctx.now()) - 10 * 86_400,
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
