//! One payment that carried a promo code: list price, paid amount, and whether it arrived
//! after the cap was reached (honoured, counted, reported).
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "promo_redemptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub promo_code_id: Uuid,
    pub subscriber_id: Uuid,
    pub plan_id: Uuid,
    pub payment_id: Uuid,
    pub list_stars: i32,
    pub paid_stars: i32,
    pub over_cap: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
