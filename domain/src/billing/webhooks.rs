//! Stripe webhooks (`POST /webhooks/stripe`): the signature is verified with
//! `STRIPE_WEBHOOK_SECRET` (HMAC-SHA256, 300 s timestamp tolerance, against the app clock),
//! each event id is applied once, and the tenant's plan, cycle and payment status follow.
//!
//! Subscription events are not trusted for their *content*: Stripe may deliver them late or
//! out of order, so the subscription is fetched fresh from Stripe and its current state is
//! applied. The plan comes from the subscription item whose price is one of the
//! `STRIPE_PRICE_*` plan prices; the cycle is that item's current period.
//!
//! Plan change mid-cycle (same Stripe period): the cycle stays, codes already counted stay
//! counted, and the new plan's free quota applies for the rest of the cycle. A new period
//! from Stripe starts a new cycle and with it a fresh quota. A canceled subscription puts
//! the tenant back on Free with a new monthly cycle from that moment.
use chrono::{DateTime, Months, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde::Serialize;
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription};
use stripe_shared::{Subscription, SubscriptionStatus};
use stripe_webhook::{EventObject, Webhook, WebhookError};
use uuid::Uuid;

use entity::{stripe_event, tenant};

use super::{
    CreatorPlan,
    account::{BillingStatus, plan_of_price},
    stripe_api,
};
use crate::{
    AppCtx,
    error::{Error, ErrorKind, Result},
};

/// What became of one delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookOut {
    pub event_id: String,
    pub event_type: String,
    /// False for an event id already applied (a redelivery), which changes nothing.
    pub applied: bool,
}

fn bad_signature() -> Error {
    Error::unauthenticated(
        "invalid_signature",
        "the Stripe-Signature header does not match this payload",
    )
}

