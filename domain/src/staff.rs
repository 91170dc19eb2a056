//! Staff operations on tenants. Every action here writes one audit entry, and `staff_readonly`
//! is refused before anything changes.
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
use uuid::Uuid;

use entity::tenant;

use crate::{
    AppCtx,
    accounts::StaffCtx,
    audit,
    error::{Error, Result},
    tenants::{TenantOut, TenantStatus},
};

pub const REASON_MAX: usize = 500;

fn reason(raw: &str) -> Result<String> {
    let r = raw.trim();
    if r.is_empty() || r.chars().count() > REASON_MAX {
        return Err(Error::field(
            "reason",
            "invalid_reason",
            format!("give a reason of 1–{REASON_MAX} characters"),
        ));
    }
    Ok(r.to_string())
}

async fn load(ctx: &AppCtx, id: Uuid) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))
}

/// Suspends a tenant: its writes are refused, its bots pause, workers deliver nothing for it.
/// Existing subscriptions keep running out normally.
pub async fn suspend(ctx: &AppCtx, s: &StaffCtx, tenant_id: Uuid, why: &str) -> Result<TenantOut> {
    s.can_act()?;
    let why = reason(why)?;
    set_status(ctx, s, tenant_id, TenantStatus::Suspended, Some(why)).await
}

/// Lifts a suspension; nothing was lost while suspended.
pub async fn unsuspend(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    why: &str,
) -> Result<TenantOut> {
    s.can_act()?;
    let why = if why.trim().is_empty() {
        "unsuspended".to_string()
    } else {
        reason(why)?
    };
    set_status(ctx, s, tenant_id, TenantStatus::Active, Some(why)).await
}

async fn set_status(
    ctx: &AppCtx,
    s: &StaffCtx,
    tenant_id: Uuid,
    status: TenantStatus,
    why: Option<String>,
) -> Result<TenantOut> {
    let t = load(ctx, tenant_id).await?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let mut am = t.into_active_model();
    am.status = Set(status.as_str().into());
    am.suspended_reason = Set(if status == TenantStatus::Suspended {
        why.clone()
    } else {
        None
    });
    let t = am.update(&txn).await?;
    let actor = s.actor();
    audit::record(
        &txn,
        audit::Entry {
            actor_user_id: actor.user_id,
            actor: actor.label,
            tenant_id: Some(tenant_id),
            action: if status == TenantStatus::Suspended {
                "tenant.suspended"
            } else {
                "tenant.unsuspended"
            },
            target_type: "tenant",
            target_id: Some(tenant_id.to_string()),
            details: serde_json::json!({"reason": why}),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(t.into())
}
