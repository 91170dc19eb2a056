//! Tenants: signup creates one (on the Free plan) with its owner; loading a tenant; whether
//! it is active (suspension as a write guard). The tenant context itself is in `tenancy`.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set, TransactionTrait};
use serde::Serialize;
use uuid::Uuid;

use entity::{tenant, user};

pub use crate::tenancy::{Actor, Role, TenantCtx, TenantStatus};
use crate::{
    AppCtx,
    accounts::{self, Session},
    error::{Error, FieldErrors, Result},
    tenancy::Denied,
    tiers::CreatorPlan,
    validate,
};

/// What signup returns: the new tenant, its owner and a session for them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignupOut {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    #[serde(flatten)]
    pub session: Session,
}

pub struct SignupIn {
    pub email: String,
    pub password: String,
    pub workspace: String,
    /// Where the request came from (`limits::client_ip`).
    pub client: std::net::IpAddr,
}

/// Creates a tenant on the Free plan, cycling monthly from now, and its owner.
///
/// Limited per client address (`SIGNUP_PER_ADDRESS_PER_HOUR`, 429 `too_many_attempts`):
/// the slot is taken before anything else is looked at, so the limit answers the same
/// whether or not the email has an account, and probing emails costs a slot each. The
/// password is hashed before the email is looked up, so both answers cost the same time.
pub async fn signup(ctx: &AppCtx, input: SignupIn) -> Result<SignupOut> {
    let key = format!("signup:{}", crate::limits::address_key(input.client));
    if let Err(retry) = crate::limits::take(
        &ctx.db,
        &key,
        ctx.config.signup_per_address_per_hour as u32,
        chrono::Duration::hours(1),
        ctx.now(),
    )
    .await?
    {
        return Err(Error::rate_limited(
            accounts::TOO_MANY_ATTEMPTS,
            "too many sign-ups from this address; try again later",
            retry,
        ));
    }
    let mut errs = FieldErrors::default();
    let email = errs.check(validate::email("email", &input.email));
    let password = errs.check(validate::password("password", &input.password));
    let workspace = errs.check(validate::name("workspace", &input.workspace));
    errs.finish()?;
    let (email, password, workspace) = (email.unwrap(), password.unwrap(), workspace.unwrap());

    let hash = accounts::hash_password(ctx, password).await?;
    let now = ctx.now();
    let tenant_id = Uuid::now_v7();
    let user_id = Uuid::now_v7();
    let txn = ctx.db.begin().await?;
    if accounts::find_user_by_email(&txn, &email).await?.is_some() {
        return Err(email_taken());
    }
    new_tenant(tenant_id, &workspace, now).insert(&txn).await?;
    user::ActiveModel {
        id: Set(user_id),
        tenant_id: Set(Some(tenant_id)),
        email: Set(email),
        password_hash: Set(hash),
        role: Set(Role::Owner.stored()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => email_taken(),
        _ => Error::from(e),
    })?;
    txn.commit().await?;
    let session = accounts::issue_session(ctx, user_id)?;
    Ok(SignupOut {
        tenant_id,
        user_id,
        session,
    })
}

fn email_taken() -> Error {
    Error::conflict("email_taken", "an account with this email already exists").with_field("email")
}

fn new_tenant(id: Uuid, name: &str, now: DateTime<Utc>) -> tenant::ActiveModel {
    let plan = CreatorPlan::Free;
    tenant::ActiveModel {
        id: Set(id),
        name: Set(name.to_string()),
        status: Set(TenantStatus::Active),
        suspended_reason: Set(None),
        billing_plan: Set(plan.as_str().into()),
        billing_status: Set(entity::tenant::BillingStatus::Active),
        past_due_since: Set(None),
        payment_event_at: Set(None),
        stripe_customer_id: Set(None),
        stripe_subscription_id: Set(None),
        cycle_start: Set(now),
        cycle_end: Set(plan.cycle_end(now)),
        created_at: Set(now),
    }
}

/// Loads a tenant by id (internal: callers already hold a context for it).
pub async fn load(ctx: &AppCtx, tenant_id: Uuid) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(tenant_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))
}

/// The workspace as the creator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantOut {
    pub id: Uuid,
    pub name: String,
    pub status: TenantStatus,
    pub suspended_reason: Option<String>,
    pub billing_plan: String,
    pub cycle_start: DateTime<Utc>,
    pub cycle_end: DateTime<Utc>,
}

impl From<tenant::Model> for TenantOut {
    fn from(t: tenant::Model) -> Self {
        TenantOut {
            id: t.id,
            status: t.status,
            name: t.name,
            suspended_reason: t.suspended_reason,
            billing_plan: t.billing_plan,
            cycle_start: t.cycle_start,
            cycle_end: t.cycle_end,
        }
    }
}

/// The signed-in creator as `GET /me` shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeOut {
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub role: Role,
    pub tenant: TenantOut,
}

pub async fn me(ctx: &AppCtx, t: &TenantCtx) -> Result<MeOut> {
    let tenant = load(ctx, t.tenant_id).await?;
    let email = match t.actor.user_id {
        Some(id) => user::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .map(|u| u.email),
        None => None,
    };
    Ok(MeOut {
        user_id: t.actor.user_id,
        email,
        role: t.role,
        tenant: tenant.into(),
    })
}

/// The error every edge shows for a suspended tenant's write (HTTP 403 `tenant_suspended`).
pub fn suspended() -> Error {
    Denied::TenantSuspended.into()
}

/// Whether the tenant is active right now, read from the database (not from a context resolved
/// earlier). The bot router calls this before answering a subscriber (a suspended tenant's bot
/// says the service is paused and grants nothing new) and workers call it before delivering
/// anything for a tenant. A tenant that no longer exists is not active.
pub async fn is_active(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<bool> {
    let status: Option<TenantStatus> = tenant::Entity::find_by_id(tenant_id)
        .select_only()
        .column(tenant::Column::Status)
        .into_tuple()
        .one(db)
        .await?;
    Ok(status == Some(TenantStatus::Active))
}

/// [`is_active`] as a guard: `Err(tenant_suspended)` unless the tenant is active.
pub async fn ensure_active(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<()> {
    if is_active(db, tenant_id).await? {
        Ok(())
    } else {
        Err(suspended())
    }
}
