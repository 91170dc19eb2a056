//! A subscription plan of a project.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub duration_days: Option<i32>,
    pub active: bool,
    pub codes_only: bool,
    /// Price in Telegram Stars (1–10,000); null: not sold for Stars.
    pub price_stars: Option<i32>,
    /// Days of the free trial this plan offers (1–90); null: none.
    pub trial_days: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
