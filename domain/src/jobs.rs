//! Background job types and enqueueing. Jobs are stored by apalis in the application's own
//! database (PostgreSQL in production, the SQLite file in the embedded default): they survive
//! restarts, need no extra infrastructure, and share backups with the data they act on.
//! The job types live here, in one crate, because apalis names queues after the type path.
//!
//! A job is pushed with [`push`] *inside the transaction that makes it necessary* (the batch
//! row that asks for generation, the status change that asks for delivery): the job exists
//! if and only if the change committed, so no crash between the two can leave a batch
//! waiting for a job that was never stored. The row written is apalis' own (`apalis.jobs` on
//! PostgreSQL, whose insert trigger wakes listening workers; `Jobs` on SQLite), in the same
//! shape as apalis' sink writes it.
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    AppCtx,
    error::{Error, Result},
};

/// Write a batch's codes in bulk (idempotent: always ends with exactly the asked count).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateCodes {
    pub batch_id: Uuid,
}

/// Send a finished batch to the requesting creator's linked Telegram chat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverBatch {
    pub batch_id: Uuid,
}

/// Send a broadcast to its pending recipients (resumable: sends only who is still pending).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendBroadcast {
    pub broadcast_id: Uuid,
}

/// Attempts before a job is given up.
pub const MAX_ATTEMPTS: usize = 10;

/// Creates apalis' own tables (idempotent).
pub async fn setup(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        apalis_postgres::PostgresStorage::<()>::setup(db.get_postgres_connection_pool()).await?;
    } else {
        apalis_sqlite::SqliteStorage::<()>::setup(db.get_sqlite_connection_pool()).await?;
    }
    Ok(())
}

/// The queue a job type lives in (`<prefix>::<type name>`).
pub fn queue_name<T>(ctx: &AppCtx) -> String {
    let ty = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("job");
    format!("{}::{ty}", ctx.config.job_queue_prefix)
}

/// Stores a job durably for the worker, on `db` — pass the transaction whose commit makes
/// the job necessary, so the two commit together (or `&ctx.db` when nothing else is written).
pub async fn push<T>(db: &impl ConnectionTrait, ctx: &AppCtx, job: T) -> Result<()>
where
    T: Serialize,
{
    let args = serde_json::to_vec(&job).map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
    let id = ulid::Ulid::generate().to_string();
    let queue = queue_name::<T>(ctx);
    let attempts = MAX_ATTEMPTS as i32;
    let stmt = match db.get_database_backend() {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
             VALUES ($1, $2, $3, 'Pending', 0, $4, NOW(), 0)",
            [id.into(), queue.into(), args.into(), attempts.into()],
        ),
        _ => Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority, metadata) \
             VALUES (?, ?, ?, 'Pending', 0, ?, strftime('%s', 'now'), 0, '{}')",
            [args.into(), id.into(), queue.into(), attempts.into()],
        ),
    };
    db.execute_raw(stmt)
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("enqueue: {e}")))?;
    Ok(())
}

/// Whether a job with exactly these arguments is still to run in its queue: pending,
/// queued, running, or failed with attempts left (apalis' own notion of a job not finished).
/// Jobs pushed by [`push`] are stored as their JSON, so equal jobs are equal bytes.
pub async fn unfinished<T>(db: &impl ConnectionTrait, ctx: &AppCtx, job: &T) -> Result<bool>
where
    T: Serialize,
{
    let args = serde_json::to_vec(job).map_err(|e| Error::internal(anyhow::anyhow!(e)))?;
    let queue = queue_name::<T>(ctx);
    let (backend, sql) = match db.get_database_backend() {
        DatabaseBackend::Postgres => (
            DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM apalis.jobs WHERE job_type = $1 AND job = $2 \
             AND (status IN ('Pending', 'Queued', 'Running') \
                  OR (status = 'Failed' AND attempts < max_attempts))",
        ),
        _ => (
            DatabaseBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM Jobs WHERE job_type = ? AND job = ? \
             AND (status IN ('Pending', 'Queued', 'Running') \
                  OR (status = 'Failed' AND attempts < max_attempts))",
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [queue.into(), args.into()],
        ))
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("looking up a job: {e}")))?;
    let n: i64 = match row {
        Some(r) => r
            .try_get("", "n")
            .map_err(|e| Error::internal(anyhow::anyhow!("looking up a job: {e}")))?,
        None => 0,
    };
    Ok(n > 0)
}
