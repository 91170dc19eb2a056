//! The whole domain of DESIGN.md: tenants and accounts, projects and their Telegram side,
//! plans, access codes, subscriptions, the billing outbox and the audit log.
//!
//! Delete rules: everything a tenant owns cascades from the tenant and from its project;
//! history that must outlive its subject (activations, subscriptions, usage records, audit
//! entries) keeps its row and loses the reference (`SET NULL`) where the subject may go.
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

fn index(table: &str, name: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("ix_{table}_{name}"))
        .table(Alias::new(table));
    for c in cols {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

fn table(name: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .if_not_exists()
        .to_owned()
}

// NO ACTION (checked at statement end) rather than RESTRICT, so deleting a project can cascade
// through plans and the batches and codes that reference them in one statement.
use ForeignKeyAction::{Cascade, NoAction as Restrict, SetNull};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // --- tenants and accounts -------------------------------------------------------
        m.create_table(
            table("tenants")
                .col(pk_uuid("id"))
                .col(string_len("name", 64))
                .col(string_len("status", 16))
                .col(text_null("suspended_reason"))
                .col(string_len("billing_plan", 32))
                .col(string_len("billing_status", 16))
                .col(timestamp_with_time_zone_null("past_due_since"))
                .col(string_null("stripe_customer_id"))
                .col(string_null("stripe_subscription_id"))
                .col(timestamp_with_time_zone("cycle_start"))
                .col(timestamp_with_time_zone("cycle_end"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("tenants", "name", &["name"], false))
            .await?;
        m.create_index(index(
            "tenants",
            "stripe_customer",
            &["stripe_customer_id"],
            false,
        ))
        .await?;

        m.create_table(
            table("users")
                .col(pk_uuid("id"))
                .col(uuid_null("tenant_id"))
                .col(string_len("email", 254))
                .col(string("password_hash"))
                .col(string_len("role", 16))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("users", "tenant_id", "tenants", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("users", "email", &["email"], true))
            .await?;
        m.create_index(index("users", "tenant", &["tenant_id"], false))
            .await?;

        m.create_table(
            table("login_attempts")
                .col(pk_uuid("id"))
                .col(string_len("email", 254))
                .col(boolean("succeeded"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("login_attempts", "email_at", &["email", "at"], false))
            .await?;

        m.create_table(
            table("api_keys")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("created_by"))
                .col(string_len("name", 64))
                .col(string_len("prefix", 16))
                .col(string_len("key_hash", 64))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk("api_keys", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("api_keys", "created_by", "users", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("api_keys", "hash", &["key_hash"], true))
            .await?;
        m.create_index(index("api_keys", "tenant", &["tenant_id"], false))
            .await?;

        // --- projects and their Telegram side -------------------------------------------
        m.create_table(
            table("projects")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 64))
                .col(text("welcome_message"))
                .col(boolean("access_codes_enabled"))
                .col(boolean("codes_priced"))
                .col(integer_null("unused_code_ttl_days"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("projects", "tenant_id", "tenants", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "projects",
            "tenant",
            &["tenant_id", "created_at"],
            false,
        ))
        .await?;

        m.create_table(
            table("bots")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(big_integer("telegram_bot_id"))
                .col(string_len("username", 64))
                .col(text("token_encrypted"))
                .col(string_len("webhook_secret", 64))
                .col(string_len("mode", 16))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("bots", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("bots", "project_id", "projects", Cascade))
                .to_owned(),
        )
        .await?;
        // One bot per project; one project per Telegram bot on the whole platform.
        m.create_index(index("bots", "project", &["project_id"], true))
            .await?;
        m.create_index(index("bots", "telegram_bot", &["telegram_bot_id"], true))
            .await?;

        m.create_table(
            table("owner_links")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid_null("user_id"))
                .col(string_len("token_hash", 64))
                .col(timestamp_with_time_zone("expires_at"))
                .col(big_integer_null("telegram_user_id"))
                .col(big_integer_null("telegram_chat_id"))
                .col(timestamp_with_time_zone_null("linked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("owner_links", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("owner_links", "project_id", "projects", Cascade))
                .foreign_key(&mut fk("owner_links", "user_id", "users", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("owner_links", "token", &["token_hash"], true))
            .await?;
        m.create_index(index(
            "owner_links",
            "project_tg",
            &["project_id", "telegram_user_id"],
            false,
        ))
        .await?;

        m.create_table(
            table("channels")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(big_integer("telegram_chat_id"))
                .col(string_len("title", 255))
                .col(string_len("kind", 16))
                .col(boolean("available"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("channels", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("channels", "project_id", "projects", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "channels",
            "project_chat",
            &["project_id", "telegram_chat_id"],
            true,
        ))
        .await?;

        // --- plans ------------------------------------------------------------------------
        m.create_table(
            table("plans")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(string_len("name", 64))
                .col(big_integer("price_minor"))
                .col(string_len("currency", 3))
                .col(integer_null("duration_days"))
                .col(boolean("active"))
                .col(boolean("codes_only"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("plans", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("plans", "project_id", "projects", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "plans",
            "project",
            &["project_id", "created_at"],
            false,
        ))
        .await?;

        m.create_table(
            table("plan_channels")
                .col(uuid("plan_id"))
                .col(uuid("channel_id"))
                .col(uuid("tenant_id"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("plan_id"))
                        .col(Alias::new("channel_id")),
                )
                .foreign_key(&mut fk("plan_channels", "plan_id", "plans", Cascade))
                .foreign_key(&mut fk("plan_channels", "channel_id", "channels", Cascade))
                .foreign_key(&mut fk("plan_channels", "tenant_id", "tenants", Cascade))
                .to_owned(),
        )
        .await?;

        // --- access codes -----------------------------------------------------------------
        m.create_table(
            table("code_batches")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("plan_id"))
                .col(uuid_null("requested_by"))
                .col(integer("quantity"))
                .col(string_len("expiry_kind", 16))
                .col(integer_null("expiry_days"))
                .col(timestamp_with_time_zone_null("codes_expire_at"))
                .col(integer("max_activations"))
                .col(string_len("status", 16))
                .col(integer("free_count"))
                .col(integer("overage_count"))
                .col(timestamp_with_time_zone("cycle_start"))
                .col(string_len_null("idempotency_key", 255))
                .col(string_len("delivery", 24))
                .col(text_null("error"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("code_batches", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("code_batches", "project_id", "projects", Cascade))
                .foreign_key(&mut fk("code_batches", "plan_id", "plans", Restrict))
                .foreign_key(&mut fk("code_batches", "requested_by", "users", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "code_batches",
            "idempotency",
            &["tenant_id", "idempotency_key"],
            true,
        ))
        .await?;
        m.create_index(index(
            "code_batches",
            "project",
            &["project_id", "created_at"],
            false,
        ))
        .await?;
        m.create_index(index(
            "code_batches",
            "tenant_cycle",
            &["tenant_id", "cycle_start"],
            false,
        ))
        .await?;

        m.create_table(
            table("access_codes")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("plan_id"))
                .col(uuid_null("batch_id"))
                .col(string_len("code", 12))
                .col(integer("max_activations"))
                .col(integer("activation_count"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(timestamp_with_time_zone("cycle_start"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("access_codes", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("access_codes", "project_id", "projects", Cascade))
                .foreign_key(&mut fk("access_codes", "plan_id", "plans", Restrict))
                .foreign_key(&mut fk("access_codes", "batch_id", "code_batches", SetNull))
                .to_owned(),
        )
        .await?;
        // A code is unique within its project; projects never share code space.
        m.create_index(index(
            "access_codes",
            "project_code",
            &["project_id", "code"],
            true,
        ))
        .await?;
        m.create_index(index(
            "access_codes",
            "project_plan",
            &["project_id", "plan_id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "access_codes",
            "project_batch",
            &["project_id", "batch_id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "access_codes",
            "project_expiry",
            &["project_id", "expires_at"],
            false,
        ))
        .await?;
        m.create_index(index(
            "access_codes",
            "project_status",
            &["project_id", "activation_count"],
            false,
        ))
        .await?;

        // --- subscribers and subscriptions ------------------------------------------------
        m.create_table(
            table("subscribers")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(big_integer("telegram_user_id"))
                .col(string_len_null("username", 64))
                .col(string_len("first_name", 255))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("subscribers", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("subscribers", "project_id", "projects", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "subscribers",
            "project_tg",
            &["project_id", "telegram_user_id"],
            true,
        ))
        .await?;

        m.create_table(
            table("subscriptions")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("project_id"))
                .col(uuid("subscriber_id"))
                .col(uuid("plan_id"))
                .col(string_len("source", 16))
                .col(uuid_null("access_code_id"))
                .col(big_integer("price_minor"))
                .col(string_len("currency", 3))
                .col(timestamp_with_time_zone("starts_at"))
                .col(timestamp_with_time_zone_null("ends_at"))
                .col(string_len("status", 16))
                .col(timestamp_with_time_zone_null("reminder_sent_at"))
                .col(timestamp_with_time_zone_null("ended_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("subscriptions", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("subscriptions", "project_id", "projects", Cascade))
                .foreign_key(&mut fk(
                    "subscriptions",
                    "subscriber_id",
                    "subscribers",
                    Cascade,
                ))
                .foreign_key(&mut fk("subscriptions", "plan_id", "plans", Restrict))
                .foreign_key(&mut fk(
                    "subscriptions",
                    "access_code_id",
                    "access_codes",
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "subscriptions",
            "project_status",
            &["project_id", "status"],
            false,
        ))
        .await?;
        m.create_index(index(
            "subscriptions",
            "subscriber_plan",
            &["subscriber_id", "plan_id", "status"],
            false,
        ))
        .await?;
        m.create_index(index(
            "subscriptions",
            "sweep",
            &["status", "ends_at"],
            false,
        ))
        .await?;

        m.create_table(
            table("activations")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("access_code_id"))
                .col(uuid("subscriber_id"))
                .col(uuid_null("subscription_id"))
                .col(timestamp_with_time_zone("at"))
                .foreign_key(&mut fk("activations", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk(
                    "activations",
                    "access_code_id",
                    "access_codes",
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "activations",
                    "subscriber_id",
                    "subscribers",
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "activations",
                    "subscription_id",
                    "subscriptions",
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        // The same subscriber never redeems the same code twice.
        m.create_index(index(
            "activations",
            "code_subscriber",
            &["access_code_id", "subscriber_id"],
            true,
        ))
        .await?;

        // --- quota and billing ------------------------------------------------------------
        m.create_table(
            table("quota_grants")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(timestamp_with_time_zone("cycle_start"))
                .col(integer("codes"))
                .col(uuid_null("granted_by"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("quota_grants", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk("quota_grants", "granted_by", "users", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "quota_grants",
            "tenant_cycle",
            &["tenant_id", "cycle_start"],
            false,
        ))
        .await?;

        m.create_table(
            table("quota_frees")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(timestamp_with_time_zone("cycle_start"))
                .col(integer("codes"))
                .col(string_len("reason", 32))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("quota_frees", "tenant_id", "tenants", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "quota_frees",
            "tenant_cycle",
            &["tenant_id", "cycle_start"],
            false,
        ))
        .await?;

        m.create_table(
            table("usage_records")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("batch_id"))
                .col(integer("overage_count"))
                .col(big_integer("fee_minor"))
                .col(string_len("identifier", 64))
                .col(string_len("status", 16))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("usage_records", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk(
                    "usage_records",
                    "batch_id",
                    "code_batches",
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("usage_records", "identifier", &["identifier"], true))
            .await?;
        m.create_index(index(
            "usage_records",
            "outbox",
            &["status", "next_attempt_at"],
            false,
        ))
        .await?;

        // --- audit ------------------------------------------------------------------------
        m.create_table(
            table("audit_log")
                .col(pk_uuid("id"))
                .col(uuid_null("actor_user_id"))
                .col(string_len("actor", 254))
                .col(uuid_null("tenant_id"))
                .col(string_len("action", 64))
                .col(string_len("target_type", 32))
                .col(string_len_null("target_id", 64))
                .col(json("details"))
                .col(timestamp_with_time_zone("at"))
                .foreign_key(&mut fk("audit_log", "actor_user_id", "users", SetNull))
                .foreign_key(&mut fk("audit_log", "tenant_id", "tenants", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("audit_log", "tenant_at", &["tenant_id", "at"], false))
            .await?;
        m.create_index(index("audit_log", "action_at", &["action", "at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "audit_log",
            "usage_records",
            "quota_frees",
            "quota_grants",
            "activations",
            "subscriptions",
            "subscribers",
            "access_codes",
            "code_batches",
            "plan_channels",
            "plans",
            "channels",
            "owner_links",
            "bots",
            "projects",
            "api_keys",
            "login_attempts",
            "users",
            "tenants",
        ] {
            m.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
