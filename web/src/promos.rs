//! Promo codes of a project: the list with uses and the money each moved (list price,
//! discount, paid, payments over the cap), a form to make one, deactivating one, and which
//! promo the bot offers at a trial's end and on "Cancel renewal".
use askama::Template;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    AppCtx,
    plans::{self, PlanOut},
    projects::{self, ProjectOut, ProjectPatch},
    promos::{self, PromoIn, PromoOut},
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

/// A promo code as the page shows it.
pub struct PromoView {
    pub id: Uuid,
    pub code: String,
    pub off: String,
    pub plans: String,
    pub window: String,
    pub uses: String,
    pub over_cap: i64,
    pub rules: String,
    pub list: i64,
    pub discount: i64,
    pub revenue: i64,
    pub active: bool,
    /// The deep link subscribers open, when the bot is known.
    pub link: String,
}

fn day(t: &Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl PromoView {
    fn new(p: &PromoOut, plans: &[PlanOut], bot: Option<&str>) -> Self {
        let names: Vec<&str> = p
            .plan_ids
            .iter()
            .filter_map(|id| {
                plans
                    .iter()
                    .find(|pl| pl.id == *id)
                    .map(|pl| pl.name.as_str())
            })
            .collect();
        let mut rules = vec![];
        if p.once_per_user {
            rules.push("once per user");
        }
        if p.new_customers_only {
            rules.push("new customers only");
        }
        if p.first_payment_only {
            rules.push("first payment only");
        }
        PromoView {
            id: p.id,
            code: p.code.clone(),
            off: match (p.percent_off, p.stars_off) {
                (Some(pc), _) => format!("{pc} %"),
                (None, Some(s)) => format!("{s} ⭐"),
                _ => String::new(),
            },
            plans: if names.is_empty() {
                "every plan".into()
            } else {
                names.join(", ")
            },
            window: match (day(&p.starts_at), day(&p.ends_at)) {
                (s, e) if s.is_empty() && e.is_empty() => "always".into(),
                (s, e) if e.is_empty() => format!("from {s}"),
                (s, e) if s.is_empty() => format!("until {e}"),
                (s, e) => format!("{s} – {e}"),
            },
            uses: match p.max_uses {
                Some(m) => format!("{} / {m}", p.uses),
                None => p.uses.to_string(),
            },
            over_cap: p.over_cap,
            rules: rules.join(", "),
            list: p.list_stars,
            discount: p.discount_stars,
            revenue: p.revenue_stars,
            active: p.active,
            link: bot
                .map(|b| format!("https://t.me/{b}?start=p_{}", p.code))
                .unwrap_or_default(),
        }
    }
}

/// What the form shows (blank, or what was typed).
#[derive(Default)]
pub struct PromoForm {
    pub code: String,
    pub kind: String,
    pub amount: String,
    pub plan_ids: Vec<String>,
    pub starts_on: String,
    pub ends_on: String,
    pub max_uses: String,
    pub once_per_user: bool,
    pub new_customers_only: bool,
    pub first_payment_only: bool,
}

impl PromoForm {
    fn blank() -> Self {
        PromoForm {
            kind: "percent".into(),
            once_per_user: true,
            ..Default::default()
        }
    }

    fn from_form(f: &FormData) -> Self {
        PromoForm {
            code: f.get("code"),
            kind: f.get("kind"),
            amount: f.get("amount"),
            plan_ids: f.all("plan_ids"),
            starts_on: f.get("starts_on"),
            ends_on: f.get("ends_on"),
            max_uses: f.get("max_uses"),
            once_per_user: f.checked("once_per_user"),
            new_customers_only: f.checked("new_customers_only"),
            first_payment_only: f.checked("first_payment_only"),
        }
    }

    pub fn has_plan(&self, id: &Uuid) -> bool {
        self.plan_ids.contains(&id.to_string())
    }
}

#[derive(Template)]
#[template(path = "promos.html")]
struct PromosPage {
    l: Layout,
    p: ProjectOut,
    promos: Vec<PromoView>,
    plans: Vec<PlanOut>,
    f: PromoForm,
    errors: FormErrors,
    saved: bool,
}

impl PromosPage {
    /// Whether `chosen` names this promo (a selected option).
    fn offered(&self, chosen: &Option<Uuid>, id: &Uuid) -> bool {
        chosen.as_ref() == Some(id)
    }
}

async fn view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    f: PromoForm,
    errors: FormErrors,
    saved: bool,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let plans = plans::list(ctx, &s.t, project_id).await?;
    // No bot yet: no deep link to show.
    let bot = domain::bots::get(ctx, &s.t, project_id)
        .await
        .ok()
        .map(|b| b.username);
    let promos = promos::list(ctx, &s.t, project_id)
        .await?
        .iter()
        .map(|pr| PromoView::new(pr, &plans, bot.as_deref()))
        .collect();
    Ok(page::render(
        errors.status(),
        &PromosPage {
            l: Layout::creator(format!("Promo codes · {}", p.name), s),
            p,
            promos,
            plans,
            f,
            errors,
            saved,
        },
    ))
}

