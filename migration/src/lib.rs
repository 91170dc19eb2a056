//! Database schema of Gatehouse, for PostgreSQL and SQLite alike.
//!
//! Migrations are written with sea-query builders only (no backend-specific SQL), so the
//! same steps build the production schema on PostgreSQL and the embedded one on SQLite.
pub use sea_orm_migration::prelude::*;

mod m20261121_000001_initial;
mod m20261121_000010_bots;
mod m20261121_000020_staff;
mod m20261121_000030_billing;
mod m20261121_000040_subscriptions;
mod m20261202_000050_activation_spans;
mod m20261202_000050_login_limits;
mod m20261202_000060_job_recovery;
mod m20261203_000100_stars;
mod m20261203_000200_team_invites;
mod m20261203_000300_webhooks;
mod m20261205_000400_payment_spans;
mod m20261205_000410_payment_confirmations;
mod m20261205_000500_expired_codes;
mod m20261205_000570_promo_codes;
mod m20261205_000580_sweep_indexes;
mod m20261205_000590_worker_liveness;
mod m20261205_000595_webhook_fairness;
mod m20261205_000600_broadcasts;
mod m20261205_000610_bot_languages;
mod m20261205_000620_trials;
mod m20261205_000630_contact_text;
mod m20261205_000640_broadcast_schedule;
mod m20261205_000641_broadcast_photo;
mod m20261205_000650_promos_in_the_bot;
mod m20261205_000660_priced_activations;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261121_000010_bots::Migration),
            Box::new(m20261121_000020_staff::Migration),
            Box::new(m20261121_000030_billing::Migration),
            Box::new(m20261121_000040_subscriptions::Migration),
            Box::new(m20261202_000050_login_limits::Migration),
            Box::new(m20261202_000050_activation_spans::Migration),
            Box::new(m20261202_000060_job_recovery::Migration),
            Box::new(m20261203_000100_stars::Migration),
            Box::new(m20261203_000200_team_invites::Migration),
            Box::new(m20261203_000300_webhooks::Migration),
            Box::new(m20261205_000400_payment_spans::Migration),
            Box::new(m20261205_000410_payment_confirmations::Migration),
            Box::new(m20261205_000500_expired_codes::Migration),
            Box::new(m20261205_000570_promo_codes::Migration),
            Box::new(m20261205_000580_sweep_indexes::Migration),
            Box::new(m20261205_000590_worker_liveness::Migration),
            Box::new(m20261205_000595_webhook_fairness::Migration),
            Box::new(m20261205_000600_broadcasts::Migration),
            Box::new(m20261205_000610_bot_languages::Migration),
            Box::new(m20261205_000620_trials::Migration),
            Box::new(m20261205_000630_contact_text::Migration),
            Box::new(m20261205_000640_broadcast_schedule::Migration),
            Box::new(m20261205_000641_broadcast_photo::Migration),
            Box::new(m20261205_000650_promos_in_the_bot::Migration),
            Box::new(m20261205_000660_priced_activations::Migration),
        ]
    }
}
