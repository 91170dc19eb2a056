//! A payment records when its confirmation reached the payer (`confirmed_at`), so a repeated
//! `successful_payment` or reconciliation sends one that was lost, and never a second one.
//! Existing payments count as confirmed.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("payments"))
                .add_column(timestamp_with_time_zone_null("confirmed_at"))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared("UPDATE payments SET confirmed_at = created_at")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("payments"))
                .drop_column(Alias::new("confirmed_at"))
                .to_owned(),
        )
        .await
    }
}
