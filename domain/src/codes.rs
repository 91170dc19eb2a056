//! Access codes themselves: the alphabet, generation and normalisation of a code, the codes'
//! expiry rules, listing and search, delete, rollback and the expiry sweep. Batches (how codes
//! come to exist) are `batches`; the CSV is `export`.
use chrono::{DateTime, Duration, Months, Utc};
use rand::Rng;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{access_code, activation, project, subscriber};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    projects, quota,
    scoped::{secure_find_in, secure_get},
    subscriptions,
    tenancy::{Action, TenantCtx},
};

/// Crockford base32: no I, L, O, U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 12;
pub const MAX_CUSTOM_DAYS: i64 = 36_500;

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

    pub(crate) fn kind(self) -> (&'static str, Option<i32>) {
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

// --- listing, search, export ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Unredeemed,
    Redeemed,
    Expired,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    /// Who redeemed it, first activation first (empty while unredeemed).
    pub redeemed_by: Vec<Redeemer>,
}

/// One activation of a code: the subscriber and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Redeemer {
    pub subscriber_id: Uuid,
    pub telegram_user_id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub at: DateTime<Utc>,
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
    let mut redeemers = redeemers_of(
        ctx,
        t,
        rows.iter()
            .filter(|c| c.activation_count > 0)
            .map(|c| c.id)
            .collect(),
    )
    .await?;
    Ok(CodePage {
        items: rows
            .into_iter()
            .map(|c| CodeOut {
                redeemed_by: redeemers.remove(&c.id).unwrap_or_default(),
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

/// The activations of `codes` with their subscribers, per code, oldest first.
async fn redeemers_of(
    ctx: &AppCtx,
    t: &TenantCtx,
    codes: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, Vec<Redeemer>>> {
    let mut out: std::collections::HashMap<Uuid, Vec<Redeemer>> = Default::default();
    if codes.is_empty() {
        return Ok(out);
    }
    let acts = activation::Entity::find()
        .filter(activation::Column::TenantId.eq(t.tenant_id))
        .filter(activation::Column::AccessCodeId.is_in(codes))
        .order_by_asc(activation::Column::At)
        .all(&ctx.db)
        .await?;
    let people: std::collections::HashMap<Uuid, subscriber::Model> = subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::Id.is_in(acts.iter().map(|a| a.subscriber_id)))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    for a in acts {
        if let Some(s) = people.get(&a.subscriber_id) {
            out.entry(a.access_code_id).or_default().push(Redeemer {
                subscriber_id: s.id,
                telegram_user_id: s.telegram_user_id,
                first_name: s.first_name.clone(),
                username: s.username.clone(),
                at: a.at,
            });
        }
    }
    Ok(out)
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

// --- delete, rollback, expiry ---------------------------------------------------------------

async fn find_code(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    code_id: Uuid,
) -> Result<access_code::Model> {
    secure_get(
        db,
        secure_find_in::<access_code::Entity>(t, project_id),
        code_id,
    )
    .await
}

/// A redeemed code cannot be deleted (it stays for reporting); rolling it back is the way.
pub const CODE_REDEEMED: &str = "code_redeemed";

/// Deletes an unredeemed code; one generated in the current cycle gives one unit back. A
/// redeemed code is refused with 409 `code_redeemed` (roll it back instead): the delete is
/// conditional on `activation_count = 0`, so a redemption racing it wins or loses cleanly.
pub async fn delete(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid, code_id: Uuid) -> Result<()> {
    t.may(Action::ManageCodes)?;
    let c = find_code(&ctx.db, t, project_id, code_id).await?;
    let redeemed = || {
        Error::conflict(
            CODE_REDEEMED,
            "this code has been redeemed and stays for reporting; roll it back to take away what it granted",
        )
    };
    if c.activation_count > 0 {
        return Err(redeemed());
    }
    let txn = ctx.db.begin().await?;
    // A code the sweep already marked expired gave its unit back then: deleting it frees
    // nothing. The first delete takes only a code still holding its unit.
    let holding = access_code::Entity::delete_many()
        .filter(access_code::Column::Id.eq(c.id))
        .filter(access_code::Column::ActivationCount.eq(0))
        .filter(access_code::Column::ExpiredAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    let gone = if holding == 1 {
        1
    } else {
        access_code::Entity::delete_many()
            .filter(access_code::Column::Id.eq(c.id))
            .filter(access_code::Column::ActivationCount.eq(0))
            .exec(&txn)
            .await?
            .rows_affected
    };
    if gone == 0 {
        txn.rollback().await?;
        // Redeemed meanwhile, or deleted by someone else.
        find_code(&ctx.db, t, project_id, code_id).await?;
        return Err(redeemed());
    }
    audit::record(
        &txn,
        audit::Entry::creator(t, "code.deleted", "access_code", c.id)
            .details(serde_json::json!({"code": c.code, "activations": c.activation_count})),
        ctx.now(),
    )
    .await?;
    txn.commit().await?;
    if holding == 1 {
        quota::free_units(ctx, c.tenant_id, c.cycle_start, 1, "deleted").await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RollbackOut {
    pub code: String,
    pub activations_removed: u64,
    /// Subscriptions left with no granted time: revoked, their users removed from the channels.
    pub subscriptions_revoked: u64,
    /// Subscriptions that keep time from other codes and now end earlier.
    pub subscriptions_shortened: u64,
}

/// Rolls a code back: for each of its activations the subscription loses exactly the time
/// that activation added (`subscriptions::withdraw`; revoked when nothing else remains), then
/// the code and its activations are removed. One transaction that locks the code's row
/// first, so a redemption of the same code either finishes before or finds the code gone.
/// Users of revoked subscriptions leave the plan's channels; those whose subscription was
/// shortened are told the new end.
pub async fn rollback(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    code_id: Uuid,
) -> Result<RollbackOut> {
    t.may(Action::ManageCodes)?;
    let c = find_code(&ctx.db, t, project_id, code_id).await?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let c = access_code::Entity::find_by_id(c.id)
        .filter(access_code::Column::TenantId.eq(t.tenant_id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("access_code"))?;
    // Subscriber order, so two rollbacks touching the same subscribers lock them alike.
    let activations = activation::Entity::find()
        .filter(activation::Column::AccessCodeId.eq(c.id))
        .order_by_asc(activation::Column::SubscriberId)
        .all(&txn)
        .await?;
    let (mut revoked_ids, mut shortened_ids) = (vec![], vec![]);
    for a in &activations {
        match subscriptions::withdraw(&txn, a, now).await? {
            subscriptions::Withdrawn::Revoked(id) => revoked_ids.push(id),
            subscriptions::Withdrawn::Shortened(id, _) => shortened_ids.push(id),
            subscriptions::Withdrawn::Unchanged => {}
        }
    }
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
                "code": c.code, "activations_removed": removed,
                "subscriptions_revoked": revoked_ids, "subscriptions_shortened": shortened_ids,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    if gone == 1 && c.activation_count == 0 && c.expired_at.is_none() {
        quota::free_units(ctx, c.tenant_id, c.cycle_start, 1, "rolled_back").await?;
    }
    // The users of the revoked subscriptions leave the plan's channels.
    subscriptions::remove_revoked(ctx, &revoked_ids).await?;
    subscriptions::tell_shortened(ctx, &shortened_ids).await;
    Ok(RollbackOut {
        code: c.code,
        activations_removed: removed,
        subscriptions_revoked: revoked_ids.len() as u64,
        subscriptions_shortened: shortened_ids.len() as u64,
    })
}

/// The `ExpireCodes` sweep. Unredeemed codes past their expiry are marked expired
/// (`expired_at`) and their unit of a tenant's current cycle is given back at once; the row
/// stays listable and searchable as `expired` until the project's retention has passed, then
/// it is purged. Unredeemed codes older than their project's unused-code timer (read now, so
/// changing it applies to existing codes) are deleted. Safe to run in several workers at
/// once: only rows a run actually marked or deleted are counted.
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
        .filter(access_code::Column::ExpiredAt.is_null())
        .limit(10_000)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    total += mark_expired_and_free(ctx, expired, now).await?;
    purge_expired(ctx, now).await?;
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
            .filter(access_code::Column::ExpiredAt.is_null())
            .limit(10_000)
            .into_tuple()
            .all(&ctx.db)
            .await?;
        total += delete_and_free(ctx, stale, "auto_deleted").await?;
    }
    Ok(total)
}

async fn mark_expired_and_free(
    ctx: &AppCtx,
    rows: Vec<(Uuid, Uuid, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut groups: std::collections::BTreeMap<(Uuid, DateTime<Utc>), Vec<Uuid>> =
        Default::default();
    for (id, tenant, cycle) in rows {
        groups.entry((tenant, cycle)).or_default().push(id);
    }
    let mut total = 0;
    for ((tenant, cycle), ids) in groups {
        for chunk in ids.chunks(1_000) {
            // The conditional update claims each row once, so concurrent sweeps free once.
            let n = access_code::Entity::update_many()
                .col_expr(access_code::Column::ExpiredAt, Expr::value(now))
                .filter(access_code::Column::Id.is_in(chunk.iter().copied()))
                .filter(access_code::Column::ActivationCount.eq(0))
                .filter(access_code::Column::ExpiredAt.is_null())
                .exec(&ctx.db)
                .await?
                .rows_affected;
            quota::free_units(ctx, tenant, cycle, n as i64, "expired").await?;
            total += n;
        }
    }
    Ok(total)
}

/// Deletes expired codes kept longer than their project's retention (their unit was freed
/// when they were marked).
async fn purge_expired(ctx: &AppCtx, now: DateTime<Utc>) -> Result<u64> {
    let projects: Vec<(Uuid, i32)> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .column(project::Column::ExpiredCodeRetentionDays)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut by_days: std::collections::BTreeMap<i32, Vec<Uuid>> = Default::default();
    for (id, days) in projects {
        by_days.entry(days).or_default().push(id);
    }
    let mut total = 0;
    for (days, ids) in by_days {
        for chunk in ids.chunks(1_000) {
            total += access_code::Entity::delete_many()
                .filter(access_code::Column::ProjectId.is_in(chunk.iter().copied()))
                .filter(access_code::Column::ActivationCount.eq(0))
                .filter(access_code::Column::ExpiredAt.lte(now - Duration::days(i64::from(days))))
                .exec(&ctx.db)
                .await?
                .rows_affected;
        }
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
                .filter(access_code::Column::ExpiredAt.is_null())
                .exec(&ctx.db)
                .await?
                .rows_affected;
            quota::free_units(ctx, tenant, cycle, n as i64, reason).await?;
            total += n;
        }
    }
    Ok(total)
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
}
