//! A promo code of a project: a discount on plans sold for Stars.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "promo_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    /// As the creator chose it (upper case), for display.
    pub code: String,
    /// Normalised like an access code (case, spaces, dashes; O→0, I/L→1): what is matched.
    pub code_key: String,
    pub percent_off: Option<i32>,
    pub stars_off: Option<i32>,
    /// The plans it applies to (a JSON array of ids); empty: every plan.
    pub plan_ids: Json,
    pub starts_at: Option<DateTimeUtc>,
    pub ends_at: Option<DateTimeUtc>,
    pub max_uses: Option<i32>,
    /// Payments that carried it (the cap is checked against this by a conditional update).
    pub uses: i32,
    pub once_per_user: bool,
    pub new_customers_only: bool,
    pub first_payment_only: bool,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
