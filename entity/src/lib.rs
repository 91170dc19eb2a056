//! sea-orm entities: one module per table of the `migration` crate.
//!
//! Only `domain`, `migration` and the test harness use these directly; edges go through `domain`.

pub mod access_code;
pub mod activation;
pub mod api_key;
pub mod audit_entry;
pub mod bot;
pub mod bot_conversation;
pub mod bot_update;
pub mod broadcast;
pub mod broadcast_recipient;
pub mod channel;
pub mod code_batch;
pub mod login_limit;
pub mod owner_link;
pub mod payment;
pub mod plan;
pub mod plan_channel;
pub mod project;
pub mod promo_code;
pub mod promo_hold;
pub mod promo_redemption;
pub mod quota_free;
pub mod quota_grant;
pub mod redeem_failure;
pub mod stripe_event;
pub mod subscriber;
pub mod subscription;
pub mod team_invite;
pub mod tenant;
pub mod trial;
pub mod usage_record;
pub mod user;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod worker_beat;

/// States stored as text show as the text they are stored as (`active`, `past_due`, …).
macro_rules! shown_as_stored {
    ($($t:ty),* $(,)?) => {
        $(impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&sea_orm::ActiveEnum::to_value(self))
            }
        })*
    };
}

shown_as_stored!(
    broadcast::BroadcastStatus,
    broadcast_recipient::RecipientState,
    code_batch::BatchStatus,
    code_batch::DeliveryState,
    subscription::SubscriptionStatus,
    subscription::SubscriptionSource,
    usage_record::UsageStatus,
    payment::PaymentStatus,
    payment::RecordedBy,
    tenant::TenantStatus,
    tenant::BillingStatus,
    user::UserRole,
    webhook_delivery::DeliveryStatus,
);
