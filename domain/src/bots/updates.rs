//! Update de-duplication: Telegram retries an update until it is acknowledged, and several
//! processes may receive it, so each bot's update id is acted on once.
use chrono::Duration;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::bot_update;

use crate::{AppCtx, error::Result, telegram::BotHandle};

/// Telegram retries an undelivered update for up to 24 hours; remember ids that long.
pub const SEEN_UPDATE_TTL_SECS: u64 = 24 * 60 * 60;
/// True the first time this bot sees `update_id`, false for every repeat (Redis `SET NX`
/// with a 24-hour TTL; the `bot_updates` table in single-node mode). Update ids are Telegram's
/// per-bot sequence, so the Redis key names the Telegram bot (a project that switches to
/// another bot keeps its `bots.id`); the table is cleared on such a switch.
pub async fn first_sight(ctx: &AppCtx, h: &BotHandle, update_id: i64) -> Result<bool> {
    if let Some(r) = &ctx.redis {
        let mut r = r.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("gh:tg:seen:{}:{update_id}", h.telegram_bot_id))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(SEEN_UPDATE_TTL_SECS)
            .query_async(&mut r)
            .await?;
        return Ok(set.is_some());
    }
    let res = bot_update::ActiveModel {
        bot_id: Set(h.id),
        update_id: Set(update_id),
        seen_at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Forgets every update id seen for `bot_id` (single-node mode), when its project switches
/// to another Telegram bot whose update ids start a sequence of their own.
pub async fn forget_seen_updates(db: &impl ConnectionTrait, bot_id: Uuid) -> Result<u64> {
    Ok(bot_update::Entity::delete_many()
        .filter(bot_update::Column::BotId.eq(bot_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Forgets update ids older than Telegram's retry window (single-node mode).
pub async fn prune_seen_updates(ctx: &AppCtx) -> Result<u64> {
    let cutoff = ctx.now() - Duration::seconds(SEEN_UPDATE_TTL_SECS as i64);
    Ok(bot_update::Entity::delete_many()
        .filter(bot_update::Column::SeenAt.lt(cutoff))
        .exec(&ctx.db)
        .await?
        .rows_affected)
}
