//! An owner's code tools in the bot: find a code (send it, or `/code <CODE>`), see its state
//! and who redeemed it, delete an unredeemed one or roll back a redeemed one after a
//! confirmation button. The lookup, the delete and the rollback are the dashboard's own
//! `domain::codes` use cases with the owner's tenant context (so the same role rule and the
//! same audit entries apply).
use domain::{
    AppCtx,
    bots::{self, BotHandle},
    codes::{self, CodeFilter, CodeOut, CodeStatus},
    error::FORBIDDEN_ROLE,
    telegram::{self, Button},
    tenants::TenantCtx,
};
use uuid::Uuid;

use domain::i18n::{Lang, t, tr};

use super::say;

/// Callback prefix of the owner's code buttons.
pub const PREFIX: &str = "oc:";

fn btn(text: String, data: String) -> Button {
    Button::Callback {
        text,
        data: format!("{PREFIX}{data}"),
    }
}

/// `/code <CODE>`: any sender; non-owners are told it is for owners.
pub async fn command(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    arg: &str,
) -> domain::Result<()> {
    let Some(tc) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        return say(ctx, h, chat, &t(lang, "owners-only")).await;
    };
    match codes::normalize(arg) {
        Some(code) => show(ctx, h, lang, &tc, chat, &code).await,
        None => say(ctx, h, chat, &t(lang, "oc-ask-code")).await,
    }
}

/// A code sent as free text by an owner: shown, not redeemed. `None` when the sender is not
/// an owner (the caller then redeems it as a subscriber's code).
pub async fn sent_by_owner(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    user: i64,
    chat: i64,
    code: &str,
) -> domain::Result<Option<()>> {
    let Some(tc) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        return Ok(None);
    };
    show(ctx, h, lang, &tc, chat, code).await.map(Some)
}

/// The code of the project spelled exactly `code`, through the dashboard's listing.
async fn find(
    ctx: &AppCtx,
    h: &BotHandle,
    t: &TenantCtx,
    code: &str,
) -> domain::Result<Option<CodeOut>> {
    let page = codes::list(
        ctx,
        t,
        h.project_id,
        CodeFilter {
            q: Some(code.to_string()),
            limit: Some(2),
            ..Default::default()
        },
    )
    .await?;
    Ok(page.items.into_iter().find(|c| c.code == code))
}

