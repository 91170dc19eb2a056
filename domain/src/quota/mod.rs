//! Per-tenant, per-cycle code quota. The database holds the truth: codes issued in a cycle
//! are the batches' free + overage counts (failed batches count nothing), minus the units
//! given back when an unredeemed code of that cycle is deleted; the limit is the plan's free
//! quota plus staff grants for the cycle. Redis (when configured) holds the live counter and
//! reserves atomically; in single-node mode the same rule runs in a database transaction.
mod scripts;

use chrono::{DateTime, Utc};
pub use scripts::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{code_batch, code_batch::BatchStatus, quota_free, quota_grant, tenant};

use crate::{
    AppCtx,
    error::{Error, Result},
    tiers::CreatorPlan,
};

/// The code of a batch refused because the Free plan's quota is used up (HTTP 402).
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";

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
        .filter(code_batch::Column::Status.ne(BatchStatus::Failed))
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

/// The tenant's usage this cycle, from the database (the truth): what billing and staff show,
/// from the same [`used`] the preview reads.
pub async fn usage(ctx: &AppCtx, tenant_id: Uuid) -> Result<QuotaUsage> {
    let facts = cycle_facts(&ctx.db, tenant_id, ctx.now()).await?;
    let t = &facts.tenant;
    let bonus = facts.limit - facts.plan.free_quota();
    let (_, overage) = issued(&ctx.db, t.id, t.cycle_start).await?;
    let used = used(&ctx.db, &facts).await?;
    Ok(QuotaUsage {
        plan: facts.plan,
        cycle_start: t.cycle_start,
        cycle_end: t.cycle_end,
        used,
        limit: facts.limit,
        bonus,
        free_left: (facts.limit - used).max(0),
        overage_codes: overage,
        overage_fee_minor: overage * ctx.config.overage_fee_minor,
    })
}

/// Codes counted in the tenant's current cycle: issued by batches that did not fail, minus
/// units given back. The one figure the preview, billing and staff read.
pub async fn used(db: &impl ConnectionTrait, facts: &CycleFacts) -> Result<i64> {
    used_in_db(db, facts.tenant.id, facts.tenant.cycle_start).await
}

/// A batch's reservation: its split and, with Redis, the epoch of the live key that holds it.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub split: Split,
    epoch: Option<String>,
}

/// Reserves a batch's quantity against the cycle and answers its free/overage split, or
/// `quota_exceeded`. The batch row is already in the database (status `reserving`). With
/// Redis the Lua script reserves atomically (see [`reserve_redis`]); without it the same
/// rule runs in one database transaction that locks the tenant row and writes the split onto
/// the batch. Reserving again for the same batch answers the same split while the live key
/// lives.
pub async fn reserve(
    ctx: &AppCtx,
    facts: &CycleFacts,
    batch_id: Uuid,
    quantity: i64,
) -> Result<Reservation> {
    match &ctx.redis {
        Some(redis) => reserve_redis(ctx, redis, facts, batch_id, quantity).await,
        None => Ok(Reservation {
            split: reserve_in_db(ctx, facts, batch_id, quantity).await?,
            epoch: None,
        }),
    }
}

/// Called first in the transaction that records a reservation's split: locks the tenant
/// row, then answers whether the live key is still the one the reservation was made in.
/// A rebuild reads the database's truth under the same lock, so either it read before this
/// lock (and then the key is a placeholder or a newer epoch: `false`, reserve again and take
/// the rebuild's placement) or it reads after this transaction commits (and then it sees the
/// split recorded as committed). A split is therefore only ever recorded while the key that
/// counted it is live, and every key is built from splits that were. On `false` the caller
/// rolls back and reserves again. The database path's split is already the truth.
pub async fn holds(
    txn: &impl ConnectionTrait,
    ctx: &AppCtx,
    facts: &CycleFacts,
    r: &Reservation,
) -> Result<bool> {
    let (Some(redis), Some(epoch)) = (&ctx.redis, &r.epoch) else {
        return Ok(true);
    };
    lock_tenant(txn, facts.tenant.id).await?;
    let mut conn = redis.clone();
    let live: String = redis::Script::new(EPOCH_LUA)
        .key(redis_key(facts.tenant.id, facts.tenant.cycle_start))
        .invoke_async(&mut conn)
        .await?;
    Ok(!live.is_empty() && &live == epoch)
}

