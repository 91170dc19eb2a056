//! A creator's billing account: subscribing through Stripe Checkout, managing it in the
//! billing portal, the billing overview, and the past-due guard on issuing codes.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde::{Deserialize, Serialize};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use uuid::Uuid;

use entity::{tenant, usage_record, user};

use super::{CreatorPlan, outbox, stripe_api};
use crate::{
    AppCtx,
    error::{Error, ErrorKind, Result},
    quota,
    tenancy::{Action, Role, TenantCtx},
    tenants,
};

/// How long a tenant whose payment failed may keep issuing codes before new batches are
/// refused with `payment_past_due`. Seven days covers Stripe's first smart retries of the
/// invoice and a week for the creator to update their card; reading, redeeming and existing
/// subscriptions are never affected.
pub const PAST_DUE_GRACE_DAYS: i64 = 7;

/// Where the tenant stands with its payments.
pub use entity::tenant::BillingStatus;

/// The code of a batch refused after the past-due grace period (HTTP 402).
pub const PAYMENT_PAST_DUE: &str = "payment_past_due";

/// The Stripe price of a paid creator plan, from `STRIPE_PRICE_*`.
pub fn price_of(cfg: &crate::config::StripeConfig, plan: CreatorPlan) -> Option<&str> {
    match plan {
        CreatorPlan::Free => None,
        CreatorPlan::StarterMonthly => cfg.price_starter_monthly.as_deref(),
        CreatorPlan::StarterAnnual => cfg.price_starter_annual.as_deref(),
        CreatorPlan::GrowthMonthly => cfg.price_growth_monthly.as_deref(),
        CreatorPlan::GrowthAnnual => cfg.price_growth_annual.as_deref(),
    }
}

/// The creator plan a Stripe price stands for.
pub fn plan_of_price(cfg: &crate::config::StripeConfig, price_id: &str) -> Option<CreatorPlan> {
    CreatorPlan::ALL
        .into_iter()
        .find(|p| price_of(cfg, *p) == Some(price_id))
}

/// When the grace period of a past-due tenant ends (None while payments are in order).
pub fn grace_ends_at(t: &tenant::Model) -> Option<DateTime<Utc>> {
    if t.billing_status != BillingStatus::PastDue {
        return None;
    }
    t.past_due_since
        .map(|since| since + Duration::days(PAST_DUE_GRACE_DAYS))
}

