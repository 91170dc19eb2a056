//! A request to generate access codes, and its progress.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "code_batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub plan_id: Uuid,
    pub requested_by: Option<Uuid>,
    pub quantity: i32,
    pub expiry_kind: String,
    pub expiry_days: Option<i32>,
    pub codes_expire_at: Option<DateTimeUtc>,
    pub max_activations: i32,
    pub status: BatchStatus,
    pub free_count: i32,
    pub overage_count: i32,
    pub cycle_start: DateTimeUtc,
    pub idempotency_key: Option<String>,
    pub delivery: DeliveryState,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Delivery messages confirmed sent (codes in id order; a CSV file counts as one).
    pub delivered_count: i32,
    /// While set and in the future, one deliverer holds the batch.
    pub delivery_lease_until: Option<DateTimeUtc>,
    /// The worker process holding the delivery lease (see `domain::claims`).
    pub claimed_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
/// Where a batch is in its lifecycle (written only by `domain::batches`):
/// `reserving` (Redis mode: the quota reservation is in flight) → `queued` → `generating` →
/// `delivering` → `done`, or `failed` (counts nothing against the quota).
pub enum BatchStatus {
    Reserving,
    Queued,
    Generating,
    Delivering,
    Done,
    Failed,
}

impl BatchStatus {
    /// Whether the batch's codes count against the quota.
    pub fn counts(self) -> bool {
        match self {
            BatchStatus::Failed => false,
            BatchStatus::Reserving
            | BatchStatus::Queued
            | BatchStatus::Generating
            | BatchStatus::Delivering
            | BatchStatus::Done => true,
        }
    }

    /// All its codes are written (they can be downloaded).
    pub fn codes_written(self) -> bool {
        match self {
            BatchStatus::Delivering | BatchStatus::Done => true,
            BatchStatus::Reserving
            | BatchStatus::Queued
            | BatchStatus::Generating
            | BatchStatus::Failed => false,
        }
    }

    /// No more work will happen on the batch.
    pub fn finished(self) -> bool {
        match self {
            BatchStatus::Done | BatchStatus::Failed => true,
            BatchStatus::Reserving
            | BatchStatus::Queued
            | BatchStatus::Generating
            | BatchStatus::Delivering => false,
        }
    }
}

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
/// Where a batch's codes stand on their way to the creator's linked Telegram chat.
pub enum DeliveryState {
    Pending,
    /// No linked owner chat yet: delivered once one is linked.
    WaitingForLinkedChat,
    /// The tenant was suspended when delivery came due: delivered on unsuspension.
    PausedTenantSuspended,
    Sent,
    /// Every delivery attempt failed (`error` says why); the codes exist and can be
    /// downloaded from the dashboard or the API.
    Failed,
}
