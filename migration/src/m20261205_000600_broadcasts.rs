//! Broadcasts: `broadcasts` (a creator's message to a segment of a project's subscribers, its
//! status draft → sending → done | canceled) and `broadcast_recipients` (one row per
//! subscriber the segment held when sending started, with its own state pending → sent |
//! blocked | failed and the claim of the worker sending it). `subscribers.blocked_at`
//! marks a subscriber who blocked the bot: left out of later broadcasts.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(Alias::new(from), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("subscribers"))
                .add_column(timestamp_with_time_zone_null("blocked_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("broadcasts"))
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid_null("created_by"))
                .col(json("segment"))
                .col(text("text"))
                .col(json_null("button"))
                .col(string_len("status", 16))
                .col(integer("recipient_count").default(0))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("broadcasts", "tenant_id", "tenants"))
                .foreign_key(&mut fk("broadcasts", "project_id", "projects"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_broadcasts_project_created")
                .table(Alias::new("broadcasts"))
                .col(Alias::new("project_id"))
                .col(Alias::new("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("broadcast_recipients"))
                .if_not_exists()
                .col(uuid("broadcast_id"))
                .col(uuid("subscriber_id"))
                .col(uuid("tenant_id"))
                .col(big_integer("telegram_user_id"))
                .col(string_len("state", 16))
                .col(text_null("error"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(uuid_null("claimed_by"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("broadcast_id"))
                        .col(Alias::new("subscriber_id")),
                )
                .foreign_key(&mut fk(
                    "broadcast_recipients",
                    "broadcast_id",
                    "broadcasts",
                ))
                .foreign_key(&mut fk(
                    "broadcast_recipients",
                    "subscriber_id",
                    "subscribers",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_broadcast_recipients_state")
                .table(Alias::new("broadcast_recipients"))
                .col(Alias::new("broadcast_id"))
                .col(Alias::new("state"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("broadcast_recipients"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Alias::new("broadcasts")).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("subscribers"))
                .drop_column(Alias::new("blocked_at"))
                .to_owned(),
        )
        .await
    }
}
