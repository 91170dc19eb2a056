//! Projects: the list, creating one, the overview (settings, plans, channels, the bot's
//! place), channels, and plans (create, edit, activate/deactivate).
use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use domain::{
    AppCtx,
    bots::{self, BotOut, OwnerLinkOut},
    channels::{self, ChannelIn, ChannelKind, ChannelOut},
    plans::{self, PlanIn, PlanOut, PlanPatch},
    projects::{self, ProjectIn, ProjectOut, ProjectPatch},
};
use uuid::Uuid;

use crate::{
    chart,
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

// --- list and create -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    l: Layout,
    projects: Vec<ProjectOut>,
    name: String,
    errors: FormErrors,
}

pub async fn list_page(State(ctx): State<AppCtx>, s: CreatorSession) -> WebResult {
    let projects = projects::list(&ctx, &s.t).await?;
    Ok(page::ok(&ProjectsPage {
        l: Layout::creator("Projects", &s),
        projects,
        name: String::new(),
        errors: FormErrors::default(),
    }))
}

pub async fn create(State(ctx): State<AppCtx>, s: CreatorSession, form: FormData) -> WebResult {
    let input = ProjectIn {
        name: form.get("name"),
        ..Default::default()
    };
    match projects::create(&ctx, &s.t, input).await {
        Ok(p) => Ok(page::see_other(format!("/projects/{}", p.id))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let projects = projects::list(&ctx, &s.t).await?;
            Ok(page::render(
                errors.status(),
                &ProjectsPage {
                    l: Layout::creator("Projects", &s),
                    projects,
                    name: form.get("name"),
                    errors,
                },
            ))
        }
    }
}

// --- overview and settings -----------------------------------------------------------------

/// A plan as the pages show it.
pub struct PlanView {
    pub id: Uuid,
    pub name: String,
    pub price: String,
    pub duration: String,
    pub active: bool,
    pub codes_only: bool,
    pub channels: String,
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
            channels: if names.is_empty() {
                "none yet".into()
            } else {
                names.join(", ")
            },
        }
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct OverviewPage {
    l: Layout,
    p: ProjectOut,
    plans: Vec<PlanView>,
    channels: Vec<ChannelOut>,
    bot: Option<BotOut>,
    /// Whether the signed-in creator's Telegram is linked to the project's bot.
    owner_linked: bool,
    /// A one-time owner link just made (shown once; only its hash is stored).
    owner_link: Option<OwnerLinkOut>,
    /// Errors of the connect-a-bot form (`token`).
    bot_errors: FormErrors,
    chart: chart::Chart,
    ttl: String,
    welcome: String,
    errors: FormErrors,
    saved: bool,
}

/// What the overview shows besides the project itself: a settings form being corrected,
/// the bot form's errors, a fresh owner link.
#[derive(Default)]
pub struct OverviewState<'a> {
    pub form: Option<&'a FormData>,
    pub errors: FormErrors,
    pub saved: bool,
    pub bot_errors: FormErrors,
    pub owner_link: Option<OwnerLinkOut>,
}

/// How many days the redemptions chart covers.
const CHART_DAYS: u32 = 30;

pub async fn overview_page(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    st: OverviewState<'_>,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let channels = channels::list(ctx, &s.t, project_id).await?;
    let plans = plans::list(ctx, &s.t, project_id)
        .await?
        .iter()
        .map(|pl| PlanView::new(pl, &channels))
        .collect();
    let bot = match bots::get(ctx, &s.t, project_id).await {
        Ok(b) => Some(b),
        Err(e) if e.kind == domain::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let owner_linked = bot.is_some() && bots::owner_linked(ctx, &s.t, project_id).await?;
    let days =
        domain::subscriptions::redemptions_per_day(ctx, &s.t, project_id, CHART_DAYS).await?;
    let (ttl, welcome) = match st.form {
        Some(f) => (f.get("unused_code_ttl_days"), f.get("welcome_message")),
        None => (
            p.unused_code_ttl_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            p.welcome_message.clone(),
        ),
    };
    let status = if st.bot_errors.status.is_some() {
        st.bot_errors.status()
    } else {
        st.errors.status()
    };
    Ok(page::render(
        status,
        &OverviewPage {
            l: Layout::creator(p.name.clone(), s),
            p,
            plans,
            channels,
            bot,
            owner_linked,
            owner_link: st.owner_link,
            bot_errors: st.bot_errors,
            chart: chart::Chart::new(&days),
            ttl,
            welcome,
            errors: st.errors,
            saved: st.saved,
        },
    ))
}

pub async fn overview(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>,
) -> WebResult {
    let saved = q.iter().any(|(k, v)| k == "saved" && v == "1");
    let st = OverviewState {
        saved,
        ..Default::default()
    };
    overview_page(&ctx, &s, project_id, st).await
}

pub async fn update_settings(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let mut errors = FormErrors::default();
    let ttl = form.int("unused_code_ttl_days", &mut errors);
    if !errors.fields.is_empty() {
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        let st = OverviewState {
            form: Some(&form),
            errors,
            ..Default::default()
        };
        return overview_page(&ctx, &s, project_id, st).await;
    }
    let patch = ProjectPatch {
        name: Some(form.get("name")),
        welcome_message: Some(form.get("welcome_message")),
        access_codes_enabled: Some(form.checked("access_codes_enabled")),
        codes_priced: Some(form.checked("codes_priced")),
        // An empty box turns the unused-code timer off.
        unused_code_ttl_days: Some(ttl),
    };
    match projects::update(&ctx, &s.t, project_id, patch).await {
        Ok(_) => Ok(page::see_other(format!("/projects/{project_id}?saved=1"))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let st = OverviewState {
                form: Some(&form),
                errors,
                ..Default::default()
            };
            overview_page(&ctx, &s, project_id, st).await
        }
    }
}

// --- channels ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    l: Layout,
    p: ProjectOut,
    channels: Vec<ChannelOut>,
    chat_id: String,
    title: String,
    kind: String,
    errors: FormErrors,
}

