//! Access codes: the code alphabet and normalisation, preview and batch generation (with the
//! quota), the bulk writer the `GenerateCodes` job runs, listing/search/export, delete,
//! rollback and the expiry sweep.
use chrono::{DateTime, Duration, Months, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{access_code, activation, bot, code_batch, plan, project, subscription, usage_record};

use crate::{
    AppCtx, audit,
    error::{Error, FieldErrors, Result},
    jobs, plans, projects,
    quota::{self, Split},
    tenants::TenantCtx,
};

/// Crockford base32: no I, L, O, U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 12;
pub const MAX_BATCH: i64 = 1_000;
pub const MAX_ACTIVATIONS: i64 = 1_000_000;
pub const MAX_CUSTOM_DAYS: i64 = 36_500;
/// Rows per multi-row INSERT (below SQLite's and PostgreSQL's parameter limits).
pub const INSERT_CHUNK: usize = 2_000;

/// A fresh code from the thread's CSPRNG (ChaCha, seeded from the OS).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

/// Normalises what a person typed: case, spaces and dashes ignored, O→0, I/L→1.
/// `None` when it cannot be a code.
pub fn normalize(input: &str) -> Option<String> {
    let s = normalize_partial(input);
    (s.len() == CODE_LEN).then_some(s)
}

/// Normalises a (possibly partial) code for search; drops characters outside the alphabet.
pub fn normalize_partial(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .filter(|c| ALPHABET.contains(&(*c as u8)))
        .collect()
}

// --- expiry ---------------------------------------------------------------------------------

/// Expiry of the codes themselves (not of the subscriptions they grant). Exactly one of
/// `preset` (`none`, `1d`, `1w`, `1m`, `1y`), `days` or `date`; absent means no expiry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiryIn {
    pub preset: Option<String>,
    pub days: Option<i64>,
    pub date: Option<DateTime<Utc>>,
}

/// A parsed expiry rule, as stored on the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    Day,
    Week,
    Month,
    Year,
    Days(i64),
    Date(DateTime<Utc>),
}

impl Expiry {
    pub fn parse(e: &ExpiryIn, now: DateTime<Utc>) -> Result<Self> {
        let bad = |m: &str| Error::field("expiry", "invalid_expiry", m.to_string());
        let given = usize::from(e.preset.is_some())
            + usize::from(e.days.is_some())
            + usize::from(e.date.is_some());
        if given > 1 {
            return Err(bad("give one of preset, days or date"));
        }
        if let Some(p) = &e.preset {
            return match p.as_str() {
                "none" => Ok(Expiry::Never),
                "1d" => Ok(Expiry::Day),
                "1w" => Ok(Expiry::Week),
                "1m" => Ok(Expiry::Month),
                "1y" => Ok(Expiry::Year),
                _ => Err(bad("preset must be one of none, 1d, 1w, 1m, 1y")),
            };
        }
        if let Some(d) = e.days {
            return if (1..=MAX_CUSTOM_DAYS).contains(&d) {
                Ok(Expiry::Days(d))
            } else {
                Err(bad("days must be between 1 and 36500"))
            };
        }
        if let Some(date) = e.date {
            return if date > now {
                Ok(Expiry::Date(date))
            } else {
                Err(Error::field(
                    "expiry",
                    "expiry_in_past",
                    "the expiry date must be in the future",
                ))
            };
        }
        Ok(Expiry::Never)
    }

    /// When codes made at `at` stop being redeemable.
    pub fn expires_at(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            Expiry::Day => Some(at + Duration::days(1)),
            Expiry::Week => Some(at + Duration::weeks(1)),
            Expiry::Month => Some(at + Months::new(1)),
            Expiry::Year => Some(at + Months::new(12)),
            Expiry::Days(d) => Some(at + Duration::days(d)),
            Expiry::Date(d) => Some(d),
        }
    }

    fn kind(self) -> (&'static str, Option<i32>) {
        match self {
            Expiry::Never => ("none", None),
            Expiry::Day => ("1d", None),
            Expiry::Week => ("1w", None),
            Expiry::Month => ("1m", None),
            Expiry::Year => ("1y", None),
            Expiry::Days(d) => ("days", Some(d as i32)),
            Expiry::Date(_) => ("date", None),
        }
    }
}

// --- preview and batches --------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PreviewIn {
    pub plan_id: Uuid,
    pub quantity: i64,
}

