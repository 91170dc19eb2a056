//! Where a finished batch goes: the requesting creator's linked Telegram chat, through the
//! project's bot. Fewer than [`MESSAGE_LIMIT`] codes go as one forwardable message per code,
//! more as one CSV file.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::{bot, code_batch, owner_link};

use crate::{AppCtx, error::Result};

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

/// The `DeliverBatch` job. Sending through the bot lands with the bots service; until a
/// bot and a linked chat exist no batch is queued for delivery (see `codes::generate`).
pub async fn deliver(ctx: &AppCtx, batch_id: Uuid) -> Result<()> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let Some(b) = code_batch::Entity::find_by_id(batch_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if target(ctx, &b).await?.is_none() {
        let mut am = b.into_active_model();
        am.status = Set(crate::codes::DONE.into());
        am.delivery = Set("waiting_for_linked_chat".into());
        am.update(&ctx.db).await?;
        return Ok(());
    }
    Err(crate::Error::unavailable(
        "delivery_unavailable",
        anyhow::anyhow!("bot delivery is not wired yet"),
    ))
}
