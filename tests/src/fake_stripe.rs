//! A fake of the Stripe API on 127.0.0.1:0, speaking Stripe's wire format: form-encoded
//! requests under `/v1`, Stripe JSON objects back, Stripe error bodies on failure. It serves
//! what Gatehouse calls (customers, Checkout sessions, billing portal sessions, subscriptions,
//! Billing Meter events), records every call, counts meter-event identifiers, and can answer
//! 500, 429, 400 or hang for the next N calls. The real async-stripe client talks to it.
//!
//! The `*_json` builders make full Stripe objects (as the 2025+ API renders them) for the
//! fake's answers and for webhook fixtures: async-stripe rejects thin objects.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::ListenerExt,
};
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_gatehouse_fake";
pub const WEBHOOK_SECRET: &str = "whsec_test_gatehouse_fake";
pub const PRICE_STARTER_MONTHLY: &str = "price_starter_monthly";
pub const PRICE_STARTER_ANNUAL: &str = "price_starter_annual";
pub const PRICE_GROWTH_MONTHLY: &str = "price_growth_monthly";
pub const PRICE_GROWTH_ANNUAL: &str = "price_growth_annual";
pub const PRICE_OVERAGE: &str = "price_overage_metered";
pub const METER_EVENT_NAME: &str = "gatehouse_overage_codes";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
}

impl Call {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// How the next calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 `api_error`.
    ServerError,
    /// 429 `rate_limit`.
    RateLimited,
    /// 400 `invalid_request_error` (a permanent rejection).
    BadRequest,
    /// Never answers (the client must time out). Nothing is recorded as processed.
    Hang,
}

#[derive(Default)]
struct State_ {
    calls: Vec<Call>,
    faults: VecDeque<Fault>,
    /// Only calls whose path contains this are subject to faults (None: every call).
    fault_path: Option<String>,
    customers: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    meter_identifiers: HashMap<String, u32>,
    meter_events: Vec<Value>,
    seq: u64,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    state: Arc<Mutex<State_>>,
}

fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let mut err = json!({"type": kind, "message": message});
    if let Some(c) = code {
        err["code"] = json!(c);
    }
    let mut resp = (status, Json(json!({"error": err}))).into_response();
    resp.headers_mut()
        .insert("request-id", "req_fake".parse().expect("header"));
    resp
}

