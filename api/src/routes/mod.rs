//! `/api/v1` routes, one module per business area. Handlers only parse, call `domain`, map.
pub mod accounts;
pub mod billing;
pub mod bots;
pub mod broadcasts;
pub mod channels;
pub mod codes;
pub mod members;
pub mod payments;
pub mod plans;
pub mod projects;
pub mod promos;
pub mod staff;
pub mod team;
pub mod webhooks;
