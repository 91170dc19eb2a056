//! `/newcode`: plan → quantity → expiry → preview → confirm. Each step is stored in the
//! database; the rules (quota, plan, suspension, billing) are `domain::codes`'.
use domain::{
    AppCtx,
    batches::{self, BatchIn, PreviewIn},
    billing::PAYMENT_PAST_DUE,
    bots::{self, BotHandle, Conversation, ExpiryPreset, NewCodeExpiry},
    codes,
    error::TENANT_SUSPENDED,
    quota::QUOTA_EXCEEDED,
    telegram::{self, Button},
    tenants::TenantCtx,
};
use uuid::Uuid;

use domain::i18n::{Lang, t, tr};

use super::say;

pub const PREFIX: &str = "nc:";
/// The quantities offered as buttons at the quantity step (any other is typed).
pub const QUANTITY_BUTTONS: [i64; 4] = [1, 10, 25, 100];
async fn owner(ctx: &AppCtx, h: &BotHandle, user: i64) -> domain::Result<Option<TenantCtx>> {
    bots::owner_tenant_ctx(ctx, h, user).await
}

/// The owner's tenant context, or `None` once a non-owner has been told it is for owners.
async fn owner_or_refuse(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
) -> domain::Result<Option<TenantCtx>> {
    let tc = owner(ctx, h, user).await?;
    if tc.is_none() {
        say(ctx, h, chat, &t(lang, "owners-only")).await?;
    }
    Ok(tc)
}

/// What the owner has chosen so far: the plan, how many codes, when unused ones expire.
#[derive(Clone, Copy)]
struct Order {
    plan_id: Uuid,
    quantity: i64,
    expiry: NewCodeExpiry,
    max_activations: i64,
}

pub async fn start(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
) -> domain::Result<()> {
    if owner_or_refuse(ctx, h, lang, user, chat).await?.is_none() {
        return Ok(());
    }
    let plans = bots::code_plans(ctx, h).await?;
    if plans.is_empty() {
        bots::clear_conversation(ctx, h.id, user).await?;
        return say(ctx, h, chat, &t(lang, "nc-no-plans")).await;
    }
    bots::set_conversation(ctx, h.id, user, Conversation::NewCodePlan).await?;
    let keyboard = plans
        .iter()
        .map(|p| {
            vec![Button::Callback {
                text: p.describe(lang),
                data: format!("{PREFIX}plan:{}", p.id),
            }]
        })
        .collect();
    telegram::send_message(ctx, h.id, chat, &t(lang, "nc-which-plan"), Some(keyboard)).await?;
    Ok(())
}

fn expiry_label(lang: Lang, e: NewCodeExpiry) -> String {
    let days = |d: i64| tr(lang, "nc-expiry-after-days", &[("days", d.into())]);
    match e {
        NewCodeExpiry::Preset(ExpiryPreset::Never) => t(lang, "nc-expiry-never"),
        NewCodeExpiry::Preset(ExpiryPreset::Day) => days(1),
        NewCodeExpiry::Preset(ExpiryPreset::Week) => t(lang, "nc-expiry-after-week"),
        NewCodeExpiry::Preset(ExpiryPreset::Month) => t(lang, "nc-expiry-after-month"),
        NewCodeExpiry::Preset(ExpiryPreset::Year) => t(lang, "nc-expiry-after-year"),
        NewCodeExpiry::Days(d) => days(d),
        NewCodeExpiry::Date(d) => tr(
            lang,
            "nc-expiry-at-end-of",
            &[("date", d.to_string().into())],
        ),
    }
}

/// Free text continues the step the owner is at.
pub async fn on_text(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    state: Conversation,
    text: &str,
) -> domain::Result<()> {
    if owner(ctx, h, user).await?.is_none() {
        bots::clear_conversation(ctx, h.id, user).await?;
        return say(ctx, h, chat, &t(lang, "owners-only")).await;
    }
    match state {
        Conversation::NewCodeQuantity { plan_id } => {
            let q = text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|q| (1..=batches::MAX_BATCH).contains(q));
            let Some(quantity) = q else {
                return say(ctx, h, chat, &t(lang, "nc-bad-quantity")).await;
            };
            ask_expiry(ctx, h, lang, user, chat, plan_id, quantity).await
        }
        Conversation::NewCodeExpiry { plan_id, quantity } => match NewCodeExpiry::typed(text) {
            // A date already past is refused here, where it was typed, with the batch's own
            // rule; the owner stays at this step.
            Some(expiry)
                if codes::Expiry::parse(&expiry.to_input(), ctx.now())
                    .is_err_and(|e| e.field_is("expiry", codes::EXPIRY_IN_PAST)) =>
            {
                say(ctx, h, chat, &t(lang, "nc-expiry-in-past")).await
            }
            Some(expiry) => {
                let order = Order {
                    plan_id,
                    quantity,
                    expiry,
                    max_activations: 1,
                };
                preview(ctx, h, lang, user, chat, order).await
            }
            None => say(ctx, h, chat, &t(lang, "nc-bad-days")).await,
        },
        Conversation::NewCodeActivations {
            plan_id,
            quantity,
            expiry,
        } => {
            let n = text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=batches::MAX_ACTIVATIONS).contains(n));
            let Some(max_activations) = n else {
                return say(ctx, h, chat, &t(lang, "nc-bad-activations")).await;
            };
            let order = Order {
                plan_id,
                quantity,
                expiry,
                max_activations,
            };
            preview(ctx, h, lang, user, chat, order).await
        }
        _ => say(ctx, h, chat, &t(lang, "nc-pick-button")).await,
    }
}

