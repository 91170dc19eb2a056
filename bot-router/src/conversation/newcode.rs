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

use super::{OWNERS_ONLY, SOMETHING_WENT_WRONG, say};

pub const PREFIX: &str = "nc:";
pub const ASK_QUANTITY: &str = "How many codes? Pick one, or send a number from 1 to 1000.";
pub const ASK_OTHER_QUANTITY: &str =
    "Send how many codes to generate: a number from 1 to 1000 (or /cancel).";
/// The quantities offered as buttons at the quantity step (any other is typed).
pub const QUANTITY_BUTTONS: [i64; 4] = [1, 10, 25, 100];
pub const EXPIRY_IN_PAST: &str = "That date is not in the future. Send a later date like 2027-01-31, a number of days, or pick an expiry with the buttons (or /cancel).";
pub const EXPIRY_PASSED: &str =
    "❌ Not generated: the expiry date has passed in the meantime. Send /newcode to start again.";
pub const BAD_QUANTITY: &str =
    "That is not a number from 1 to 1000. Send how many codes to generate (or /cancel).";
pub const BAD_DAYS: &str = "Pick an expiry with the buttons, or send a number of days from 1 to 36500 or a date like 2027-01-31 (or /cancel).";
pub const ASK_ACTIVATIONS: &str =
    "How many times may each code be redeemed? Send a number from 1 to 1000000.";
pub const BAD_ACTIVATIONS: &str = "That is not a number from 1 to 1000000. Send how many activations each code allows (or /cancel).";
pub const PICK_BUTTON: &str = "Please use the buttons above (or /cancel).";
pub const GENERATING: &str =
    "✅ Confirmed: the codes are being generated and will be sent to this chat.";

async fn owner(ctx: &AppCtx, h: &BotHandle, user: i64) -> domain::Result<Option<TenantCtx>> {
    bots::owner_tenant_ctx(ctx, h, user).await
}

/// The owner's tenant context, or `None` once a non-owner has been told it is for owners.
async fn owner_or_refuse(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
) -> domain::Result<Option<TenantCtx>> {
    let t = owner(ctx, h, user).await?;
    if t.is_none() {
        say(ctx, h, chat, OWNERS_ONLY).await?;
    }
    Ok(t)
}

/// What the owner has chosen so far: the plan, how many codes, when unused ones expire.
#[derive(Clone, Copy)]
struct Order {
    plan_id: Uuid,
    quantity: i64,
    expiry: NewCodeExpiry,
    max_activations: i64,
}

pub async fn start(ctx: &AppCtx, h: &BotHandle, user: i64, chat: i64) -> domain::Result<()> {
    if owner_or_refuse(ctx, h, user, chat).await?.is_none() {
        return Ok(());
    }
    let plans = bots::code_plans(ctx, h).await?;
    if plans.is_empty() {
        bots::clear_conversation(ctx, h.id, user).await?;
        return say(
            ctx,
            h,
            chat,
            "This project has no active plans. Create one in the dashboard first.",
        )
        .await;
    }
    bots::set_conversation(ctx, h.id, user, Conversation::NewCodePlan).await?;
    let keyboard = plans
        .iter()
        .map(|p| {
            vec![Button::Callback {
                text: p.describe(),
                data: format!("{PREFIX}plan:{}", p.id),
            }]
        })
        .collect();
    telegram::send_message(
        ctx,
        h.id,
        chat,
        "New access codes: which plan? (/cancel to stop)",
        Some(keyboard),
    )
    .await?;
    Ok(())
}

fn expiry_label(e: NewCodeExpiry) -> String {
    match e {
        NewCodeExpiry::Preset(ExpiryPreset::Never) => "never".into(),
        NewCodeExpiry::Preset(ExpiryPreset::Day) => "after 1 day".into(),
        NewCodeExpiry::Preset(ExpiryPreset::Week) => "after 1 week".into(),
        NewCodeExpiry::Preset(ExpiryPreset::Month) => "after 1 month".into(),
        NewCodeExpiry::Preset(ExpiryPreset::Year) => "after 1 year".into(),
        NewCodeExpiry::Days(1) => "after 1 day".into(),
        NewCodeExpiry::Days(d) => format!("after {d} days"),
        NewCodeExpiry::Date(d) => format!("at the end of {d} (UTC)"),
    }
}

