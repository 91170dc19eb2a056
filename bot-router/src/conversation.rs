//! The conversations: what the bot answers to subscribers and to the project's linked owners.
//! Every fact and rule comes from `domain::bots`; this module only reads updates and words
//! the replies. Conversation state lives in the database (`domain::bots::set_conversation`),
//! so any process can carry on a conversation another one started.
use domain::{
    AppCtx,
    bots::{self, BotHandle, ChatFacts, Conversation},
    channels::ChannelKind,
    payments, redemption,
    subscriptions::SubscriptionStatus,
    telegram::{self, Button},
};

use crate::update::{
    CallbackQuery, ChatJoinRequest, ChatMemberUpdated, Incoming, Message, PreCheckoutQuery,
    SuccessfulPayment, User,
};

/// Callback data of the "Redeem a code" button.
pub const REDEEM_BUTTON: &str = domain::broadcasts::REDEEM_CALLBACK;
pub const PLANS_BUTTON: &str = "plans";
pub const NEXT_STEPS: &str = "What happens next: tap Join below, then Request to join — you are let in automatically. These buttons work for you only.";
pub const SEE_MY: &str = "Send /my any time to see your subscriptions and access.";
pub const MY_BUTTON: &str = "my";
pub const HELP_HEAD: &str = "Here is what I can do.";
pub const UNKNOWN_COMMAND: &str = "I don't know that command.";
pub const FREE_TEXT_HEAD: &str = "I didn't understand that.";
pub const HELP_BODY: &str =
    "/start — plans and how to get access\n/my — your subscriptions\n/help — this message";

pub const PAUSED: &str = "This service is paused at the moment. Please try again later.";
pub const ASK_FOR_CODE: &str = "Send me your access code.";
pub const OWNER_LINK_INVALID: &str =
    "This owner link is unknown, expired or already used. Create a new one in the dashboard.";
pub const OWNERS_ONLY: &str = "This command is for the project's owners. Link your Telegram account from the dashboard first.";
pub const CANCELLED: &str = "Cancelled.";
pub const SOMETHING_WENT_WRONG: &str =
    "Something went wrong on our side. Please try again in a minute.";

/// Attempts at handling one update when it fails on our side (a database blip).
pub const DISPATCH_ATTEMPTS: u32 = 3;

