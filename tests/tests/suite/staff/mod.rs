//! Staff operations: role boundaries on every staff route, suspension through the API, search,
//! tenant detail, quota grants, plan overrides, and the audit log (one entry per action,
//! filters, paging, and no way to edit or delete it).
use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::accounts::StaffRole;
use entity::audit_entry;
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{PASSWORD, StaffMember, assert_field_error, monthly_plan, unique_email, urlencode},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

mod access;
mod audit;
mod quota;
mod tenants;

// --- helpers --------------------------------------------------------------------------------

/// A unique word to find this test's tenants among everyone else's in the shared database.
fn token() -> String {
    format!("tok{}", &Uuid::new_v4().simple().to_string()[..10])
}

async fn signup_named(app: &TestApp, workspace: &str) -> Creator {
    let email = unique_email("creator");
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "workspace": workspace})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Creator {
        email,
        tenant_id: b["tenant_id"].as_str().unwrap().parse().unwrap(),
        token: b["token"].as_str().unwrap().to_string(),
    }
}

/// A bot row as the bots area will store it (connecting real bots lands elsewhere).
async fn insert_bot(app: &TestApp, c: &Creator, project_id: &str, username: &str) -> Uuid {
    let id = Uuid::now_v7();
    entity::bot::ActiveModel {
        id: Set(id),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id.parse().unwrap()),
        telegram_bot_id: Set((Uuid::new_v4().as_u128() as i64).abs()),
        username: Set(username.to_string()),
        token_encrypted: Set("sealed".into()),
        webhook_secret: Set("secret".into()),
        mode: Set("polling".into()),
        created_at: Set(app.ctx.now()),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    id
}

/// A finished code batch counted in `cycle_start`, as the codes area will record one.
async fn insert_batch(
    app: &TestApp,
    c: &Creator,
    project_id: &str,
    plan_id: &str,
    free: i32,
    overage: i32,
    cycle_start: DateTime<Utc>,
) {
    app.insert_done_batch(
        c,
        project_id,
        plan_id,
        (free, overage),
        cycle_start,
        entity::code_batch::DeliveryState::Sent,
    )
    .await;
}

async fn insert_subscriber(
    app: &TestApp,
    c: &Creator,
    project_id: &str,
    plan_id: &str,
    subscription: Option<(&str, Option<DateTime<Utc>>)>,
) {
    let now = app.ctx.now();
    let id = Uuid::now_v7();
    entity::subscriber::ActiveModel {
        id: Set(id),
        tenant_id: Set(c.tenant_id),
        project_id: Set(project_id.parse().unwrap()),
        telegram_user_id: Set((Uuid::new_v4().as_u128() as i64).abs()),
        username: Set(None),
        first_name: Set("Ann".into()),
        created_at: Set(now),
        blocked_at: Set(None),
        language_code: Set(None),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    if let Some((status, ends_at)) = subscription {
        entity::subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id),
            project_id: Set(project_id.parse().unwrap()),
            subscriber_id: Set(id),
            plan_id: Set(plan_id.parse().unwrap()),
            source: Set(entity::subscription::SubscriptionSource::AccessCode),
            access_code_id: Set(None),
            price_minor: Set(0),
            currency: Set("USD".into()),
            starts_at: Set(now - Duration::days(1)),
            ends_at: Set(ends_at),
            status: Set(sea_orm::ActiveEnum::try_from_value(&status.to_string()).unwrap()),
            reminder_sent_at: Set(None),
            retention_offered_at: Set(None),
            ended_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.ctx.db)
        .await
        .unwrap();
    }
}

async fn audit_of(app: &TestApp, tenant: Uuid) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::TenantId.eq(tenant))
        .order_by_asc(audit_entry::Column::At)
        .order_by_asc(audit_entry::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap()
}

fn tenant_path(id: Uuid, rest: &str) -> String {
    format!("/api/v1/staff/tenants/{id}{rest}")
}

/// Every staff route with a valid body, as (method, path, body).
fn staff_routes(tenant: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/staff/tenants".into(), None),
        (Method::GET, tenant_path(tenant, ""), None),
        (
            Method::POST,
            tenant_path(tenant, "/suspend"),
            Some(json!({"reason": "abuse report"})),
        ),
        (
            Method::POST,
            tenant_path(tenant, "/unsuspend"),
            Some(json!({})),
        ),
        (
            Method::POST,
            tenant_path(tenant, "/quota-grants"),
            Some(json!({"codes": 10})),
        ),
        (
            Method::PUT,
            tenant_path(tenant, "/plan"),
            Some(json!({"plan": "growth_monthly"})),
        ),
        (Method::GET, "/api/v1/staff/audit".into(), None),
        (
            Method::GET,
            "/api/v1/staff/billing/usage-records?status=failed".into(),
            None,
        ),
    ]
}

/// A new session for a staff member, for after the test clock has run past the old one.
async fn relogin(app: &TestApp, s: &StaffMember) -> String {
    domain::accounts::login(
        &app.ctx,
        &s.ctx.email,
        PASSWORD,
        std::net::Ipv4Addr::LOCALHOST.into(),
    )
    .await
    .unwrap()
    .token
}

async fn usage(app: &TestApp, tenant: Uuid) -> domain::quota::QuotaUsage {
    domain::quota::usage(&app.ctx, tenant).await.unwrap()
}

// --- search, list, detail -------------------------------------------------------------------

async fn search(app: &TestApp, s: &StaffMember, query: &str) -> Vec<Uuid> {
    let (st, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/tenants?{query}"),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

// --- audit log ------------------------------------------------------------------------------

async fn audit_page(app: &TestApp, s: &StaffMember, query: &str) -> Value {
    let (st, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/staff/audit?{query}"),
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{query}: {page}");
    page
}

fn actions_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}