/// Verifies, de-duplicates and applies one webhook delivery.
pub async fn receive(ctx: &AppCtx, payload: &str, signature: Option<&str>) -> Result<WebhookOut> {
    let secret = ctx.config.stripe_webhook_secret.as_deref().ok_or_else(|| {
        Error::conflict(
            "billing_offline",
            "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)",
        )
    })?;
    let signature = signature.ok_or_else(bad_signature)?;
    // The tolerance is measured against the app's clock (the same clock every other rule uses).
    let event =
        Webhook::construct_event_with_timestamp(payload, signature, secret, ctx.now().timestamp())
            .map_err(|e| match e {
                WebhookError::BadTimestamp(_) => Error::unauthenticated(
                    "signature_expired",
                    "the Stripe-Signature timestamp is outside the 300 second tolerance",
                ),
                WebhookError::BadParse(msg) => Error::new(ErrorKind::Invalid, "invalid_event", msg),
                _ => bad_signature(),
            })?;
    let event_id = event.id.to_string();
    let event_type = event.type_.as_str().to_string();
    let out = |applied| WebhookOut {
        event_id: event_id.clone(),
        event_type: event_type.clone(),
        applied,
    };
    if stripe_event::Entity::find_by_id(event_id.clone())
        .one(&ctx.db)
        .await?
        .is_some()
    {
        return Ok(out(false));
    }

    // Everything that talks to Stripe happens before the transaction.
    let created = ts(event.created).unwrap_or_else(|| ctx.now());
    let change = prepare(ctx, event.data.object, created).await?;

    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let inserted = stripe_event::ActiveModel {
        id: Set(event_id.clone()),
        event_type: Set(event_type.clone()),
        tenant_id: Set(change.as_ref().map(|c| c.tenant_id)),
        received_at: Set(now),
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        // A concurrent delivery of the same event got there first.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(out(false));
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(change) = change
        && let Some(t) = tenant::Entity::find_by_id(change.tenant_id)
            .one(&txn)
            .await?
        && let Some(am) = change.kind.apply(t, now)
    {
        am.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(out(true))
}

struct Change {
    tenant_id: Uuid,
    kind: ChangeKind,
}

enum ChangeKind {
    /// The subscription as Stripe has it now.
    Subscription(SubscriptionFacts),
    /// An invoice event, with the time Stripe created it: payment status follows the
    /// newest, whatever order they arrive in.
    PaymentFailed(DateTime<Utc>),
    Paid(DateTime<Utc>),
}

#[derive(Debug, Clone)]
struct SubscriptionFacts {
    id: String,
    customer: String,
    status: SubscriptionStatus,
    plan: Option<CreatorPlan>,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl SubscriptionFacts {
    fn ended(&self) -> bool {
        matches!(
            self.status,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }
}

/// Reads what the event means, fetching the subscription it concerns from Stripe.
async fn prepare(
    ctx: &AppCtx,
    object: EventObject,
    created: DateTime<Utc>,
) -> Result<Option<Change>> {
    match object {
        EventObject::CheckoutSessionCompleted(s) => {
            let Some(tenant_id) = s
                .client_reference_id
                .as_deref()
                .and_then(|r| r.parse::<Uuid>().ok())
            else {
                return Ok(None);
            };
            let Some(sub) = s.subscription.as_ref().map(|x| x.id().to_string()) else {
                return Ok(None);
            };
            subscription_change(ctx, Some(tenant_id), None, &sub).await
        }
        EventObject::CustomerSubscriptionCreated(s)
        | EventObject::CustomerSubscriptionUpdated(s)
        | EventObject::CustomerSubscriptionDeleted(s) => {
            let tenant_hint = s
                .metadata
                .get("tenant_id")
                .and_then(|v| v.parse::<Uuid>().ok());
            let customer = s.customer.id().to_string();
            subscription_change(ctx, tenant_hint, Some(&customer), s.id.as_str()).await
        }
        EventObject::InvoicePaid(i) => invoice_change(ctx, &i, ChangeKind::Paid(created)).await,
        EventObject::InvoicePaymentFailed(i) => {
            invoice_change(ctx, &i, ChangeKind::PaymentFailed(created)).await
        }
        _ => Ok(None),
    }
}

async fn invoice_change(
    ctx: &AppCtx,
    invoice: &stripe_shared::Invoice,
    kind: ChangeKind,
) -> Result<Option<Change>> {
    let Some(customer) = invoice.customer.as_ref().map(|c| c.id().to_string()) else {
        return Ok(None);
    };
    Ok(tenant_by_customer(ctx, &customer).await?.map(|t| Change {
        tenant_id: t.id,
        kind,
    }))
}

async fn tenant_by_customer(ctx: &AppCtx, customer: &str) -> Result<Option<tenant::Model>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::StripeCustomerId.eq(customer))
        .one(&ctx.db)
        .await?)
}

async fn subscription_change(
    ctx: &AppCtx,
    tenant_hint: Option<Uuid>,
    customer: Option<&str>,
    subscription_id: &str,
) -> Result<Option<Change>> {
    let cfg = stripe_api::config(ctx).map_err(|_| {
        // Without the API key the subscription cannot be read; Stripe will redeliver once
        // billing is configured.
        Error::unavailable(
            "billing_offline",
            anyhow::anyhow!("subscription event received while Stripe is not configured"),
        )
    })?;
    let client = stripe_api::client(cfg)?;
    let sub = RetrieveSubscription::new(subscription_id)
        .send(&client)
        .await
        .map_err(|e| stripe_api::request_failed("retrieve subscription", e))?;
    let facts = facts_of(cfg, &sub);
    let tenant = match tenant_hint {
        Some(id) => tenant::Entity::find_by_id(id).one(&ctx.db).await?,
        None => None,
    };
    let tenant = match tenant {
        Some(t) => Some(t),
        None => tenant_by_customer(ctx, customer.unwrap_or(&facts.customer)).await?,
    };
    let Some(tenant) = tenant else {
        tracing::warn!(
            subscription = subscription_id,
            "subscription of no known tenant"
        );
        return Ok(None);
    };
    // Changing plan through a new Checkout leaves the old subscription running: end it,
    // before recording the new one, so a creator is never billed for two plans. If this
    // fails the webhook fails and Stripe delivers it again.
    if !facts.ended()
        && matches!(
            facts.status,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing
        )
        && let Some(old) = tenant.stripe_subscription_id.as_deref()
        && old != facts.id
    {
        match CancelSubscription::new(old)
            .prorate(true)
            .send(&client)
            .await
        {
            Ok(_) => {}
            Err(e) => match stripe_api::classify(&e) {
                // Already canceled or gone: nothing left to end.
                stripe_api::Failure::Permanent(_) => {}
                stripe_api::Failure::Transient(_) => {
                    return Err(stripe_api::request_failed(
                        "cancel replaced subscription",
                        e,
                    ));
                }
            },
        }
    }
    Ok(Some(Change {
        tenant_id: tenant.id,
        kind: ChangeKind::Subscription(facts),
    }))
}

fn ts(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

fn facts_of(cfg: &crate::config::StripeConfig, sub: &Subscription) -> SubscriptionFacts {
    let plan_item = sub
        .items
        .data
        .iter()
        .find_map(|item| plan_of_price(cfg, item.price.id.as_str()).map(|p| (p, item)));
    let period_item = plan_item.map(|(_, i)| i).or(sub.items.data.first());
    SubscriptionFacts {
        id: sub.id.to_string(),
        customer: sub.customer.id().to_string(),
        status: sub.status.clone(),
        plan: plan_item.map(|(p, _)| p),
        period: period_item
            .and_then(|i| Some((ts(i.current_period_start)?, ts(i.current_period_end)?))),
    }
}

impl ChangeKind {
    /// The tenant after this change, or None when nothing changes.
    fn apply(self, t: tenant::Model, now: DateTime<Utc>) -> Option<tenant::ActiveModel> {
        match self {
            ChangeKind::PaymentFailed(at) | ChangeKind::Paid(at)
                if t.payment_event_at.is_some_and(|last| at < last) =>
            {
                tracing::info!(tenant = %t.id, event_at = %at, "older invoice event ignored");
                None
            }
            ChangeKind::PaymentFailed(at) => {
                let since = t.past_due_since.unwrap_or(now);
                let mut am = t.into_active_model();
                am.billing_status = Set(BillingStatus::PastDue);
                am.past_due_since = Set(Some(since));
                am.payment_event_at = Set(Some(at));
                Some(am)
            }
            ChangeKind::Paid(at) => {
                let mut am = t.into_active_model();
                am.billing_status = Set(BillingStatus::Active);
                am.past_due_since = Set(None);
                am.payment_event_at = Set(Some(at));
                Some(am)
            }
            ChangeKind::Subscription(f) => apply_subscription(t, f, now),
        }
    }
}

fn apply_subscription(
    t: tenant::Model,
    f: SubscriptionFacts,
    now: DateTime<Utc>,
) -> Option<tenant::ActiveModel> {
    let current = t.stripe_subscription_id.clone();
    if f.ended() {
        // Only the subscription the tenant is on can take it back to Free; the end of a
        // replaced one changes nothing.
        if current.as_deref() != Some(f.id.as_str()) {
            return None;
        }
        let mut am = t.into_active_model();
        am.billing_plan = Set(CreatorPlan::Free.as_str().into());
        am.stripe_subscription_id = Set(None);
        am.billing_status = Set(BillingStatus::Active);
        am.past_due_since = Set(None);
        am.cycle_start = Set(now);
        am.cycle_end = Set(now + Months::new(CreatorPlan::Free.cycle_months()));
        return Some(am);
    }
    let is_current = current.as_deref() == Some(f.id.as_str());
    let active = matches!(
        f.status,
        SubscriptionStatus::Active | SubscriptionStatus::Trialing
    );
    // Another subscription takes over only once it is active (a replaced one is canceled
    // first, see `subscription_change`); until then (incomplete, past due, paused) it
    // changes nothing.
    if !is_current && !active {
        return None;
    }
    let customer_missing = t.stripe_customer_id.is_none();
    let past_due_since = t.past_due_since;
    let mut am = t.into_active_model();
    am.stripe_subscription_id = Set(Some(f.id.clone()));
    if customer_missing {
        am.stripe_customer_id = Set(Some(f.customer.clone()));
    }
    match f.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
            if let Some(plan) = f.plan {
                am.billing_plan = Set(plan.as_str().into());
            }
            if let Some((start, end)) = f.period {
                am.cycle_start = Set(start);
                am.cycle_end = Set(end);
            }
            am.billing_status = Set(BillingStatus::Active);
            am.past_due_since = Set(None);
        }
        SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
            if let Some(plan) = f.plan {
                am.billing_plan = Set(plan.as_str().into());
            }
            if let Some((start, end)) = f.period {
                am.cycle_start = Set(start);
                am.cycle_end = Set(end);
            }
            am.billing_status = Set(BillingStatus::PastDue);
            am.past_due_since = Set(Some(past_due_since.unwrap_or(now)));
        }
        // Incomplete (first payment pending) or paused: the plan does not change.
        _ => {}
    }
    Some(am)
}
