//! Outgoing webhooks: a workspace's endpoints, the delivery outbox (one row per event and
//! subscribed endpoint, written in the transaction of the change), and the attempt log.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(Alias::new(from), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(table: &str, name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("ix_{table}_{name}"))
        .table(Alias::new(table));
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("webhook_endpoints"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("url", 2048))
                .col(string_len("description", 200))
                .col(json("event_types"))
                .col(text("secret_encrypted"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone_null("failing_since"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("webhook_endpoints", "tenant_id", "tenants"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("webhook_endpoints", "tenant", &["tenant_id"]))
            .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("webhook_deliveries"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("endpoint_id"))
                .col(string_len("event_id", 64))
                .col(string_len("event_type", 64))
                .col(text("payload"))
                .col(string_len("status", 16))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone("retry_until"))
                .col(integer_null("last_status_code"))
                .col(integer_null("last_latency_ms"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("webhook_deliveries", "tenant_id", "tenants"))
                .foreign_key(&mut fk(
                    "webhook_deliveries",
                    "endpoint_id",
                    "webhook_endpoints",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "webhook_deliveries",
            "due",
            &["status", "next_attempt_at"],
        ))
        .await?;
        m.create_index(index(
            "webhook_deliveries",
            "endpoint",
            &["endpoint_id", "id"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("webhook_attempts"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("endpoint_id"))
                .col(uuid("delivery_id"))
                .col(integer("attempt"))
                .col(integer_null("status_code"))
                .col(integer("latency_ms"))
                .col(text_null("response_excerpt"))
                .col(text_null("error"))
                .col(timestamp_with_time_zone("at"))
                .foreign_key(&mut fk("webhook_attempts", "tenant_id", "tenants"))
                .foreign_key(&mut fk(
                    "webhook_attempts",
                    "endpoint_id",
                    "webhook_endpoints",
                ))
                .foreign_key(&mut fk(
                    "webhook_attempts",
                    "delivery_id",
                    "webhook_deliveries",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "webhook_attempts",
            "endpoint",
            &["endpoint_id", "id"],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
        ] {
            m.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