async fn by_id(
    ctx: &AppCtx,
    h: &BotHandle,
    t: &TenantCtx,
    id: Uuid,
) -> domain::Result<Option<CodeOut>> {
    match codes::get(ctx, t, h.project_id, id).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind == domain::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn state_word(lang: Lang, s: CodeStatus) -> String {
    let key = match s {
        CodeStatus::Unredeemed => "oc-state-unredeemed",
        CodeStatus::Redeemed => "oc-state-redeemed",
        CodeStatus::Expired => "oc-state-expired",
    };
    t(lang, key)
}

/// What the owner sees about one code, with the button its state allows.
pub async fn show(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    tc: &TenantCtx,
    chat: i64,
    code: &str,
) -> domain::Result<()> {
    let Some(c) = find(ctx, h, tc, code).await? else {
        return say(ctx, h, chat, &t(lang, "oc-not-found")).await;
    };
    let plan = bots::project_plan(ctx, h, c.plan_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    let expires = c.expires_at.map_or_else(
        || t(lang, "oc-never"),
        |e| e.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let mut text = tr(
        lang,
        "oc-show",
        &[
            ("code", c.code.as_str().into()),
            ("plan", plan.into()),
            ("state", state_word(lang, c.status).into()),
            ("used", c.activation_count.into()),
            ("max", c.max_activations.into()),
            ("expires", expires.into()),
        ],
    );
    if !c.redeemed_by.is_empty() {
        text.push('\n');
        text.push_str(&t(lang, "oc-redeemed-by"));
        for r in &c.redeemed_by {
            let who = r
                .username
                .as_deref()
                .map_or_else(|| r.first_name.clone(), |u| format!("@{u}"));
            text.push_str(&format!(
                "\n• {who} (id {}) — {}",
                r.telegram_user_id,
                r.at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    let row = if c.activation_count > 0 {
        btn(t(lang, "oc-button-roll-back"), format!("rb:{}", c.id))
    } else {
        btn(t(lang, "oc-button-delete"), format!("del:{}", c.id))
    };
    telegram::send_message(ctx, h.id, chat, &text, Some(vec![vec![row]])).await?;
    Ok(())
}

/// The owner's code buttons: ask to confirm, then delete or roll back.
pub async fn on_button(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    cb_id: &str,
    user: i64,
    chat: i64,
    data: &str,
) -> domain::Result<()> {
    let Some(tc) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        let refusal = t(lang, "owners-only");
        return telegram::answer_callback(ctx, h.id, cb_id, Some(&refusal)).await;
    };
    telegram::answer_callback(ctx, h.id, cb_id, None).await?;
    let action = &data[PREFIX.len()..];
    if action == "keep" {
        return say(ctx, h, chat, &t(lang, "oc-kept")).await;
    }
    let Some((verb, id)) = action.split_once(':') else {
        return Ok(());
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(());
    };
    match verb {
        "del" | "rb" => {
            let Some(c) = by_id(ctx, h, &tc, id).await? else {
                return say(ctx, h, chat, &t(lang, "oc-gone")).await;
            };
            let args = [
                ("code", c.code.as_str().into()),
                ("count", c.activation_count.into()),
            ];
            let (question, yes) = if verb == "del" {
                (
                    tr(lang, "oc-confirm-delete", &args),
                    btn(t(lang, "oc-button-yes-delete"), format!("del!:{id}")),
                )
            } else {
                (
                    tr(lang, "oc-confirm-roll-back", &args),
                    btn(t(lang, "oc-button-yes-roll-back"), format!("rb!:{id}")),
                )
            };
            let keyboard = vec![vec![yes, btn(t(lang, "button-cancel"), "keep".into())]];
            telegram::send_message(ctx, h.id, chat, &question, Some(keyboard)).await?;
            Ok(())
        }
        "del!" => match codes::delete(ctx, &tc, h.project_id, id).await {
            Ok(()) => say(ctx, h, chat, &t(lang, "oc-deleted")).await,
            Err(e) if e.code == codes::CODE_REDEEMED => {
                let keyboard = vec![vec![btn(
                    t(lang, "oc-button-roll-back"),
                    format!("rb:{id}"),
                )]];
                let text = t(lang, "oc-now-redeemed");
                telegram::send_message(ctx, h.id, chat, &text, Some(keyboard)).await?;
                Ok(())
            }
            Err(e) => refused(ctx, h, lang, chat, e).await,
        },
        "rb!" => match codes::rollback(ctx, &tc, h.project_id, id).await {
            Ok(r) => {
                let text = tr(
                    lang,
                    "oc-rolled-back",
                    &[
                        ("code", r.code.as_str().into()),
                        ("removed", r.activations_removed.into()),
                        ("ended", r.subscriptions_revoked.into()),
                        ("shortened", r.subscriptions_shortened.into()),
                    ],
                );
                say(ctx, h, chat, &text).await
            }
            Err(e) => refused(ctx, h, lang, chat, e).await,
        },
        _ => Ok(()),
    }
}

async fn refused(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: Lang,
    chat: i64,
    e: domain::Error,
) -> domain::Result<()> {
    match e.kind {
        domain::ErrorKind::NotFound => say(ctx, h, chat, &t(lang, "oc-gone")).await,
        domain::ErrorKind::Forbidden if e.code == FORBIDDEN_ROLE => {
            say(ctx, h, chat, &t(lang, "oc-role-refused")).await
        }
        _ => {
            let _ = say(ctx, h, chat, &t(lang, "something-went-wrong")).await;
            Err(e)
        }
    }
}
