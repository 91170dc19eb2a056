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

use super::{OWNERS_ONLY, say};

/// Callback prefix of the owner's code buttons.
pub const PREFIX: &str = "oc:";
pub const ASK_CODE: &str =
    "Send /code followed by the code, e.g. /code ABCD-EFGH-JKMN, or just send the code.";
pub const NOT_FOUND: &str = "There is no such code in this project (it may have been deleted or purged). Send another code, or /codes for the counts.";
pub const GONE: &str =
    "That code no longer exists (deleted or rolled back already). Send another code, or /codes.";
pub const ROLE_REFUSED: &str = "Your role in the team cannot delete or roll back codes. Ask an admin of the account, or send another code to look it up.";
pub const NOW_REDEEMED: &str =
    "That code has been redeemed in the meantime, so it stays for reporting. Roll it back instead:";
pub const KEPT: &str = "Nothing changed. Send another code to look it up.";

fn btn(text: &str, data: String) -> Button {
    Button::Callback {
        text: text.into(),
        data: format!("{PREFIX}{data}"),
    }
}

/// `/code <CODE>`: any sender; non-owners are told it is for owners.
pub async fn command(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    arg: &str,
) -> domain::Result<()> {
    let Some(t) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        return say(ctx, h, chat, OWNERS_ONLY).await;
    };
    match codes::normalize(arg) {
        Some(code) => show(ctx, h, &t, chat, &code).await,
        None => say(ctx, h, chat, ASK_CODE).await,
    }
}

/// A code sent as free text by an owner: shown, not redeemed. `None` when the sender is not
/// an owner (the caller then redeems it as a subscriber's code).
pub async fn sent_by_owner(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    chat: i64,
    code: &str,
) -> domain::Result<Option<()>> {
    let Some(t) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        return Ok(None);
    };
    show(ctx, h, &t, chat, code).await.map(Some)
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

fn state_word(s: CodeStatus) -> &'static str {
    match s {
        CodeStatus::Unredeemed => "unredeemed",
        CodeStatus::Redeemed => "redeemed",
        CodeStatus::Expired => "expired",
    }
}

/// What the owner sees about one code, with the button its state allows.
pub async fn show(
    ctx: &AppCtx,
    h: &BotHandle,
    t: &TenantCtx,
    chat: i64,
    code: &str,
) -> domain::Result<()> {
    let Some(c) = find(ctx, h, t, code).await? else {
        return say(ctx, h, chat, NOT_FOUND).await;
    };
    let plan = bots::project_plan(ctx, h, c.plan_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    let mut text = format!(
        "Code {}\nPlan: {plan}\nState: {}\nActivations: {} of {}\nExpires: {}",
        c.code,
        state_word(c.status),
        c.activation_count,
        c.max_activations,
        c.expires_at.map_or_else(
            || "never".to_string(),
            |e| e.format("%Y-%m-%d %H:%M UTC").to_string()
        ),
    );
    if !c.redeemed_by.is_empty() {
        text.push_str("\nRedeemed by:");
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
        btn("↩️ Roll back…", format!("rb:{}", c.id))
    } else {
        btn("🗑 Delete…", format!("del:{}", c.id))
    };
    telegram::send_message(ctx, h.id, chat, &text, Some(vec![vec![row]])).await?;
    Ok(())
}

/// The owner's code buttons: ask to confirm, then delete or roll back.
pub async fn on_button(
    ctx: &AppCtx,
    h: &BotHandle,
    cb_id: &str,
    user: i64,
    chat: i64,
    data: &str,
) -> domain::Result<()> {
    let Some(t) = bots::owner_tenant_ctx(ctx, h, user).await? else {
        return telegram::answer_callback(ctx, h.id, cb_id, Some(OWNERS_ONLY)).await;
    };
    telegram::answer_callback(ctx, h.id, cb_id, None).await?;
    let action = &data[PREFIX.len()..];
    if action == "keep" {
        return say(ctx, h, chat, KEPT).await;
    }
    let Some((verb, id)) = action.split_once(':') else {
        return Ok(());
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(());
    };
    match verb {
        "del" | "rb" => {
            let Some(c) = by_id(ctx, h, &t, id).await? else {
                return say(ctx, h, chat, GONE).await;
            };
            let (question, yes) = if verb == "del" {
                (
                    format!(
                        "Delete code {}? It can no longer be redeemed; this cannot be undone.",
                        c.code
                    ),
                    btn("Yes, delete it", format!("del!:{id}")),
                )
            } else {
                (
                    format!(
                        "Roll back code {}? Its {} activation(s) are removed: each subscriber loses the time it granted (access ends where nothing else remains).",
                        c.code, c.activation_count
                    ),
                    btn("Yes, roll it back", format!("rb!:{id}")),
                )
            };
            let keyboard = vec![vec![yes, btn("Cancel", "keep".into())]];
            telegram::send_message(ctx, h.id, chat, &question, Some(keyboard)).await?;
            Ok(())
        }
        "del!" => match codes::delete(ctx, &t, h.project_id, id).await {
            Ok(()) => {
                say(
                    ctx,
                    h,
                    chat,
                    "🗑 Code deleted. Send another code to look it up.",
                )
                .await
            }
            Err(e) if e.code == codes::CODE_REDEEMED => {
                let keyboard = vec![vec![btn("↩️ Roll back…", format!("rb:{id}"))]];
                telegram::send_message(ctx, h.id, chat, NOW_REDEEMED, Some(keyboard)).await?;
                Ok(())
            }
            Err(e) => refused(ctx, h, chat, e).await,
        },
        "rb!" => match codes::rollback(ctx, &t, h.project_id, id).await {
            Ok(r) => {
                let text = format!(
                    "↩️ Code {} rolled back: {} activation(s) removed, {} subscription(s) ended, {} shortened. Send another code to look it up.",
                    r.code,
                    r.activations_removed,
                    r.subscriptions_revoked,
                    r.subscriptions_shortened
                );
                say(ctx, h, chat, &text).await
            }
            Err(e) => refused(ctx, h, chat, e).await,
        },
        _ => Ok(()),
    }
}

async fn refused(ctx: &AppCtx, h: &BotHandle, chat: i64, e: domain::Error) -> domain::Result<()> {
    match e.kind {
        domain::ErrorKind::NotFound => say(ctx, h, chat, GONE).await,
        domain::ErrorKind::Forbidden if e.code == FORBIDDEN_ROLE => {
            say(ctx, h, chat, ROLE_REFUSED).await
        }
        _ => {
            let _ = say(ctx, h, chat, super::SOMETHING_WENT_WRONG).await;
            Err(e)
        }
    }
}
