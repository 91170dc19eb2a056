//! Free trials: a plan may offer one (`trial_days`), and `trials` records every trial taken —
//! one per Telegram user per project, ever, held by its unique (project, user) pair.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("plans"))
                .add_column(integer_null(Alias::new("trial_days")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("trials"))
                .if_not_exists()
                .col(uuid(Alias::new("id")).primary_key())
                .col(uuid(Alias::new("tenant_id")))
                .col(uuid(Alias::new("project_id")))
                .col(big_integer(Alias::new("telegram_user_id")))
                .col(uuid(Alias::new("plan_id")))
                .col(uuid(Alias::new("subscription_id")))
                .col(timestamp_with_time_zone(Alias::new("started_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("trials_one_per_user")
                .table(Alias::new("trials"))
                .col(Alias::new("project_id"))
                .col(Alias::new("telegram_user_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("trials_by_tenant")
                .table(Alias::new("trials"))
                .col(Alias::new("tenant_id"))
                .col(Alias::new("started_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("trials")).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("plans"))
                .drop_column(Alias::new("trial_days"))
                .to_owned(),
        )
        .await
    }
}
