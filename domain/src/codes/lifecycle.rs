//! A code's end: delete (unredeemed), rollback (redeemed), the expiry sweep and the purge of
//! expired codes after the project's retention.
use super::*;

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