/// Free text continues the step the owner is at.
pub async fn on_text(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    state: Conversation,
    text: &str,
) -> domain::Result<()> {
    if owner(ctx, h, user).await?.is_none() {
        bots::clear_conversation(ctx, h.id, user).await?;
        return say(ctx, h, chat, OWNERS_ONLY).await;
    }
    match state {
        Conversation::NewCodeQuantity { plan_id } => {
            let q = text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|q| (1..=batches::MAX_BATCH).contains(q));
            let Some(quantity) = q else {
                return say(ctx, h, chat, BAD_QUANTITY).await;
            };
            ask_expiry(ctx, h, user, chat, plan_id, quantity).await
        }
        Conversation::NewCodeExpiry { plan_id, quantity } => match NewCodeExpiry::typed(text) {
            // A date already past is refused here, where it was typed, with the batch's own
            // rule; the owner stays at this step.
            Some(expiry)
                if codes::Expiry::parse(&expiry.to_input(), ctx.now())
                    .is_err_and(|e| e.field_is("expiry", codes::EXPIRY_IN_PAST)) =>
            {
                say(ctx, h, chat, EXPIRY_IN_PAST).await
            }
            Some(expiry) => {
                let order = Order {
                    plan_id,
                    quantity,
                    expiry,
                    max_activations: 1,
                };
                preview(ctx, h, user, chat, order).await
            }
            None => say(ctx, h, chat, BAD_DAYS).await,
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
                return say(ctx, h, chat, BAD_ACTIVATIONS).await;
            };
            let order = Order {
                plan_id,
                quantity,
                expiry,
                max_activations,
            };
            preview(ctx, h, user, chat, order).await
        }
        _ => say(ctx, h, chat, PICK_BUTTON).await,
    }
}

/// Quantity chosen: on to the expiry step.
async fn ask_expiry(
    ctx: &AppCtx,
    h: &BotHandle,
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
            btn("No expiry", "exp:none"),
            btn("1 day", "exp:1d"),
            btn("1 week", "exp:1w"),
        ],
        vec![btn("1 month", "exp:1m"), btn("1 year", "exp:1y")],
    ];
    telegram::send_message(
        ctx,
        h.id,
        chat,
        "When should unused codes expire? Pick one, or send a number of days or a date (YYYY-MM-DD).",
        Some(keyboard),
    )
    .await?;
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
    cb_id: &str,
    user: i64,
    chat: i64,
    data: &str,
) -> domain::Result<()> {
    if owner(ctx, h, user).await?.is_none() {
        return telegram::answer_callback(ctx, h.id, cb_id, Some(OWNERS_ONLY)).await;
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
            row.push(btn("Other", "qty:other"));
            telegram::send_message(
                ctx,
                h.id,
                chat,
                &format!("Plan: {}\n{ASK_QUANTITY}", p.name),
                Some(vec![row]),
            )
            .await?;
            Ok(())
        }
        (Some(("qty", "other")), Some(Conversation::NewCodeQuantity { .. })) => {
            say(ctx, h, chat, ASK_OTHER_QUANTITY).await
        }
        (Some(("qty", q)), Some(Conversation::NewCodeQuantity { plan_id })) => {
            let Some(quantity) = q
                .parse::<i64>()
                .ok()
                .filter(|q| QUANTITY_BUTTONS.contains(q))
            else {
                return Ok(());
            };
            ask_expiry(ctx, h, user, chat, plan_id, quantity).await
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
            preview(ctx, h, user, chat, order).await
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
            confirm(ctx, h, user, chat, order, n).await
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
            say(ctx, h, chat, ASK_ACTIVATIONS).await
        }
        (None, Some(Conversation::NewCodeConfirm { .. })) if action == "no" => {
            bots::clear_conversation(ctx, h.id, user).await?;
            say(ctx, h, chat, super::CANCELLED).await
        }
        // A button of a finished or replaced step (e.g. a second tap on Confirm).
        _ => Ok(()),
    }
}