/// What a batch would cost, shown before the creator confirms.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviewOut {
    pub quantity: i64,
    /// Free codes left this cycle before this batch.
    pub free_left: i64,
    pub free: i64,
    pub overage: i64,
    /// Overage fee for this batch, minor units of `fee_currency`.
    pub fee_minor: i64,
    pub fee_currency: String,
    pub allowed: bool,
    /// Why not, when not allowed (a stable code, e.g. `quota_exceeded`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BatchIn {
    pub plan_id: Uuid,
    pub quantity: i64,
    #[serde(default)]
    pub expiry: ExpiryIn,
    pub max_activations: Option<i64>,
    /// The creator confirms the preview (and any overage fee).
    #[serde(default)]
    pub consent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BatchOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub plan_id: Uuid,
    pub quantity: i32,
    pub expiry: String,
    pub expiry_days: Option<i32>,
    pub codes_expire_at: Option<DateTime<Utc>>,
    pub max_activations: i32,
    /// queued → generating → delivering → done | failed
    pub status: String,
    pub free_count: i32,
    pub overage_count: i32,
    pub fee_minor: i64,
    /// Codes written so far.
    pub generated: i64,
    /// `pending`, `waiting_for_linked_chat` (linked owner chat needed; delivered once one is
    /// linked), `sent`, or `failed`.
    pub delivery: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn batch_out(b: code_batch::Model, generated: i64, fee_per_code: i64) -> BatchOut {
    BatchOut {
        id: b.id,
        project_id: b.project_id,
        plan_id: b.plan_id,
        quantity: b.quantity,
        expiry: b.expiry_kind,
        expiry_days: b.expiry_days,
        codes_expire_at: b.codes_expire_at,
        max_activations: b.max_activations,
        status: b.status,
        free_count: b.free_count,
        overage_count: b.overage_count,
        fee_minor: i64::from(b.overage_count) * fee_per_code,
        generated,
        delivery: b.delivery,
        error: b.error,
        created_at: b.created_at,
    }
}

pub const QUEUED: &str = "queued";
pub const GENERATING: &str = "generating";
pub const DELIVERING: &str = "delivering";
pub const DONE: &str = "done";

fn quantity(errs: &mut FieldErrors, q: i64) {
    if !(1..=MAX_BATCH).contains(&q) {
        errs.add(
            "quantity",
            "quantity_out_of_range",
            format!("generate between 1 and {MAX_BATCH} codes per batch"),
        );
    }
}

async fn usable_plan(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    plan_id: Uuid,
) -> Result<(project::Model, plan::Model)> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let pl = plans::find(&ctx.db, t, p.id, plan_id).await.map_err(|e| {
        if e.code == "not_found" {
            e.with_field("plan_id")
        } else {
            e
        }
    })?;
    if !p.access_codes_enabled {
        return Err(Error::conflict(
            "access_codes_disabled",
            "access codes are turned off for this project",
        ));
    }
    if !pl.active {
        return Err(
            Error::conflict("plan_inactive", "the plan is not active").with_field("plan_id")
        );
    }
    Ok((p, pl))
}

/// Free codes left, this batch's split and fee — the same figures the batch will record.
pub async fn preview(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: PreviewIn,
) -> Result<PreviewOut> {
    let mut errs = FieldErrors::default();
    quantity(&mut errs, input.quantity);
    errs.finish()?;
    usable_plan(ctx, t, project_id, input.plan_id).await?;
    let payment = crate::billing::ensure_can_issue(ctx, t).await.err();
    let facts = quota::cycle_facts(&ctx.db, t.tenant_id, ctx.now()).await?;
    let used = match &ctx.redis {
        Some(r) => {
            let mut conn = r.clone();
            let v: Option<i64> = redis::cmd("HGET")
                .arg(quota::redis_key(t.tenant_id, facts.tenant.cycle_start))
                .arg("used")
                .query_async(&mut conn)
                .await?;
            match v {
                Some(v) => v,
                None => quota::used_in_db(&ctx.db, t.tenant_id, facts.tenant.cycle_start).await?,
            }
        }
        None => quota::used_in_db(&ctx.db, t.tenant_id, facts.tenant.cycle_start).await?,
    };
    let free_left = (facts.limit - used).max(0);
    let fee = ctx.config.overage_fee_minor;
    if let Some(e) = payment {
        return Ok(PreviewOut {
            quantity: input.quantity,
            free_left,
            free: 0,
            overage: 0,
            fee_minor: 0,
            fee_currency: "USD".into(),
            allowed: false,
            reason: Some(e.code.to_string()),
        });
    }
    Ok(
        match quota::split(
            used,
            input.quantity,
            facts.limit,
            facts.plan.allows_overage(),
        ) {
            Ok(s) => PreviewOut {
                quantity: input.quantity,
                free_left,
                free: s.free,
                overage: s.overage,
                fee_minor: s.overage * fee,
                fee_currency: "USD".into(),
                allowed: true,
                reason: None,
            },
            Err(left) => PreviewOut {
                quantity: input.quantity,
                free_left: left,
                free: 0,
                overage: 0,
                fee_minor: 0,
                fee_currency: "USD".into(),
                allowed: false,
                reason: Some("quota_exceeded".into()),
            },
        },
    )
}

