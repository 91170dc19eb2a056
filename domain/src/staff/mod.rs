//! Staff operations on tenants: finding them, seeing their usage, suspending and unsuspending,
//! granting quota for the current cycle, overriding the plan, and reading the audit log.
//!
//! Rules that hold for every function here:
//! - Every function takes a [`StaffCtx`], so only an authenticated staff member reaches it.
//!   `staff_readonly` may call the reads; every action calls [`StaffCtx::can_act`] first, so
//!   a read-only member is refused before any input is looked at and nothing changes.
//! - Every action writes exactly one audit entry (actor, tenant, target, details) in the same
//!   transaction as the change, so there is never a change without its entry or an entry
//!   without its change. A request that changes nothing (a plan set to the plan the tenant
//!   already has) writes none. Reads are not actions and are not audited.
//! - Plan override keeps the cycle: `cycle_start`/`cycle_end` stay as they are, and from the
//!   moment of the override the new plan's free quota (plus this cycle's grants) is the limit
//!   for the rest of the cycle; codes already counted this cycle stay counted. The next cycle
//!   has the new plan's length. Tenants billed through a Stripe subscription are refused
//!   (`stripe_managed`): their plan follows Stripe, which would undo the override.
//!
//! By use case: [`tenants`] (search and detail), [`actions`] (suspension, quota grants, plan
//! override: the audited writes), [`audit_log`] (reading the audit log).

mod actions;
mod audit_log;
mod tenants;

pub use actions::*;
pub use audit_log::*;
pub use tenants::*;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, Query},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{
    audit_entry, bot, project, quota_grant, subscriber, subscription,
    subscription::SubscriptionStatus, tenant, tenant::BillingStatus, user,
};

use crate::{
    AppCtx,
    accounts::StaffCtx,
    audit,
    error::{Error, FieldErrors, Result},
    quota::{self, QuotaUsage},
    tenants::{Role, TenantOut, TenantStatus},
    tiers::CreatorPlan,
};

pub const REASON_MAX: usize = 500;
/// Page size when none is asked for, and the largest page served.
pub const PAGE_DEFAULT: u64 = 50;
pub const PAGE_MAX: u64 = 200;
/// Bounds of one quota grant, in codes.
pub const GRANT_MIN: i64 = 1;
pub const GRANT_MAX: i64 = 100_000;
/// Longest tenant search string (the longest email address).
pub const SEARCH_MAX: usize = 254;

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

/// An optional reason: absent or blank is none; otherwise it must be a valid reason.
fn optional_reason(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => reason(r).map(Some),
    }
}

async fn load(db: &impl ConnectionTrait, id: Uuid) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))
}

fn staff_entry(
    s: &StaffCtx,
    tenant_id: Uuid,
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    details: serde_json::Value,
) -> audit::Entry {
    let actor = s.actor();
    audit::Entry {
        actor_user_id: actor.user_id,
        actor: actor.label,
        tenant_id: Some(tenant_id),
        action,
        target_type,
        target_id: Some(target_id),
        details,
    }
}

// --- cursors and page sizes -----------------------------------------------------------------

/// Cursors are opaque to clients: the sort key of the last row served, base64url-encoded.
fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(raw: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_cursor)
}

fn invalid_cursor() -> Error {
    Error::field(
        "cursor",
        "invalid_cursor",
        "pass back a next_cursor from a previous page",
    )
}

fn page_limit(raw: Option<&str>) -> Result<u64> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(PAGE_DEFAULT);
    };
    match raw.parse::<u64>() {
        Ok(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        _ => Err(Error::field(
            "limit",
            "out_of_range",
            format!("must be a whole number from 1 to {PAGE_MAX}"),
        )),
    }
}

/// `%term%` for a case-insensitive LIKE, with the wildcards of the term itself escaped.
fn contains_pattern(term: &str) -> LikeExpr {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}
