//! Billing: Checkout and the portal against the fake Stripe, prices, outages, offline billing, the
//! OpenAPI routes and the tenant-scoped overview.
use super::*;

// --- Checkout and portal ------------------------------------------------------------------

#[tokio::test]
async fn checkout_asks_for_the_plan_and_overage_prices_and_creates_the_customer_once() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;

    let (s, b) = app.checkout(&c, "starter_monthly").await;
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

    let (s, b) = app.checkout(&c, "growth_annual").await;
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
        let r = app.checkout(&c, plan).await;
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
    let r = app.checkout(&c, "growth_annual").await;
    assert_error(&r, StatusCode::CONFLICT, "plan_unavailable", Some("plan"));
    assert!(fake.calls().is_empty(), "nothing reached Stripe");
}

#[tokio::test]
async fn stripe_outage_during_checkout_is_a_clean_503() {
    let (app, fake) = stripe_app(Backend::Postgres).await;
    let c = app.signup().await;
    fake.fail_next(1, Fault::ServerError);
    let r = app.checkout(&c, "starter_monthly").await;
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
    let r = app.checkout(&c, "starter_monthly").await;
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
