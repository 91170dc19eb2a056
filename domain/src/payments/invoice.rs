//! Selling for Stars: the signed invoice payload, the invoice or subscription link a subscriber
//! asks for, and the answer to `pre_checkout_query`.

use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::Sha256;
use uuid::Uuid;

use entity::{payment, plan, project, subscriber};

use crate::{
    AppCtx,
    error::{Error, Result},
    i18n::{self, Lang},
    promos,
    subscriptions::{self, TgUser},
    telegram::{self, BotHandle, Button, sender::StarsInvoice},
    tenants,
};

use super::{
    CURRENCY, PLAN_NOT_FOR_SALE, REFUSE_FORGED, REFUSE_PAUSED, REFUSE_PLAN, REFUSE_PRICE,
    REFUSE_USED, STARS_DISABLED, SUBSCRIPTION_PERIOD_SECS,
};

// --- the signed payload ---------------------------------------------------------------------

/// `p1.<plan>.<subscriber>.<nonce>.<mac>`: ids as 32 hex digits, an 8-hex-digit nonce, and
/// 22 characters of base64url HMAC-SHA256 under a key derived for this purpose — 100 bytes,
/// within Telegram's 128. With a promo, `p2.<plan>.<subscriber>.<promo>.<nonce>.<mac>` with
/// the ids in 22 characters of base64url each — 103 bytes.
fn sign(ctx: &AppCtx, plan_id: Uuid, subscriber_id: Uuid, promo: Option<Uuid>) -> String {
    let nonce = format!("{:08x}", rand::random::<u32>());
    let body = match promo {
        None => format!("p1.{}.{}.{nonce}", plan_id.simple(), subscriber_id.simple()),
        Some(pr) => format!(
            "p2.{}.{}.{}.{nonce}",
            promos::short_id(plan_id),
            promos::short_id(subscriber_id),
            promos::short_id(pr)
        ),
    };
    format!("{body}.{}", mac(ctx, &body))
}

/// What a signed payload names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Signed {
    pub plan: Uuid,
    pub subscriber: Uuid,
    pub promo: Option<Uuid>,
}

fn mac(ctx: &AppCtx, body: &str) -> String {
    use base64::Engine;
    let mut m = Hmac::<Sha256>::new_from_slice(&ctx.keys.invoice).expect("any key length");
    m.update(body.as_bytes());
    let tag = m.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// What a payload names, if it is ours (constant-time comparison).
pub(super) fn verify(ctx: &AppCtx, payload: &str) -> Option<Signed> {
    use subtle::ConstantTimeEq;
    let (body, tag) = payload.rsplit_once('.')?;
    let expected = mac(ctx, body);
    if expected.as_bytes().ct_eq(tag.as_bytes()).unwrap_u8() != 1 {
        return None;
    }
    let mut parts = body.split('.');
    match parts.next()? {
        "p1" => Some(Signed {
            plan: Uuid::parse_str(parts.next()?).ok()?,
            subscriber: Uuid::parse_str(parts.next()?).ok()?,
            promo: None,
        }),
        "p2" => Some(Signed {
            plan: promos::parse_short_id(parts.next()?)?,
            subscriber: promos::parse_short_id(parts.next()?)?,
            promo: Some(promos::parse_short_id(parts.next()?)?),
        }),
        _ => None,
    }
}

// --- buying through the bot -------------------------------------------------------------------

async fn project_of(ctx: &AppCtx, h: &BotHandle) -> Result<project::Model> {
    project::Entity::find_by_id(h.project_id)
        .filter(project::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))
}

/// A plan of the bot's project that is on sale for Stars now, with its price.
pub(super) async fn plan_on_sale(
    ctx: &AppCtx,
    h: &BotHandle,
    plan_id: Uuid,
) -> Result<(plan::Model, u32)> {
    let pl = plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::conflict(PLAN_NOT_FOR_SALE, "no such plan"))?;
    match pl.price_stars {
        Some(stars) if pl.active && !pl.codes_only && stars > 0 => Ok((pl, stars as u32)),
        _ => Err(Error::conflict(
            PLAN_NOT_FOR_SALE,
            "this plan is not sold for Stars",
        )),
    }
}

