#![recursion_limit = "256"]
//! Test harness: the real app on 127.0.0.1:0 against real PostgreSQL and Redis (or SQLite
//! for the embedded default), a fresh tenant per test, and factories. Fakes of Telegram and
//! Stripe live beside it as local HTTP servers speaking the real wire format.
pub mod app;
pub mod browser;
pub mod cluster;
pub mod factories;
pub mod fake_stripe;
pub mod fake_telegram;
pub mod redis_server;
pub mod stars;
pub mod team;
pub mod telegram;
pub mod web;

pub use app::{Backend, TestApp};
pub use factories::Creator;
pub use fake_stripe::FakeStripe;
