//! A subscriber's access to a plan.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub subscriber_id: Uuid,
    pub plan_id: Uuid,
    pub source: SubscriptionSource,
    pub access_code_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    pub status: SubscriptionStatus,
    pub reminder_sent_at: Option<DateTimeUtc>,
    /// When "Cancel renewal" was answered with the project's retention offer (made once).
    pub retention_offered_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
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
/// `active` until it ends (`expired`) or is taken away (`revoked`).
pub enum SubscriptionStatus {
    Active,
    Expired,
    Revoked,
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
/// How the subscription came about.
pub enum SubscriptionSource {
    AccessCode,
    Payment,
    /// A free trial of the plan (`trials`).
    Trial,
}
