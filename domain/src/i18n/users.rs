//! Which language a user gets: their Telegram `language_code` when the bot speaks it, else
//! the project's default. Updates carry the code; messages sent without one (reminders,
//! ends of access, owner notifications) use the code last seen from that user.
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use uuid::Uuid;

use entity::{owner_link, project, subscriber};

use super::Lang;
use crate::{AppCtx, error::Result};

/// The project's default language (English for a project that is gone).
pub async fn project_default(ctx: &AppCtx, project_id: Uuid) -> Result<Lang> {
    let code: Option<String> = project::Entity::find_by_id(project_id)
        .select_only()
        .column(project::Column::DefaultLanguage)
        .into_tuple()
        .one(&ctx.db)
        .await?;
    Ok(code.as_deref().and_then(Lang::parse).unwrap_or(Lang::En))
}

/// The language to answer an update from `user` in, given the update's `language_code`.
/// The code is remembered on the user's subscriber row and owner links of this project
/// (a write only when it changed).
pub async fn of_update(
    ctx: &AppCtx,
    project_id: Uuid,
    user: i64,
    tag: Option<&str>,
) -> Result<Lang> {
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        let tag: String = tag.chars().take(35).collect();
        remember(ctx, project_id, user, &tag).await?;
        if let Some(l) = Lang::from_tag(&tag) {
            return Ok(l);
        }
    }
    project_default(ctx, project_id).await
}

async fn remember(ctx: &AppCtx, project_id: Uuid, user: i64, tag: &str) -> Result<()> {
    subscriber::Entity::update_many()
        .col_expr(subscriber::Column::LanguageCode, Expr::value(tag))
        .filter(subscriber::Column::ProjectId.eq(project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user))
        .filter(
            Condition::any()
                .add(subscriber::Column::LanguageCode.is_null())
                .add(subscriber::Column::LanguageCode.ne(tag)),
        )
        .exec(&ctx.db)
        .await?;
    owner_link::Entity::update_many()
        .col_expr(owner_link::Column::LanguageCode, Expr::value(tag))
        .filter(owner_link::Column::ProjectId.eq(project_id))
        .filter(owner_link::Column::TelegramUserId.eq(user))
        .filter(
            Condition::any()
                .add(owner_link::Column::LanguageCode.is_null())
                .add(owner_link::Column::LanguageCode.ne(tag)),
        )
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// The language for a message to `user` sent without an update: the code last seen from
/// them as a subscriber, else as a linked owner, else the project's default.
pub async fn stored(ctx: &AppCtx, project_id: Uuid, user: i64) -> Result<Lang> {
    let as_subscriber: Option<Option<String>> = subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::LanguageCode)
        .filter(subscriber::Column::ProjectId.eq(project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user))
        .into_tuple()
        .one(&ctx.db)
        .await?;
    if let Some(l) = as_subscriber.flatten().as_deref().and_then(Lang::from_tag) {
        return Ok(l);
    }
    let as_owner: Option<Option<String>> = owner_link::Entity::find()
        .select_only()
        .column(owner_link::Column::LanguageCode)
        .filter(owner_link::Column::ProjectId.eq(project_id))
        .filter(owner_link::Column::TelegramUserId.eq(user))
        .filter(owner_link::Column::LanguageCode.is_not_null())
        .into_tuple()
        .one(&ctx.db)
        .await?;
    if let Some(l) = as_owner.flatten().as_deref().and_then(Lang::from_tag) {
        return Ok(l);
    }
    project_default(ctx, project_id).await
}
