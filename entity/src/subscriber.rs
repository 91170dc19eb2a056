//! A Telegram user of one project.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscribers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub telegram_user_id: i64,
    pub username: Option<String>,
    pub first_name: String,
    pub created_at: DateTimeUtc,
    /// When a message to them was refused because they blocked the bot (cleared when they
    /// talk to it again); blocked subscribers are left out of broadcasts.
    pub blocked_at: Option<DateTimeUtc>,
    /// The last Telegram `language_code` seen from this user (for messages sent without an
    /// update: reminders, ends of access, notifications).
    pub language_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
