//! The team of a workspace: its members and their roles, one-time invites (7 days, only the
//! token's SHA-256 stored, shown once, revocable), accepting one (a new account, or an
//! existing account without a workspace), changing roles, removing members and transferring
//! ownership. The last owner can never leave, be removed or be demoted. Every change writes
//! one audit entry in the same transaction.
//!
//! An account belongs to at most one workspace (`users.tenant_id`). Removing a member detaches
//! the account (`tenant_id` NULL) and revokes the API keys it created; since every request
//! resolves its credential against the user's row (`accounts::principal_for_user`), the
//! removed member's sessions stop working on their next request, in every process.
mod invites;
mod members;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
pub use invites::*;
pub use members::*;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::{api_key, owner_link, team_invite, tenant, user};

use crate::{
    AppCtx, accounts,
    accounts::Session,
    audit,
    error::{Error, FieldErrors, Result},
    tenancy::{Action, Actor, Role, TenantCtx},
    validate,
};

/// How long an invite link works.
pub const INVITE_TTL_DAYS: i64 = 7;

/// No invite has this token (404).
pub const INVITE_NOT_FOUND: &str = "invite_not_found";
/// The invite is older than [`INVITE_TTL_DAYS`] (409).
pub const INVITE_EXPIRED: &str = "invite_expired";
/// The invite was accepted already; links work once (409).
pub const INVITE_USED: &str = "invite_used";
/// An owner revoked the invite (409).
pub const INVITE_REVOKED: &str = "invite_revoked";
/// Revoking an invite that is no longer pending (409).
pub const INVITE_NOT_PENDING: &str = "invite_not_pending";
/// A pending invite for this email exists; revoke it first (409).
pub const INVITE_PENDING: &str = "invite_pending";
/// The account is already a member of this workspace (409).
pub const ALREADY_MEMBER: &str = "already_member";
/// The account belongs to another workspace (an account has one workspace) (409).
pub const OTHER_WORKSPACE: &str = "account_in_other_workspace";
/// The workspace would be left without an owner (409).
pub const LAST_OWNER: &str = "last_owner";

/// What an invite is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InviteStatus {
    fn of(i: &team_invite::Model, now: DateTime<Utc>) -> Self {
        if i.accepted_at.is_some() {
            InviteStatus::Accepted
        } else if i.revoked_at.is_some() {
            InviteStatus::Revoked
        } else if i.expires_at <= now {
            InviteStatus::Expired
        } else {
            InviteStatus::Pending
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InviteStatus::Pending => "pending",
            InviteStatus::Accepted => "accepted",
            InviteStatus::Revoked => "revoked",
            InviteStatus::Expired => "expired",
        }
    }

    /// Why an invite in this state cannot be accepted.
    fn refusal(self) -> Option<Error> {
        match self {
            InviteStatus::Pending => None,
            InviteStatus::Accepted => Some(Error::conflict(
                INVITE_USED,
                "this invite has been used already; ask the workspace owner for a new one",
            )),
            InviteStatus::Revoked => Some(Error::conflict(
                INVITE_REVOKED,
                "this invite was revoked by the workspace owner",
            )),
            InviteStatus::Expired => Some(Error::conflict(
                INVITE_EXPIRED,
                "this invite has expired (invites work for 7 days); ask for a new one",
            )),
        }
    }
}

impl std::fmt::Display for InviteStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of the workspace.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberOut {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
}

impl MemberOut {
    fn of(u: user::Model) -> Self {
        MemberOut {
            user_id: u.id,
            email: u.email,
            role: Role::of(u.role).unwrap_or(Role::Member),
        }
    }
}

/// An invite as owners see it (never its token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InviteOut {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: InviteStatus,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InviteOut {
    fn of(i: team_invite::Model, now: DateTime<Utc>) -> Self {
        InviteOut {
            status: InviteStatus::of(&i, now),
            id: i.id,
            email: i.email,
            role: Role::of(i.role).unwrap_or(Role::Member),
            invited_by: i.invited_by,
            created_at: i.created_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            revoked_at: i.revoked_at,
        }
    }
}

/// A freshly made invite: the link is in this answer and nowhere else, ever.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InviteCreatedOut {
    #[serde(flatten)]
    pub invite: InviteOut,
    /// The one-time token (also the last part of `url`).
    pub token: String,
    /// The page where the invitee accepts: `<PUBLIC_URL>/invite/<token>`.
    pub url: String,
}

pub struct InviteIn {
    pub email: String,
    /// `admin` or `member` (owners are made by promotion or transfer).
    pub role: String,
}

/// What the accept page shows before the invitee decides (public, by token).
#[derive(Debug, Clone, Serialize)]
pub struct InvitePreview {
    pub workspace: String,
    pub email: String,
    pub role: Role,
    /// An account with this email exists: accepting logs in; otherwise it signs up.
    pub account_exists: bool,
}

/// Accepting an invite: a session for the member and what they joined.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AcceptOut {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    /// True when accepting created the account (false: an existing account logged in).
    pub account_created: bool,
    #[serde(flatten)]
    pub session: Session,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Where pages link to: the public URL, or the listen address.
fn base_url(ctx: &AppCtx) -> String {
    ctx.config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", ctx.config.bind))
        .trim_end_matches('/')
        .to_string()
}

fn parse_role(field: &str, raw: &str, allowed: &[Role]) -> Result<Role> {
    match Role::parse(raw.trim()) {
        Some(r) if allowed.contains(&r) => Ok(r),
        _ => Err(Error::field(
            field,
            "invalid_role",
            format!(
                "must be one of: {}",
                allowed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Takes the tenant row's write lock for the rest of the transaction (a no-op update; on
/// SQLite it takes the write lock up front), so two role changes racing cannot both see a
/// second owner and leave none.
async fn lock_tenant(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<()> {
    tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, Expr::col(tenant::Column::Status))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn find_member(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    user_id: Uuid,
) -> Result<user::Model> {
    user::Entity::find_by_id(user_id)
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("member"))
}

async fn owners(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Role.eq(Role::Owner.stored()))
        .count(db)
        .await?)
}

fn last_owner() -> Error {
    Error::conflict(
        LAST_OWNER,
        "a workspace needs an owner: make someone else owner first",
    )
}

/// Revokes the API keys a user created in the tenant; how many.
async fn revoke_keys_of(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .filter(api_key::Column::CreatedBy.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

// --- members --------------------------------------------------------------------------------

/// Revokes the pending invites `user_id` made in the workspace (they were removed, or may no
/// longer invite); returns how many.
async fn revoke_invites_of(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(team_invite::Entity::update_many()
        .col_expr(team_invite::Column::RevokedAt, Expr::value(now))
        .filter(team_invite::Column::TenantId.eq(tenant_id))
        .filter(team_invite::Column::InvitedBy.eq(user_id))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes the owner links `user_id` made in the workspace; returns the projects they were
/// linked to (whose cached owners every process must forget once this commits).
async fn drop_owner_links_of(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<Uuid>> {
    let mut projects: Vec<Uuid> = owner_link::Entity::find()
        .select_only()
        .column(owner_link::Column::ProjectId)
        .filter(owner_link::Column::TenantId.eq(tenant_id))
        .filter(owner_link::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    projects.sort_unstable();
    projects.dedup();
    owner_link::Entity::delete_many()
        .filter(owner_link::Column::TenantId.eq(tenant_id))
        .filter(owner_link::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(projects)
}
