//! Staff operations on tenants: finding them, seeing their usage, suspending and unsuspending,
//! granting quota for the current cycle, overriding the plan, and reading the audit log.
//!
//! Rules that hold for every function here:
//! - Every function takes a [`StaffCtx`], so only an authenticated staff member reaches it.
//!   `staff_readonly` may call the reads; every action calls [`StaffCtx::can_act`] first, so
//!   a read-only member is refused before any input is looked at and nothing changes.
//! - Every action writes exactly one audit entry (actor, tenant, target, details) in the same
//!   transaction as the change, so there is never a change without its entry or an entry
//!   without its change. A request that changes nothing (a plan set to the plan the tenant
//!   already has) writes none. Reads are not actions and are not audited.
//! - Plan override keeps the cycle: `cycle_start`/`cycle_end` stay as they are, and from the
//!   moment of the override the new plan's free quota (plus this cycle's grants) is the limit
//!   for the rest of the cycle; codes already counted this cycle stay counted. The next cycle
//!   has the new plan's length. Tenants billed through a Stripe subscription are refused
//!   (`stripe_managed`): their plan follows Stripe, which would undo the override.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, Query},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{
    audit_entry, bot, project, quota_grant, subscriber, subscription,
    subscription::SubscriptionStatus, tenant, tenant::BillingStatus, user,
};

use crate::{
    AppCtx,
    accounts::StaffCtx,
    audit,
    error::{Error, FieldErrors, Result},
    quota::{self, QuotaUsage},
    tenants::{Role, TenantOut, TenantStatus},
    tiers::CreatorPlan,
};

pub const REASON_MAX: usize = 500;
/// Page size when none is asked for, and the largest page served.
pub const PAGE_DEFAULT: u64 = 50;
pub const PAGE_MAX: u64 = 200;
/// Bounds of one quota grant, in codes.
pub const GRANT_MIN: i64 = 1;
pub const GRANT_MAX: i64 = 100_000;
/// Longest tenant search string (the longest email address).
pub const SEARCH_MAX: usize = 254;

fn reason(raw: &str) -> Result<String> {
    let r = raw.trim();
    if r.is_empty() || r.chars().count() > REASON_MAX {
        return Err(Error::field(
            "reason",
            "invalid_reason",
            format!("give a reason of 1–{REASON_MAX} characters"),
        ));
    }
    Ok(r.to_string())
}

/// An optional reason: absent or blank is none; otherwise it must be a valid reason.
fn optional_reason(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => reason(r).map(Some),
    }
}

async fn load(db: &impl ConnectionTrait, id: Uuid) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))
}

fn staff_entry(
    s: &StaffCtx,
    tenant_id: Uuid,
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    details: serde_json::Value,
) -> audit::Entry {
    let actor = s.actor();
    audit::Entry {
        actor_user_id: actor.user_id,
        actor: actor.label,
        tenant_id: Some(tenant_id),
        action,
        target_type,
        target_id: Some(target_id),
        details,
    }
}

// --- cursors and page sizes -----------------------------------------------------------------

/// Cursors are opaque to clients: the sort key of the last row served, base64url-encoded.
fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(raw: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_cursor)
}

fn invalid_cursor() -> Error {
    Error::field(
        "cursor",
        "invalid_cursor",
        "pass back a next_cursor from a previous page",
    )
}

fn page_limit(raw: Option<&str>) -> Result<u64> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(PAGE_DEFAULT);
    };
    match raw.parse::<u64>() {
        Ok(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        _ => Err(Error::field(
            "limit",
            "out_of_range",
            format!("must be a whole number from 1 to {PAGE_MAX}"),
        )),
    }
}

/// `%term%` for a case-insensitive LIKE, with the wildcards of the term itself escaped.
fn contains_pattern(term: &str) -> LikeExpr {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

// --- tenant list and search -----------------------------------------------------------------

/// Query of `GET /staff/tenants`. Values arrive as text and are checked here, so a bad one is
/// a field error like any other input.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantSearchIn {
    /// Part of the tenant's name, of a member's email, or of a bot's username (a leading `@`
    /// is ignored), case-insensitive; or a tenant id. Empty lists every tenant.
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
}

