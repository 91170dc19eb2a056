//! The conversations: what the bot answers to subscribers and to the project's linked owners.
//! Every fact and rule comes from `domain::bots`; this module only reads updates and words
//! the replies. Conversation state lives in the database (`domain::bots::set_conversation`),
//! so any process can carry on a conversation another one started.
use domain::{
    AppCtx,
    bots::{self, BotHandle, ChatFacts, Conversation},
    channels::ChannelKind,
    i18n::{self, Lang, t, tr},
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
pub const MY_BUTTON: &str = "my";

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
    // The user's Telegram language when the bot speaks it, else the project's default.
    let lang = match upd.from() {
        Some(u) => i18n::of_update(ctx, h.project_id, u.id, u.language_code.as_deref()).await?,
        None => Lang::En,
    };
    if let Some(m) = upd.message {
        on_message(ctx, h, lang, m).await
    } else if let Some(cb) = upd.callback_query {
        on_callback(ctx, h, lang, cb).await
    } else if let Some(mc) = upd.my_chat_member {
        on_my_chat_member(ctx, h, mc).await
    } else if let Some(jr) = upd.chat_join_request {
        on_join_request(ctx, h, jr).await
    } else if let Some(q) = upd.pre_checkout_query {
        on_pre_checkout(ctx, h, lang, q).await
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

async fn on_message(ctx: &AppCtx, h: &BotHandle, lang: Lang, m: Message) -> domain::Result<()> {
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
        return say(ctx, h, chat, &t(lang, "paused")).await;
    }
    match command(&text, &h.username) {
        Some(("start", arg)) => {
            if let Some(token) = arg.strip_prefix("o_") {
                return link_owner(ctx, h, lang, token, &from, chat).await;
            }
            bots::clear_conversation(ctx, h.id, from.id).await?;
            if let Some(code) = arg.strip_prefix("c_") {
                // The redemption records the subscriber itself.
                return redeem(ctx, h, lang, &from, chat, code, false).await;
            }
            if let Some(code) = arg.strip_prefix("p_") {
                return promo::typed(ctx, h, lang, &from, chat, code).await;
            }
            let user = from.tg_user();
            domain::subscriptions::started(ctx, h, &user).await?;
            start(ctx, h, lang, chat).await
        }
        Some(("codes", _)) => codes(ctx, h, lang, from.id, chat).await,
        Some(("members", _)) => members(ctx, h, lang, from.id, chat).await,
        Some(("my", _)) => my(ctx, h, lang, from.id, chat).await,
        Some(("newcode", _)) => newcode::start(ctx, h, lang, from.id, chat).await,
        Some(("code", arg)) => owner_codes::command(ctx, h, lang, from.id, chat, arg).await,
        Some(("cancel", _)) => {
            bots::clear_conversation(ctx, h.id, from.id).await?;
            say(ctx, h, chat, &t(lang, "cancelled")).await
        }
        Some(("help", _)) => help(ctx, h, lang, chat, "help-head").await,
        // Every private message is answered: an unknown command gets the help.
        Some(_) => help(ctx, h, lang, chat, "unknown-command").await,
        None => {
            // Free text continues a conversation; without one, anything that looks like a
            // code (after normalisation) is tried as one, and other text gets the help.
            match bots::conversation(ctx, h.id, from.id).await? {
                Some(Conversation::AwaitingCode) => {
                    redeem(ctx, h, lang, &from, chat, &text, true).await
                }
                Some(Conversation::AwaitingPromo) => {
                    promo::typed(ctx, h, lang, &from, chat, &text).await
                }
                Some(c) => newcode::on_text(ctx, h, lang, from.id, chat, c, &text).await,
                // An owner sending a code looks it up; anyone else redeems it.
                None => match domain::codes::normalize(&text) {
                    Some(code) => {
                        match owner_codes::sent_by_owner(ctx, h, lang, from.id, chat, &code).await?
                        {
                            Some(()) => Ok(()),
                            None => redeem(ctx, h, lang, &from, chat, &text, false).await,
                        }
                    }
                    None => help(ctx, h, lang, chat, "free-text-head").await,
                },
            }
        }
    }
}

/// The short help (`head` is the catalogue key of its first line): what the bot does, its
/// commands, and buttons to go on.
async fn help(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    chat: i64,
    head: &str,
) -> domain::Result<()> {
    let w = bots::welcome(ctx, h, lang).await?;
    let mut text = format!("{}\n\n{}", t(lang, head), t(lang, "help-body"));
    let mut rows = vec![vec![
        Button::Callback {
            text: t(lang, "button-see-plans"),
            data: PLANS_BUTTON.into(),
        },
        Button::Callback {
            text: t(lang, "button-my-subscriptions"),
            data: MY_BUTTON.into(),
        },
    ]];
    if w.codes_enabled {
        text.push('\n');
        text.push_str(&t(lang, "help-codes"));
        rows.push(vec![Button::Callback {
            text: t(lang, "button-redeem"),
            data: REDEEM_BUTTON.into(),
        }]);
    }
    telegram::send_message(ctx, h.id, chat, &text, Some(rows)).await?;
    Ok(())
}

async fn start(ctx: &AppCtx, h: &BotHandle, lang: Lang, chat: i64) -> domain::Result<()> {
    start_after(ctx, h, lang, chat, None).await
}

/// The `/start` menu (welcome, plans and their buttons), after `lead` when given, in one
/// message.
async fn start_after(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    chat: i64,
    lead: Option<&str>,
) -> domain::Result<()> {
    let w = bots::welcome(ctx, h, lang).await?;
    // A private chat's id is its user's: trials are offered to who never had one here.
    let trial_open = w.plans.iter().any(|p| p.trial_days.is_some())
        && !domain::subscriptions::had_trial(ctx, h, chat).await?;
    let mut rows = vec![];
    if trial_open {
        for p in &w.plans {
            if let Some(days) = p.trial_days {
                rows.push(vec![Button::Callback {
                    text: tr(
                        lang,
                        "button-try-free",
                        &[("plan", p.name.as_str().into()), ("days", days.into())],
                    ),
                    data: format!("{TRIAL_PREFIX}{}", p.id),
                }]);
            }
        }
    }
    if w.stars_enabled {
        for p in &w.plans {
            if let Some(stars) = p.price_stars {
                rows.push(vec![Button::Callback {
                    text: tr(
                        lang,
                        "button-buy",
                        &[("plan", p.name.as_str().into()), ("stars", stars.into())],
                    ),
                    data: format!("{}{}", payments::BUY_PREFIX, p.id),
                }]);
            }
        }
        if w.plans.iter().any(|p| p.price_stars.is_some())
            && let Some(b) = promo::button(ctx, h, lang).await?
        {
            rows.push(vec![b]);
        }
    }
    // Nothing to take or buy here: the creator's word on how to get access replaces "pick a
    // plan below". The standard welcome is worded in the user's language.
    let sellable = !rows.is_empty();
    let mut text = lead.map_or_else(String::new, |l| format!("{l}\n\n"));
    if w.text != domain::projects::DEFAULT_WELCOME {
        text.push_str(&w.text);
    } else if sellable {
        text.push_str(&t(lang, "welcome-default"));
    } else {
        text.push_str(&t(lang, "welcome-nothing-sold"));
    }
    if !w.plans.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t(lang, "start-plans"));
        for p in &w.plans {
            text.push_str("\n• ");
            text.push_str(&p.describe(lang));
        }
    }
    if !sellable {
        let how = if !w.contact_text.is_empty() {
            w.contact_text.clone()
        } else if w.codes_enabled {
            t(lang, "how-with-codes")
        } else {
            t(lang, "how-without-anything")
        };
        text.push_str("\n\n");
        text.push_str(&tr(lang, "how-to-get-access", &[("how", how.into())]));
    }
    if w.codes_enabled {
        rows.push(vec![Button::Callback {
            text: t(lang, "button-redeem"),
            data: REDEEM_BUTTON.into(),
        }]);
    }
    let keyboard = (!rows.is_empty()).then_some(rows);
    telegram::send_message(ctx, h.id, chat, &text, keyboard).await?;
    Ok(())
}

