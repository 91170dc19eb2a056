//! Members of a project: its subscribers and their subscriptions (status, end dates), and
//! revoking one after a confirmation page.
use askama::Template;
use axum::extract::{Path, Query, State};
use domain::{
    AppCtx, plans, projects,
    projects::ProjectOut,
    subscriptions::{self, MemberFilter, SubscriptionOut, SubscriptionSource, SubscriptionStatus},
};

/// Subscriptions per page of the members page.
const PAGE: u64 = 100;
use uuid::Uuid;

use crate::{
    page::{self, Layout, WebResult},
    session::CreatorSession,
};

/// One subscription as the members page shows it.
pub struct MemberRow {
    pub id: Uuid,
    pub who: String,
    pub telegram_user_id: i64,
    pub plan: String,
    pub source: SubscriptionSource,
    pub status: SubscriptionStatus,
    pub starts: String,
    pub ends: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    l: Layout,
    p: ProjectOut,
    subscribers: u64,
    rows: Vec<MemberRow>,
    revoked: bool,
    plans: Vec<plans::PlanOut>,
    filters: Filters,
    /// The query of the next page, if there is one.
    next: Option<String>,
}

/// The filters as the form shows them (empty: not filtered).
#[derive(Default)]
pub struct Filters {
    pub plan_id: String,
    pub status: String,
    pub source: String,
}

impl Filters {
    pub fn any(&self) -> bool {
        !(self.plan_id.is_empty() && self.status.is_empty() && self.source.is_empty())
    }

    /// The filters as a query string (for the next page link).
    pub fn query(&self) -> String {
        [
            ("plan_id", &self.plan_id),
            ("status", &self.status),
            ("source", &self.source),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// The page's query: a notice after revoking, the filters (a bad value is ignored, as an
/// unknown option of the form would be) and the cursor.
#[derive(serde::Deserialize)]
pub struct Params {
    notice: Option<String>,
    plan_id: Option<String>,
    status: Option<String>,
    source: Option<String>,
    cursor: Option<Uuid>,
}

fn parse<T: serde::de::DeserializeOwned>(v: &Option<String>) -> Option<T> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| serde_json::from_value(serde_json::Value::String(s.to_string())).ok())
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let plans = plans::list(&ctx, &s.t, project_id).await?;
    let filter = MemberFilter {
        plan_id: parse(&q.plan_id),
        status: parse(&q.status),
        source: parse(&q.source),
        subscriber_id: None,
        cursor: q.cursor,
        limit: Some(PAGE),
    };
    let filters = Filters {
        plan_id: filter.plan_id.map(|v| v.to_string()).unwrap_or_default(),
        status: filter.status.map(|v| v.to_string()).unwrap_or_default(),
        source: filter.source.map(|v| v.to_string()).unwrap_or_default(),
    };
    let subscriber_count = subscriptions::subscriber_count(&ctx, &s.t, project_id).await?;
    let page = subscriptions::list(&ctx, &s.t, project_id, filter).await?;
    let subscribers = subscriptions::subscribers_by_id(
        &ctx,
        &s.t,
        project_id,
        page.items.iter().map(|sub| sub.subscriber_id).collect(),
    )
    .await?;
    let next = page.next_cursor.map(|c| {
        let f = filters.query();
        if f.is_empty() {
            format!("cursor={c}")
        } else {
            format!("{f}&cursor={c}")
        }
    });
    let rows = page
        .items
        .into_iter()
        .map(|sub| {
            let who = subscribers.iter().find(|m| m.id == sub.subscriber_id);
            MemberRow {
                id: sub.id,
                who: who
                    .map(|m| {
                        domain::subscriptions::display_name(&m.first_name, m.username.as_deref())
                    })
                    .unwrap_or_default(),
                telegram_user_id: who.map(|m| m.telegram_user_id).unwrap_or_default(),
                plan: plans
                    .iter()
                    .find(|pl| pl.id == sub.plan_id)
                    .map(|pl| pl.name.clone())
                    .unwrap_or_default(),
                source: sub.source,
                starts: page::when(&sub.starts_at),
                ends: page::when_or(&sub.ends_at, "never (lifetime)"),
                active: sub.status == SubscriptionStatus::Active,
                status: sub.status,
            }
        })
        .collect();
    Ok(page::ok(&MembersPage {
        l: Layout::creator(format!("Members · {}", p.name), &s),
        p,
        subscribers: subscriber_count,
        rows,
        revoked: q.notice.as_deref() == Some("revoked"),
        plans,
        filters,
        next,
    }))
}

#[derive(Template)]
#[template(path = "revoke_confirm.html")]
struct RevokePage {
    l: Layout,
    p: ProjectOut,
    sub: SubscriptionOut,
    ends: String,
}

pub async fn revoke_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, subscription_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let sub = subscriptions::get(&ctx, &s.t, project_id, subscription_id).await?;
    Ok(page::ok(&RevokePage {
        l: Layout::creator("Revoke subscription", &s),
        p,
        ends: page::when_or(&sub.ends_at, "never (lifetime)"),
        sub,
    }))
}

pub async fn revoke(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, subscription_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    subscriptions::revoke(&ctx, &s.t, project_id, subscription_id).await?;
    Ok(page::see_other(format!(
        "/projects/{project_id}/members?notice=revoked"
    )))
}
