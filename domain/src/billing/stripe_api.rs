//! The Stripe client (the real async-stripe client, pointed at `STRIPE_API_BASE`) and how
//! its failures read for Gatehouse: worth retrying, or a permanent rejection.
use std::time::Duration;

use stripe::StripeError;

use crate::{
    AppCtx,
    config::StripeConfig,
    error::{Error, Result},
};

/// Stripe settings, or `billing_offline` when Stripe is not configured.
pub fn config(ctx: &AppCtx) -> Result<&StripeConfig> {
    ctx.config.stripe.as_ref().ok_or_else(offline)
}

pub fn offline() -> Error {
    Error::conflict(
        "billing_offline",
        "billing runs offline: Stripe is not configured on this installation",
    )
}

/// A client for one unit of work. Building one is cheap next to a Stripe round trip, and
/// nothing about it needs to outlive the call.
pub fn client(cfg: &StripeConfig) -> Result<stripe::Client> {
    stripe::ClientBuilder::new(cfg.secret_key.clone())
        .url(cfg.api_base.clone())
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .app_info(
            "gatehouse",
            Some(env!("CARGO_PKG_VERSION").to_string()),
            None,
        )
        .build()
        .map_err(|e| Error::internal(anyhow::anyhow!("building the Stripe client: {e}")))
}

/// What to do after a failed Stripe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Stripe was unreachable, slow, overloaded or rate limiting: try again later.
    Transient(String),
    /// Stripe refused the request itself (a 4xx other than 429 and 409): sending it again
    /// would be refused again.
    Permanent(String),
}

pub fn classify(e: &StripeError) -> Failure {
    match e {
        StripeError::Stripe(api, status) => {
            let msg = format!(
                "stripe {status}: {}",
                api.message.as_deref().unwrap_or("no message")
            );
            // 409 is Stripe's lock contention on the same object: transient by definition.
            if *status == 429 || *status == 409 || *status >= 500 {
                Failure::Transient(msg)
            } else {
                Failure::Permanent(msg)
            }
        }
        StripeError::Timeout => Failure::Transient("stripe: timed out".into()),
        other => Failure::Transient(format!("stripe: {other}")),
    }
}

/// A Stripe failure during a creator's request (checkout, portal): always "try again",
/// with the detail in the log rather than the response.
pub fn request_failed(what: &'static str, e: StripeError) -> Error {
    tracing::warn!(error = %e, "stripe call failed: {what}");
    Error::unavailable(
        "stripe_unavailable",
        anyhow::anyhow!("stripe call failed ({what}): {e}"),
    )
}
