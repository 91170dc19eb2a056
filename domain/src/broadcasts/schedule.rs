//! Scheduled broadcasts: `send_at` (RFC 3339, in the future, at most [`MAX_SCHEDULE_DAYS`]
//! ahead) on create or send makes a broadcast `scheduled`; the worker's sweep
//! ([`start_due`], every `JOB_SWEEP_SECS`) starts each one that is due exactly as sending by
//! hand does (recipients written from the segment at that moment, the job pushed, in one
//! transaction). Starting is a conditional update scheduled → sending, so two workers
//! sweeping at once start it once; a scheduled broadcast may be canceled or sent at once.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
};

use entity::broadcast::{self, BroadcastStatus};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
};

/// The furthest ahead a broadcast may be scheduled.
pub const MAX_SCHEDULE_DAYS: i64 = 90;
/// Due broadcasts started per sweep.
const DUE_BATCH: u64 = 100;

/// Parses `send_at`: RFC 3339, after `now`, at most [`MAX_SCHEDULE_DAYS`] days ahead; a
/// fault is 422 on the field `send_at`.
pub(super) fn parse_send_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            Error::field(
                "send_at",
                "invalid_time",
                "must be a time in RFC 3339, e.g. 2026-12-24T18:00:00Z",
            )
        })?
        .with_timezone(&Utc);
    if at <= now {
        return Err(Error::field(
            "send_at",
            "in_the_past",
            "must be in the future",
        ));
    }
    if at > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
        return Err(Error::field(
            "send_at",
            "too_far",
            format!("must be at most {MAX_SCHEDULE_DAYS} days ahead"),
        ));
    }
    Ok(at)
}

/// Starts every scheduled broadcast whose time has come; returns how many it started.
pub async fn start_due(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let due = broadcast::Entity::find()
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Scheduled))
        .filter(broadcast::Column::SendAt.lte(now))
        .order_by_asc(broadcast::Column::SendAt)
        .limit(DUE_BATCH)
        .all(&ctx.db)
        .await?;
    let mut started = 0;
    for b in due {
        let txn = ctx.db.begin().await?;
        let by = audit::Entry {
            actor_user_id: b.created_by,
            actor: "schedule".into(),
            tenant_id: Some(b.tenant_id),
            action: "broadcast.sent",
            target_type: "broadcast",
            target_id: Some(b.id.to_string()),
            details: serde_json::json!({}),
        };
        if super::manage::start(ctx, &txn, &b, BroadcastStatus::Scheduled, by, now).await? {
            started += 1;
        }
        txn.commit().await?;
    }
    Ok(started)
}

/// Sets the status and time of a broadcast about to wait for `at`.
pub(super) fn scheduled_cols(
    q: sea_orm::UpdateMany<broadcast::Entity>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<broadcast::Entity> {
    q.col_expr(
        broadcast::Column::Status,
        Expr::value(BroadcastStatus::Scheduled),
    )
    .col_expr(broadcast::Column::SendAt, Expr::value(Some(at)))
    .col_expr(broadcast::Column::UpdatedAt, Expr::value(now))
}
