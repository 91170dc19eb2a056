//! Connecting and disconnecting a project's Telegram bot: the token is checked with `getMe`,
//! Telegram is pointed at our webhook (with `PUBLIC_URL`) or the bot is polled, and the token
//! is stored encrypted. `/tg/{bot_id}` names a bot by our own `bots.id` (a UUIDv7), never by
//! its token or its Telegram id: the token must not appear in a URL, and the Telegram id is
//! guessable. A project keeps its `bots.id` across reconnects, so its webhook URL is stable.
use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use teloxide::{RequestError, prelude::Requester, types::AllowedUpdate};
use uuid::Uuid;

use entity::bot;

use crate::{
    AppCtx, ErrorKind, audit,
    error::{Error, Result},
    i18n::Lang,
    projects,
    telegram::{
        BotHandle, crypto, registry,
        sender::{self, MenuFor},
    },
    tenancy::{Action, TenantCtx},
};

/// The update types a Gatehouse bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 6] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::MyChatMember,
    AllowedUpdate::ChatMember,
    AllowedUpdate::ChatJoinRequest,
    AllowedUpdate::PreCheckoutQuery,
];

/// Update types teloxide cannot name, asked for by webhooks: Bot API 10.2's `subscription`
/// (a Stars subscription cancelled, turned back on, or its renewal failed). Polling asks for
/// [`ALLOWED_UPDATES`] only (teloxide's `getUpdates` types them); nothing depends on them.
pub const EXTRA_UPDATES: [&str; 1] = ["subscription"];

/// `setWebhook` with [`ALLOWED_UPDATES`] and [`EXTRA_UPDATES`], as a plain Bot API call
/// (teloxide's `AllowedUpdate` has no variant for the newer types).
async fn set_webhook(ctx: &AppCtx, token: &str, url: &str, secret: &str) -> Result<()> {
    let mut allowed: Vec<serde_json::Value> = ALLOWED_UPDATES
        .iter()
        .map(|u| serde_json::to_value(u).map_err(Error::internal))
        .collect::<Result<_>>()?;
    allowed.extend(EXTRA_UPDATES.iter().map(|u| serde_json::json!(u)));
    let endpoint = format!(
        "{}/bot{token}/setWebhook",
        ctx.config.telegram_api_url.trim_end_matches('/')
    );
    let res = reqwest::Client::new()
        .post(endpoint)
        .timeout(std::time::Duration::from_secs(30))
        .json(&serde_json::json!({
            "url": url,
            "secret_token": secret,
            "allowed_updates": allowed,
        }))
        .send()
        .await
        .map_err(|e| Error::unavailable("telegram_unavailable", anyhow::anyhow!("{e}")))?;
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| Error::unavailable("telegram_unavailable", anyhow::anyhow!("{e}")))?;
    if body["ok"] == true {
        Ok(())
    } else {
        let why = body["description"].as_str().unwrap_or("no description");
        let mut err = Error::new(
            crate::ErrorKind::Unavailable,
            "telegram_rejected",
            format!("Telegram refused the request: {why}"),
        );
        err.source = Some(anyhow::anyhow!("{why}"));
        Err(err)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotMode {
    /// Telegram posts updates to `<PUBLIC_URL>/tg/<bot_id>`.
    Webhook,
    /// A poller of this deployment fetches updates with `getUpdates`.
    Polling,
}

impl BotMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BotMode::Webhook => "webhook",
            BotMode::Polling => "polling",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "webhook" {
            BotMode::Webhook
        } else {
            BotMode::Polling
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BotIn {
    /// The token @BotFather gave, e.g. `123456789:AA…`.
    pub token: String,
}

impl std::fmt::Debug for BotIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotIn { token: <redacted> }")
    }
}

/// A connected bot as the creator sees it. The token is never shown again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BotOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub telegram_bot_id: i64,
    pub username: String,
    pub mode: BotMode,
    /// Where Telegram posts updates (webhook mode only).
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn out(ctx: &AppCtx, b: bot::Model) -> BotOut {
    let mode = BotMode::parse(&b.mode);
    BotOut {
        webhook_url: match (mode, &ctx.config.public_url) {
            (BotMode::Webhook, Some(base)) => Some(webhook_url(base, b.id)),
            _ => None,
        },
        id: b.id,
        project_id: b.project_id,
        telegram_bot_id: b.telegram_bot_id,
        username: b.username,
        mode,
        created_at: b.created_at,
    }
}

