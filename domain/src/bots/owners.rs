//! Owner links: a creator binds their Telegram account to a project's bot through a one-time
//! deep link; linked owners get activation notices and code batches, and act as the creator
//! who made the link in the bot's owner commands.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use entity::owner_link;

use super::{
    catalog::project_of,
    connection::{find_for_project, random_token, sha256_hex},
};
use crate::{
    AppCtx, ErrorKind, accounts, audit, batches,
    error::{Error, Result},
    i18n::Lang,
    projects,
    telegram::BotHandle,
    tenancy::{Action, Principal, TenantCtx},
};

/// An owner link that is unknown, expired or already used (all look the same).
pub const OWNER_LINK_INVALID: &str = "owner_link_invalid";

/// API keys cannot make owner links (there is no member for the owner to act as).
pub const OWNER_LINK_NEEDS_MEMBER: &str = "owner_link_needs_member";

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
    t.may(Action::LinkOwnTelegram)?;
    // Owner commands act as the member behind the link, so an API key (no member) cannot
    // make one.
    let Some(user_id) = t.actor.user_id else {
        return Err(Error::forbidden(
            OWNER_LINK_NEEDS_MEMBER,
            "owner links are made by a signed-in member, not an API key",
        ));
    };
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
        user_id: Set(Some(user_id)),
        token_hash: Set(sha256_hex(&token)),
        expires_at: Set(expires_at),
        telegram_user_id: Set(None),
        telegram_chat_id: Set(None),
        linked_at: Set(None),
        created_at: Set(now),
        language_code: Set(None),
    }
    .insert(&ctx.db)
    .await?;
    Ok(OwnerLinkOut {
        link: format!("https://t.me/{}?start=o_{token}", b.username),
        expires_at,
    })
}

/// A command menu (command, catalogue key of its description) worded in `lang`.
pub(crate) fn menu(lang: Lang, commands: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    commands
        .iter()
        .map(|(c, key)| (*c, crate::i18n::t(lang, key)))
        .collect()
}

/// Opens an owner link: binds the Telegram account to the project. Unknown, expired and
/// already used links all fail the same way (`owner_link_invalid`).
pub async fn redeem_owner_link(
    ctx: &AppCtx,
    h: &BotHandle,
    token: &str,
    telegram_user_id: i64,
    chat_id: i64,
    lang: Lang,
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
    // Every process forgets the project's cached owners (`facts::linked_owners`).
    crate::telegram::registry::changed(ctx, h.project_id).await;
    // Batches that waited for a linked chat go out now.
    batches::resume_waiting(ctx, h.project_id).await?;
    // The owner's chat gets the owner commands in its menu (best effort: a menu is a help,
    // not a promise).
    let (menu, who) = (
        menu(lang, crate::telegram::sender::OWNER_COMMANDS),
        crate::telegram::sender::MenuFor::Chat(chat_id),
    );
    if let Err(e) = crate::telegram::sender::set_commands(ctx, h.id, who, &menu).await {
        tracing::warn!(error = %e, bot = %h.id, "owner command menu not set");
    }
    Ok(project_of(ctx, h).await?.name)
}

/// The creator behind a link: its member, still in the link's tenant. None once the member
/// is gone (or the link predates members being required). Read from the database every
/// time, so an unlink or a removed member applies at once in every process.
async fn member_behind(ctx: &AppCtx, link: &owner_link::Model) -> Result<Option<TenantCtx>> {
    let Some(user_id) = link.user_id else {
        return Ok(None);
    };
    match accounts::principal_for_user(ctx, user_id).await {
        Ok(Principal::Creator(t)) if t.tenant_id == link.tenant_id => Ok(Some(t)),
        Ok(_) => Ok(None),
        Err(e) if e.kind == ErrorKind::Unauthenticated => Ok(None),
        Err(e) => Err(e),
    }
}

