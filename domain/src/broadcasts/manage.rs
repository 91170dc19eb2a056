//! A creator's broadcasts: create (a draft, sent at once, or scheduled), preview (how many it would
//! reach now), send, cancel, get (with progress) and list. Admins and owners create, send and
//! cancel (`Action::SendBroadcasts`); every role reads. Each change is audited.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, Query},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{
    bot,
    broadcast::{self, BroadcastStatus},
    broadcast_recipient::{self, RecipientState},
    subscriber,
};

use super::{ButtonIn, Segment, audience, input::check, schedule};
use crate::{
    AppCtx, audit,
    error::{Error, Result},
    jobs, projects,
    tenancy::{Action, TenantCtx, TenantStatus},
};

/// The error code of sending or canceling a broadcast that was canceled.
pub const BROADCAST_CANCELED: &str = "broadcast_canceled";
/// The error code of scheduling a broadcast that already started sending.
pub const BROADCAST_STARTED: &str = "broadcast_started";
/// The error code of canceling a broadcast that already finished.
pub const BROADCAST_FINISHED: &str = "broadcast_finished";
/// The error code of sending through a project that has no bot (HTTP 409).
pub const BOT_NOT_CONNECTED: &str = "bot_not_connected";
/// How many broadcasts a list shows (newest first).
pub const LIST_LIMIT: u64 = 100;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BroadcastIn {
    /// The message, in Telegram's HTML subset (b, strong, i, em, u, ins, s, strike, del,
    /// a href, code, pre, tg-spoiler, span class="tg-spoiler", blockquote); at most 4,096
    /// characters shown.
    pub text: String,
    pub segment: Segment,
    pub button: Option<ButtonIn>,
    /// A photo to send with the text as its caption (an http or https URL Telegram can
    /// fetch; the text then shows at most 1,024 characters).
    #[serde(default)]
    pub photo_url: Option<String>,
    /// Send at once (otherwise it is saved as a draft).
    #[serde(default)]
    pub send: bool,
    /// Send later, at this time (RFC 3339, in the future, at most 90 days ahead): the
    /// broadcast is `scheduled`, and its recipients are the segment's at that time.
    #[serde(default)]
    pub send_at: Option<String>,
}

/// What `POST …/send` may carry.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SendIn {
    /// Send at this time instead of now (RFC 3339, in the future, at most 90 days ahead);
    /// a scheduled broadcast is moved to it.
    #[serde(default)]
    pub send_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PreviewIn {
    pub text: String,
    pub segment: Segment,
    pub button: Option<ButtonIn>,
    #[serde(default)]
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewOut {
    /// Subscribers the segment holds now (blocked ones left out).
    pub recipients: u64,
    /// The text as it will be sent.
    pub text: String,
    /// Characters it shows (formatting aside).
    pub characters: usize,
}

/// Where the recipients of a broadcast stand.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub pending: i64,
    pub sent: i64,
    /// The user blocked the bot (left out of later broadcasts).
    pub blocked: i64,
    /// Telegram refused the message for another reason.
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BroadcastOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub segment: Segment,
    pub text: String,
    pub button: Option<ButtonIn>,
    /// The photo sent with the text as its caption, if any.
    pub photo_url: Option<String>,
    pub status: BroadcastStatus,
    /// Recipients written when sending started (0 for a draft).
    pub recipients: i32,
    pub progress: Progress,
    /// Sending, but held while the workspace is suspended.
    pub paused: bool,
    pub created_at: DateTime<Utc>,
    /// When a scheduled broadcast starts sending (kept once it started).
    pub send_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn out(t: &TenantCtx, b: broadcast::Model, progress: Progress) -> BroadcastOut {
    BroadcastOut {
        id: b.id,
        project_id: b.project_id,
        segment: serde_json::from_value(b.segment).unwrap_or(Segment::All),
        text: b.text,
        button: b.button.and_then(|v| serde_json::from_value(v).ok()),
        photo_url: b.photo_url,
        status: b.status,
        recipients: b.recipient_count,
        progress,
        paused: b.status == BroadcastStatus::Sending && t.status == TenantStatus::Suspended,
        created_at: b.created_at,
        send_at: b.send_at,
        started_at: b.started_at,
        finished_at: b.finished_at,
    }
}

/// Broadcasts go out through the project's bot: none is sent without one (a draft may wait).
async fn ensure_bot(db: &impl ConnectionTrait, project_id: Uuid) -> Result<()> {
    let connected = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(project_id))
        .count(db)
        .await?
        > 0;
    if connected {
        Ok(())
    } else {
        Err(Error::conflict(
            BOT_NOT_CONNECTED,
            "connect the project's Telegram bot first: broadcasts are sent through it",
        ))
    }
}

