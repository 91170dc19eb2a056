//! The billing outbox: overage to report to Stripe.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub batch_id: Option<Uuid>,
    pub overage_count: i32,
    pub fee_minor: i64,
    pub identifier: String,
    pub status: UsageStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    /// The meter event's timestamp, fixed at the first attempt (so every retry sends the
    /// same parameters under the same idempotency key).
    pub event_at: Option<DateTimeUtc>,
    /// The worker process holding the claim (see `domain::claims`).
    pub claimed_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
/// An overage record on its way to Stripe: `pending` (to send, or retrying), `sent`, or
/// `failed` after its last attempt (staff can retry it).
pub enum UsageStatus {
    Pending,
    Sent,
    Failed,
}
