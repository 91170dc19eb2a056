//! The usage outbox: overage recorded in `usage_records` reaches Stripe as Billing Meter
//! events, each record once, whose identifier is the record's id.
//!
//! How a record is sent exactly once, with any number of flushers:
//! - A flusher *claims* a due record with one conditional update (compare-and-set on
//!   `attempts`, only while `status = 'pending'` and `next_attempt_at <= now`) that also
//!   pushes `next_attempt_at` out by a lease. Of two flushers racing for a row, the database
//!   lets exactly one update match (PostgreSQL re-checks the condition after the row lock;
//!   SQLite runs writers one at a time), so only the winner sends it.
//! - A round claims only as many records as it can settle at the Stripe timeout
//!   (`STRIPE_TIMEOUT_SECS`, at most 60 s) within half the lease ([`CLAIM_LEASE_SECS`],
//!   see [`round_size`]), so a claimed record is settled before anyone may claim it again.
//!   A flusher that dies mid-send leaves the record pending; it is taken again when the
//!   lease runs out. The request also carries an idempotency key derived from the record,
//!   which makes Stripe itself drop a repeat within 24 hours.
//! - Settling (sent, retry later, failed) is again conditional on the claim's `attempts`, so
//!   a late answer never overwrites a newer claim.
//!
//! Failures: Stripe unreachable, timing out, 5xx, 429 or 409 → retried with exponential
//! backoff ([`backoff`]); any other 4xx → `failed` with `last_error`, listed for staff.
//! Offline (no `STRIPE_SECRET_KEY`), nothing is sent and records stay pending: configuring
//! Stripe later sends the backlog. Records of a tenant without a Stripe customer wait (not
//! counted as attempts) until the tenant subscribes, and a batch's record waits until its
//! codes are generated (batch `delivering` or `done`), since a batch that fails before that
//! counts nothing.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};
use serde::{Deserialize, Serialize};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use uuid::Uuid;

use entity::{code_batch, code_batch::BatchStatus, tenant, usage_record};

use super::stripe_api::{self, Failure};
use crate::{
    AppCtx,
    accounts::StaffCtx,
    audit,
    error::{Error, Result},
};

pub use entity::usage_record::UsageStatus;

/// How long a claim keeps other flushers off a record.
pub const CLAIM_LEASE_SECS: i64 = 300;
/// First retry delay; doubles with each attempt up to [`BACKOFF_MAX_SECS`].
pub const BACKOFF_BASE_SECS: i64 = 30;
pub const BACKOFF_MAX_SECS: i64 = 3600;
/// Records claimed per round at most, and rounds per flush (a flush never runs unbounded).
const BATCH: u64 = 100;
const MAX_ROUNDS: usize = 20;

/// Records claimed per round: as many as can all be settled, at the Stripe timeout, within
/// half the claim lease — so no claimed record's lease runs out while it waits its turn.
/// 60 at the default 10 s timeout, 10 at the maximum 60 s.
pub fn round_size(timeout_secs: u64) -> u64 {
    let per_lane = (CLAIM_LEASE_SECS as u64 / 2) / timeout_secs.max(1);
    (per_lane * PARALLEL_SENDS as u64).clamp(PARALLEL_SENDS as u64, BATCH)
}
/// Meter events sent at once by one flusher.
const PARALLEL_SENDS: usize = 4;
/// Stripe accepts meter events timestamped up to 35 days back; older backlog is stamped
/// at this age instead, so it still lands on the open invoice.
const MAX_EVENT_AGE_DAYS: i64 = 30;

/// Delay before the next attempt after `attempts` failed ones: 30 s, 1 min, 2 min, … 1 h.
pub fn backoff(attempts: i32) -> Duration {
    backoff_from(BACKOFF_BASE_SECS, attempts)
}

/// As [`backoff`], from a first delay of `base` seconds (`USAGE_RETRY_BASE_SECS`).
pub fn backoff_from(base: i64, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 16) - 1;
    Duration::seconds((base.max(1) << exp).min(BACKOFF_MAX_SECS))
}

