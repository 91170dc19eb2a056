//! The webhook outbox: one row per (event, subscribed endpoint), written in the transaction
//! of the change the event describes, sent by the worker.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    /// The event's stable id (`evt_…`), sent as `webhook-id`.
    pub event_id: String,
    pub event_type: String,
    /// The JSON body exactly as signed and sent.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When it is due; while an attempt runs, the end of the sender's lease.
    pub next_attempt_at: DateTimeUtc,
    /// No automatic attempt after this (24 h after the event, or after a manual retry).
    pub retry_until: DateTimeUtc,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
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
/// `pending` (to send or retrying), `delivered` (a 2xx answer), `failed` (out of retries).
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}
