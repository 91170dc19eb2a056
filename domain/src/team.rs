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
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
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

/// The workspace's members, owners first, then by when they joined.
pub async fn members(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<MemberOut>> {
    let mut all: Vec<MemberOut> = user::Entity::find()
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .order_by_asc(user::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(MemberOut::of)
        .collect();
    all.sort_by_key(|m| match m.role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
    });
    Ok(all)
}

/// Sets a member's role (`owner`, `admin` or `member`). Demoting the last owner is 409
/// `last_owner`. A member demoted to `member` loses the API keys they created (keys act as
/// admin, which a member may not); one who may no longer invite (not an owner) loses the
/// pending invites they made. Setting the role they have changes nothing.
pub async fn change_role(
    ctx: &AppCtx,
    t: &TenantCtx,
    user_id: Uuid,
    role: &str,
) -> Result<MemberOut> {
    t.may(Action::ManageTeam)?;
    let role = parse_role("role", role, &[Role::Owner, Role::Admin, Role::Member])?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let u = find_member(&txn, t, user_id).await?;
    let from = Role::of(u.role).unwrap_or(Role::Member);
    if from == role {
        return Ok(MemberOut::of(u));
    }
    if from == Role::Owner && owners(&txn, t.tenant_id).await? <= 1 {
        return Err(last_owner());
    }
    let mut am: user::ActiveModel = u.clone().into();
    am.role = Set(role.stored());
    let u = am.update(&txn).await?;
    let keys = if role.allows(Action::ManageApiKeys) {
        0
    } else {
        revoke_keys_of(&txn, t.tenant_id, u.id, now).await?
    };
    // Their pending invites would still let people in on their say-so.
    let invites = if role.allows(Action::ManageTeam) {
        0
    } else {
        revoke_invites_of(&txn, t.tenant_id, u.id, now).await?
    };
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.role_changed", "user", u.id).details(serde_json::json!({
            "email": u.email, "from": from.as_str(), "to": role.as_str(), "api_keys_revoked": keys,
            "invites_revoked": invites,
        })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(MemberOut::of(u))
}

