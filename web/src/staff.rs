//! The staff console: tenants with search, one tenant's plan, status, usage, projects and
//! bots, suspend / unsuspend, quota grants, plan override, and the audit log.
//!
//! `staff_readonly` sees every page without the action forms; its `POST`s reach the same
//! `domain::staff` calls, which refuse them (403 `staff_readonly`) before changing anything.
use askama::Template;
use axum::extract::{Path, Query, State};
use domain::{
    AppCtx,
    billing::CreatorPlan,
    staff::{
        self, AuditEntryOut, AuditSearchIn, PlanOverrideIn, QuotaGrantIn, TenantDetailOut,
        TenantSearchIn, TenantSummaryOut,
    },
    tenants::TenantStatus,
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::StaffSession,
};

type Params = Vec<(String, String)>;

fn param(q: &Params, name: &str) -> String {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn nonempty(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

#[derive(Template)]
#[template(path = "staff_tenants.html")]
struct TenantsPage {
    l: Layout,
    q: String,
    items: Vec<TenantSummaryOut>,
    next: Option<String>,
    errors: FormErrors,
}

pub async fn tenants_page(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Query(params): Query<Params>,
) -> WebResult {
    let q = param(&params, "q");
    let input = TenantSearchIn {
        q: nonempty(q.clone()),
        cursor: nonempty(param(&params, "cursor")),
        limit: None,
    };
    let (items, next, errors) = match staff::list_tenants(&ctx, &s.s, input).await {
        Ok(page) => {
            let next = page.next_cursor.map(|c| {
                serde_urlencoded::to_string([("q", q.as_str()), ("cursor", c.as_str())])
                    .unwrap_or_default()
            });
            (page.items, next, FormErrors::default())
        }
        Err(e) => (vec![], None, FormErrors::from_error(e)?),
    };
    Ok(page::render(
        errors.status(),
        &TenantsPage {
            l: Layout::staff("Tenants", &s),
            q,
            items,
            next,
            errors,
        },
    ))
}

pub struct PlanOption {
    pub value: &'static str,
    pub label: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "staff_tenant.html")]
struct TenantPage {
    l: Layout,
    t: TenantDetailOut,
    suspended: bool,
    plan_label: &'static str,
    plans: Vec<PlanOption>,
    overage_fee: String,
    notice: String,
    /// Which form the errors belong to.
    failed: String,
    errors: FormErrors,
}

async fn tenant_view(
    ctx: &AppCtx,
    s: &StaffSession,
    tenant_id: Uuid,
    notice: String,
    failed: &str,
    errors: FormErrors,
) -> WebResult {
    let t = staff::tenant_detail(ctx, &s.s, tenant_id).await?;
    let plans = CreatorPlan::ALL
        .into_iter()
        .map(|p| PlanOption {
            value: p.as_str(),
            label: page::plan_label(p.as_str()),
            current: p.as_str() == t.billing_plan,
        })
        .collect();
    Ok(page::render(
        errors.status(),
        &TenantPage {
            l: Layout::staff(t.name.clone(), s),
            suspended: t.status == TenantStatus::Suspended,
            plan_label: page::plan_label(&t.billing_plan),
            plans,
            overage_fee: page::money(t.quota.overage_fee_minor, "USD"),
            notice,
            failed: failed.to_string(),
            errors,
            t,
        },
    ))
}

pub async fn tenant_page(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Path(tenant_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let notice = match param(&q, "done").as_str() {
        "suspended" => "The tenant is suspended.",
        "unsuspended" => "The suspension was lifted.",
        "granted" => "Quota granted for the current cycle.",
        "plan" => "The plan was changed.",
        _ => "",
    };
    tenant_view(
        &ctx,
        &s,
        tenant_id,
        notice.into(),
        "",
        FormErrors::default(),
    )
    .await
}

/// After an action: back to the tenant with a notice, or the page again with the errors next
/// to the form that failed.
async fn after(
    ctx: &AppCtx,
    s: &StaffSession,
    tenant_id: Uuid,
    result: domain::Result<()>,
    done: &str,
    form: &str,
) -> WebResult {
    match result {
        Ok(()) => Ok(page::see_other(format!(
            "/staff/tenants/{tenant_id}?done={done}"
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            tenant_view(ctx, s, tenant_id, String::new(), form, errors).await
        }
    }
}

pub async fn suspend(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Path(tenant_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let r = staff::suspend(&ctx, &s.s, tenant_id, &form.get("reason"))
        .await
        .map(|_| ());
    after(&ctx, &s, tenant_id, r, "suspended", "suspend").await
}

pub async fn unsuspend(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Path(tenant_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let r = staff::unsuspend(&ctx, &s.s, tenant_id, &form.get("reason"))
        .await
        .map(|_| ());
    after(&ctx, &s, tenant_id, r, "unsuspended", "unsuspend").await
}

pub async fn grant_quota(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Path(tenant_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    // Refuse read-only staff before reading the form, like the API.
    if let Err(e) = s.s.can_act() {
        return Err(domain::Error::from(e).into());
    }
    let mut errors = FormErrors::default();
    let codes = form.int("codes", &mut errors);
    let Some(codes) = codes else {
        if !errors.has("codes") {
            errors
                .fields
                .insert("codes".into(), "enter how many codes to grant".into());
        }
        errors.general = Some("Please correct the fields marked below.".into());
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        return tenant_view(&ctx, &s, tenant_id, String::new(), "grant", errors).await;
    };
    let input = QuotaGrantIn {
        codes,
        reason: nonempty(form.get("reason")),
    };
    let r = staff::grant_quota(&ctx, &s.s, tenant_id, input)
        .await
        .map(|_| ());
    after(&ctx, &s, tenant_id, r, "granted", "grant").await
}

pub async fn override_plan(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Path(tenant_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let input = PlanOverrideIn {
        plan: form.get("plan"),
        reason: nonempty(form.get("reason")),
    };
    let r = staff::override_plan(&ctx, &s.s, tenant_id, input)
        .await
        .map(|_| ());
    after(&ctx, &s, tenant_id, r, "plan", "plan").await
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub tenant_id: String,
    pub details: String,
}

impl From<AuditEntryOut> for AuditRow {
    fn from(e: AuditEntryOut) -> Self {
        AuditRow {
            at: page::when(&e.at),
            actor: e.actor,
            action: e.action,
            target: match e.target_id {
                Some(id) => format!("{} {id}", e.target_type),
                None => e.target_type,
            },
            tenant_id: e.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
            details: if e.details.is_null() || e.details.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.details.to_string()
            },
        }
    }
}

#[derive(Template)]
#[template(path = "staff_audit.html")]
struct AuditPage {
    l: Layout,
    tenant_id: String,
    action: String,
    actor: String,
    rows: Vec<AuditRow>,
    next: Option<String>,
    errors: FormErrors,
}

pub async fn audit_page(
    State(ctx): State<AppCtx>,
    s: StaffSession,
    Query(q): Query<Params>,
) -> WebResult {
    let (tenant_id, action, actor) = (
        param(&q, "tenant_id"),
        param(&q, "action"),
        param(&q, "actor"),
    );
    let input = AuditSearchIn {
        tenant_id: nonempty(tenant_id.clone()),
        action: nonempty(action.clone()),
        actor: nonempty(actor.clone()),
        cursor: nonempty(param(&q, "cursor")),
        ..Default::default()
    };
    let (rows, next, errors) = match staff::list_audit(&ctx, &s.s, input).await {
        Ok(page) => {
            let next = page.next_cursor.map(|c| {
                serde_urlencoded::to_string([
                    ("tenant_id", tenant_id.as_str()),
                    ("action", action.as_str()),
                    ("actor", actor.as_str()),
                    ("cursor", c.as_str()),
                ])
                .unwrap_or_default()
            });
            (
                page.items.into_iter().map(AuditRow::from).collect(),
                next,
                FormErrors::default(),
            )
        }
        Err(e) => (vec![], None, FormErrors::from_error(e)?),
    };
    Ok(page::render(
        errors.status(),
        &AuditPage {
            l: Layout::staff("Audit log", &s),
            tenant_id,
            action,
            actor,
            rows,
            next,
            errors,
        },
    ))
}
