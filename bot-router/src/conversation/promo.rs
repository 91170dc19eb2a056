//! Promo codes in the bot: typed after "I have a promo code" or carried by a deep link
//! (`/start p_<CODE>`), answered with the plans it discounts as Buy buttons at the discounted
//! price; a discounted Buy button's invoice; and the retention offer on "Cancel renewal".
//! Every rule is `domain::promos` / `domain::payments`; this module words the replies.
use domain::{
    AppCtx,
    bots::{self, BotHandle, Conversation},
    i18n::{Lang, t, tr},
    payments, promos,
    telegram::{self, Button},
};

use super::{PLANS_BUTTON, say, when};
use crate::update::{CallbackQuery, User};

/// Callback data of the "I have a promo code" button.
pub const PROMO_BUTTON: &str = "promo";

/// The "I have a promo code" button of `/start`, when the project has a promo open now.
pub async fn button(ctx: &AppCtx, h: &BotHandle, lang: Lang) -> domain::Result<Option<Button>> {
    Ok(promos::any_open(ctx, h).await?.then(|| Button::Callback {
        text: t(lang, "button-have-promo"),
        data: PROMO_BUTTON.into(),
    }))
}

/// "I have a promo code": the next text is the promo code.
pub async fn ask(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb: &CallbackQuery,
    chat: i64,
) -> domain::Result<()> {
    bots::set_conversation(ctx, h.id, cb.from.id, Conversation::AwaitingPromo).await?;
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    say(ctx, h, chat, &t(lang, "ask-for-promo")).await
}

/// The reply to a promo that cannot be used, with the way forward in its words; a button to
/// the plans goes with it.
async fn refused(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    chat: i64,
    e: &domain::Error,
) -> domain::Result<()> {
    let text = t(lang, payments::promo_refusal(e.code));
    let rows = vec![vec![Button::Callback {
        text: t(lang, "button-see-plans"),
        data: PLANS_BUTTON.into(),
    }]];
    telegram::send_message(ctx, h.id, chat, &text, Some(rows)).await?;
    Ok(())
}

/// A promo code typed (or from a deep link): the plans it discounts, each with a Buy button at
/// the discounted price. An unknown code while the bot awaited one keeps awaiting (the reply
/// says to send it again); any other answer ends the conversation.
pub async fn typed(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    from: &User,
    chat: i64,
    text: &str,
) -> domain::Result<()> {
    let user = from.tg_user();
    let sub = domain::subscriptions::started(ctx, h, &user).await?;
    let found = match promos::find_typed(ctx, h, text).await {
        Ok(p) => p,
        Err(e) if e.code == promos::PROMO_UNKNOWN => return refused(ctx, h, lang, chat, &e).await,
        Err(e) => return Err(e),
    };
    bots::clear_conversation(ctx, h.id, from.id).await?;
    let check = match promos::usable(&ctx.db, &found, sub.id, None, ctx.now()).await {
        Ok(()) => promos::prices(ctx, h, &found).await,
        Err(e) => Err(e),
    };
    let prices = match check {
        Ok(p) => p,
        Err(e) if e.kind == domain::ErrorKind::Conflict => {
            return refused(ctx, h, lang, chat, &e).await;
        }
        Err(e) => return Err(e),
    };
    let w = bots::welcome(ctx, h, lang).await?;
    if !w.stars_enabled {
        return say(ctx, h, chat, &t(lang, "stars-disabled")).await;
    }
    let off = match promos::discount_of(&found) {
        promos::Discount::Percent(p) => tr(lang, "promo-off-percent", &[("percent", p.into())]),
        promos::Discount::Stars(s) => tr(lang, "promo-off-stars", &[("stars", s.into())]),
    };
    let head = tr(
        lang,
        "promo-applied",
        &[("code", found.code.as_str().into()), ("off", off.into())],
    );
    let mut rows: Vec<Vec<Button>> = prices
        .iter()
        .map(|p| {
            vec![Button::Callback {
                text: tr(
                    lang,
                    "button-buy-promo",
                    &[
                        ("plan", p.plan.name.as_str().into()),
                        ("stars", p.price.into()),
                        ("list", p.list.into()),
                    ],
                ),
                data: promos::buy_with_data(p.plan.id, found.id),
            }]
        })
        .collect();
    rows.push(vec![Button::Callback {
        text: t(lang, "button-see-plans"),
        data: PLANS_BUTTON.into(),
    }]);
    telegram::send_message(ctx, h.id, chat, &head, Some(rows)).await?;
    Ok(())
}

