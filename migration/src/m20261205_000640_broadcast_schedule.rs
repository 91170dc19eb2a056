//! Scheduled broadcasts: when a `scheduled` broadcast is to start sending (`send_at`), and the
//! index the worker's sweep reads due ones by.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("broadcasts"))
                .add_column(timestamp_with_time_zone_null(Alias::new("send_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_broadcasts_due")
                .table(Alias::new("broadcasts"))
                .col(Alias::new("status"))
                .col(Alias::new("send_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_broadcasts_due")
                .table(Alias::new("broadcasts"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("broadcasts"))
                .drop_column(Alias::new("send_at"))
                .to_owned(),
        )
        .await
    }
}
