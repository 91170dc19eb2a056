//! The members pages: subscribers and subscriptions by cursor, counts, and `/members` in the bot.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{access_code, activation, plan, subscriber, subscription};

use crate::{
    AppCtx,
    error::{Error, Result},
    projects,
    telegram::BotHandle,
    tenancy::TenantCtx,
};

use entity::subscription::{SubscriptionSource, SubscriptionStatus};

// --- the members pages of the API -------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberOut {
    pub id: Uuid,
    pub telegram_user_id: i64,
    pub username: Option<String>,
    pub first_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionOut {
    pub id: Uuid,
    pub subscriber_id: Uuid,
    pub plan_id: Uuid,
    pub source: SubscriptionSource,
    pub access_code_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub starts_at: DateTime<Utc>,
    /// Null for lifetime.
    pub ends_at: Option<DateTime<Utc>>,
    pub status: SubscriptionStatus,
    pub reminder_sent_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<subscription::Model> for SubscriptionOut {
    fn from(s: subscription::Model) -> Self {
        SubscriptionOut {
            id: s.id,
            subscriber_id: s.subscriber_id,
            plan_id: s.plan_id,
            source: s.source,
            access_code_id: s.access_code_id,
            price_minor: s.price_minor,
            currency: s.currency,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            status: s.status,
            reminder_sent_at: s.reminder_sent_at,
            ended_at: s.ended_at,
        }
    }
}

/// Filters and page of the subscribers and subscriptions lists: a subscriber is listed when
/// one of their subscriptions matches every filter given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberFilter {
    pub plan_id: Option<Uuid>,
    pub status: Option<SubscriptionStatus>,
    pub source: Option<SubscriptionSource>,
    /// Only this subscriber's subscriptions (the subscriptions list).
    pub subscriber_id: Option<Uuid>,
    /// The last id of the previous page.
    pub cursor: Option<Uuid>,
    /// 1–500, default 50.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberPage {
    pub items: Vec<SubscriberOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionPage {
    pub items: Vec<SubscriptionOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// The largest page of the members lists.
pub const MEMBERS_PAGE_MAX: u64 = 500;

/// The project's subscriptions matching `f` (cursor and limit aside).
fn matching_subscriptions(
    t: &TenantCtx,
    project_id: Uuid,
    f: &MemberFilter,
) -> sea_orm::Select<subscription::Entity> {
    use subscription::Column as C;
    let mut q = subscription::Entity::find()
        .filter(C::TenantId.eq(t.tenant_id))
        .filter(C::ProjectId.eq(project_id));
    if let Some(p) = f.plan_id {
        q = q.filter(C::PlanId.eq(p));
    }
    if let Some(st) = f.status {
        q = q.filter(C::Status.eq(st));
    }
    if let Some(so) = f.source {
        q = q.filter(C::Source.eq(so));
    }
    if let Some(sid) = f.subscriber_id {
        q = q.filter(C::SubscriberId.eq(sid));
    }
    q
}

/// Cuts a page fetched with one extra row: the rows to show and the next cursor.
fn page_of<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(&id);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Subscribers, newest first (ids are time-ordered), a page at a time.
pub async fn list_subscribers(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: MemberFilter,
) -> Result<SubscriberPage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, MEMBERS_PAGE_MAX);
    let mut q = subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id));
    if f.plan_id.is_some() || f.status.is_some() || f.source.is_some() {
        let with = matching_subscriptions(t, p.id, &f)
            .select_only()
            .column(subscription::Column::SubscriberId)
            .into_query();
        q = q.filter(subscriber::Column::Id.in_subquery(with));
    }
    if let Some(sid) = f.subscriber_id {
        q = q.filter(subscriber::Column::Id.eq(sid));
    }
    if let Some(c) = f.cursor {
        q = q.filter(subscriber::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(subscriber::Column::Id)
        .limit(limit + 1)
        .all(&ctx.db)
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |s| s.id);
    Ok(SubscriberPage {
        items: rows
            .into_iter()
            .map(|s| SubscriberOut {
                id: s.id,
                telegram_user_id: s.telegram_user_id,
                username: s.username,
                first_name: s.first_name,
                created_at: s.created_at,
            })
            .collect(),
        next_cursor,
    })
}

/// How a subscriber is named to creators: `First (@username)`, or the first name alone.
pub fn display_name(first_name: &str, username: Option<&str>) -> String {
    match username {
        Some(u) => format!("{first_name} (@{u})"),
        None => first_name.to_string(),
    }
}

/// How many subscribers the project has.
pub async fn subscriber_count(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<u64> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id))
        .count(&ctx.db)
        .await?)
}

/// Subscribers of the project by id (for naming them beside subscriptions and payments).
pub async fn subscribers_by_id(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<SubscriberOut>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::ProjectId.eq(p.id))
        .filter(subscriber::Column::Id.is_in(ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| SubscriberOut {
            id: s.id,
            telegram_user_id: s.telegram_user_id,
            username: s.username,
            first_name: s.first_name,
            created_at: s.created_at,
        })
        .collect())
}

