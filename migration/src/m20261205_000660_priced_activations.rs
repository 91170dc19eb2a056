//! Revenue from code orders reads only priced activations: every activation carries its price
//! (older ones took it from their subscription; they are backfilled here), and a partial index
//! on `(tenant_id, at)` holds just the priced ones — so revenue costs what was sold, not what
//! was redeemed (most codes are free). And the subscriptions list filtered by source (a
//! handful of paid ones among a million from codes) gets an index of its own.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "UPDATE activations SET price_minor = (SELECT s.price_minor FROM subscriptions s \
             WHERE s.id = activations.subscription_id) WHERE price_minor IS NULL",
        )
        .await?;
        db.execute_unprepared("UPDATE activations SET price_minor = 0 WHERE price_minor IS NULL")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_activations_priced ON activations (tenant_id, at) \
             WHERE price_minor > 0",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_subscriptions_project_source ON subscriptions \
             (project_id, source, id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_activations_priced")
            .await?;
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_subscriptions_project_source")
            .await?;
        Ok(())
    }
}
