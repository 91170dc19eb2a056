//! Fair claiming of webhook deliveries: at most [`IN_FLIGHT_PER_ENDPOINT`] attempts per
//! endpoint in flight across every worker, one turn per endpoint per pass (the endpoint
//! waiting longest first), and the cooldown of an endpoint that keeps timing out.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Alias, Expr, Query},
};
use uuid::Uuid;

use entity::{
    tenant, tenant::TenantStatus, webhook_delivery, webhook_delivery::DeliveryStatus,
    webhook_endpoint,
};

use super::delivery::LEASE_SECS;
use crate::{AppCtx, error::Result};

/// Attempts in flight for one endpoint, across every worker.
pub const IN_FLIGHT_PER_ENDPOINT: u64 = 2;
/// Attempts in a row without an answer after which an endpoint is cooled down.
pub const COOLDOWN_AFTER: i32 = 3;
/// The first cooldown; it doubles with every further unanswered attempt, to the maximum.
pub const COOLDOWN_BASE_SECS: i64 = 60;
pub const COOLDOWN_MAX_SECS: i64 = 900;

/// Rows a sender may claim now: pending, takeable, of an active tenant, for an enabled
/// endpoint that is not cooling down.
pub(super) fn due(ctx: &AppCtx, now: DateTime<Utc>) -> Condition {
    let active = Query::select()
        .column(tenant::Column::Id)
        .from(tenant::Entity)
        .and_where(tenant::Column::Status.eq(TenantStatus::Active))
        .to_owned();
    let open = Query::select()
        .column(webhook_endpoint::Column::Id)
        .from(webhook_endpoint::Entity)
        .and_where(webhook_endpoint::Column::Enabled.eq(true))
        .cond_where(
            Condition::any()
                .add(webhook_endpoint::Column::CooldownUntil.is_null())
                .add(webhook_endpoint::Column::CooldownUntil.lte(now)),
        )
        .to_owned();
    Condition::all()
        .add(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .add(crate::claims::takeable(
            ctx,
            now,
            webhook_delivery::Column::NextAttemptAt,
            webhook_delivery::Column::ClaimedBy,
        ))
        .add(webhook_delivery::Column::TenantId.in_subquery(active))
        .add(webhook_delivery::Column::EndpointId.in_subquery(open))
}

/// Attempts being sent right now (claimed, lease running, claimer alive).
fn in_flight(ctx: &AppCtx, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .add(webhook_delivery::Column::ClaimedBy.is_not_null())
        .add(webhook_delivery::Column::NextAttemptAt.gt(now))
        .add(crate::claims::claimer_dead(ctx, now, webhook_delivery::Column::ClaimedBy).not())
}

/// Whether anything is due or in flight (a pass waits for the latter).
pub(super) async fn work_left(ctx: &AppCtx) -> Result<bool> {
    let now = ctx.now();
    Ok(webhook_delivery::Entity::find()
        .filter(Condition::any().add(due(ctx, now)).add(in_flight(ctx, now)))
        .count(&ctx.db)
        .await?
        > 0)
}

/// Claims up to `max` due rows: each endpoint with due work gets one turn (up to its free
/// slots), the endpoint waiting longest first.
pub(super) async fn claim_due(
    ctx: &AppCtx,
    max: usize,
) -> Result<Vec<(webhook_delivery::Model, i32)>> {
    let now = ctx.now();
    let endpoints: Vec<(Uuid, DateTime<Utc>)> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::EndpointId)
        .column_as(webhook_delivery::Column::NextAttemptAt.min(), "oldest")
        .filter(due(ctx, now))
        .group_by(webhook_delivery::Column::EndpointId)
        .order_by_asc(Expr::col(Alias::new("oldest")))
        .limit(max as u64)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut out = Vec::new();
    for (endpoint, _) in endpoints {
        if out.len() >= max {
            break;
        }
        out.extend(claim_for_endpoint(ctx, endpoint, max - out.len(), now).await?);
    }
    Ok(out)
}

/// Claims up to `room` due rows of one endpoint, within its free slots. Claimers of one
/// endpoint serialise on its row, so the count of attempts in flight holds until the commit.
async fn claim_for_endpoint(
    ctx: &AppCtx,
    endpoint: Uuid,
    room: usize,
    now: DateTime<Utc>,
) -> Result<Vec<(webhook_delivery::Model, i32)>> {
    let txn = ctx.db.begin().await?;
    let mut lock = webhook_endpoint::Entity::find_by_id(endpoint);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        lock = lock.lock_exclusive();
    }
    if lock.one(&txn).await?.is_none() {
        return Ok(vec![]);
    }
    let busy = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint))
        .filter(in_flight(ctx, now))
        .count(&txn)
        .await?;
    let free = IN_FLIGHT_PER_ENDPOINT.saturating_sub(busy).min(room as u64);
    if free == 0 {
        return Ok(vec![]);
    }
    let due_rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint))
        .filter(due(ctx, now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(free)
        .all(&txn)
        .await?;
    let lease = now + Duration::seconds(LEASE_SECS);
    let mut out = Vec::with_capacity(due_rows.len());
    for d in due_rows {
        let claim = d.attempts + 1;
        let won = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(claim))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(lease))
            .col_expr(
                webhook_delivery::Column::ClaimedBy,
                Expr::value(Some(crate::claims::me(ctx))),
            )
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(webhook_delivery::Column::Attempts.eq(d.attempts))
            .filter(crate::claims::takeable(
                ctx,
                now,
                webhook_delivery::Column::NextAttemptAt,
                webhook_delivery::Column::ClaimedBy,
            ))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if won {
            out.push((d, claim));
        }
    }
    txn.commit().await?;
    Ok(out)
}

/// Counts an attempt that got no answer within the timeout; the [`COOLDOWN_AFTER`]th in a row
/// (and every one after) cools the endpoint down. Any answer, even an error status, ends
/// the count: the receiver is there.
pub(super) async fn cool_down_or_not(
    ctx: &AppCtx,
    endpoint_id: Uuid,
    unanswered: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    if !unanswered {
        webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::TimeoutsInARow, Expr::value(0))
            .col_expr(
                webhook_endpoint::Column::CooldownUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
            .filter(webhook_endpoint::Column::TimeoutsInARow.gt(0))
            .exec(&ctx.db)
            .await?;
        return Ok(());
    }
    // Counted in the database (two attempts of one endpoint settle at once).
    webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::TimeoutsInARow,
            sea_orm::sea_query::ExprTrait::add(
                Expr::col(webhook_endpoint::Column::TimeoutsInARow),
                1,
            ),
        )
        .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
        .exec(&ctx.db)
        .await?;
    let Some(e) = webhook_endpoint::Entity::find_by_id(endpoint_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    let n = e.timeouts_in_a_row;
    if n >= COOLDOWN_AFTER {
        let secs = (COOLDOWN_BASE_SECS << (n - COOLDOWN_AFTER).min(10)).min(COOLDOWN_MAX_SECS);
        let until = now + Duration::seconds(secs);
        webhook_endpoint::Entity::update_many()
            .col_expr(
                webhook_endpoint::Column::CooldownUntil,
                Expr::value(Some(until)),
            )
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
            .exec(&ctx.db)
            .await?;
        tracing::warn!(endpoint = %endpoint_id, secs, "webhook endpoint keeps timing out: cooled down");
    }
    Ok(())
}