/// How many subscribers a segment holds now, and the text as it would go.
pub async fn preview(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: PreviewIn,
) -> Result<PreviewOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let characters = check(
        &ctx.db,
        t,
        &p,
        &input.text,
        &input.segment,
        input.button.as_ref(),
        input.photo_url.as_deref(),
    )
    .await?;
    let recipients = subscriber::Entity::find()
        .filter(audience(t.tenant_id, p.id, &input.segment, ctx.now()))
        .count(&ctx.db)
        .await?;
    Ok(PreviewOut {
        recipients,
        text: input.text,
        characters,
    })
}

/// Saves a broadcast as a draft, or (with `send`) sends it at once.
pub async fn create(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: BroadcastIn,
) -> Result<BroadcastOut> {
    t.may(Action::SendBroadcasts)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    check(
        &ctx.db,
        t,
        &p,
        &input.text,
        &input.segment,
        input.button.as_ref(),
        input.photo_url.as_deref(),
    )
    .await?;
    let now = ctx.now();
    let send_at = input
        .send_at
        .as_deref()
        .map(|raw| schedule::parse_send_at(raw, now))
        .transpose()?;
    if input.send || send_at.is_some() {
        ensure_bot(&ctx.db, p.id).await?;
    }
    let txn = ctx.db.begin().await?;
    let row = broadcast::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        created_by: Set(t.actor.user_id),
        segment: Set(serde_json::to_value(&input.segment).map_err(Error::internal)?),
        text: Set(input.text),
        button: Set(input
            .button
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(Error::internal)?),
        status: Set(if send_at.is_some() {
            BroadcastStatus::Scheduled
        } else {
            BroadcastStatus::Draft
        }),
        photo_url: Set(input.photo_url.clone()),
        recipient_count: Set(0),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(now),
        send_at: Set(send_at),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "broadcast.created", "broadcast", row.id)
            .details(serde_json::json!({"segment": row.segment})),
        now,
    )
    .await?;
    if let Some(at) = send_at {
        audit::record(
            &txn,
            audit::Entry::creator(t, "broadcast.scheduled", "broadcast", row.id)
                .details(serde_json::json!({"send_at": at})),
            now,
        )
        .await?;
    } else if input.send {
        let by = audit::Entry::creator(t, "broadcast.sent", "broadcast", row.id);
        start(ctx, &txn, &row, BroadcastStatus::Draft, by, now).await?;
    }
    txn.commit().await?;
    get(ctx, t, project_id, row.id).await
}

