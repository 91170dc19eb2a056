//! The one outgoing sender: every message any part of Gatehouse sends through a project's bot
//! goes through here, paced to Telegram's limits (about one message per second per chat and
//! thirty per second per bot) and retried after a 429 once its `retry_after` has passed.
//!
//! Pacing is a reservation of time slots per bot (in its cached handle): each message takes the
//! next free slot that is at least [`PER_BOT`] after the bot's previous message and
//! [`PER_CHAT`] after that chat's previous one, then sleeps until it. Calls that are not a
//! message to a chat (invite links, join approvals, removals, callback answers) are paced
//! [`PER_BOT`] apart on a budget of their own: Telegram's 30 per second counts messages, and a
//! redemption's invite link must not push its own reply a slot later. A 429 holds every call
//! of that bot, on both budgets, until `retry_after` has passed, then the call is sent again.
//! The limits are per process; several processes sending through one bot share Telegram's
//! budget, and the 429 handling is what keeps that safe.
//!
//! Messages go in one of two lanes. Replies to subscribers (redemptions, payments, `/start`
//! answers, reminders: every message but a broadcast's) reserve their slot at once, however
//! far ahead it is. A broadcast message ([`send_broadcast_html`]) never reserves ahead: it
//! takes a slot only when the bot's next free slot (and its chat's) is now, and otherwise
//! sleeps until then and looks again. So however many broadcast messages are waiting, at most
//! one broadcast slot stands between a reply and the bot's next free slot, and a reply is
//! never delayed by broadcasts by more than one [`PER_BOT`] slot; broadcasts fill the slots
//! replies leave, which at full load is the bot's whole budget less the replies.
use std::{
    collections::HashMap,
    future::Future,
    time::{Duration, Instant},
};

use teloxide::{
    RequestError,
    payloads::{
        AnswerCallbackQuerySetters, SendDocumentSetters, SendMessageSetters, SetMyCommandsSetters,
    },
    prelude::Requester,
    types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile},
};
use uuid::Uuid;

use crate::{
    AppCtx,
    error::{Error, Result},
    telegram::registry::{self, BotHandle},
};

/// Spacing between two messages of one bot (30 per second).
pub const PER_BOT: Duration = Duration::from_millis(34);
/// Spacing between two messages to one chat (about 1 per second).
pub const PER_CHAT: Duration = Duration::from_secs(1);
/// How many 429s one message waits out before giving up.
const MAX_RETRY_AFTER: u32 = 5;
/// How many network or server failures one message retries (with backoff).
const MAX_FAILURES: u32 = 3;

#[derive(Debug, Clone, Default)]
pub(crate) struct Pace {
    /// The bot's next free message slot.
    bot_next: Option<Instant>,
    /// The bot's next free slot for calls that are not messages.
    calls_next: Option<Instant>,
    /// Set by a 429: nothing goes out through this bot before it.
    held_until: Option<Instant>,
    chats: HashMap<i64, Instant>,
}

/// An inline keyboard button, in our terms so callers need not know teloxide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// Sends `data` back to the bot as a callback query.
    Callback { text: String, data: String },
    /// Opens a URL.
    Url { text: String, url: String },
}

/// Rows of buttons.
pub type Keyboard = Vec<Vec<Button>>;

fn markup(k: Keyboard) -> Result<InlineKeyboardMarkup> {
    let mut rows = Vec::with_capacity(k.len());
    for row in k {
        let mut out = Vec::with_capacity(row.len());
        for b in row {
            out.push(match b {
                Button::Callback { text, data } => InlineKeyboardButton::callback(text, data),
                Button::Url { text, url } => InlineKeyboardButton::url(
                    text,
                    reqwest::Url::parse(&url).map_err(Error::internal)?,
                ),
            });
        }
        rows.push(out);
    }
    Ok(InlineKeyboardMarkup::new(rows))
}

async fn handle(ctx: &AppCtx, bot_id: Uuid) -> Result<std::sync::Arc<BotHandle>> {
    registry::get(ctx, bot_id)
        .await?
        .ok_or_else(|| Error::not_found("bot"))
}

