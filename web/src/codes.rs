//! Access codes: the generate form, its preview and confirmation, the batch page (refreshes
//! itself until the batch is done), the list with filters, search and pagination, CSV
//! export, and delete / rollback with confirmation.
use std::collections::HashMap;

use askama::Template;
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{NaiveDate, TimeZone, Utc};
use domain::{
    AppCtx,
    batches::{self, BatchIn, BatchOut, DeliveryState, PreviewIn},
    codes::{self, CodeFilter, CodeStatus, ExpiryIn, RollbackOut},
    export,
    plans::{self, PlanOut},
    projects::{self, ProjectOut},
    tenants::TenantCtx,
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

type Params = Vec<(String, String)>;

fn param(q: &Params, name: &str) -> String {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

// --- generate: form, preview, confirm ------------------------------------------------------

/// The generate form's values, as typed (so a refused form comes back filled in).
pub struct GenerateForm {
    pub plan_id: String,
    pub quantity: String,
    pub expiry: String,
    pub expiry_days: String,
    pub expiry_date: String,
    pub max_activations: String,
}

impl GenerateForm {
    fn from_pairs(q: &Params) -> Self {
        let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
        GenerateForm {
            plan_id: param(q, "plan_id"),
            quantity: or(param(q, "quantity"), "10"),
            expiry: or(param(q, "expiry"), "none"),
            expiry_days: param(q, "expiry_days"),
            expiry_date: param(q, "expiry_date"),
            max_activations: or(param(q, "max_activations"), "1"),
        }
    }

    /// The form as a query string (the preview's "change" link goes back with it).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("plan_id", &self.plan_id),
            ("quantity", &self.quantity),
            ("expiry", &self.expiry),
            ("expiry_days", &self.expiry_days),
            ("expiry_date", &self.expiry_date),
            ("max_activations", &self.max_activations),
        ])
        .unwrap_or_default()
    }

    pub fn expiry_label(&self) -> String {
        match self.expiry.as_str() {
            "1d" => "1 day".into(),
            "1w" => "1 week".into(),
            "1m" => "1 month".into(),
            "1y" => "1 year".into(),
            "days" => format!("{} days", self.expiry_days),
            "date" => format!("end of {} (UTC)", self.expiry_date),
            _ => "never".into(),
        }
    }
}

/// What the generate form parses into; field errors for what does not.
struct Parsed {
    plan_id: Uuid,
    quantity: i64,
    expiry: ExpiryIn,
    max_activations: i64,
}

fn parse_generate(f: &GenerateForm, now: chrono::DateTime<Utc>) -> Result<Parsed, FormErrors> {
    let mut errs = FormErrors::default();
    let plan_id = Uuid::parse_str(&f.plan_id).ok();
    if plan_id.is_none() {
        errs.fields
            .insert("plan_id".into(), "choose the plan the codes grant".into());
    }
    let quantity = f.quantity.parse::<i64>().ok();
    if quantity.is_none() {
        errs.fields
            .insert("quantity".into(), "enter a number from 1 to 1000".into());
    }
    let max_activations = f.max_activations.parse::<i64>().ok();
    if max_activations.is_none() {
        errs.fields
            .insert("max_activations".into(), "enter a whole number".into());
    }
    let expiry = match f.expiry.as_str() {
        "days" => match f.expiry_days.parse::<i64>() {
            Ok(d) => ExpiryIn {
                days: Some(d),
                ..Default::default()
            },
            Err(_) => {
                errs.fields
                    .insert("expiry_days".into(), "enter a number of days".into());
                ExpiryIn::default()
            }
        },
        "date" => match NaiveDate::parse_from_str(&f.expiry_date, "%Y-%m-%d") {
            // A date means "valid through that day" (UTC).
            Ok(d) => ExpiryIn {
                date: d.and_hms_opt(23, 59, 59).map(|t| Utc.from_utc_datetime(&t)),
                ..Default::default()
            },
            Err(_) => {
                errs.fields
                    .insert("expiry_date".into(), "choose a date".into());
                ExpiryIn::default()
            }
        },
        preset => ExpiryIn {
            preset: Some(preset.to_string()),
            ..Default::default()
        },
    };
    if errs.fields.is_empty()
        && let Err(e) = codes::Expiry::parse(&expiry, now)
    {
        for (k, v) in &e.fields {
            errs.fields.insert(k.clone(), v.message.clone());
        }
    }
    if !errs.fields.is_empty() {
        errs.general = Some("Please correct the fields marked below.".into());
        errs.status = Some(StatusCode::UNPROCESSABLE_ENTITY);
        return Err(errs);
    }
    Ok(Parsed {
        plan_id: plan_id.unwrap_or_default(),
        quantity: quantity.unwrap_or_default(),
        expiry,
        max_activations: max_activations.unwrap_or(1),
    })
}

