//! Bots: a project's Telegram bot and what its conversations need, by concern —
//! [`connection`] (connect, disconnect, webhook secret, polling), [`updates`] (de-duplication),
//! [`conversation`] (multi-step state), [`catalog`] (what `/start`, `/newcode` and `/codes`
//! show), [`owners`] (owner links and the creator an owner acts as) and [`membership`]
//! (channels the bot administers). Sending goes through [`crate::telegram`].
pub mod catalog;
pub mod connection;
pub mod conversation;
pub mod membership;
pub mod owners;
pub mod updates;

pub use catalog::*;
pub use connection::*;
pub use conversation::*;
pub use membership::*;
pub use owners::*;
pub use updates::*;

pub use crate::telegram::BotHandle;
