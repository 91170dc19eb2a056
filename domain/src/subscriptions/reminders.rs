//! The reminder a day before a subscription ends.
use chrono::Duration;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, sea_query::Expr,
};

use entity::{plan, subscription, tenant, tenant::TenantStatus};

use crate::{
    AppCtx,
    error::Result,
    i18n::{self, Lang},
    telegram::{self},
};

use entity::subscription::SubscriptionStatus;

use super::{bot_of, telegram_user};

/// How many due subscriptions one sweep takes at most (the next tick takes the rest).
pub const SWEEP_BATCH: u64 = 1_000;

/// How long before its end a subscription is reminded.
pub const REMINDER_LEAD: Duration = Duration::days(1);

/// A subscription is never reminded before this much of it has run. Plans last whole days,
/// so this only moves the reminder of a 1-day plan — due a day before its end, that is the
/// moment of redemption — to half-way (12 hours before the end). The rule is "a day before
/// the end, but not in the first half", which for whole days reduces to this one bound.
pub const REMINDER_NOT_BEFORE_RUN: Duration = Duration::hours(12);

/// Tenants that are not suspended, as a subquery for the sweeps' filters.
fn active_tenants() -> sea_orm::sea_query::SelectStatement {
    tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .filter(tenant::Column::Status.eq(TenantStatus::Active))
        .into_query()
}

/// One reminder a day before the end ([`SWEEP_BATCH`] at a time).
pub async fn send_reminders(ctx: &AppCtx) -> Result<u64> {
    send_reminders_up_to(ctx, SWEEP_BATCH).await
}

/// [`send_reminders`] taking at most `limit` due subscriptions, soonest end first.
/// Suspended tenants get none (their bots are paused; their subscriptions still run out):
/// they are left out by the query itself, so however many of their rows are due they never
/// fill the batch ahead of other tenants. Each reminder is claimed with a conditional update
/// that re-checks what it reminds about — still active, no reminder yet, and the same end
/// date — so two workers send it once, and a subscription extended after it was read is not
/// told of its old end (the extension also reset `reminder_sent_at` for the new end).
pub async fn send_reminders_up_to(ctx: &AppCtx, limit: u64) -> Result<u64> {
    let now = ctx.now();
    let due = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscription::Column::ReminderSentAt.is_null())
        .filter(subscription::Column::EndsAt.is_not_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .filter(subscription::Column::EndsAt.lte(now + REMINDER_LEAD))
        .filter(subscription::Column::StartsAt.lte(now - REMINDER_NOT_BEFORE_RUN))
        .filter(subscription::Column::TenantId.in_subquery(active_tenants()))
        .order_by_asc(subscription::Column::EndsAt)
        .order_by_asc(subscription::Column::Id)
        .limit(limit)
        .all(&ctx.db)
        .await?;
    let mut sent = 0;
    for s in due {
        let Some(ends_at) = s.ends_at else { continue };
        let claimed = subscription::Entity::update_many()
            .col_expr(subscription::Column::ReminderSentAt, Expr::value(now))
            .filter(subscription::Column::Id.eq(s.id))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
            .filter(subscription::Column::ReminderSentAt.is_null())
            .filter(subscription::Column::EndsAt.eq(ends_at))
            .exec(&ctx.db)
            .await?
            .rows_affected;
        if claimed == 0 {
            continue;
        }
        let (Some(b), Some(user)) = (
            bot_of(ctx, s.project_id).await?,
            telegram_user(ctx, s.subscriber_id).await?,
        ) else {
            continue;
        };
        let pl = plan::Entity::find_by_id(s.plan_id).one(&ctx.db).await?;
        let project = entity::project::Entity::find_by_id(s.project_id)
            .one(&ctx.db)
            .await?;
        let plan_name = pl.as_ref().map(|p| p.name.clone()).unwrap_or_default();
        let lang = i18n::stored(ctx, s.project_id, user).await?;
        let args = [
            ("plan", plan_name.as_str().into()),
            (
                "at",
                ends_at.format("%Y-%m-%d %H:%M UTC").to_string().into(),
            ),
        ];
        if !crate::renewals::live_charges(&ctx.db, s.id)
            .await?
            .is_empty()
        {
            // Telegram renews it by itself: say so, and how to stop it.
            let text = i18n::tr(lang, "reminder-renews", &args);
            if let Err(e) = telegram::send_message(ctx, b.id, user, &text, None).await {
                tracing::warn!(error = %e, subscription = %s.id, "reminder not delivered");
            }
            sent += 1;
            continue;
        }
        let trial = s.source == entity::subscription::SubscriptionSource::Trial;
        let key = if trial {
            "reminder-trial-ends"
        } else {
            "reminder-ends"
        };
        let text = i18n::tr(lang, key, &args);
        let mut keyboard = way_forward(lang, pl.as_ref(), project.as_ref(), trial);
        if trial
            && let Some(row) = trial_promo(ctx, &s, pl.as_ref(), project.as_ref(), lang).await?
        {
            keyboard.get_or_insert_with(Vec::new).insert(0, vec![row]);
        }
        if let Err(e) = telegram::send_message(ctx, b.id, user, &text, keyboard).await {
            tracing::warn!(error = %e, subscription = %s.id, "reminder not delivered");
        }
        sent += 1;
    }
    Ok(sent)
}