/// Sends a draft (or a scheduled broadcast) now: its recipients are the segment's
/// subscribers now; with `send_at` it is scheduled for then instead (a scheduled one is
/// moved). Sending a broadcast that is already sending queues its job again (a way forward
/// when its job gave up, say while Telegram was down; a second job sends only who is still
/// pending), one that is done changes nothing: each recipient gets it once. A canceled one is
/// 409 `broadcast_canceled`; scheduling one that started is 409 `broadcast_started`.
pub async fn send(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    broadcast_id: Uuid,
    input: SendIn,
) -> Result<BroadcastOut> {
    t.may(Action::SendBroadcasts)?;
    let b = find(&ctx.db, t, project_id, broadcast_id).await?;
    let now = ctx.now();
    let send_at = input
        .send_at
        .as_deref()
        .map(|raw| schedule::parse_send_at(raw, now))
        .transpose()?;
    match (b.status, send_at) {
        (BroadcastStatus::Draft | BroadcastStatus::Scheduled, Some(at)) => {
            ensure_bot(&ctx.db, b.project_id).await?;
            let txn = ctx.db.begin().await?;
            let res = schedule::scheduled_cols(broadcast::Entity::update_many(), at, now)
                .filter(broadcast::Column::Id.eq(b.id))
                .filter(broadcast::Column::Status.eq(b.status))
                .exec(&txn)
                .await?;
            if res.rows_affected == 1 {
                audit::record(
                    &txn,
                    audit::Entry::creator(t, "broadcast.scheduled", "broadcast", b.id)
                        .details(serde_json::json!({"send_at": at})),
                    now,
                )
                .await?;
            }
            txn.commit().await?;
        }
        (BroadcastStatus::Draft | BroadcastStatus::Scheduled, None) => {
            ensure_bot(&ctx.db, b.project_id).await?;
            let txn = ctx.db.begin().await?;
            let by = audit::Entry::creator(t, "broadcast.sent", "broadcast", b.id);
            start(ctx, &txn, &b, b.status, by, now).await?;
            txn.commit().await?;
        }
        (BroadcastStatus::Sending | BroadcastStatus::Done, Some(_)) => {
            return Err(Error::conflict(
                BROADCAST_STARTED,
                "this broadcast has already started sending",
            ));
        }
        (BroadcastStatus::Sending, None) => {
            jobs::push(&ctx.db, ctx, jobs::SendBroadcast { broadcast_id: b.id }).await?;
        }
        (BroadcastStatus::Done, None) => {}
        (BroadcastStatus::Canceled, _) => {
            return Err(Error::conflict(
                BROADCAST_CANCELED,
                "this broadcast was canceled",
            ));
        }
    }
    get(ctx, t, project_id, broadcast_id).await
}

/// `from` (draft or scheduled) → sending, inside `txn`: writes the recipients (one
/// `INSERT … SELECT` of the segment), records `by` (the `broadcast.sent` entry) with their
/// count and pushes the job. A broadcast another request (or sweep) started first is left
/// alone; returns whether this call started it.
pub(super) async fn start(
    ctx: &AppCtx,
    txn: &DatabaseTransaction,
    b: &broadcast::Model,
    from: BroadcastStatus,
    by: audit::Entry,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = broadcast::Entity::update_many()
        .col_expr(
            broadcast::Column::Status,
            Expr::value(BroadcastStatus::Sending),
        )
        .col_expr(broadcast::Column::StartedAt, Expr::value(Some(now)))
        .col_expr(broadcast::Column::UpdatedAt, Expr::value(now))
        .filter(broadcast::Column::Id.eq(b.id))
        .filter(broadcast::Column::Status.eq(from))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    let segment: Segment = serde_json::from_value(b.segment.clone()).map_err(Error::internal)?;
    let rows = Query::select()
        .expr(Expr::val(b.id))
        .column((subscriber::Entity, subscriber::Column::Id))
        .expr(Expr::val(b.tenant_id))
        .column((subscriber::Entity, subscriber::Column::TelegramUserId))
        .expr(Expr::val(RecipientState::Pending.to_value()))
        .from(subscriber::Entity)
        .cond_where(audience(b.tenant_id, b.project_id, &segment, now))
        .to_owned();
    let insert = Query::insert()
        .into_table(broadcast_recipient::Entity)
        .columns([
            broadcast_recipient::Column::BroadcastId,
            broadcast_recipient::Column::SubscriberId,
            broadcast_recipient::Column::TenantId,
            broadcast_recipient::Column::TelegramUserId,
            broadcast_recipient::Column::State,
        ])
        .select_from(rows)
        .map_err(Error::internal)?
        .to_owned();
    let written = txn
        .execute_raw(txn.get_database_backend().build(&insert))
        .await?
        .rows_affected();
    broadcast::Entity::update_many()
        .col_expr(
            broadcast::Column::RecipientCount,
            Expr::value(written as i32),
        )
        .filter(broadcast::Column::Id.eq(b.id))
        .exec(txn)
        .await?;
    audit::record(
        txn,
        by.details(serde_json::json!({"recipients": written})),
        now,
    )
    .await?;
    jobs::push(txn, ctx, jobs::SendBroadcast { broadcast_id: b.id }).await?;
    Ok(true)
}

