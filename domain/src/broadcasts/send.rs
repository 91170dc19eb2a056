//! The `SendBroadcast` job: claims pending recipients one at a time (up to [`IN_FLIGHT`] at
//! once), sends through the paced sender's low lane (behind every reply to a subscriber),
//! records each outcome, and finishes the broadcast (`done`, webhook event `broadcast.done`)
//! once nobody is pending. Nothing is sent while the tenant is suspended or after the
//! broadcast was canceled.
use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream::FuturesUnordered};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use entity::{
    bot,
    broadcast::{self, BroadcastStatus},
    broadcast_recipient::{self, RecipientState},
    subscriber,
    tenant::{self, TenantStatus},
};

use super::{ButtonIn, REDEEM_CALLBACK, progress_of};
use crate::{
    AppCtx, ErrorKind, claims,
    error::{Error, Result},
    events::{self, Event, EventType},
    i18n, jobs,
    telegram::{self, Button, Keyboard, sender::BLOCKED},
    tenants,
};

/// Recipients read per round trip.
pub const PAGE: u64 = 25;
/// Recipients of one job sent at once: enough to keep the bot's budget (30 a second) busy
/// while each message's round trips (claim, send, record) take longer than a pacing slot.
/// Also the most messages a cancel or a suspension can no longer stop (those in flight).
pub const IN_FLIGHT: usize = 8;
/// How long a claim on one recipient holds while it is being sent.
pub const LEASE_SECS: i64 = 60;

/// The broadcast's button; the "Redeem a code" one is worded in the recipient's `lang`.
pub(super) fn keyboard(button: Option<&serde_json::Value>, lang: i18n::Lang) -> Option<Keyboard> {
    let b: ButtonIn = serde_json::from_value(button?.clone()).ok()?;
    Some(vec![vec![match b {
        ButtonIn::Url { text, url } => Button::Url {
            text: text.trim().to_string(),
            url,
        },
        ButtonIn::Redeem => Button::Callback {
            text: i18n::t(lang, "button-redeem"),
            data: REDEEM_CALLBACK.into(),
        },
    }]])
}

/// Whether the broadcast may send now: still sending, and its tenant active.
async fn may_send(ctx: &AppCtx, b: &broadcast::Model) -> Result<bool> {
    let status: Option<BroadcastStatus> = broadcast::Entity::find_by_id(b.id)
        .select_only()
        .column(broadcast::Column::Status)
        .into_tuple()
        .one(&ctx.db)
        .await?;
    Ok(
        status == Some(BroadcastStatus::Sending)
            && tenants::is_active(&ctx.db, b.tenant_id).await?,
    )
}

/// Runs the job for one broadcast (safe to run again, or on two workers at once: each
/// recipient is claimed by a conditional update before it is sent).
pub async fn send(ctx: &AppCtx, broadcast_id: Uuid) -> Result<()> {
    let Some(b) = broadcast::Entity::find_by_id(broadcast_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if !may_send(ctx, &b).await? {
        return Ok(());
    }
    let bot = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(b.project_id))
        .one(&ctx.db)
        .await?;
    loop {
        let first = page_after(ctx, &b, None).await?;
        if first.is_empty() {
            break;
        }
        // Without a bot nobody can be sent to (the attempt is retried: it may be connected
        // again); a broadcast with nobody pending finishes all the same.
        let Some(bot) = &bot else {
            return Err(Error::conflict(
                "bot_not_connected",
                "the project has no bot to send through",
            ));
        };
        // Up to IN_FLIGHT recipients at once, each claimed on its own; the next page is read
        // while the last of this one are in flight. The first failure stops new claims, and
        // those already in flight are recorded before it is returned.
        let mut waiting: VecDeque<_> = first.into();
        let mut last = waiting.back().map(|r| r.subscriber_id);
        let mut in_flight = FuturesUnordered::new();
        let mut failure = None;
        loop {
            while failure.is_none() && in_flight.len() < IN_FLIGHT {
                if waiting.is_empty() && last.is_some() {
                    // Those in flight go on meanwhile (each may hold a pooled connection).
                    let read = page_after(ctx, &b, last);
                    tokio::pin!(read);
                    let page = loop {
                        tokio::select! {
                            page = &mut read => break page,
                            Some(res) = in_flight.next() => {
                                if let Err(e) = res {
                                    failure.get_or_insert(e);
                                }
                            }
                        }
                    };
                    match page {
                        Ok(page) => {
                            last = page.last().map(|r| r.subscriber_id);
                            waiting.extend(page);
                        }
                        Err(e) => failure = Some(e),
                    }
                }
                let Some(r) = waiting.pop_front() else { break };
                in_flight.push(deliver_one(ctx, &b, bot.id, r));
            }
            match in_flight.next().await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    failure.get_or_insert(e);
                }
                None => break,
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // Once more from the start: recipients a dead worker held are takeable now.
    }
    finish(ctx, &b).await
}