/// What a Bot API call is paced as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// A message to a chat, in the reply lane: its slot is reserved at once.
    Reply(i64),
    /// A broadcast message to a chat, in the low lane: it takes only a slot that is free now.
    Broadcast(i64),
    /// Any other call, on the bot's budget for calls.
    Call,
    /// An answer Telegram waits for with a deadline (`answerPreCheckoutQuery`: 10 s, or the
    /// payment fails): not a message, so only a 429 hold delays it. Paced on the calls'
    /// budget, a flash sale of a few hundred payers would answer the last ones too late.
    Answer,
}

/// The earliest a message to `chat` may go: the bot's next free message slot, the chat's, and
/// the end of a 429 hold, whichever is last (and not before `now`).
fn message_slot(p: &Pace, chat: i64, now: Instant) -> Instant {
    let mut t = p.held_until.map_or(now, |n| n.max(now));
    if let Some(n) = p.bot_next {
        t = t.max(n);
    }
    if let Some(n) = p.chats.get(&chat) {
        t = t.max(*n);
    }
    t
}

/// Takes the message slot `t` for `chat`.
fn take_message_slot(p: &mut Pace, chat: i64, t: Instant, now: Instant) {
    p.chats.insert(chat, t + PER_CHAT);
    registry::prune(&mut p.chats, now);
    p.bot_next = Some(t + PER_BOT);
}

/// Reserves this call's slot and sleeps until it (see the module doc for the lanes).
async fn wait_turn(h: &BotHandle, turn: Turn) {
    loop {
        let (at, taken) = {
            let mut p = h.pace.lock().expect("pace lock");
            let now = Instant::now();
            match turn {
                Turn::Reply(c) => {
                    let t = message_slot(&p, c, now);
                    take_message_slot(&mut p, c, t, now);
                    (t, true)
                }
                Turn::Broadcast(c) => {
                    let t = message_slot(&p, c, now);
                    let free_now = t <= now;
                    if free_now {
                        take_message_slot(&mut p, c, now, now);
                    }
                    (t, free_now)
                }
                Turn::Answer => (p.held_until.map_or(now, |n| n.max(now)), true),
                Turn::Call => {
                    let earliest = p.held_until.map_or(now, |n| n.max(now));
                    let t = p.calls_next.map_or(earliest, |n| n.max(earliest));
                    p.calls_next = Some(t + PER_BOT);
                    (t, true)
                }
            }
        };
        tokio::time::sleep_until(at.into()).await;
        if taken {
            return;
        }
    }
}

/// Runs one Bot API call under the bot's pacing: a message to `chat` in the reply lane, or
/// (`None`) another call.
async fn deliver<T, F, Fut>(h: &BotHandle, chat: Option<i64>, call: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = std::result::Result<T, RequestError>>,
{
    deliver_as(h, chat.map_or(Turn::Call, Turn::Reply), call).await
}

/// Runs one Bot API call paced as `turn`, waiting out 429s and retrying failures.
pub(super) async fn deliver_as<T, F, Fut>(h: &BotHandle, turn: Turn, call: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = std::result::Result<T, RequestError>>,
{
    let (mut limited, mut failed) = (0u32, 0u32);
    loop {
        wait_turn(h, turn).await;
        match call().await {
            Ok(v) => return Ok(v),
            Err(RequestError::RetryAfter(s)) if limited < MAX_RETRY_AFTER => {
                limited += 1;
                let until = Instant::now() + s.duration();
                let mut p = h.pace.lock().expect("pace lock");
                p.held_until = Some(p.held_until.map_or(until, |n| n.max(until)));
                tracing::warn!(bot = %h.id, retry_after = s.seconds(), "Telegram asked to slow down");
            }
            Err(e) if transient(&e) && failed < MAX_FAILURES => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(250 << failed)).await;
            }
            Err(e) => return Err(telegram_error(e)),
        }
    }
}

/// Failures worth another try: the network, an unreadable answer (a proxy's HTML error page),
/// or a server error Telegram reported as JSON.
fn transient(e: &RequestError) -> bool {
    match e {
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => true,
        RequestError::Api(teloxide::ApiError::Unknown(d)) => [
            "Internal Server Error",
            "Bad Gateway",
            "Service Unavailable",
            "Gateway Timeout",
        ]
        .iter()
        .any(|p| d.starts_with(p)),
        _ => false,
    }
}

