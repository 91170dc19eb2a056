//! A tenant's project and its settings.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub welcome_message: String,
    /// How to get access where the bot sells nothing (e.g. "Write to @creator for a code");
    /// empty: a standard hint.
    #[sea_orm(column_type = "Text")]
    pub contact_text: String,
    pub access_codes_enabled: bool,
    pub codes_priced: bool,
    /// Telegram Stars as a payment method (default off).
    pub stars_enabled: bool,
    pub unused_code_ttl_days: Option<i32>,
    /// Days an expired, unredeemed code stays listable before it is purged.
    pub expired_code_retention_days: i32,
    /// The bot's language for users whose Telegram language it does not speak (`en`, `ru`,
    /// `es`, `pt`).
    pub default_language: String,
    /// The welcome per language: a JSON object of language code → text (`{}`: none).
    #[sea_orm(column_type = "Text")]
    pub welcome_texts: String,
    /// The promo code a trial's reminder offers (a discounted Buy button), if any.
    pub trial_promo_id: Option<Uuid>,
    /// The promo code offered once when a subscriber presses "Cancel renewal", if any.
    pub retention_promo_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
