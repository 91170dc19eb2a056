//! One subscriber of a broadcast, and whether the message reached them.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "broadcast_recipients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub broadcast_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subscriber_id: Uuid,
    pub tenant_id: Uuid,
    pub telegram_user_id: i64,
    pub state: RecipientState,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    /// While set and in the future, one sender holds this recipient (see `domain::claims`).
    pub lease_until: Option<DateTimeUtc>,
    pub claimed_by: Option<Uuid>,
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
/// `pending` until sent; `blocked`: the user blocked the bot; `failed`: Telegram refused
/// the message for another reason (`error` says which).
pub enum RecipientState {
    Pending,
    Sent,
    Blocked,
    Failed,
}