/// Removes a member from the workspace, or — when `user_id` is the caller — leaves it (any
/// role may leave). The last owner can do neither (409 `last_owner`). The account stays,
/// without a workspace; its sessions stop working at once, the API keys and pending invites
/// it created are revoked, and its owner links are deleted (in every process at once: no
/// notifications or code batches reach its Telegram chats again).
pub async fn remove_member(ctx: &AppCtx, t: &TenantCtx, user_id: Uuid) -> Result<()> {
    let leaving = t.actor.user_id == Some(user_id);
    if leaving {
        t.writable()?;
    } else {
        t.may(Action::ManageTeam)?;
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let u = find_member(&txn, t, user_id).await?;
    let role = Role::of(u.role).unwrap_or(Role::Member);
    if role == Role::Owner && owners(&txn, t.tenant_id).await? <= 1 {
        return Err(last_owner());
    }
    // Conditional on still being in this workspace, so a racing removal writes once.
    let gone = user::Entity::update_many()
        .col_expr(user::Column::TenantId, Expr::value(Option::<Uuid>::None))
        .col_expr(user::Column::Role, Expr::value(Role::Member.stored()))
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let mut linked_projects = vec![];
    if gone == 1 {
        let keys = revoke_keys_of(&txn, t.tenant_id, u.id, now).await?;
        let invites = revoke_invites_of(&txn, t.tenant_id, u.id, now).await?;
        linked_projects = drop_owner_links_of(&txn, t.tenant_id, u.id).await?;
        let action = if leaving {
            "team.member_left"
        } else {
            "team.member_removed"
        };
        audit::record(
            &txn,
            audit::Entry::creator(t, action, "user", u.id).details(serde_json::json!({
                "email": u.email, "role": role.as_str(), "api_keys_revoked": keys,
                "invites_revoked": invites, "owner_links_removed": linked_projects.len(),
            })),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    // Every process forgets those projects' cached owners (`facts::linked_owners`).
    for project_id in linked_projects {
        crate::telegram::registry::changed(ctx, project_id).await;
    }
    Ok(())
}

/// Makes another member the owner; the caller (an owner) becomes an admin.
pub async fn transfer_ownership(
    ctx: &AppCtx,
    t: &TenantCtx,
    to_user_id: Uuid,
) -> Result<MemberOut> {
    t.may(Action::ManageTeam)?;
    let Some(me) = t.actor.user_id else {
        return Err(Error::forbidden(
            "transfer_needs_member",
            "ownership is transferred by a signed-in owner",
        ));
    };
    if me == to_user_id {
        return Err(Error::field(
            "user_id",
            "already_owner",
            "you are the owner already; pick another member",
        ));
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let target = find_member(&txn, t, to_user_id).await?;
    let from_role = Role::of(target.role).unwrap_or(Role::Member);
    let mut am: user::ActiveModel = target.into();
    am.role = Set(Role::Owner.stored());
    let target = am.update(&txn).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(Role::Admin.stored()))
        .filter(user::Column::Id.eq(me))
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.ownership_transferred", "user", target.id).details(
            serde_json::json!({
                "to_email": target.email, "to_previous_role": from_role.as_str(),
                "from_user_id": me, "from_new_role": "admin",
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(MemberOut::of(target))
}

// --- invites --------------------------------------------------------------------------------

/// Invites `email` as `admin` or `member`: a one-time link valid [`INVITE_TTL_DAYS`] days,
/// returned here only (the database keeps its SHA-256).
pub async fn create_invite(
    ctx: &AppCtx,
    t: &TenantCtx,
    input: InviteIn,
) -> Result<InviteCreatedOut> {
    t.may(Action::ManageTeam)?;
    let mut errs = FieldErrors::default();
    let email = errs.check(validate::email("email", &input.email));
    let role = errs.check(parse_role(
        "role",
        &input.role,
        &[Role::Admin, Role::Member],
    ));
    errs.finish()?;
    let (email, role) = (email.unwrap(), role.unwrap());
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    if let Some(u) = accounts::find_user_by_email(&txn, &email).await?
        && u.tenant_id == Some(t.tenant_id)
    {
        return Err(
            Error::conflict(ALREADY_MEMBER, "this person is a member already").with_field("email"),
        );
    }
    let pending = team_invite::Entity::find()
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .filter(team_invite::Column::Email.eq(&email))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .count(&txn)
        .await?;
    if pending > 0 {
        return Err(Error::conflict(
            INVITE_PENDING,
            "this email has a pending invite; revoke it to send a new one",
        )
        .with_field("email"));
    }
    let token = random_token();
    let invite = team_invite::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        email: Set(email),
        role: Set(role.stored()),
        token_hash: Set(accounts::sha256_hex(&token)),
        invited_by: Set(t.actor.user_id),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITE_TTL_DAYS)),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.invite_created", "team_invite", invite.id).details(
            serde_json::json!({"email": invite.email, "role": role.as_str(), "expires_at": invite.expires_at}),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(InviteCreatedOut {
        url: format!("{}/invite/{token}", base_url(ctx)),
        token,
        invite: InviteOut::of(invite, now),
    })
}

/// Every invite of the workspace, newest first, with its status.
pub async fn list_invites(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<InviteOut>> {
    let now = ctx.now();
    Ok(team_invite::Entity::find()
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .order_by_desc(team_invite::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|i| InviteOut::of(i, now))
        .collect())
}

/// Revokes a pending invite; its link stops working at once. One that is no longer pending
/// is 409 `invite_not_pending`.
pub async fn revoke_invite(ctx: &AppCtx, t: &TenantCtx, invite_id: Uuid) -> Result<InviteOut> {
    t.may(Action::ManageTeam)?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let i = team_invite::Entity::find_by_id(invite_id)
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("invite"))?;
    let changed = team_invite::Entity::update_many()
        .col_expr(team_invite::Column::RevokedAt, Expr::value(now))
        .filter(team_invite::Column::Id.eq(i.id))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Err(Error::conflict(
            INVITE_NOT_PENDING,
            format!(
                "this invite is {} and cannot be revoked",
                InviteStatus::of(&i, now)
            ),
        ));
    }
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.invite_revoked", "team_invite", i.id)
            .details(serde_json::json!({"email": i.email})),
        now,
    )
    .await?;
    let i = team_invite::Entity::find_by_id(i.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("invite"))?;
    txn.commit().await?;
    Ok(InviteOut::of(i, now))
}

async fn invite_by_token(ctx: &AppCtx, token: &str) -> Result<team_invite::Model> {
    let not_found = || {
        Error::new(
            crate::ErrorKind::NotFound,
            INVITE_NOT_FOUND,
            "this invite link is not valid; check that it was copied whole",
        )
    };
    if token.is_empty() || token.len() > 128 {
        return Err(not_found());
    }
    team_invite::Entity::find()
        .filter(team_invite::Column::TokenHash.eq(accounts::sha256_hex(token)))
        .one(&ctx.db)
        .await?
        .ok_or_else(not_found)
}

/// What an invite link offers, for the accept page. Refused as [`accept`] would refuse it.
pub async fn preview_invite(ctx: &AppCtx, token: &str) -> Result<InvitePreview> {
    let i = invite_by_token(ctx, token).await?;
    if let Some(e) = InviteStatus::of(&i, ctx.now()).refusal() {
        return Err(e);
    }
    let workspace = tenant::Entity::find_by_id(i.tenant_id)
        .one(&ctx.db)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    Ok(InvitePreview {
        workspace,
        account_exists: accounts::find_user_by_email(&ctx.db, &i.email)
            .await?
            .is_some(),
        role: Role::of(i.role).unwrap_or(Role::Member),
        email: i.email,
    })
}

/// Accepts an invite with a password: when an account with the invite's email exists, the
/// password must be its own (counted by the login limits) and the account must belong to no
/// workspace; otherwise the account is created with this password. The invite is claimed by
/// one conditional update in the same transaction as the membership, so it works once even
/// when accepted twice at the same moment.
pub async fn accept(
    ctx: &AppCtx,
    token: &str,
    password: &str,
    client: std::net::IpAddr,
) -> Result<AcceptOut> {
    let i = invite_by_token(ctx, token).await?;
    if let Some(e) = InviteStatus::of(&i, ctx.now()).refusal() {
        return Err(e);
    }
    let role = Role::of(i.role).unwrap_or(Role::Member);
    let existing = accounts::find_user_by_email(&ctx.db, &i.email).await?;
    let (user_id, created, hash) = match existing {
        Some(_) => {
            let u = accounts::verify_credentials(ctx, &i.email, password, client).await?;
            if u.tenant_id == Some(i.tenant_id) {
                // Most likely this very invite, accepted a moment ago: say so if it was.
                let fresh = invite_by_token(ctx, token).await?;
                if let Some(e) = InviteStatus::of(&fresh, ctx.now()).refusal() {
                    return Err(e);
                }
                return Err(Error::conflict(
                    ALREADY_MEMBER,
                    "you are a member of this workspace already; log in instead",
                ));
            }
            if u.tenant_id.is_some() || Role::of(u.role).is_none() {
                return Err(Error::conflict(
                    OTHER_WORKSPACE,
                    "this account belongs to another workspace (an account has one); leave it first, or ask for an invite to another email",
                ));
            }
            (u.id, false, None)
        }
        None => {
            let password = validate::password("password", password)?;
            (
                Uuid::now_v7(),
                true,
                Some(accounts::hash_password(ctx, password).await?),
            )
        }
    };
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let claimed = team_invite::Entity::update_many()
        .col_expr(team_invite::Column::AcceptedAt, Expr::value(now))
        .filter(team_invite::Column::Id.eq(i.id))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        txn.rollback().await?;
        let fresh = team_invite::Entity::find_by_id(i.id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| Error::not_found("invite"))?;
        return Err(InviteStatus::of(&fresh, now)
            .refusal()
            .unwrap_or_else(|| Error::conflict(INVITE_USED, "this invite has been used already")));
    }
    match hash {
        Some(hash) => {
            user::ActiveModel {
                id: Set(user_id),
                tenant_id: Set(Some(i.tenant_id)),
                email: Set(i.email.clone()),
                password_hash: Set(hash),
                role: Set(role.stored()),
                created_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
                    "email_taken",
                    "an account with this email was just created; accept again to log in",
                ),
                _ => Error::from(e),
            })?;
        }
        None => {
            // Conditional: the account must still be without a workspace.
            let joined = user::Entity::update_many()
                .col_expr(user::Column::TenantId, Expr::value(i.tenant_id))
                .col_expr(user::Column::Role, Expr::value(role.stored()))
                .filter(user::Column::Id.eq(user_id))
                .filter(user::Column::TenantId.is_null())
                .exec(&txn)
                .await?
                .rows_affected;
            if joined == 0 {
                return Err(Error::conflict(
                    OTHER_WORKSPACE,
                    "this account joined another workspace meanwhile",
                ));
            }
        }
    }
    // Who accepted, now that the account row exists.
    team_invite::Entity::update_many()
        .col_expr(team_invite::Column::AcceptedBy, Expr::value(user_id))
        .filter(team_invite::Column::Id.eq(i.id))
        .exec(&txn)
        .await?;
    let member = TenantCtx {
        tenant_id: i.tenant_id,
        role,
        status: crate::tenancy::TenantStatus::Active,
        actor: Actor {
            user_id: Some(user_id),
            label: i.email.clone(),
        },
    };
    audit::record(
        &txn,
        audit::Entry::creator(&member, "team.member_joined", "user", user_id).details(
            serde_json::json!({
                "email": i.email, "role": role.as_str(), "invite_id": i.id,
                "account_created": created,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(AcceptOut {
        tenant_id: i.tenant_id,
        user_id,
        role,
        account_created: created,
        session: accounts::issue_session(ctx, user_id)?,
    })
}
