//! The integration suite: one binary, the real app against real PostgreSQL and Redis
//! (a subset also on SQLite), fakes only for Telegram and Stripe.
mod accounts;
mod billing;
mod bot_switch;
mod bots;
mod browser;
mod cluster;
mod codes;
mod contract;
mod cross_tenant;
mod flows;
mod join_requests;
mod money;
mod newcode;
mod operations;
mod owner_tools;
mod owners;
mod process;
mod projects;
mod redemption;
mod staff;
mod subscriptions;
mod web;
mod web_bot_members;
mod webhooks;
