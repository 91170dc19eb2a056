//! The `gatehouse` process: composes the API, the dashboard, the bot router and the worker
//! into one router and one runtime, with the HTTP layers they share.
pub mod app;
pub mod cli;
