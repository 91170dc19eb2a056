//! The project's Telegram bot from the overview's `#bot` section: connect with a token,
//! disconnect after a confirmation page, and the one-time link-my-Telegram deep link.
use askama::Template;
use axum::extract::{Path, State};
use domain::{
    AppCtx,
    bots::{self, BotIn, BotOut},
    projects::{self, ProjectOut},
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    projects::{OverviewState, overview_page},
    session::CreatorSession,
};

pub async fn connect(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let input = BotIn {
        token: form.get("token"),
    };
    match bots::connect(&ctx, &s.t, project_id, input).await {
        Ok(_) => Ok(page::see_other(format!("/projects/{project_id}#bot"))),
        Err(e) => {
            // invalid_bot_token and bot_already_connected name the `token` field.
            let st = OverviewState {
                bot_errors: FormErrors::from_error(e)?,
                ..Default::default()
            };
            overview_page(&ctx, &s, project_id, st).await
        }
    }
}

#[derive(Template)]
#[template(path = "bot_disconnect.html")]
struct DisconnectPage {
    l: Layout,
    p: ProjectOut,
    b: BotOut,
    /// Stars subscriptions renewing through the bot (cancelled first).
    renewing: u64,
}

pub async fn disconnect_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    let p = projects::get(&ctx, &s.t, project_id).await?;
    let b = bots::get(&ctx, &s.t, project_id).await?;
    let renewing = domain::renewals::renewing(&ctx, &s.t, project_id).await?;
    Ok(page::ok(&DisconnectPage {
        l: Layout::creator(format!("Disconnect @{}", b.username), &s),
        p,
        b,
        renewing,
    }))
}

pub async fn disconnect(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    bots::disconnect(&ctx, &s.t, project_id).await?;
    Ok(page::see_other(format!("/projects/{project_id}#bot")))
}

/// Makes a fresh owner link and shows it on the overview (rendered, not redirected to: the
/// link exists only in this answer).
pub async fn owner_link(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    let st = match bots::create_owner_link(&ctx, &s.t, project_id).await {
        Ok(link) => OverviewState {
            owner_link: Some(link),
            ..Default::default()
        },
        Err(e) => OverviewState {
            bot_errors: FormErrors::from_error(e)?,
            ..Default::default()
        },
    };
    overview_page(&ctx, &s, project_id, st).await
}

/// Unlinks an owner Telegram account (audited) and shows the overview again.
pub async fn unlink_owner(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, owner_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    bots::unlink_owner(&ctx, &s.t, project_id, owner_id).await?;
    Ok(page::see_other(format!("/projects/{project_id}#bot")))
}
