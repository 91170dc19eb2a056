//! Code batches, the one owner of a batch and its states: preview (what a batch would
//! cost), create (validate, reserve quota, record the split and overage, queue generation),
//! [`generate`] (the bulk writer the `GenerateCodes` job runs), [`delivery`] (to the
//! creator's linked Telegram chat) and give up (fail, releasing the quota). Statuses are
//! [`BatchStatus`] and [`DeliveryState`]; nothing else writes them.
pub mod delivery;
pub mod generate;
mod recovery;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use delivery::{MESSAGE_LIMIT, deliver, give_up_delivery, resume_waiting};
pub use entity::code_batch::{BatchStatus, DeliveryState};
use entity::{access_code, code_batch, plan, project, usage_record, usage_record::UsageStatus};
pub use generate::generate;
pub use recovery::*;

use crate::{
    AppCtx, ErrorKind, billing,
    codes::{Expiry, ExpiryIn},
    error::{Error, FieldErrors, Result},
    jobs, plans, projects,
    quota::{self, Split},
    scoped::{secure_find_in, secure_get},
    tenancy::{Action, TenantCtx},
};

/// Codes per batch, at most.
pub const MAX_BATCH: i64 = 1_000;
/// Activations per code, at most.
pub const MAX_ACTIVATIONS: i64 = 1_000_000;

/// The plan is switched off (HTTP 409; the bot's `/newcode` says so).
pub const PLAN_INACTIVE: &str = "plan_inactive";
/// The project does not issue access codes (HTTP 409).
pub const ACCESS_CODES_DISABLED: &str = "access_codes_disabled";
/// The project has no connected bot to deliver and redeem codes through (HTTP 409).
pub const BOT_NOT_CONNECTED: &str = "bot_not_connected";

/// Codes are delivered and redeemed through the project's bot: none are made without one.
async fn ensure_bot(ctx: &AppCtx, project_id: Uuid) -> Result<()> {
    let connected = entity::bot::Entity::find()
        .filter(entity::bot::Column::ProjectId.eq(project_id))
        .count(&ctx.db)
        .await?
        > 0;
    if connected {
        Ok(())
    } else {
        Err(Error::conflict(
            BOT_NOT_CONNECTED,
            "connect the project's Telegram bot first: codes are delivered and redeemed through it",
        ))
    }
}

// --- preview and create ---------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PreviewIn {
    pub plan_id: Uuid,
    pub quantity: i64,
}

/// What a batch would cost, shown before the creator confirms.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewOut {
    pub quantity: i64,
    /// Free codes left this cycle before this batch.
    pub free_left: i64,
    pub free: i64,
    pub overage: i64,
    /// Overage fee for this batch, minor units of `fee_currency`.
    pub fee_minor: i64,
    pub fee_currency: String,
    pub allowed: bool,
    /// Why not, when not allowed (a stable code, e.g. `quota_exceeded`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BatchIn {
    pub plan_id: Uuid,
    pub quantity: i64,
    #[serde(default)]
    pub expiry: ExpiryIn,
    pub max_activations: Option<i64>,
    /// The creator confirms the preview (and any overage fee).
    #[serde(default)]
    pub consent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BatchOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub plan_id: Uuid,
    pub quantity: i32,
    pub expiry: String,
    pub expiry_days: Option<i32>,
    pub codes_expire_at: Option<DateTime<Utc>>,
    pub max_activations: i32,
    /// queued → generating → delivering → done | failed
    pub status: BatchStatus,
    pub free_count: i32,
    pub overage_count: i32,
    pub fee_minor: i64,
    /// Codes written so far.
    pub generated: i64,
    /// `pending`, `waiting_for_linked_chat` (linked owner chat needed; delivered once one is
    /// linked), `paused_tenant_suspended`, or `sent`.
    pub delivery: DeliveryState,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn batch_out(b: code_batch::Model, generated: i64, fee_per_code: i64) -> BatchOut {
    BatchOut {
        id: b.id,
        project_id: b.project_id,
        plan_id: b.plan_id,
        quantity: b.quantity,
        expiry: b.expiry_kind,
        expiry_days: b.expiry_days,
        codes_expire_at: b.codes_expire_at,
        max_activations: b.max_activations,
        status: b.status,
        free_count: b.free_count,
        overage_count: b.overage_count,
        fee_minor: i64::from(b.overage_count) * fee_per_code,
        generated,
        delivery: b.delivery,
        error: b.error,
        created_at: b.created_at,
    }
}