/// The guard code generation calls before accepting a batch: a tenant whose payment has
/// been failing for longer than the grace period gets 402 `payment_past_due`.
pub async fn ensure_can_issue(ctx: &AppCtx, t: &TenantCtx) -> Result<()> {
    let tenant = tenants::load(ctx, t.tenant_id).await?;
    match grace_ends_at(&tenant) {
        Some(ends) if ctx.now() >= ends => Err(Error::new(
            ErrorKind::PaymentRequired,
            PAYMENT_PAST_DUE,
            "the last payment for this workspace failed and the grace period is over: update the payment method in the billing portal to issue codes again",
        )
        .with_details(serde_json::json!({
            "past_due_since": tenant.past_due_since,
            "grace_ended_at": ends,
        }))),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CheckoutIn {
    /// `starter_monthly`, `starter_annual`, `growth_monthly` or `growth_annual`.
    pub plan: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckoutOut {
    /// Stripe Checkout page to send the creator to.
    pub url: String,
    pub session_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalOut {
    /// Stripe billing portal page to send the creator to.
    pub url: String,
}

/// Where Stripe sends the creator back to.
fn return_base(ctx: &AppCtx) -> String {
    ctx.config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", ctx.config.bind))
}

/// Checkout and the portal change what the workspace pays: owners only (the role table).
fn billing_owner(t: &TenantCtx) -> Result<()> {
    Ok(t.may(Action::ManageBilling)?)
}

/// A Checkout session subscribing the tenant to a paid plan: the plan's price plus the
/// metered overage price. The Stripe customer is created once and kept.
pub async fn checkout(ctx: &AppCtx, t: &TenantCtx, input: CheckoutIn) -> Result<CheckoutOut> {
    billing_owner(t)?;
    let plan = CreatorPlan::parse(input.plan.trim())?;
    if plan == CreatorPlan::Free {
        return Err(Error::field(
            "plan",
            "not_purchasable",
            "the Free plan needs no checkout; cancel the subscription in the billing portal to return to it",
        ));
    }
    let cfg = stripe_api::config(ctx)?;
    let current = tenants::load(ctx, t.tenant_id).await?;
    if current.stripe_subscription_id.is_some() && current.billing_plan == plan.as_str() {
        return Err(Error::conflict(
            "already_subscribed",
            "this workspace is already subscribed to this plan",
        )
        .with_field("plan"));
    }
    let (Some(price), Some(overage)) = (price_of(cfg, plan), cfg.price_overage.as_deref()) else {
        return Err(Error::conflict(
            "plan_unavailable",
            "this plan has no Stripe price configured on this installation",
        )
        .with_field("plan"));
    };
    let client = stripe_api::client(cfg)?;
    let customer = ensure_customer(ctx, &client, t.tenant_id).await?;
    let base = return_base(ctx);
    let mut sub = CreateCheckoutSessionSubscriptionData::new();
    sub.metadata = Some(HashMap::from([(
        "tenant_id".to_string(),
        t.tenant_id.to_string(),
    )]));
    let mut plan_item = CreateCheckoutSessionLineItems::new();
    plan_item.price = Some(price.to_string());
    plan_item.quantity = Some(1);
    // Metered prices take no quantity: usage arrives through meter events.
    let mut overage_item = CreateCheckoutSessionLineItems::new();
    overage_item.price = Some(overage.to_string());
    let session = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(t.tenant_id.to_string())
        .line_items(vec![plan_item, overage_item])
        .subscription_data(sub)
        .metadata(HashMap::from([
            ("tenant_id".to_string(), t.tenant_id.to_string()),
            ("plan".to_string(), plan.as_str().to_string()),
        ]))
        .success_url(format!("{base}/billing?checkout=success"))
        .cancel_url(format!("{base}/billing?checkout=cancelled"))
        .send(&client)
        .await
        .map_err(|e| stripe_api::request_failed("create checkout session", e))?;
    let url = session
        .url
        .ok_or_else(|| Error::internal(anyhow::anyhow!("checkout session without a url")))?;
    Ok(CheckoutOut {
        url,
        session_id: session.id.to_string(),
    })
}

/// A billing portal session for the tenant's Stripe customer.
pub async fn portal(ctx: &AppCtx, t: &TenantCtx) -> Result<PortalOut> {
    billing_owner(t)?;
    let cfg = stripe_api::config(ctx)?;
    let tenant = tenants::load(ctx, t.tenant_id).await?;
    let Some(customer) = tenant.stripe_customer_id else {
        return Err(Error::conflict(
            "no_billing_account",
            "this workspace has no Stripe billing account yet: subscribe through checkout first",
        ));
    };
    let client = stripe_api::client(cfg)?;
    let session = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url(format!("{}/billing", return_base(ctx)))
        .send(&client)
        .await
        .map_err(|e| stripe_api::request_failed("create billing portal session", e))?;
    Ok(PortalOut { url: session.url })
}

/// The tenant's Stripe customer, created on first use. The idempotency key makes a retried
/// or concurrent first checkout reuse one customer; the conditional update keeps the first
/// id stored.
async fn ensure_customer(ctx: &AppCtx, client: &stripe::Client, tenant_id: Uuid) -> Result<String> {
    let t = tenants::load(ctx, tenant_id).await?;
    if let Some(id) = t.stripe_customer_id {
        return Ok(id);
    }
    let owner_email: Option<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Role.eq(Role::Owner.stored()))
        .order_by_asc(user::Column::CreatedAt)
        .into_tuple()
        .one(&ctx.db)
        .await?;
    let key = IdempotencyKey::new(format!("gatehouse-customer-{tenant_id}"))
        .map_err(|e| Error::internal(anyhow::anyhow!("idempotency key: {e:?}")))?;
    let mut req = CreateCustomer::new()
        .name(t.name.clone())
        .metadata(HashMap::from([(
            "tenant_id".to_string(),
            tenant_id.to_string(),
        )]));
    if let Some(email) = owner_email {
        req = req.email(email);
    }
    let customer = req
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(client)
        .await
        .map_err(|e| stripe_api::request_failed("create customer", e))?;
    let id = customer.id.to_string();
    tenant::Entity::update_many()
        .col_expr(tenant::Column::StripeCustomerId, Expr::value(id.clone()))
        .filter(tenant::Column::Id.eq(tenant_id))
        .filter(tenant::Column::StripeCustomerId.is_null())
        .exec(&ctx.db)
        .await?;
    let stored = tenants::load(ctx, tenant_id).await?.stripe_customer_id;
    Ok(stored.unwrap_or(id))
}

/// Free codes of the current cycle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaOut {
    /// Codes counted this cycle (issued minus given back).
    pub used: i64,
    /// Free codes this cycle: the plan's quota plus the staff bonus.
    pub limit: i64,
    /// Staff grants included in `limit`.
    pub staff_bonus: i64,
    pub free_left: i64,
}

/// Overage recorded but not (yet) reported to Stripe.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnbilledOut {
    /// Usage records waiting to reach Stripe or refused by it.
    pub records: i64,
    pub codes: i64,
    pub fee_minor: i64,
    /// Of `records`, those Stripe refused permanently (staff see the reason).
    pub failed_records: i64,
}

/// `GET /api/v1/billing`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingOut {
    pub plan: CreatorPlan,
    pub status: BillingStatus,
    pub past_due_since: Option<DateTime<Utc>>,
    /// When new batches start being refused, while past due.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// False when billing runs offline (no Stripe configured).
    pub stripe_enabled: bool,
    pub subscribed: bool,
    pub cycle_start: DateTime<Utc>,
    pub cycle_end: DateTime<Utc>,
    pub quota: QuotaOut,
    /// Codes beyond the free quota this cycle.
    pub overage_codes: i64,
    /// Their fee, minor units of `currency`.
    pub overage_fee_minor: i64,
    pub overage_fee_per_code_minor: i64,
    pub currency: String,
    pub unbilled: UnbilledOut,
}

