//! Team invites: a one-time link (only its SHA-256 stored) that makes whoever accepts it a
//! member of the workspace with the role it names. Pending, accepted or revoked; expired by
//! `expires_at`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(col: &str, to: &str, on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_team_invites_{col}"))
        .from(Alias::new("team_invites"), Alias::new(col))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("team_invites"))
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("email", 254))
                .col(string_len("role", 16))
                .col(string_len("token_hash", 64))
                .col(uuid_null("invited_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("accepted_at"))
                .col(uuid_null("accepted_by"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk("tenant_id", "tenants", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("invited_by", "users", ForeignKeyAction::SetNull))
                .foreign_key(&mut fk("accepted_by", "users", ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_team_invites_token_hash")
                .table(Alias::new("team_invites"))
                .col(Alias::new("token_hash"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_team_invites_tenant")
                .table(Alias::new("team_invites"))
                .col(Alias::new("tenant_id"))
                .col(Alias::new("created_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("team_invites"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
