//! The audit log: append-only entries for every staff action and every destructive creator
//! action. There is deliberately no update or delete here, and no route offers one.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use entity::audit_entry;

use crate::{error::Result, tenancy::TenantCtx};

pub struct Entry {
    pub actor_user_id: Option<Uuid>,
    pub actor: String,
    pub tenant_id: Option<Uuid>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
}

impl Entry {
    /// An action a creator took in their own tenant.
    pub fn creator(
        t: &TenantCtx,
        action: &'static str,
        target_type: &'static str,
        target: Uuid,
    ) -> Self {
        Entry {
            actor_user_id: t.actor.user_id,
            actor: t.actor.label.clone(),
            tenant_id: Some(t.tenant_id),
            action,
            target_type,
            target_id: Some(target.to_string()),
            details: serde_json::json!({}),
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends one entry, inside the caller's transaction when given one.
pub async fn record(db: &impl ConnectionTrait, e: Entry, at: DateTime<Utc>) -> Result<()> {
    audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_user_id: Set(e.actor_user_id),
        actor: Set(e.actor),
        tenant_id: Set(e.tenant_id),
        action: Set(e.action.to_string()),
        target_type: Set(e.target_type.to_string()),
        target_id: Set(e.target_id),
        details: Set(e.details),
        at: Set(at),
    }
    .insert(db)
    .await?;
    Ok(())
}
