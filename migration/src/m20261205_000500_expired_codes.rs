//! Expired codes are kept: the sweep frees their quota unit at expiry and stamps
//! `expired_at`; the row stays listable until the project's retention
//! (`expired_code_retention_days`, default 30) has passed, then the sweep purges it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("access_codes"))
                .add_column(timestamp_with_time_zone_null("expired_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .add_column(integer("expired_code_retention_days").default(30))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .drop_column(Alias::new("expired_code_retention_days"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("access_codes"))
                .drop_column(Alias::new("expired_at"))
                .to_owned(),
        )
        .await
    }
}
