//! Reading the audit log: filters by tenant, action, actor and time, newest first, by cursor.

use super::*;

// --- audit log ------------------------------------------------------------------------------

/// Query of `GET /staff/audit`. Values arrive as text and are checked here.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditSearchIn {
    /// Entries about this tenant.
    #[param(value_type = Option<Uuid>)]
    pub tenant_id: Option<String>,
    /// Exact action, e.g. `tenant.suspended`, `project.deleted`.
    pub action: Option<String>,
    /// A user id (exact), or part of the actor label (`staff:<email>`, a creator's email,
    /// `api_key:<prefix>`), case-insensitive.
    pub actor: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryOut {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who acted: `staff:<email>`, a creator's email, `api_key:<prefix>`, `system:cli`.
    pub actor: String,
    pub actor_user_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<audit_entry::Model> for AuditEntryOut {
    fn from(e: audit_entry::Model) -> Self {
        AuditEntryOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_user_id: e.actor_user_id,
            tenant_id: e.tenant_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: e.details,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPageOut {
    pub items: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn timestamp(field: &str, raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::field(
                field,
                "invalid_timestamp",
                "must be an RFC 3339 timestamp, e.g. 2026-11-21T00:00:00Z",
            )
        })
}

fn non_blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The audit log, newest first, filtered by tenant, action, actor and time window.
pub async fn list_audit(ctx: &AppCtx, _s: &StaffCtx, input: AuditSearchIn) -> Result<AuditPageOut> {
    let mut errs = FieldErrors::default();
    let limit = errs.check(page_limit(input.limit.as_deref()));
    let tenant_id = non_blank(&input.tenant_id).and_then(|v| {
        errs.check(
            Uuid::parse_str(v)
                .map_err(|_| Error::field("tenant_id", "invalid_uuid", "must be a tenant id")),
        )
    });
    let from = non_blank(&input.from).and_then(|v| errs.check(timestamp("from", v)));
    let to = non_blank(&input.to).and_then(|v| errs.check(timestamp("to", v)));
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errs.add("to", "before_from", "must not be earlier than from");
    }
    let after = non_blank(&input.cursor).and_then(|c| {
        errs.check(decode_cursor(c).and_then(|k| {
            let (at, id) = k.split_once('|').ok_or_else(invalid_cursor)?;
            let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid_cursor())?;
            let id = Uuid::parse_str(id).map_err(|_| invalid_cursor())?;
            Ok((at.with_timezone(&Utc), id))
        }))
    });
    errs.finish()?;
    let limit = limit.unwrap_or(PAGE_DEFAULT);

    let mut sel = audit_entry::Entity::find()
        .order_by_desc(audit_entry::Column::At)
        .order_by_desc(audit_entry::Column::Id);
    if let Some(t) = tenant_id {
        sel = sel.filter(audit_entry::Column::TenantId.eq(t));
    }
    if let Some(a) = non_blank(&input.action) {
        sel = sel.filter(audit_entry::Column::Action.eq(a));
    }
    if let Some(a) = non_blank(&input.actor) {
        sel = sel.filter(match Uuid::parse_str(a) {
            Ok(id) => Condition::all().add(audit_entry::Column::ActorUserId.eq(id)),
            Err(_) => Condition::all().add(
                Func::lower(Expr::col((audit_entry::Entity, audit_entry::Column::Actor)))
                    .like(contains_pattern(a)),
            ),
        });
    }
    if let Some(f) = from {
        sel = sel.filter(audit_entry::Column::At.gte(f));
    }
    if let Some(t) = to {
        sel = sel.filter(audit_entry::Column::At.lt(t));
    }
    if let Some((at, id)) = after {
        sel = sel.filter(
            Condition::any().add(audit_entry::Column::At.lt(at)).add(
                Condition::all()
                    .add(audit_entry::Column::At.eq(at))
                    .add(audit_entry::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = sel.limit(limit + 1).all(&ctx.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| {
            encode_cursor(&format!(
                "{}|{}",
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                e.id
            ))
        })
    } else {
        None
    };
    Ok(AuditPageOut {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}