/// The next pending recipients that may be claimed, in subscriber order after `after`;
/// none once the broadcast may not send (canceled, or its workspace suspended).
async fn page_after(
    ctx: &AppCtx,
    b: &broadcast::Model,
    after: Option<Uuid>,
) -> Result<Vec<broadcast_recipient::Model>> {
    if !may_send(ctx, b).await? {
        return Ok(vec![]);
    }
    let mut q = broadcast_recipient::Entity::find()
        .filter(broadcast_recipient::Column::BroadcastId.eq(b.id))
        .filter(broadcast_recipient::Column::State.eq(RecipientState::Pending))
        .filter(claims::takeable(
            ctx,
            ctx.now(),
            broadcast_recipient::Column::LeaseUntil,
            broadcast_recipient::Column::ClaimedBy,
        ));
    if let Some(a) = after {
        q = q.filter(broadcast_recipient::Column::SubscriberId.gt(a));
    }
    Ok(q.order_by_asc(broadcast_recipient::Column::SubscriberId)
        .limit(PAGE)
        .all(&ctx.db)
        .await?)
}

/// Claims one recipient, sends, and records the outcome.
async fn deliver_one(
    ctx: &AppCtx,
    b: &broadcast::Model,
    bot_id: Uuid,
    r: broadcast_recipient::Model,
) -> Result<()> {
    if !claim(ctx, &r).await? {
        return Ok(());
    }
    crate::faults::reach(crate::faults::AFTER_BROADCAST_CLAIM).await?;
    let lang = i18n::stored(ctx, b.project_id, r.telegram_user_id).await?;
    let keyboard = keyboard(b.button.as_ref(), lang);
    let chat = r.telegram_user_id;
    let sent = match &b.photo_url {
        Some(photo) => {
            telegram::send_broadcast_photo(ctx, bot_id, chat, photo, &b.text, keyboard).await
        }
        None => telegram::send_broadcast_html(ctx, bot_id, chat, &b.text, keyboard).await,
    };
    match sent {
        Ok(_) => settle(ctx, &r, RecipientState::Sent, None).await,
        Err(e) if e.code == BLOCKED => blocked(ctx, &r).await,
        Err(e) if e.kind == ErrorKind::Unavailable && e.code == "telegram_rejected" => {
            settle(ctx, &r, RecipientState::Failed, Some(e.message.clone())).await
        }
        Err(e) => {
            // Telegram unreachable (after the sender's own retries), or the bot gone: the
            // recipient stays pending for the job's next attempt.
            release(ctx, &r).await?;
            Err(e)
        }
    }
}

fn recipient(r: &broadcast_recipient::Model) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(broadcast_recipient::Column::BroadcastId.eq(r.broadcast_id))
        .add(broadcast_recipient::Column::SubscriberId.eq(r.subscriber_id))
}