fn webhook_url(public_url: &str, id: Uuid) -> String {
    format!("{}/tg/{id}", public_url.trim_end_matches('/'))
}

fn invalid_token() -> Error {
    Error::new(
        ErrorKind::Invalid,
        "invalid_bot_token",
        "Telegram does not accept this bot token; copy it again from @BotFather",
    )
    .with_field("token")
}

fn already_connected() -> Error {
    Error::conflict(
        "bot_already_connected",
        "this bot is already connected to another project; disconnect it there first",
    )
    .with_field("token")
}

/// Shape check before the token goes anywhere near a URL: `<digits>:<A-Za-z0-9_->`.
fn parse_token(raw: &str) -> Result<&str> {
    let t = raw.trim();
    let ok = t.len() <= 128
        && t.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok { Ok(t) } else { Err(invalid_token()) }
}

/// 32 random bytes, URL-safe: fits Telegram's `secret_token` and start-parameter alphabets.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub(crate) async fn find_for_project(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
) -> Result<Option<bot::Model>> {
    Ok(bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(project_id))
        .filter(bot::Column::TenantId.eq(t.tenant_id))
        .one(&ctx.db)
        .await?)
}

/// Connects (or reconnects) the project's bot: validates the token with `getMe`, then
/// points Telegram at our webhook (with `PUBLIC_URL`) or clears any webhook so polling works,
/// and only then stores the bot with its token encrypted.
pub async fn connect(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: BotIn,
) -> Result<BotOut> {
    t.may(Action::ManageBots)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let token = parse_token(&input.token)?;
    let probe = registry::client_for(ctx, token)?;
    let me = match probe.get_me().await {
        Ok(me) => me,
        Err(RequestError::Api(_)) => return Err(invalid_token()),
        Err(e) => return Err(sender::telegram_error(e)),
    };
    let telegram_bot_id = me.id.0 as i64;
    let taken = bot::Entity::find()
        .filter(bot::Column::TelegramBotId.eq(telegram_bot_id))
        .one(&ctx.db)
        .await?;
    if taken.as_ref().is_some_and(|b| b.project_id != p.id) {
        return Err(already_connected());
    }
    let existing = find_for_project(ctx, t, p.id).await?;
    let id = existing.as_ref().map_or_else(Uuid::now_v7, |b| b.id);
    let secret = random_token();
    let mode = if ctx.config.public_url.is_some() {
        BotMode::Webhook
    } else {
        BotMode::Polling
    };
    match (&ctx.config.public_url, mode) {
        (Some(base), BotMode::Webhook) => {
            set_webhook(ctx, token, &webhook_url(base, id), &secret).await?;
        }
        _ => {
            // getUpdates answers 409 while a webhook is set.
            probe
                .delete_webhook()
                .await
                .map_err(sender::telegram_error)?;
        }
    }
    if let Some(old) = existing
        .as_ref()
        .filter(|b| b.telegram_bot_id != telegram_bot_id)
    {
        // The project switched to another Telegram bot: the old one stops sending us updates.
        registry::release_webhook(ctx, old).await;
    }
    let now = ctx.now();
    let username = me.user.username.clone().unwrap_or_default();
    let am = bot::ActiveModel {
        id: Set(id),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        telegram_bot_id: Set(telegram_bot_id),
        username: Set(username.clone()),
        token_encrypted: Set(crypto::encrypt(&ctx.keys.at_rest, id, token)?),
        webhook_secret: Set(secret),
        mode: Set(mode.as_str().into()),
        created_at: Set(existing.as_ref().map_or(now, |b| b.created_at)),
    };
    let switched = existing
        .as_ref()
        .is_some_and(|b| b.telegram_bot_id != telegram_bot_id);
    let txn = ctx.db.begin().await?;
    let saved = if existing.is_some() {
        am.update(&txn).await
    } else {
        am.insert(&txn).await
    }
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => already_connected(),
        _ => Error::from(e),
    })?;
    if switched {
        // Update ids are the Telegram bot's own sequence: the new bot's must not be taken
        // for repeats of the old one's (single-node de-duplication is keyed by our bot id).
        super::updates::forget_seen_updates(&txn, id).await?;
    }
    txn.commit().await?;
    registry::changed(ctx, id).await;
    // The command menu everyone sees, in the project's default language, then one per
    // language the bot speaks (best effort: the bot works without them).
    let default = Lang::parse(&p.default_language).unwrap_or(Lang::En);
    let menus = std::iter::once((MenuFor::Everyone, default))
        .chain(Lang::ALL.map(|l| (MenuFor::Language(l.code()), l)));
    for (who, lang) in menus {
        let menu = super::owners::menu(lang, sender::SUBSCRIBER_COMMANDS);
        if let Err(e) = sender::set_commands(ctx, id, who, &menu).await {
            tracing::warn!(error = %e, bot = %id, "command menu not set");
        }
    }
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "bot.connected", "bot", id).details(serde_json::json!({
            "project_id": p.id, "username": username, "mode": mode.as_str(),
        })),
        now,
    )
    .await?;
    tracing::info!(bot = %id, project = %p.id, mode = mode.as_str(), "bot connected");
    Ok(out(ctx, saved))
}

