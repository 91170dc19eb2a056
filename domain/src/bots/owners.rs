//! Owner links: a creator binds their Telegram account to a project's bot through a one-time
//! deep link; linked owners get activation notices and code batches, and act as the creator
//! who made the link in the bot's owner commands.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::owner_link;

use super::{
    catalog::project_of,
    connection::{find_for_project, random_token, sha256_hex},
};
use crate::{
    AppCtx, ErrorKind, accounts, batches,
    error::{Error, Result},
    projects,
    telegram::BotHandle,
    tenancy::{Actor, Principal, Role, TenantCtx},
    tenants,
};

/// An owner link that is unknown, expired or already used (all look the same).
pub const OWNER_LINK_INVALID: &str = "owner_link_invalid";

/// How long a one-time owner link can be opened.
pub const OWNER_LINK_TTL_MINUTES: i64 = 60;
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OwnerLinkOut {
    /// `https://t.me/<bot>?start=o_<token>`: opens the bot and links the Telegram account
    /// that presses Start. Works once.
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

/// A one-time deep link that makes whoever opens it an owner of the project in its bot.
/// Only its SHA-256 is stored.
pub async fn create_owner_link(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
) -> Result<OwnerLinkOut> {
    t.writable()?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let b = find_for_project(ctx, t, p.id).await?.ok_or_else(|| {
        Error::conflict(
            "bot_not_connected",
            "connect the project's bot before linking owners",
        )
    })?;
    let token = random_token();
    let now = ctx.now();
    let expires_at = now + Duration::minutes(OWNER_LINK_TTL_MINUTES);
    owner_link::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        user_id: Set(t.actor.user_id),
        token_hash: Set(sha256_hex(&token)),
        expires_at: Set(expires_at),
        telegram_user_id: Set(None),
        telegram_chat_id: Set(None),
        linked_at: Set(None),
        created_at: Set(now),
    }
    .insert(&ctx.db)
    .await?;
    Ok(OwnerLinkOut {
        link: format!("https://t.me/{}?start=o_{token}", b.username),
        expires_at,
    })
}

/// Opens an owner link: binds the Telegram account to the project. Unknown, expired and
/// already used links all fail the same way (`owner_link_invalid`).
pub async fn redeem_owner_link(
    ctx: &AppCtx,
    h: &BotHandle,
    token: &str,
    telegram_user_id: i64,
    chat_id: i64,
) -> Result<String> {
    let invalid = || {
        Error::new(
            ErrorKind::Invalid,
            OWNER_LINK_INVALID,
            "this owner link is unknown, expired or already used",
        )
    };
    let now = ctx.now();
    let row = owner_link::Entity::find()
        .filter(owner_link::Column::TokenHash.eq(sha256_hex(token)))
        .filter(owner_link::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(invalid)?;
    if row.linked_at.is_some() || row.expires_at <= now {
        return Err(invalid());
    }
    // One use: only the update that finds it still unlinked wins.
    let won = owner_link::Entity::update_many()
        .col_expr(owner_link::Column::LinkedAt, Expr::value(now))
        .col_expr(
            owner_link::Column::TelegramUserId,
            Expr::value(telegram_user_id),
        )
        .col_expr(owner_link::Column::TelegramChatId, Expr::value(chat_id))
        .filter(owner_link::Column::Id.eq(row.id))
        .filter(owner_link::Column::LinkedAt.is_null())
        .exec(&ctx.db)
        .await?
        .rows_affected;
    if won != 1 {
        return Err(invalid());
    }
    // Batches that waited for a linked chat go out now.
    batches::resume_waiting(ctx, h.project_id).await?;
    Ok(project_of(ctx, h).await?.name)
}

/// Whether this Telegram account is a linked owner of the bot's project.
pub async fn is_owner(ctx: &AppCtx, h: &BotHandle, telegram_user_id: i64) -> Result<bool> {
    Ok(owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(h.project_id))
        .filter(owner_link::Column::TelegramUserId.eq(telegram_user_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .count(&ctx.db)
        .await?
        > 0)
}

/// Whether the signed-in creator has linked a Telegram account to the project's bot (through
/// an owner link they created). False for API keys, which have no user.
pub async fn owner_linked(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<bool> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let Some(user_id) = t.actor.user_id else {
        return Ok(false);
    };
    Ok(owner_link::Entity::find()
        .filter(owner_link::Column::TenantId.eq(t.tenant_id))
        .filter(owner_link::Column::ProjectId.eq(p.id))
        .filter(owner_link::Column::UserId.eq(user_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .count(&ctx.db)
        .await?
        > 0)
}

/// The private chats of the project's linked owners (for notifications and code delivery).
pub async fn owner_chat_ids(ctx: &AppCtx, project_id: Uuid) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(project_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter_map(|l| l.telegram_chat_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

// --- owner commands -----------------------------------------------------------------

/// The creator a linked owner acts as: the dashboard user who made the owner link, so quota,
/// suspension, billing and audit rules apply exactly as in the API. None when this Telegram
/// account is not a linked owner of the bot's project.
pub async fn owner_tenant_ctx(
    ctx: &AppCtx,
    h: &BotHandle,
    telegram_user_id: i64,
) -> Result<Option<TenantCtx>> {
    let link = owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(h.project_id))
        .filter(owner_link::Column::TenantId.eq(h.tenant_id))
        .filter(owner_link::Column::TelegramUserId.eq(telegram_user_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .order_by_desc(owner_link::Column::LinkedAt)
        .one(&ctx.db)
        .await?;
    let Some(link) = link else {
        return Ok(None);
    };
    if let Some(user_id) = link.user_id
        && let Ok(Principal::Creator(t)) = accounts::principal_for_user(ctx, user_id).await
        && t.tenant_id == h.tenant_id
    {
        return Ok(Some(t));
    }
    // The link was made by an API key, or its creator is gone: act as the tenant, labelled
    // with the Telegram account.
    let tenant = tenants::load(ctx, h.tenant_id).await?;
    Ok(Some(TenantCtx {
        tenant_id: h.tenant_id,
        role: Role::Member,
        status: tenant.status,
        actor: Actor {
            user_id: None,
            label: format!("telegram:{telegram_user_id}"),
        },
    }))
}

/// The idempotency key of a `/newcode` confirmation (one batch per confirmed preview).
pub fn newcode_idempotency_key(h: &BotHandle, telegram_user_id: i64, nonce: Uuid) -> String {
    format!("tg-newcode:{}:{telegram_user_id}:{nonce}", h.id)
}
