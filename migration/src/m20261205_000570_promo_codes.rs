//! Promo codes: `promo_codes` (a discount a creator offers on plans sold for Stars, its
//! validity window, total cap and rules; `uses` is the counter the cap is checked against by
//! a conditional update) and `promo_redemptions` (one row per payment that carried a promo:
//! list price, discount and paid amount, and whether it arrived over the cap).
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
        m.create_table(
            Table::create()
                .table(Alias::new("promo_codes"))
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(string_len("code", 32))
                .col(string_len("code_key", 32))
                .col(integer_null("percent_off"))
                .col(integer_null("stars_off"))
                .col(json("plan_ids"))
                .col(timestamp_with_time_zone_null("starts_at"))
                .col(timestamp_with_time_zone_null("ends_at"))
                .col(integer_null("max_uses"))
                .col(integer("uses").default(0))
                .col(boolean("once_per_user"))
                .col(boolean("new_customers_only"))
                .col(boolean("first_payment_only"))
                .col(boolean("active"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("promo_codes", "tenant_id", "tenants"))
                .foreign_key(&mut fk("promo_codes", "project_id", "projects"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_promo_codes_project_code")
                .table(Alias::new("promo_codes"))
                .col(Alias::new("project_id"))
                .col(Alias::new("code_key"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("promo_redemptions"))
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("promo_code_id"))
                .col(uuid("subscriber_id"))
                .col(uuid("plan_id"))
                .col(uuid("payment_id"))
                .col(integer("list_stars"))
                .col(integer("paid_stars"))
                .col(boolean("over_cap"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("promo_redemptions", "tenant_id", "tenants"))
                .foreign_key(&mut fk("promo_redemptions", "promo_code_id", "promo_codes"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_promo_redemptions_payment")
                .table(Alias::new("promo_redemptions"))
                .col(Alias::new("payment_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_promo_redemptions_promo_subscriber")
                .table(Alias::new("promo_redemptions"))
                .col(Alias::new("promo_code_id"))
                .col(Alias::new("subscriber_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("promo_redemptions"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Alias::new("promo_codes")).to_owned())
            .await
    }
}
