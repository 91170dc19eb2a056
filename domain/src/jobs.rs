//! Background job types and enqueueing. Jobs are stored by apalis in the application's own
//! database (PostgreSQL in production, the SQLite file in the embedded default): they survive
//! restarts, need no extra infrastructure, and share backups with the data they act on.
//! The job types live here, in one crate, because apalis names queues after the type path.
use apalis::prelude::{TaskBuilder, TaskSink};
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

/// Attempts before a job is given up.
pub const MAX_ATTEMPTS: usize = 10;

/// Creates apalis' own tables (idempotent).
pub async fn setup(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
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

/// Stores a job durably for the worker.
pub async fn push<T>(ctx: &AppCtx, job: T) -> Result<()>
where
    T: Serialize + for<'de> Deserialize<'de> + Send + Sync + Unpin + 'static,
{
    let task = TaskBuilder::new(job).max_attempts(MAX_ATTEMPTS).build();
    if ctx.config.is_postgres() {
        let mut s =
            apalis_postgres::PostgresStorage::<T>::new(ctx.db.get_postgres_connection_pool())
                .with_config(apalis_postgres::Config::default().queue(queue_name::<T>(ctx)));
        s.push_task(task)
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("enqueue: {e}")))?;
    } else {
        let mut s = apalis_sqlite::SqliteStorage::<T>::new(ctx.db.get_sqlite_connection_pool())
            .with_config(apalis_sqlite::Config::default().queue(queue_name::<T>(ctx)));
        s.push_task(task)
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("enqueue: {e}")))?;
    }
    Ok(())
}
