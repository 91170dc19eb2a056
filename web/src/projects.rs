//! Projects: the list, creating one, and the overview (settings, plans, channels, the bot's
//! place). Channels and plans have their own pages (`channels`, `plans`).
use askama::Template;
use axum::extract::{Path, State};
use domain::{
    AppCtx,
    bots::{self, BotOut, OwnerLinkOut},
    channels::ChannelOut,
    projects::{self, ProjectIn, ProjectOut, ProjectPatch},
};
use uuid::Uuid;

use crate::{
    chart,
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    plans::PlanView,
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
    /// The project's linked owner accounts (each with an unlink form).
    owners: Vec<bots::LinkedOwnerOut>,
    /// A one-time owner link just made (shown once; only its hash is stored).
    owner_link: Option<OwnerLinkOut>,
    /// Errors of the connect-a-bot form (`token`).
    bot_errors: FormErrors,
    chart: chart::Chart,
    ttl: String,
    /// How long expired codes stay listed (days), as typed or stored.
    retention: String,
    welcome: String,
    contact: String,
    /// The bot's default language, as chosen or stored.
    default_language: String,
    /// The per-language welcomes: (code, language name, text as typed or stored).
    welcome_texts: Vec<(&'static str, &'static str, String)>,
    errors: FormErrors,
    saved: bool,
}

/// The bot's languages as the settings form names them.
const LANGUAGES: [(&str, &str); 4] = [
    ("en", "English"),
    ("ru", "Russian"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
];

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
    let (p, channels) = crate::channels::project_and_channels(ctx, s, project_id).await?;
    let plans = crate::plans::views(ctx, s, project_id, &channels).await?;
    let bot = match bots::get(ctx, &s.t, project_id).await {
        Ok(b) => Some(b),
        Err(e) if e.kind == domain::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let owner_linked = bot.is_some() && bots::owner_linked(ctx, &s.t, project_id).await?;
    let owners = bots::list_owners(ctx, &s.t, project_id).await?;
    let days =
        domain::subscriptions::redemptions_per_day(ctx, &s.t, project_id, CHART_DAYS).await?;
    let (ttl, retention, welcome, contact, default_language) = match st.form {
        Some(f) => (
            f.get("unused_code_ttl_days"),
            f.get("expired_code_retention_days"),
            f.get("welcome_message"),
            f.get("contact_text"),
            f.get("default_language"),
        ),
        None => (
            p.unused_code_ttl_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            p.expired_code_retention_days.to_string(),
            p.welcome_message.clone(),
            p.contact_text.clone(),
            p.default_language.clone(),
        ),
    };
    let welcome_texts = LANGUAGES
        .iter()
        .map(|(code, name)| {
            let text = match st.form {
                Some(f) => f.get(&format!("welcome_text_{code}")),
                None => p.welcome_texts.get(*code).cloned().unwrap_or_default(),
            };
            (*code, *name, text)
        })
        .collect();
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
            owners,
            owner_link: st.owner_link,
            bot_errors: st.bot_errors,
            chart: chart::Chart::new(&days),
            ttl,
            retention,
            welcome,
            contact,
            default_language,
            welcome_texts,
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
    let retention = form.int("expired_code_retention_days", &mut errors);
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
        contact_text: Some(form.get("contact_text")),
        access_codes_enabled: Some(form.checked("access_codes_enabled")),
        codes_priced: Some(form.checked("codes_priced")),
        stars_enabled: Some(form.checked("stars_enabled")),
        // An empty box turns the unused-code timer off.
        unused_code_ttl_days: Some(ttl),
        // An empty box leaves the retention as it is (it always has a value).
        expired_code_retention_days: retention,
        // Left as it is when the form does not say (an empty choice).
        default_language: Some(form.get("default_language")).filter(|l| !l.is_empty()),
        // Chosen on the promo codes page.
        trial_promo_id: None,
        retention_promo_id: None,
        welcome_texts: Some(
            LANGUAGES
                .iter()
                .map(|(code, _)| (code.to_string(), form.get(&format!("welcome_text_{code}"))))
                .filter(|(_, text)| !text.is_empty())
                .collect(),
        ),
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