/// How the invoice went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoiced {
    /// A one-time invoice message (`sendInvoice`).
    Invoice,
    /// A Stars subscription link (`createInvoiceLink` with a 30-day period) in a message
    /// with a pay button.
    SubscriptionLink(String),
}

/// A subscriber pressed "Buy for N ⭐" (or its discounted form, with `promo`): sends a Stars
/// invoice for the plan — a monthly Stars subscription for 30-day plans, a one-time invoice
/// otherwise, and also for a 30-day plan bought with a first-payment-only promo (one
/// discounted period; the full-price subscription is offered before it ends). Refused with
/// `stars_disabled` / `plan_not_for_sale`, or a promo's refusal (`promos::PROMO_*`).
pub async fn offer(
    ctx: &AppCtx,
    h: &BotHandle,
    user: &TgUser,
    chat: i64,
    plan_id: Uuid,
    promo: Option<Uuid>,
) -> Result<Invoiced> {
    let p = project_of(ctx, h).await?;
    if !p.stars_enabled {
        return Err(Error::conflict(
            STARS_DISABLED,
            "Stars payments are turned off for this project",
        ));
    }
    let (pl, list) = plan_on_sale(ctx, h, plan_id).await?;
    let sub = subscriptions::subscriber_for(&ctx.db, h, user, ctx.now()).await?;
    let promo = match promo {
        Some(id) => {
            let pr = promos::find_id(ctx, h, id).await?;
            promos::usable(&ctx.db, &pr, sub.id, None, ctx.now()).await?;
            if !promos::applies_to(&pr, pl.id) {
                return Err(Error::conflict(
                    promos::PROMO_WRONG_PLAN,
                    "this promo code does not apply to this plan",
                ));
            }
            Some(pr)
        }
        None => None,
    };
    let stars = promo
        .as_ref()
        .map_or(list, |pr| promos::price_with(pr, list));
    let payload = sign(ctx, pl.id, sub.id, promo.as_ref().map(|pr| pr.id));
    let lang = match user.language_code.as_deref().and_then(Lang::from_tag) {
        Some(l) => l,
        None => i18n::project_default(ctx, h.project_id).await?,
    };
    let term = match pl.duration_days {
        None => i18n::t(lang, "invoice-for-life"),
        Some(d) => i18n::tr(lang, "invoice-for-days", &[("days", d.into())]),
    };
    let title: String = pl.name.chars().take(32).collect();
    let mut description = i18n::tr(
        lang,
        "invoice-description",
        &[
            ("plan", pl.name.as_str().into()),
            ("term", term.into()),
            ("project", p.name.as_str().into()),
        ],
    );
    let promo_line = promo.as_ref().map(|pr| {
        i18n::tr(
            lang,
            "invoice-promo",
            &[
                ("code", pr.code.as_str().into()),
                ("stars", stars.into()),
                ("list", list.into()),
            ],
        )
    });
    if let Some(line) = &promo_line {
        description = format!("{line} {description}");
    }
    let description: String = description.chars().take(255).collect();
    let invoice = StarsInvoice {
        title: &title,
        description: &description,
        payload: &payload,
        label: &title,
        stars,
    };
    let once = promo.as_ref().is_some_and(|pr| promos::sold_once(pr, &pl));
    if pl.duration_days == Some(30) && !once {
        let link = telegram::sender::create_invoice_link(
            ctx,
            h.id,
            &invoice,
            Some(SUBSCRIPTION_PERIOD_SECS),
        )
        .await?;
        let mut text = i18n::tr(
            lang,
            "invoice-monthly",
            &[("plan", pl.name.as_str().into()), ("stars", stars.into())],
        );
        if let Some(line) = promo_line {
            text = format!("{line}\n{text}");
        }
        let keyboard = vec![vec![Button::Url {
            text: i18n::tr(lang, "button-subscribe", &[("stars", stars.into())]),
            url: link.clone(),
        }]];
        telegram::send_message(ctx, h.id, chat, &text, Some(keyboard)).await?;
        Ok(Invoiced::SubscriptionLink(link))
    } else {
        telegram::sender::send_invoice(ctx, h.id, chat, &invoice).await?;
        Ok(Invoiced::Invoice)
    }
}

