//! Where a finished batch goes: the requesting creator's linked Telegram chat, through the
//! project's bot. Fewer than [`MESSAGE_LIMIT`] codes go as one forwardable message per code,
//! more as one CSV file.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use uuid::Uuid;

use entity::{access_code, bot, code_batch, owner_link, project};

use super::{BatchStatus, DeliveryState};
use crate::{
    AppCtx, ErrorKind, accounts,
    error::{Error, Result},
    export, i18n, jobs, telegram,
    tenancy::Principal,
    tenants,
};

/// Batches smaller than this are sent as one message per code.
pub const MESSAGE_LIMIT: i32 = 25;

/// The bot and chat a batch is delivered to: the project's bot and the latest linked chat of
/// the creator who asked for it — or, for a batch an API key asked for, of any creator —
/// with a current member of the batch's workspace behind the link. A link whose member was
/// removed (or left) never receives a batch, also one that waited. Read from the database
/// every time.
pub async fn target(ctx: &AppCtx, b: &code_batch::Model) -> Result<Option<(Uuid, i64)>> {
    let Some(bot) = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(b.project_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(None);
    };
    let mut q = owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(b.project_id))
        .filter(owner_link::Column::TenantId.eq(b.tenant_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .filter(owner_link::Column::TelegramChatId.is_not_null());
    if let Some(user) = b.requested_by {
        q = q.filter(owner_link::Column::UserId.eq(user));
    }
    let links = q
        .order_by_desc(owner_link::Column::LinkedAt)
        .all(&ctx.db)
        .await?;
    for l in links {
        let (Some(user_id), Some(chat)) = (l.user_id, l.telegram_chat_id) else {
            continue;
        };
        if member_of(ctx, user_id, b.tenant_id).await? {
            return Ok(Some((bot.id, chat)));
        }
    }
    Ok(None)
}

/// Whether `user_id` is a creator in the workspace now.
async fn member_of(ctx: &AppCtx, user_id: Uuid, tenant_id: Uuid) -> Result<bool> {
    match accounts::principal_for_user(ctx, user_id).await {
        Ok(Principal::Creator(t)) => Ok(t.tenant_id == tenant_id),
        Ok(_) => Ok(false),
        Err(e) if e.kind == ErrorKind::Unauthenticated => Ok(false),
        Err(e) => Err(e),
    }
}

/// How long one deliverer holds a batch; renewed after every message. Shorter than the
/// time a dead worker's job takes to be picked up again, so the next attempt finds it free.
pub const DELIVERY_LEASE_SECS: i64 = 15;

/// The `DeliverBatch` job: fewer than [`MESSAGE_LIMIT`] codes go as one forwardable message
/// per code (the code and its join link), more as one CSV file. Nothing is sent for a
/// suspended tenant (the batch waits, and is delivered once the tenant is active again);
/// without a linked chat the batch is done and waits for one.
///
/// One deliverer at a time holds the batch (a lease, claimed by a conditional update), and
/// each message is recorded as sent (`delivered_count`) right after Telegram accepts it, so
/// a retried or resumed delivery sends only what was not sent yet. The one window left is
/// a process dying between Telegram's answer and that update: that message would go again.
pub async fn deliver(ctx: &AppCtx, batch_id: Uuid) -> Result<()> {
    let Some(b) = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    match b.delivery {
        DeliveryState::Sent | DeliveryState::Failed => return Ok(()),
        DeliveryState::Pending
        | DeliveryState::WaitingForLinkedChat
        | DeliveryState::PausedTenantSuspended => {}
    }
    if b.status == BatchStatus::Failed {
        return Ok(());
    }
    let Some((bot_id, chat)) = target(ctx, &b).await? else {
        park(ctx, b.id, DeliveryState::WaitingForLinkedChat).await?;
        return Ok(());
    };
    if !tenants::is_active(&ctx.db, b.tenant_id).await? {
        park(ctx, b.id, DeliveryState::PausedTenantSuspended).await?;
        return Ok(());
    }
    claim(ctx, b.id).await?;
    crate::faults::reach(crate::faults::AFTER_DELIVERY_CLAIM).await?;
    let sent = send_all(ctx, &b, bot_id, chat).await;
    if sent.is_err() {
        // A failed attempt gives the batch up at once, so the retry is not kept waiting.
        release(ctx, b.id).await?;
    }
    sent
}

async fn send_all(ctx: &AppCtx, b: &code_batch::Model, bot_id: Uuid, chat: i64) -> Result<()> {
    let codes = access_code::Entity::find()
        .filter(access_code::Column::BatchId.eq(b.id))
        .order_by_asc(access_code::Column::Id)
        .all(&ctx.db)
        .await?;
    let project = project::Entity::find_by_id(b.project_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))?;
    let cx = export::csv_context_for(ctx, &project).await?;
    let plan_name = cx
        .plans
        .get(&b.plan_id)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let done = b.delivered_count.max(0) as usize;
    // The linked owner's private chat id is their user id: their own language.
    let lang = i18n::stored(ctx, b.project_id, chat).await?;
    if b.quantity < MESSAGE_LIMIT {
        for (i, c) in codes.iter().enumerate().skip(done) {
            let link = cx
                .bot_username
                .as_deref()
                .map(|u| export::join_link(u, &c.code))
                .unwrap_or_default();
            let text = i18n::tr(
                lang,
                "batch-code",
                &[
                    ("plan", plan_name.as_str().into()),
                    ("code", c.code.as_str().into()),
                    ("link", link.into()),
                ],
            );
            telegram::send_message(ctx, bot_id, chat, &text, None).await?;
            progress(ctx, b.id, i as i32 + 1).await?;
        }
    } else if done == 0 {
        let mut bytes = export::header_bytes();
        bytes.extend(export::rows_bytes(&codes, &cx));
        let caption = i18n::tr(
            lang,
            "batch-file",
            &[
                ("count", codes.len().into()),
                ("plan", plan_name.as_str().into()),
            ],
        );
        telegram::send_document(
            ctx,
            bot_id,
            chat,
            &format!("codes-{}.csv", b.id),
            bytes,
            Some(&caption),
        )
        .await?;
        progress(ctx, b.id, 1).await?;
    }
    code_batch::Entity::update_many()
        .col_expr(code_batch::Column::Status, Expr::value(BatchStatus::Done))
        .col_expr(
            code_batch::Column::Delivery,
            Expr::value(DeliveryState::Sent),
        )
        .col_expr(
            code_batch::Column::DeliveryLeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            code_batch::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(code_batch::Column::Id.eq(b.id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Takes the batch's delivery lease, or fails (retryably) while another deliverer holds it.
async fn claim(ctx: &AppCtx, batch_id: Uuid) -> Result<()> {
    let now = ctx.now();
    let res = code_batch::Entity::update_many()
        .col_expr(
            code_batch::Column::DeliveryLeaseUntil,
            Expr::value(Some(now + Duration::seconds(DELIVERY_LEASE_SECS))),
        )
        .col_expr(
            code_batch::Column::ClaimedBy,
            Expr::value(Some(crate::claims::me(ctx))),
        )
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(now))
        .filter(code_batch::Column::Id.eq(batch_id))
        .filter(
            code_batch::Column::Delivery.is_not_in([DeliveryState::Sent, DeliveryState::Failed]),
        )
        .filter(crate::claims::takeable(
            ctx,
            now,
            code_batch::Column::DeliveryLeaseUntil,
            code_batch::Column::ClaimedBy,
        ))
        .exec(&ctx.db)
        .await?;
    if res.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::conflict(
            "delivery_in_progress",
            "another worker is delivering this batch",
        ))
    }
}

async fn release(ctx: &AppCtx, batch_id: Uuid) -> Result<()> {
    code_batch::Entity::update_many()
        .col_expr(
            code_batch::Column::DeliveryLeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            code_batch::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(code_batch::Column::Id.eq(batch_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Records `sent` messages as delivered and renews the lease.
async fn progress(ctx: &AppCtx, batch_id: Uuid, sent: i32) -> Result<()> {
    let now = ctx.now();
    code_batch::Entity::update_many()
        .col_expr(code_batch::Column::DeliveredCount, Expr::value(sent))
        .col_expr(
            code_batch::Column::DeliveryLeaseUntil,
            Expr::value(Some(now + Duration::seconds(DELIVERY_LEASE_SECS))),
        )
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(now))
        .filter(code_batch::Column::Id.eq(batch_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// The batch is done and its delivery waits (for a linked chat, or the tenant's return).
async fn park(ctx: &AppCtx, batch_id: Uuid, state: DeliveryState) -> Result<()> {
    code_batch::Entity::update_many()
        .col_expr(code_batch::Column::Status, Expr::value(BatchStatus::Done))
        .col_expr(code_batch::Column::Delivery, Expr::value(state))
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(code_batch::Column::Id.eq(batch_id))
        .filter(
            code_batch::Column::Delivery.is_not_in([DeliveryState::Sent, DeliveryState::Failed]),
        )
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// After the last delivery attempt: the batch is finished, its delivery `failed` with the
/// reason. Its codes stay (they exist, count and can be downloaded), so nothing is released.
pub async fn give_up_delivery(ctx: &AppCtx, batch_id: Uuid, why: &str) -> Result<()> {
    code_batch::Entity::update_many()
        .col_expr(code_batch::Column::Status, Expr::value(BatchStatus::Done))
        .col_expr(
            code_batch::Column::Delivery,
            Expr::value(DeliveryState::Failed),
        )
        .col_expr(
            code_batch::Column::Error,
            Expr::value(Some(format!("delivery failed: {why}"))),
        )
        .col_expr(
            code_batch::Column::DeliveryLeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            code_batch::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(code_batch::Column::UpdatedAt, Expr::value(ctx.now()))
        .filter(code_batch::Column::Id.eq(batch_id))
        .filter(code_batch::Column::Delivery.ne(DeliveryState::Sent))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Queues delivery of the creator's batches that waited for a linked chat (called when an
/// owner links their Telegram account, and when a tenant is unsuspended).
pub async fn resume_waiting(ctx: &AppCtx, project_id: Uuid) -> Result<u64> {
    let waiting = code_batch::Entity::find()
        .filter(code_batch::Column::ProjectId.eq(project_id))
        .filter(code_batch::Column::Delivery.is_in([
            DeliveryState::WaitingForLinkedChat,
            DeliveryState::PausedTenantSuspended,
        ]))
        .filter(code_batch::Column::Status.eq(BatchStatus::Done))
        .all(&ctx.db)
        .await?;
    let mut n = 0;
    for b in waiting {
        if target(ctx, &b).await?.is_some() {
            jobs::push(&ctx.db, ctx, jobs::DeliverBatch { batch_id: b.id }).await?;
            n += 1;
        }
    }
    Ok(n)
}
