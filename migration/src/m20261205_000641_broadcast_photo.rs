//! A broadcast's optional photo: sent with `sendPhoto`, its text as the caption.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("broadcasts"))
                .add_column(text_null(Alias::new("photo_url")))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("broadcasts"))
                .drop_column(Alias::new("photo_url"))
                .to_owned(),
        )
        .await
    }
}
