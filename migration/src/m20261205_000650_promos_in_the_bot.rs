//! Promo codes in the bot: `promo_holds` (a place under a promo's cap taken when Telegram asks
//! the pre-checkout question, turned into a use by the payment or given back when it lapses),
//! the promos a project offers at a trial's end and when a subscriber cancels renewal, and
//! when a subscription was made the retention offer.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("promo_holds"))
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("promo_code_id"))
                .col(uuid("subscriber_id"))
                .col(string_len("invoice_payload", 128))
                // `<promo>:<subscriber>` for a once-per-user promo (unique: one hold per user),
                // null otherwise.
                .col(string_len_null("once_key", 80))
                // The payment that used the place; a used place never lapses.
                .col(uuid_null("payment_id"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_promo_holds_promo_code_id")
                        .from(Alias::new("promo_holds"), Alias::new("promo_code_id"))
                        .to(Alias::new("promo_codes"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ux_promo_holds_payload", "invoice_payload"),
            ("ux_promo_holds_once_key", "once_key"),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Alias::new("promo_holds"))
                    .col(Alias::new(col))
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_promo_holds_expires_at")
                .table(Alias::new("promo_holds"))
                .col(Alias::new("expires_at"))
                .to_owned(),
        )
        .await?;
        // SQLite alters one column per statement.
        for col in ["trial_promo_id", "retention_promo_id"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("projects"))
                    .add_column(uuid_null(Alias::new(col)))
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Alias::new("subscriptions"))
                .add_column(timestamp_with_time_zone_null(Alias::new(
                    "retention_offered_at",
                )))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("subscriptions"))
                .drop_column(Alias::new("retention_offered_at"))
                .to_owned(),
        )
        .await?;
        for col in ["trial_promo_id", "retention_promo_id"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("projects"))
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(Alias::new("promo_holds")).to_owned())
            .await
    }
}
