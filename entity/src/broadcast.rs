//! A creator's message to a segment of a project's subscribers.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    /// The creator who made it (`None` for an API key).
    pub created_by: Option<Uuid>,
    /// Who gets it (`domain::broadcasts::Segment` as JSON), computed when sending starts.
    pub segment: Json,
    /// Telegram HTML, validated before it was saved.
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// One inline button (`domain::broadcasts::ButtonIn` as JSON).
    pub button: Option<Json>,
    pub status: BroadcastStatus,
    /// Recipients written when sending started.
    pub recipient_count: i32,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// When a `scheduled` broadcast starts sending.
    pub send_at: Option<DateTimeUtc>,
    /// A photo (http or https URL) sent with the text as its caption.
    #[sea_orm(column_type = "Text", nullable)]
    pub photo_url: Option<String>,
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
/// `draft` → `sending` (recipients written, the worker sends) → `done`; `draft` →
/// `scheduled` → `sending` at `send_at`; `draft`, `scheduled` or `sending` → `canceled`
/// (pending recipients are not sent).
pub enum BroadcastStatus {
    Draft,
    Scheduled,
    Sending,
    Done,
    Canceled,
}