/// Quantity chosen: on to the expiry step.
async fn ask_expiry(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    plan_id: Uuid,
    quantity: i64,
) -> domain::Result<()> {
    bots::set_conversation(
        ctx,
        h.id,
        user,
        Conversation::NewCodeExpiry { plan_id, quantity },
    )
    .await?;
    let keyboard = vec![
        vec![
            btn(&t(lang, "nc-button-no-expiry"), "exp:none"),
            btn(&t(lang, "nc-button-day"), "exp:1d"),
            btn(&t(lang, "nc-button-week"), "exp:1w"),
        ],
        vec![
            btn(&t(lang, "nc-button-month"), "exp:1m"),
            btn(&t(lang, "nc-button-year"), "exp:1y"),
        ],
    ];
    telegram::send_message(ctx, h.id, chat, &t(lang, "nc-ask-expiry"), Some(keyboard)).await?;
    Ok(())
}

fn btn(text: &str, data: &str) -> Button {
    Button::Callback {
        text: text.into(),
        data: format!("{PREFIX}{data}"),
    }
}

pub async fn on_button(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb_id: &str,
    user: i64,
    chat: i64,
    data: &str,
) -> domain::Result<()> {
    if owner(ctx, h, user).await?.is_none() {
        let refusal = t(lang, "owners-only");
        return telegram::answer_callback(ctx, h.id, cb_id, Some(&refusal)).await;
    }
    telegram::answer_callback(ctx, h.id, cb_id, None).await?;
    let action = &data[PREFIX.len()..];
    let state = bots::conversation(ctx, h.id, user).await?;
    match (action.split_once(':'), state) {
        (Some(("plan", id)), Some(Conversation::NewCodePlan)) => {
            let Some(plan) = Uuid::parse_str(id).ok() else {
                return Ok(());
            };
            let Some(p) = bots::project_plan(ctx, h, plan).await? else {
                return Ok(());
            };
            bots::set_conversation(
                ctx,
                h.id,
                user,
                Conversation::NewCodeQuantity { plan_id: p.id },
            )
            .await?;
            let mut row: Vec<Button> = QUANTITY_BUTTONS
                .iter()
                .map(|q| btn(&q.to_string(), &format!("qty:{q}")))
                .collect();
            row.push(btn(&t(lang, "nc-button-other"), "qty:other"));
            telegram::send_message(
                ctx,
                h.id,
                chat,
                &tr(lang, "nc-ask-quantity", &[("plan", p.name.as_str().into())]),
                Some(vec![row]),
            )
            .await?;
            Ok(())
        }
        (Some(("qty", "other")), Some(Conversation::NewCodeQuantity { .. })) => {
            say(ctx, h, chat, &t(lang, "nc-ask-other-quantity")).await
        }
        (Some(("qty", q)), Some(Conversation::NewCodeQuantity { plan_id })) => {
            let Some(quantity) = q
                .parse::<i64>()
                .ok()
                .filter(|q| QUANTITY_BUTTONS.contains(q))
            else {
                return Ok(());
            };
            ask_expiry(ctx, h, lang, user, chat, plan_id, quantity).await
        }
        (Some(("exp", preset)), Some(Conversation::NewCodeExpiry { plan_id, quantity })) => {
            let Some(p) = ExpiryPreset::parse(preset) else {
                return Ok(());
            };
            let order = Order {
                plan_id,
                quantity,
                expiry: NewCodeExpiry::Preset(p),
                max_activations: 1,
            };
            preview(ctx, h, lang, user, chat, order).await
        }
        (
            Some(("ok", nonce)),
            Some(Conversation::NewCodeConfirm {
                plan_id,
                quantity,
                expiry,
                nonce: n,
                max_activations,
            }),
        ) if nonce == n.to_string() => {
            let order = Order {
                plan_id,
                quantity,
                expiry,
                max_activations,
            };
            confirm(ctx, h, lang, user, chat, order, n).await
        }
        (
            None,
            Some(Conversation::NewCodeConfirm {
                plan_id,
                quantity,
                expiry,
                ..
            }),
        ) if action == "act" => {
            bots::set_conversation(
                ctx,
                h.id,
                user,
                Conversation::NewCodeActivations {
                    plan_id,
                    quantity,
                    expiry,
                },
            )
            .await?;
            say(ctx, h, chat, &t(lang, "nc-ask-activations")).await
        }
        (None, Some(Conversation::NewCodeConfirm { .. })) if action == "no" => {
            bots::clear_conversation(ctx, h.id, user).await?;
            say(ctx, h, chat, &t(lang, "cancelled")).await
        }
        // A button of a finished or replaced step (e.g. a second tap on Confirm).
        _ => Ok(()),
    }
}