pub async fn overview(ctx: &AppCtx, t: &TenantCtx) -> Result<BillingOut> {
    let usage = quota::usage(ctx, t.tenant_id).await?;
    let tenant = tenants::load(ctx, t.tenant_id).await?;
    let rows: Vec<(outbox::UsageStatus, i32, i64)> = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::Status)
        .column(usage_record::Column::OverageCount)
        .column(usage_record::Column::FeeMinor)
        .filter(usage_record::Column::TenantId.eq(t.tenant_id))
        .filter(usage_record::Column::Status.ne(outbox::UsageStatus::Sent))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let unbilled = UnbilledOut {
        records: rows.len() as i64,
        codes: rows.iter().map(|r| i64::from(r.1)).sum(),
        fee_minor: rows.iter().map(|r| r.2).sum(),
        failed_records: rows
            .iter()
            .filter(|r| r.0 == outbox::UsageStatus::Failed)
            .count() as i64,
    };
    Ok(BillingOut {
        plan: usage.plan,
        status: tenant.billing_status,
        past_due_since: tenant.past_due_since,
        grace_ends_at: grace_ends_at(&tenant),
        stripe_enabled: ctx.config.stripe.is_some(),
        subscribed: tenant.stripe_subscription_id.is_some(),
        cycle_start: usage.cycle_start,
        cycle_end: usage.cycle_end,
        quota: QuotaOut {
            used: usage.used,
            limit: usage.limit,
            staff_bonus: usage.bonus,
            free_left: usage.free_left,
        },
        overage_codes: usage.overage_codes,
        overage_fee_minor: usage.overage_fee_minor,
        overage_fee_per_code_minor: ctx.config.overage_fee_minor,
        currency: "USD".into(),
        unbilled,
    })
}
