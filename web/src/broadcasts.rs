//! Broadcasts of a project: the list with each one's progress (and how long the rest will
//! take at the bot's pace), a form to write one (text, segment, button) with a preview of
//! how many it reaches, and send and cancel for admins and owners.
use askama::Template;
use axum::extract::{Path, State};
use domain::{
    AppCtx,
    broadcasts::{
        self, BroadcastIn, BroadcastOut, BroadcastStatus, ButtonIn, PreviewIn, PreviewOut, Segment,
    },
    projects::{self, ProjectOut},
    telegram::sender::PER_BOT,
};
use uuid::Uuid;

use crate::{
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::CreatorSession,
};

/// One broadcast as the list shows it.
struct Row {
    b: BroadcastOut,
    /// Recipients no longer pending (sent, blocked or failed).
    handled: i64,
    /// Until the pending ones are sent at the bot's pace, e.g. `about 2 min`; empty when
    /// nothing is being sent.
    eta: String,
}

impl Row {
    fn new(b: BroadcastOut) -> Self {
        let p = &b.progress;
        let handled = p.sent + p.blocked + p.failed;
        let eta = if b.status == BroadcastStatus::Sending && !b.paused && p.pending > 0 {
            eta(p.pending)
        } else {
            String::new()
        };
        Row { b, handled, eta }
    }

    fn status(&self) -> &'static str {
        match self.b.status {
            BroadcastStatus::Draft => "draft",
            BroadcastStatus::Scheduled => "scheduled",
            BroadcastStatus::Sending if self.b.paused => "paused",
            BroadcastStatus::Sending => "sending",
            BroadcastStatus::Done => "done",
            BroadcastStatus::Canceled => "canceled",
        }
    }

    fn may_send(&self) -> bool {
        matches!(
            self.b.status,
            BroadcastStatus::Draft | BroadcastStatus::Scheduled
        )
    }

    fn may_cancel(&self) -> bool {
        matches!(
            self.b.status,
            BroadcastStatus::Draft | BroadcastStatus::Scheduled | BroadcastStatus::Sending
        )
    }

    fn send_at(&self) -> String {
        page::when_or(&self.b.send_at, "")
    }

    fn created(&self) -> String {
        page::when(&self.b.created_at)
    }
}

/// How long `pending` messages take at one per [`PER_BOT`] (the most the bot may send; its
/// replies to subscribers go first, so this is the least it takes).
fn eta(pending: i64) -> String {
    let secs = (pending as f64 * PER_BOT.as_secs_f64()).ceil() as i64;
    match secs {
        0..=59 => format!("about {} s left", secs.max(1)),
        60..=3_599 => format!("about {} min left", (secs + 59) / 60),
        _ => format!("about {:.1} h left", secs as f64 / 3_600.0),
    }
}

/// What the form holds (as typed).
#[derive(Default)]
struct Draft {
    text: String,
    segment: String,
    days: String,
    button: String,
    label: String,
    url: String,
    photo_url: String,
    send_at: String,
}

impl Draft {
    fn from_form(f: &FormData) -> Self {
        Draft {
            text: f.get("text"),
            segment: f.get("segment"),
            days: f.get("days"),
            button: f.get("button"),
            label: f.get("label"),
            url: f.get("url"),
            photo_url: f.get("photo_url"),
            send_at: f.get("send_at"),
        }
    }

    /// The segment and button as the domain takes them; a bad number of days is a field
    /// error here (the domain checks the range).
    fn parse(&self, errors: &mut FormErrors) -> (Segment, Option<ButtonIn>) {
        let mut days = || match self.days.parse::<u32>() {
            Ok(d) => d,
            Err(_) => {
                errors
                    .fields
                    .insert("segment".into(), "enter a number of days, e.g. 3".into());
                0
            }
        };
        let segment = match self.segment.as_str() {
            "active" => Segment::Active {
                plan_ids: vec![],
                source: None,
                batch_id: None,
            },
            "ending_within" => Segment::EndingWithin { days: days() },
            "ended_within" => Segment::EndedWithin { days: days() },
            "never_subscribed" => Segment::NeverSubscribed,
            _ => Segment::All,
        };
        let button = match self.button.as_str() {
            "redeem" => Some(ButtonIn::Redeem),
            "url" => Some(ButtonIn::Url {
                text: self.label.clone(),
                url: self.url.clone(),
            }),
            _ => None,
        };
        (segment, button)
    }
}