/// Handles one update; failures are logged (and, where a user is waiting, answered). An
/// internal failure (the database, typically) is retried twice, after 250 ms and 1 s: the
/// update was already acknowledged to Telegram, which will not send it again. Refusals
/// (validation, state, limits) and Telegram failures are not retried — the sender already
/// retries what Telegram lets it, and a second run could repeat a message.
pub async fn dispatch(ctx: &AppCtx, h: &BotHandle, upd: Incoming) {
    let update_id = upd.update_id;
    for attempt in 1..=DISPATCH_ATTEMPTS {
        let res = match domain::faults::hit(domain::faults::HANDLING_UPDATE) {
            Ok(()) => handle(ctx, h, upd.clone()).await,
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => return,
            Err(e) if e.kind == domain::ErrorKind::Internal && attempt < DISPATCH_ATTEMPTS => {
                tracing::warn!(bot = %h.id, update_id, attempt, error = %e, "handling update failed; retrying");
                let wait = if attempt == 1 { 250 } else { 1_000 };
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            Err(e) => {
                tracing::error!(bot = %h.id, update_id, error = %e, "handling update failed");
                return;
            }
        }
    }
}

async fn handle(ctx: &AppCtx, h: &BotHandle, upd: Incoming) -> domain::Result<()> {
    if let Some(m) = upd.message {
        on_message(ctx, h, m).await
    } else if let Some(cb) = upd.callback_query {
        on_callback(ctx, h, cb).await
    } else if let Some(mc) = upd.my_chat_member {
        on_my_chat_member(ctx, h, mc).await
    } else if let Some(jr) = upd.chat_join_request {
        on_join_request(ctx, h, jr).await
    } else if let Some(q) = upd.pre_checkout_query {
        on_pre_checkout(ctx, h, q).await
    } else if let Some(su) = upd.subscription {
        match payments::TelegramRenewal::parse(&su.state) {
            Some(state) => {
                payments::telegram_changed(ctx, h, su.user.id, &su.invoice_payload, state).await
            }
            None => {
                tracing::warn!(bot = %h.id, state = %su.state, "unknown subscription state ignored");
                Ok(())
            }
        }
    } else {
        Ok(())
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
    telegram::send_message(ctx, h.id, chat, text, None).await?;
    Ok(())
}

async fn on_message(ctx: &AppCtx, h: &BotHandle, m: Message) -> domain::Result<()> {
    // Conversations are one-to-one; the bot stays quiet in groups and channels.
    if m.chat.kind != "private" {
        return Ok(());
    }
    if let (Some(from), Some(paid)) = (&m.from, &m.successful_payment) {
        return on_successful_payment(ctx, h, from, m.chat.id, paid).await;
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
            bots::clear_conversation(ctx, h.id, from.id).await?;
            if let Some(code) = arg.strip_prefix("c_") {
                // The redemption records the subscriber itself.
                return redeem(ctx, h, &from, chat, code, false).await;
            }
            let user = domain::subscriptions::TgUser {
                id: from.id,
                username: from.username.clone(),
                first_name: from.first_name.clone(),
            };
            domain::subscriptions::started(ctx, h, &user).await?;
            start(ctx, h, chat).await
        }
        Some(("codes", _)) => codes(ctx, h, from.id, chat).await,
        Some(("members", _)) => members(ctx, h, from.id, chat).await,
        Some(("my", _)) => my(ctx, h, from.id, chat).await,
        Some(("newcode", _)) => newcode::start(ctx, h, from.id, chat).await,
        Some(("code", arg)) => owner_codes::command(ctx, h, from.id, chat, arg).await,
        Some(("cancel", _)) => {
            bots::clear_conversation(ctx, h.id, from.id).await?;
            say(ctx, h, chat, CANCELLED).await
        }
        Some(("help", _)) => help(ctx, h, chat, HELP_HEAD).await,
        // Every private message is answered: an unknown command gets the help.
        Some(_) => help(ctx, h, chat, UNKNOWN_COMMAND).await,
        None => {
            // Free text continues a conversation; without one, anything that looks like a
            // code (after normalisation) is tried as one, and other text gets the help.
            match bots::conversation(ctx, h.id, from.id).await? {
                Some(Conversation::AwaitingCode) => redeem(ctx, h, &from, chat, &text, true).await,
                Some(c) => newcode::on_text(ctx, h, from.id, chat, c, &text).await,
                // An owner sending a code looks it up; anyone else redeems it.
                None => match domain::codes::normalize(&text) {
                    Some(code) => {
                        match owner_codes::sent_by_owner(ctx, h, from.id, chat, &code).await? {
                            Some(()) => Ok(()),
                            None => redeem(ctx, h, &from, chat, &text, false).await,
                        }
                    }
                    None => help(ctx, h, chat, FREE_TEXT_HEAD).await,
                },
            }
        }
    }
}

/// The short help: what the bot does, its commands, and buttons to go on.
async fn help(ctx: &AppCtx, h: &BotHandle, chat: i64, head: &str) -> domain::Result<()> {
    let w = bots::welcome(ctx, h).await?;
    let mut text = format!("{head}\n\n{HELP_BODY}");
    let mut rows = vec![vec![
        Button::Callback {
            text: "See plans".into(),
            data: PLANS_BUTTON.into(),
        },
        Button::Callback {
            text: "My subscriptions".into(),
            data: MY_BUTTON.into(),
        },
    ]];
    if w.codes_enabled {
        text.push_str("\nHave an access code? Just send it here.");
        rows.push(vec![Button::Callback {
            text: "Redeem a code".into(),
            data: REDEEM_BUTTON.into(),
        }]);
    }
    telegram::send_message(ctx, h.id, chat, &text, Some(rows)).await?;
    Ok(())
}

async fn start(ctx: &AppCtx, h: &BotHandle, chat: i64) -> domain::Result<()> {
    start_after(ctx, h, chat, None).await
}

/// The `/start` menu (welcome, plans and their buttons), after `lead` when given, in one
/// message.
async fn start_after(
    ctx: &AppCtx,
    h: &BotHandle,
    chat: i64,
    lead: Option<&str>,
) -> domain::Result<()> {
    let w = bots::welcome(ctx, h).await?;
    // A private chat's id is its user's: trials are offered to who never had one here.
    let trial_open = w.plans.iter().any(|p| p.trial_days.is_some())
        && !domain::subscriptions::had_trial(ctx, h, chat).await?;
    let mut rows = vec![];
    if trial_open {
        for p in &w.plans {
            if let Some(days) = p.trial_days {
                rows.push(vec![Button::Callback {
                    text: format!("{}: Try free for {days} days", p.name),
                    data: format!("{TRIAL_PREFIX}{}", p.id),
                }]);
            }
        }
    }
    if w.stars_enabled {
        for p in &w.plans {
            if let Some(stars) = p.price_stars {
                rows.push(vec![Button::Callback {
                    text: format!("{}: Buy for {stars} ⭐", p.name),
                    data: format!("{}{}", payments::BUY_PREFIX, p.id),
                }]);
            }
        }
    }
    // Nothing to take or buy here: the creator's word on how to get access replaces "pick a
    // plan below".
    let sellable = !rows.is_empty();
    let mut text = lead.map_or_else(String::new, |l| format!("{l}\n\n"));
    if sellable || w.text != domain::projects::DEFAULT_WELCOME {
        text.push_str(&w.text);
    } else {
        text.push_str(WELCOME_NOTHING_SOLD);
    }
    if !w.plans.is_empty() {
        text.push_str("\n\nPlans:");
        for p in &w.plans {
            text.push_str("\n• ");
            text.push_str(&p.describe());
        }
    }
    if !sellable {
        let how = if !w.contact_text.is_empty() {
            w.contact_text.as_str()
        } else if w.codes_enabled {
            HOW_WITH_CODES
        } else {
            HOW_WITHOUT_ANYTHING
        };
        text.push_str("\n\nHow to get access: ");
        text.push_str(how);
    }
    if w.codes_enabled {
        rows.push(vec![Button::Callback {
            text: "Redeem a code".into(),
            data: REDEEM_BUTTON.into(),
        }]);
    }
    let keyboard = (!rows.is_empty()).then_some(rows);
    telegram::send_message(ctx, h.id, chat, &text, keyboard).await?;
    Ok(())
}

/// `/start`'s greeting in place of the default one when nothing can be bought in the bot.
const WELCOME_NOTHING_SOLD: &str = "Welcome!";
/// How to get access without a creator's contact text, where codes are redeemed.
const HOW_WITH_CODES: &str =
    "ask the creator for an access code, then press “Redeem a code” below and send it.";
/// … and where nothing is offered in the bot at all.
const HOW_WITHOUT_ANYTHING: &str =
    "nothing is offered in this bot at the moment; ask the creator. Send /start again later.";

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
                "Done: this Telegram account is now an owner of “{project}”.\nOwner commands: /codes, /code <CODE> (or just send a code), /members, /newcode"
            );
            say(ctx, h, chat, &text).await
        }
        Err(e) if e.code == bots::OWNER_LINK_INVALID => say(ctx, h, chat, OWNER_LINK_INVALID).await,
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