/// One tenant in the staff list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantSummaryOut {
    pub id: Uuid,
    pub name: String,
    pub status: TenantStatus,
    pub suspended_reason: Option<String>,
    pub billing_plan: String,
    pub owner_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of tenants, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantPageOut {
    pub items: Vec<TenantSummaryOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Lists tenants, newest first, optionally searched by name, member email or bot username.
pub async fn list_tenants(
    ctx: &AppCtx,
    _s: &StaffCtx,
    input: TenantSearchIn,
) -> Result<TenantPageOut> {
    let mut errs = FieldErrors::default();
    let limit = errs.check(page_limit(input.limit.as_deref()));
    let q = input
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string);
    if q.as_ref().is_some_and(|q| q.chars().count() > SEARCH_MAX) {
        errs.add(
            "q",
            "too_long",
            format!("must be at most {SEARCH_MAX} characters"),
        );
    }
    let after = match input.cursor.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => errs.check(
            decode_cursor(c).and_then(|k| Uuid::parse_str(&k).map_err(|_| invalid_cursor())),
        ),
        None => None,
    };
    errs.finish()?;
    let limit = limit.unwrap_or(PAGE_DEFAULT);

    let mut sel = tenant::Entity::find().order_by_desc(tenant::Column::Id);
    if let Some(q) = &q {
        sel = sel.filter(search_condition(q));
    }
    if let Some(after) = after {
        sel = sel.filter(tenant::Column::Id.lt(after));
    }
    let mut rows = sel.limit(limit + 1).all(&ctx.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|t| encode_cursor(&t.id.to_string()))
    } else {
        None
    };

    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let owners: Vec<(Option<Uuid>, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::TenantId)
        .column(user::Column::Email)
        .filter(user::Column::TenantId.is_in(ids))
        .filter(user::Column::Role.eq(Role::Owner.stored()))
        .order_by_asc(user::Column::CreatedAt)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let owner_of = |id: Uuid| {
        owners
            .iter()
            .find(|(t, _)| *t == Some(id))
            .map(|(_, e)| e.clone())
    };
    Ok(TenantPageOut {
        items: rows
            .into_iter()
            .map(|t| TenantSummaryOut {
                owner_email: owner_of(t.id),
                id: t.id,
                status: t.status,
                name: t.name,
                suspended_reason: t.suspended_reason,
                billing_plan: t.billing_plan,
                created_at: t.created_at,
            })
            .collect(),
        next_cursor,
    })
}

/// Matches a tenant id exactly, or part of the name, a member's email or a bot's username.
fn search_condition(q: &str) -> Condition {
    if let Ok(id) = Uuid::parse_str(q) {
        return Condition::all().add(tenant::Column::Id.eq(id));
    }
    let by_member = Query::select()
        .column(user::Column::TenantId)
        .from(user::Entity)
        .and_where(user::Column::TenantId.is_not_null())
        .and_where(
            Func::lower(Expr::col((user::Entity, user::Column::Email))).like(contains_pattern(q)),
        )
        .to_owned();
    let username = q.strip_prefix('@').unwrap_or(q);
    let by_bot = Query::select()
        .column(bot::Column::TenantId)
        .from(bot::Entity)
        .and_where(
            Func::lower(Expr::col((bot::Entity, bot::Column::Username)))
                .like(contains_pattern(username)),
        )
        .to_owned();
    Condition::any()
        .add(
            Func::lower(Expr::col((tenant::Entity, tenant::Column::Name)))
                .like(contains_pattern(q)),
        )
        .add(tenant::Column::Id.in_subquery(by_member))
        .add(tenant::Column::Id.in_subquery(by_bot))
}

// --- tenant detail --------------------------------------------------------------------------

/// A person of the tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantUserOut {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A project's bot as staff see it (never its token or webhook secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantBotOut {
    pub id: Uuid,
    pub telegram_bot_id: i64,
    pub username: String,
    /// `webhook` or `polling`.
    pub mode: String,
    pub created_at: DateTime<Utc>,
}

