//! Plans of a project: the list, creating one, editing one, activating/deactivating.
use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use domain::{
    AppCtx,
    channels::ChannelOut,
    plans::{self, PlanIn, PlanOut, PlanPatch},
    projects::ProjectOut,
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

/// A plan as the pages show it.
pub struct PlanView {
    pub id: Uuid,
    pub name: String,
    pub price: String,
    pub duration: String,
    pub active: bool,
    pub codes_only: bool,
    pub channels: String,
    /// e.g. `250 ⭐`, or empty when not sold for Stars.
    pub stars: String,
}

impl PlanView {
    pub fn new(p: &PlanOut, chans: &[ChannelOut]) -> Self {
        let names: Vec<&str> = p
            .channel_ids
            .iter()
            .filter_map(|id| chans.iter().find(|c| c.id == *id).map(|c| c.title.as_str()))
            .collect();
        PlanView {
            id: p.id,
            name: p.name.clone(),
            price: page::money(p.price_minor, &p.currency),
            duration: match p.duration_days {
                Some(1) => "1 day".into(),
                Some(d) => format!("{d} days"),
                None => "Lifetime".into(),
            },
            active: p.active,
            codes_only: p.codes_only,
            stars: p.price_stars.map(|n| format!("{n} ⭐")).unwrap_or_default(),
            channels: if names.is_empty() {
                "none yet".into()
            } else {
                names.join(", ")
            },
        }
    }
}

/// The project's plans as the pages show them (with their channels' names).
pub async fn views(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    chans: &[ChannelOut],
) -> domain::Result<Vec<PlanView>> {
    Ok(plans::list(ctx, &s.t, project_id)
        .await?
        .iter()
        .map(|pl| PlanView::new(pl, chans))
        .collect())
}

/// What the plan form shows (a new plan, or one being edited, or what was typed).
pub struct PlanForm {
    pub name: String,
    pub price_minor: String,
    pub currency: String,
    pub duration_days: String,
    pub lifetime: bool,
    pub codes_only: bool,
    pub channel_ids: Vec<String>,
    /// Empty: not sold for Stars.
    pub price_stars: String,
    /// Empty: no trial.
    pub trial_days: String,
}

impl PlanForm {
    fn blank() -> Self {
        PlanForm {
            name: String::new(),
            price_minor: "0".into(),
            currency: "USD".into(),
            duration_days: "30".into(),
            lifetime: false,
            codes_only: false,
            channel_ids: vec![],
            price_stars: String::new(),
            trial_days: String::new(),
        }
    }

    fn of(p: &PlanOut) -> Self {
        PlanForm {
            name: p.name.clone(),
            price_minor: p.price_minor.to_string(),
            currency: p.currency.clone(),
            duration_days: p.duration_days.map(|d| d.to_string()).unwrap_or_default(),
            lifetime: p.lifetime,
            codes_only: p.codes_only,
            channel_ids: p.channel_ids.iter().map(Uuid::to_string).collect(),
            price_stars: p.price_stars.map(|n| n.to_string()).unwrap_or_default(),
            trial_days: p.trial_days.map(|n| n.to_string()).unwrap_or_default(),
        }
    }

    fn from_form(f: &FormData) -> Self {
        PlanForm {
            name: f.get("name"),
            price_minor: f.get("price_minor"),
            currency: f.get("currency"),
            duration_days: f.get("duration_days"),
            lifetime: f.checked("lifetime"),
            codes_only: f.checked("codes_only"),
            channel_ids: f.all("channel_ids"),
            price_stars: f.get("price_stars"),
            trial_days: f.get("trial_days"),
        }
    }

    /// Whether a channel's box is ticked.
    pub fn has_channel(&self, id: &Uuid) -> bool {
        let id = id.to_string();
        self.channel_ids.contains(&id)
    }
}

/// The typed parts of a plan form, with field errors for what does not parse.
struct ParsedPlan {
    price_minor: Option<i64>,
    duration_days: Option<i64>,
    channel_ids: Vec<Uuid>,
    price_stars: Option<i64>,
    trial_days: Option<i64>,
}

fn parse_plan(f: &FormData, errors: &mut FormErrors) -> ParsedPlan {
    let price_minor = f.int("price_minor", errors);
    if price_minor.is_none() && !errors.has("price_minor") {
        errors
            .fields
            .insert("price_minor".into(), "enter a price (0 for free)".into());
    }
    let duration_days = if f.checked("lifetime") {
        None
    } else {
        f.int("duration_days", errors)
    };
    let channel_ids = f
        .all("channel_ids")
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    if !errors.fields.is_empty() {
        errors.general = Some("Please correct the fields marked below.".into());
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    // An empty box: not sold for Stars.
    let price_stars = f.int("price_stars", errors);
    // An empty box: no trial.
    let trial_days = f.int("trial_days", errors);
    ParsedPlan {
        price_minor,
        duration_days,
        channel_ids,
        price_stars,
        trial_days,
    }
}

#[derive(Template)]
#[template(path = "plans.html")]
struct PlansPage {
    l: Layout,
    p: ProjectOut,
    plans: Vec<PlanView>,
    channels: Vec<ChannelOut>,
    f: PlanForm,
    errors: FormErrors,
}

async fn view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    f: PlanForm,
    errors: FormErrors,
) -> WebResult {
    let (p, channels) = crate::channels::project_and_channels(ctx, s, project_id).await?;
    let plans = views(ctx, s, project_id, &channels).await?;
    Ok(page::render(
        errors.status(),
        &PlansPage {
            l: Layout::creator(format!("Plans · {}", p.name), s),
            p,
            plans,
            channels,
            f,
            errors,
        },
    ))
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    view(
        &ctx,
        &s,
        project_id,
        PlanForm::blank(),
        FormErrors::default(),
    )
    .await
}

pub async fn create(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let mut errors = FormErrors::default();
    let parsed = parse_plan(&form, &mut errors);
    if errors.fields.is_empty() {
        let input = PlanIn {
            name: form.get("name"),
            price_minor: parsed.price_minor.unwrap_or_default(),
            currency: form.get("currency"),
            duration_days: parsed.duration_days,
            lifetime: form.checked("lifetime"),
            active: Some(true),
            codes_only: Some(form.checked("codes_only")),
            channel_ids: parsed.channel_ids,
            price_stars: parsed.price_stars,
            trial_days: parsed.trial_days,
        };
        match plans::create(&ctx, &s.t, project_id, input).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/plans"))),
            Err(e) => errors = FormErrors::from_error(e)?,
        }
    }
    view(&ctx, &s, project_id, PlanForm::from_form(&form), errors).await
}

