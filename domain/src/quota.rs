//! Per-tenant, per-cycle code quota. The database holds the truth: codes issued in a cycle
//! are the batches' free + overage counts (failed batches count nothing), minus the units
//! given back when an unredeemed code of that cycle is deleted; the limit is the plan's free
//! quota plus staff grants for the cycle. Redis (when configured) holds the live counter and
//! reserves atomically; in single-node mode the same rule runs in a database transaction.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{code_batch, quota_free, quota_grant, tenant};

use crate::{
    AppCtx,
    billing::CreatorPlan,
    error::{Error, Result},
};

/// Batch statuses whose codes count against the quota (everything but `failed`).
pub const FAILED: &str = "failed";

/// The cycle a tenant is in at `now`. Cycles Gatehouse keeps (Free, offline billing) roll
/// forward here, lazily, whenever anything asks; Stripe-managed cycles follow webhooks and
/// are only rolled here if a webhook is late, so quota never gets stuck in a past cycle.
pub async fn current_cycle(
    db: &impl ConnectionTrait,
    t: tenant::Model,
    now: DateTime<Utc>,
) -> Result<tenant::Model> {
    if now < t.cycle_end {
        return Ok(t);
    }
    let plan = CreatorPlan::parse(&t.billing_plan).unwrap_or(CreatorPlan::Free);
    let (mut start, mut end) = (t.cycle_start, t.cycle_end);
    while now >= end {
        start = end;
        end = plan.cycle_end(start);
    }
    let mut am = t.into_active_model();
    am.cycle_start = Set(start);
    am.cycle_end = Set(end);
    Ok(am.update(db).await?)
}

/// Where a tenant stands in its current cycle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaUsage {
    pub plan: CreatorPlan,
    pub cycle_start: DateTime<Utc>,
    pub cycle_end: DateTime<Utc>,
    /// Codes counted this cycle (issued minus given back).
    pub used: i64,
    /// Free codes this cycle: the plan's quota plus staff grants.
    pub limit: i64,
    /// The staff grants included in `limit`.
    pub bonus: i64,
    /// Free codes still available this cycle.
    pub free_left: i64,
    /// Codes beyond the free quota this cycle (paid plans only).
    pub overage_codes: i64,
    /// Overage fee this cycle, minor units of USD.
    pub overage_fee_minor: i64,
}

/// Sum of staff grants for a cycle.
pub async fn bonus(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
) -> Result<i64> {
    let rows: Vec<i32> = quota_grant::Entity::find()
        .select_only()
        .column(quota_grant::Column::Codes)
        .filter(quota_grant::Column::TenantId.eq(tenant_id))
        .filter(quota_grant::Column::CycleStart.eq(cycle_start))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(i64::from).sum())
}

/// Issued (free + overage of non-failed batches) and overage counts of a cycle.
pub async fn issued(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
) -> Result<(i64, i64)> {
    let rows: Vec<(i32, i32)> = code_batch::Entity::find()
        .select_only()
        .column(code_batch::Column::FreeCount)
        .column(code_batch::Column::OverageCount)
        .filter(code_batch::Column::TenantId.eq(tenant_id))
        .filter(code_batch::Column::CycleStart.eq(cycle_start))
        .filter(code_batch::Column::Status.ne(FAILED))
        .into_tuple()
        .all(db)
        .await?;
    let free: i64 = rows.iter().map(|r| i64::from(r.0)).sum();
    let over: i64 = rows.iter().map(|r| i64::from(r.1)).sum();
    Ok((free + over, over))
}

/// Units given back in a cycle by deleting unredeemed codes generated in it.
pub async fn freed(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
) -> Result<i64> {
    let rows: Vec<i32> = quota_free::Entity::find()
        .select_only()
        .column(quota_free::Column::Codes)
        .filter(quota_free::Column::TenantId.eq(tenant_id))
        .filter(quota_free::Column::CycleStart.eq(cycle_start))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(i64::from).sum())
}

/// The tenant's usage this cycle, from the database (the truth).
pub async fn usage(ctx: &AppCtx, tenant_id: Uuid) -> Result<QuotaUsage> {
    let t = tenant::Entity::find_by_id(tenant_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))?;
    let t = current_cycle(&ctx.db, t, ctx.now()).await?;
    let plan = CreatorPlan::parse(&t.billing_plan).unwrap_or(CreatorPlan::Free);
    let bonus = bonus(&ctx.db, t.id, t.cycle_start).await?;
    let (issued, overage) = issued(&ctx.db, t.id, t.cycle_start).await?;
    let used = (issued - freed(&ctx.db, t.id, t.cycle_start).await?).max(0);
    let limit = plan.free_quota() + bonus;
    Ok(QuotaUsage {
        plan,
        cycle_start: t.cycle_start,
        cycle_end: t.cycle_end,
        used,
        limit,
        bonus,
        free_left: (limit - used).max(0),
        overage_codes: overage,
        overage_fee_minor: overage * ctx.config.overage_fee_minor,
    })
}
