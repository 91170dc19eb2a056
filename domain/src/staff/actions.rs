//! The staff actions, each audited in the transaction of its change: suspension and
//! unsuspension, quota grants for the current cycle, and the plan override.

use super::*;

// --- suspension -----------------------------------------------------------------------------

/// Body of `POST …/suspend` (reason required) and `POST …/unsuspend` (reason optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SuspensionIn {
    /// 1–500 characters; the creator sees it on `GET /me` while suspended.
    pub reason: Option<String>,
}

/// Suspends a tenant: its writes are refused, its bots pause, workers deliver nothing for it.
/// Existing subscriptions keep running out normally. Suspending a suspended tenant is
/// `already_suspended` (the reason it was suspended for is kept, not overwritten).
pub async fn suspend(ctx: &AppCtx, s: &StaffCtx, tenant_id: Uuid, why: &str) -> Result<TenantOut> {
    s.can_act()?;
    let why = reason(why)?;
    set_status(ctx, s, tenant_id, TenantStatus::Suspended, Some(why)).await
}

/// Lifts a suspension; nothing was lost while suspended. The reason is optional (blank: none).
/// Unsuspending an active tenant is `not_suspended`.
pub async fn unsuspend(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    why: &str,
) -> Result<TenantOut> {
    s.can_act()?;
    let why = optional_reason(Some(why))?;
    let out = set_status(ctx, s, tenant_id, TenantStatus::Active, why).await?;
    // Deliveries held back while suspended go out now.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    for p in entity::project::Entity::find()
        .filter(entity::project::Column::TenantId.eq(tenant_id))
        .all(&ctx.db)
        .await?
    {
        crate::batches::resume_waiting(ctx, p.id).await?;
    }
    crate::broadcasts::resume_paused(ctx, tenant_id).await?;
    Ok(out)
}

async fn set_status(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    to: TenantStatus,
    why: Option<String>,
) -> Result<TenantOut> {
    let suspending = to == TenantStatus::Suspended;
    let from = if suspending {
        TenantStatus::Active
    } else {
        TenantStatus::Suspended
    };
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    // A conditional update, so two staff members acting at once make one change, not two.
    let changed = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, Expr::value(to))
        .col_expr(
            tenant::Column::SuspendedReason,
            Expr::value(if suspending { why.clone() } else { None }),
        )
        .filter(tenant::Column::Id.eq(tenant_id))
        .filter(tenant::Column::Status.eq(from))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        load(&txn, tenant_id).await?;
        return Err(if suspending {
            Error::conflict("already_suspended", "this tenant is already suspended")
        } else {
            Error::conflict("not_suspended", "this tenant is not suspended")
        });
    }
    audit::record(
        &txn,
        staff_entry(
            s,
            tenant_id,
            if suspending {
                "tenant.suspended"
            } else {
                "tenant.unsuspended"
            },
            "tenant",
            tenant_id.to_string(),
            serde_json::json!({"reason": why}),
        ),
        now,
    )
    .await?;
    let t = load(&txn, tenant_id).await?;
    txn.commit().await?;
    // Bots read the status from the per-process cache: every process forgets it now.
    crate::telegram::registry::changed(ctx, tenant_id).await;
    Ok(t.into())
}

// --- quota grants ---------------------------------------------------------------------------

/// Body of `POST …/quota-grants`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct QuotaGrantIn {
    /// Extra free codes for the current cycle, 1–100,000.
    pub codes: i64,
    /// Why (optional, up to 500 characters); kept in the audit log.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaGrantOut {
    pub id: Uuid,
    pub codes: i64,
    /// The cycle the grant belongs to; it lapses when the cycle ends.
    pub cycle_start: DateTime<Utc>,
    pub cycle_end: DateTime<Utc>,
    pub granted_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// The tenant's quota after the grant.
    pub quota: QuotaUsage,
}