async fn reserve_in_db(
    ctx: &AppCtx,
    facts: &CycleFacts,
    batch_id: Uuid,
    quantity: i64,
) -> Result<Split> {
    use sea_orm::TransactionTrait;
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, facts.tenant.id).await?;
    let used = used_in_db(&txn, facts.tenant.id, facts.tenant.cycle_start).await?;
    let split =
        split(used, quantity, facts.limit, facts.plan.allows_overage()).map_err(quota_exceeded)?;
    code_batch::Entity::update_many()
        .col_expr(
            code_batch::Column::FreeCount,
            sea_orm::sea_query::Expr::value(split.free as i32),
        )
        .col_expr(
            code_batch::Column::OverageCount,
            sea_orm::sea_query::Expr::value(split.overage as i32),
        )
        .filter(code_batch::Column::Id.eq(batch_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(split)
}

// --- reservations ---------------------------------------------------------------------------

/// How a batch splits against the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Split {
    pub free: i64,
    pub overage: i64,
}

/// The one rule, used by the database path and mirrored by the Lua script: take free units
/// first; past them, paid plans go into overage, the Free plan is refused whole.
pub fn split(
    used: i64,
    n: i64,
    limit: i64,
    allow_overage: bool,
) -> std::result::Result<Split, i64> {
    let left = (limit - used).max(0);
    if n <= left {
        Ok(Split {
            free: n,
            overage: 0,
        })
    } else if allow_overage {
        Ok(Split {
            free: left,
            overage: n - left,
        })
    } else {
        Err(left)
    }
}

pub fn quota_exceeded(left: i64) -> Error {
    let mut e = Error::new(
        crate::ErrorKind::PaymentRequired,
        QUOTA_EXCEEDED,
        format!("the Free plan allows no more codes this cycle: {left} left; upgrade for more"),
    )
    .with_details(serde_json::json!({ "left": left }));
    e = e.with_field("quantity");
    e
}

fn parse_split(s: &str) -> Option<Split> {
    let (f, o) = s.split_once(':')?;
    Some(Split {
        free: f.parse().ok()?,
        overage: o.parse().ok()?,
    })
}

/// The facts a reservation needs about the tenant's current cycle.
pub struct CycleFacts {
    pub tenant: tenant::Model,
    pub plan: CreatorPlan,
    pub limit: i64,
}

pub async fn cycle_facts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<CycleFacts> {
    let t = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))?;
    let t = current_cycle(db, t, now).await?;
    let plan = CreatorPlan::parse(&t.billing_plan).unwrap_or(CreatorPlan::Free);
    let limit = plan.free_quota() + bonus(db, t.id, t.cycle_start).await?;
    Ok(CycleFacts {
        tenant: t,
        plan,
        limit,
    })
}

/// Reserves `batch.quantity` through Redis. The batch row is already in the database with
/// status `reserving`, so a rebuild after a lost key counts it. Calling it again for the same
/// batch answers the split the key holds for it (this is how a batch confirms its
/// reservation survived after recording it).
async fn reserve_redis(
    ctx: &AppCtx,
    redis: &redis::aio::ConnectionManager,
    facts: &CycleFacts,
    batch_id: Uuid,
    quantity: i64,
) -> Result<Reservation> {
    let key = redis_key(facts.tenant.id, facts.tenant.cycle_start);
    let ttl = (facts.tenant.cycle_end - ctx.now()).num_seconds().max(0) + 40 * 24 * 3600;
    let reserve = redis::Script::new(RESERVE_LUA);
    let rebuild = redis::Script::new(REBUILD_LUA);
    let mut conn = redis.clone();
    for _ in 0..2_000 {
        let token = Uuid::new_v4().to_string();
        let answer: Vec<String> = reserve
            .key(&key)
            .arg(batch_id.to_string())
            .arg(quantity)
            .arg(facts.limit)
            .arg(i64::from(facts.plan.allows_overage()))
            .arg(ttl)
            .arg(&token)
            .invoke_async(&mut conn)
            .await?;
        match answer.first().map(String::as_str) {
            Some("ok") => {
                let split = answer.get(1).and_then(|s| parse_split(s)).ok_or_else(|| {
                    Error::internal(anyhow::anyhow!("bad quota script answer {answer:?}"))
                })?;
                return Ok(Reservation {
                    split,
                    epoch: Some(answer.get(2).cloned().unwrap_or_default()),
                });
            }
            Some("exceeded") => {
                return Err(quota_exceeded(
                    answer.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
                ));
            }
            Some("busy") => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            Some("rebuild") => {
                let (freed_units, batches) = truth_for_rebuild(ctx, facts).await?;
                let mut inv = rebuild.prepare_invoke();
                inv.key(&key)
                    .arg(&token)
                    .arg(ttl)
                    .arg(facts.limit)
                    .arg(i64::from(facts.plan.allows_overage()))
                    .arg(freed_units);
                for (id, kind, a, b) in batches {
                    inv.arg(id.to_string()).arg(kind).arg(a).arg(b);
                }
                let _: String = inv.invoke_async(&mut conn).await?;
            }
            _ => {
                return Err(Error::internal(anyhow::anyhow!(
                    "bad quota script answer {answer:?}"
                )));
            }
        }
    }
    Err(Error::unavailable(
        "quota_busy",
        anyhow::anyhow!("quota key stayed busy"),
    ))
}