async fn link_owner(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    token: &str,
    from: &User,
    chat: i64,
) -> domain::Result<()> {
    match bots::redeem_owner_link(ctx, h, token, from.id, chat, lang).await {
        Ok(project) => {
            // Remembered on the new link too, for notifications sent without an update.
            i18n::of_update(ctx, h.project_id, from.id, from.language_code.as_deref()).await?;
            let text = tr(lang, "owner-linked", &[("project", project.into())]);
            say(ctx, h, chat, &text).await
        }
        Err(e) if e.code == bots::OWNER_LINK_INVALID => {
            say(ctx, h, chat, &t(lang, "owner-link-invalid")).await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
    }
}

async fn codes(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
) -> domain::Result<()> {
    if !bots::is_owner(ctx, h, user).await? {
        return say(ctx, h, chat, &t(lang, "owners-only")).await;
    }
    let c = bots::code_counts(ctx, h).await?;
    let text = tr(
        lang,
        "codes-counts",
        &[
            ("unredeemed", c.unredeemed.into()),
            ("redeemed", c.redeemed.into()),
            ("expired", c.expired.into()),
        ],
    );
    say(ctx, h, chat, &text).await
}

async fn members(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
) -> domain::Result<()> {
    if !bots::is_owner(ctx, h, user).await? {
        return say(ctx, h, chat, &t(lang, "owners-only")).await;
    }
    let m = domain::subscriptions::members_summary(ctx, h).await?;
    let mut text = t(lang, "members-head");
    if m.per_plan.is_empty() {
        text.push('\n');
        text.push_str(&t(lang, "members-no-plans"));
    }
    for (plan, n) in &m.per_plan {
        text.push('\n');
        text.push_str(&tr(
            lang,
            "members-plan",
            &[("plan", plan.as_str().into()), ("count", (*n).into())],
        ));
    }
    text.push_str("\n\n");
    text.push_str(&t(lang, "members-latest"));
    if m.latest.is_empty() {
        text.push('\n');
        text.push_str(&t(lang, "members-none"));
    }
    for a in &m.latest {
        let at = a.at.format("%Y-%m-%d %H:%M UTC").to_string();
        let mut args = vec![
            ("who", a.who.as_str().into()),
            ("plan", a.plan.as_str().into()),
            ("at", at.into()),
        ];
        let key = match a.code.as_deref() {
            Some(c) => {
                args.push(("code", c.into()));
                "members-activation-code"
            }
            None => "members-activation",
        };
        text.push('\n');
        text.push_str(&tr(lang, key, &args));
    }
    say(ctx, h, chat, &text).await
}

async fn on_callback(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb: CallbackQuery,
) -> domain::Result<()> {
    let chat = cb.message.as_ref().map_or(cb.from.id, |m| m.chat.id);
    if !bots::tenant_active(ctx, h).await? {
        telegram::answer_callback(ctx, h.id, &cb.id, Some(&t(lang, "paused"))).await?;
        return Ok(());
    }
    match cb.data.as_deref() {
        Some(REDEEM_BUTTON) => {
            bots::set_conversation(ctx, h.id, cb.from.id, Conversation::AwaitingCode).await?;
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            say(ctx, h, chat, &t(lang, "ask-for-code")).await
        }
        Some(PLANS_BUTTON) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            start(ctx, h, lang, chat).await
        }
        Some(MY_BUTTON) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            my(ctx, h, lang, cb.from.id, chat).await
        }
        Some(promo::PROMO_BUTTON) => promo::ask(ctx, h, lang, &cb, chat).await,
        Some(data) if data.starts_with(domain::promos::BUY_WITH_PREFIX) => {
            let rest = &data[domain::promos::BUY_WITH_PREFIX.len()..];
            promo::buy_with(ctx, h, lang, &cb, chat, rest).await
        }
        Some(data) if data.starts_with(payments::STAY_PREFIX) => {
            let rest = &data[payments::STAY_PREFIX.len()..];
            promo::stay(ctx, h, lang, &cb, chat, rest).await
        }
        Some(data) if data.starts_with(payments::CANCEL_ANYWAY_PREFIX) => {
            let id = &data[payments::CANCEL_ANYWAY_PREFIX.len()..];
            cancel_renewal(ctx, h, lang, &cb, chat, id, false).await
        }
        Some(data) if data.starts_with(payments::BUY_PREFIX) => {
            buy(ctx, h, lang, &cb, chat, &data[payments::BUY_PREFIX.len()..]).await
        }
        Some(data) if data.starts_with(TRIAL_PREFIX) => {
            telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
            start_trial(ctx, h, lang, &cb.from, chat, &data[TRIAL_PREFIX.len()..]).await
        }
        Some(data) if data.starts_with(payments::CANCEL_RENEWAL_PREFIX) => {
            let id = &data[payments::CANCEL_RENEWAL_PREFIX.len()..];
            cancel_renewal(ctx, h, lang, &cb, chat, id, true).await
        }
        Some(data) if data.starts_with(owner_codes::PREFIX) => {
            owner_codes::on_button(ctx, h, lang, &cb.id, cb.from.id, chat, data).await
        }
        Some(data) if data.starts_with(newcode::PREFIX) => {
            newcode::on_button(ctx, h, lang, &cb.id, cb.from.id, chat, data).await
        }
        // A button from an older message: just stop the spinner.
        _ => telegram::answer_callback(ctx, h.id, &cb.id, None).await,
    }
}

