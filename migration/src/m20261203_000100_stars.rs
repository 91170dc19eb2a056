//! Payments in Telegram Stars: a plan's optional Stars price, the project's Stars toggle
//! (beside the access-codes toggle), the `payments` table (one row per Telegram charge, unique
//! `telegram_payment_charge_id`, with the time it added to its subscription so a refund takes
//! exactly that away), and what each code activation was priced at (revenue counts code
//! orders only when the project priced them at the time).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(from: &str, col: &str, to: &str, on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(Alias::new(from), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, NoAction, SetNull};
        m.alter_table(
            Table::alter()
                .table(Alias::new("plans"))
                .add_column(integer_null("price_stars"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("projects"))
                .add_column(boolean("stars_enabled").default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("activations"))
                .add_column(big_integer_null("price_minor"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("payments"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("plan_id"))
                .col(uuid("subscriber_id"))
                .col(uuid_null("subscription_id"))
                .col(big_integer("amount"))
                .col(string_len("currency", 3))
                .col(string_len("telegram_payment_charge_id", 255))
                .col(string_len("invoice_payload", 128))
                .col(boolean("is_recurring"))
                .col(timestamp_with_time_zone_null("subscription_expires_at"))
                .col(boolean("renewal_canceled").default(false))
                .col(string_len("status", 16))
                .col(string_len("recorded_by", 16))
                .col(timestamp_with_time_zone("added_from"))
                .col(timestamp_with_time_zone_null("added_until"))
                .col(timestamp_with_time_zone("paid_at"))
                .col(timestamp_with_time_zone_null("refunded_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("payments", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("payments", "project_id", "projects", Cascade))
                .foreign_key(&mut fk("payments", "plan_id", "plans", NoAction))
                .foreign_key(&mut fk("payments", "subscriber_id", "subscribers", Cascade))
                .foreign_key(&mut fk(
                    "payments",
                    "subscription_id",
                    "subscriptions",
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_payments_charge")
                .table(Alias::new("payments"))
                .col(Alias::new("telegram_payment_charge_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_payments_project_paid")
                .table(Alias::new("payments"))
                .col(Alias::new("project_id"))
                .col(Alias::new("paid_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_payments_subscription")
                .table(Alias::new("payments"))
                .col(Alias::new("subscription_id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("payments"))
                .if_exists()
                .to_owned(),
        )
        .await?;
        for (t, c) in [
            ("activations", "price_minor"),
            ("projects", "stars_enabled"),
            ("plans", "price_stars"),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(t))
                    .drop_column(Alias::new(c))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
