//! Conversation state: where a user stands in a multi-step exchange with the bot ("send me
//! your code", the `/newcode` steps), kept in the database so whichever process receives the
//! next update can continue it.
use chrono::Duration;
use sea_orm::{EntityTrait, Set, sea_query::OnConflict};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::bot_conversation;

use crate::{
    AppCtx, codes,
    error::{Error, Result},
};

/// How long a half-finished conversation (e.g. "send me your code") is remembered.
pub const CONVERSATION_TTL_MINUTES: i64 = 60;

/// Where a user stands in a multi-step conversation, kept in the database so whichever
/// process receives the next update can continue it. The step's name is the row's `state`;
/// what was chosen so far is its `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Conversation {
    /// The user pressed "Redeem a code"; the next text they send is a code.
    AwaitingCode,
    /// The user pressed "I have a promo code"; the next text they send is a promo code.
    AwaitingPromo,
    /// `/newcode`: the owner picks a plan (a button).
    NewCodePlan,
    /// `/newcode`: the owner types how many codes.
    NewCodeQuantity { plan_id: Uuid },
    /// `/newcode`: the owner picks (or types, in days) when the codes expire.
    NewCodeExpiry { plan_id: Uuid, quantity: i64 },
    /// `/newcode`: the preview is shown; Confirm generates. `nonce` names this request: the
    /// Confirm button carries it and the batch's idempotency key is derived from it, so a
    /// double tap (or a retried update) makes one batch.
    NewCodeConfirm {
        plan_id: Uuid,
        quantity: i64,
        expiry: NewCodeExpiry,
        nonce: Uuid,
        /// Activations per code (1 unless changed from the preview).
        #[serde(default = "one_activation")]
        max_activations: i64,
    },
    /// `/newcode`: from the preview, the owner types how many activations each code allows.
    NewCodeActivations {
        plan_id: Uuid,
        quantity: i64,
        expiry: NewCodeExpiry,
    },
}

fn one_activation() -> i64 {
    1
}

/// The codes' expiry as chosen in `/newcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewCodeExpiry {
    /// `none`, `1d`, `1w`, `1m` or `1y` (see [`codes::ExpiryIn`]).
    Preset(ExpiryPreset),
    Days(i64),
    /// A custom date: the codes work through the end of that day (UTC), as on the dashboard.
    Date(chrono::NaiveDate),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryPreset {
    #[serde(rename = "none")]
    Never,
    #[serde(rename = "1d")]
    Day,
    #[serde(rename = "1w")]
    Week,
    #[serde(rename = "1m")]
    Month,
    #[serde(rename = "1y")]
    Year,
}

impl ExpiryPreset {
    pub const ALL: [ExpiryPreset; 5] = [
        ExpiryPreset::Never,
        ExpiryPreset::Day,
        ExpiryPreset::Week,
        ExpiryPreset::Month,
        ExpiryPreset::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryPreset::Never => "none",
            ExpiryPreset::Day => "1d",
            ExpiryPreset::Week => "1w",
            ExpiryPreset::Month => "1m",
            ExpiryPreset::Year => "1y",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl NewCodeExpiry {
    /// What the owner typed at the expiry step: a number of days (checked with the API's own
    /// rule) or a date `YYYY-MM-DD` (checked by the batch itself: it must be in the future).
    pub fn typed(typed: &str) -> Option<Self> {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(typed.trim(), "%Y-%m-%d") {
            return Some(NewCodeExpiry::Date(d));
        }
        Self::days(typed)
    }

    /// Days typed by the owner, checked with the API's own rule.
    pub fn days(typed: &str) -> Option<Self> {
        let d: i64 = typed.trim().parse().ok()?;
        (1..=codes::MAX_CUSTOM_DAYS)
            .contains(&d)
            .then_some(NewCodeExpiry::Days(d))
    }

    pub fn to_input(self) -> codes::ExpiryIn {
        match self {
            NewCodeExpiry::Preset(p) => codes::ExpiryIn {
                preset: Some(p.as_str().into()),
                ..Default::default()
            },
            NewCodeExpiry::Days(d) => codes::ExpiryIn {
                days: Some(d),
                ..Default::default()
            },
            NewCodeExpiry::Date(d) => codes::ExpiryIn {
                date: d.and_hms_opt(23, 59, 59).map(|t| t.and_utc()),
                ..Default::default()
            },
        }
    }
}

impl Conversation {
    fn step(&self) -> &'static str {
        match self {
            Conversation::AwaitingCode => "awaiting_code",
            Conversation::AwaitingPromo => "awaiting_promo",
            Conversation::NewCodePlan => "new_code_plan",
            Conversation::NewCodeQuantity { .. } => "new_code_quantity",
            Conversation::NewCodeExpiry { .. } => "new_code_expiry",
            Conversation::NewCodeConfirm { .. } => "new_code_confirm",
            Conversation::NewCodeActivations { .. } => "new_code_activations",
        }
    }

    fn parse(state: &str, data: &serde_json::Value) -> Option<Self> {
        if state == "awaiting_code" {
            return Some(Conversation::AwaitingCode);
        }
        let c: Conversation = serde_json::from_value(data.clone()).ok()?;
        (c.step() == state).then_some(c)
    }
}

pub async fn set_conversation(
    ctx: &AppCtx,
    bot_id: Uuid,
    telegram_user_id: i64,
    state: Conversation,
) -> Result<()> {
    use bot_conversation::Column as C;
    let data = serde_json::to_value(&state).map_err(Error::internal)?;
    bot_conversation::Entity::insert(bot_conversation::ActiveModel {
        bot_id: Set(bot_id),
        telegram_user_id: Set(telegram_user_id),
        state: Set(state.step().into()),
        data: Set(data),
        expires_at: Set(ctx.now() + Duration::minutes(CONVERSATION_TTL_MINUTES)),
    })
    .on_conflict(
        OnConflict::columns([C::BotId, C::TelegramUserId])
            .update_columns([C::State, C::Data, C::ExpiresAt])
            .to_owned(),
    )
    .exec_without_returning(&ctx.db)
    .await?;
    Ok(())
}

/// The user's current conversation, if one is under way and not expired.
pub async fn conversation(
    ctx: &AppCtx,
    bot_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Conversation>> {
    let row = bot_conversation::Entity::find_by_id((bot_id, telegram_user_id))
        .one(&ctx.db)
        .await?;
    Ok(row
        .filter(|r| r.expires_at > ctx.now())
        .and_then(|r| Conversation::parse(&r.state, &r.data)))
}

pub async fn clear_conversation(ctx: &AppCtx, bot_id: Uuid, telegram_user_id: i64) -> Result<()> {
    bot_conversation::Entity::delete_by_id((bot_id, telegram_user_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}
