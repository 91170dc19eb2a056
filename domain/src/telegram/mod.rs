//! Talking to Telegram: the per-process registry of connected bots (one teloxide client each,
//! built from the stored, encrypted token), the one paced outgoing sender, and token
//! encryption at rest. A leaf: delivery, subscriptions and bots all send through here without
//! importing each other.
pub mod crypto;
pub mod registry;
pub mod sender;

pub use registry::BotHandle;
pub use sender::{
    Button, Keyboard, answer_callback, send_broadcast_html, send_broadcast_photo, send_document,
    send_message,
};
