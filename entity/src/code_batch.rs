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
    pub status: String,
    pub free_count: i32,
    pub overage_count: i32,
    pub cycle_start: DateTimeUtc,
    pub idempotency_key: Option<String>,
    pub delivery: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
