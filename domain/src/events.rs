//! The events outgoing webhooks carry, and the one way to emit one: [`emit`] writes a row of
//! the webhook outbox (`webhook_deliveries`) for every enabled endpoint of the tenant that
//! subscribed to the event's type, inside the caller's transaction — so an event exists
//! exactly when the change it describes committed. Sending is `webhooks::delivery`'s.
//!
//! A leaf besides `error` and the `facts` cache (which endpoints listen): the owners of
//! batches, redemptions, subscriptions and payments call it without the domain's module graph
//! gaining a cycle.
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, sea_query::Expr};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use entity::{
    access_code, code_batch, subscriber, subscription, webhook_delivery,
    webhook_delivery::DeliveryStatus, webhook_endpoint,
};

use crate::error::Result;

/// The version of the event body; bumped only for a breaking change of its shape.
pub const EVENT_VERSION: i32 = 1;
/// How long the worker keeps retrying an event for an endpoint.
pub const RETRY_WINDOW_HOURS: i64 = 24;

/// The event types an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "code_batch.done")]
    CodeBatchDone,
    #[serde(rename = "code.redeemed")]
    CodeRedeemed,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.extended")]
    SubscriptionExtended,
    #[serde(rename = "subscription.ended")]
    SubscriptionEnded,
    #[serde(rename = "subscription.revoked")]
    SubscriptionRevoked,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    #[serde(rename = "broadcast.done")]
    BroadcastDone,
    #[serde(rename = "promo.redeemed")]
    PromoRedeemed,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::CodeBatchDone,
        EventType::CodeRedeemed,
        EventType::SubscriptionCreated,
        EventType::SubscriptionExtended,
        EventType::SubscriptionEnded,
        EventType::SubscriptionRevoked,
        EventType::PaymentSucceeded,
        EventType::PaymentRefunded,
        EventType::BroadcastDone,
        EventType::PromoRedeemed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CodeBatchDone => "code_batch.done",
            EventType::CodeRedeemed => "code.redeemed",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionExtended => "subscription.extended",
            EventType::SubscriptionEnded => "subscription.ended",
            EventType::SubscriptionRevoked => "subscription.revoked",
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::BroadcastDone => "broadcast.done",
            EventType::PromoRedeemed => "promo.redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One event: its type and its `data` object.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    pub data: Value,
}

impl Event {
    pub fn new(kind: EventType, data: Value) -> Self {
        Event { kind, data }
    }

    /// A batch's codes were all written (emitted once, when generation finishes).
    pub fn code_batch_done(b: &code_batch::Model) -> Self {
        Self::new(
            EventType::CodeBatchDone,
            json!({
                "batch_id": b.id, "project_id": b.project_id, "plan_id": b.plan_id,
                "quantity": b.quantity, "free_count": b.free_count,
                "overage_count": b.overage_count, "max_activations": b.max_activations,
                "codes_expire_at": b.codes_expire_at.map(ts),
            }),
        )
    }

