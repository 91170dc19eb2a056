//! Creator billing (DESIGN "Quotas and billing"): plans and their free quota per cycle,
//! Stripe subscriptions (Checkout, billing portal, signed webhooks), the metered-overage
//! outbox and the past-due guard. Without Stripe configured, billing runs offline.
pub mod account;
pub mod outbox;
pub mod stripe_api;
pub mod webhooks;

pub use account::{
    BillingOut, BillingStatus, CheckoutIn, CheckoutOut, PAST_DUE_GRACE_DAYS, PAYMENT_PAST_DUE,
    PortalOut, checkout, ensure_can_issue, overview, portal,
};
pub use outbox::{FlushReport, flush_usage};
pub use webhooks::{WebhookOut, receive as receive_webhook};

pub use crate::tiers::CreatorPlan;