#[derive(Template)]
#[template(path = "codes_new.html")]
struct NewPage {
    l: Layout,
    p: ProjectOut,
    plans: Vec<PlanOut>,
    f: GenerateForm,
    free_left: i64,
    limit: i64,
    /// Codes are delivered and redeemed through the bot: without one the page says so.
    bot_connected: bool,
    errors: FormErrors,
}

async fn new_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    f: GenerateForm,
    errors: FormErrors,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let plans: Vec<PlanOut> = plans::list(ctx, &s.t, project_id)
        .await?
        .into_iter()
        .filter(|pl| pl.active)
        .collect();
    let usage = domain::quota::usage(ctx, s.t.tenant_id).await?;
    let bot_connected = match domain::bots::get(ctx, &s.t, project_id).await {
        Ok(_) => true,
        Err(e) if e.kind == domain::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    Ok(page::render(
        errors.status(),
        &NewPage {
            l: Layout::creator(format!("Generate codes · {}", p.name), s),
            p,
            plans,
            f,
            free_left: usage.free_left,
            limit: usage.limit,
            bot_connected,
            errors,
        },
    ))
}

pub async fn new_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    new_view(
        &ctx,
        &s,
        project_id,
        GenerateForm::from_pairs(&q),
        FormErrors::default(),
    )
    .await
}

#[derive(Template)]
#[template(path = "codes_preview.html")]
struct PreviewPage {
    l: Layout,
    p: ProjectOut,
    plan: PlanOut,
    f: GenerateForm,
    free_left: i64,
    free: i64,
    overage: i64,
    fee: String,
    allowed: bool,
    reason: String,
    idempotency_key: String,
    errors: FormErrors,
}

async fn preview_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    f: GenerateForm,
    idempotency_key: String,
    errors: FormErrors,
) -> WebResult {
    let parsed = match parse_generate(&f, ctx.now()) {
        Ok(p) => p,
        Err(errors) => return new_view(ctx, s, project_id, f, errors).await,
    };
    let preview = batches::preview(
        ctx,
        &s.t,
        project_id,
        PreviewIn {
            plan_id: parsed.plan_id,
            quantity: parsed.quantity,
        },
    )
    .await;
    let preview = match preview {
        Ok(p) => p,
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            return new_view(ctx, s, project_id, f, errors).await;
        }
    };
    let p = projects::get(ctx, &s.t, project_id).await?;
    let plan = plans::get(ctx, &s.t, project_id, parsed.plan_id).await?;
    Ok(page::render(
        errors.status(),
        &PreviewPage {
            l: Layout::creator("Confirm codes", s),
            p,
            plan,
            f,
            free_left: preview.free_left,
            free: preview.free,
            overage: preview.overage,
            fee: page::money(preview.fee_minor, &preview.fee_currency),
            allowed: preview.allowed,
            reason: preview_reason(preview.reason.as_deref()),
            idempotency_key,
            errors,
        },
    ))
}

fn preview_reason(code: Option<&str>) -> String {
    match code {
        None => String::new(),
        Some("quota_exceeded") => "This batch is more than the free codes left on your plan. Upgrade on the billing page, or generate fewer codes.".into(),
        Some("payment_past_due") => "Your payment is past due. Update your payment method on the billing page to generate codes.".into(),
        Some(other) => format!("Not allowed right now ({other})."),
    }
}

/// Step two: what the batch will cost, and a consent box, before anything is generated.
pub async fn preview(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let f = GenerateForm::from_pairs(&form.0);
    // One key per preview: a double-submitted confirm returns the same batch.
    let key = format!("web-{}", Uuid::new_v4());
    preview_view(&ctx, &s, project_id, f, key, FormErrors::default()).await
}

