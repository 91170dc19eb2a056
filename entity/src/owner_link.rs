//! A one-time owner deep link and, once opened, the linked owner Telegram account.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "owner_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub user_id: Option<Uuid>,
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub telegram_user_id: Option<i64>,
    pub telegram_chat_id: Option<i64>,
    pub linked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The last Telegram `language_code` seen from this user (for messages sent without an
    /// update: reminders, ends of access, notifications).
    pub language_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
