//! The bot speaks the subscriber's language: a project's default language and its welcome
//! per language (a JSON object of language → text), and the last Telegram `language_code`
//! seen from each subscriber and linked owner (for messages sent without an update).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column) pairs added; one column per statement, as SQLite alters one at a time.
const ADDED: [(&str, &str); 4] = [
    ("projects", "default_language"),
    ("projects", "welcome_texts"),
    ("subscribers", "language_code"),
    ("owner_links", "language_code"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .add_column(string_len(Alias::new("default_language"), 8).default("en"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .add_column(text(Alias::new("welcome_texts")).default("{}"))
                .to_owned(),
        )
        .await?;
        for table in ["subscribers", "owner_links"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(string_len_null(Alias::new("language_code"), 35))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, col) in ADDED.into_iter().rev() {
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