#[derive(Template)]
#[template(path = "broadcasts.html")]
struct BroadcastsPage {
    l: Layout,
    p: ProjectOut,
    rows: Vec<Row>,
    d: Draft,
    preview: Option<PreviewOut>,
    errors: FormErrors,
}

impl BroadcastsPage {
    fn may_broadcasts(&self) -> bool {
        self.l.may(domain::tenancy::Action::SendBroadcasts)
    }
}

async fn view(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    d: Draft,
    preview: Option<PreviewOut>,
    errors: FormErrors,
) -> WebResult {
    let p = projects::get(ctx, &s.t, project_id).await?;
    let rows = broadcasts::list(ctx, &s.t, project_id)
        .await?
        .into_iter()
        .map(Row::new)
        .collect();
    Ok(page::render(
        errors.status(),
        &BroadcastsPage {
            l: Layout::creator(format!("Broadcasts · {}", p.name), s),
            p,
            rows,
            d,
            preview,
            errors,
        },
    ))
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
) -> WebResult {
    let d = Draft {
        segment: "all".into(),
        ..Draft::default()
    };
    view(&ctx, &s, project_id, d, None, FormErrors::default()).await
}

/// The form's three buttons: `preview` (how many it reaches), `draft` (save) and `send`
/// (save and send now, or at `send_at` when given).
pub async fn create(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(project_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    let d = Draft::from_form(&form);
    let mut errors = FormErrors::default();
    let (segment, button) = d.parse(&mut errors);
    if !errors.fields.is_empty() {
        errors.general = Some("Please correct the fields marked below.".into());
        errors.status = Some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        return view(&ctx, &s, project_id, d, None, errors).await;
    }
    let action = form.get("action");
    if action == "preview" {
        let input = PreviewIn {
            text: d.text.clone(),
            segment,
            button,
            photo_url: photo_of(&d),
        };
        return match broadcasts::preview(&ctx, &s.t, project_id, input).await {
            Ok(p) => view(&ctx, &s, project_id, d, Some(p), errors).await,
            Err(e) => {
                let errors = FormErrors::from_error(e)?;
                view(&ctx, &s, project_id, d, None, errors).await
            }
        };
    }
    let send_at = (action == "send" && !d.send_at.is_empty()).then(|| d.send_at.clone());
    let input = BroadcastIn {
        text: d.text.clone(),
        segment,
        button,
        photo_url: photo_of(&d),
        send: action == "send",
        send_at,
    };
    match broadcasts::create(&ctx, &s.t, project_id, input).await {
        Ok(_) => Ok(page::see_other(format!(
            "/projects/{project_id}/broadcasts"
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            view(&ctx, &s, project_id, d, None, errors).await
        }
    }
}

/// The photo URL, when one was typed.
fn photo_of(d: &Draft) -> Option<String> {
    (!d.photo_url.is_empty()).then(|| d.photo_url.clone())
}

pub async fn send(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, broadcast_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    act(&ctx, &s, project_id, broadcast_id, true).await
}

pub async fn cancel(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, broadcast_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    act(&ctx, &s, project_id, broadcast_id, false).await
}

/// "Send me a test": to the creator's own Telegram chat linked to the bot; without one the
/// page says how to link it.
pub async fn test(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path((project_id, broadcast_id)): Path<(Uuid, Uuid)>,
) -> WebResult {
    match broadcasts::send_test(&ctx, &s.t, project_id, broadcast_id).await {
        Ok(_) => Ok(page::see_other(format!(
            "/projects/{project_id}/broadcasts"
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let d = Draft {
                segment: "all".into(),
                ..Draft::default()
            };
            view(&ctx, &s, project_id, d, None, errors).await
        }
    }
}

/// Sends (now) or cancels one broadcast, then back to the list (with the refusal, if any).
async fn act(
    ctx: &AppCtx,
    s: &CreatorSession,
    project_id: Uuid,
    broadcast_id: Uuid,
    send: bool,
) -> WebResult {
    let done = if send {
        broadcasts::send(ctx, &s.t, project_id, broadcast_id, Default::default()).await
    } else {
        broadcasts::cancel(ctx, &s.t, project_id, broadcast_id).await
    };
    match done {
        Ok(_) => Ok(page::see_other(format!(
            "/projects/{project_id}/broadcasts"
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let d = Draft {
                segment: "all".into(),
                ..Draft::default()
            };
            view(ctx, s, project_id, d, None, errors).await
        }
    }
}
