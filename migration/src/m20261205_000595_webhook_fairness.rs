//! Webhook endpoints that keep timing out are cooled down: how many attempts in a row got no
//! answer, and until when the endpoint gets no new attempt.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        m.alter_table(
            Table::alter()
                .table(Alias::new("webhook_endpoints"))
                .add_column(integer(Alias::new("timeouts_in_a_row")).default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("webhook_endpoints"))
                .add_column(timestamp_with_time_zone_null(Alias::new("cooldown_until")))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["cooldown_until", "timeouts_in_a_row"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("webhook_endpoints"))
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
