//! Stuck broadcasts: a `sending` broadcast that nobody is sending (its job gave up, say
//! while Telegram was down for all its attempts, or was lost) gets its job queued again.
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, Query},
};

use entity::{
    broadcast::{self, BroadcastStatus},
    broadcast_recipient::{self, RecipientState},
    tenant::{self, TenantStatus},
};

use crate::{AppCtx, claims, error::Result, jobs};

/// Broadcasts looked at per sweep.
const RECOVERY_BATCH: u64 = 200;

/// Queues the job again for each `sending` broadcast of an active workspace that was not
/// touched for `BATCH_STUCK_AFTER_SECS`, whose job is not in the queue (pending, running, or
/// failed with attempts left) and none of whose recipients is held by a live claim. A
/// broadcast with nobody pending is queued too: its job finishes it. Each resume is claimed
/// by a conditional update of `updated_at`, so two workers sweeping at once queue one job,
/// and the next resume of the same broadcast waits another stuck time. The job sends only
/// who is still pending, so a resume beside a slow job sends nobody twice. Returns how many
/// were queued.
pub async fn recover_stuck(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let deadline = now - chrono::Duration::seconds(ctx.config.jobs.stuck_after_secs as i64);
    let candidates = broadcast::Entity::find()
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Sending))
        .filter(broadcast::Column::UpdatedAt.lt(deadline))
        .filter(
            broadcast::Column::TenantId.in_subquery(
                Query::select()
                    .column(tenant::Column::Id)
                    .from(tenant::Entity)
                    .and_where(tenant::Column::Status.eq(TenantStatus::Active))
                    .to_owned(),
            ),
        )
        .order_by_asc(broadcast::Column::UpdatedAt)
        .limit(RECOVERY_BATCH)
        .all(&ctx.db)
        .await?;
    let mut queued = 0;
    for b in candidates {
        let job = jobs::SendBroadcast { broadcast_id: b.id };
        if jobs::unfinished(&ctx.db, ctx, &job).await? {
            continue;
        }
        // A recipient claimed by a live worker (a job outside the queue, or one whose row
        // is being written): that worker is sending.
        let held = broadcast_recipient::Entity::find()
            .select_only()
            .column(broadcast_recipient::Column::SubscriberId)
            .filter(broadcast_recipient::Column::BroadcastId.eq(b.id))
            .filter(broadcast_recipient::Column::State.eq(RecipientState::Pending))
            .filter(broadcast_recipient::Column::ClaimedBy.is_not_null())
            .filter(
                claims::takeable(
                    ctx,
                    now,
                    broadcast_recipient::Column::LeaseUntil,
                    broadcast_recipient::Column::ClaimedBy,
                )
                .not(),
            )
            .into_tuple::<uuid::Uuid>()
            .one(&ctx.db)
            .await?;
        if held.is_some() {
            continue;
        }
        let txn = ctx.db.begin().await?;
        let claimed = broadcast::Entity::update_many()
            .col_expr(broadcast::Column::UpdatedAt, Expr::value(now))
            .filter(broadcast::Column::Id.eq(b.id))
            .filter(broadcast::Column::Status.eq(BroadcastStatus::Sending))
            .filter(broadcast::Column::UpdatedAt.eq(b.updated_at))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            jobs::push(&txn, ctx, job).await?;
            queued += 1;
            tracing::warn!(broadcast = %b.id, "stuck broadcast resumed");
        }
        txn.commit().await?;
    }
    Ok(queued)
}