impl FakeStripe {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State_::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake stripe");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/checkout/sessions", post(create_checkout_session))
            .route("/v1/billing_portal/sessions", post(create_portal_session))
            .route(
                "/v1/subscriptions/{id}",
                get(retrieve_subscription).delete(cancel_subscription),
            )
            .route("/v1/billing/meter_events", post(create_meter_event))
            .fallback(|| async {
                stripe_error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    None,
                    "Unrecognized request URL",
                )
            })
            .layer(axum::middleware::from_fn_with_state(state.clone(), record))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener.tap_io(|tcp| _ = tcp.set_nodelay(true)), app)
                .await
                .ok();
        });
        FakeStripe { base, state }
    }

    /// The environment that points the app at this fake, with every price configured.
    pub fn env(&self) -> HashMap<String, String> {
        [
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_API_BASE", self.base.as_str()),
            ("STRIPE_PRICE_STARTER_MONTHLY", PRICE_STARTER_MONTHLY),
            ("STRIPE_PRICE_STARTER_ANNUAL", PRICE_STARTER_ANNUAL),
            ("STRIPE_PRICE_GROWTH_MONTHLY", PRICE_GROWTH_MONTHLY),
            ("STRIPE_PRICE_GROWTH_ANNUAL", PRICE_GROWTH_ANNUAL),
            ("STRIPE_PRICE_OVERAGE", PRICE_OVERAGE),
            ("STRIPE_METER_EVENT_NAME", METER_EVENT_NAME),
            ("STRIPE_TIMEOUT_SECS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().expect("fake stripe lock")
    }

    /// The next `n` calls (to any path) fail with `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut s = self.lock();
        s.fault_path = None;
        s.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` calls whose path contains `path` fail with `fault`.
    pub fn fail_next_on(&self, path: &str, n: usize, fault: Fault) {
        let mut s = self.lock();
        s.fault_path = Some(path.to_string());
        s.faults.extend(std::iter::repeat_n(fault, n));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn calls_to(&self, method: &str, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path == path)
            .collect()
    }

    /// How many meter events the fake accepted with each identifier.
    pub fn meter_identifier_counts(&self) -> HashMap<String, u32> {
        self.lock().meter_identifiers.clone()
    }

    /// The meter events the fake accepted, as Stripe objects.
    pub fn meter_events(&self) -> Vec<Value> {
        self.lock().meter_events.clone()
    }

    /// Stores (or replaces) a subscription the fake will serve.
    pub fn put_subscription(&self, sub: Value) {
        let id = sub["id"].as_str().expect("subscription id").to_string();
        self.lock().subscriptions.insert(id, sub);
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.lock().subscriptions.get(id).cloned()
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut s = self.lock();
        s.seq += 1;
        format!(
            "{prefix}_fake{:06}{}",
            s.seq,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }
}

type Shared = Arc<Mutex<State_>>;

/// Records the call, then applies the next queued fault (if it matches the path).
async fn record(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let authorized = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"));
    let path = parts.uri.path().to_string();
    let fault = {
        let mut s = state.lock().expect("fake stripe lock");
        s.calls.push(Call {
            method: parts.method.to_string(),
            path: path.clone(),
            form,
        });
        let applies = s.fault_path.as_deref().is_none_or(|p| path.contains(p));
        if applies { s.faults.pop_front() } else { None }
    };
    if !authorized {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
        );
    }
    match fault {
        Some(Fault::ServerError) => stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred",
        ),
        Some(Fault::RateLimited) => stripe_error(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
        ),
        Some(Fault::BadRequest) => stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid_empty"),
            "No active meter found for event_name",
        ),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        None => {
            let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            next.run(req).await
        }
    }
}

fn fake(state: &Shared) -> FakeStripe {
    FakeStripe {
        base: String::new(),
        state: state.clone(),
    }
}

fn now_ts() -> i64 {
    chrono::Utc::now().timestamp()
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The top-level `metadata[key]=value` pairs of a form, as Stripe's `metadata` object.
fn metadata(form: &[(String, String)]) -> Value {
    let m = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_string(), json!(v)))
        })
        .collect();
    Value::Object(m)
}

async fn create_customer(
    State(state): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let f = fake(&state);
    let id = f.next_id("cus");
    let c = customer_json(
        &id,
        param(&form, "email"),
        param(&form, "name"),
        metadata(&form),
    );
    state.lock().expect("lock").customers.insert(id, c.clone());
    Json(c).into_response()
}

async fn create_checkout_session(
    State(state): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let f = fake(&state);
    if param(&form, "mode") != Some("subscription")
        || param(&form, "line_items[0][price]").is_none()
    {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            "Missing required param: line_items.",
        );
    }
    let id = f.next_id("cs_test");
    let mut s = checkout_session_json(
        &id,
        param(&form, "customer"),
        None,
        param(&form, "client_reference_id"),
    );
    s["status"] = json!("open");
    s["payment_status"] = json!("unpaid");
    s["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    s["success_url"] = json!(param(&form, "success_url"));
    s["cancel_url"] = json!(param(&form, "cancel_url"));
    s["metadata"] = metadata(&form);
    Json(s).into_response()
}

async fn create_portal_session(
    State(state): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let f = fake(&state);
    let Some(customer) = param(&form, "customer") else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            "Missing required param: customer.",
        );
    };
    let id = f.next_id("bps");
    Json(json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": "bpc_fake_default",
        "created": now_ts(),
        "customer": customer,
        "customer_account": null,
        "flow": null,
        "livemode": false,
        "locale": null,
        "on_behalf_of": null,
        "return_url": param(&form, "return_url"),
        "url": format!("https://billing.stripe.com/p/session/{id}"),
    }))
    .into_response()
}

fn missing(what: &str, id: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {what}: '{id}'"),
    )
}

async fn retrieve_subscription(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.lock().expect("lock").subscriptions.get(&id) {
        Some(s) => Json(s.clone()).into_response(),
        None => missing("subscription", &id),
    }
}

async fn cancel_subscription(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut s = state.lock().expect("lock");
    match s.subscriptions.get_mut(&id) {
        Some(sub) => {
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(now_ts());
            sub["ended_at"] = json!(now_ts());
            Json(sub.clone()).into_response()
        }
        None => missing("subscription", &id),
    }
}

async fn create_meter_event(
    State(state): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let (Some(event_name), Some(identifier)) =
        (param(&form, "event_name"), param(&form, "identifier"))
    else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            "Missing required param: event_name or identifier.",
        );
    };
    let mut payload = serde_json::Map::new();
    for (k, v) in &form {
        if let Some(key) = k.strip_prefix("payload[").and_then(|r| r.strip_suffix(']')) {
            payload.insert(key.to_string(), json!(v));
        }
    }
    let ev = json!({
        "object": "billing.meter_event",
        "created": now_ts(),
        "event_name": event_name,
        "identifier": identifier,
        "livemode": false,
        "payload": payload,
        "timestamp": param(&form, "timestamp").and_then(|t| t.parse::<i64>().ok()).unwrap_or_else(now_ts),
    });
    let mut s = state.lock().expect("lock");
    *s.meter_identifiers
        .entry(identifier.to_string())
        .or_default() += 1;
    s.meter_events.push(ev.clone());
    Json(ev).into_response()
}

// --- Stripe objects -----------------------------------------------------------------------

pub fn customer_json(id: &str, email: Option<&str>, name: Option<&str>, metadata: Value) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": now_ts(),
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": email,
        "invoice_prefix": "GATE1234",
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "livemode": false,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

/// A recurring price: licensed (a plan) or metered (the overage).
pub fn price_json(price_id: &str, unit_amount: i64, interval: &str, metered: bool) -> Value {
    json!({
        "id": price_id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": 1_700_000_000,
        "currency": "usd",
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": format!("prod_{price_id}"),
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": if metered { json!("mtr_fake_overage") } else { Value::Null },
            "trial_period_days": null,
            "usage_type": if metered { "metered" } else { "licensed" }
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string()
    })
}

fn plan_json(price: &Value) -> Value {
    let r = &price["recurring"];
    json!({
        "id": price["id"],
        "object": "plan",
        "active": true,
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": "usd",
        "interval": r["interval"],
        "interval_count": 1,
        "livemode": false,
        "metadata": {},
        "meter": r["meter"],
        "nickname": null,
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": r["usage_type"]
    })
}

/// The price object of a plan price id of [`FakeStripe::env`].
pub fn plan_price(price_id: &str) -> Value {
    let annual = price_id.contains("annual");
    let amount = match price_id {
        PRICE_STARTER_MONTHLY => 1_900,
        PRICE_STARTER_ANNUAL => 19_000,
        PRICE_GROWTH_MONTHLY => 4_900,
        PRICE_GROWTH_ANNUAL => 49_000,
        _ => 1_000,
    };
    price_json(
        price_id,
        amount,
        if annual { "year" } else { "month" },
        false,
    )
}

/// A subscription to `plan_price_id` plus the metered overage price, in `status`, whose
/// items' current period is `start..end` (unix seconds).
pub fn subscription_json(
    id: &str,
    customer: &str,
    tenant_id: &str,
    plan_price_id: &str,
    status: &str,
    start: i64,
    end: i64,
) -> Value {
    let item = |n: u32, price: Value, quantity: Option<u32>| {
        json!({
            "id": format!("si_{id}_{n}"),
            "object": "subscription_item",
            "billing_thresholds": null,
            "created": start,
            "current_period_end": end,
            "current_period_start": start,
            "discounts": [],
            "metadata": {},
            "plan": plan_json(&price),
            "price": price,
            "quantity": quantity,
            "subscription": id,
            "tax_rates": []
        })
    };
    let interval = if plan_price_id.contains("annual") {
        "year"
    } else {
        "month"
    };
    json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": start,
        "billing_cycle_anchor_config": null,
        "billing_mode": {"flexible": null, "type": "classic", "updated_at": null},
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": "usd",
        "customer": customer,
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [
                item(1, plan_price(plan_price_id), Some(1)),
                item(2, price_json(PRICE_OVERAGE, 10, interval, true), None)
            ],
            "has_more": false,
            "total_count": 2,
            "url": format!("/v1/subscription_items?subscription={id}")
        },
        "latest_invoice": format!("in_{id}"),
        "livemode": false,
        "metadata": {"tenant_id": tenant_id},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": null,
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": start,
        "status": status,
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": null,
        "trial_start": null
    })
}

/// A subscription invoice of `customer`, paid or with its payment failed.
pub fn invoice_json(id: &str, customer: &str, subscription: &str, paid: bool) -> Value {
    let now = now_ts();
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Gatehouse",
        "account_tax_ids": null,
        "amount_due": 1900,
        "amount_overpaid": 0,
        "amount_paid": if paid { 1900 } else { 0 },
        "amount_remaining": if paid { 0 } else { 1900 },
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 1,
        "attempted": true,
        "auto_advance": !paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
        "automatically_finalizes_at": null,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": now,
        "currency": "usd",
        "custom_fields": null,
        "customer": customer,
        "customer_address": null,
        "customer_email": "creator@example.com",
        "customer_name": "Test Workspace",
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": now,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/{id}/pdf"),
        "issuer": {"type": "self"},
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": {"object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/invoices/{id}/lines")},
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": if paid { Value::Null } else { json!(now + 3 * 86_400) },
        "number": "GATE1234-0001",
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": {"metadata": {}, "subscription": subscription, "subscription_proration_date": null},
            "type": "subscription_details"
        },
        "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
        "period_end": now,
        "period_start": now - 30 * 86_400,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": if paid { "paid" } else { "open" },
        "status_transitions": {"finalized_at": now, "marked_uncollectible_at": null, "paid_at": if paid { json!(now) } else { Value::Null }, "voided_at": null},
        "subtotal": 1900,
        "subtotal_excluding_tax": 1900,
        "test_clock": null,
        "total": 1900,
        "total_discount_amounts": [],
        "total_excluding_tax": 1900,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": null
    })
}

/// A completed subscription-mode Checkout session.
pub fn checkout_session_json(
    id: &str,
    customer: Option<&str>,
    subscription: Option<&str>,
    client_reference_id: Option<&str>,
) -> Value {
    let now = now_ts();
    json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": 1900,
        "amount_total": 1900,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": "http://127.0.0.1/billing?checkout=cancelled",
        "client_reference_id": client_reference_id,
        "client_secret": null,
        "consent": null,
        "consent_collection": null,
        "created": now,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer": customer,
        "customer_creation": null,
        "customer_details": null,
        "customer_email": null,
        "discounts": [],
        "expires_at": now + 86_400,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": {},
        "mode": "subscription",
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_options": null,
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "phone_number_collection": {"enabled": false},
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "complete",
        "submit_type": null,
        "subscription": subscription,
        "success_url": "http://127.0.0.1/billing?checkout=success",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": null
    })
}

/// An event envelope around `object`.
pub fn event_json(id: &str, event_type: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "account": null,
        "api_version": "2026-09-30.endive",
        "created": now_ts(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type
    })
}

/// The `Stripe-Signature` header Stripe would send for `payload` at `timestamp`.
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    stripe_webhook::Webhook::generate_test_header(payload, secret, Some(timestamp))
}