async fn preview(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    order: Order,
) -> domain::Result<()> {
    let Some(tc) = owner_or_refuse(ctx, h, lang, user, chat).await? else {
        return Ok(());
    };
    let Order {
        plan_id,
        quantity,
        expiry,
        max_activations,
    } = order;
    let plan_name = bots::project_plan(ctx, h, plan_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    let pv = match batches::preview(ctx, &tc, h.project_id, PreviewIn { plan_id, quantity }).await {
        Ok(pv) => pv,
        Err(e) => return refused(ctx, h, lang, user, chat, &e, None).await,
    };
    if !pv.allowed {
        bots::clear_conversation(ctx, h.id, user).await?;
        let code = pv.reason.as_deref().unwrap_or("");
        return say(ctx, h, chat, &refusal(lang, code, Some(pv.free_left))).await;
    }
    let nonce = Uuid::now_v7();
    bots::set_conversation(
        ctx,
        h.id,
        user,
        Conversation::NewCodeConfirm {
            plan_id,
            quantity,
            expiry,
            nonce,
            max_activations,
        },
    )
    .await?;
    let fee = if pv.fee_minor > 0 {
        format!(
            "{} {}",
            domain::money::format_minor(pv.fee_minor, &pv.fee_currency),
            pv.fee_currency
        )
    } else {
        t(lang, "nc-fee-none")
    };
    let text = tr(
        lang,
        "nc-preview",
        &[
            ("plan", plan_name.into()),
            ("quantity", quantity.into()),
            ("expiry", expiry_label(lang, expiry).into()),
            ("activations", max_activations.into()),
            ("free_left", pv.free_left.into()),
            ("free", pv.free.into()),
            ("overage", pv.overage.into()),
            ("fee", fee.into()),
        ],
    );
    let keyboard = vec![
        vec![
            btn(&t(lang, "nc-button-confirm"), &format!("ok:{nonce}")),
            btn(&t(lang, "button-cancel"), "no"),
        ],
        vec![btn(&t(lang, "nc-button-activations"), "act")],
    ];
    telegram::send_message(ctx, h.id, chat, &text, Some(keyboard)).await?;
    Ok(())
}

async fn confirm(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    order: Order,
    nonce: Uuid,
) -> domain::Result<()> {
    let Some(tc) = owner_or_refuse(ctx, h, lang, user, chat).await? else {
        return Ok(());
    };
    let input = BatchIn {
        plan_id: order.plan_id,
        quantity: order.quantity,
        expiry: order.expiry.to_input(),
        max_activations: Some(order.max_activations),
        consent: true,
    };
    let key = bots::newcode_idempotency_key(h, user, nonce);
    match batches::create(ctx, &tc, h.project_id, input, Some(key)).await {
        Ok((_, created)) => {
            bots::clear_conversation(ctx, h.id, user).await?;
            if created {
                say(ctx, h, chat, &t(lang, "nc-generating")).await
            } else {
                Ok(())
            }
        }
        Err(e) => {
            let left = e.details.as_ref().and_then(|d| d["left"].as_i64());
            refused(ctx, h, lang, user, chat, &e, left).await
        }
    }
}

async fn refused(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    e: &domain::Error,
    left: Option<i64>,
) -> domain::Result<()> {
    bots::clear_conversation(ctx, h.id, user).await?;
    // A custom date is checked where it is typed; one that passes before the confirm (typed
    // today, confirmed after midnight) is the only way here.
    let text = if e.field_is("expiry", codes::EXPIRY_IN_PAST) {
        t(lang, "nc-expiry-passed")
    } else {
        refusal(lang, e.code, left)
    };
    say(ctx, h, chat, &text).await?;
    if text == t(lang, "something-went-wrong") {
        tracing::error!(bot = %h.id, error = %e, "/newcode failed");
    }
    Ok(())
}

/// The reply to a refused preview or batch.
pub fn refusal(lang: Lang, code: &str, left: Option<i64>) -> String {
    let key = match code {
        QUOTA_EXCEEDED => {
            return tr(
                lang,
                "nc-refused-quota",
                &[("left", left.unwrap_or(0).into())],
            );
        }
        batches::PLAN_INACTIVE => "nc-refused-plan-inactive",
        TENANT_SUSPENDED => "nc-refused-suspended",
        PAYMENT_PAST_DUE => "nc-refused-past-due",
        batches::ACCESS_CODES_DISABLED => "nc-refused-codes-off",
        _ => "something-went-wrong",
    };
    t(lang, key)
}