/// A `pre_checkout_query`, in our terms.
#[derive(Debug, Clone)]
pub struct PreCheckout {
    pub from_user_id: i64,
    pub currency: String,
    pub total_amount: i64,
    pub payload: String,
}

/// Judges a pre-checkout: `None` to accept, or the message the subscriber sees (a catalogue
/// key). Accepted only if the payload is ours and names this user, it was not paid before, the
/// tenant is active, Stars are on and the plan is still on sale at the same price (in `XTR`).
/// An invoice with a promo must ask exactly the discounted price, the promo must still be
/// usable by this user for this plan, and a place under its cap is taken now
/// (`promos::hold`): the last moment before Telegram charges.
pub async fn pre_checkout(
    ctx: &AppCtx,
    h: &BotHandle,
    q: &PreCheckout,
) -> Result<Option<&'static str>> {
    let Some(signed) = verify(ctx, &q.payload) else {
        tracing::warn!(bot = %h.id, "pre-checkout with a payload that is not ours refused");
        return Ok(Some(REFUSE_FORGED));
    };
    let sub = subscriber::Entity::find_by_id(signed.subscriber)
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .one(&ctx.db)
        .await?;
    if sub.is_none_or(|s| s.telegram_user_id != q.from_user_id) {
        return Ok(Some(REFUSE_FORGED));
    }
    let used = payment::Entity::find()
        .filter(payment::Column::InvoicePayload.eq(&q.payload))
        .one(&ctx.db)
        .await?;
    if used.is_some() {
        return Ok(Some(REFUSE_USED));
    }
    if !tenants::is_active(&ctx.db, h.tenant_id).await? {
        return Ok(Some(REFUSE_PAUSED));
    }
    if !project_of(ctx, h).await?.stars_enabled {
        return Ok(Some(REFUSE_PLAN));
    }
    let Ok((pl, list)) = plan_on_sale(ctx, h, signed.plan).await else {
        return Ok(Some(REFUSE_PLAN));
    };
    let promo = match signed.promo {
        Some(id) => match promos::find_id(ctx, h, id).await {
            Ok(pr) => Some(pr),
            Err(e) if e.code == promos::PROMO_UNKNOWN => return Ok(Some(REFUSE_FORGED)),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let stars = promo
        .as_ref()
        .map_or(list, |pr| promos::price_with(pr, list));
    if q.currency != CURRENCY || q.total_amount != i64::from(stars) {
        return Ok(Some(REFUSE_PRICE));
    }
    let Some(pr) = promo else {
        return Ok(None);
    };
    if !promos::applies_to(&pr, pl.id) {
        return Ok(Some(promo_refusal(promos::PROMO_WRONG_PLAN)));
    }
    let now = ctx.now();
    match promos::usable(&ctx.db, &pr, signed.subscriber, Some(&q.payload), now).await {
        Ok(()) => {}
        Err(e) if e.kind == crate::ErrorKind::Conflict => return Ok(Some(promo_refusal(e.code))),
        Err(e) => return Err(e),
    }
    Ok(promos::hold(ctx, &pr, signed.subscriber, &q.payload)
        .await?
        .map(promo_refusal))
}

/// The catalogue key of a promo's refusal (`promo_exhausted` → `promo-exhausted`).
pub fn promo_refusal(code: &str) -> &'static str {
    match code {
        promos::PROMO_UNKNOWN => "promo-unknown",
        promos::PROMO_NOT_STARTED => "promo-not-started",
        promos::PROMO_EXPIRED => "promo-expired",
        promos::PROMO_EXHAUSTED => "promo-exhausted",
        promos::PROMO_WRONG_PLAN => "promo-wrong-plan",
        promos::PROMO_ALREADY_USED => "promo-already-used",
        promos::PROMO_NEW_CUSTOMERS_ONLY => "promo-new-customers-only",
        _ => "something-went-wrong",
    }
}