/// Takes one pending recipient, while its broadcast is still sending and its tenant active
/// (a cancel or a suspension stops the next message, not only the next page).
async fn claim(ctx: &AppCtx, r: &broadcast_recipient::Model) -> Result<bool> {
    let now = ctx.now();
    let res = broadcast_recipient::Entity::update_many()
        .col_expr(
            broadcast_recipient::Column::LeaseUntil,
            Expr::value(Some(now + Duration::seconds(LEASE_SECS))),
        )
        .col_expr(
            broadcast_recipient::Column::ClaimedBy,
            Expr::value(Some(claims::me(ctx))),
        )
        .filter(recipient(r))
        .filter(broadcast_recipient::Column::State.eq(RecipientState::Pending))
        .filter(claims::takeable(
            ctx,
            now,
            broadcast_recipient::Column::LeaseUntil,
            broadcast_recipient::Column::ClaimedBy,
        ))
        .filter(
            broadcast_recipient::Column::BroadcastId.in_subquery(
                Query::select()
                    .column(broadcast::Column::Id)
                    .from(broadcast::Entity)
                    .and_where(broadcast::Column::Id.eq(r.broadcast_id))
                    .and_where(broadcast::Column::Status.eq(BroadcastStatus::Sending))
                    .to_owned(),
            ),
        )
        .filter(
            broadcast_recipient::Column::TenantId.in_subquery(
                Query::select()
                    .column(tenant::Column::Id)
                    .from(tenant::Entity)
                    .and_where(tenant::Column::Id.eq(r.tenant_id))
                    .and_where(tenant::Column::Status.eq(TenantStatus::Active))
                    .to_owned(),
            ),
        )
        .exec(&ctx.db)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn settle(
    ctx: &AppCtx,
    r: &broadcast_recipient::Model,
    state: RecipientState,
    error: Option<String>,
) -> Result<()> {
    let now = ctx.now();
    broadcast_recipient::Entity::update_many()
        .col_expr(broadcast_recipient::Column::State, Expr::value(state))
        .col_expr(broadcast_recipient::Column::Error, Expr::value(error))
        .col_expr(
            broadcast_recipient::Column::SentAt,
            Expr::value((state == RecipientState::Sent).then_some(now)),
        )
        .col_expr(
            broadcast_recipient::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            broadcast_recipient::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(recipient(r))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// The user blocked the bot: the recipient is `blocked` and the subscriber is left out of
/// later broadcasts (until they talk to the bot again).
async fn blocked(ctx: &AppCtx, r: &broadcast_recipient::Model) -> Result<()> {
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    subscriber::Entity::update_many()
        .col_expr(subscriber::Column::BlockedAt, Expr::value(Some(now)))
        .filter(subscriber::Column::Id.eq(r.subscriber_id))
        .exec(&txn)
        .await?;
    broadcast_recipient::Entity::update_many()
        .col_expr(
            broadcast_recipient::Column::State,
            Expr::value(RecipientState::Blocked),
        )
        .col_expr(
            broadcast_recipient::Column::Error,
            Expr::value(Some("the user blocked the bot".to_string())),
        )
        .col_expr(
            broadcast_recipient::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            broadcast_recipient::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(recipient(r))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

async fn release(ctx: &AppCtx, r: &broadcast_recipient::Model) -> Result<()> {
    broadcast_recipient::Entity::update_many()
        .col_expr(
            broadcast_recipient::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            broadcast_recipient::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(recipient(r))
        .filter(broadcast_recipient::Column::State.eq(RecipientState::Pending))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Nobody pending: the broadcast is `done` and `broadcast.done` is emitted, once. Recipients
/// another live worker still holds make this attempt fail (retried later), unless that
/// worker finishes first.
async fn finish(ctx: &AppCtx, b: &broadcast::Model) -> Result<()> {
    let pending = broadcast_recipient::Entity::find()
        .filter(broadcast_recipient::Column::BroadcastId.eq(b.id))
        .filter(broadcast_recipient::Column::State.eq(RecipientState::Pending))
        .limit(1)
        .one(&ctx.db)
        .await?;
    if pending.is_some() {
        if !may_send(ctx, b).await? {
            return Ok(());
        }
        return Err(Error::conflict(
            "broadcast_in_progress",
            "another worker is sending to the last recipients",
        ));
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let res = broadcast::Entity::update_many()
        .col_expr(
            broadcast::Column::Status,
            Expr::value(BroadcastStatus::Done),
        )
        .col_expr(broadcast::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(broadcast::Column::UpdatedAt, Expr::value(now))
        .filter(broadcast::Column::Id.eq(b.id))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Sending))
        .exec(&txn)
        .await?;
    if res.rows_affected == 1 {
        let p = progress_of(&txn, vec![b.id])
            .await?
            .remove(&b.id)
            .unwrap_or_default();
        events::emit(
            &txn,
            b.tenant_id,
            Event::new(
                EventType::BroadcastDone,
                serde_json::json!({
                    "broadcast_id": b.id, "project_id": b.project_id,
                    "recipients": b.recipient_count, "sent": p.sent,
                    "blocked": p.blocked, "failed": p.failed,
                }),
            ),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Queues the tenant's broadcasts that were held while it was suspended (called on
/// unsuspension).
pub async fn resume_paused(ctx: &AppCtx, tenant_id: Uuid) -> Result<u64> {
    let sending = broadcast::Entity::find()
        .filter(broadcast::Column::TenantId.eq(tenant_id))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Sending))
        .all(&ctx.db)
        .await?;
    for b in &sending {
        jobs::push(&ctx.db, ctx, jobs::SendBroadcast { broadcast_id: b.id }).await?;
    }
    Ok(sending.len() as u64)
}
