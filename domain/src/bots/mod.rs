//! Bots: connecting and disconnecting a project's Telegram bot, the facts the bot
//! conversations need (welcome, public plans, owner links, code counts, channels), update
//! de-duplication, conversation state, and the one outgoing sender (see [`sender`]).
//!
//! `/tg/{bot_id}` names a bot by our own `bots.id` (a UUIDv7), never by its token or its
//! Telegram id: the token must not appear in a URL, and the Telegram id is guessable. A
//! project keeps its `bots.id` across reconnects (token rotation or switching to another
//! Telegram bot), so its webhook URL is stable.
pub mod crypto;
pub mod registry;
pub mod sender;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use teloxide::{
    RequestError, payloads::SetWebhookSetters, prelude::Requester, types::AllowedUpdate,
};
use uuid::Uuid;

use entity::{access_code, bot, bot_conversation, bot_update, channel, owner_link, plan, project};

pub use registry::BotHandle;
pub use sender::{Button, Keyboard, answer_callback, send_document, send_message};

use crate::{
    AppCtx, ErrorKind, audit,
    channels::ChannelKind,
    error::{Error, Result},
    projects,
    tenants::{self, TenantCtx, TenantStatus},
};

/// The update types a Gatehouse bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 5] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::MyChatMember,
    AllowedUpdate::ChatMember,
    AllowedUpdate::ChatJoinRequest,
];

/// Telegram retries an undelivered update for up to 24 hours; remember ids that long.
pub const SEEN_UPDATE_TTL_SECS: u64 = 24 * 60 * 60;
/// How long a one-time owner link can be opened.
pub const OWNER_LINK_TTL_MINUTES: i64 = 60;
/// How long a half-finished conversation (e.g. "send me your code") is remembered.
pub const CONVERSATION_TTL_MINUTES: i64 = 60;

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
fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn find_for_project(
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
    t.writable()?;
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
            let url = reqwest::Url::parse(&webhook_url(base, id)).map_err(Error::internal)?;
            probe
                .set_webhook(url)
                .secret_token(secret.clone())
                .allowed_updates(ALLOWED_UPDATES)
                .await
                .map_err(sender::telegram_error)?;
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
        release_webhook(ctx, old).await;
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
    let saved = if existing.is_some() {
        am.update(&ctx.db).await
    } else {
        am.insert(&ctx.db).await
    }
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => already_connected(),
        _ => Error::from(e),
    })?;
    registry::evict(id);
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