/// The current owner link of this Telegram account in the bot's project and the creator it
/// acts as: linked, and with a current member behind it.
async fn current_owner(
    ctx: &AppCtx,
    h: &BotHandle,
    telegram_user_id: i64,
) -> Result<Option<TenantCtx>> {
    let links = owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(h.project_id))
        .filter(owner_link::Column::TenantId.eq(h.tenant_id))
        .filter(owner_link::Column::TelegramUserId.eq(telegram_user_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .order_by_desc(owner_link::Column::LinkedAt)
        .all(&ctx.db)
        .await?;
    for link in links {
        if let Some(t) = member_behind(ctx, &link).await? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Whether this Telegram account is a linked owner of the bot's project with a current
/// member behind the link.
pub async fn is_owner(ctx: &AppCtx, h: &BotHandle, telegram_user_id: i64) -> Result<bool> {
    Ok(current_owner(ctx, h, telegram_user_id).await?.is_some())
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

/// The private chats of the project's linked owners with a current member behind the link
/// (for notifications and code delivery).
pub async fn owner_chat_ids(ctx: &AppCtx, project_id: Uuid) -> Result<Vec<i64>> {
    let links = crate::facts::linked_owners(ctx, project_id).await?;
    let mut ids = Vec::new();
    for l in links.iter() {
        if let Some(chat) = l.telegram_chat_id
            && member_behind(ctx, l).await?.is_some()
        {
            ids.push(chat);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// A linked owner account of a project, as the dashboard and `GET …/owners` list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkedOwnerOut {
    pub id: Uuid,
    pub telegram_user_id: i64,
    pub linked_at: DateTime<Utc>,
    /// The member who made the link (owner commands act as them).
    pub linked_by_user_id: Option<Uuid>,
    pub linked_by_email: Option<String>,
    /// False when no current member is behind the link: it then grants nothing.
    pub active: bool,
}

/// The project's linked owner accounts, newest first.
pub async fn list_owners(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
) -> Result<Vec<LinkedOwnerOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let links = owner_link::Entity::find()
        .filter(owner_link::Column::TenantId.eq(t.tenant_id))
        .filter(owner_link::Column::ProjectId.eq(p.id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .order_by_desc(owner_link::Column::LinkedAt)
        .all(&ctx.db)
        .await?;
    let mut out = Vec::with_capacity(links.len());
    for l in links {
        let member = member_behind(ctx, &l).await?;
        out.push(LinkedOwnerOut {
            id: l.id,
            telegram_user_id: l.telegram_user_id.unwrap_or_default(),
            linked_at: l.linked_at.unwrap_or(l.created_at),
            linked_by_user_id: member.as_ref().and(l.user_id),
            linked_by_email: member.as_ref().map(|m| m.actor.label.clone()),
            active: member.is_some(),
        });
    }
    Ok(out)
}

/// Unlinks an owner account: from this moment it gets no owner commands, notifications or
/// code deliveries (every check reads the database). Admins unlink anyone; a member may
/// unlink the links they made. Audited (`owner.unlinked`) in the same transaction.
pub async fn unlink_owner(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    link_id: Uuid,
) -> Result<()> {
    t.may(Action::LinkOwnTelegram)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let link = owner_link::Entity::find_by_id(link_id)
        .filter(owner_link::Column::TenantId.eq(t.tenant_id))
        .filter(owner_link::Column::ProjectId.eq(p.id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("owner"))?;
    let own = t.actor.user_id.is_some() && t.actor.user_id == link.user_id;
    if !own {
        t.may(Action::ManageBots)?;
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let gone = owner_link::Entity::delete_many()
        .filter(owner_link::Column::Id.eq(link.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if gone == 1 {
        audit::record(
            &txn,
            audit::Entry::creator(t, "owner.unlinked", "owner_link", link.id).details(
                serde_json::json!({
                    "project_id": p.id,
                    "telegram_user_id": link.telegram_user_id,
                    "linked_by_user_id": link.user_id,
                }),
            ),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    crate::telegram::registry::changed(ctx, p.id).await;
    Ok(())
}

// --- owner commands -----------------------------------------------------------------

/// The creator a linked owner acts as: the member who made the owner link, so quota,
/// suspension, billing and audit rules apply exactly as in the API. None when this Telegram
/// account is not a linked owner of the bot's project, or no current member is behind its
/// link (there is no fallback to acting as the tenant).
pub async fn owner_tenant_ctx(
    ctx: &AppCtx,
    h: &BotHandle,
    telegram_user_id: i64,
) -> Result<Option<TenantCtx>> {
    current_owner(ctx, h, telegram_user_id).await
}

/// The idempotency key of a `/newcode` confirmation (one batch per confirmed preview).
pub fn newcode_idempotency_key(h: &BotHandle, telegram_user_id: i64, nonce: Uuid) -> String {
    format!("tg-newcode:{}:{telegram_user_id}:{nonce}", h.id)
}