/// Subscriptions, newest first (ids are time-ordered), a page at a time.
pub async fn list(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: MemberFilter,
) -> Result<SubscriptionPage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, MEMBERS_PAGE_MAX);
    let mut q = matching_subscriptions(t, p.id, &f);
    if let Some(c) = f.cursor {
        q = q.filter(subscription::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(subscription::Column::Id)
        .limit(limit + 1)
        .all(&ctx.db)
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |s| s.id);
    Ok(SubscriptionPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

/// One subscription of the project (another tenant's or project's is not found).
pub async fn get(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    subscription_id: Uuid,
) -> Result<SubscriptionOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?
        .into())
}

/// Redemptions on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCount {
    pub day: chrono::NaiveDate,
    pub count: i64,
}

/// Redemptions (activations) of the project's codes per UTC day over the last `days` days,
/// today included, oldest first; days without any are there with zero.
pub async fn redemptions_per_day(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    days: u32,
) -> Result<Vec<DayCount>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let days = days.clamp(1, 366);
    let today = ctx.now().date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
    // Counted by the database per UTC day: a row per day with redemptions, whatever their
    // number.
    #[derive(Debug, sea_orm::FromQueryResult)]
    struct Day {
        day: String,
        n: i64,
    }
    let until = (today + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let stmt = crate::daily::statement(
        ctx.db.get_database_backend(),
        REDEMPTIONS_BY_DAY,
        "a.at",
        [t.tenant_id.into(), p.id.into(), since.into(), until.into()],
    );
    let counted = <Day as sea_orm::FromQueryResult>::find_by_statement(stmt)
        .all(&ctx.db)
        .await?;
    let mut out: Vec<DayCount> = (0..i64::from(days))
        .map(|i| DayCount {
            day: first + Duration::days(i),
            count: 0,
        })
        .collect();
    for c in counted {
        let Ok(day) = chrono::NaiveDate::parse_from_str(&c.day, "%Y-%m-%d") else {
            continue;
        };
        let i = (day - first).num_days();
        if let Some(d) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            d.count += c.n;
        }
    }
    Ok(out)
}

/// Redemptions of a project's codes per UTC day in a window (parameters: tenant, project,
/// since, until).
const REDEMPTIONS_BY_DAY: &str = "SELECT {day} AS day, COUNT(*) AS n FROM activations a \
     WHERE a.tenant_id = {1} AND a.at >= {3} AND a.at < {4} \
     AND a.access_code_id IN (SELECT id FROM access_codes WHERE tenant_id = {1} AND project_id = {2}) \
     GROUP BY 1";

/// `/members` in the bot: active subscribers per plan and the latest activations.
#[derive(Debug, Clone, Serialize)]
pub struct MembersSummary {
    /// (plan name, active subscriptions), every plan of the project, most members first.
    pub per_plan: Vec<(String, u64)>,
    /// The latest activations, newest first.
    pub latest: Vec<RecentActivation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentActivation {
    pub who: String,
    pub code: Option<String>,
    pub plan: String,
    pub at: DateTime<Utc>,
}

/// Activations listed by `/members`.
pub const RECENT_ACTIVATIONS: u64 = 5;

/// Active subscribers per plan and the latest activations of the bot's project (for its
/// linked owners; the caller checks that).
pub async fn members_summary(ctx: &AppCtx, h: &BotHandle) -> Result<MembersSummary> {
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .all(&ctx.db)
        .await?;
    let active: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::PlanId)
        .filter(subscription::Column::ProjectId.eq(h.project_id))
        .filter(subscription::Column::TenantId.eq(h.tenant_id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut per_plan: Vec<(String, u64)> = plans
        .iter()
        .map(|p| {
            let n = active.iter().filter(|id| **id == p.id).count() as u64;
            (p.name.clone(), n)
        })
        .collect();
    per_plan.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let codes = access_code::Entity::find()
        .select_only()
        .column(access_code::Column::Id)
        .filter(access_code::Column::ProjectId.eq(h.project_id))
        .into_query();
    let recent = activation::Entity::find()
        .filter(activation::Column::TenantId.eq(h.tenant_id))
        .filter(activation::Column::AccessCodeId.in_subquery(codes))
        .order_by_desc(activation::Column::At)
        .order_by_desc(activation::Column::Id)
        .limit(RECENT_ACTIVATIONS)
        .all(&ctx.db)
        .await?;
    let mut latest = Vec::with_capacity(recent.len());
    for a in recent {
        let who = subscriber::Entity::find_by_id(a.subscriber_id)
            .one(&ctx.db)
            .await?;
        let code = access_code::Entity::find_by_id(a.access_code_id)
            .one(&ctx.db)
            .await?;
        latest.push(RecentActivation {
            who: who
                .map(|s| match s.username {
                    Some(u) => format!("{} (@{u})", s.first_name),
                    None => s.first_name,
                })
                .unwrap_or_default(),
            plan: code
                .as_ref()
                .and_then(|c| plans.iter().find(|p| p.id == c.plan_id))
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            code: code.map(|c| c.code),
            at: a.at,
        });
    }
    Ok(MembersSummary { per_plan, latest })
}
