//! A redeemable access code.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub plan_id: Uuid,
    pub batch_id: Option<Uuid>,
    pub code: String,
    pub max_activations: i32,
    pub activation_count: i32,
    pub expires_at: Option<DateTimeUtc>,
    /// When the sweep freed the quota unit of this unredeemed, expired code; purged after the
    /// project's retention.
    pub expired_at: Option<DateTimeUtc>,
    pub cycle_start: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
