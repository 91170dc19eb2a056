//! Unshareable channel access: personal join-request links, the join requests they bring, and
//! `/my`.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use entity::{channel, plan, plan_channel, subscriber, subscription};

use crate::{
    AppCtx,
    error::Result,
    telegram::{self, BotHandle},
};

use entity::subscription::SubscriptionStatus;

use super::AccessLink;

pub(super) async fn channels_of_plan(
    db: &impl ConnectionTrait,
    plan_id: Uuid,
) -> Result<Vec<channel::Model>> {
    // One round trip: the plan's channel ids as a subquery.
    Ok(channel::Entity::find()
        .filter(
            channel::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(plan_channel::Column::ChannelId)
                    .from(plan_channel::Entity)
                    .and_where(plan_channel::Column::PlanId.eq(plan_id))
                    .to_owned(),
            ),
        )
        .order_by_asc(channel::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A fresh personal join-request link per available channel of the subscription's plan:
/// one `createChatInviteLink` per channel and nothing else (no `getChatMember`: a member who
/// follows a join-request link is simply approved again, so asking first only costs a call).
pub async fn access_links(
    ctx: &AppCtx,
    h: &BotHandle,
    s: &subscription::Model,
) -> Result<Vec<AccessLink>> {
    let mut out = vec![];
    let name = format!("sub {}", &s.id.simple().to_string()[..12]);
    for ch in channels_of_plan(&ctx.db, s.plan_id).await? {
        if !ch.available {
            continue;
        }
        let link =
            telegram::sender::create_join_request_link(ctx, h.id, ch.telegram_chat_id, &name)
                .await?;
        out.push(AccessLink {
            channel: ch.title,
            link,
        });
    }
    Ok(out)
}

/// The one way access goes out to a user: a single message (`text`) with a "Join <channel>"
/// URL button per link, so N channels cost N + 1 Bot API calls (the links, then this message).
/// Redemption and `/my` use it; so can any other grant (a payment).
pub async fn send_access(
    ctx: &AppCtx,
    h: &BotHandle,
    lang: crate::i18n::Lang,
    chat_id: i64,
    text: &str,
    links: &[AccessLink],
    more: telegram::Keyboard,
) -> Result<()> {
    let keyboard: telegram::Keyboard = links
        .iter()
        .map(|l| {
            vec![telegram::Button::Url {
                text: crate::i18n::tr(
                    lang,
                    "button-join",
                    &[("channel", l.channel.as_str().into())],
                ),
                url: l.link.clone(),
            }]
        })
        .chain(more)
        .collect();
    let keyboard = (!keyboard.is_empty()).then_some(keyboard);
    telegram::send_message(ctx, h.id, chat_id, text, keyboard).await?;
    Ok(())
}

/// A join request to a channel through an invite link this bot created (`link_creator` is
/// the Telegram id of the link's creator): approved only for a subscriber whose active
/// subscription's plan grants that channel; anyone else (a forwarded link) is declined.
/// Requests through links the bot did not make (the creator's own links, a public
/// channel's "request to join") are not ours to judge and are left alone (`None`).
/// Otherwise returns whether it was approved.
pub async fn on_join_request(
    ctx: &AppCtx,
    h: &BotHandle,
    chat_id: i64,
    user_id: i64,
    link_creator: Option<i64>,
) -> Result<Option<bool>> {
    if link_creator != Some(h.telegram_bot_id) {
        tracing::debug!(bot = %h.id, chat = chat_id, "join request through a link the bot did not create: left alone");
        return Ok(None);
    }
    let ch = channel::Entity::find()
        .filter(channel::Column::ProjectId.eq(h.project_id))
        .filter(channel::Column::TelegramChatId.eq(chat_id))
        .one(&ctx.db)
        .await?;
    let allowed = match ch {
        Some(ch) => covers(ctx, h.project_id, ch.id, user_id).await?,
        None => false,
    };
    if allowed {
        telegram::sender::approve_join(ctx, h.id, chat_id, user_id).await?;
    } else {
        telegram::sender::decline_join(ctx, h.id, chat_id, user_id).await?;
    }
    Ok(Some(allowed))
}

pub(super) async fn covers(
    ctx: &AppCtx,
    project_id: Uuid,
    channel_id: Uuid,
    user_id: i64,
) -> Result<bool> {
    let Some(sub) = subscriber::Entity::find()
        .filter(subscriber::Column::ProjectId.eq(project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(false);
    };
    let now = ctx.now();
    let plans: Vec<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::PlanId)
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(
            sea_orm::Condition::any()
                .add(subscription::Column::EndsAt.is_null())
                .add(subscription::Column::EndsAt.gt(now)),
        )
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if plans.is_empty() {
        return Ok(false);
    }
    Ok(plan_channel::Entity::find()
        .filter(plan_channel::Column::PlanId.is_in(plans))
        .filter(plan_channel::Column::ChannelId.eq(channel_id))
        .count(&ctx.db)
        .await?
        > 0)
}

/// Times a user may list their subscriptions per minute through one bot.
pub const MINE_PER_MINUTE: u32 = 5;
/// The code of a listing refused by [`MINE_PER_MINUTE`].
pub const ASKED_TOO_OFTEN: &str = "asked_too_often";

/// The user's subscriptions in this project, with fresh access links for the active ones.
pub struct MySubscription {
    pub id: Uuid,
    pub plan_name: String,
    pub status: SubscriptionStatus,
    pub ends_at: Option<DateTime<Utc>>,
    pub links: Vec<AccessLink>,
}

///
/// Limited to [`MINE_PER_MINUTE`] answers per user and bot (429-like `asked_too_often` with
/// `retry_after`): each answer may have Telegram create invite links.
pub async fn mine(ctx: &AppCtx, h: &BotHandle, user_id: i64) -> Result<Vec<MySubscription>> {
    let key = format!("my:{}:{user_id}", h.id);
    let window = chrono::Duration::minutes(1);
    if let Err(retry) =
        crate::limits::take(&ctx.db, &key, MINE_PER_MINUTE, window, ctx.now()).await?
    {
        return Err(crate::Error::rate_limited(
            ASKED_TOO_OFTEN,
            "subscriptions were listed too often; try again shortly",
            retry,
        ));
    }
    let Some(sub) = subscriber::Entity::find()
        .filter(subscriber::Column::ProjectId.eq(h.project_id))
        .filter(subscriber::Column::TelegramUserId.eq(user_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for s in subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(sub.id))
        .order_by_desc(subscription::Column::CreatedAt)
        .all(&ctx.db)
        .await?
    {
        let plan_name = plan::Entity::find_by_id(s.plan_id)
            .one(&ctx.db)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let links = if s.status == SubscriptionStatus::Active {
            access_links(ctx, h, &s).await?
        } else {
            vec![]
        };
        out.push(MySubscription {
            id: s.id,
            plan_name,
            status: s.status,
            ends_at: s.ends_at,
            links,
        });
    }
    Ok(out)
}
