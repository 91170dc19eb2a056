//! Finding tenants and seeing one in full: search by name, member email, bot username or id,
//! newest first, by cursor; a tenant's plan, status, usage, projects, bots and members.

use super::*;

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
