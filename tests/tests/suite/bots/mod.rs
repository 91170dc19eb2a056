//! Bots: connecting and disconnecting, the webhook endpoint, conversations, owner linking,
//! channel registration, polling, and the outgoing sender, all against the fake Bot API.
use std::time::Duration;

use domain::accounts::StaffRole;
use gatehouse_tests::{
    Backend, TestApp,
    app::assert_error,
    factories::{BotProject, monthly_plan},
    fake_telegram::Fault,
    telegram::{PUBLIC_URL, updates},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

mod connect;
mod conversations;
mod polling;
mod sender;
mod webhook;

const WAIT: Duration = Duration::from_secs(10);
