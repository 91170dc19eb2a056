//! A place under a promo code's cap, taken when Telegram asks the pre-checkout question for an
//! invoice that carries the promo; the payment turns it into a use, or it lapses and is given
//! back.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "promo_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub promo_code_id: Uuid,
    pub subscriber_id: Uuid,
    /// The invoice it was taken for (unique: a repeated pre-checkout takes no second place).
    pub invoice_payload: String,
    /// `<promo>:<subscriber>` for a once-per-user promo (unique), else none.
    pub once_key: Option<String>,
    /// The payment that used the place; a used place never lapses.
    pub payment_id: Option<Uuid>,
    /// When an unused place is given back.
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