/// What one flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Stripe is not configured: nothing was sent, everything stays pending.
    pub offline: bool,
    /// Records this flusher claimed (and so tried to send).
    pub claimed: usize,
    pub sent: usize,
    /// Transient failures, scheduled for a later attempt.
    pub retrying: usize,
    /// Permanently refused by Stripe, now `failed`.
    pub failed: usize,
}

/// Sends every due pending usage record once. Safe to run from any number of processes at
/// once; the worker calls it on a schedule and on demand.
pub async fn flush_usage(ctx: &AppCtx) -> Result<FlushReport> {
    let Some(cfg) = ctx.config.stripe.as_ref() else {
        return Ok(FlushReport {
            offline: true,
            ..Default::default()
        });
    };
    let client = stripe_api::client(cfg)?;
    let mut report = FlushReport::default();
    let per_round = round_size(cfg.timeout_secs);
    for _ in 0..MAX_ROUNDS {
        let claimed = claim_due(ctx, per_round).await?;
        if claimed.is_empty() {
            break;
        }
        report.claimed += claimed.len();
        crate::faults::reach(crate::faults::AFTER_USAGE_CLAIM).await?;
        let customers = customers_of(ctx, &claimed).await?;
        let outcomes: Vec<Result<Outcome>> = futures::stream::iter(claimed)
            .map(|(rec, claim)| {
                let client = &client;
                let customers = &customers;
                async move {
                    let customer = customers.get(&rec.tenant_id).cloned();
                    let result = send(ctx, client, &rec, customer).await;
                    if result.is_ok() {
                        crate::faults::reach(crate::faults::AFTER_USAGE_SENT).await?;
                    }
                    settle(ctx, &rec, claim, result).await
                }
            })
            .buffer_unordered(PARALLEL_SENDS)
            .collect()
            .await;
        for o in outcomes {
            match o? {
                Outcome::Sent => report.sent += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Lost => {}
            }
        }
    }
    if report.claimed > 0 {
        tracing::info!(
            sent = report.sent,
            retrying = report.retrying,
            failed = report.failed,
            "usage outbox flushed"
        );
    }
    Ok(report)
}

/// Claims due records: each by a conditional update that only one flusher can win.
/// Returns the records with the `attempts` value of our claim.
async fn claim_due(ctx: &AppCtx, per_round: u64) -> Result<Vec<(usage_record::Model, i32)>> {
    let now = ctx.now();
    let with_customer = Query::select()
        .column(tenant::Column::Id)
        .from(tenant::Entity)
        .and_where(tenant::Column::StripeCustomerId.is_not_null())
        .to_owned();
    // Overage is billed once its codes exist: a batch still queued or generating may yet
    // fail, and a failed batch counts nothing (its pending record is removed).
    let generated = Query::select()
        .column(code_batch::Column::Id)
        .from(code_batch::Entity)
        .and_where(code_batch::Column::Status.is_in([BatchStatus::Delivering, BatchStatus::Done]))
        .to_owned();
    let due = usage_record::Entity::find()
        .filter(usage_record::Column::Status.eq(UsageStatus::Pending))
        .filter(crate::claims::takeable(
            ctx,
            now,
            usage_record::Column::NextAttemptAt,
            usage_record::Column::ClaimedBy,
        ))
        .filter(usage_record::Column::TenantId.in_subquery(with_customer))
        .filter(
            Condition::any()
                .add(usage_record::Column::BatchId.is_null())
                .add(usage_record::Column::BatchId.in_subquery(generated)),
        )
        .order_by_asc(usage_record::Column::NextAttemptAt)
        .order_by_asc(usage_record::Column::Id)
        .limit(per_round)
        .all(&ctx.db)
        .await?;
    let lease_until = now + Duration::seconds(CLAIM_LEASE_SECS);
    let oldest = now - Duration::days(MAX_EVENT_AGE_DAYS);
    let mut claimed = Vec::with_capacity(due.len());
    for mut rec in due {
        let claim = rec.attempts + 1;
        // The event's time is fixed by the first attempt: every retry then sends the same
        // parameters under the same idempotency key.
        let event_at = rec.event_at.unwrap_or(rec.created_at.max(oldest));
        rec.event_at = Some(event_at);
        let res = usage_record::Entity::update_many()
            .col_expr(usage_record::Column::Attempts, Expr::value(claim))
            .col_expr(usage_record::Column::EventAt, Expr::value(Some(event_at)))
            .col_expr(
                usage_record::Column::NextAttemptAt,
                Expr::value(lease_until),
            )
            .col_expr(
                usage_record::Column::ClaimedBy,
                Expr::value(Some(crate::claims::me(ctx))),
            )
            .filter(usage_record::Column::Id.eq(rec.id))
            .filter(usage_record::Column::Status.eq(UsageStatus::Pending))
            .filter(usage_record::Column::Attempts.eq(rec.attempts))
            .filter(crate::claims::takeable(
                ctx,
                now,
                usage_record::Column::NextAttemptAt,
                usage_record::Column::ClaimedBy,
            ))
            .exec(&ctx.db)
            .await?;
        if res.rows_affected == 1 {
            claimed.push((rec, claim));
        }
    }
    Ok(claimed)
}