/// A project of the tenant with its bot and member counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantProjectOut {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub bot: Option<TenantBotOut>,
    /// Telegram users known to the project's bot.
    pub subscribers: i64,
    /// Subscriptions active now.
    pub active_subscriptions: i64,
}

/// Everything staff need to judge a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantDetailOut {
    pub id: Uuid,
    pub name: String,
    pub status: TenantStatus,
    pub suspended_reason: Option<String>,
    pub billing_plan: String,
    pub billing_status: BillingStatus,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub owner_email: Option<String>,
    pub users: Vec<TenantUserOut>,
    /// Plan, current cycle, quota used / limit / staff bonus, overage.
    pub quota: QuotaUsage,
    pub projects: Vec<TenantProjectOut>,
    /// Totals over all projects.
    pub subscribers: i64,
    pub active_subscriptions: i64,
}

pub async fn tenant_detail(
    ctx: &AppCtx,
    _s: &StaffCtx,
    tenant_id: Uuid,
) -> Result<TenantDetailOut> {
    // Usage first: it rolls a finished cycle forward, so the tenant read after it is current.
    let quota = quota::usage(ctx, tenant_id).await?;
    let t = load(&ctx.db, tenant_id).await?;
    let now = ctx.now();
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let projects = project::Entity::find()
        .filter(project::Column::TenantId.eq(tenant_id))
        .order_by_asc(project::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let bots = bot::Entity::find()
        .filter(bot::Column::TenantId.eq(tenant_id))
        .all(&ctx.db)
        .await?;
    let subscribers: Vec<(Uuid, i64)> = subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::ProjectId)
        .column_as(Expr::col(subscriber::Column::Id).count(), "n")
        .filter(subscriber::Column::TenantId.eq(tenant_id))
        .group_by(subscriber::Column::ProjectId)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let active: Vec<(Uuid, i64)> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::ProjectId)
        .column_as(Expr::col(subscription::Column::Id).count(), "n")
        .filter(subscription::Column::TenantId.eq(tenant_id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(
            Condition::any()
                .add(subscription::Column::EndsAt.is_null())
                .add(subscription::Column::EndsAt.gt(now)),
        )
        .group_by(subscription::Column::ProjectId)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let count_of =
        |rows: &[(Uuid, i64)], p: Uuid| rows.iter().find(|(id, _)| *id == p).map_or(0, |(_, n)| *n);
    let projects: Vec<TenantProjectOut> = projects
        .into_iter()
        .map(|p| TenantProjectOut {
            bot: bots
                .iter()
                .find(|b| b.project_id == p.id)
                .map(|b| TenantBotOut {
                    id: b.id,
                    telegram_bot_id: b.telegram_bot_id,
                    username: b.username.clone(),
                    mode: b.mode.clone(),
                    created_at: b.created_at,
                }),
            subscribers: count_of(&subscribers, p.id),
            active_subscriptions: count_of(&active, p.id),
            id: p.id,
            name: p.name,
            created_at: p.created_at,
        })
        .collect();
    Ok(TenantDetailOut {
        id: t.id,
        status: t.status,
        name: t.name,
        suspended_reason: t.suspended_reason,
        billing_plan: t.billing_plan,
        billing_status: t.billing_status,
        stripe_customer_id: t.stripe_customer_id,
        stripe_subscription_id: t.stripe_subscription_id,
        created_at: t.created_at,
        owner_email: users
            .iter()
            .find(|u| u.role == Role::Owner.stored())
            .map(|u| u.email.clone()),
        users: users
            .into_iter()
            .map(|u| TenantUserOut {
                id: u.id,
                email: u.email,
                role: Role::of(u.role).unwrap_or(Role::Member),
                created_at: u.created_at,
            })
            .collect(),
        quota,
        subscribers: projects.iter().map(|p| p.subscribers).sum(),
        active_subscriptions: projects.iter().map(|p| p.active_subscriptions).sum(),
        projects,
    })
}

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

// --- audit log ------------------------------------------------------------------------------

/// Query of `GET /staff/audit`. Values arrive as text and are checked here.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditSearchIn {
    /// Entries about this tenant.
    #[param(value_type = Option<Uuid>)]
    pub tenant_id: Option<String>,
    /// Exact action, e.g. `tenant.suspended`, `project.deleted`.
    pub action: Option<String>,
    /// A user id (exact), or part of the actor label (`staff:<email>`, a creator's email,
    /// `api_key:<prefix>`), case-insensitive.
    pub actor: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryOut {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who acted: `staff:<email>`, a creator's email, `api_key:<prefix>`, `system:cli`.
    pub actor: String,
    pub actor_user_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<audit_entry::Model> for AuditEntryOut {
    fn from(e: audit_entry::Model) -> Self {
        AuditEntryOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_user_id: e.actor_user_id,
            tenant_id: e.tenant_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: e.details,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPageOut {
    pub items: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn timestamp(field: &str, raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::field(
                field,
                "invalid_timestamp",
                "must be an RFC 3339 timestamp, e.g. 2026-11-21T00:00:00Z",
            )
        })
}

fn non_blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The audit log, newest first, filtered by tenant, action, actor and time window.
pub async fn list_audit(ctx: &AppCtx, _s: &StaffCtx, input: AuditSearchIn) -> Result<AuditPageOut> {
    let mut errs = FieldErrors::default();
    let limit = errs.check(page_limit(input.limit.as_deref()));
    let tenant_id = non_blank(&input.tenant_id).and_then(|v| {
        errs.check(
            Uuid::parse_str(v)
                .map_err(|_| Error::field("tenant_id", "invalid_uuid", "must be a tenant id")),
        )
    });
    let from = non_blank(&input.from).and_then(|v| errs.check(timestamp("from", v)));
    let to = non_blank(&input.to).and_then(|v| errs.check(timestamp("to", v)));
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errs.add("to", "before_from", "must not be earlier than from");
    }
    let after = non_blank(&input.cursor).and_then(|c| {
        errs.check(decode_cursor(c).and_then(|k| {
            let (at, id) = k.split_once('|').ok_or_else(invalid_cursor)?;
            let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid_cursor())?;
            let id = Uuid::parse_str(id).map_err(|_| invalid_cursor())?;
            Ok((at.with_timezone(&Utc), id))
        }))
    });
    errs.finish()?;
    let limit = limit.unwrap_or(PAGE_DEFAULT);

    let mut sel = audit_entry::Entity::find()
        .order_by_desc(audit_entry::Column::At)
        .order_by_desc(audit_entry::Column::Id);
    if let Some(t) = tenant_id {
        sel = sel.filter(audit_entry::Column::TenantId.eq(t));
    }
    if let Some(a) = non_blank(&input.action) {
        sel = sel.filter(audit_entry::Column::Action.eq(a));
    }
    if let Some(a) = non_blank(&input.actor) {
        sel = sel.filter(match Uuid::parse_str(a) {
            Ok(id) => Condition::all().add(audit_entry::Column::ActorUserId.eq(id)),
            Err(_) => Condition::all().add(
                Func::lower(Expr::col((audit_entry::Entity, audit_entry::Column::Actor)))
                    .like(contains_pattern(a)),
            ),
        });
    }
    if let Some(f) = from {
        sel = sel.filter(audit_entry::Column::At.gte(f));
    }
    if let Some(t) = to {
        sel = sel.filter(audit_entry::Column::At.lt(t));
    }
    if let Some((at, id)) = after {
        sel = sel.filter(
            Condition::any().add(audit_entry::Column::At.lt(at)).add(
                Condition::all()
                    .add(audit_entry::Column::At.eq(at))
                    .add(audit_entry::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = sel.limit(limit + 1).all(&ctx.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| {
            encode_cursor(&format!(
                "{}|{}",
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                e.id
            ))
        })
    } else {
        None
    };
    Ok(AuditPageOut {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}