/// Maps a Bot API failure to the domain error; teloxide strips tokens from network errors.
pub(crate) fn telegram_error(e: RequestError) -> Error {
    match e {
        RequestError::Api(
            api @ (teloxide::ApiError::BotBlocked | teloxide::ApiError::UserDeactivated),
        ) => {
            let mut err = Error::new(
                crate::ErrorKind::Unavailable,
                BLOCKED,
                format!("Telegram refused the message: {api}"),
            );
            err.source = Some(anyhow::anyhow!("{api}"));
            err
        }
        RequestError::Api(api) => {
            let mut err = Error::new(
                crate::ErrorKind::Unavailable,
                "telegram_rejected",
                format!("Telegram refused the request: {api}"),
            );
            err.source = Some(anyhow::anyhow!("{api}"));
            err
        }
        other => Error::unavailable("telegram_unavailable", anyhow::anyhow!("{other}")),
    }
}

/// The error code of a message refused because the user blocked the bot (or deleted their
/// account): sending to them again is pointless until they talk to the bot again.
pub const BLOCKED: &str = "telegram_blocked";

/// Sends a broadcast message written in Telegram's HTML subset (`parse_mode` HTML) through
/// the bot, in the low lane (behind every reply: see the module doc); returns Telegram's
/// message id.
pub async fn send_broadcast_html(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    html: &str,
    keyboard: Option<Keyboard>,
) -> Result<i32> {
    let h = handle(ctx, bot_id).await?;
    let markup = keyboard.map(markup).transpose()?;
    let msg = deliver_as(&h, Turn::Broadcast(chat_id), || {
        let req = h
            .bot
            .send_message(ChatId(chat_id), html)
            .parse_mode(teloxide::types::ParseMode::Html);
        let req = match &markup {
            Some(m) => req.reply_markup(m.clone()),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(msg.id.0)
}

/// Sends a broadcast photo (Telegram fetches `photo_url`) with `caption_html` (Telegram's HTML
/// subset, at most 1,024 characters shown) through the bot, in the low lane like
/// [`send_broadcast_html`]; returns Telegram's message id.
pub async fn send_broadcast_photo(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    photo_url: &str,
    caption_html: &str,
    keyboard: Option<Keyboard>,
) -> Result<i32> {
    use teloxide::payloads::SendPhotoSetters;
    let h = handle(ctx, bot_id).await?;
    let markup = keyboard.map(markup).transpose()?;
    let url = reqwest::Url::parse(photo_url).map_err(Error::internal)?;
    let msg = deliver_as(&h, Turn::Broadcast(chat_id), || {
        let req = h
            .bot
            .send_photo(ChatId(chat_id), InputFile::url(url.clone()))
            .caption(caption_html)
            .parse_mode(teloxide::types::ParseMode::Html);
        let req = match &markup {
            Some(m) => req.reply_markup(m.clone()),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(msg.id.0)
}

/// Sends a text message through the bot; returns Telegram's message id.
pub async fn send_message(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    text: &str,
    keyboard: Option<Keyboard>,
) -> Result<i32> {
    let h = handle(ctx, bot_id).await?;
    let markup = keyboard.map(markup).transpose()?;
    let msg = deliver(&h, Some(chat_id), || {
        let req = h.bot.send_message(ChatId(chat_id), text);
        let req = match &markup {
            Some(m) => req.reply_markup(m.clone()),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(msg.id.0)
}

/// The command menu every user of a bot sees: each command with the catalogue key of its
/// description.
pub const SUBSCRIBER_COMMANDS: &[(&str, &str)] = &[
    ("start", "cmd-start"),
    ("my", "cmd-my"),
    ("help", "cmd-help"),
];

/// The menu of a linked owner's chat: the subscriber commands plus the owner commands.
pub const OWNER_COMMANDS: &[(&str, &str)] = &[
    ("start", "cmd-start"),
    ("my", "cmd-my"),
    ("help", "cmd-help"),
    ("codes", "cmd-codes"),
    ("code", "cmd-code"),
    ("members", "cmd-members"),
    ("newcode", "cmd-newcode"),
    ("cancel", "cmd-cancel"),
];

/// Which users a command menu is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuFor<'a> {
    /// Everyone whose language has no menu of its own.
    Everyone,
    /// Users whose Telegram language is this one (`language_code`, e.g. `ru`).
    Language(&'a str),
    /// One chat (`BotCommandScopeChat`), whatever its language.
    Chat(i64),
}

/// Sets the bot's command menu (`setMyCommands`) for `who`: each command with its
/// description, already worded.
pub async fn set_commands(
    ctx: &AppCtx,
    bot_id: Uuid,
    who: MenuFor<'_>,
    commands: &[(&str, String)],
) -> Result<()> {
    use teloxide::types::{BotCommand, BotCommandScope, Recipient};
    let h = handle(ctx, bot_id).await?;
    let list: Vec<BotCommand> = commands
        .iter()
        .map(|(c, d)| BotCommand::new(*c, d.clone()))
        .collect();
    deliver(&h, None, || {
        let req = h.bot.set_my_commands(list.clone());
        let req = match who {
            MenuFor::Chat(c) => req.scope(BotCommandScope::Chat {
                chat_id: Recipient::Id(ChatId(c)),
            }),
            MenuFor::Language(code) => req.language_code(code),
            MenuFor::Everyone => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(())
}

/// Sends a file (e.g. a CSV of codes) through the bot; returns Telegram's message id.
pub async fn send_document(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    filename: &str,
    bytes: Vec<u8>,
    caption: Option<&str>,
) -> Result<i32> {
    let h = handle(ctx, bot_id).await?;
    let bytes = bytes::Bytes::from(bytes);
    let filename = filename.to_string();
    let msg = deliver(&h, Some(chat_id), || {
        let file = InputFile::memory(bytes.clone()).file_name(filename.clone());
        let req = h.bot.send_document(ChatId(chat_id), file);
        let req = match caption {
            Some(c) => req.caption(c),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(msg.id.0)
}

/// Answers a button press (stops the client's spinner), optionally with a short notice.
pub async fn answer_callback(
    ctx: &AppCtx,
    bot_id: Uuid,
    callback_id: &str,
    text: Option<&str>,
) -> Result<()> {
    let h = handle(ctx, bot_id).await?;
    let id = teloxide::types::CallbackQueryId(callback_id.to_string());
    deliver(&h, None, || {
        let req = h.bot.answer_callback_query(id.clone());
        let req = match text {
            Some(t) => req.text(t),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(())
}

// --- channel access (the subscription service's calls) --------------------------------------
//
// Channel administration is not a chat message: it is paced on the bot's budget for calls.

/// A personal invite link that creates a join request (the bot approves only the subscriber),
/// named for the subscription so the creator can tell links apart in Telegram.
pub async fn create_join_request_link(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    name: &str,
) -> Result<String> {
    use teloxide::payloads::CreateChatInviteLinkSetters;
    let h = handle(ctx, bot_id).await?;
    let link = deliver(&h, None, || {
        let req = h
            .bot
            .create_chat_invite_link(ChatId(chat_id))
            .creates_join_request(true)
            .name(name.to_string());
        async move { req.await }
    })
    .await?;
    Ok(link.invite_link)
}

pub async fn approve_join(ctx: &AppCtx, bot_id: Uuid, chat_id: i64, user_id: i64) -> Result<()> {
    let h = handle(ctx, bot_id).await?;
    deliver(&h, None, || {
        let req = h
            .bot
            .approve_chat_join_request(ChatId(chat_id), teloxide::types::UserId(user_id as u64));
        async move { req.await }
    })
    .await?;
    Ok(())
}

pub async fn decline_join(ctx: &AppCtx, bot_id: Uuid, chat_id: i64, user_id: i64) -> Result<()> {
    let h = handle(ctx, bot_id).await?;
    deliver(&h, None, || {
        let req = h
            .bot
            .decline_chat_join_request(ChatId(chat_id), teloxide::types::UserId(user_id as u64));
        async move { req.await }
    })
    .await?;
    Ok(())
}

/// Removes a user from a chat so they can come back later: ban (which removes them), then
/// unban only if banned (which lifts the ban without adding them back).
pub async fn remove_member(ctx: &AppCtx, bot_id: Uuid, chat_id: i64, user_id: i64) -> Result<()> {
    use teloxide::payloads::UnbanChatMemberSetters;
    let h = handle(ctx, bot_id).await?;
    let user = teloxide::types::UserId(user_id as u64);
    deliver(&h, None, || {
        let req = h.bot.ban_chat_member(ChatId(chat_id), user);
        async move { req.await }
    })
    .await?;
    deliver(&h, None, || {
        let req = h
            .bot
            .unban_chat_member(ChatId(chat_id), user)
            .only_if_banned(true);
        async move { req.await }
    })
    .await?;
    Ok(())
}

// --- Telegram Stars (the payments service's calls): `stars` ---------------------------------

mod stars;
pub use stars::*;