/// The discounted Buy button a trial's reminder offers first when the project names a trial
/// promo (`projects.trial_promo_id`) that this subscriber may use on this plan.
async fn trial_promo(
    ctx: &AppCtx,
    s: &subscription::Model,
    pl: Option<&plan::Model>,
    project: Option<&entity::project::Model>,
    lang: Lang,
) -> Result<Option<telegram::Button>> {
    let (Some(pl), Some(pr)) = (pl, project) else {
        return Ok(None);
    };
    let (Some(promo_id), Some(list)) = (pr.trial_promo_id, pl.price_stars) else {
        return Ok(None);
    };
    if !pr.stars_enabled || !pl.active || pl.codes_only || list <= 0 {
        return Ok(None);
    }
    let Some(promo) = entity::promo_code::Entity::find_by_id(promo_id)
        .filter(entity::promo_code::Column::ProjectId.eq(s.project_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(None);
    };
    if !crate::promos::applies_to(&promo, pl.id)
        || crate::promos::usable(&ctx.db, &promo, s.subscriber_id, None, ctx.now())
            .await
            .is_err()
    {
        return Ok(None);
    }
    let stars = crate::promos::price_with(&promo, list as u32);
    Ok(Some(telegram::Button::Callback {
        text: i18n::tr(
            lang,
            "button-buy-for-promo",
            &[
                ("stars", stars.into()),
                ("code", promo.code.as_str().into()),
            ],
        ),
        data: crate::promos::buy_with_data(pl.id, promo.id),
    }))
}

/// The buttons that let a subscriber keep or regain a plan: "Renew for N ⭐" ("Buy for N ⭐"
/// after a free trial) where Stars sells it, "Redeem a code" where codes are on (the bot's
/// "redeem" button asks for one). Shared by the reminder and the end-of-access message.
pub(super) fn way_forward(
    lang: Lang,
    pl: Option<&plan::Model>,
    project: Option<&entity::project::Model>,
    trial: bool,
) -> Option<telegram::Keyboard> {
    let mut rows = vec![];
    if let (Some(p), Some(pr)) = (pl, project) {
        if let Some(stars) = p.price_stars.filter(|_| pr.stars_enabled && p.active) {
            let key = if trial {
                "button-buy-for"
            } else {
                "button-renew"
            };
            rows.push(vec![telegram::Button::Callback {
                text: i18n::tr(lang, key, &[("stars", stars.into())]),
                data: format!("{}{}", BUY_PREFIX, p.id),
            }]);
        }
        if pr.access_codes_enabled {
            rows.push(vec![telegram::Button::Callback {
                text: i18n::t(lang, "button-redeem"),
                data: "redeem".into(),
            }]);
        }
    }
    (!rows.is_empty()).then_some(rows)
}

/// The language of messages to a subscription's user: the code last seen from them, else
/// the project's default.
pub(super) async fn language_of(ctx: &AppCtx, s: &subscription::Model) -> Result<Lang> {
    match telegram_user(ctx, s.subscriber_id).await? {
        Some(user) => i18n::stored(ctx, s.project_id, user).await,
        None => i18n::project_default(ctx, s.project_id).await,
    }
}

/// The end-of-access message and its buttons, naming the plan.
pub(super) async fn ended_message(
    ctx: &AppCtx,
    s: &subscription::Model,
) -> Result<(String, Option<telegram::Keyboard>)> {
    let pl = plan::Entity::find_by_id(s.plan_id).one(&ctx.db).await?;
    let project = entity::project::Entity::find_by_id(s.project_id)
        .one(&ctx.db)
        .await?;
    let plan_name = pl.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let trial = s.source == entity::subscription::SubscriptionSource::Trial;
    let lang = language_of(ctx, s).await?;
    let keyboard = way_forward(lang, pl.as_ref(), project.as_ref(), trial);
    let key = if trial && keyboard.is_some() {
        "ended-trial-use-buttons"
    } else if keyboard.is_some() {
        "ended-use-buttons"
    } else {
        "ended-send-start"
    };
    let text = i18n::tr(lang, key, &[("plan", plan_name.into())]);
    Ok((text, keyboard))
}

/// Callback data of a "Buy" button: this prefix and the plan id. Defined here (payments
/// re-exports it) so reminders can offer the purchase without importing payments.
pub const BUY_PREFIX: &str = "buy:";