async fn members(ctx: &AppCtx, h: &BotHandle, user: i64, chat: i64) -> domain::Result<()> {
    if !bots::is_owner(ctx, h, user).await? {
        return say(ctx, h, chat, OWNERS_ONLY).await;
    }
    let m = domain::subscriptions::members_summary(ctx, h).await?;
    let mut text = String::from("Active members by plan");
    if m.per_plan.is_empty() {
        text.push_str("\nNo plans yet.");
    }
    for (plan, n) in &m.per_plan {
        text.push_str(&format!("\n• {plan}: {n}"));
    }
    text.push_str("\n\nLatest activations");
    if m.latest.is_empty() {
        text.push_str("\nNone yet.");
    }
    for a in &m.latest {
        text.push_str(&format!(
            "\n• {} — {}{} — {}",
            a.who,
            a.plan,
            a.code
                .as_deref()
                .map(|c| format!(" (code {c})"))
                .unwrap_or_default(),
            a.at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    say(ctx, h, chat, &text).await
}

async fn on_callback(ctx: &AppCtx, h: &BotHandle, cb: CallbackQuery) -> domain::Result<()> {
    let chat = cb.message.as_ref().map_or(cb.from.id, |m| m.chat.id);
    if !bots::tenant_active(ctx, h).await? {
        telegram::answer_callback(ctx, h.id, &cb.id, Some(PAUSED)).await?;
        return Ok(());
    }
    match cb.data.as_deref() {
        Some(REDEEM_BUTTON) => {
            bots::set_conversation(ctx, h.id, cb.from.id, Conversation::AwaitingCode).await?;
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            say(ctx, h, chat, ASK_FOR_CODE).await
        }
        Some(PLANS_BUTTON) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            start(ctx, h, chat).await
        }
        Some(MY_BUTTON) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            my(ctx, h, cb.from.id, chat).await
        }
        Some(data) if data.starts_with(payments::BUY_PREFIX) => {
            buy(ctx, h, &cb, chat, &data[payments::BUY_PREFIX.len()..]).await
        }
        Some(data) if data.starts_with(TRIAL_PREFIX) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            start_trial(ctx, h, &cb.from, chat, &data[TRIAL_PREFIX.len()..]).await
        }
        Some(data) if data.starts_with(payments::CANCEL_RENEWAL_PREFIX) => {
            let id = &data[payments::CANCEL_RENEWAL_PREFIX.len()..];
            cancel_renewal(ctx, h, &cb, chat, id).await
        }
        Some(data) if data.starts_with(owner_codes::PREFIX) => {
            owner_codes::on_button(ctx, h, &cb.id, cb.from.id, chat, data).await
        }
        Some(data) if data.starts_with(newcode::PREFIX) => {
            newcode::on_button(ctx, h, &cb.id, cb.from.id, chat, data).await
        }
        // A button from an older message: just stop the spinner.
        _ => telegram::answer_callback(ctx, h.id, &cb.id, None).await,
    }
}