#[derive(serde::Deserialize)]
pub struct Params {
    notice: Option<String>,
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    axum::extract::Query(q): axum::extract::Query<Params>,
) -> WebResult {
    let saved = q.notice.as_deref() == Some("saved");
    view(
        &ctx,
        &s,
        project_id,
        PromoForm::blank(),
        FormErrors::default(),
        saved,
    )
    .await
}

/// A date box: the start of that day (UTC), or its end for `ends_on`.
fn date(f: &FormData, name: &str, end: bool, errors: &mut FormErrors) -> Option<DateTime<Utc>> {
    let raw = f.get(name);
    if raw.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(&raw, "%Y-%m-%d") {
        Ok(d) => {
            let t = if end {
                d.and_hms_opt(23, 59, 59)
            } else {
                d.and_hms_opt(0, 0, 0)
            };
            t.map(|t| t.and_utc())
        }
        Err(_) => {
            errors
                .fields
                .insert(name.into(), "must be a date (YYYY-MM-DD)".into());
            None
        }
    }
}

pub async fn create(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let mut errors = FormErrors::default();
    let amount = form.int("amount", &mut errors);
    let starts_at = date(&form, "starts_on", false, &mut errors);
    let ends_at = date(&form, "ends_on", true, &mut errors);
    let max_uses = form.int("max_uses", &mut errors);
    if amount.is_none() && !errors.has("amount") {
        errors
            .fields
            .insert("amount".into(), "enter how much it takes off".into());
    }
    if errors.fields.is_empty() {
        let percent = form.get("kind") != "stars";
        let code = form.get("code");
        let input = PromoIn {
            code: (!code.is_empty()).then_some(code),
            percent_off: amount.filter(|_| percent),
            stars_off: amount.filter(|_| !percent),
            plan_ids: form
                .all("plan_ids")
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok())
                .collect(),
            starts_at,
            ends_at,
            max_uses,
            once_per_user: Some(form.checked("once_per_user")),
            new_customers_only: form.checked("new_customers_only"),
            first_payment_only: form.checked("first_payment_only"),
        };
        match promos::create(&ctx, &s.t, project_id, input).await {
            Ok(_) => return Ok(page::see_other(format!("/projects/{project_id}/promos"))),
            Err(e) => {
                errors = FormErrors::from_error(e)?;
                // The form has one box for either discount.
                for f in ["percent_off", "stars_off"] {
                    if let Some(m) = errors.fields.remove(f) {
                        errors.fields.insert("amount".into(), m);
                    }
                }
            }
        }
    } else {
        errors.general = Some("Please correct the fields marked below.".into());
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    view(
        &ctx,
        &s,
        project_id,
        PromoForm::from_form(&form),
        errors,
        false,
    )
    .await
}

pub async fn deactivate(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, promo_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    promos::deactivate(&ctx, &s.t, project_id, promo_id).await?;
    Ok(page::see_other(format!("/projects/{project_id}/promos")))
}

/// Which promo the bot offers at a trial's end and on "Cancel renewal" (empty: none).
pub async fn offers(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let pick = |name: &str| Some(Uuid::parse_str(&form.get(name)).ok());
    let patch = ProjectPatch {
        trial_promo_id: pick("trial_promo_id"),
        retention_promo_id: pick("retention_promo_id"),
        ..Default::default()
    };
    match projects::update(&ctx, &s.t, project_id, patch).await {
        Ok(_) => Ok(page::see_other(format!(
            "/projects/{project_id}/promos?notice=saved"
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            view(&ctx, &s, project_id, PromoForm::blank(), errors, false).await
        }
    }
}