/// Step three: the creator consented; the batch is accepted and generated in the background.
pub async fn create_batch(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let f = GenerateForm::from_pairs(&form.0);
    let key = form.get("idempotency_key");
    let parsed = match parse_generate(&f, ctx.now()) {
        Ok(p) => p,
        Err(errors) => return new_view(&ctx, &s, project_id, f, errors).await,
    };
    let input = BatchIn {
        plan_id: parsed.plan_id,
        quantity: parsed.quantity,
        expiry: parsed.expiry,
        max_activations: Some(parsed.max_activations),
        consent: form.checked("consent"),
    };
    let key = (!key.is_empty()).then_some(key);
    match batches::create(&ctx, &s.t, project_id, input, key.clone()).await {
        Ok((b, _)) => Ok(page::see_other(format!(
            "/projects/{project_id}/batches/{}",
            b.id
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let only_consent = errors.fields.keys().all(|k| k == "consent");
            if only_consent {
                preview_view(&ctx, &s, project_id, f, key.unwrap_or_default(), errors).await
            } else {
                new_view(&ctx, &s, project_id, f, errors).await
            }
        }
    }
}

// --- batch ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    l: Layout,
    p: ProjectOut,
    b: BatchOut,
    plan_name: String,
    finished: bool,
    downloadable: bool,
    fee: String,
}

pub async fn batch_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, batch_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let b = batches::get(&ctx, &s.t, project_id, batch_id).await?;
    let plan_name = plans::get(&ctx, &s.t, project_id, b.plan_id)
        .await
        .map(|pl| pl.name)
        .unwrap_or_default();
    let finished = b.status.finished();
    let downloadable = b.status.codes_written();
    let fee = page::money(b.fee_minor, "USD");
    Ok(page::ok(&BatchPage {
        l: Layout::creator("Code batch", &s),
        p,
        b,
        plan_name,
        finished,
        downloadable,
        fee,
    }))
}

pub async fn batch_csv(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, batch_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let b = batches::get(&ctx, &s.t, project_id, batch_id).await?;
    let filter = CodeFilter {
        batch_id: Some(b.id),
        ..Default::default()
    };
    csv_response(
        ctx,
        s.t,
        project_id,
        filter,
        format!("codes-{batch_id}.csv"),
    )
    .await
}

// --- list ----------------------------------------------------------------------------------

pub struct CodeRow {
    pub id: Uuid,
    pub code: String,
    pub plan: String,
    pub status: &'static str,
    pub activations: String,
    /// Who redeemed it (first name and @username), first activation first.
    pub redeemed_by: String,
    pub expires: String,
    pub created: String,
}

/// The list's filters as typed, and as the domain's [`CodeFilter`].
pub struct Filters {
    pub plan_id: String,
    pub status: String,
    pub batch_id: String,
    pub q: String,
    pub expires_after: String,
    pub expires_before: String,
}

impl Filters {
    fn from_pairs(q: &Params) -> Self {
        Filters {
            plan_id: param(q, "plan_id"),
            status: param(q, "status"),
            batch_id: param(q, "batch_id"),
            q: param(q, "q"),
            expires_after: param(q, "expires_after"),
            expires_before: param(q, "expires_before"),
        }
    }