    /// A code was redeemed by a subscriber, into `subscription_id`.
    pub fn code_redeemed(
        c: &access_code::Model,
        s: &subscriber::Model,
        subscription_id: Uuid,
    ) -> Self {
        Self::new(
            EventType::CodeRedeemed,
            json!({
                "code_id": c.id, "code": c.code, "project_id": c.project_id,
                "plan_id": c.plan_id, "batch_id": c.batch_id,
                "activation_count": c.activation_count + 1,
                "max_activations": c.max_activations,
                "subscriber": subscriber_json(s),
                "subscription_id": subscription_id,
            }),
        )
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn subscriber_json(s: &subscriber::Model) -> Value {
    json!({
        "id": s.id, "telegram_user_id": s.telegram_user_id,
        "username": s.username, "first_name": s.first_name,
    })
}

/// A subscription event (`subscription.created|extended|ended|revoked`) with the
/// subscription as it is now, read inside the caller's transaction — only when an endpoint of
/// the tenant listens for it (most tenants have none: one round trip then, not three).
pub async fn emit_subscription(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: EventType,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let wanted = listeners(db, tenant_id, kind).await?;
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(s) = subscription::Entity::find_by_id(subscription_id)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let who = subscriber::Entity::find_by_id(s.subscriber_id)
        .one(db)
        .await?;
    let data = json!({
        "subscription_id": s.id, "project_id": s.project_id, "plan_id": s.plan_id,
        "subscriber": who.as_ref().map(subscriber_json),
        "source": s.source, "status": s.status,
        "access_code_id": s.access_code_id,
        "price_minor": s.price_minor, "currency": s.currency,
        "starts_at": ts(s.starts_at), "ends_at": s.ends_at.map(ts),
        "ended_at": s.ended_at.map(ts),
    });
    write(db, tenant_id, &wanted, Event::new(kind, data), now).await
}

/// The body sent for an event: `{"type","id","timestamp","version","data"}`.
pub fn body(kind: EventType, id: &str, at: DateTime<Utc>, data: &Value) -> String {
    json!({
        "type": kind.as_str(),
        "id": id,
        "timestamp": ts(at),
        "version": EVENT_VERSION,
        "data": data,
    })
    .to_string()
}

/// Writes the event to the outbox of every enabled endpoint of `tenant_id` that subscribed
/// to its type, inside the caller's transaction. One call per event; nothing is sent here.
pub async fn emit(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    event: Event,
    now: DateTime<Utc>,
) -> Result<()> {
    let wanted = listeners(db, tenant_id, event.kind).await?;
    write(db, tenant_id, &wanted, event, now).await
}

/// The tenant's enabled endpoints that subscribed to `kind` (from the per-process cache of
/// [`crate::facts`]: no round trip for a tenant whose endpoints were read recently).
async fn listeners(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: EventType,
) -> Result<Vec<webhook_endpoint::Model>> {
    Ok(crate::facts::webhook_endpoints(db, tenant_id)
        .await?
        .iter()
        .filter(|e| subscribes(e, kind))
        .cloned()
        .collect())
}

/// One outbox row per endpoint in `wanted` that still exists when the caller's transaction
/// writes it: each row is an `INSERT … SELECT … FROM webhook_endpoints WHERE id = …`, so an
/// endpoint another process deleted while this one still had it cached gets no row (instead
/// of a foreign-key violation that would roll back the business change the event rode with).
/// Rows are written for disabled endpoints too: the sender holds them until it is enabled
/// again (within the event's 24 h).
async fn write(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    wanted: &[webhook_endpoint::Model],
    event: Event,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::{ActiveEnum, sea_query::Query};
    if wanted.is_empty() {
        return Ok(());
    }
    let id = format!("evt_{}", Uuid::now_v7().simple());
    let payload = body(event.kind, &id, now, &event.data);
    let retry_until = now + chrono::Duration::hours(RETRY_WINDOW_HOURS);
    for e in wanted {
        let rows = Query::select()
            .expr(Expr::val(Uuid::now_v7()))
            .expr(Expr::val(tenant_id))
            .expr(Expr::col((
                webhook_endpoint::Entity,
                webhook_endpoint::Column::Id,
            )))
            .expr(Expr::val(id.clone()))
            .expr(Expr::val(event.kind.as_str()))
            .expr(Expr::val(payload.clone()))
            .expr(Expr::val(DeliveryStatus::Pending.to_value()))
            .expr(Expr::val(0i32))
            .expr(Expr::val(now))
            .expr(Expr::val(retry_until))
            .expr(Expr::val(now))
            .from(webhook_endpoint::Entity)
            .and_where(webhook_endpoint::Column::Id.eq(e.id))
            .and_where(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .to_owned();
        let insert = Query::insert()
            .into_table(webhook_delivery::Entity)
            .columns([
                webhook_delivery::Column::Id,
                webhook_delivery::Column::TenantId,
                webhook_delivery::Column::EndpointId,
                webhook_delivery::Column::EventId,
                webhook_delivery::Column::EventType,
                webhook_delivery::Column::Payload,
                webhook_delivery::Column::Status,
                webhook_delivery::Column::Attempts,
                webhook_delivery::Column::NextAttemptAt,
                webhook_delivery::Column::RetryUntil,
                webhook_delivery::Column::CreatedAt,
            ])
            .select_from(rows)
            .map_err(crate::Error::internal)?
            .to_owned();
        db.execute_raw(db.get_database_backend().build(&insert))
            .await?;
    }
    Ok(())
}

/// Whether the endpoint wants events of this type.
pub fn subscribes(e: &webhook_endpoint::Model, kind: EventType) -> bool {
    e.event_types
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(kind.as_str())))
}
