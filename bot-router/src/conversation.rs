//! The conversations: what the bot answers to subscribers and to the project's linked owners.
//! Every fact and rule comes from `domain::bots`; this module only reads updates and words
//! the replies. Conversation state lives in the database (`domain::bots::set_conversation`),
//! so any process can carry on a conversation another one started.
use domain::{
    AppCtx,
    bots::{self, BotHandle, Button, ChatFacts, Conversation},
    channels::ChannelKind,
};

use crate::update::{CallbackQuery, ChatMemberUpdated, Incoming, Message};

/// Callback data of the "Redeem a code" button.
pub const REDEEM_BUTTON: &str = "redeem";

pub const PAUSED: &str = "This service is paused at the moment. Please try again later.";
pub const ASK_FOR_CODE: &str = "Send me your access code.";
pub const OWNER_LINK_INVALID: &str =
    "This owner link is unknown, expired or already used. Create a new one in the dashboard.";
pub const OWNERS_ONLY: &str = "This command is for the project's owners. Link your Telegram account from the dashboard first.";
pub const SOMETHING_WENT_WRONG: &str =
    "Something went wrong on our side. Please try again in a minute.";

/// Handles one update; failures are logged (and, where a user is waiting, answered).
pub async fn dispatch(ctx: &AppCtx, h: &BotHandle, upd: Incoming) {
    let update_id = upd.update_id;
    let res = if let Some(m) = upd.message {
        on_message(ctx, h, m).await
    } else if let Some(cb) = upd.callback_query {
        on_callback(ctx, h, cb).await
    } else if let Some(mc) = upd.my_chat_member {
        on_my_chat_member(ctx, h, mc).await
    } else {
        Ok(())
    };
    if let Err(e) = res {
        tracing::error!(bot = %h.id, update_id, error = %e, "handling update failed");
    }
}

/// `/start@MyBot payload` → (`start`, `payload`); None when the text is not a command.
fn command<'a>(text: &'a str, bot_username: &str) -> Option<(&'a str, &'a str)> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (head, arg) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(h, a)| (h, a.trim()));
    let name = match head.split_once('@') {
        Some((n, to)) if to.eq_ignore_ascii_case(bot_username) => n,
        Some(_) => return None,
        None => head,
    };
    Some((name, arg))
}

async fn say(ctx: &AppCtx, h: &BotHandle, chat: i64, text: &str) -> domain::Result<()> {
    bots::send_message(ctx, h.id, chat, text, None).await?;
    Ok(())
}

async fn on_message(ctx: &AppCtx, h: &BotHandle, m: Message) -> domain::Result<()> {
    // Conversations are one-to-one; the bot stays quiet in groups and channels.
    if m.chat.kind != "private" {
        return Ok(());
    }
    let (Some(from), Some(text)) = (m.from, m.text) else {
        return Ok(());
    };
    let chat = m.chat.id;
    if !bots::tenant_active(ctx, h).await? {
        return say(ctx, h, chat, PAUSED).await;
    }
    match command(&text, &h.username) {
        Some(("start", arg)) => {
            if let Some(token) = arg.strip_prefix("o_") {
                return link_owner(ctx, h, token, from.id, chat).await;
            }
            // `c_<CODE>` deep links are answered by the redemption flow once it lands; until
            // then the user gets the welcome, which offers the code button.
            bots::clear_conversation(ctx, h.id, from.id).await?;
            start(ctx, h, chat).await
        }
        Some(("codes", _)) => codes(ctx, h, from.id, chat).await,
        Some(_) => Ok(()),
        None => {
            // Free text continues a conversation. Validating a typed code belongs to the
            // redemption flow, which reads `Conversation::AwaitingCode` from here.
            match bots::conversation(ctx, h.id, from.id).await? {
                Some(Conversation::AwaitingCode) => Ok(()),
                None => say(ctx, h, chat, "Send /start to see what this bot offers.").await,
            }
        }
    }
}