/// Replies to redemption outcomes, one distinct message each.
pub fn redeem_failure_reply(e: &domain::Error) -> String {
    match e.code {
        redemption::CODE_UNKNOWN => {
            "❌ That code doesn't exist. Check it and send it again.".into()
        }
        redemption::CODE_EXPIRED => "⌛ That code has expired.".into(),
        redemption::CODE_USED_UP => {
            "That code has already been used as many times as it allows.".into()
        }
        redemption::CODE_ALREADY_REDEEMED => "You have already redeemed this code.".into(),
        redemption::PLAN_INACTIVE => "The plan this code was for is no longer available.".into(),
        redemption::CODES_DISABLED => "Access codes are not accepted here at the moment.".into(),
        domain::error::TENANT_SUSPENDED => PAUSED.into(),
        redemption::TOO_MANY_ATTEMPTS => {
            let mins = e.retry_after.unwrap_or(60).div_ceil(60);
            format!("Too many failed attempts. Try again in {mins} minute(s).")
        }
        _ => SOMETHING_WENT_WRONG.into(),
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "for life".to_string(),
        |t| format!("until {}", t.format("%Y-%m-%d %H:%M UTC")),
    )
}

async fn redeem(
    ctx: &AppCtx,
    h: &BotHandle,
    from: &User,
    chat: i64,
    typed: &str,
    // A code typed while the bot awaited one: the conversation ends on success. (A deep
    // link's `/start` has already ended it; clearing again would be one more round trip.)
    awaiting: bool,
) -> domain::Result<()> {
    let user = domain::subscriptions::TgUser {
        id: from.id,
        username: from.username.clone(),
        first_name: from.first_name.clone(),
    };
    match redemption::redeem(ctx, h, &user, typed).await {
        Ok(r) => {
            if awaiting {
                bots::clear_conversation(ctx, h.id, from.id).await?;
            }
            let head = if r.extended {
                format!(
                    "✅ Code accepted: your “{}” subscription is extended {}.",
                    r.plan_name,
                    when(r.ends_at)
                )
            } else {
                format!("✅ Code accepted: “{}” {}.", r.plan_name, when(r.ends_at))
            };
            let text = if r.links.is_empty() {
                format!("{head}\n{SEE_MY}")
            } else {
                format!("{head}\n{NEXT_STEPS}\n{SEE_MY}")
            };
            domain::subscriptions::send_access(ctx, h, chat, &text, &r.links, vec![]).await
        }
        Err(e)
            if e.kind == domain::ErrorKind::Internal
                || e.kind == domain::ErrorKind::Unavailable =>
        {
            let _ = say(ctx, h, chat, SOMETHING_WENT_WRONG).await;
            Err(e)
        }
        Err(e) => {
            if awaiting && e.code == redemption::TOO_MANY_ATTEMPTS {
                bots::clear_conversation(ctx, h.id, from.id).await?;
            }
            say(ctx, h, chat, &redeem_failure_reply(&e)).await
        }
    }
}