async fn generated_count(db: &impl ConnectionTrait, batch_id: Uuid) -> Result<i64> {
    Ok(access_code::Entity::find()
        .filter(access_code::Column::BatchId.eq(batch_id))
        .count(db)
        .await? as i64)
}

/// A batch of the tenant's project.
pub async fn find_batch(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<code_batch::Model> {
    code_batch::Entity::find_by_id(batch_id)
        .filter(code_batch::Column::TenantId.eq(t.tenant_id))
        .filter(code_batch::Column::ProjectId.eq(project_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))
}

pub async fn get_batch(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<BatchOut> {
    let b = find_batch(&ctx.db, t, project_id, batch_id).await?;
    let n = generated_count(&ctx.db, b.id).await?;
    Ok(batch_out(b, n, ctx.config.overage_fee_minor))
}

/// Accepts a batch: validates, reserves quota (free/overage split), records overage as a
/// usage record, and queues `GenerateCodes`. The same idempotency key returns the same batch.
/// Answers `(batch, created)`.
pub async fn create_batch(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: BatchIn,
    idempotency_key: Option<String>,
) -> Result<(BatchOut, bool)> {
    t.writable()?;
    let now = ctx.now();
    let mut errs = FieldErrors::default();
    quantity(&mut errs, input.quantity);
    let expiry = errs.check(Expiry::parse(&input.expiry, now));
    let max_act = input.max_activations.unwrap_or(1);
    if !(1..=MAX_ACTIVATIONS).contains(&max_act) {
        errs.add(
            "max_activations",
            "invalid_max_activations",
            format!("must be between 1 and {MAX_ACTIVATIONS}"),
        );
    }
    if !input.consent {
        errs.add(
            "consent",
            "consent_required",
            "confirm the preview (and any overage fee) to generate codes",
        );
    }
    let key = match idempotency_key.map(|k| k.trim().to_string()) {
        Some(k) if k.is_empty() || k.len() > 255 => {
            errs.add(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "must be 1–255 characters",
            );
            None
        }
        other => other,
    };
    errs.finish()?;
    let expiry = expiry.unwrap_or(Expiry::Never);

    if let Some(k) = &key
        && let Some(existing) = by_idempotency_key(&ctx.db, t.tenant_id, k).await?
    {
        return replay(ctx, existing, project_id, &input);
    }
    let (p, pl) = usable_plan(ctx, t, project_id, input.plan_id).await?;

    let facts = quota::cycle_facts(&ctx.db, t.tenant_id, now).await?;
    let (kind, days) = expiry.kind();
    let batch_id = Uuid::now_v7();
    let row = code_batch::ActiveModel {
        id: Set(batch_id),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        plan_id: Set(pl.id),
        requested_by: Set(t.actor.user_id),
        quantity: Set(input.quantity as i32),
        expiry_kind: Set(kind.into()),
        expiry_days: Set(days),
        codes_expire_at: Set(expiry.expires_at(now)),
        max_activations: Set(max_act as i32),
        status: Set(QUEUED.into()),
        free_count: Set(0),
        overage_count: Set(0),
        cycle_start: Set(facts.tenant.cycle_start),
        idempotency_key: Set(key.clone()),
        delivery: Set("pending".into()),
        error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };

    let inserted = match &ctx.redis {
        Some(redis) => {
            // Redis path: the row exists (reserving) before the reservation, so a rebuilt
            // key counts it; then the split is recorded.
            let mut r = row;
            r.status = Set(quota::RESERVING.into());
            if let Err(e) = r.insert(&ctx.db).await {
                return conflict_or(ctx, t, e, key.as_deref(), project_id, &input).await;
            }
            let split =
                match quota::reserve_redis(ctx, redis, &facts, batch_id, input.quantity).await {
                    Ok(split) => split,
                    Err(e) => {
                        code_batch::Entity::delete_by_id(batch_id)
                            .exec(&ctx.db)
                            .await?;
                        return Err(e);
                    }
                };
            let txn = ctx.db.begin().await?;
            record_split(&txn, ctx, batch_id, split).await?;
            txn.commit().await?;
            // Confirm against the live key now that the database holds the split: if the key
            // was lost and rebuilt in between, the rebuild placed this batch itself, and that
            // placement is the one that counts (the batch has not been answered yet).
            match quota::reserve_redis(ctx, redis, &facts, batch_id, input.quantity).await {
                Ok(confirmed) if confirmed == split => {}
                Ok(confirmed) => {
                    let txn = ctx.db.begin().await?;
                    usage_record::Entity::delete_many()
                        .filter(usage_record::Column::BatchId.eq(batch_id))
                        .exec(&txn)
                        .await?;
                    record_split(&txn, ctx, batch_id, confirmed).await?;
                    txn.commit().await?;
                }
                Err(e) => {
                    usage_record::Entity::delete_many()
                        .filter(usage_record::Column::BatchId.eq(batch_id))
                        .exec(&ctx.db)
                        .await?;
                    code_batch::Entity::delete_by_id(batch_id)
                        .exec(&ctx.db)
                        .await?;
                    return Err(e);
                }
            }
            code_batch::Entity::find_by_id(batch_id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| Error::not_found("batch"))?
        }
        None => {
            let txn = ctx.db.begin().await?;
            quota::lock_tenant(&txn, t.tenant_id).await?;
            let used = quota::used_in_db(&txn, t.tenant_id, facts.tenant.cycle_start).await?;
            let split = quota::split(
                used,
                input.quantity,
                facts.limit,
                facts.plan.allows_overage(),
            )
            .map_err(quota::quota_exceeded)?;
            if let Err(e) = row.insert(&txn).await {
                drop(txn);
                return conflict_or(ctx, t, e, key.as_deref(), project_id, &input).await;
            }
            let b = record_split(&txn, ctx, batch_id, split).await?;
            txn.commit().await?;
            b
        }
    };
    jobs::push(ctx, jobs::GenerateCodes { batch_id }).await?;
    Ok((batch_out(inserted, 0, ctx.config.overage_fee_minor), true))
}

async fn record_split(
    db: &impl ConnectionTrait,
    ctx: &AppCtx,
    batch_id: Uuid,
    split: Split,
) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    let mut am = b.into_active_model();
    am.free_count = Set(split.free as i32);
    am.overage_count = Set(split.overage as i32);
    am.status = Set(QUEUED.into());
    am.updated_at = Set(ctx.now());
    let b = am.update(db).await?;
    if split.overage > 0 {
        let id = Uuid::now_v7();
        usage_record::ActiveModel {
            id: Set(id),
            tenant_id: Set(b.tenant_id),
            batch_id: Set(Some(b.id)),
            overage_count: Set(split.overage as i32),
            fee_minor: Set(split.overage * ctx.config.overage_fee_minor),
            identifier: Set(id.to_string()),
            status: Set("pending".into()),
            attempts: Set(0),
            next_attempt_at: Set(ctx.now()),
            last_error: Set(None),
            sent_at: Set(None),
            created_at: Set(ctx.now()),
        }
        .insert(db)
        .await?;
    }
    Ok(b)
}

async fn by_idempotency_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<code_batch::Model>> {
    Ok(code_batch::Entity::find()
        .filter(code_batch::Column::TenantId.eq(tenant_id))
        .filter(code_batch::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

fn replay(
    ctx: &AppCtx,
    existing: code_batch::Model,
    project_id: Uuid,
    input: &BatchIn,
) -> Result<(BatchOut, bool)> {
    if existing.project_id != project_id
        || existing.plan_id != input.plan_id
        || i64::from(existing.quantity) != input.quantity
    {
        return Err(Error::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different batch",
        )
        .with_field("Idempotency-Key"));
    }
    let fee = ctx.config.overage_fee_minor;
    // The generated count is filled in by the caller that reads the batch again if needed.
    Ok((batch_out(existing, -1, fee), false))
}

/// A concurrent request with the same key won the insert: answer with its batch.
async fn conflict_or(
    ctx: &AppCtx,
    t: &TenantCtx,
    e: sea_orm::DbErr,
    key: Option<&str>,
    project_id: Uuid,
    input: &BatchIn,
) -> Result<(BatchOut, bool)> {
    if let (Some(sea_orm::SqlErr::UniqueConstraintViolation(_)), Some(k)) = (e.sql_err(), key)
        && let Some(existing) = by_idempotency_key(&ctx.db, t.tenant_id, k).await?
    {
        return replay(ctx, existing, project_id, input);
    }
    Err(e.into())
}

/// Fills in the generated count of a replayed batch.
pub async fn with_progress(ctx: &AppCtx, mut b: BatchOut) -> Result<BatchOut> {
    if b.generated < 0 {
        b.generated = generated_count(&ctx.db, b.id).await?;
    }
    Ok(b)
}

// --- the bulk writer ------------------------------------------------------------------------

/// The `GenerateCodes` job: writes codes until the batch has exactly `quantity` of them.
/// Each chunk runs in a transaction that first locks the batch row, so a retried job, or
/// two copies of the job at once, continue from what is there and never overshoot.
/// Collisions (a code already in the project) are skipped by the unique index and replaced.
pub async fn generate(ctx: &AppCtx, batch_id: Uuid) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    if b.status == quota::FAILED || b.status == DONE || b.status == DELIVERING {
        return Ok(b);
    }
    let pg = ctx.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    if b.status == quota::RESERVING {
        // The request that reserved it died before recording the split; it never answered
        // 202, so the batch is given up and its reservation released.
        return fail(ctx, b, "the quota reservation did not complete").await;
    }
    loop {
        let txn = ctx.db.begin().await?;
        code_batch::Entity::update_many()
            .col_expr(code_batch::Column::Status, Expr::value(GENERATING))
            .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
            .filter(code_batch::Column::Id.eq(b.id))
            .exec(&txn)
            .await?;
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
            codes.push_str(&new_code());
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
            code: Set(new_code()),
            max_activations: Set(b.max_activations),
            activation_count: Set(0),
            expires_at: Set(b.codes_expire_at),
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
/// the batch is done and waits for a linked chat.
async fn finish_generation(ctx: &AppCtx, batch_id: Uuid) -> Result<code_batch::Model> {
    let b = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("batch"))?;
    let deliverable = crate::delivery::target(ctx, &b).await?.is_some();
    let mut am = b.into_active_model();
    if deliverable {
        am.status = Set(DELIVERING.into());
        am.delivery = Set("pending".into());
    } else {
        am.status = Set(DONE.into());
        am.delivery = Set("waiting_for_linked_chat".into());
    }
    am.updated_at = Set(ctx.now());
    let b = am.update(&ctx.db).await?;
    if deliverable {
        jobs::push(ctx, jobs::DeliverBatch { batch_id }).await?;
    }
    Ok(b)
}

/// Marks a batch failed and gives its quota back.
pub async fn fail(ctx: &AppCtx, b: code_batch::Model, why: &str) -> Result<code_batch::Model> {
    let (tenant_id, cycle, id) = (b.tenant_id, b.cycle_start, b.id);
    let mut am = b.into_active_model();
    am.status = Set(quota::FAILED.into());
    am.error = Set(Some(why.to_string()));
    am.updated_at = Set(ctx.now());
    let b = am.update(&ctx.db).await?;
    // Codes already written for a failed batch are removed: it counts nothing.
    access_code::Entity::delete_many()
        .filter(access_code::Column::BatchId.eq(id))
        .filter(access_code::Column::ActivationCount.eq(0))
        .exec(&ctx.db)
        .await?;
    usage_record::Entity::delete_many()
        .filter(usage_record::Column::BatchId.eq(id))
        .filter(usage_record::Column::Status.eq("pending"))
        .exec(&ctx.db)
        .await?;
    quota::release_redis(ctx, tenant_id, cycle, id).await?;
    Ok(b)
}

// --- listing, search, export ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Unredeemed,
    Redeemed,
    Expired,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct CodeFilter {
    pub plan_id: Option<Uuid>,
    pub status: Option<CodeStatus>,
    pub expires_after: Option<DateTime<Utc>>,
    pub expires_before: Option<DateTime<Utc>>,
    pub batch_id: Option<Uuid>,
    /// A code or its beginning, normalised like typed input.
    pub q: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeOut {
    pub id: Uuid,
    pub code: String,
    pub plan_id: Uuid,
    pub batch_id: Option<Uuid>,
    pub status: CodeStatus,
    pub max_activations: i32,
    pub activation_count: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodePage {
    pub items: Vec<CodeOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

pub fn status_of(c: &access_code::Model, now: DateTime<Utc>) -> CodeStatus {
    if c.activation_count > 0 {
        CodeStatus::Redeemed
    } else if c.expires_at.is_some_and(|e| e <= now) {
        CodeStatus::Expired
    } else {
        CodeStatus::Unredeemed
    }
}

fn filtered(
    t: &TenantCtx,
    project_id: Uuid,
    f: &CodeFilter,
    now: DateTime<Utc>,
) -> sea_orm::Select<access_code::Entity> {
    use access_code::Column as C;
    let mut q = access_code::Entity::find()
        .filter(C::TenantId.eq(t.tenant_id))
        .filter(C::ProjectId.eq(project_id));
    if let Some(p) = f.plan_id {
        q = q.filter(C::PlanId.eq(p));
    }
    if let Some(b) = f.batch_id {
        q = q.filter(C::BatchId.eq(b));
    }
    if let Some(a) = f.expires_after {
        q = q.filter(C::ExpiresAt.gte(a));
    }
    if let Some(b) = f.expires_before {
        q = q.filter(C::ExpiresAt.lt(b));
    }
    match f.status {
        Some(CodeStatus::Redeemed) => q = q.filter(C::ActivationCount.gt(0)),
        Some(CodeStatus::Expired) => {
            q = q
                .filter(C::ActivationCount.eq(0))
                .filter(C::ExpiresAt.lte(now));
        }
        Some(CodeStatus::Unredeemed) => {
            q = q.filter(C::ActivationCount.eq(0)).filter(
                Condition::any()
                    .add(C::ExpiresAt.is_null())
                    .add(C::ExpiresAt.gt(now)),
            );
        }
        None => {}
    }
    if let Some(s) =
        f.q.as_deref()
            .map(normalize_partial)
            .filter(|s| !s.is_empty())
    {
        q = q.filter(C::Code.starts_with(s));
    }
    q
}

pub const PAGE_MAX: u64 = 500;

/// Newest first; the cursor is the last id of the previous page (ids are time-ordered).
pub async fn list(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: CodeFilter,
) -> Result<CodePage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, PAGE_MAX);
    let now = ctx.now();
    let mut q = filtered(t, p.id, &f, now).order_by_desc(access_code::Column::Id);
    if let Some(c) = f.cursor {
        q = q.filter(access_code::Column::Id.lt(c));
    }
    let mut rows = q.limit(limit + 1).all(&ctx.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(CodePage {
        items: rows
            .into_iter()
            .map(|c| CodeOut {
                status: status_of(&c, now),
                id: c.id,
                code: c.code,
                plan_id: c.plan_id,
                batch_id: c.batch_id,
                max_activations: c.max_activations,
                activation_count: c.activation_count,
                expires_at: c.expires_at,
                created_at: c.created_at,
            })
            .collect(),
        next_cursor,
    })
}

/// Codes of the filtered view for export, oldest first, one page at a time (the edge
/// streams pages as CSV so a large export never sits in memory whole).
pub async fn export_page(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: &CodeFilter,
    after: Option<Uuid>,
    page: u64,
) -> Result<Vec<access_code::Model>> {
    let mut q = filtered(t, project_id, f, ctx.now()).order_by_asc(access_code::Column::Id);
    if let Some(a) = after {
        q = q.filter(access_code::Column::Id.gt(a));
    }
    Ok(q.limit(page).all(&ctx.db).await?)
}

/// What the CSV rows need besides the codes: plan names, prices, the bot's username.
pub struct CsvContext {
    pub bot_username: Option<String>,
    pub codes_priced: bool,
    pub plans: std::collections::HashMap<Uuid, plan::Model>,
}

pub async fn csv_context(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<CsvContext> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    csv_context_for(ctx, &p).await
}

/// The CSV context of a project already found (the delivery job has no tenant context).
pub async fn csv_context_for(ctx: &AppCtx, p: &project::Model) -> Result<CsvContext> {
    let bot_username = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .map(|b| b.username);
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(p.id))
        .filter(plan::Column::TenantId.eq(p.tenant_id))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(CsvContext {
        bot_username,
        codes_priced: p.codes_priced,
        plans,
    })
}

// --- delete, rollback, expiry ---------------------------------------------------------------

async fn find_code(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    code_id: Uuid,
) -> Result<access_code::Model> {
    access_code::Entity::find_by_id(code_id)
        .filter(access_code::Column::TenantId.eq(t.tenant_id))
        .filter(access_code::Column::ProjectId.eq(project_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("code"))
}

/// Deletes a code. An unredeemed code generated in the current cycle gives one unit back.
pub async fn delete(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid, code_id: Uuid) -> Result<()> {
    t.writable()?;
    let c = find_code(&ctx.db, t, project_id, code_id).await?;
    let txn = ctx.db.begin().await?;
    let gone = access_code::Entity::delete_by_id(c.id)
        .exec(&txn)
        .await?
        .rows_affected;
    audit::record(
        &txn,
        audit::Entry::creator(t, "code.deleted", "access_code", c.id)
            .details(serde_json::json!({"code": c.code, "activations": c.activation_count})),
        ctx.now(),
    )
    .await?;
    txn.commit().await?;
    if gone == 1 && c.activation_count == 0 {
        quota::free_units(ctx, c.tenant_id, c.cycle_start, 1, "deleted").await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RollbackOut {
    pub code: String,
    pub activations_removed: u64,
    pub subscriptions_revoked: u64,
}

/// Rolls a code back: removes it and its activations and revokes the subscriptions that came
/// from it. (Removing those users from the channels is the subscription service's part.)
pub async fn rollback(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    code_id: Uuid,
) -> Result<RollbackOut> {
    t.writable()?;
    let c = find_code(&ctx.db, t, project_id, code_id).await?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let revoked_ids: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::Id)
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::AccessCodeId.eq(c.id))
        .filter(subscription::Column::Status.eq("active"))
        .into_tuple()
        .all(&txn)
        .await?;
    let revoked = subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value("revoked"))
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::AccessCodeId.eq(c.id))
        .filter(subscription::Column::Status.eq("active"))
        .exec(&txn)
        .await?
        .rows_affected;
    let removed = activation::Entity::delete_many()
        .filter(activation::Column::AccessCodeId.eq(c.id))
        .exec(&txn)
        .await?
        .rows_affected;
    let gone = access_code::Entity::delete_by_id(c.id)
        .exec(&txn)
        .await?
        .rows_affected;
    audit::record(
        &txn,
        audit::Entry::creator(t, "code.rolled_back", "access_code", c.id).details(
            serde_json::json!({
                "code": c.code, "activations_removed": removed, "subscriptions_revoked": revoked
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    if gone == 1 && c.activation_count == 0 {
        quota::free_units(ctx, c.tenant_id, c.cycle_start, 1, "rolled_back").await?;
    }
    // The users of the revoked subscriptions leave the plan's channels.
    crate::subscriptions::remove_revoked(ctx, &revoked_ids).await?;
    Ok(RollbackOut {
        code: c.code,
        activations_removed: removed,
        subscriptions_revoked: revoked,
    })
}

/// The `ExpireCodes` sweep: deletes unredeemed codes past their expiry, and unredeemed codes
/// older than their project's unused-code timer (read now, so changing it applies to
/// existing codes). Deleted codes of a tenant's current cycle give their units back. Safe to
/// run in several workers at once: only rows a run actually deleted are counted.
pub async fn expire(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let mut total = 0;
    let expired: Vec<(Uuid, Uuid, DateTime<Utc>)> = access_code::Entity::find()
        .select_only()
        .column(access_code::Column::Id)
        .column(access_code::Column::TenantId)
        .column(access_code::Column::CycleStart)
        .filter(access_code::Column::ActivationCount.eq(0))
        .filter(access_code::Column::ExpiresAt.lte(now))
        .limit(10_000)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    total += delete_and_free(ctx, expired, "expired").await?;
    let timed: Vec<(Uuid, i32)> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .column(project::Column::UnusedCodeTtlDays)
        .filter(project::Column::UnusedCodeTtlDays.is_not_null())
        .into_tuple::<(Uuid, Option<i32>)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter_map(|(id, d)| d.map(|d| (id, d)))
        .collect();
    for (project_id, days) in timed {
        let stale: Vec<(Uuid, Uuid, DateTime<Utc>)> = access_code::Entity::find()
            .select_only()
            .column(access_code::Column::Id)
            .column(access_code::Column::TenantId)
            .column(access_code::Column::CycleStart)
            .filter(access_code::Column::ProjectId.eq(project_id))
            .filter(access_code::Column::ActivationCount.eq(0))
            .filter(access_code::Column::CreatedAt.lte(now - Duration::days(i64::from(days))))
            .limit(10_000)
            .into_tuple()
            .all(&ctx.db)
            .await?;
        total += delete_and_free(ctx, stale, "auto_deleted").await?;
    }
    Ok(total)
}

async fn delete_and_free(
    ctx: &AppCtx,
    rows: Vec<(Uuid, Uuid, DateTime<Utc>)>,
    reason: &str,
) -> Result<u64> {
    let mut groups: std::collections::BTreeMap<(Uuid, DateTime<Utc>), Vec<Uuid>> =
        Default::default();
    for (id, tenant, cycle) in rows {
        groups.entry((tenant, cycle)).or_default().push(id);
    }
    let mut total = 0;
    for ((tenant, cycle), ids) in groups {
        for chunk in ids.chunks(1_000) {
            let n = access_code::Entity::delete_many()
                .filter(access_code::Column::Id.is_in(chunk.iter().copied()))
                .filter(access_code::Column::ActivationCount.eq(0))
                .exec(&ctx.db)
                .await?
                .rows_affected;
            quota::free_units(ctx, tenant, cycle, n as i64, reason).await?;
            total += n;
        }
    }
    Ok(total)
}

/// Gives up on a batch after its last attempt (marks it failed, releases its quota).
pub async fn give_up(ctx: &AppCtx, batch_id: Uuid, why: &str) -> Result<()> {
    if let Some(b) = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
        && b.status != DONE
        && b.status != quota::FAILED
    {
        fail(ctx, b, why).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_crockford_characters() {
        for _ in 0..1000 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
        }
    }

    #[test]
    fn typed_input_is_normalised() {
        assert_eq!(normalize("abcd-efgh-jkmn").as_deref(), Some("ABCDEFGHJKMN"));
        assert_eq!(
            normalize(" o0il 1234 5678 ").as_deref(),
            Some("001112345678")
        );
        assert_eq!(normalize("ABCDEFGHJKM"), None, "too short");
        assert_eq!(normalize("ABCDEFGHJKMNP"), None, "too long");
        assert_eq!(
            normalize("ABCDEFGHJKM!"),
            None,
            "foreign character dropped, so too short"
        );
    }

    #[test]
    fn expiry_presets() {
        let now: DateTime<Utc> = "2026-01-31T10:00:00Z".parse().unwrap();
        let p = |s: &str| {
            Expiry::parse(
                &ExpiryIn {
                    preset: Some(s.into()),
                    ..Default::default()
                },
                now,
            )
            .unwrap()
        };
        assert_eq!(p("none").expires_at(now), None);
        assert_eq!(
            p("1d").expires_at(now),
            Some("2026-02-01T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            p("1w").expires_at(now),
            Some("2026-02-07T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            p("1m").expires_at(now),
            Some("2026-02-28T10:00:00Z".parse().unwrap()),
            "calendar month, clamped"
        );
        assert_eq!(
            p("1y").expires_at(now),
            Some("2027-01-31T10:00:00Z".parse().unwrap())
        );
        let days = Expiry::parse(
            &ExpiryIn {
                days: Some(10),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(
            days.expires_at(now),
            Some("2026-02-10T10:00:00Z".parse().unwrap())
        );
        let past = ExpiryIn {
            date: Some(now - Duration::seconds(1)),
            ..Default::default()
        };
        assert_eq!(
            Expiry::parse(&past, now).unwrap_err().fields["expiry"].code,
            "expiry_in_past"
        );
        let both = ExpiryIn {
            preset: Some("1d".into()),
            days: Some(3),
            ..Default::default()
        };
        assert!(Expiry::parse(&both, now).is_err());
        assert!(
            Expiry::parse(
                &ExpiryIn {
                    days: Some(0),
                    ..Default::default()
                },
                now
            )
            .is_err()
        );
        assert!(
            Expiry::parse(
                &ExpiryIn {
                    preset: Some("2d".into()),
                    ..Default::default()
                },
                now
            )
            .is_err()
        );
    }

    #[test]
    fn split_takes_free_first_then_overage_or_refuses() {
        assert_eq!(
            quota::split(0, 3, 5, false),
            Ok(Split {
                free: 3,
                overage: 0
            })
        );
        assert_eq!(quota::split(4, 3, 5, false), Err(1));
        assert_eq!(
            quota::split(4, 3, 5, true),
            Ok(Split {
                free: 1,
                overage: 2
            })
        );
        assert_eq!(
            quota::split(9, 3, 5, true),
            Ok(Split {
                free: 0,
                overage: 3
            })
        );
    }
}