async fn channels_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    form: Option<&FormData>,
    errors: FormErrors,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let channels = channels::list(ctx, &s.t, project_id).await?;
    let f = |n: &str| form.map(|f| f.get(n)).unwrap_or_default();
    Ok(page::render(
        errors.status(),
        &ChannelsPage {
            l: Layout::creator(format!("Channels · {}", p.name), s),
            p,
            channels,
            chat_id: f("telegram_chat_id"),
            title: f("title"),
            kind: form
                .map(|f| f.get("kind"))
                .unwrap_or_else(|| "channel".into()),
            errors,
        },
    ))
}

pub async fn channels_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    channels_view(&ctx, &s, project_id, None, FormErrors::default()).await
}

pub async fn create_channel(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let mut errors = FormErrors::default();
    let chat_id = form.int("telegram_chat_id", &mut errors);
    if chat_id.is_none() && !errors.has("telegram_chat_id") {
        errors.fields.insert(
            "telegram_chat_id".into(),
            "enter the chat id, e.g. -1001234567890".into(),
        );
    }
    if let Some(chat_id) = chat_id.filter(|_| errors.fields.is_empty()) {
        let kind = match form.get("kind").as_str() {
            "group" => ChannelKind::Group,
            "supergroup" => ChannelKind::Supergroup,
            _ => ChannelKind::Channel,
        };
        let input = ChannelIn {
            telegram_chat_id: chat_id,
            title: form.get("title"),
            kind: Some(kind),
        };
        match channels::create(&ctx, &s.t, project_id, input).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/channels"))),
            Err(e) => errors = FormErrors::from_error(e)?,
        }
    } else {
        errors.general = Some("Please correct the fields marked below.".into());
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    channels_view(&ctx, &s, project_id, Some(&form), errors).await
}

// --- plans ---------------------------------------------------------------------------------

/// What the plan form shows (a new plan, or one being edited, or what was typed).
pub struct PlanForm {
    pub name: String,
    pub price_minor: String,
    pub currency: String,
    pub duration_days: String,
    pub lifetime: bool,
    pub codes_only: bool,
    pub channel_ids: Vec<String>,
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
    ParsedPlan {
        price_minor,
        duration_days,
        channel_ids,
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

async fn plans_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    f: PlanForm,
    errors: FormErrors,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let channels = channels::list(ctx, &s.t, project_id).await?;
    let plans = plans::list(ctx, &s.t, project_id)
        .await?
        .iter()
        .map(|pl| PlanView::new(pl, &channels))
        .collect();
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

pub async fn plans_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    plans_view(
        &ctx,
        &s,
        project_id,
        PlanForm::blank(),
        FormErrors::default(),
    )
    .await
}

pub async fn create_plan(
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
        };
        match plans::create(&ctx, &s.t, project_id, input).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/plans"))),
            Err(e) => errors = FormErrors::from_error(e)?,
        }
    }
    plans_view(&ctx, &s, project_id, PlanForm::from_form(&form), errors).await
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

async fn plan_edit_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    plan_id: Uuid,
    form: Option<&FormData>,
    errors: FormErrors,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let plan = plans::get(ctx, &s.t, project_id, plan_id).await?;
    let channels = channels::list(ctx, &s.t, project_id).await?;
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

pub async fn plan_edit_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, plan_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    plan_edit_view(&ctx, &s, project_id, plan_id, None, FormErrors::default()).await
}

pub async fn update_plan(
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
        };
        match plans::update(&ctx, &s.t, project_id, plan_id, patch).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/plans"))),
            Err(e) => errors = FormErrors::from_error(e)?,
        }
    }
    plan_edit_view(&ctx, &s, project_id, plan_id, Some(&form), errors).await
}

/// Activates or deactivates a plan (`active=true|false`).
pub async fn set_plan_active(
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
