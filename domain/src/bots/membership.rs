//! Channels the bot administers: a `my_chat_member` update registers a channel or group when
//! the bot becomes its admin, and marks it unavailable when the bot loses its rights.
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::channel;

use crate::{
    AppCtx,
    channels::{self, ChannelKind},
    error::Result,
    telegram::BotHandle,
};

/// A chat as Telegram describes it in a `my_chat_member` update.
#[derive(Debug, Clone)]
pub struct ChatFacts {
    pub id: i64,
    pub title: String,
    pub kind: ChannelKind,
}

/// The bot became an admin of a channel or group (register it, or make it available again),
/// or lost its rights there (mark it unavailable; plans keep it, so access can come back).
///
/// A promotion counts only when the Telegram user who made it (`by`, the update's `from`) is
/// a linked owner of the project: anyone can make a bot admin of their own chat, and must
/// not thereby add it to someone else's project. Other promotions are ignored (and logged).
/// Losing rights is always believed: it can only take access away.
pub async fn bot_membership_changed(
    ctx: &AppCtx,
    h: &BotHandle,
    chat: ChatFacts,
    is_admin: bool,
    by: Option<i64>,
) -> Result<()> {
    use channel::Column as C;
    if is_admin {
        let owner = match by {
            Some(u) => super::owners::is_owner(ctx, h, u).await?,
            None => false,
        };
        if !owner {
            tracing::warn!(
                bot = %h.id,
                chat = chat.id,
                by = ?by,
                "ignored: the bot was made admin of a chat by someone who is not a linked owner of the project"
            );
            return Ok(());
        }
    }
    let existing = channel::Entity::find()
        .filter(C::ProjectId.eq(h.project_id))
        .filter(C::TenantId.eq(h.tenant_id))
        .filter(C::TelegramChatId.eq(chat.id))
        .one(&ctx.db)
        .await?;
    let title: String = chat
        .title
        .trim()
        .chars()
        .take(channels::TITLE_MAX)
        .collect();
    let title = if title.is_empty() {
        format!("Chat {}", chat.id)
    } else {
        title
    };
    match (existing, is_admin) {
        (Some(c), _) => {
            let mut am: channel::ActiveModel = c.into();
            am.available = Set(is_admin);
            am.title = Set(title);
            am.kind = Set(chat.kind.as_str().into());
            am.update(&ctx.db).await?;
        }
        (None, true) => {
            let res = channel::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(h.tenant_id),
                project_id: Set(h.project_id),
                telegram_chat_id: Set(chat.id),
                title: Set(title),
                kind: Set(chat.kind.as_str().into()),
                available: Set(true),
                created_at: Set(ctx.now()),
            }
            .insert(&ctx.db)
            .await;
            match res {
                // A concurrent delivery of the same fact registered it first.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) => {}
                other => {
                    other?;
                }
            }
        }
        (None, false) => {}
    }
    Ok(())
}
