//! Giving up on a batch (failing it, releasing its quota) and recovering stuck ones.
use super::*;
use sea_orm::Condition;

/// Marks a batch failed and gives its quota back — unless it finished meanwhile (the status
/// change is conditional, so a late give-up never overwrites a done batch).
pub async fn fail(ctx: &AppCtx, b: code_batch::Model, why: &str) -> Result<code_batch::Model> {
    let (tenant_id, cycle, id) = (b.tenant_id, b.cycle_start, b.id);
    let res = code_batch::Entity::update_many()
        .col_expr(code_batch::Column::Status, Expr::value(BatchStatus::Failed))
        .col_expr(
            code_batch::Column::Error,
            Expr::value(Some(why.to_string())),
        )
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(code_batch::Column::Id.eq(id))
        .filter(code_batch::Column::Status.is_not_in([BatchStatus::Done, BatchStatus::Failed]))
        .exec(&ctx.db)
        .await?;
    let current = code_batch::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    if res.rows_affected == 0 {
        return Ok(current);
    }
    // Codes already written for a failed batch are removed: it counts nothing.
    access_code::Entity::delete_many()
        .filter(access_code::Column::BatchId.eq(id))
        .filter(access_code::Column::ActivationCount.eq(0))
        .exec(&ctx.db)
        .await?;
    usage_record::Entity::delete_many()
        .filter(usage_record::Column::BatchId.eq(id))
        .filter(usage_record::Column::Status.eq(UsageStatus::Pending))
        .exec(&ctx.db)
        .await?;
    quota::release(ctx, tenant_id, cycle, id).await?;
    Ok(current)
}

/// Gives up on a batch after its last attempt (marks it failed, releases its quota).
pub async fn give_up(ctx: &AppCtx, batch_id: Uuid, why: &str) -> Result<()> {
    if let Some(b) = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        && !b.status.finished()
    {
        fail(ctx, b, why).await?;
    }
    Ok(())
}

// --- recovery -------------------------------------------------------------------------------

/// What one [`recover_stuck`] sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Batches whose reservation never completed: failed, their quota released.
    pub failed: usize,
    /// Batches whose job was queued again.
    pub resumed: usize,
}

/// Rows looked at per sweep and state.
const RECOVERY_BATCH: u64 = 200;

/// Finds batches that made no progress for `BATCH_STUCK_AFTER_SECS` and puts them right:
/// a batch still `reserving` (the request that reserved it died, or its cleanup failed) is
/// failed and what it held released, so billing and preview agree again; a batch `queued`,
/// `generating` or `delivering` (with no deliverer holding it) gets its job queued again —
/// at once when its deliverer died holding it (`claims`), not after the stuck time.
/// Jobs are idempotent (generation tops up to the asked count under a row lock, delivery
/// sends only what was not sent, under a lease), so a resumed batch whose first job was
/// merely slow is not harmed. Each resume is claimed by a conditional update of
/// `updated_at`, so two workers sweeping at once queue one job.
pub async fn recover_stuck(ctx: &AppCtx) -> Result<Recovered> {
    let now = ctx.now();
    let deadline = now - chrono::Duration::seconds(ctx.config.jobs.stuck_after_secs as i64);
    let mut out = Recovered::default();
    let reserving = code_batch::Entity::find()
        .filter(code_batch::Column::Status.eq(BatchStatus::Reserving))
        .filter(code_batch::Column::UpdatedAt.lt(deadline))
        .order_by_asc(code_batch::Column::UpdatedAt)
        .limit(RECOVERY_BATCH)
        .all(&ctx.db)
        .await?;
    for b in reserving {
        tracing::warn!(batch = %b.id, "batch stuck reserving: failing it and releasing its quota");
        let b = fail(ctx, b, "the quota reservation did not complete").await?;
        if b.status == BatchStatus::Failed {
            out.failed += 1;
        }
    }
    let stuck = code_batch::Entity::find()
        .filter(code_batch::Column::Status.is_in([
            BatchStatus::Queued,
            BatchStatus::Generating,
            BatchStatus::Delivering,
        ]))
        // No progress for a while, or its deliverer died holding it (resumed at once).
        .filter(
            Condition::any()
                .add(code_batch::Column::UpdatedAt.lt(deadline))
                .add(crate::claims::claimer_dead(
                    ctx,
                    now,
                    code_batch::Column::ClaimedBy,
                )),
        )
        .filter(crate::claims::takeable(
            ctx,
            now,
            code_batch::Column::DeliveryLeaseUntil,
            code_batch::Column::ClaimedBy,
        ))
        .order_by_asc(code_batch::Column::UpdatedAt)
        .limit(RECOVERY_BATCH)
        .all(&ctx.db)
        .await?;
    for b in stuck {
        let txn = ctx.db.begin().await?;
        let claimed = code_batch::Entity::update_many()
            .col_expr(code_batch::Column::UpdatedAt, Expr::value(now))
            .filter(code_batch::Column::Id.eq(b.id))
            .filter(code_batch::Column::Status.eq(b.status))
            .filter(code_batch::Column::UpdatedAt.eq(b.updated_at))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            if b.status == BatchStatus::Delivering {
                jobs::push(&txn, ctx, jobs::DeliverBatch { batch_id: b.id }).await?;
            } else {
                jobs::push(&txn, ctx, jobs::GenerateCodes { batch_id: b.id }).await?;
            }
            out.resumed += 1;
            tracing::warn!(batch = %b.id, status = %b.status, "stuck batch resumed");
        }
        txn.commit().await?;
    }
    Ok(out)
}
