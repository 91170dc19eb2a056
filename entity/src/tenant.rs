//! A creator workspace: status, billing plan and the current billing cycle.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub status: TenantStatus,
    #[sea_orm(column_type = "Text", nullable)]
    pub suspended_reason: Option<String>,
    pub billing_plan: String,
    pub billing_status: BillingStatus,
    pub past_due_since: Option<DateTimeUtc>,
    /// When Stripe created the last invoice event applied (`invoice.paid` or
    /// `invoice.payment_failed`); an older one arriving later changes nothing.
    pub payment_event_at: Option<DateTimeUtc>,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub cycle_start: DateTimeUtc,
    pub cycle_end: DateTimeUtc,
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
/// A suspended tenant can be read but not changed, and its bots grant nothing new.
pub enum TenantStatus {
    Active,
    Suspended,
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
/// The Stripe subscription's standing (offline billing is always `active`).
pub enum BillingStatus {
    Active,
    PastDue,
}
