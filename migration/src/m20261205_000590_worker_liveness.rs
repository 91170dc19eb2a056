//! Claims tied to the claiming worker's liveness: every worker process beats into
//! `worker_beats`, and each claimed row names its claimer (`claimed_by`), so a claim held by a
//! worker that stopped beating can be taken at once instead of waiting out its lease.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CLAIMED: [&str; 3] = ["usage_records", "webhook_deliveries", "code_batches"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("worker_beats"))
                .if_not_exists()
                .col(uuid(Alias::new("id")).primary_key())
                .col(timestamp_with_time_zone(Alias::new("started_at")))
                .col(timestamp_with_time_zone(Alias::new("beat_at")))
                .to_owned(),
        )
        .await?;
        for table in CLAIMED {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(uuid_null(Alias::new("claimed_by")))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in CLAIMED {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new("claimed_by"))
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(Alias::new("worker_beats")).to_owned())
            .await
    }
}
