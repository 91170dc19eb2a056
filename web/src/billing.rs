//! The creator's billing page: plan, cycle, quota meter, overage, and the way to upgrade
//! (Stripe Checkout) or manage the subscription (billing portal) — or, with billing offline,
//! a plain note that plans are set by staff.
use askama::Template;
use axum::extract::State;
use domain::{
    AppCtx,
    billing::{self, BillingOut, CheckoutIn, CreatorPlan},
};

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

pub struct PlanChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub free: i64,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    l: Layout,
    b: BillingOut,
    plan_label: &'static str,
    choices: Vec<PlanChoice>,
    overage_fee: String,
    per_code: String,
    unbilled_fee: String,
    past_due: bool,
    errors: FormErrors,
}

async fn view(ctx: &AppCtx, s: &CreatorSession, errors: FormErrors) -> WebResult {
    let b = billing::overview(ctx, &s.t).await?;
    let current = b.plan;
    let choices = CreatorPlan::ALL
        .into_iter()
        .filter(|p| *p != CreatorPlan::Free)
        .map(|p| PlanChoice {
            value: p.as_str(),
            label: page::plan_label(p.as_str()),
            free: p.free_quota(),
            current: p == current,
        })
        .collect();
    Ok(page::render(
        errors.status(),
        &BillingPage {
            l: Layout::creator("Billing", s),
            plan_label: page::plan_label(current.as_str()),
            choices,
            overage_fee: page::money(b.overage_fee_minor, &b.currency),
            per_code: page::money(b.overage_fee_per_code_minor, &b.currency),
            unbilled_fee: page::money(b.unbilled.fee_minor, &b.currency),
            past_due: b.past_due_since.is_some(),
            b,
            errors,
        },
    ))
}

pub async fn page(State(ctx): State<AppCtx>, s: CreatorSession) -> WebResult {
    view(&ctx, &s, FormErrors::default()).await
}

/// Starts Stripe Checkout for a paid plan and sends the browser there.
pub async fn checkout(State(ctx): State<AppCtx>, s: CreatorSession, form: FormData) -> WebResult {
    let input = CheckoutIn {
        plan: form.get("plan"),
    };
    match billing::checkout(&ctx, &s.t, input).await {
        Ok(out) => Ok(page::see_other(out.url)),
        Err(e) => view(&ctx, &s, FormErrors::from_error(e)?).await,
    }
}

/// Opens the Stripe billing portal.
pub async fn portal(State(ctx): State<AppCtx>, s: CreatorSession) -> WebResult {
    match billing::portal(&ctx, &s.t).await {
        Ok(out) => Ok(page::see_other(out.url)),
        Err(e) => view(&ctx, &s, FormErrors::from_error(e)?).await,
    }
}
