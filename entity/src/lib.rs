//! sea-orm entities: one module per table of the `migration` crate.
//!
//! Only `domain`, `migration` and the test harness use these directly; edges go through `domain`.

pub mod tenant;
pub mod user;
pub mod login_attempt;
pub mod api_key;
pub mod project;
pub mod bot;
pub mod owner_link;
pub mod channel;
pub mod plan;
pub mod plan_channel;
pub mod code_batch;
pub mod access_code;
pub mod subscriber;
pub mod subscription;
pub mod activation;
pub mod quota_grant;
pub mod quota_free;
pub mod usage_record;
pub mod audit_entry;
