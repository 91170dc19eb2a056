//! Recovery of background work: a batch's delivery progress and lease (a retried delivery
//! sends only what was not sent, and two deliverers never run at once), and the timestamp a
//! usage record's meter event carries, fixed at its first attempt; and the time of the last
//! invoice event applied to a tenant (a late, older one changes nothing).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Alias::new("code_batches"))
                .add_column(integer("delivered_count").default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("code_batches"))
                .add_column(timestamp_with_time_zone_null("delivery_lease_until"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("usage_records"))
                .add_column(timestamp_with_time_zone_null("event_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("tenants"))
                .add_column(timestamp_with_time_zone_null("payment_event_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_code_batches_status_updated_at")
                .table(Alias::new("code_batches"))
                .col(Alias::new("status"))
                .col(Alias::new("updated_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_code_batches_status_updated_at")
                .table(Alias::new("code_batches"))
                .to_owned(),
        )
        .await?;
        for (table, col) in [
            ("code_batches", "delivered_count"),
            ("code_batches", "delivery_lease_until"),
            ("usage_records", "event_at"),
            ("tenants", "payment_event_at"),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