/// Best-effort `deleteWebhook` for a bot we are letting go of; a revoked token or an
/// unreachable Telegram must not stop the creator from disconnecting.
async fn release_webhook(ctx: &AppCtx, b: &bot::Model) {
    let res = match crypto::decrypt(&ctx.keys.at_rest, b.id, &b.token_encrypted)
        .and_then(|token| registry::client_for(ctx, &token))
    {
        Ok(client) => client
            .delete_webhook()
            .await
            .map_err(sender::telegram_error),
        Err(e) => Err(e),
    };
    if let Err(e) = res {
        tracing::warn!(bot = %b.id, error = %e, "could not remove the webhook of a released bot");
    }
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
    t.writable()?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let b = find_for_project(ctx, t, p.id)
        .await?
        .ok_or_else(|| Error::not_found("bot"))?;
    release_webhook(ctx, &b).await;
    bot::Entity::delete_by_id(b.id).exec(&ctx.db).await?;
    registry::evict(b.id);
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

/// Forgets update ids older than Telegram's retry window (single-node mode).
pub async fn prune_seen_updates(ctx: &AppCtx) -> Result<u64> {
    let cutoff = ctx.now() - Duration::seconds(SEEN_UPDATE_TTL_SECS as i64);
    Ok(bot_update::Entity::delete_many()
        .filter(bot_update::Column::SeenAt.lt(cutoff))
        .exec(&ctx.db)
        .await?
        .rows_affected)
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

// --- conversation state -------------------------------------------------------------

/// Where a user stands in a multi-step conversation, kept in the database so whichever
/// process receives the next update can continue it. The step's name is the row's `state`;
/// what was chosen so far is its `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Conversation {
    /// The user pressed "Redeem a code"; the next text they send is a code.
    AwaitingCode,
    /// `/newcode`: the owner picks a plan (a button).
    NewCodePlan,
    /// `/newcode`: the owner types how many codes.
    NewCodeQuantity { plan_id: Uuid },
    /// `/newcode`: the owner picks (or types, in days) when the codes expire.
    NewCodeExpiry { plan_id: Uuid, quantity: i64 },
    /// `/newcode`: the preview is shown; Confirm generates. `nonce` names this request: the
    /// Confirm button carries it and the batch's idempotency key is derived from it, so a
    /// double tap (or a retried update) makes one batch.
    NewCodeConfirm {
        plan_id: Uuid,
        quantity: i64,
        expiry: NewCodeExpiry,
        nonce: Uuid,
    },
}

/// The codes' expiry as chosen in `/newcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewCodeExpiry {
    /// `none`, `1d`, `1w`, `1m` or `1y` (see [`crate::codes::ExpiryIn`]).
    Preset(ExpiryPreset),
    Days(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryPreset {
    #[serde(rename = "none")]
    Never,
    #[serde(rename = "1d")]
    Day,
    #[serde(rename = "1w")]
    Week,
    #[serde(rename = "1m")]
    Month,
    #[serde(rename = "1y")]
    Year,
}

impl ExpiryPreset {
    pub const ALL: [ExpiryPreset; 5] = [
        ExpiryPreset::Never,
        ExpiryPreset::Day,
        ExpiryPreset::Week,
        ExpiryPreset::Month,
        ExpiryPreset::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryPreset::Never => "none",
            ExpiryPreset::Day => "1d",
            ExpiryPreset::Week => "1w",
            ExpiryPreset::Month => "1m",
            ExpiryPreset::Year => "1y",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl NewCodeExpiry {
    /// Days typed by the owner, checked with the API's own rule.
    pub fn days(typed: &str) -> Option<Self> {
        let d: i64 = typed.trim().parse().ok()?;
        (1..=crate::codes::MAX_CUSTOM_DAYS)
            .contains(&d)
            .then_some(NewCodeExpiry::Days(d))
    }

    pub fn to_input(self) -> crate::codes::ExpiryIn {
        match self {
            NewCodeExpiry::Preset(p) => crate::codes::ExpiryIn {
                preset: Some(p.as_str().into()),
                ..Default::default()
            },
            NewCodeExpiry::Days(d) => crate::codes::ExpiryIn {
                days: Some(d),
                ..Default::default()
            },
        }
    }
}

impl Conversation {
    fn step(&self) -> &'static str {
        match self {
            Conversation::AwaitingCode => "awaiting_code",
            Conversation::NewCodePlan => "new_code_plan",
            Conversation::NewCodeQuantity { .. } => "new_code_quantity",
            Conversation::NewCodeExpiry { .. } => "new_code_expiry",
            Conversation::NewCodeConfirm { .. } => "new_code_confirm",
        }
    }

    fn parse(state: &str, data: &serde_json::Value) -> Option<Self> {
        if state == "awaiting_code" {
            return Some(Conversation::AwaitingCode);
        }
        let c: Conversation = serde_json::from_value(data.clone()).ok()?;
        (c.step() == state).then_some(c)
    }
}

pub async fn set_conversation(
    ctx: &AppCtx,
    bot_id: Uuid,
    telegram_user_id: i64,
    state: Conversation,
) -> Result<()> {
    use bot_conversation::Column as C;
    let data = serde_json::to_value(&state).map_err(Error::internal)?;
    bot_conversation::Entity::insert(bot_conversation::ActiveModel {
        bot_id: Set(bot_id),
        telegram_user_id: Set(telegram_user_id),
        state: Set(state.step().into()),
        data: Set(data),
        expires_at: Set(ctx.now() + Duration::minutes(CONVERSATION_TTL_MINUTES)),
    })
    .on_conflict(
        OnConflict::columns([C::BotId, C::TelegramUserId])
            .update_columns([C::State, C::Data, C::ExpiresAt])
            .to_owned(),
    )
    .exec_without_returning(&ctx.db)
    .await?;
    Ok(())
}

/// The user's current conversation, if one is under way and not expired.
pub async fn conversation(
    ctx: &AppCtx,
    bot_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Conversation>> {
    let row = bot_conversation::Entity::find_by_id((bot_id, telegram_user_id))
        .one(&ctx.db)
        .await?;
    Ok(row
        .filter(|r| r.expires_at > ctx.now())
        .and_then(|r| Conversation::parse(&r.state, &r.data)))
}

pub async fn clear_conversation(ctx: &AppCtx, bot_id: Uuid, telegram_user_id: i64) -> Result<()> {
    bot_conversation::Entity::delete_by_id((bot_id, telegram_user_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

// --- what the bot shows -------------------------------------------------------------

/// Whether the bot's tenant may be served (a suspended tenant's bot says it is paused).
pub async fn tenant_active(ctx: &AppCtx, h: &BotHandle) -> Result<bool> {
    let tenant = tenants::load(ctx, h.tenant_id).await?;
    Ok(TenantStatus::parse(&tenant.status) == TenantStatus::Active)
}

async fn project_of(ctx: &AppCtx, h: &BotHandle) -> Result<project::Model> {
    project::Entity::find_by_id(h.project_id)
        .filter(project::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))
}

#[derive(Debug, Clone)]
pub struct PublicPlan {
    pub id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    /// None: lifetime.
    pub duration_days: Option<i32>,
}

impl PublicPlan {
    /// e.g. `Monthly — 9.99 USD / 30 days`.
    pub fn describe(&self) -> String {
        let price = if self.price_minor == 0 {
            "free".to_string()
        } else {
            format!(
                "{} {}",
                format_minor(self.price_minor, &self.currency),
                self.currency
            )
        };
        let term = match self.duration_days {
            None => "lifetime".to_string(),
            Some(1) => "1 day".to_string(),
            Some(d) => format!("{d} days"),
        };
        format!("{} — {price} / {term}", self.name)
    }
}

/// Minor units as a decimal amount (currencies without minor units print whole).
pub fn format_minor(minor: i64, currency: &str) -> String {
    const ZERO_DECIMAL: [&str; 12] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "UGX", "VND", "XAF",
    ];
    if ZERO_DECIMAL.contains(&currency) {
        minor.to_string()
    } else {
        format!("{}.{:02}", minor / 100, (minor % 100).abs())
    }
}

/// What `/start` shows: the welcome, the public plans, and whether codes can be redeemed.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub project_name: String,
    pub text: String,
    pub plans: Vec<PublicPlan>,
    pub codes_enabled: bool,
}

/// The project's welcome and its public plans (active and not codes-only).
pub async fn welcome(ctx: &AppCtx, h: &BotHandle) -> Result<Welcome> {
    let p = project_of(ctx, h).await?;
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(p.id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .filter(plan::Column::Active.eq(true))
        .filter(plan::Column::CodesOnly.eq(false))
        .order_by_asc(plan::Column::PriceMinor)
        .order_by_asc(plan::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|pl| PublicPlan {
            id: pl.id,
            name: pl.name,
            price_minor: pl.price_minor,
            currency: pl.currency,
            duration_days: pl.duration_days,
        })
        .collect();
    Ok(Welcome {
        project_name: p.name,
        text: p.welcome_message,
        plans,
        codes_enabled: p.access_codes_enabled,
    })
}

// --- owner linking ------------------------------------------------------------------

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
            "owner_link_invalid",
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
    crate::delivery::resume_waiting(ctx, h.project_id).await?;
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
        && let Ok(crate::accounts::Principal::Creator(t)) =
            crate::accounts::principal_for_user(ctx, user_id).await
        && t.tenant_id == h.tenant_id
    {
        return Ok(Some(t));
    }
    // The link was made by an API key, or its creator is gone: act as the tenant, labelled
    // with the Telegram account.
    let tenant = tenants::load(ctx, h.tenant_id).await?;
    Ok(Some(TenantCtx {
        tenant_id: h.tenant_id,
        role: tenants::Role::Member,
        status: TenantStatus::parse(&tenant.status),
        actor: tenants::Actor {
            user_id: None,
            label: format!("telegram:{telegram_user_id}"),
        },
    }))
}

/// The plans an owner can generate codes for: the project's active plans (codes-only ones
/// included), cheapest first.
pub async fn code_plans(ctx: &AppCtx, h: &BotHandle) -> Result<Vec<PublicPlan>> {
    Ok(plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .filter(plan::Column::Active.eq(true))
        .order_by_asc(plan::Column::PriceMinor)
        .order_by_asc(plan::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|pl| PublicPlan {
            id: pl.id,
            name: pl.name,
            price_minor: pl.price_minor,
            currency: pl.currency,
            duration_days: pl.duration_days,
        })
        .collect())
}

/// The plan by id if it belongs to the bot's project (active or not).
pub async fn project_plan(
    ctx: &AppCtx,
    h: &BotHandle,
    plan_id: Uuid,
) -> Result<Option<PublicPlan>> {
    Ok(plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .map(|pl| PublicPlan {
            id: pl.id,
            name: pl.name,
            price_minor: pl.price_minor,
            currency: pl.currency,
            duration_days: pl.duration_days,
        }))
}

/// The idempotency key of a `/newcode` confirmation (one batch per confirmed preview).
pub fn newcode_idempotency_key(h: &BotHandle, telegram_user_id: i64, nonce: Uuid) -> String {
    format!("tg-newcode:{}:{telegram_user_id}:{nonce}", h.id)
}

/// `/codes`: the project's access codes by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeCounts {
    pub unredeemed: u64,
    pub redeemed: u64,
    pub expired: u64,
}

pub async fn code_counts(ctx: &AppCtx, h: &BotHandle) -> Result<CodeCounts> {
    use access_code::Column as C;
    let now = ctx.now();
    let base = || {
        access_code::Entity::find()
            .filter(C::ProjectId.eq(h.project_id))
            .filter(C::TenantId.eq(h.tenant_id))
    };
    let redeemed = base()
        .filter(C::ActivationCount.gt(0))
        .count(&ctx.db)
        .await?;
    let expired = base()
        .filter(C::ActivationCount.eq(0))
        .filter(C::ExpiresAt.lte(now))
        .count(&ctx.db)
        .await?;
    let unredeemed = base()
        .filter(C::ActivationCount.eq(0))
        .filter(
            sea_orm::Condition::any()
                .add(C::ExpiresAt.is_null())
                .add(C::ExpiresAt.gt(now)),
        )
        .count(&ctx.db)
        .await?;
    Ok(CodeCounts {
        unredeemed,
        redeemed,
        expired,
    })
}

// --- channels the bot administers ---------------------------------------------------

/// A chat as Telegram describes it in a `my_chat_member` update.
#[derive(Debug, Clone)]
pub struct ChatFacts {
    pub id: i64,
    pub title: String,
    pub kind: ChannelKind,
}

/// The bot became an admin of a channel or group (register it, or make it available again),
/// or lost its rights there (mark it unavailable; plans keep it, so access can come back).
pub async fn bot_membership_changed(
    ctx: &AppCtx,
    h: &BotHandle,
    chat: ChatFacts,
    is_admin: bool,
) -> Result<()> {
    use channel::Column as C;
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
        .take(crate::channels::TITLE_MAX)
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

    #[test]
    fn prices_print_in_major_units() {
        assert_eq!(format_minor(999, "USD"), "9.99");
        assert_eq!(format_minor(500, "JPY"), "500");
        assert_eq!(format_minor(5, "EUR"), "0.05");
    }
}