async fn customers_of(
    ctx: &AppCtx,
    recs: &[(usage_record::Model, i32)],
) -> Result<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = recs.iter().map(|(r, _)| r.tenant_id).collect();
    let rows: Vec<(Uuid, Option<String>)> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::StripeCustomerId)
        .filter(tenant::Column::Id.is_in(ids))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, c)| c.map(|c| (id, c)))
        .collect())
}

async fn send(
    ctx: &AppCtx,
    client: &stripe::Client,
    rec: &usage_record::Model,
    customer: Option<String>,
) -> std::result::Result<(), Failure> {
    let cfg = ctx
        .config
        .stripe
        .as_ref()
        .ok_or_else(|| Failure::Transient("billing went offline".into()))?;
    let customer =
        customer.ok_or_else(|| Failure::Transient("tenant has no Stripe customer".into()))?;
    let at = rec.event_at.unwrap_or(rec.created_at);
    let key = IdempotencyKey::new(format!("gatehouse-usage-{}", rec.id))
        .map_err(|e| Failure::Permanent(format!("idempotency key: {e:?}")))?;
    CreateBillingMeterEvent::new(
        cfg.meter_event_name.clone(),
        HashMap::from([
            ("stripe_customer_id".to_string(), customer),
            ("value".to_string(), rec.overage_count.to_string()),
        ]),
    )
    .identifier(rec.id.to_string())
    .timestamp(at.timestamp())
    .customize()
    .request_strategy(RequestStrategy::Idempotent(key))
    .send(client)
    .await
    .map(|_| ())
    .map_err(|e| stripe_api::classify(&e))
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Our claim was overtaken (we were too slow); the newer claim settles the record.
    Lost,
}

