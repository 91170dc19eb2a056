//! Where a finished batch goes: the requesting creator's linked Telegram chat, through the
//! project's bot. Fewer than [`MESSAGE_LIMIT`] codes go as one forwardable message per code,
//! more as one CSV file.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use entity::{access_code, bot, code_batch, owner_link, project};

use super::{BatchStatus, DeliveryState};
use crate::{
    AppCtx,
    error::{Error, Result},
    export, jobs, telegram, tenants,
};

/// Batches smaller than this are sent as one message per code.
pub const MESSAGE_LIMIT: i32 = 25;

/// The bot and chat a batch is delivered to, if the project has a bot and the creator who
/// asked for the batch has linked a Telegram chat.
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
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .filter(owner_link::Column::TelegramChatId.is_not_null());
    if let Some(user) = b.requested_by {
        q = q.filter(owner_link::Column::UserId.eq(user));
    }
    let link = q
        .order_by_desc(owner_link::Column::LinkedAt)
        .one(&ctx.db)
        .await?;
    Ok(link
        .and_then(|l| l.telegram_chat_id)
        .map(|chat| (bot.id, chat)))
}

/// The `DeliverBatch` job: fewer than [`MESSAGE_LIMIT`] codes go as one forwardable message
/// per code (the code and its join link), more as one CSV file. Nothing is sent for a
/// suspended tenant (the batch waits, and is delivered once the tenant is active again);
/// without a linked chat the batch is done and waits for one.
pub async fn deliver(ctx: &AppCtx, batch_id: Uuid) -> Result<()> {
    let Some(b) = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    match b.delivery {
        DeliveryState::Sent => return Ok(()),
        DeliveryState::Pending
        | DeliveryState::WaitingForLinkedChat
        | DeliveryState::PausedTenantSuspended => {}
    }
    let Some((bot_id, chat)) = target(ctx, &b).await? else {
        let mut am = b.into_active_model();
        am.status = Set(BatchStatus::Done);
        am.delivery = Set(DeliveryState::WaitingForLinkedChat);
        am.update(&ctx.db).await?;
        return Ok(());
    };
    if !tenants::is_active(&ctx.db, b.tenant_id).await? {
        let mut am = b.into_active_model();
        am.status = Set(BatchStatus::Done);
        am.delivery = Set(DeliveryState::PausedTenantSuspended);
        am.update(&ctx.db).await?;
        return Ok(());
    }
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
    if b.quantity < MESSAGE_LIMIT {
        for c in &codes {
            let link = cx
                .bot_username
                .as_deref()
                .map(|u| export::join_link(u, &c.code))
                .unwrap_or_default();
            let text = format!("Access code for “{plan_name}”: {}\nRedeem: {link}", c.code);
            telegram::send_message(ctx, bot_id, chat, &text, None).await?;
        }
    } else {
        let mut bytes = export::header_bytes();
        bytes.extend(export::rows_bytes(&codes, &cx));
        let caption = format!("{} access codes for “{plan_name}”", codes.len());
        telegram::send_document(
            ctx,
            bot_id,
            chat,
            &format!("codes-{}.csv", b.id),
            bytes,
            Some(&caption),
        )
        .await?;
    }
    let mut am = b.into_active_model();
    am.status = Set(BatchStatus::Done);
    am.delivery = Set(DeliveryState::Sent);
    am.update(&ctx.db).await?;
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
            jobs::push(ctx, jobs::DeliverBatch { batch_id: b.id }).await?;
            n += 1;
        }
    }
    Ok(n)
}
