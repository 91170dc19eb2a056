//! Payments in Telegram Stars, the one owner of a payment and its states (paid → refunded):
//! the invoice a subscriber asks for (a signed payload naming plan, subscriber and a nonce),
//! the answer to `pre_checkout_query`, recording a `successful_payment` once per
//! `telegram_payment_charge_id` (granting the plan through `subscriptions::grant`, the one
//! rule for new and extended time, source `payment`), cancelling a Stars subscription's
//! renewal, refunds (the time bought is taken away exactly, as a code rollback does),
//! reconciliation of recent Star transactions, and revenue.
//!
//! A payment is recorded in exactly one place, [`record_paid`], and refunded in exactly one,
//! [`refund`]; both are one transaction.
//!
//! By use case: `invoice` (selling, with or without a promo), `charge` (recording), `renewal`,
//! `retention` (the promo offered on "Cancel renewal"), `refund` (and the list), `revenue` and
//! `reconcile`.

pub use entity::payment::{PaymentStatus, RecordedBy};

mod charge;
mod invoice;
mod reconcile;
mod refund;
mod renewal;
mod retention;
mod revenue;

pub use charge::*;
pub use invoice::*;
pub use reconcile::*;
pub use refund::*;
pub use renewal::*;
pub use retention::*;
pub use revenue::*;

/// Telegram Stars' currency code.
pub const CURRENCY: &str = "XTR";
/// A Stars subscription renews every 30 days (the only period Telegram allows).
pub const SUBSCRIPTION_PERIOD_SECS: u32 = 2_592_000;
/// Callback data prefix of a "Buy for N ⭐" button (`buy:<plan id>`).
pub const BUY_PREFIX: &str = crate::subscriptions::BUY_PREFIX;
/// Callback data prefix of a "Cancel renewal" button (`nr:<subscription id>`).
pub const CANCEL_RENEWAL_PREFIX: &str = "nr:";
/// Callback data prefix of "Cancel renewal anyway" after the retention offer.
pub const CANCEL_ANYWAY_PREFIX: &str = "nx:";
/// Callback data prefix of "Stay for N ⭐" (the retention offer accepted): the subscription's
/// id in 22 characters.
pub const STAY_PREFIX: &str = "rs:";

/// The project does not sell for Stars.
pub const STARS_DISABLED: &str = "stars_disabled";
/// The plan is not (or no longer) sold for Stars.
pub const PLAN_NOT_FOR_SALE: &str = "plan_not_for_sale";
/// Refunding a payment that was already refunded.
pub const ALREADY_REFUNDED: &str = "payment_already_refunded";
/// No renewal to cancel.
pub const NO_RENEWAL: &str = "no_renewal";

/// What a subscriber sees when a pre-checkout is refused: keys of the message catalogue
/// (`i18n::t` words them in the payer's language).
pub const REFUSE_FORGED: &str = "refuse-forged";
pub const REFUSE_USED: &str = "refuse-used";
pub const REFUSE_PLAN: &str = "refuse-plan";
pub const REFUSE_PRICE: &str = "refuse-price";
pub const REFUSE_PAUSED: &str = "paused";
