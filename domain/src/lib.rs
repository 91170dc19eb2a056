//! The service layer of Gatehouse: every business rule, once. The API, the dashboard, the
//! bot router and the worker all call these services; none of them holds a rule of its own.
//!
//! Organised by business area. Every tenant-scoped method takes a [`tenancy::TenantCtx`]
//! first ([`tenancy::TenantCtx`]) and filters by its tenant, so another tenant's object is simply not found.
pub mod accounts;
pub mod audit;
pub mod batches;
pub mod billing;
pub mod bots;
pub mod broadcasts;
pub mod channels;
pub mod claims;
pub mod clock;
pub mod code_text;
pub mod codes;
pub mod config;
pub mod ctx;
mod daily;
pub mod error;
pub mod events;
pub mod export;
pub mod facts;
pub mod faults;
pub mod i18n;
pub mod jobs;
pub mod limits;
pub mod money;
pub mod payments;
pub mod plans;
pub mod projects;
pub mod promos;
pub mod quota;
pub mod redemption;
pub mod renewals;
pub mod scoped;
pub mod staff;
pub mod subscriptions;
pub mod team;
pub mod telegram;
pub mod tenancy;
pub mod tenants;
pub mod tiers;
pub mod validate;
pub mod webhooks;

pub use ctx::AppCtx;
pub use error::{Error, ErrorKind, Result};
