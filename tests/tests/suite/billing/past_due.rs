//! The past-due guard where codes are issued: after the grace period of a failed payment,
//! creating a batch is refused with 402 `payment_past_due` on every surface — the API, the
//! dashboard and the bot's `/newcode` — and nothing is generated.
use domain::bots::Conversation;
use gatehouse_tests::factories::{BotProject, batch};

use super::*;

const OWNER: i64 = 5_310;

/// A Growth tenant with a bot and a linked owner.
async fn project() -> BotProject {
    BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .owner(OWNER)
        .build()
        .await
}

/// The tenant's payment failed longer ago than the grace period.
async fn past_grace(s: &BotProject) {
    let t = tenant::Entity::find_by_id(s.c.tenant_id)
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut am = t.into_active_model();
    am.billing_status = Set(tenant::BillingStatus::PastDue);
    am.past_due_since = Set(Some(
        s.app.ctx.now() - Duration::days(billing::PAST_DUE_GRACE_DAYS) - Duration::seconds(1),
    ));
    am.update(&s.app.ctx.db).await.unwrap();
}

#[tokio::test]
async fn the_api_refuses_a_batch_past_the_grace_period() {
    let s = project().await;
    past_grace(&s).await;
    let got = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 3), Some("past-due-api"))
        .await;
    assert_error(&got, StatusCode::PAYMENT_REQUIRED, "payment_past_due", None);
    assert!(s.batches().await.is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn the_dashboard_refuses_a_batch_past_the_grace_period() {
    let s = project().await;
    past_grace(&s).await;
    let mut w = s.app.web_login(&s.c.email).await;
    let r = w
        .post_form(
            &format!("/projects/{}/batches", s.pid),
            &[
                ("plan_id", s.plan.as_str()),
                ("quantity", "3"),
                ("expiry", "none"),
                ("max_activations", "1"),
                ("consent", "1"),
                ("idempotency_key", "web-past-due"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{}", r.body);
    assert!(r.body.contains("past due"), "{}", r.body);
    assert!(s.batches().await.is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn newcode_refuses_a_batch_confirmed_past_the_grace_period() {
    let s = project().await;
    // The preview is shown while payments are in order; the grace period ends before the
    // owner confirms.
    s.say(OWNER, "/newcode").await;
    s.reply(OWNER, "which plan").await;
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    s.reply(OWNER, "How many codes").await;
    s.say(OWNER, "3").await;
    s.reply(OWNER, "expire").await;
    s.press(OWNER, "nc:exp:none").await;
    s.reply(OWNER, "Preview").await;
    let nonce = match s.state(OWNER).await {
        Some(Conversation::NewCodeConfirm { nonce, .. }) => nonce,
        other => panic!("not at the confirm step: {other:?}"),
    };
    past_grace(&s).await;
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "payment is past due").await;
    assert!(s.batches().await.is_empty(), "nothing was accepted");
}

/// Stripe's `created` time of an event, set by the test.
fn at(mut event: Value, created: i64) -> Value {
    event["created"] = json!(created);
    event
}

#[tokio::test]
async fn a_late_payment_failed_after_paid_does_not_mark_a_paying_tenant_past_due() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let Subscribed {
        c,
        customer,
        subscription: sub,
        ..
    } = app
        .subscribed_tenant(&fake, "growth_monthly", fake_stripe::PRICE_GROWTH_MONTHLY)
        .await;
    let t0 = app.ctx.now().timestamp();
    let failed = |created| {
        at(
            fake_stripe::event_json(
                &stripe_event_id(),
                "invoice.payment_failed",
                fake_stripe::invoice_json("in_late", &customer, &sub, false),
            ),
            created,
        )
    };
    // The retry succeeded (paid at t0); the failure of the first try (t0 − 60) arrives after.
    let paid = at(
        fake_stripe::event_json(
            &stripe_event_id(),
            "invoice.paid",
            fake_stripe::invoice_json("in_late", &customer, &sub, true),
        ),
        t0,
    );
    assert_eq!(app.deliver_stripe(&paid).await.0, StatusCode::OK);
    let (s, r) = app.deliver_stripe(&failed(t0 - 60)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, b) = app
        .as_creator(&c, Method::GET, "/api/v1/billing", None)
        .await;
    assert_eq!(
        b["status"], "active",
        "an older failure changes nothing: {b}"
    );
    // A failure Stripe reports after the payment does count.
    let (s, _) = app.deliver_stripe(&failed(t0 + 60)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = app
        .as_creator(&c, Method::GET, "/api/v1/billing", None)
        .await;
    assert_eq!(b["status"], "past_due", "{b}");
}
