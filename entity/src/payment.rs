//! One Telegram Stars payment (a charge) for a plan, and the time it added to its subscription.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub plan_id: Uuid,
    pub subscriber_id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// In the currency's smallest unit (whole Stars for `XTR`).
    pub amount: i64,
    pub currency: String,
    #[sea_orm(unique)]
    pub telegram_payment_charge_id: String,
    pub invoice_payload: String,
    pub is_recurring: bool,
    /// The charge that started a Stars subscription (its id names the subscription to
    /// Telegram); renewals and one-time payments are false.
    pub is_first_recurring: bool,
    pub subscription_expires_at: Option<DateTimeUtc>,
    /// The subscriber cancelled the Stars subscription's renewal.
    pub renewal_canceled: bool,
    pub status: PaymentStatus,
    pub recorded_by: RecordedBy,
    /// The time this payment added to its subscription: from here…
    pub added_from: DateTimeUtc,
    /// …until here (null for lifetime).
    pub added_until: Option<DateTimeUtc>,
    /// The span this payment bought, in seconds (null for lifetime): what a renewal grants
    /// and a refund takes away, whatever the plan says later.
    pub bought_secs: Option<i64>,
    pub paid_at: DateTimeUtc,
    pub refunded_at: Option<DateTimeUtc>,
    /// When the payer's confirmation was sent (null: not yet, or it was lost).
    pub confirmed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
/// `paid` until a refund is asked for: `refunding` while Telegram is asked (committed before
/// the call, so a lost answer is finished by reconciliation), then `refunded`.
pub enum PaymentStatus {
    Paid,
    Refunding,
    Refunded,
}

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
/// How the payment reached us: Telegram's `successful_payment` update, or the reconciliation
/// of recent Star transactions (the update never arrived).
pub enum RecordedBy {
    Update,
    Reconciliation,
}