/// What the database says a rebuilt key must hold: units given back this cycle, and every
/// non-failed batch oldest first — committed ones with their split, reserving ones with
/// their quantity (to be placed in order).
/// Read under the tenant row's lock, the one [`holds`] takes before a split is recorded.
async fn truth_for_rebuild(
    ctx: &AppCtx,
    facts: &CycleFacts,
) -> Result<(i64, Vec<(Uuid, &'static str, i64, i64)>)> {
    use sea_orm::TransactionTrait;
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, facts.tenant.id).await?;
    let db = &txn;
    let t = &facts.tenant;
    let mut rows: Vec<(Uuid, BatchStatus, i32, i32, i32)> = code_batch::Entity::find()
        .select_only()
        .column(code_batch::Column::Id)
        .column(code_batch::Column::Status)
        .column(code_batch::Column::Quantity)
        .column(code_batch::Column::FreeCount)
        .column(code_batch::Column::OverageCount)
        .filter(code_batch::Column::TenantId.eq(t.id))
        .filter(code_batch::Column::CycleStart.eq(t.cycle_start))
        .filter(code_batch::Column::Status.ne(BatchStatus::Failed))
        .into_tuple()
        .all(db)
        .await?;
    rows.sort_by_key(|r| r.0);
    let batches = rows
        .into_iter()
        .map(|(id, status, q, f, o)| match status {
            BatchStatus::Reserving => (id, "p", i64::from(q), 0),
            BatchStatus::Queued
            | BatchStatus::Generating
            | BatchStatus::Delivering
            | BatchStatus::Done
            | BatchStatus::Failed => (id, "c", i64::from(f), i64::from(o)),
        })
        .collect();
    let freed = freed(db, t.id, t.cycle_start).await?;
    txn.commit().await?;
    Ok((freed, batches))
}

/// Gives a failed (or forgotten) batch's units back to the live counter; the database's
/// truth already leaves out failed batches.
pub async fn release(
    ctx: &AppCtx,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
    batch_id: Uuid,
) -> Result<()> {
    if let Some(r) = &ctx.redis {
        let mut conn = r.clone();
        let _: i64 = redis::Script::new(RELEASE_LUA)
            .key(redis_key(tenant_id, cycle_start))
            .arg(batch_id.to_string())
            .invoke_async(&mut conn)
            .await?;
    }
    Ok(())
}

/// Records units given back in a cycle (deleted unredeemed codes generated in it). Only the
/// current cycle's quota changes; past cycles are history.
pub async fn free_units(
    ctx: &AppCtx,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
    codes: i64,
    reason: &str,
) -> Result<()> {
    if codes <= 0 {
        return Ok(());
    }
    let facts = cycle_facts(&ctx.db, tenant_id, ctx.now()).await?;
    if facts.tenant.cycle_start != cycle_start {
        return Ok(());
    }
    // Redis first, database second: a rebuild in between sees the units still used, which
    // errs on the side of never over-issuing.
    if let Some(r) = &ctx.redis {
        let mut conn = r.clone();
        let _: i64 = redis::Script::new(FREE_LUA)
            .key(redis_key(tenant_id, cycle_start))
            .arg(codes)
            .invoke_async(&mut conn)
            .await?;
    }
    quota_free::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        cycle_start: Set(cycle_start),
        codes: Set(codes as i32),
        reason: Set(reason.to_string()),
        created_at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await?;
    Ok(())
}

/// In single-node mode the same rule runs in the database: the tenant row is locked first
/// (a no-op update, which also takes SQLite's write lock up front), then usage is read and
/// the batch written, all in the caller's transaction.
async fn lock_tenant(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<()> {
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::Status,
            sea_orm::sea_query::Expr::col(tenant::Column::Status),
        )
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Usage of the cycle as the database knows it, for the single-node path (inside the lock).
async fn used_in_db(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    cycle_start: DateTime<Utc>,
) -> Result<i64> {
    let (issued, _) = issued(db, tenant_id, cycle_start).await?;
    Ok((issued - freed(db, tenant_id, cycle_start).await?).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_takes_free_first_then_overage_or_refuses() {
        assert_eq!(
            split(0, 3, 5, false),
            Ok(Split {
                free: 3,
                overage: 0
            })
        );
        assert_eq!(split(4, 3, 5, false), Err(1));
        assert_eq!(
            split(4, 3, 5, true),
            Ok(Split {
                free: 1,
                overage: 2
            })
        );
        assert_eq!(
            split(9, 3, 5, true),
            Ok(Split {
                free: 0,
                overage: 3
            })
        );
    }
}
