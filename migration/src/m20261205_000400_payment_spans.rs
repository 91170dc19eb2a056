//! Stars payments record what Telegram charged for: `is_first_recurring` (the charge that
//! started a Stars subscription, whose id names it to `editUserStarSubscription`) and
//! `bought_secs` (the span the payment bought; null for lifetime), so a renewal grants and a
//! refund takes away what was paid, whatever the plan says later. The "already paid" check
//! of a pre-checkout reads `invoice_payload` by index. Subscriptions created by Stars carry
//! the currency they were paid in (`XTR`).
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn payments() -> Alias {
    Alias::new("payments")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter()
                .table(payments())
                .add_column(boolean("is_first_recurring").default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(payments())
                .add_column(big_integer_null("bought_secs"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // A recurring payment with no earlier payment of its payload started its subscription.
        db.execute_unprepared(
            "UPDATE payments SET is_first_recurring = TRUE WHERE is_recurring = TRUE AND NOT EXISTS \
             (SELECT 1 FROM payments AS p2 WHERE p2.invoice_payload = payments.invoice_payload \
             AND p2.created_at < payments.created_at)",
        )
        .await?;
        // What each payment bought is what it added, as far as it was recorded.
        let secs = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                "CAST(ROUND((julianday(added_until) - julianday(added_from)) * 86400) AS INTEGER)"
            }
            _ => "CAST(EXTRACT(EPOCH FROM (added_until - added_from)) AS BIGINT)",
        };
        db.execute_unprepared(&format!(
            "UPDATE payments SET bought_secs = {secs} WHERE added_until IS NOT NULL"
        ))
        .await?;
        db.execute_unprepared("UPDATE subscriptions SET currency = 'XTR' WHERE source = 'payment'")
            .await?;
        m.create_index(
            Index::create()
                .name("ix_payments_payload")
                .table(payments())
                .col(Alias::new("invoice_payload"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_payments_payload")
                .table(payments())
                .to_owned(),
        )
        .await?;
        for col in ["bought_secs", "is_first_recurring"] {
            m.alter_table(
                Table::alter()
                    .table(payments())
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
