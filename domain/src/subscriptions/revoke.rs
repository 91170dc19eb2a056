//! Ending a subscription: expiry, revocation by the creator, and removal from the plan's channels.
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use entity::{plan, subscription};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    events::{self, EventType},
    i18n::{self, Lang},
    projects,
    telegram::{self},
    tenancy::{Action, TenantCtx},
};

use entity::subscription::SubscriptionStatus;

use super::access::{channels_of_plan, covers};
use super::members::SubscriptionOut;
use super::reminders::SWEEP_BATCH;
use super::{bot_of, telegram_user};

/// Ends subscriptions whose time is up, soonest first, [`SWEEP_BATCH`] at a time: status
/// expired, claimed by a conditional update that re-checks `ends_at <= now` (so each is ended
/// once, and one extended after the sweep read it is left alone), then removal from each
/// channel of the plan and a message to the user. Lifetime subscriptions never end.
pub async fn expire_due(ctx: &AppCtx) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.lte(now))
        .order_by_asc(subscription::Column::EndsAt)
        .order_by_asc(subscription::Column::Id)
        .limit(SWEEP_BATCH)
        .all(&ctx.db)
        .await?;
    let mut ended = 0;
    for s in due {
        if end(ctx, &s, SubscriptionStatus::Expired).await? {
            ended += 1;
            // The plan's name and the way back (the reminder's own buttons).
            match super::reminders::ended_message(ctx, &s).await {
                Ok((text, keyboard)) => remove_access_with(ctx, &s, Some(&text), keyboard).await,
                Err(e) => {
                    tracing::warn!(error = %e, subscription = %s.id, "end message not worded");
                    remove_access(ctx, &s, Some("ended-fallback")).await;
                }
            }
        }
    }
    Ok(ended)
}

/// Claims the end of an active subscription; false when someone else ended it first, or
/// (for expiry) when its end is no longer past because it was extended meanwhile.
async fn end(ctx: &AppCtx, s: &subscription::Model, status: SubscriptionStatus) -> Result<bool> {
    let now = ctx.now();
    let mut claim = subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value(status))
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active));
    match status {
        SubscriptionStatus::Expired => {
            claim = claim
                .filter(subscription::Column::EndsAt.is_not_null())
                .filter(subscription::Column::EndsAt.lte(now));
        }
        SubscriptionStatus::Revoked | SubscriptionStatus::Active => {}
    }
    // The end and its webhook event commit together.
    let txn = ctx.db.begin().await?;
    if claim.exec(&txn).await?.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let kind = match status {
        SubscriptionStatus::Revoked => EventType::SubscriptionRevoked,
        SubscriptionStatus::Expired | SubscriptionStatus::Active => EventType::SubscriptionEnded,
    };
    events::emit_subscription(&txn, s.tenant_id, kind, s.id, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Removes the user from the plan's channels (unless another active subscription still
/// covers a channel) and tells them the catalogue message `key` in their language.
/// Telegram failures are logged, not fatal.
async fn remove_access(ctx: &AppCtx, s: &subscription::Model, key: Option<&str>) {
    let text = match key {
        Some(key) => {
            let lang = super::reminders::language_of(ctx, s)
                .await
                .unwrap_or(Lang::En);
            Some(i18n::t(lang, key))
        }
        None => None,
    };
    remove_access_with(ctx, s, text.as_deref(), None).await
}

/// [`remove_access`] with buttons under the message.
async fn remove_access_with(
    ctx: &AppCtx,
    s: &subscription::Model,
    message: Option<&str>,
    keyboard: Option<telegram::Keyboard>,
) {
    let run = async {
        let (Some(b), Some(user)) = (
            bot_of(ctx, s.project_id).await?,
            telegram_user(ctx, s.subscriber_id).await?,
        ) else {
            return Ok::<(), Error>(());
        };
        for ch in channels_of_plan(&ctx.db, s.plan_id).await? {
            if covers(ctx, s.project_id, ch.id, user).await? {
                continue;
            }
            if let Err(e) =
                telegram::sender::remove_member(ctx, b.id, ch.telegram_chat_id, user).await
            {
                tracing::warn!(error = %e, channel = %ch.id, "removing a member failed");
            }
        }
        if let Some(text) = message
            && let Err(e) = telegram::send_message(ctx, b.id, user, text, keyboard).await
        {
            tracing::warn!(error = %e, "end-of-subscription message not delivered");
        }
        Ok(())
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, subscription = %s.id, "removing access failed");
    }
}