fn quantity(errs: &mut FieldErrors, q: i64) {
    if !(1..=MAX_BATCH).contains(&q) {
        errs.add(
            "quantity",
            "quantity_out_of_range",
            format!("generate between 1 and {MAX_BATCH} codes per batch"),
        );
    }
}

async fn usable_plan(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    plan_id: Uuid,
) -> Result<(project::Model, plan::Model)> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let pl = plans::find(&ctx.db, t, p.id, plan_id).await.map_err(|e| {
        if e.kind == ErrorKind::NotFound {
            e.with_field("plan_id")
        } else {
            e
        }
    })?;
    if !p.access_codes_enabled {
        return Err(Error::conflict(
            ACCESS_CODES_DISABLED,
            "access codes are turned off for this project",
        ));
    }
    if !pl.active {
        return Err(Error::conflict(PLAN_INACTIVE, "the plan is not active").with_field("plan_id"));
    }
    Ok((p, pl))
}

/// Free codes left, this batch's split and fee — the same figures the batch will record.
pub async fn preview(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: PreviewIn,
) -> Result<PreviewOut> {
    let mut errs = FieldErrors::default();
    quantity(&mut errs, input.quantity);
    errs.finish()?;
    usable_plan(ctx, t, project_id, input.plan_id).await?;
    let payment = billing::ensure_can_issue(ctx, t).await.err();
    let facts = quota::cycle_facts(&ctx.db, t.tenant_id, ctx.now()).await?;
    let used = quota::used(&ctx.db, &facts).await?;
    let free_left = (facts.limit - used).max(0);
    let fee = ctx.config.overage_fee_minor;
    if let Some(e) = payment {
        return Ok(PreviewOut {
            quantity: input.quantity,
            free_left,
            free: 0,
            overage: 0,
            fee_minor: 0,
            fee_currency: "USD".into(),
            allowed: false,
            reason: Some(e.code.to_string()),
        });
    }
    Ok(
        match quota::split(
            used,
            input.quantity,
            facts.limit,
            facts.plan.allows_overage(),
        ) {
            Ok(s) => PreviewOut {
                quantity: input.quantity,
                free_left,
                free: s.free,
                overage: s.overage,
                fee_minor: s.overage * fee,
                fee_currency: "USD".into(),
                allowed: true,
                reason: None,
            },
            Err(left) => PreviewOut {
                quantity: input.quantity,
                free_left: left,
                free: 0,
                overage: 0,
                fee_minor: 0,
                fee_currency: "USD".into(),
                allowed: false,
                reason: Some("quota_exceeded".into()),
            },
        },
    )
}

pub(super) async fn generated_count(db: &impl ConnectionTrait, batch_id: Uuid) -> Result<i64> {
    Ok(access_code::Entity::find()
        .filter(access_code::Column::BatchId.eq(batch_id))
        .count(db)
        .await? as i64)
}

