//! Billing: the Stripe events already applied (webhook de-duplication by event id) and a
//! lookup index from a Stripe subscription to its tenant.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("stripe_events"))
                .if_not_exists()
                .col(string_len("id", 255).primary_key())
                .col(string_len("event_type", 128))
                .col(uuid_null("tenant_id"))
                .col(timestamp_with_time_zone("received_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_tenants_stripe_subscription")
                .table(Alias::new("tenants"))
                .col(Alias::new("stripe_subscription_id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_tenants_stripe_subscription")
                .table(Alias::new("tenants"))
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(Alias::new("stripe_events"))
                .if_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
