//! How a subscriber gets access where nothing is sold in the bot: the creator's contact text,
//! shown by `/start` when no plan can be bought there.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .add_column(text(Alias::new("contact_text")).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .drop_column(Alias::new("contact_text"))
                .to_owned(),
        )
        .await
    }
}
