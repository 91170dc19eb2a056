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
/// (`tenant_suspended`, `forbidden`, `staff_readonly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    TenantSuspended,
    AdminsOnly,
    StaffReadonly,
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
    /// Reads are always allowed; every write calls this first.
    pub fn writable(&self) -> Result<(), Denied> {
        match self.status {
            TenantStatus::Suspended => Err(Denied::TenantSuspended),
            TenantStatus::Active => Ok(()),
        }
    }

    /// Managing credentials is for owners and admins.
    pub fn admin(&self) -> Result<(), Denied> {
        match self.role {
            Role::Owner | Role::Admin => Ok(()),
            Role::Member => Err(Denied::AdminsOnly),
        }
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
