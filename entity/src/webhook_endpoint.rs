//! A workspace's outgoing webhook endpoint.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types this endpoint receives (a JSON array of strings).
    pub event_types: Json,
    /// `whsec_…` encrypted at rest (`v1.<base64url>`, XChaCha20-Poly1305, the endpoint id as
    /// associated data).
    #[sea_orm(column_type = "Text")]
    pub secret_encrypted: String,
    pub enabled: bool,
    /// Set when a delivery ran out of retries; cleared by the next success.
    pub failing_since: Option<DateTimeUtc>,
    /// Attempts in a row that got no answer within the timeout.
    pub timeouts_in_a_row: i32,
    /// While in the future, the endpoint gets no new attempt (it kept timing out).
    pub cooldown_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