async fn settle(
    ctx: &AppCtx,
    rec: &usage_record::Model,
    claim: i32,
    result: std::result::Result<(), Failure>,
) -> Result<Outcome> {
    let now = ctx.now();
    let update = usage_record::Entity::update_many()
        .filter(usage_record::Column::Id.eq(rec.id))
        .filter(usage_record::Column::Status.eq(UsageStatus::Pending))
        .filter(usage_record::Column::Attempts.eq(claim))
        // Settled: nobody holds it any more (a retry waits for its time, not for a claimer).
        .col_expr(
            usage_record::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        );
    let (update, outcome) = match result {
        Ok(()) => (
            update
                .col_expr(usage_record::Column::Status, Expr::value(UsageStatus::Sent))
                .col_expr(usage_record::Column::SentAt, Expr::value(Some(now)))
                .col_expr(
                    usage_record::Column::LastError,
                    Expr::value(Option::<String>::None),
                ),
            Outcome::Sent,
        ),
        Err(Failure::Transient(msg)) => {
            tracing::warn!(record = %rec.id, attempts = claim, error = %msg, "usage record will be retried");
            (
                update
                    .col_expr(
                        usage_record::Column::NextAttemptAt,
                        Expr::value(
                            now + backoff_from(ctx.config.jobs.usage_retry_base_secs as i64, claim),
                        ),
                    )
                    .col_expr(usage_record::Column::LastError, Expr::value(Some(msg))),
                Outcome::Retrying,
            )
        }
        Err(Failure::Permanent(msg)) => {
            tracing::error!(record = %rec.id, error = %msg, "Stripe refused a usage record");
            (
                update
                    .col_expr(
                        usage_record::Column::Status,
                        Expr::value(UsageStatus::Failed),
                    )
                    .col_expr(usage_record::Column::LastError, Expr::value(Some(msg))),
                Outcome::Failed,
            )
        }
    };
    let res = update.exec(&ctx.db).await?;
    Ok(if res.rows_affected == 1 {
        outcome
    } else {
        Outcome::Lost
    })
}

/// A usage record as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageRecordOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub batch_id: Option<Uuid>,
    pub overage_count: i32,
    pub fee_minor: i64,
    pub status: UsageStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<usage_record::Model> for UsageRecordOut {
    fn from(r: usage_record::Model) -> Self {
        UsageRecordOut {
            id: r.id,
            tenant_id: r.tenant_id,
            batch_id: r.batch_id,
            overage_count: r.overage_count,
            fee_minor: r.fee_minor,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            sent_at: r.sent_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageRecordFilter {
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    pub tenant_id: Option<Uuid>,
}

/// Usage records for staff, newest first (e.g. `status=failed` with Stripe's reason).
pub async fn staff_usage_records(
    ctx: &AppCtx,
    _s: &StaffCtx,
    filter: UsageRecordFilter,
) -> Result<Vec<UsageRecordOut>> {
    let mut q = usage_record::Entity::find();
    if let Some(status) = filter.status {
        let status =
            <UsageStatus as sea_orm::ActiveEnum>::try_from_value(&status).map_err(|_| {
                Error::field(
                    "status",
                    "invalid_status",
                    "expected pending, sent or failed",
                )
            })?;
        q = q.filter(usage_record::Column::Status.eq(status));
    }
    if let Some(t) = filter.tenant_id {
        q = q.filter(usage_record::Column::TenantId.eq(t));
    }
    Ok(q.order_by_desc(usage_record::Column::CreatedAt)
        .limit(500)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Staff put a failed record back in the queue (e.g. after fixing the meter in Stripe).
pub async fn staff_requeue(ctx: &AppCtx, s: &StaffCtx, record_id: Uuid) -> Result<UsageRecordOut> {
    s.can_act()?;
    let now = ctx.now();
    let res = usage_record::Entity::update_many()
        .col_expr(
            usage_record::Column::Status,
            Expr::value(UsageStatus::Pending),
        )
        .col_expr(usage_record::Column::NextAttemptAt, Expr::value(now))
        .filter(usage_record::Column::Id.eq(record_id))
        .filter(usage_record::Column::Status.eq(UsageStatus::Failed))
        .exec(&ctx.db)
        .await?;
    let rec = usage_record::Entity::find_by_id(record_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("usage record"))?;
    if res.rows_affected != 1 {
        return Err(Error::conflict(
            "not_failed",
            "only a failed usage record can be queued again",
        ));
    }
    let actor = s.actor();
    audit::record(
        &ctx.db,
        audit::Entry {
            actor_user_id: actor.user_id,
            actor: actor.label,
            tenant_id: Some(rec.tenant_id),
            action: "usage_record.requeued",
            target_type: "usage_record",
            target_id: Some(record_id.to_string()),
            details: serde_json::json!({"last_error": rec.last_error}),
        },
        now,
    )
    .await?;
    Ok(rec.into())
}
