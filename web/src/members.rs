//! Members of a project: its subscribers and their subscriptions (status, end dates), and
//! revoking one after a confirmation page.
use askama::Template;
use axum::extract::{Path, Query, State};
use domain::{
    AppCtx, plans, projects,
    projects::ProjectOut,
    subscriptions::{self, SubscriptionOut, SubscriptionSource, SubscriptionStatus},
};
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
    subscribers: usize,
    rows: Vec<MemberRow>,
    revoked: bool,
}

#[derive(serde::Deserialize)]
pub struct Params {
    notice: Option<String>,
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let subscribers = subscriptions::list_subscribers(&ctx, &s.t, project_id).await?;
    let plans = plans::list(&ctx, &s.t, project_id).await?;
    let rows = subscriptions::list(&ctx, &s.t, project_id)
        .await?
        .into_iter()
        .map(|sub| {
            let who = subscribers.iter().find(|m| m.id == sub.subscriber_id);
            MemberRow {
                id: sub.id,
                who: who
                    .map(|m| match &m.username {
                        Some(u) => format!("{} (@{u})", m.first_name),
                        None => m.first_name.clone(),
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
        subscribers: subscribers.len(),
        rows,
        revoked: q.notice.as_deref() == Some("revoked"),
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