/// Callback data of a "Try free" button: this prefix and the plan id.
pub const TRIAL_PREFIX: &str = "trial:";

async fn start_trial(
    ctx: &AppCtx,
    h: &BotHandle,
    from: &User,
    chat: i64,
    plan_id: &str,
) -> domain::Result<()> {
    use domain::subscriptions as subs;
    let Ok(plan_id) = uuid::Uuid::parse_str(plan_id) else {
        return say(
            ctx,
            h,
            chat,
            "That button is out of date. Send /start for the plans.",
        )
        .await;
    };
    let user = subs::TgUser {
        id: from.id,
        username: from.username.clone(),
        first_name: from.first_name.clone(),
    };
    match subs::start_trial(ctx, h, &user, plan_id).await {
        Ok(t) => {
            let head = format!(
                "🎁 Your free trial of “{}” has started: it runs {}.",
                t.plan_name,
                when(t.ends_at)
            );
            let text = if t.links.is_empty() {
                format!(
                    "{head}
{SEE_MY}"
                )
            } else {
                format!(
                    "{head}
{NEXT_STEPS}
{SEE_MY}"
                )
            };
            subs::send_access(ctx, h, chat, &text, &t.links, vec![]).await
        }
        Err(e) if e.code == subs::TRIAL_USED => {
            let text = "You have had your free trial here already. Buy a plan or redeem a code to get access:";
            plans_after(ctx, h, chat, text).await
        }
        Err(e) if e.code == subs::ALREADY_SUBSCRIBED => {
            say(
                ctx,
                h,
                chat,
                "You already have this plan: /my shows your access.",
            )
            .await
        }
        Err(e) if e.code == subs::TRIAL_NOT_OFFERED => {
            let text = "This plan offers no free trial any more. Here is what it offers now:";
            plans_after(ctx, h, chat, text).await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, SOMETHING_WENT_WRONG).await;
            Err(e)
        }
    }
}

/// `text`, then the plans menu of `/start` (its buttons are the way forward), in one message.
async fn plans_after(ctx: &AppCtx, h: &BotHandle, chat: i64, text: &str) -> domain::Result<()> {
    start_after(ctx, h, chat, Some(text)).await
}

async fn my(ctx: &AppCtx, h: &BotHandle, user: i64, chat: i64) -> domain::Result<()> {
    let subs = match domain::subscriptions::mine(ctx, h, user).await {
        Err(e) if e.code == domain::subscriptions::ASKED_TOO_OFTEN => {
            let secs = e.retry_after.unwrap_or(60).max(1);
            let text = format!(
                "You asked for your list a moment ago: it is in my answers above. Send /my again in {secs} seconds for a fresh one."
            );
            return say(ctx, h, chat, &text).await;
        }
        other => other?,
    };
    if subs.is_empty() {
        return say(
            ctx,
            h,
            chat,
            "You have no subscriptions here yet. Send /start to see the plans or redeem a code.",
        )
        .await;
    }
    let renewable = payments::renewable(ctx, h, user).await?;
    let mut rows = vec![];
    let mut text = String::from("Your subscriptions:");
    let mut links = vec![];
    for s in subs {
        if renewable.contains(&s.id) {
            rows.push(vec![Button::Callback {
                text: format!("Cancel renewal: {}", s.plan_name),
                data: format!("{}{}", payments::CANCEL_RENEWAL_PREFIX, s.id),
            }]);
        }
        let renews = renewable.contains(&s.id);
        let state = match s.status {
            // Telegram renews it by itself: the end date is the next renewal, not an end.
            SubscriptionStatus::Active if renews => match s.ends_at {
                Some(t) => format!("active, renews on {}", t.format("%Y-%m-%d %H:%M UTC")),
                None => format!("active {}", when(s.ends_at)),
            },
            SubscriptionStatus::Active => format!("active {}", when(s.ends_at)),
            SubscriptionStatus::Expired => "ended".to_string(),
            SubscriptionStatus::Revoked => "revoked".to_string(),
        };
        text.push_str(&format!("\n\n“{}” — {state}", s.plan_name));
        if renewable.contains(&s.id) {
            text.push_str("\nRenews monthly with Telegram Stars.");
        }
        links.extend(s.links);
    }
    domain::subscriptions::send_access(ctx, h, chat, &text, &links, rows).await
}

// --- Telegram Stars -------------------------------------------------------------------------

