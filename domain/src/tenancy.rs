//! Who is acting, and for which tenant: the tenant context every tenant-scoped service takes
//! first, creator and staff roles, the actor recorded in the audit log. A leaf: it imports
//! nothing of the domain, so every other module can depend on it.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use entity::tenant::TenantStatus;
use entity::user::UserRole;

/// Creator role within a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// The creator role a stored user role stands for (`None` for staff).
    pub fn of(r: UserRole) -> Option<Self> {
        match r {
            UserRole::Owner => Some(Role::Owner),
            UserRole::Admin => Some(Role::Admin),
            UserRole::Member => Some(Role::Member),
            UserRole::Staff | UserRole::StaffReadonly => None,
        }
    }

    pub fn stored(self) -> UserRole {
        match self {
            Role::Owner => UserRole::Owner,
            Role::Admin => UserRole::Admin,
            Role::Member => UserRole::Member,
        }
    }
}

/// Platform staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Staff,
    StaffReadonly,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Staff => "staff",
            StaffRole::StaffReadonly => "staff_readonly",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "staff" => Some(StaffRole::Staff),
            "staff_readonly" => Some(StaffRole::StaffReadonly),
            _ => None,
        }
    }

    /// The staff role a stored user role stands for (`None` for creators).
    pub fn of(r: UserRole) -> Option<Self> {
        match r {
            UserRole::Staff => Some(StaffRole::Staff),
            UserRole::StaffReadonly => Some(StaffRole::StaffReadonly),
            UserRole::Owner | UserRole::Admin | UserRole::Member => None,
        }
    }

    pub fn stored(self) -> UserRole {
        match self {
            StaffRole::Staff => UserRole::Staff,
            StaffRole::StaffReadonly => UserRole::StaffReadonly,
        }
    }
}

/// Who is acting, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub label: String,
}

/// Why a context may not do something; `domain::Error` turns each into its stable code
/// (`tenant_suspended`, `forbidden_role` with the role needed, `staff_readonly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    TenantSuspended,
    /// The creator's role is below what the action needs.
    Role {
        required: Role,
        actual: Role,
    },
    StaffReadonly,
}

/// Everything a creator can change, each with the least role that may do it: the one table
/// of who may do what (docs/decisions/team.md shows the same table). Reading is not
/// in it: every role reads everything in its workspace. Every domain write calls
/// [`TenantCtx::may`] with its action before it reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Code batches (and their preview), in the dashboard, the API and the bot.
    GenerateCodes,
    /// Linking one's own Telegram account to a project's bot, and unlinking one's own link.
    LinkOwnTelegram,
    /// Creating, changing and deleting projects and their settings.
    ManageProjects,
    /// Connecting and disconnecting bots; unlinking anyone's owner Telegram account.
    ManageBots,
    ManagePlans,
    ManageChannels,
    /// Deleting and rolling back codes.
    ManageCodes,
    /// Revoking subscriptions and refunding Stars payments (both take time away).
    ManageSubscriptions,
    ManageApiKeys,
    /// Outgoing webhook endpoints.
    ManageWebhooks,
    /// The creator plan: Stripe Checkout and the billing portal.
    ManageBilling,
    /// Invites, roles, removing members, transferring ownership.
    ManageTeam,
    /// Creating, sending and canceling broadcasts to subscribers.
    SendBroadcasts,
}

impl Action {
    /// Every action, in the order docs/decisions/team.md lists them.
    pub const ALL: &[Action] = &[
        Action::GenerateCodes,
        Action::LinkOwnTelegram,
        Action::ManageProjects,
        Action::ManageBots,
        Action::ManagePlans,
        Action::ManageChannels,
        Action::ManageCodes,
        Action::ManageSubscriptions,
        Action::ManageApiKeys,
        Action::ManageWebhooks,
        Action::ManageBilling,
        Action::ManageTeam,
        Action::SendBroadcasts,
    ];

    /// The table: the least role allowed to do this.
    pub const fn min_role(self) -> Role {
        match self {
            Action::GenerateCodes | Action::LinkOwnTelegram => Role::Member,
            Action::ManageProjects
            | Action::ManageBots
            | Action::ManagePlans
            | Action::ManageChannels
            | Action::ManageCodes
            | Action::ManageSubscriptions
            | Action::ManageApiKeys
            | Action::ManageWebhooks
            | Action::SendBroadcasts => Role::Admin,
            Action::ManageBilling | Action::ManageTeam => Role::Owner,
        }
    }
}

impl Role {
    /// Higher is more: member < admin < owner.
    const fn rank(self) -> u8 {
        match self {
            Role::Member => 0,
            Role::Admin => 1,
            Role::Owner => 2,
        }
    }

    /// Whether this role is `other` or above it.
    pub const fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// Whether this role may do `action` (the table, without the suspension check).
    pub const fn allows(self, action: Action) -> bool {
        self.at_least(action.min_role())
    }
}

/// The tenant a request acts for, resolved once per request by the edge's authentication.
/// Every tenant-scoped service method takes it first and filters by `tenant_id`.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    pub tenant_id: Uuid,
    pub role: Role,
    pub status: TenantStatus,
    pub actor: Actor,
}

impl TenantCtx {
    /// Reads are always allowed; every write calls this (through [`TenantCtx::may`]) first.
    pub fn writable(&self) -> Result<(), Denied> {
        match self.status {
            TenantStatus::Suspended => Err(Denied::TenantSuspended),
            TenantStatus::Active => Ok(()),
        }
    }

    /// The one check of every write: the role table ([`Action::min_role`]), then the
    /// suspension (a suspended workspace changes nothing, whatever the role).
    pub fn may(&self, action: Action) -> Result<(), Denied> {
        let required = action.min_role();
        if !self.role.at_least(required) {
            return Err(Denied::Role {
                required,
                actual: self.role,
            });
        }
        self.writable()
    }
}

/// A staff member acting on the platform.
#[derive(Debug, Clone)]
pub struct StaffCtx {
    pub user_id: Uuid,
    pub email: String,
    pub role: StaffRole,
}

impl StaffCtx {
    /// `staff_readonly` may look but not act.
    pub fn can_act(&self) -> Result<(), Denied> {
        match self.role {
            StaffRole::Staff => Ok(()),
            StaffRole::StaffReadonly => Err(Denied::StaffReadonly),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: format!("staff:{}", self.email),
        }
    }
}

/// Who a request acts as.
#[derive(Debug, Clone)]
pub enum Principal {
    Creator(TenantCtx),
    Staff(StaffCtx),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
