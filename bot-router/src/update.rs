//! The parts of a Telegram `Update` the conversations use, read leniently: unknown fields
//! are ignored and every part we do not need is optional.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Incoming {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
    #[serde(default)]
    pub my_chat_member: Option<ChatMemberUpdated>,
    #[serde(default)]
    pub chat_join_request: Option<ChatJoinRequest>,
    #[serde(default)]
    pub pre_checkout_query: Option<PreCheckoutQuery>,
    /// Bot API 10.2: a user's Stars subscription changed in Telegram.
    #[serde(default)]
    pub subscription: Option<SubscriptionUpdated>,
}

impl Incoming {
    /// The user who sent the message, pressed the button or is paying, if any.
    pub fn from(&self) -> Option<&User> {
        self.message
            .as_ref()
            .and_then(|m| m.from.as_ref())
            .or(self.callback_query.as_ref().map(|c| &c.from))
            .or(self.pre_checkout_query.as_ref().map(|q| &q.from))
    }

    /// Whether any part of this update is something the conversations act on.
    pub fn is_handled(&self) -> bool {
        self.message.is_some()
            || self.callback_query.is_some()
            || self.my_chat_member.is_some()
            || self.chat_join_request.is_some()
            || self.pre_checkout_query.is_some()
            || self.subscription.is_some()
    }
}

/// `BotSubscriptionUpdated`: the state (`canceled`, `active`, `failed`) of the Stars
/// subscription that `invoice_payload` started.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SubscriptionUpdated {
    pub user: User,
    pub invoice_payload: String,
    pub state: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The IETF tag of the user's Telegram language (`en`, `pt-br`…), when Telegram sends it.
    #[serde(default)]
    pub language_code: Option<String>,
}

impl User {
    /// The user as the domain knows a Telegram user.
    pub fn tg_user(&self) -> domain::subscriptions::TgUser {
        domain::subscriptions::TgUser {
            id: self.id,
            username: self.username.clone(),
            first_name: self.first_name.clone(),
            language_code: self.language_code.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub successful_payment: Option<SuccessfulPayment>,
}

/// A payment went through (Telegram Stars: currency `XTR`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SuccessfulPayment {
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    pub telegram_payment_charge_id: String,
    /// Unix time; Stars subscriptions only.
    #[serde(default)]
    pub subscription_expiration_date: Option<i64>,
    #[serde(default)]
    pub is_recurring: bool,
    #[serde(default)]
    pub is_first_recurring: bool,
}

/// Telegram asks whether to go ahead with a payment (answer within 10 s).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PreCheckoutQuery {
    pub id: String,
    pub from: User,
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub message: Option<CallbackMessage>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CallbackMessage {
    pub chat: Chat,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatMemberUpdated {
    pub chat: Chat,
    /// Who made the change (Telegram always sends it; optional here to stay lenient).
    #[serde(default)]
    pub from: Option<User>,
    pub new_chat_member: ChatMember,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatMember {
    pub status: String,
}

/// Someone asked to join a channel through a join-request link.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatJoinRequest {
    pub chat: Chat,
    pub from: User,
    /// The link used; absent for a public chat's "request to join".
    #[serde(default)]
    pub invite_link: Option<InviteLink>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InviteLink {
    pub creator: User,
}