pub async fn get(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<BotOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let b = find_for_project(ctx, t, p.id)
        .await?
        .ok_or_else(|| Error::not_found("bot"))?;
    Ok(out(ctx, b))
}

/// Disconnects the project's bot: removes the webhook, forgets the bot (and so its token),
/// and stops its poller. Channels, plans and members stay.
pub async fn disconnect(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<()> {
    t.may(Action::ManageBots)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let b = find_for_project(ctx, t, p.id)
        .await?
        .ok_or_else(|| Error::not_found("bot"))?;
    // Telegram stops charging for access this bot gave: refused if it cannot.
    crate::renewals::stop_project(ctx, p.id).await?;
    registry::release_webhook(ctx, &b).await;
    bot::Entity::delete_by_id(b.id).exec(&ctx.db).await?;
    registry::changed(ctx, b.id).await;
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "bot.disconnected", "bot", b.id).details(serde_json::json!({
            "project_id": p.id, "username": b.username,
        })),
        ctx.now(),
    )
    .await?;
    tracing::info!(bot = %b.id, project = %p.id, "bot disconnected");
    Ok(())
}

/// Constant-time check of the `X-Telegram-Bot-Api-Secret-Token` header.
pub fn secret_matches(h: &BotHandle, header: Option<&[u8]>) -> bool {
    use subtle::ConstantTimeEq;
    match header {
        Some(got) => bool::from(got.ct_eq(h.webhook_secret.as_bytes())),
        None => false,
    }
}

/// Bots served by long polling (no public URL when they were connected), of every tenant or
/// of one (test suites share a database between apps with different Telegram endpoints).
pub async fn polling_bots(ctx: &AppCtx, only_tenant: Option<Uuid>) -> Result<Vec<Uuid>> {
    let mut q = bot::Entity::find().filter(bot::Column::Mode.eq(BotMode::Polling.as_str()));
    if let Some(t) = only_tenant {
        q = q.filter(bot::Column::TenantId.eq(t));
    }
    Ok(q.all(&ctx.db).await?.into_iter().map(|b| b.id).collect())
}

/// The cached handle of a connected bot (router and poller entry point).
pub async fn handle(ctx: &AppCtx, bot_id: Uuid) -> Result<Option<Arc<BotHandle>>> {
    registry::get(ctx, bot_id).await
}

/// Whether `bot_id` is still connected in polling mode (read from the database, not the cache).
pub async fn still_polling(ctx: &AppCtx, bot_id: Uuid) -> Result<bool> {
    Ok(bot::Entity::find_by_id(bot_id)
        .filter(bot::Column::Mode.eq(BotMode::Polling.as_str()))
        .count(&ctx.db)
        .await?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_is_checked_before_any_request() {
        assert!(parse_token("123456:AAbb_cc-DD").is_ok());
        assert!(parse_token(" 123456:AAbb ").is_ok());
        for bad in [
            "",
            "abc",
            "123456:",
            ":abc",
            "12a:abc",
            "1:abc/../x",
            "1:a b",
        ] {
            assert!(parse_token(bad).is_err(), "{bad}");
        }
    }
}
