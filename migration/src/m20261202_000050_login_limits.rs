//! Login limiting as counters: one row per limited key (`email:<address>`, `ip:<address>`)
//! holding the current window's start and its attempt count, so counting and deciding is
//! one conditional upsert. Replaces the per-attempt `login_attempts` rows. Indexes on the
//! timestamps let stale counters and redemption failures be pruned cheaply.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("login_limits"))
                .if_not_exists()
                .col(string_len("key", 300).primary_key())
                .col(timestamp_with_time_zone("window_start"))
                .col(integer("attempts"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_login_limits_window_start")
                .table(Alias::new("login_limits"))
                .col(Alias::new("window_start"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_redeem_failures_at")
                .table(Alias::new("redeem_failures"))
                .col(Alias::new("at"))
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("login_attempts"))
                .if_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("login_attempts"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(string_len("email", 254))
                .col(boolean("succeeded"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_login_attempts_email_at")
                .table(Alias::new("login_attempts"))
                .col(Alias::new("email"))
                .col(Alias::new("at"))
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_redeem_failures_at")
                .table(Alias::new("redeem_failures"))
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("login_limits"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
