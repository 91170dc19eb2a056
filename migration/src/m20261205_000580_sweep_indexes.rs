//! Indexes that make the sweeps read only the rows they act on, whatever the table's size:
//! the code-expiry sweep (no project in its filter), the unused-code timer (per project, by
//! age) and the purge of expired codes past retention. Partial indexes: only unredeemed,
//! unexpired codes (or expired ones) are in them. The same SQL on PostgreSQL and SQLite.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 3] = [
    (
        "ix_access_codes_due_expiry",
        "access_codes (expires_at) WHERE activation_count = 0 AND expired_at IS NULL \
         AND expires_at IS NOT NULL",
    ),
    (
        "ix_access_codes_unused_age",
        "access_codes (project_id, created_at) WHERE activation_count = 0 AND expired_at IS NULL",
    ),
    (
        "ix_access_codes_expired_at",
        "access_codes (expired_at) WHERE expired_at IS NOT NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, on) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON {on}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