async fn preview(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    order: Order,
) -> domain::Result<()> {
    let Some(t) = owner_or_refuse(ctx, h, user, chat).await? else {
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
    let pv = match batches::preview(ctx, &t, h.project_id, PreviewIn { plan_id, quantity }).await {
        Ok(pv) => pv,
        Err(e) => return refused(ctx, h, user, chat, &e, None).await,
    };
    if !pv.allowed {
        bots::clear_conversation(ctx, h.id, user).await?;
        let code = pv.reason.as_deref().unwrap_or("");
        return say(ctx, h, chat, &refusal(code, Some(pv.free_left))).await;
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
        "none".into()
    };
    let text = format!(
        "Preview\nPlan: {plan_name}\nCodes: {quantity}\nExpiry: {}\nActivations per code: {max_activations}\nFree codes left this cycle: {}\nFree: {} · Overage: {}\nFee: {fee}\n\nGenerate these codes?",
        expiry_label(expiry),
        pv.free_left,
        pv.free,
        pv.overage,
    );
    let keyboard = vec![
        vec![
            btn("✅ Confirm", &format!("ok:{nonce}")),
            btn("Cancel", "no"),
        ],
        vec![btn("Change activations per code", "act")],
    ];
    telegram::send_message(ctx, h.id, chat, &text, Some(keyboard)).await?;
    Ok(())
}

async fn confirm(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    order: Order,
    nonce: Uuid,
) -> domain::Result<()> {
    let Some(t) = owner_or_refuse(ctx, h, user, chat).await? else {
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
    match batches::create(ctx, &t, h.project_id, input, Some(key)).await {
        Ok((_, created)) => {
            bots::clear_conversation(ctx, h.id, user).await?;
            if created {
                say(ctx, h, chat, GENERATING).await
            } else {
                Ok(())
            }
        }
        Err(e) => {
            let left = e.details.as_ref().and_then(|d| d["left"].as_i64());
            refused(ctx, h, user, chat, &e, left).await
        }
    }
}

async fn refused(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    e: &domain::Error,
    left: Option<i64>,
) -> domain::Result<()> {
    bots::clear_conversation(ctx, h.id, user).await?;
    // A custom date is checked where it is typed; one that passes before the confirm (typed
    // today, confirmed after midnight) is the only way here.
    let text = if e.field_is("expiry", codes::EXPIRY_IN_PAST) {
        EXPIRY_PASSED.to_string()
    } else {
        refusal(e.code, left)
    };
    say(ctx, h, chat, &text).await?;
    if text == SOMETHING_WENT_WRONG {
        tracing::error!(bot = %h.id, error = %e, "/newcode failed");
    }
    Ok(())
}

/// The reply to a refused preview or batch.
pub fn refusal(code: &str, left: Option<i64>) -> String {
    match code {
        QUOTA_EXCEEDED => format!(
            "❌ Not generated: the Free plan has {} free code(s) left this cycle. Send /newcode with a smaller quantity, or upgrade in the dashboard.",
            left.unwrap_or(0)
        ),
        batches::PLAN_INACTIVE => "❌ Not generated: that plan is no longer active.".into(),
        TENANT_SUSPENDED => "❌ Not generated: this account is suspended.".into(),
        PAYMENT_PAST_DUE => {
            "❌ Not generated: a payment is past due. Update your payment method in the dashboard."
                .into()
        }
        batches::ACCESS_CODES_DISABLED => {
            "❌ Not generated: access codes are turned off for this project.".into()
        }
        _ => SOMETHING_WENT_WRONG.into(),
    }
}
