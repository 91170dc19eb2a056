//! Telegram side state that must live outside process memory: update de-duplication for
//! single-node mode (Redis holds it otherwise) and per-user conversation state.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("bot_updates"))
                .if_not_exists()
                .col(uuid("bot_id"))
                .col(big_integer("update_id"))
                .col(timestamp_with_time_zone("seen_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("bot_id"))
                        .col(Alias::new("update_id")),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_bot_updates_bot_id")
                        .from(Alias::new("bot_updates"), Alias::new("bot_id"))
                        .to(Alias::new("bots"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_bot_updates_seen_at")
                .table(Alias::new("bot_updates"))
                .col(Alias::new("seen_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("bot_conversations"))
                .if_not_exists()
                .col(uuid("bot_id"))
                .col(big_integer("telegram_user_id"))
                .col(string_len("state", 32))
                .col(json("data"))
                .col(timestamp_with_time_zone("expires_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("bot_id"))
                        .col(Alias::new("telegram_user_id")),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_bot_conversations_bot_id")
                        .from(Alias::new("bot_conversations"), Alias::new("bot_id"))
                        .to(Alias::new("bots"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["bot_conversations", "bot_updates"] {
            m.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