/// A batch of the tenant's project.
async fn find(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<code_batch::Model> {
    secure_get(
        db,
        secure_find_in::<code_batch::Entity>(t, project_id),
        batch_id,
    )
    .await
}

pub async fn get(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<BatchOut> {
    let b = find(&ctx.db, t, project_id, batch_id).await?;
    let n = generated_count(&ctx.db, b.id).await?;
    Ok(batch_out(b, n, ctx.config.overage_fee_minor))
}

/// Accepts a batch: validates, reserves quota (free/overage split), records overage as a
/// usage record, and queues `GenerateCodes`. The same idempotency key returns the same batch.
/// Answers `(batch, created)`.
pub async fn create(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: BatchIn,
    idempotency_key: Option<String>,
) -> Result<(BatchOut, bool)> {
    t.may(Action::GenerateCodes)?;
    let now = ctx.now();
    let mut errs = FieldErrors::default();
    quantity(&mut errs, input.quantity);
    let expiry = errs.check(Expiry::parse(&input.expiry, now));
    let max_act = input.max_activations.unwrap_or(1);
    if !(1..=MAX_ACTIVATIONS).contains(&max_act) {
        errs.add(
            "max_activations",
            "invalid_max_activations",
            format!("must be between 1 and {MAX_ACTIVATIONS}"),
        );
    }
    if !input.consent {
        errs.add(
            "consent",
            "consent_required",
            "confirm the preview (and any overage fee) to generate codes",
        );
    }
    let key = match idempotency_key.map(|k| k.trim().to_string()) {
        Some(k) if k.is_empty() || k.len() > 255 => {
            errs.add(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "must be 1–255 characters",
            );
            None
        }
        other => other,
    };
    errs.finish()?;
    let expiry = expiry.unwrap_or(Expiry::Never);

    if let Some(k) = &key
        && let Some(existing) = by_idempotency_key(&ctx.db, t.tenant_id, k).await?
    {
        return replay(ctx, existing, project_id, &input);
    }
    let (p, pl) = usable_plan(ctx, t, project_id, input.plan_id).await?;
    ensure_bot(ctx, p.id).await?;
    // Past the grace period of a failed payment no codes are issued, on every surface
    // (API, dashboard, `/newcode`): they all come here.
    billing::ensure_can_issue(ctx, t).await?;

    let facts = quota::cycle_facts(&ctx.db, t.tenant_id, now).await?;
    let (kind, days) = expiry.kind();
    let batch_id = Uuid::now_v7();
    let row = code_batch::ActiveModel {
        id: Set(batch_id),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        plan_id: Set(pl.id),
        requested_by: Set(t.actor.user_id),
        quantity: Set(input.quantity as i32),
        expiry_kind: Set(kind.into()),
        expiry_days: Set(days),
        codes_expire_at: Set(expiry.expires_at(now)),
        max_activations: Set(max_act as i32),
        status: Set(BatchStatus::Reserving),
        free_count: Set(0),
        overage_count: Set(0),
        cycle_start: Set(facts.tenant.cycle_start),
        idempotency_key: Set(key.clone()),
        delivery: Set(DeliveryState::Pending),
        error: Set(None),
        delivered_count: Set(0),
        delivery_lease_until: Set(None),
        claimed_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };

    // The row exists (reserving) before the reservation, so a rebuilt Redis key counts it.
    if let Err(e) = row.insert(&ctx.db).await {
        return conflict_or(ctx, t, e, key.as_deref(), project_id, &input).await;
    }
    let inserted = match reserve_and_record(ctx, &facts, batch_id, input.quantity).await {
        Ok(b) => b,
        Err(e) => {
            // Never answered 202: the batch is forgotten and whatever it held given back.
            usage_record::Entity::delete_many()
                .filter(usage_record::Column::BatchId.eq(batch_id))
                .exec(&ctx.db)
                .await?;
            code_batch::Entity::delete_by_id(batch_id)
                .exec(&ctx.db)
                .await?;
            quota::release(ctx, facts.tenant.id, facts.tenant.cycle_start, batch_id).await?;
            return Err(e);
        }
    };
    Ok((batch_out(inserted, 0, ctx.config.overage_fee_minor), true))
}

/// Reserves the batch's quota (Redis or the database, as [`quota::reserve`] chooses), then
/// records its split and overage and queues `GenerateCodes` in one transaction — only while
/// the Redis key that counted the split is still live ([`quota::holds`]); if the key was lost
/// and rebuilt in between, the reservation is asked again (the rebuild placed this batch
/// itself) and that placement is recorded. A process that dies anywhere in here leaves the
/// batch `reserving` (nothing queued) or `queued` (its job stored); [`recover_stuck`] fails
/// the first kind and releases what it held.
async fn reserve_and_record(
    ctx: &AppCtx,
    facts: &quota::CycleFacts,
    batch_id: Uuid,
    quantity: i64,
) -> Result<code_batch::Model> {
    for _ in 0..100 {
        let r = quota::reserve(ctx, facts, batch_id, quantity).await?;
        let txn = ctx.db.begin().await?;
        if !quota::holds(&txn, ctx, facts, &r).await? {
            txn.rollback().await?;
            continue;
        }
        let b = record_split(&txn, ctx, batch_id, r.split).await?;
        crate::faults::hit(crate::faults::AFTER_RESERVATION)?;
        jobs::push(&txn, ctx, jobs::GenerateCodes { batch_id }).await?;
        txn.commit().await?;
        return Ok(b);
    }
    Err(Error::unavailable(
        "quota_busy",
        anyhow::anyhow!("the quota key kept being rebuilt"),
    ))
}

async fn record_split(
    db: &impl ConnectionTrait,
    ctx: &AppCtx,
    batch_id: Uuid,
    split: Split,
) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    let mut am = b.into_active_model();
    am.free_count = Set(split.free as i32);
    am.overage_count = Set(split.overage as i32);
    am.status = Set(BatchStatus::Queued);
    am.updated_at = Set(ctx.now());
    let b = am.update(db).await?;
    if split.overage > 0 {
        let id = Uuid::now_v7();
        usage_record::ActiveModel {
            id: Set(id),
            tenant_id: Set(b.tenant_id),
            batch_id: Set(Some(b.id)),
            overage_count: Set(split.overage as i32),
            fee_minor: Set(split.overage * ctx.config.overage_fee_minor),
            identifier: Set(id.to_string()),
            status: Set(UsageStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(ctx.now()),
            last_error: Set(None),
            sent_at: Set(None),
            event_at: Set(None),
            claimed_by: Set(None),
            created_at: Set(ctx.now()),
        }
        .insert(db)
        .await?;
    }
    Ok(b)
}

async fn by_idempotency_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<code_batch::Model>> {
    Ok(code_batch::Entity::find()
        .filter(code_batch::Column::TenantId.eq(tenant_id))
        .filter(code_batch::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

fn replay(
    ctx: &AppCtx,
    existing: code_batch::Model,
    project_id: Uuid,
    input: &BatchIn,
) -> Result<(BatchOut, bool)> {
    if existing.project_id != project_id
        || existing.plan_id != input.plan_id
        || i64::from(existing.quantity) != input.quantity
    {
        return Err(Error::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different batch",
        )
        .with_field("Idempotency-Key"));
    }
    let fee = ctx.config.overage_fee_minor;
    // The generated count is filled in by the caller that reads the batch again if needed.
    Ok((batch_out(existing, -1, fee), false))
}

/// A concurrent request with the same key won the insert: answer with its batch.
async fn conflict_or(
    ctx: &AppCtx,
    t: &TenantCtx,
    e: sea_orm::DbErr,
    key: Option<&str>,
    project_id: Uuid,
    input: &BatchIn,
) -> Result<(BatchOut, bool)> {
    if let (Some(sea_orm::SqlErr::UniqueConstraintViolation(_)), Some(k)) = (e.sql_err(), key)
        && let Some(existing) = by_idempotency_key(&ctx.db, t.tenant_id, k).await?
    {
        return replay(ctx, existing, project_id, input);
    }
    Err(e.into())
}

/// Fills in the generated count of a replayed batch.
pub async fn with_progress(ctx: &AppCtx, mut b: BatchOut) -> Result<BatchOut> {
    if b.generated < 0 {
        b.generated = generated_count(&ctx.db, b.id).await?;
    }
    Ok(b)
}