#[derive(Template)]
#[template(path = "plan_edit.html")]
struct PlanEditPage {
    l: Layout,
    p: ProjectOut,
    plan: PlanOut,
    channels: Vec<ChannelOut>,
    f: PlanForm,
    errors: FormErrors,
}

async fn edit_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    plan_id: Uuid,
    form: Option<&FormData>,
    errors: FormErrors,
) -> WebResult {
    let (p, channels) = crate::channels::project_and_channels(ctx, s, project_id).await?;
    let plan = plans::get(ctx, &s.t, project_id, plan_id).await?;
    let f = match form {
        Some(f) => PlanForm::from_form(f),
        None => PlanForm::of(&plan),
    };
    Ok(page::render(
        errors.status(),
        &PlanEditPage {
            l: Layout::creator(format!("Edit {}", plan.name), s),
            p,
            plan,
            channels,
            f,
            errors,
        },
    ))
}

pub async fn edit_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, plan_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    edit_view(&ctx, &s, project_id, plan_id, None, FormErrors::default()).await
}

pub async fn update(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, plan_id)): Path<(Uuid, Uuid)>,
    form: FormData,
) -> WebResult {
    let mut errors = FormErrors::default();
    let parsed = parse_plan(&form, &mut errors);
    if errors.fields.is_empty() {
        let lifetime = form.checked("lifetime");
        let patch = PlanPatch {
            name: Some(form.get("name")),
            price_minor: parsed.price_minor,
            currency: Some(form.get("currency")),
            duration_days: parsed.duration_days,
            lifetime: Some(lifetime),
            active: None,
            codes_only: Some(form.checked("codes_only")),
            channel_ids: Some(parsed.channel_ids),
            price_stars: Some(parsed.price_stars),
            trial_days: Some(parsed.trial_days),
        };
        match plans::update(&ctx, &s.t, project_id, plan_id, patch).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/plans"))),
            Err(e) => errors = FormErrors::from_error(e)?,
        }
    }
    edit_view(&ctx, &s, project_id, plan_id, Some(&form), errors).await
}

/// Activates or deactivates a plan (`active=true|false`).
pub async fn set_active(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, plan_id)): Path<(Uuid, Uuid)>,
    form: FormData,
) -> WebResult<Response> {
    let patch = PlanPatch {
        active: Some(form.get("active") == "true"),
        ..Default::default()
    };
    plans::update(&ctx, &s.t, project_id, plan_id, patch).await?;
    Ok(page::see_other(format!("/projects/{project_id}/plans")))
}
