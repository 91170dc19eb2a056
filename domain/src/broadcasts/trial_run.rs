//! "Send me a test": a broadcast (draft or not) goes to the caller's own Telegram chat — the
//! one they linked to the project's bot — exactly as recipients will get it (text, photo,
//! button), without touching its recipients or its state.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use entity::{bot, owner_link};

use super::{BOT_NOT_CONNECTED, manage::find, send::keyboard};
use crate::{
    AppCtx,
    error::{Error, Result},
    i18n, telegram,
    tenancy::{Action, TenantCtx},
};

/// The caller has no Telegram chat linked to this project's bot.
pub const NO_LINKED_CHAT: &str = "no_linked_chat";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The Telegram chat it was sent to.
    pub chat_id: i64,
}

/// Sends the broadcast to the caller's linked chat. 409 `no_linked_chat` when they linked
/// none (the bot page's "link your Telegram account"), `bot_not_connected` without a bot.
pub async fn send_test(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    broadcast_id: Uuid,
) -> Result<TestSent> {
    t.may(Action::SendBroadcasts)?;
    let b = find(&ctx.db, t, project_id, broadcast_id).await?;
    let Some(bot) = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(b.project_id))
        .one(&ctx.db)
        .await?
    else {
        return Err(Error::conflict(
            BOT_NOT_CONNECTED,
            "connect the project's Telegram bot first: broadcasts are sent through it",
        ));
    };
    let chat = match t.actor.user_id {
        Some(user) => owner_link::Entity::find()
            .filter(owner_link::Column::ProjectId.eq(b.project_id))
            .filter(owner_link::Column::UserId.eq(user))
            .filter(owner_link::Column::LinkedAt.is_not_null())
            .all(&ctx.db)
            .await?
            .into_iter()
            .find_map(|l| l.telegram_chat_id),
        None => None,
    };
    let Some(chat) = chat else {
        return Err(Error::conflict(
            NO_LINKED_CHAT,
            "link your Telegram account to the project's bot first (the bot page has the link); the test goes to that chat",
        ));
    };
    let lang = i18n::stored(ctx, b.project_id, chat).await?;
    let kb = keyboard(b.button.as_ref(), lang);
    match &b.photo_url {
        Some(photo) => {
            telegram::send_broadcast_photo(ctx, bot.id, chat, photo, &b.text, kb).await?
        }
        None => telegram::send_broadcast_html(ctx, bot.id, chat, &b.text, kb).await?,
    };
    Ok(TestSent { chat_id: chat })
}
