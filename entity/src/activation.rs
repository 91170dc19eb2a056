//! One redemption of an access code, and the time it added to its subscription.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "activations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub access_code_id: Uuid,
    pub subscriber_id: Uuid,
    pub subscription_id: Option<Uuid>,
    pub at: DateTimeUtc,
    /// The time this activation added to its subscription: from here…
    pub added_from: Option<DateTimeUtc>,
    /// …until here (null for lifetime, or when `added_from` is null: unknown, older rows).
    pub added_until: Option<DateTimeUtc>,
    /// What this code order was priced at (0 when the project did not price code orders;
    /// null on rows from before this was recorded: the subscription's price is used).
    pub price_minor: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
