//! Outgoing webhooks of a workspace: its endpoints (URL, the event types wanted, a signing
//! secret shown once, enabled or not), the delivery log and manual retry. Events are written
//! to the outbox by `events::emit` in the transaction of each change; [`delivery`] sends them.
//! Managing endpoints is for owners and admins.
pub mod delivery;
pub mod fairness;
pub mod guard;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{webhook_attempt, webhook_delivery, webhook_endpoint};

pub use delivery::{DeliverReport, deliver_due, dispatch_due};
pub use entity::webhook_delivery::DeliveryStatus;

use crate::{
    AppCtx, audit,
    error::{Error, FieldErrors, Result},
    events::{EventType, RETRY_WINDOW_HOURS},
    scoped::{secure_find, secure_get},
    telegram::crypto,
    tenancy::{Action, TenantCtx},
};

/// Endpoints a workspace may have.
pub const MAX_ENDPOINTS: u64 = 20;
pub const DESCRIPTION_MAX: usize = 200;
/// Log entries listed at most per request.
pub const LOG_LIMIT: u64 = 100;

/// An endpoint as the API and dashboard show it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointOut {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types delivered to it, e.g. `code.redeemed`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Set when a delivery ran out of retries (24 h); cleared by the next success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Set while the endpoint is cooled down after attempts in a row got no answer: it gets
    /// no new attempt until then (its events wait, within their 24 h).
    pub cooldown_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for EndpointOut {
    fn from(e: webhook_endpoint::Model) -> Self {
        EndpointOut {
            event_types: e
                .event_types
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            id: e.id,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            failing_since: e.failing_since,
            cooldown_until: e.cooldown_until,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A new endpoint: its signing secret is in this answer and nowhere else.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointCreatedOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// `whsec_<base64>`: verify `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// What creating or changing an endpoint asks for.
#[derive(Debug, Clone, Default)]
pub struct EndpointIn {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryOut {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for DeliveryOut {
    fn from(d: webhook_delivery::Model) -> Self {
        DeliveryOut {
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// One attempt of the delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptOut {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub attempt: i32,
    /// The HTTP status answered; null when no answer came (timeout, refused, DNS).
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// The first 1 KiB of the answer's body.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<webhook_attempt::Model> for AttemptOut {
    fn from(a: webhook_attempt::Model) -> Self {
        AttemptOut {
            id: a.id,
            delivery_id: a.delivery_id,
            attempt: a.attempt,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_excerpt: a.response_excerpt,
            error: a.error,
            at: a.at,
        }
    }
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn parse_event_types(f: &mut FieldErrors, raw: &[String]) -> Vec<String> {
    if raw.is_empty() {
        f.add("event_types", "required", "choose at least one event type");
        return vec![];
    }
    let mut out: Vec<String> = vec![];
    for t in raw {
        match EventType::parse(t.trim()) {
            Some(k) if !out.iter().any(|o| o == k.as_str()) => out.push(k.as_str().to_string()),
            Some(_) => {}
            None => f.add(
                "event_types",
                "unknown_event_type",
                format!("unknown event type {t:?}"),
            ),
        }
    }
    out
}

fn description(f: &mut FieldErrors, raw: &str) -> String {
    let d = raw.trim();
    if d.chars().count() > DESCRIPTION_MAX {
        f.add(
            "description",
            "too_long",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        );
    }
    d.to_string()
}

async fn checked_url(ctx: &AppCtx, f: &mut FieldErrors, raw: &str) -> String {
    let allow = ctx.config.webhook_allow_private;
    match guard::check_url(raw, allow) {
        Ok(url) => {
            f.check(guard::check_resolves(&url, allow).await);
            url.to_string()
        }
        Err(e) => {
            f.check::<()>(Err(e));
            String::new()
        }
    }
}

/// Adds an endpoint; the answer carries its secret, once.
pub async fn create(ctx: &AppCtx, t: &TenantCtx, input: EndpointIn) -> Result<EndpointCreatedOut> {
    t.may(Action::ManageWebhooks)?;
    let mut f = FieldErrors::default();
    let url = match input.url.as_deref() {
        Some(u) => checked_url(ctx, &mut f, u).await,
        None => {
            f.add("url", "required", "must not be empty");
            String::new()
        }
    };
    let types = parse_event_types(&mut f, input.event_types.as_deref().unwrap_or_default());
    let desc = description(&mut f, input.description.as_deref().unwrap_or(""));
    f.finish()?;
    let count = secure_find::<webhook_endpoint::Entity>(t)
        .count(&ctx.db)
        .await?;
    if count >= MAX_ENDPOINTS {
        return Err(Error::conflict(
            "too_many_endpoints",
            format!("a workspace has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let now = ctx.now();
    let id = Uuid::now_v7();
    let secret = new_secret();
    let e = webhook_endpoint::ActiveModel {
        id: Set(id),
        tenant_id: Set(t.tenant_id),
        url: Set(url),
        description: Set(desc),
        event_types: Set(serde_json::json!(types)),
        secret_encrypted: Set(crypto::encrypt(&ctx.keys.at_rest, id, &secret)?),
        enabled: Set(input.enabled.unwrap_or(true)),
        failing_since: Set(None),
        timeouts_in_a_row: Set(0),
        cooldown_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&ctx.db)
    .await?;
    // Every process's cached list of this tenant's endpoints (`facts`) is dropped.
    crate::telegram::registry::changed(ctx, t.tenant_id).await;
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "webhook_endpoint.created", "webhook_endpoint", id)
            .details(serde_json::json!({"url": e.url})),
        now,
    )
    .await?;
    Ok(EndpointCreatedOut {
        endpoint: e.into(),
        secret,
    })
}

pub async fn list(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<EndpointOut>> {
    Ok(secure_find::<webhook_endpoint::Entity>(t)
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

async fn find(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<webhook_endpoint::Model> {
    secure_get(&ctx.db, secure_find::<webhook_endpoint::Entity>(t), id).await
}

pub async fn get(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<EndpointOut> {
    Ok(find(ctx, t, id).await?.into())
}

/// Changes an endpoint's URL, event types, description or enabled flag. Disabling holds its
/// pending deliveries; enabling sends them again.
pub async fn update(
    ctx: &AppCtx,
    t: &TenantCtx,
    id: Uuid,
    input: EndpointIn,
) -> Result<EndpointOut> {
    t.may(Action::ManageWebhooks)?;
    let e = find(ctx, t, id).await?;
    let mut f = FieldErrors::default();
    let url = match input.url.as_deref() {
        Some(u) => Some(checked_url(ctx, &mut f, u).await),
        None => None,
    };
    let types = input
        .event_types
        .as_deref()
        .map(|ts| parse_event_types(&mut f, ts));
    let desc = input.description.as_deref().map(|d| description(&mut f, d));
    f.finish()?;
    let mut am = e.into_active_model();
    if let Some(u) = url {
        am.url = Set(u);
    }
    if let Some(ts) = types {
        am.event_types = Set(serde_json::json!(ts));
    }
    if let Some(d) = desc {
        am.description = Set(d);
    }
    if let Some(en) = input.enabled {
        am.enabled = Set(en);
    }
    // A changed endpoint is a fresh start: a cooldown from timeouts is lifted.
    am.timeouts_in_a_row = Set(0);
    am.cooldown_until = Set(None);
    am.updated_at = Set(ctx.now());
    let out = am.update(&ctx.db).await?;
    crate::telegram::registry::changed(ctx, t.tenant_id).await;
    Ok(out.into())
}

/// Deletes an endpoint with its outbox and log (audited).
pub async fn delete(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<()> {
    t.may(Action::ManageWebhooks)?;
    let e = find(ctx, t, id).await?;
    webhook_endpoint::Entity::delete_by_id(e.id)
        .exec(&ctx.db)
        .await?;
    crate::telegram::registry::changed(ctx, t.tenant_id).await;
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "webhook_endpoint.deleted", "webhook_endpoint", e.id)
            .details(serde_json::json!({"url": e.url})),
        ctx.now(),
    )
    .await?;
    Ok(())
}

/// The endpoint's latest deliveries, newest first.
pub async fn deliveries(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<Vec<DeliveryOut>> {
    let e = find(ctx, t, id).await?;
    Ok(secure_find::<webhook_delivery::Entity>(t)
        .filter(webhook_delivery::Column::EndpointId.eq(e.id))
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(LOG_LIMIT)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The endpoint's delivery log: its latest attempts, newest first.
pub async fn attempts(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<Vec<AttemptOut>> {
    let e = find(ctx, t, id).await?;
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::TenantId.eq(t.tenant_id))
        .filter(webhook_attempt::Column::EndpointId.eq(e.id))
        .order_by_desc(webhook_attempt::Column::Id)
        .limit(LOG_LIMIT)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Manual retries a workspace may ask for per minute (429 `too_many_retries` beyond).
pub const RETRIES_PER_MINUTE: u32 = 20;

/// Sends a delivery again now, with a fresh 24 h of automatic retries (also a delivered
/// one: receivers de-duplicate by `webhook-id`). Limited to [`RETRIES_PER_MINUTE`] per
/// workspace. A delivery being sent at this moment is not sent a second time beside it: it
/// keeps its place (its fresh 24 h count from now). A cooled-down endpoint's deliveries wait
/// for the cooldown (changing the endpoint lifts it).
pub async fn retry(
    ctx: &AppCtx,
    t: &TenantCtx,
    endpoint_id: Uuid,
    delivery_id: Uuid,
) -> Result<DeliveryOut> {
    t.may(Action::ManageWebhooks)?;
    let e = find(ctx, t, endpoint_id).await?;
    let d = secure_get(
        &ctx.db,
        secure_find::<webhook_delivery::Entity>(t)
            .filter(webhook_delivery::Column::EndpointId.eq(e.id)),
        delivery_id,
    )
    .await?;
    let now = ctx.now();
    let key = format!("webhook-retry:{}", t.tenant_id);
    if let Err(retry) =
        crate::limits::take(&ctx.db, &key, RETRIES_PER_MINUTE, Duration::minutes(1), now).await?
    {
        return Err(Error::rate_limited(
            "too_many_retries",
            "too many manual retries; try again shortly",
            retry,
        ));
    }
    let in_flight =
        d.status == DeliveryStatus::Pending && d.claimed_by.is_some() && d.next_attempt_at > now;
    let mut am = d.into_active_model();
    am.status = Set(DeliveryStatus::Pending);
    if !in_flight {
        am.next_attempt_at = Set(now);
    }
    am.retry_until = Set(now + Duration::hours(RETRY_WINDOW_HOURS));
    Ok(am.update(&ctx.db).await?.into())
}
