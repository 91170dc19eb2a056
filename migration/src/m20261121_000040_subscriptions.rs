//! Redemption: failed code attempts per Telegram user per bot (the rate limit's memory).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("redeem_failures"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("bot_id"))
                .col(big_integer("telegram_user_id"))
                .col(timestamp_with_time_zone("at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_redeem_failures_bot_id")
                        .from(Alias::new("redeem_failures"), Alias::new("bot_id"))
                        .to(Alias::new("bots"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_redeem_failures_bot_user_at")
                .table(Alias::new("redeem_failures"))
                .col(Alias::new("bot_id"))
                .col(Alias::new("telegram_user_id"))
                .col(Alias::new("at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("redeem_failures"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