/// A discounted Buy button: the invoice at the discounted price, or why not.
pub async fn buy_with(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb: &CallbackQuery,
    chat: i64,
    rest: &str,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Some((plan_id, promo_id)) = promos::parse_buy_with(rest) else {
        return say(ctx, h, chat, &t(lang, "button-out-of-date")).await;
    };
    offer(ctx, h, lang, &cb.from, chat, plan_id, promo_id).await
}

/// The invoice for a plan at a promo's price, or the reason it cannot be sold so.
async fn offer(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    from: &User,
    chat: i64,
    plan_id: uuid::Uuid,
    promo_id: uuid::Uuid,
) -> domain::Result<()> {
    match payments::offer(ctx, h, &from.tg_user(), chat, plan_id, Some(promo_id)).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == payments::STARS_DISABLED => {
            say(ctx, h, chat, &t(lang, "stars-disabled")).await
        }
        Err(e) if e.code == payments::PLAN_NOT_FOR_SALE => {
            say(ctx, h, chat, &t(lang, payments::REFUSE_PLAN)).await
        }
        Err(e) if e.kind == domain::ErrorKind::Conflict => refused(ctx, h, lang, chat, &e).await,
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
    }
}

/// "Cancel renewal": the retention offer when the project makes one (once per subscription),
/// else `None` and the caller cancels.
pub async fn retention(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    subscription_id: uuid::Uuid,
) -> domain::Result<bool> {
    let Some(o) = payments::retention_offer(ctx, h, user, subscription_id).await? else {
        return Ok(false);
    };
    let text = tr(
        lang,
        "retention-offer",
        &[
            ("plan", o.plan_name.as_str().into()),
            ("stars", o.price.into()),
            ("list", o.list.into()),
            ("code", o.code.as_str().into()),
        ],
    );
    let rows = vec![
        vec![Button::Callback {
            text: tr(lang, "button-stay-for", &[("stars", o.price.into())]),
            data: format!(
                "{}{}",
                payments::STAY_PREFIX,
                promos::short_id(o.subscription_id)
            ),
        }],
        vec![Button::Callback {
            text: t(lang, "button-cancel-anyway"),
            data: format!("{}{}", payments::CANCEL_ANYWAY_PREFIX, o.subscription_id),
        }],
    ];
    telegram::send_message(ctx, h.id, chat, &text, Some(rows)).await?;
    Ok(true)
}

/// "Stay for N ⭐": the renewal at the list price is cancelled, then the discounted
/// subscription is offered.
pub async fn stay(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb: &CallbackQuery,
    chat: i64,
    rest: &str,
) -> domain::Result<()> {
    telegram::answer_callback(ctx, h.id, &cb.id, None).await?;
    let Some(id) = promos::parse_short_id(rest) else {
        return say(ctx, h, chat, &t(lang, "button-out-of-date")).await;
    };
    let kept = match payments::accept_retention(ctx, h, cb.from.id, id).await {
        Ok(k) => k,
        Err(e) if e.code == payments::NO_RENEWAL => {
            return say(ctx, h, chat, &t(lang, "no-renewal")).await;
        }
        Err(e) if e.kind == domain::ErrorKind::Conflict => {
            return refused(ctx, h, lang, chat, &e).await;
        }
        Err(e) => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            return Err(e);
        }
    };
    let text = tr(
        lang,
        "retention-accepted",
        &[
            ("list", kept.list.into()),
            ("term", when(lang, kept.ends_at).into()),
        ],
    );
    say(ctx, h, chat, &text).await?;
    offer(ctx, h, lang, &cb.from, chat, kept.plan_id, kept.promo_id).await
}
