//! Outgoing webhooks on the dashboard: the workspace's endpoints and a form to add one (its
//! signing secret shown once, on the page that answers the form), and an endpoint's page
//! with its deliveries, the attempt log, retry buttons, enable/disable and delete.
use askama::Template;
use axum::extract::{Path, State};
use domain::{
    AppCtx,
    events::EventType,
    webhooks::{self, AttemptOut, DeliveryOut, EndpointIn, EndpointOut},
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    l: Layout,
    endpoints: Vec<EndpointOut>,
    /// Every event type, and whether the form has it ticked.
    event_types: Vec<(&'static str, bool)>,
    /// The endpoint just created and its secret, shown this once.
    created: Option<(EndpointOut, String)>,
    url: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "webhook_endpoint.html")]
struct EndpointPage {
    l: Layout,
    e: EndpointOut,
    deliveries: Vec<DeliveryOut>,
    attempts: Vec<AttemptOut>,
    notice: Option<&'static str>,
}

fn all_types(checked: &[String]) -> Vec<(&'static str, bool)> {
    EventType::ALL
        .iter()
        .map(|t| (t.as_str(), checked.iter().any(|c| c == t.as_str())))
        .collect()
}

async fn list_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    created: Option<(EndpointOut, String)>,
    url: String,
    checked: Vec<String>,
    errors: FormErrors,
) -> WebResult {
    let endpoints = webhooks::list(ctx, &s.t).await?;
    Ok(page::render(
        errors.status(),
        &WebhooksPage {
            l: Layout::creator("Webhooks", s),
            endpoints,
            event_types: all_types(&checked),
            created,
            url,
            errors,
        },
    ))
}

pub async fn page(State(ctx): State<AppCtx>, s: CreatorSession) -> WebResult {
    list_view(&ctx, &s, None, String::new(), vec![], FormErrors::default()).await
}

pub async fn create(State(ctx): State<AppCtx>, s: CreatorSession, form: FormData) -> WebResult {
    let url = form.get("url");
    let types = form.all("event_types");
    let input = EndpointIn {
        url: Some(url.clone()),
        event_types: Some(types.clone()),
        description: Some(form.get("description")),
        enabled: Some(true),
    };
    match webhooks::create(&ctx, &s.t, input).await {
        Ok(out) => {
            let created = Some((out.endpoint, out.secret));
            list_view(
                &ctx,
                &s,
                created,
                String::new(),
                vec![],
                FormErrors::default(),
            )
            .await
        }
        Err(e) => list_view(&ctx, &s, None, url, types, FormErrors::from_error(e)?).await,
    }
}

async fn endpoint_view(
    ctx: &AppCtx,
    s: &CreatorSession,
    id: Uuid,
    notice: Option<&'static str>,
) -> WebResult {
    let e = webhooks::get(ctx, &s.t, id).await?;
    let deliveries = webhooks::deliveries(ctx, &s.t, id).await?;
    let attempts = webhooks::attempts(ctx, &s.t, id).await?;
    Ok(page::ok(&EndpointPage {
        l: Layout::creator("Webhook endpoint", s),
        e,
        deliveries,
        attempts,
        notice,
    }))
}

pub async fn endpoint(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(id): Path<Uuid>,
) -> WebResult {
    endpoint_view(&ctx, &s, id, None).await
}

/// Enables or disables the endpoint (`enabled=true|false`).
pub async fn toggle(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let enabled = form.get("enabled") == "true";
    let input = EndpointIn {
        enabled: Some(enabled),
        ..Default::default()
    };
    webhooks::update(&ctx, &s.t, id, input).await?;
    let notice = if enabled {
        "Endpoint enabled: waiting deliveries go out now."
    } else {
        "Endpoint disabled: new deliveries wait until you enable it."
    };
    endpoint_view(&ctx, &s, id, Some(notice)).await
}

pub async fn retry(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((id, delivery_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    match webhooks::retry(&ctx, &s.t, id, delivery_id).await {
        Err(e) if e.kind == domain::ErrorKind::RateLimited => {
            endpoint_view(
                &ctx,
                &s,
                id,
                Some("Too many retries in the last minute: wait a moment, then retry again."),
            )
            .await
        }
        other => {
            other?;
            endpoint_view(&ctx, &s, id, Some("Delivery queued to be sent again.")).await
        }
    }
}

pub async fn delete(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(id): Path<Uuid>,
) -> WebResult {
    webhooks::delete(&ctx, &s.t, id).await?;
    Ok(page::see_other("/webhooks"))
}