    fn parse(&self, errors: &mut FormErrors) -> CodeFilter {
        let date = |name: &str, v: &str, errors: &mut FormErrors| {
            if v.is_empty() {
                return None;
            }
            match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t)),
                Err(_) => {
                    errors.fields.insert(name.into(), "choose a date".into());
                    None
                }
            }
        };
        let uuid = |name: &str, v: &str, errors: &mut FormErrors| {
            if v.is_empty() {
                return None;
            }
            let id = Uuid::parse_str(v).ok();
            if id.is_none() {
                errors.fields.insert(name.into(), "not a valid id".into());
            }
            id
        };
        CodeFilter {
            plan_id: uuid("plan_id", &self.plan_id, errors),
            status: match self.status.as_str() {
                "unredeemed" => Some(CodeStatus::Unredeemed),
                "redeemed" => Some(CodeStatus::Redeemed),
                "expired" => Some(CodeStatus::Expired),
                _ => None,
            },
            batch_id: uuid("batch_id", &self.batch_id, errors),
            q: (!self.q.is_empty()).then(|| self.q.clone()),
            expires_after: date("expires_after", &self.expires_after, errors),
            // "Expiring before" a day includes that day.
            expires_before: date("expires_before", &self.expires_before, errors)
                .map(|d| d + chrono::Duration::days(1)),
            cursor: None,
            limit: None,
        }
    }

    /// The filters as a query string (export link, next page).
    pub fn query(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("plan_id", self.plan_id.as_str()),
            ("status", self.status.as_str()),
            ("batch_id", self.batch_id.as_str()),
            ("q", self.q.as_str()),
            ("expires_after", self.expires_after.as_str()),
            ("expires_before", self.expires_before.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    pub fn any(&self) -> bool {
        !self.query().is_empty()
    }
}

#[derive(Template)]
#[template(path = "codes.html")]
struct ListPage {
    l: Layout,
    p: ProjectOut,
    plans: Vec<PlanOut>,
    rows: Vec<CodeRow>,
    filters: Filters,
    next: Option<String>,
    paged: bool,
    notice: String,
    errors: FormErrors,
}

const PAGE_SIZE: u64 = 50;

pub async fn list_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let plans = plans::list(&ctx, &s.t, project_id).await?;
    let filters = Filters::from_pairs(&q);
    let mut errors = FormErrors::default();
    let mut filter = filters.parse(&mut errors);
    let cursor = param(&q, "cursor");
    filter.cursor = Uuid::parse_str(&cursor).ok();
    filter.limit = Some(PAGE_SIZE);
    let names: HashMap<Uuid, String> = plans.iter().map(|pl| (pl.id, pl.name.clone())).collect();
    let (rows, next) = if errors.fields.is_empty() {
        let page = codes::list(&ctx, &s.t, project_id, filter).await?;
        let rows = page
            .items
            .into_iter()
            .map(|c| CodeRow {
                id: c.id,
                plan: names.get(&c.plan_id).cloned().unwrap_or_default(),
                status: match c.status {
                    CodeStatus::Unredeemed => "unredeemed",
                    CodeStatus::Redeemed => "redeemed",
                    CodeStatus::Expired => "expired",
                },
                activations: format!("{} / {}", c.activation_count, c.max_activations),
                redeemed_by: c
                    .redeemed_by
                    .iter()
                    .map(|r| {
                        domain::subscriptions::display_name(&r.first_name, r.username.as_deref())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                expires: page::when_or(&c.expires_at, "never"),
                created: page::when(&c.created_at),
                code: c.code,
            })
            .collect();
        let next = page.next_cursor.map(|c| {
            let base = filters.query();
            if base.is_empty() {
                format!("cursor={c}")
            } else {
                format!("{base}&cursor={c}")
            }
        });
        (rows, next)
    } else {
        errors.status = Some(StatusCode::UNPROCESSABLE_ENTITY);
        (vec![], None)
    };
    let notice = match param(&q, "notice").as_str() {
        "deleted" => "The code was deleted.".to_string(),
        _ => String::new(),
    };
    Ok(page::render(
        errors.status(),
        &ListPage {
            l: Layout::creator(format!("Access codes · {}", p.name), &s),
            p,
            plans,
            rows,
            filters,
            next,
            paged: !cursor.is_empty(),
            notice,
            errors,
        },
    ))
}

pub async fn export_csv(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    Query(q): Query<Params>,
) -> WebResult {
    let mut errors = FormErrors::default();
    let filter = Filters::from_pairs(&q).parse(&mut errors);
    if !errors.fields.is_empty() {
        return Ok(page::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Check the filters",
            "One of the filters is not valid; go back and correct it.",
        ));
    }
    csv_response(ctx, s.t, project_id, filter, "codes.csv".into()).await
}

/// The CSV as an attachment; `domain::export::csv_stream` checks the project before any byte.
async fn csv_response(
    ctx: AppCtx,
    t: TenantCtx,
    project_id: Uuid,
    f: CodeFilter,
    filename: String,
) -> WebResult {
    let stream = export::csv_stream(&ctx, &t, project_id, f).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

// --- delete and rollback -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "code_confirm.html")]
struct ConfirmPage {
    l: Layout,
    p: ProjectOut,
    code_id: Uuid,
    code: String,
    rollback: bool,
}

async fn confirm_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    code_id: Uuid,
    q: &Params,
    rollback: bool,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    Ok(page::ok(&ConfirmPage {
        l: Layout::creator(
            if rollback {
                "Roll back code"
            } else {
                "Delete code"
            },
            s,
        ),
        p,
        code_id,
        // Shown only to name the code; the action uses the id.
        code: codes::normalize_partial(&param(q, "code")),
        rollback,
    }))
}

pub async fn delete_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, code_id)): Path<(Uuid, Uuid)>,
    Query(q): Query<Params>,
) -> WebResult {
    confirm_view(&ctx, &s, project_id, code_id, &q, false).await
}

pub async fn rollback_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, code_id)): Path<(Uuid, Uuid)>,
    Query(q): Query<Params>,
) -> WebResult {
    confirm_view(&ctx, &s, project_id, code_id, &q, true).await
}

pub async fn delete(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, code_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    codes::delete(&ctx, &s.t, project_id, code_id).await?;
    Ok(page::see_other(format!(
        "/projects/{project_id}/codes?notice=deleted"
    )))
}

#[derive(Template)]
#[template(path = "rollback_done.html")]
struct RollbackDone {
    l: Layout,
    p: ProjectOut,
    r: RollbackOut,
}

pub async fn rollback(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, code_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    let r = codes::rollback(&ctx, &s.t, project_id, code_id).await?;
    let p = projects::get(&ctx, &s.t, project_id).await?;
    Ok(page::ok(&RollbackDone {
        l: Layout::creator("Code rolled back", &s),
        p,
        r,
    }))
}
