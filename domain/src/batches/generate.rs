//! The bulk writer: the `GenerateCodes` job writes a batch's codes until it has exactly the
//! asked count, then hands the batch to delivery (or marks it waiting for a linked chat).
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use entity::{access_code, code_batch};

use super::{BatchStatus, DeliveryState, delivery, fail, generated_count};
use crate::{
    AppCtx, codes,
    error::{Error, Result},
    events, jobs,
};

/// Rows per multi-row INSERT on SQLite (below its parameter limit).
pub const INSERT_CHUNK: usize = 2_000;

/// The `GenerateCodes` job: writes codes until the batch has exactly `quantity` of them.
/// Each chunk runs in a transaction that first locks the batch row, so a retried job, or
/// two copies of the job at once, continue from what is there and never overshoot.
/// Collisions (a code already in the project) are skipped by the unique index and replaced.
pub async fn generate(ctx: &AppCtx, batch_id: Uuid) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    match b.status {
        BatchStatus::Failed | BatchStatus::Done | BatchStatus::Delivering => return Ok(b),
        // The request that reserved it died before recording the split; it never answered
        // 202, so the batch is given up and its reservation released.
        BatchStatus::Reserving => {
            return fail(ctx, b, "the quota reservation did not complete").await;
        }
        BatchStatus::Queued | BatchStatus::Generating => {}
    }
    let pg = ctx.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    loop {
        let txn = ctx.db.begin().await?;
        // The lock is conditional: a batch that failed (or finished) meanwhile is left as it
        // is, so a late duplicate job never revives it.
        let locked = code_batch::Entity::update_many()
            .col_expr(
                code_batch::Column::Status,
                Expr::value(BatchStatus::Generating),
            )
            .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
            .filter(code_batch::Column::Id.eq(b.id))
            .filter(
                code_batch::Column::Status.is_in([BatchStatus::Queued, BatchStatus::Generating]),
            )
            .exec(&txn)
            .await?;
        if locked.rows_affected == 0 {
            txn.rollback().await?;
            return code_batch::Entity::find_by_id(batch_id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| Error::not_found("batch"));
        }
        let have = generated_count(&txn, b.id).await?;
        let want = i64::from(b.quantity) - have;
        if want <= 0 {
            txn.commit().await?;
            break;
        }
        let n = (want as usize).min(if pg { PG_INSERT_CHUNK } else { INSERT_CHUNK });
        insert_codes(&txn, &b, n, ctx.now()).await?;
        txn.commit().await?;
    }
    crate::faults::hit(crate::faults::AFTER_GENERATION)?;
    finish_generation(ctx, b.id).await
}

/// Rows per statement on PostgreSQL, where the whole chunk travels as two text parameters.
pub const PG_INSERT_CHUNK: usize = 10_000;

/// Writes `n` fresh codes for a batch; rows whose code already exists in the project are
/// skipped (the caller tops up). On PostgreSQL the chunk is one `INSERT … SELECT FROM UNNEST`
/// with the ids and codes as two array parameters, which keeps the statement tiny and the
/// insert fast; SQLite uses a multi-row INSERT.
async fn insert_codes(
    db: &impl ConnectionTrait,
    b: &code_batch::Model,
    n: usize,
    now: DateTime<Utc>,
) -> Result<()> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let mut ids = String::with_capacity(n * 37);
        let mut codes = String::with_capacity(n * 13);
        for i in 0..n {
            if i > 0 {
                ids.push(',');
                codes.push(',');
            }
            ids.push_str(&Uuid::now_v7().to_string());
            codes.push_str(&codes::new_code());
        }
        let sql = "INSERT INTO access_codes (id, tenant_id, project_id, plan_id, batch_id, code, \
                   max_activations, activation_count, expires_at, cycle_start, created_at) \
                   SELECT u.id, $3, $4, $5, $6, u.code, $7, 0, $8, $9, $10 \
                   FROM UNNEST(string_to_array($1, ',')::uuid[], string_to_array($2, ',')) AS u(id, code) \
                   ON CONFLICT (project_id, code) DO NOTHING";
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            sql,
            [
                ids.into(),
                codes.into(),
                b.tenant_id.into(),
                b.project_id.into(),
                b.plan_id.into(),
                b.id.into(),
                b.max_activations.into(),
                b.codes_expire_at.into(),
                b.cycle_start.into(),
                now.into(),
            ],
        ))
        .await?;
        return Ok(());
    }
    let rows: Vec<access_code::ActiveModel> = (0..n)
        .map(|_| access_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(b.tenant_id),
            project_id: Set(b.project_id),
            plan_id: Set(b.plan_id),
            batch_id: Set(Some(b.id)),
            code: Set(codes::new_code()),
            max_activations: Set(b.max_activations),
            activation_count: Set(0),
            expires_at: Set(b.codes_expire_at),
            expired_at: Set(None),
            cycle_start: Set(b.cycle_start),
            created_at: Set(now),
        })
        .collect();
    access_code::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([access_code::Column::ProjectId, access_code::Column::Code])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// After the codes are written: deliver when a linked owner chat and a bot exist, otherwise
/// the batch is done and waits for a linked chat. The status change and the delivery job
/// commit together; only a batch still `generating` moves on.
async fn finish_generation(ctx: &AppCtx, batch_id: Uuid) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    if b.status != BatchStatus::Generating {
        return Ok(b);
    }
    let deliverable = delivery::target(ctx, &b).await?.is_some();
    let (status, state) = if deliverable {
        (BatchStatus::Delivering, DeliveryState::Pending)
    } else {
        (BatchStatus::Done, DeliveryState::WaitingForLinkedChat)
    };
    let txn = ctx.db.begin().await?;
    let moved = code_batch::Entity::update_many()
        .col_expr(code_batch::Column::Status, Expr::value(status))
        .col_expr(code_batch::Column::Delivery, Expr::value(state))
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(code_batch::Column::Id.eq(batch_id))
        .filter(code_batch::Column::Status.eq(BatchStatus::Generating))
        .exec(&txn)
        .await?;
    if moved.rows_affected == 1 {
        events::emit(
            &txn,
            b.tenant_id,
            events::Event::code_batch_done(&b),
            ctx.now(),
        )
        .await?;
        if deliverable {
            jobs::push(&txn, ctx, jobs::DeliverBatch { batch_id }).await?;
        }
    }
    txn.commit().await?;
    code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))
}