/// Removes access for subscriptions another service already marked revoked (code rollback).
pub async fn remove_revoked(ctx: &AppCtx, ids: &[Uuid]) -> Result<()> {
    remove_revoked_because(ctx, ids, REVOKED_BY_OWNER).await
}

/// Catalogue key of the message a revoked subscriber gets.
pub const REVOKED_BY_OWNER: &str = "revoked-by-owner";
/// Catalogue key of the message a subscriber whose payment was refunded gets.
pub const REVOKED_REFUNDED: &str = "revoked-refunded";
/// Catalogue key of the reason told with a shortened subscription after a refund.
pub const SHORTENED_REFUNDED: &str = "shortened-refunded";

/// Removes access for subscriptions already marked revoked, telling each user the catalogue
/// message `message`, and cancels the Stars subscriptions renewing into them.
pub async fn remove_revoked_because(ctx: &AppCtx, ids: &[Uuid], message: &str) -> Result<()> {
    crate::renewals::stop(ctx, ids).await;
    for s in subscription::Entity::find()
        .filter(subscription::Column::Id.is_in(ids.iter().copied()))
        .all(&ctx.db)
        .await?
    {
        remove_access(ctx, &s, Some(message)).await;
    }
    Ok(())
}

/// Tells the users of subscriptions a rollback shortened when their access now ends.
pub async fn tell_shortened(ctx: &AppCtx, ids: &[Uuid]) {
    tell_shortened_because(ctx, ids, "shortened-code-withdrawn").await;
}

/// Tells the users of shortened subscriptions why (`reason`, a catalogue key) and when their
/// access now ends.
pub async fn tell_shortened_because(ctx: &AppCtx, ids: &[Uuid], reason: &str) {
    let run = async {
        for s in subscription::Entity::find()
            .filter(subscription::Column::Id.is_in(ids.iter().copied()))
            .all(&ctx.db)
            .await?
        {
            let (Some(b), Some(user)) = (
                bot_of(ctx, s.project_id).await?,
                telegram_user(ctx, s.subscriber_id).await?,
            ) else {
                continue;
            };
            let plan_name = plan::Entity::find_by_id(s.plan_id)
                .one(&ctx.db)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            let lang = super::reminders::language_of(ctx, &s).await?;
            let mut args = vec![
                ("reason", i18n::t(lang, reason).into()),
                ("plan", plan_name.into()),
            ];
            let key = match s.ends_at {
                Some(e) => {
                    args.push(("at", e.format("%Y-%m-%d %H:%M UTC").to_string().into()));
                    "shortened-ends-on"
                }
                None => "shortened-for-life",
            };
            let text = i18n::tr(lang, key, &args);
            if let Err(e) = telegram::send_message(ctx, b.id, user, &text, None).await {
                tracing::warn!(error = %e, subscription = %s.id, "shortening not told");
            }
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, "telling shortened subscriptions failed");
    }
}

/// Revokes a subscription: status revoked, a Stars subscription renewing into it cancelled in
/// Telegram, the user removed from the plan's channels and told, one audit entry.
pub async fn revoke(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    subscription_id: Uuid,
) -> Result<SubscriptionOut> {
    t.may(Action::ManageSubscriptions)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let s = subscription::Entity::find_by_id(subscription_id)
        .filter(subscription::Column::TenantId.eq(t.tenant_id))
        .filter(subscription::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?;
    if s.status != SubscriptionStatus::Active {
        return Err(Error::conflict(
            "subscription_not_active",
            "only an active subscription can be revoked",
        ));
    }
    if !end(ctx, &s, SubscriptionStatus::Revoked).await? {
        return Err(Error::conflict(
            "subscription_not_active",
            "only an active subscription can be revoked",
        ));
    }
    audit::record(
        &ctx.db,
        audit::Entry::creator(t, "subscription.revoked", "subscription", s.id)
            .details(serde_json::json!({"subscriber_id": s.subscriber_id, "plan_id": s.plan_id})),
        ctx.now(),
    )
    .await?;
    // Telegram stops charging for it: a Stars subscription renewing into it is cancelled.
    crate::renewals::stop(ctx, &[s.id]).await;
    remove_access(ctx, &s, Some(REVOKED_BY_OWNER)).await;
    let s = subscription::Entity::find_by_id(s.id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("subscription"))?;
    Ok(s.into())
}
