//! Subscriptions, the one owner of a subscription and its states: granting a plan (new or
//! extended: one rule, whatever the source), unshareable channel access (join-request links
//! approved only for a subscriber whose active subscription covers the channel), renewal
//! reminders, expiry and revocation (removal from the plan's channels), and the members pages.
//! Redeeming a code is `redemption`.
//!
//! By use case: `grant`, `withdraw` (time taken back), `access`
//! (links, join requests, `/my`), `reminders`, `revoke` (expiry and revocation), `trial`
//! (free trials), and `members`.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use entity::{bot, subscriber};

use crate::{AppCtx, error::Result};

pub use entity::subscription::{SubscriptionSource, SubscriptionStatus};

mod access;
mod grant;
mod members;
mod reminders;
mod revoke;
mod trial;
mod withdraw;

pub use access::*;
pub use grant::*;
pub use members::*;
pub use reminders::*;
pub use revoke::*;
pub use trial::*;
pub use withdraw::*;

/// The Telegram user redeeming.
#[derive(Debug, Clone)]
pub struct TgUser {
    pub id: i64,
    pub username: Option<String>,
    pub first_name: String,
    /// The Telegram `language_code` of this update, remembered on the subscriber.
    pub language_code: Option<String>,
}

/// Access to one channel: a personal join-request link (the bot approves only the
/// subscriber; a user already in the channel loses nothing by holding one).
#[derive(Debug, Clone, Serialize)]
pub struct AccessLink {
    pub channel: String,
    pub link: String,
}

/// The project's bot, if one is connected.
async fn bot_of(ctx: &AppCtx, project_id: Uuid) -> Result<Option<bot::Model>> {
    Ok(bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(project_id))
        .one(&ctx.db)
        .await?)
}

/// The Telegram user behind a subscriber.
async fn telegram_user(ctx: &AppCtx, subscriber_id: Uuid) -> Result<Option<i64>> {
    Ok(subscriber::Entity::find_by_id(subscriber_id)
        .one(&ctx.db)
        .await?
        .map(|s| s.telegram_user_id))
}