async fn start(ctx: &AppCtx, h: &BotHandle, chat: i64) -> domain::Result<()> {
    let w = bots::welcome(ctx, h).await?;
    let mut text = w.text.clone();
    if !w.plans.is_empty() {
        text.push_str("\n\nPlans:");
        for p in &w.plans {
            text.push_str("\n• ");
            text.push_str(&p.describe());
        }
    }
    let keyboard = w.codes_enabled.then(|| {
        vec![vec![Button::Callback {
            text: "Redeem a code".into(),
            data: REDEEM_BUTTON.into(),
        }]]
    });
    bots::send_message(ctx, h.id, chat, &text, keyboard).await?;
    Ok(())
}

async fn link_owner(
    ctx: &AppCtx,
    h: &BotHandle,
    token: &str,
    user: i64,
    chat: i64,
) -> domain::Result<()> {
    match bots::redeem_owner_link(ctx, h, token, user, chat).await {
        Ok(project) => {
            let text = format!(
                "Done: this Telegram account is now an owner of “{project}”.\nOwner commands: /codes"
            );
            say(ctx, h, chat, &text).await
        }
        Err(e) if e.code == "owner_link_invalid" => say(ctx, h, chat, OWNER_LINK_INVALID).await,
        Err(e) => {
            let _ = say(ctx, h, chat, SOMETHING_WENT_WRONG).await;
            Err(e)
        }
    }
}

async fn codes(ctx: &AppCtx, h: &BotHandle, user: i64, chat: i64) -> domain::Result<()> {
    if !bots::is_owner(ctx, h, user).await? {
        return say(ctx, h, chat, OWNERS_ONLY).await;
    }
    let c = bots::code_counts(ctx, h).await?;
    let text = format!(
        "Access codes\nUnredeemed: {}\nRedeemed: {}\nExpired: {}",
        c.unredeemed, c.redeemed, c.expired
    );
    say(ctx, h, chat, &text).await
}

async fn on_callback(ctx: &AppCtx, h: &BotHandle, cb: CallbackQuery) -> domain::Result<()> {
    let chat = cb.message.as_ref().map_or(cb.from.id, |m| m.chat.id);
    if !bots::tenant_active(ctx, h).await? {
        bots::answer_callback(ctx, h.id, &cb.id, Some(PAUSED)).await?;
        return Ok(());
    }
    match cb.data.as_deref() {
        Some(REDEEM_BUTTON) => {
            bots::set_conversation(ctx, h.id, cb.from.id, Conversation::AwaitingCode).await?;
            bots::answer_callback(ctx, h.id, &cb.id, None).await?;
            say(ctx, h, chat, ASK_FOR_CODE).await
        }
        // A button from an older message: just stop the spinner.
        _ => bots::answer_callback(ctx, h.id, &cb.id, None).await,
    }
}

async fn on_my_chat_member(
    ctx: &AppCtx,
    h: &BotHandle,
    mc: ChatMemberUpdated,
) -> domain::Result<()> {
    let kind = match mc.chat.kind.as_str() {
        "channel" => ChannelKind::Channel,
        "group" => ChannelKind::Group,
        "supergroup" => ChannelKind::Supergroup,
        _ => return Ok(()),
    };
    let is_admin = matches!(
        mc.new_chat_member.status.as_str(),
        "administrator" | "creator"
    );
    let chat = ChatFacts {
        id: mc.chat.id,
        title: mc.chat.title.unwrap_or_default(),
        kind,
    };
    bots::bot_membership_changed(ctx, h, chat, is_admin).await
}

#[cfg(test)]
mod tests {
    use super::command;

    #[test]
    fn commands_are_parsed_with_and_without_the_bot_name() {
        assert_eq!(command("/start", "b"), Some(("start", "")));
        assert_eq!(command("/start o_abc", "b"), Some(("start", "o_abc")));
        assert_eq!(
            command("/start@MyBot c_X ", "mybot"),
            Some(("start", "c_X"))
        );
        assert_eq!(command("/start@OtherBot", "mybot"), None);
        assert_eq!(command("hello", "b"), None);
    }
}
