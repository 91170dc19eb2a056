//! Claims tied to the claimer's liveness: the one mechanism behind every piece of work that
//! one of several workers takes (a usage record on its way to Stripe, a webhook delivery, a
//! batch delivery). A claim is a conditional update that writes a lease and the claimer, this
//! process's [`me`]. Every worker process beats ([`beat`], every `JOB_HEARTBEAT_SECS`); one
//! that missed [`MISSED_HEARTBEATS`] beats is dead by the same rule the job queue uses, and
//! [`takeable`] lets anyone take its claims at once. A live worker's claim keeps its lease,
//! and a claim by a process that never beats (an api process, a test calling the domain)
//! keeps its lease too, so the lease stays the bound when nothing is known.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter,
    sea_query::{OnConflict, Query, SelectStatement},
};
use uuid::Uuid;

use entity::worker_beat;

use crate::{AppCtx, config::MISSED_HEARTBEATS, error::Result};

/// This instance's identity as a claimer (`AppCtx::instance`: one per process).
pub fn me(ctx: &AppCtx) -> Uuid {
    ctx.instance
}

/// How long after its last beat a worker counts as dead.
pub fn dead_after(ctx: &AppCtx) -> Duration {
    Duration::seconds((ctx.config.jobs.heartbeat_secs * MISSED_HEARTBEATS) as i64)
}

/// Records that this process is alive (a worker calls it every `JOB_HEARTBEAT_SECS`), and
/// forgets processes dead for a day.
pub async fn beat(ctx: &AppCtx) -> Result<()> {
    let now = ctx.now();
    worker_beat::Entity::insert(worker_beat::ActiveModel {
        id: sea_orm::Set(me(ctx)),
        started_at: sea_orm::Set(now),
        beat_at: sea_orm::Set(now),
    })
    .on_conflict(
        OnConflict::column(worker_beat::Column::Id)
            .update_column(worker_beat::Column::BeatAt)
            .to_owned(),
    )
    .exec(&ctx.db)
    .await?;
    worker_beat::Entity::delete_many()
        .filter(worker_beat::Column::BeatAt.lt(now - Duration::days(1)))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// A worker stopping cleanly: its claims (none should be left) are free at once.
pub async fn stop(ctx: &AppCtx) -> Result<()> {
    worker_beat::Entity::update_many()
        .col_expr(
            worker_beat::Column::BeatAt,
            sea_orm::sea_query::Expr::value(DateTime::<Utc>::UNIX_EPOCH),
        )
        .filter(worker_beat::Column::Id.eq(me(ctx)))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// `SELECT id FROM worker_beats WHERE beat_at < now - dead_after`: the claimers that died.
fn dead_claimers(ctx: &AppCtx, now: DateTime<Utc>) -> SelectStatement {
    Query::select()
        .column(worker_beat::Column::Id)
        .from(worker_beat::Entity)
        .and_where(worker_beat::Column::BeatAt.lt(now - dead_after(ctx)))
        .to_owned()
}

/// The rows whose claimer is a worker that died (their work can be resumed at once).
pub fn claimer_dead<C: ColumnTrait>(ctx: &AppCtx, now: DateTime<Utc>, claimed_by: C) -> Condition {
    Condition::all().add(claimed_by.in_subquery(dead_claimers(ctx, now)))
}

/// The condition under which a row claimed through `lease` (until when) and `claimed_by`
/// (by whom) may be claimed now: nobody holds it, its lease ran out, or its claimer is dead.
pub fn takeable<C: ColumnTrait>(
    ctx: &AppCtx,
    now: DateTime<Utc>,
    lease: C,
    claimed_by: C,
) -> Condition {
    Condition::any()
        .add(lease.is_null())
        .add(lease.lte(now))
        .add(claimer_dead(ctx, now, claimed_by))
}