/// Stops a broadcast: recipients not sent yet are not sent (a message already on its way
/// to Telegram still arrives). Canceling twice changes nothing; a finished broadcast is
/// 409 `broadcast_finished`.
pub async fn cancel(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    broadcast_id: Uuid,
) -> Result<BroadcastOut> {
    t.may(Action::SendBroadcasts)?;
    let b = find(&ctx.db, t, project_id, broadcast_id).await?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let res = broadcast::Entity::update_many()
        .col_expr(
            broadcast::Column::Status,
            Expr::value(BroadcastStatus::Canceled),
        )
        .col_expr(broadcast::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(broadcast::Column::UpdatedAt, Expr::value(now))
        .filter(broadcast::Column::Id.eq(b.id))
        .filter(broadcast::Column::Status.is_in([
            BroadcastStatus::Draft,
            BroadcastStatus::Scheduled,
            BroadcastStatus::Sending,
        ]))
        .exec(&txn)
        .await?;
    if res.rows_affected == 1 {
        audit::record(
            &txn,
            audit::Entry::creator(t, "broadcast.canceled", "broadcast", b.id),
            now,
        )
        .await?;
        txn.commit().await?;
    } else {
        txn.rollback().await?;
        let now_status = find(&ctx.db, t, project_id, broadcast_id).await?.status;
        if now_status == BroadcastStatus::Done {
            return Err(Error::conflict(
                BROADCAST_FINISHED,
                "this broadcast has already been sent to everyone",
            ));
        }
    }
    get(ctx, t, project_id, broadcast_id).await
}

pub(super) async fn find(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    broadcast_id: Uuid,
) -> Result<broadcast::Model> {
    let p = projects::find(db, t, project_id).await?;
    broadcast::Entity::find_by_id(broadcast_id)
        .filter(broadcast::Column::TenantId.eq(t.tenant_id))
        .filter(broadcast::Column::ProjectId.eq(p.id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("broadcast"))
}

/// Recipients by state, per broadcast.
pub(crate) async fn progress_of(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Progress>> {
    let rows: Vec<(Uuid, RecipientState, i64)> = broadcast_recipient::Entity::find()
        .select_only()
        .column(broadcast_recipient::Column::BroadcastId)
        .column(broadcast_recipient::Column::State)
        .column_as(broadcast_recipient::Column::SubscriberId.count(), "n")
        .filter(broadcast_recipient::Column::BroadcastId.is_in(ids))
        .group_by(broadcast_recipient::Column::BroadcastId)
        .group_by(broadcast_recipient::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Progress> = HashMap::new();
    for (id, state, n) in rows {
        let p = out.entry(id).or_default();
        match state {
            RecipientState::Pending => p.pending = n,
            RecipientState::Sent => p.sent = n,
            RecipientState::Blocked => p.blocked = n,
            RecipientState::Failed => p.failed = n,
        }
    }
    Ok(out)
}

/// One broadcast with its progress.
pub async fn get(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    broadcast_id: Uuid,
) -> Result<BroadcastOut> {
    let b = find(&ctx.db, t, project_id, broadcast_id).await?;
    let mut p = progress_of(&ctx.db, vec![b.id]).await?;
    let progress = p.remove(&b.id).unwrap_or_default();
    Ok(out(t, b, progress))
}

/// The project's latest broadcasts (at most [`LIST_LIMIT`]), newest first.
pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<BroadcastOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let rows = broadcast::Entity::find()
        .filter(broadcast::Column::TenantId.eq(t.tenant_id))
        .filter(broadcast::Column::ProjectId.eq(p.id))
        .order_by_desc(broadcast::Column::CreatedAt)
        .order_by_desc(broadcast::Column::Id)
        .limit(LIST_LIMIT)
        .all(&ctx.db)
        .await?;
    let mut progress = progress_of(&ctx.db, rows.iter().map(|b| b.id).collect()).await?;
    Ok(rows
        .into_iter()
        .map(|b| {
            let pr = progress.remove(&b.id).unwrap_or_default();
            out(t, b, pr)
        })
        .collect())
}
