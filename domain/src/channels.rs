//! Channels: the Telegram channels and groups of a project that plans grant access to.
//! Registered by hand here, or by the bot when it is made an admin (bots issue).
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::channel;

use crate::{
    AppCtx,
    error::{Error, FieldErrors, Result},
    projects,
    tenancy::Action,
    tenants::TenantCtx,
};

pub const TITLE_MAX: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Channel,
    Group,
    Supergroup,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Channel => "channel",
            ChannelKind::Group => "group",
            ChannelKind::Supergroup => "supergroup",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "group" => ChannelKind::Group,
            "supergroup" => ChannelKind::Supergroup,
            _ => ChannelKind::Channel,
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ChannelIn {
    /// Telegram chat id (channels and supergroups are negative, e.g. -1001234567890).
    pub telegram_chat_id: i64,
    pub title: String,
    pub kind: Option<ChannelKind>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub telegram_chat_id: i64,
    pub title: String,
    pub kind: ChannelKind,
    /// False once the bot lost its admin rights there.
    pub available: bool,
    pub created_at: DateTime<Utc>,
}

impl From<channel::Model> for ChannelOut {
    fn from(c: channel::Model) -> Self {
        ChannelOut {
            id: c.id,
            project_id: c.project_id,
            telegram_chat_id: c.telegram_chat_id,
            kind: ChannelKind::parse(&c.kind),
            title: c.title,
            available: c.available,
            created_at: c.created_at,
        }
    }
}

pub async fn create(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: ChannelIn,
) -> Result<ChannelOut> {
    t.may(Action::ManageChannels)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let mut errs = FieldErrors::default();
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        errs.add(
            "title",
            "invalid_title",
            format!("must be 1–{TITLE_MAX} characters"),
        );
    }
    if input.telegram_chat_id == 0 {
        errs.add(
            "telegram_chat_id",
            "invalid_chat_id",
            "must be a Telegram chat id",
        );
    }
    errs.finish()?;
    let exists = channel::Entity::find()
        .filter(channel::Column::ProjectId.eq(p.id))
        .filter(channel::Column::TelegramChatId.eq(input.telegram_chat_id))
        .one(&ctx.db)
        .await?;
    if exists.is_some() {
        return Err(Error::conflict(
            "channel_exists",
            "this chat is already a channel of the project",
        )
        .with_field("telegram_chat_id"));
    }
    let c = channel::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        telegram_chat_id: Set(input.telegram_chat_id),
        title: Set(title),
        kind: Set(input.kind.unwrap_or(ChannelKind::Channel).as_str().into()),
        available: Set(true),
        created_at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await?;
    Ok(c.into())
}

pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<ChannelOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    Ok(channel::Entity::find()
        .filter(channel::Column::ProjectId.eq(p.id))
        .filter(channel::Column::TenantId.eq(t.tenant_id))
        .order_by_asc(channel::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