/// Replies to redemption outcomes, one distinct message each.
pub fn redeem_failure_reply(lang: Lang, e: &domain::Error) -> String {
    let key = match e.code {
        redemption::CODE_UNKNOWN => "redeem-unknown",
        redemption::CODE_EXPIRED => "redeem-expired",
        redemption::CODE_USED_UP => "redeem-used-up",
        redemption::CODE_ALREADY_REDEEMED => "redeem-already",
        redemption::PLAN_INACTIVE => "redeem-plan-inactive",
        redemption::CODES_DISABLED => "redeem-codes-disabled",
        domain::error::TENANT_SUSPENDED => "paused",
        redemption::TOO_MANY_ATTEMPTS => {
            let mins = e.retry_after.unwrap_or(60).div_ceil(60);
            return tr(lang, "redeem-too-many", &[("minutes", mins.into())]);
        }
        _ => "something-went-wrong",
    };
    t(lang, key)
}

/// "for life" or "until <date>".
fn when(lang: Lang, at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match at {
        None => t(lang, "for-life"),
        Some(at) => tr(
            lang,
            "until",
            &[("at", at.format("%Y-%m-%d %H:%M UTC").to_string().into())],
        ),
    }
}

async fn redeem(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    from: &User,
    chat: i64,
    typed: &str,
    // A code typed while the bot awaited one: the conversation ends on success. (A deep
    // link's `/start` has already ended it; clearing again would be one more round trip.)
    awaiting: bool,
) -> domain::Result<()> {
    let user = from.tg_user();
    match redemption::redeem(ctx, h, &user, typed).await {
        Ok(r) => {
            if awaiting {
                bots::clear_conversation(ctx, h.id, from.id).await?;
            }
            let key = if r.extended {
                "redeem-extended"
            } else {
                "redeem-accepted"
            };
            let head = tr(
                lang,
                key,
                &[
                    ("plan", r.plan_name.as_str().into()),
                    ("term", when(lang, r.ends_at).into()),
                ],
            );
            let see_my = t(lang, "see-my");
            let text = if r.links.is_empty() {
                format!("{head}\n{see_my}")
            } else {
                format!("{head}\n{}\n{see_my}", t(lang, "next-steps"))
            };
            domain::subscriptions::send_access(ctx, h, lang, chat, &text, &r.links, vec![]).await
        }
        Err(e)
            if e.kind == domain::ErrorKind::Internal
                || e.kind == domain::ErrorKind::Unavailable =>
        {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
        Err(e) => {
            if awaiting && e.code == redemption::TOO_MANY_ATTEMPTS {
                bots::clear_conversation(ctx, h.id, from.id).await?;
            }
            say(ctx, h, chat, &redeem_failure_reply(lang, &e)).await
        }
    }
}

/// Callback data of a "Try free" button: this prefix and the plan id.
pub const TRIAL_PREFIX: &str = "trial:";

async fn start_trial(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    from: &User,
    chat: i64,
    plan_id: &str,
) -> domain::Result<()> {
    use domain::subscriptions as subs;
    let Ok(plan_id) = uuid::Uuid::parse_str(plan_id) else {
        return say(ctx, h, chat, &t(lang, "button-out-of-date")).await;
    };
    let user = from.tg_user();
    match subs::start_trial(ctx, h, &user, plan_id).await {
        Ok(tl) => {
            let head = tr(
                lang,
                "trial-started",
                &[
                    ("plan", tl.plan_name.as_str().into()),
                    ("term", when(lang, tl.ends_at).into()),
                ],
            );
            let see_my = t(lang, "see-my");
            let text = if tl.links.is_empty() {
                format!("{head}\n{see_my}")
            } else {
                format!("{head}\n{}\n{see_my}", t(lang, "next-steps"))
            };
            subs::send_access(ctx, h, lang, chat, &text, &tl.links, vec![]).await
        }
        Err(e) if e.code == subs::TRIAL_USED => {
            plans_after(ctx, h, lang, chat, &t(lang, "trial-used")).await
        }
        Err(e) if e.code == subs::ALREADY_SUBSCRIBED => {
            say(ctx, h, chat, &t(lang, "trial-already-subscribed")).await
        }
        Err(e) if e.code == subs::TRIAL_NOT_OFFERED => {
            plans_after(ctx, h, lang, chat, &t(lang, "trial-not-offered")).await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
    }
}

/// `text`, then the plans menu of `/start` (its buttons are the way forward), in one message.
async fn plans_after(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    chat: i64,
    text: &str,
) -> domain::Result<()> {
    start_after(ctx, h, lang, chat, Some(text)).await
}

async fn my(ctx: &AppCtx, h: &BotHandle, lang: Lang, user: i64, chat: i64) -> domain::Result<()> {
    let subs = match domain::subscriptions::mine(ctx, h, user).await {
        Err(e) if e.code == domain::subscriptions::ASKED_TOO_OFTEN => {
            let secs = e.retry_after.unwrap_or(60).max(1);
            let text = tr(lang, "my-asked-too-often", &[("secs", secs.into())]);
            return say(ctx, h, chat, &text).await;
        }
        other => other?,
    };
    if subs.is_empty() {
        return say(ctx, h, chat, &t(lang, "my-none")).await;
    }
    let renewable = payments::renewable(ctx, h, user).await?;
    let mut rows = vec![];
    let mut text = t(lang, "my-head");
    let mut links = vec![];
    for s in subs {
        if renewable.contains(&s.id) {
            rows.push(vec![Button::Callback {
                text: tr(
                    lang,
                    "button-cancel-renewal",
                    &[("plan", s.plan_name.as_str().into())],
                ),
                data: format!("{}{}", payments::CANCEL_RENEWAL_PREFIX, s.id),
            }]);
        }
        let renews = renewable.contains(&s.id);
        let active = || tr(lang, "my-active", &[("term", when(lang, s.ends_at).into())]);
        let state = match s.status {
            // Telegram renews it by itself: the end date is the next renewal, not an end.
            SubscriptionStatus::Active if renews => match s.ends_at {
                Some(at) => tr(
                    lang,
                    "my-renews-on",
                    &[("at", at.format("%Y-%m-%d %H:%M UTC").to_string().into())],
                ),
                None => active(),
            },
            SubscriptionStatus::Active => active(),
            SubscriptionStatus::Expired => t(lang, "my-ended"),
            SubscriptionStatus::Revoked => t(lang, "my-revoked"),
        };
        text.push_str("\n\n");
        text.push_str(&tr(
            lang,
            "my-item",
            &[
                ("plan", s.plan_name.as_str().into()),
                ("state", state.into()),
            ],
        ));
        if renewable.contains(&s.id) {
            text.push('\n');
            text.push_str(&t(lang, "my-renews-monthly"));
        }
        links.extend(s.links);
    }
    domain::subscriptions::send_access(ctx, h, lang, chat, &text, &links, rows).await
}

// --- Telegram Stars -------------------------------------------------------------------------

async fn buy(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb: &CallbackQuery,
    chat: i64,
    plan_id: &str,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Ok(plan_id) = uuid::Uuid::parse_str(plan_id) else {
        return say(ctx, h, chat, &t(lang, payments::REFUSE_PLAN)).await;
    };
    let user = cb.from.tg_user();
    match payments::offer(ctx, h, &user, chat, plan_id, None).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == payments::STARS_DISABLED => {
            say(ctx, h, chat, &t(lang, "stars-disabled")).await
        }
        Err(e) if e.code == payments::PLAN_NOT_FOR_SALE => {
            say(ctx, h, chat, &t(lang, payments::REFUSE_PLAN)).await
        }
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
    }
}

/// Answered at once (Telegram waits 10 s): ok, or a clear reason.
async fn on_pre_checkout(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    q: PreCheckoutQuery,
) -> domain::Result<()> {
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
            let sorry = t(lang, "something-went-wrong");
            let _ = telegram::sender::answer_pre_checkout(ctx, h.id, &q.id, Some(&sorry)).await;
            return Err(e);
        }
    };
    let refusal = refusal.map(|key| t(lang, key));
    telegram::sender::answer_pre_checkout(ctx, h.id, &q.id, refusal.as_deref()).await
}

async fn on_successful_payment(
    ctx: &AppCtx,
    h: &BotHandle,
    from: &User,
    chat: i64,
    paid: &SuccessfulPayment,
) -> domain::Result<()> {
    let charge = payments::Charge {
        user: from.tg_user(),
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
    lang: Lang,
    cb: &CallbackQuery,
    chat: i64,
    id: &str,
    // Offer the project's retention promo first (once per subscription).
    offer_to_stay: bool,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return say(ctx, h, chat, &t(lang, "no-renewal")).await;
    };
    if offer_to_stay && promo::retention(ctx, h, lang, cb.from.id, chat, id).await? {
        return Ok(());
    }
    match payments::cancel_renewal(ctx, h, cb.from.id, id).await {
        Ok((plan, ends_at)) => {
            let text = tr(
                lang,
                "renewal-cancelled",
                &[("plan", plan.into()), ("term", when(lang, ends_at).into())],
            );
            say(ctx, h, chat, &text).await
        }
        Err(e) if e.code == payments::NO_RENEWAL => say(ctx, h, chat, &t(lang, "no-renewal")).await,
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
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
/// Promo codes: typed or deep-linked, discounted Buy buttons, the retention offer.
mod promo;

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
