//! Channels of a project: the list and adding one.
use askama::Template;
use axum::extract::{Path, State};
use domain::{
    AppCtx,
    channels::{self, ChannelIn, ChannelKind, ChannelOut},
    projects::{self, ProjectOut},
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

/// A project with its channels: what the overview and the channel and plan pages show.
pub async fn project_and_channels(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
) -> domain::Result<(ProjectOut, Vec<ChannelOut>)> {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let channels = channels::list(ctx, &s.t, project_id).await?;
    Ok((p, channels))
}

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

async fn view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    form: Option<&FormData>,
    errors: FormErrors,
) -> WebResult {
    let (p, channels) = project_and_channels(ctx, s, project_id).await?;
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

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    view(&ctx, &s, project_id, None, FormErrors::default()).await
}

pub async fn create(
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
    view(&ctx, &s, project_id, Some(&form), errors).await
}