async fn buy(
    ctx: &AppCtx,
    h: &BotHandle,
    cb: &CallbackQuery,
    chat: i64,
    plan_id: &str,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Ok(plan_id) = uuid::Uuid::parse_str(plan_id) else {
        return say(ctx, h, chat, payments::REFUSE_PLAN).await;
    };
    let user = domain::subscriptions::TgUser {
        id: cb.from.id,
        username: cb.from.username.clone(),
        first_name: cb.from.first_name.clone(),
    };
    match payments::offer(ctx, h, &user, chat, plan_id).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == payments::STARS_DISABLED => {
            say(
                ctx,
                h,
                chat,
                "Payments with Telegram Stars are not accepted here at the moment.",
            )
            .await
        }
        Err(e) if e.code == payments::PLAN_NOT_FOR_SALE => {
            say(ctx, h, chat, payments::REFUSE_PLAN).await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, SOMETHING_WENT_WRONG).await;
            Err(e)
        }
    }
}

/// Answered at once (Telegram waits 10 s): ok, or a clear reason.
async fn on_pre_checkout(ctx: &AppCtx, h: &BotHandle, q: PreCheckoutQuery) -> domain::Result<()> {
    let check = payments::PreCheckout {
        from_user_id: q.from.id,
        currency: q.currency,
        total_amount: q.total_amount,
        payload: q.invoice_payload,
    };
    let refusal = match payments::pre_checkout(ctx, h, &check).await {
        Ok(r) => r,
        Err(e) => {
            // Answer anyway: a silent query fails the payment after 10 s with a vaguer message.
            let _ =
                telegram::sender::answer_pre_checkout(ctx, h.id, &q.id, Some(SOMETHING_WENT_WRONG))
                    .await;
            return Err(e);
        }
    };
    telegram::sender::answer_pre_checkout(ctx, h.id, &q.id, refusal).await
}

async fn on_successful_payment(
    ctx: &AppCtx,
    h: &BotHandle,
    from: &User,
    chat: i64,
    paid: &SuccessfulPayment,
) -> domain::Result<()> {
    let charge = payments::Charge {
        user: domain::subscriptions::TgUser {
            id: from.id,
            username: from.username.clone(),
            first_name: from.first_name.clone(),
        },
        currency: paid.currency.clone(),
        total_amount: paid.total_amount,
        payload: paid.invoice_payload.clone(),
        telegram_payment_charge_id: paid.telegram_payment_charge_id.clone(),
        is_recurring: paid.is_recurring,
        is_first_recurring: paid.is_first_recurring,
        subscription_expires_at: paid
            .subscription_expiration_date
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        recorded_by: payments::RecordedBy::Update,
        paid_at: ctx.now(),
    };
    // Recorded once; the confirmation (with access as Join buttons) goes out once, also when
    // an earlier delivery of this charge could not send it.
    if !payments::confirm(ctx, h, chat, &charge).await? {
        tracing::debug!(bot = %h.id, "repeated successful_payment acted on once");
    }
    Ok(())
}

async fn cancel_renewal(
    ctx: &AppCtx,
    h: &BotHandle,
    cb: &CallbackQuery,
    chat: i64,
    id: &str,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return say(ctx, h, chat, "There is no renewal to cancel.").await;
    };
    match payments::cancel_renewal(ctx, h, cb.from.id, id).await {
        Ok((plan, ends_at)) => {
            let text = format!(
                "Renewal cancelled: your “{plan}” subscription stays active {} and then ends.",
                when(ends_at)
            );
            say(ctx, h, chat, &text).await
        }
        Err(e) if e.code == payments::NO_RENEWAL => {
            say(ctx, h, chat, "There is no renewal to cancel.").await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, SOMETHING_WENT_WRONG).await;
            Err(e)
        }
    }
}

async fn on_join_request(ctx: &AppCtx, h: &BotHandle, jr: ChatJoinRequest) -> domain::Result<()> {
    let link_creator = jr.invite_link.map(|l| l.creator.id);
    domain::subscriptions::on_join_request(ctx, h, jr.chat.id, jr.from.id, link_creator).await?;
    Ok(())
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
    bots::bot_membership_changed(ctx, h, chat, is_admin, mc.from.map(|u| u.id)).await
}

/// `/newcode`: plan → quantity → expiry → preview → confirm.
mod newcode;
mod owner_codes;

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