/// Adds free codes to the tenant's current cycle (rolled forward first if it has ended).
/// Grants do not roll over: the next cycle starts from the plan's quota again.
pub async fn grant_quota(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    input: QuotaGrantIn,
) -> Result<QuotaGrantOut> {
    s.can_act()?;
    let mut errs = FieldErrors::default();
    if !(GRANT_MIN..=GRANT_MAX).contains(&input.codes) {
        errs.add(
            "codes",
            "out_of_range",
            format!("must be a whole number from {GRANT_MIN} to {GRANT_MAX}"),
        );
    }
    let why = errs
        .check(optional_reason(input.reason.as_deref()))
        .flatten();
    errs.finish()?;

    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let t = quota::current_cycle(&txn, load(&txn, tenant_id).await?, now).await?;
    let grant = quota_grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        cycle_start: Set(t.cycle_start),
        codes: Set(input.codes as i32),
        granted_by: Set(Some(s.user_id)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        staff_entry(
            s,
            tenant_id,
            "tenant.quota_granted",
            "quota_grant",
            grant.id.to_string(),
            serde_json::json!({
                "codes": input.codes,
                "cycle_start": t.cycle_start,
                "cycle_end": t.cycle_end,
                "reason": why,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(QuotaGrantOut {
        id: grant.id,
        codes: input.codes,
        cycle_start: t.cycle_start,
        cycle_end: t.cycle_end,
        granted_by: s.user_id,
        created_at: now,
        quota: quota::usage(ctx, tenant_id).await?,
    })
}

// --- plan override --------------------------------------------------------------------------

/// Body of `PUT …/plan`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PlanOverrideIn {
    /// `free`, `starter_monthly`, `starter_annual`, `growth_monthly` or `growth_annual`.
    pub plan: String,
    /// Why (optional, up to 500 characters); kept in the audit log.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanOverrideOut {
    pub tenant: TenantOut,
    /// The plan before this request (equal to the new one when nothing changed).
    pub previous_plan: String,
    /// The tenant's quota under the new plan: same cycle, same used, new limit.
    pub quota: QuotaUsage,
}

/// Sets the tenant's creator plan without Stripe (offline billing, comps). See the module
/// doc for what happens to the cycle and the quota.
pub async fn override_plan(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    input: PlanOverrideIn,
) -> Result<PlanOverrideOut> {
    s.can_act()?;
    let mut errs = FieldErrors::default();
    let plan = errs.check(CreatorPlan::parse(input.plan.trim()));
    let why = errs
        .check(optional_reason(input.reason.as_deref()))
        .flatten();
    errs.finish()?;
    let plan = plan.unwrap_or(CreatorPlan::Free);

    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    // Roll a finished cycle forward under the old plan first: that cycle ran on it.
    let t = quota::current_cycle(&txn, load(&txn, tenant_id).await?, now).await?;
    let previous = t.billing_plan.clone();
    if previous == plan.as_str() {
        txn.commit().await?;
        return Ok(PlanOverrideOut {
            tenant: t.into(),
            previous_plan: previous,
            quota: quota::usage(ctx, tenant_id).await?,
        });
    }
    if t.stripe_subscription_id.is_some() {
        return Err(Error::conflict(
            "stripe_managed",
            "this tenant pays through a Stripe subscription, which sets its plan; change it in Stripe",
        )
        .with_field("plan"));
    }
    let (cycle_start, cycle_end) = (t.cycle_start, t.cycle_end);
    let mut am = t.into_active_model();
    am.billing_plan = Set(plan.as_str().into());
    let t = am.update(&txn).await?;
    audit::record(
        &txn,
        staff_entry(
            s,
            tenant_id,
            "tenant.plan_overridden",
            "tenant",
            tenant_id.to_string(),
            serde_json::json!({
                "from": previous,
                "to": plan.as_str(),
                "cycle_start": cycle_start,
                "cycle_end": cycle_end,
                "reason": why,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(PlanOverrideOut {
        tenant: t.into(),
        previous_plan: previous,
        quota: quota::usage(ctx, tenant_id).await?,
    })
}
