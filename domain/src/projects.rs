//! Projects and their settings. The tenant-scoped finder here is the gate every
//! project-owned object (bot, channels, plans, codes, members) is reached through.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::project;

use crate::{
    AppCtx, audit,
    error::{Error, FieldErrors, Result},
    i18n::Lang,
    tenancy::Action,
    tenants::TenantCtx,
    validate,
};

pub const WELCOME_MAX: usize = 2_000;
pub const CONTACT_MAX: usize = 1_000;
pub const DEFAULT_WELCOME: &str = "Welcome! Pick a plan below, or redeem an access code.";
pub const UNUSED_CODE_TTL_MAX_DAYS: i64 = 3_650;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProjectIn {
    pub name: String,
    pub welcome_message: Option<String>,
    /// How subscribers get access where the bot sells nothing (up to 1,000 characters);
    /// `/start` shows it when no plan can be bought there.
    pub contact_text: Option<String>,
    /// Access codes as a payment method (default on).
    pub access_codes_enabled: Option<bool>,
    /// Code orders carry the plan's price (default off: zero-priced, excluded from revenue).
    pub codes_priced: Option<bool>,
    /// Telegram Stars as a payment method (default off).
    pub stars_enabled: Option<bool>,
    /// Delete unredeemed codes older than this many days (unset: never).
    pub unused_code_ttl_days: Option<i64>,
    /// The bot's language for users whose Telegram language it does not speak: `en` (the
    /// default), `ru`, `es` or `pt`.
    pub default_language: Option<String>,
    /// The `/start` welcome per language (language code → text); a language left out gets
    /// the default language's, then `welcome_message`.
    pub welcome_texts: Option<BTreeMap<String, String>>,
}

/// A partial update; a field left out stays as it is. `unused_code_ttl_days: null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub welcome_message: Option<String>,
    /// Empty: the standard hint.
    pub contact_text: Option<String>,
    pub access_codes_enabled: Option<bool>,
    pub codes_priced: Option<bool>,
    pub stars_enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::projects::double_option")]
    #[schema(value_type = Option<i64>)]
    pub unused_code_ttl_days: Option<Option<i64>>,
    /// Days an expired, unredeemed code stays listable before it is purged.
    pub expired_code_retention_days: Option<i64>,
    /// `en`, `ru`, `es` or `pt`.
    pub default_language: Option<String>,
    /// Replaces the whole map; `{}` removes every per-language welcome.
    pub welcome_texts: Option<BTreeMap<String, String>>,
    /// A promo code of this project that a free trial's reminder offers (a discounted Buy
    /// button); null: none.
    #[serde(default, deserialize_with = "crate::projects::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub trial_promo_id: Option<Option<Uuid>>,
    /// A promo code of this project offered once when a subscriber presses "Cancel renewal";
    /// null: none.
    #[serde(default, deserialize_with = "crate::projects::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub retention_promo_id: Option<Option<Uuid>>,
}

/// Distinguishes a field that is absent (`None`) from one set to null (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectOut {
    pub id: Uuid,
    pub name: String,
    pub welcome_message: String,
    /// How subscribers get access where the bot sells nothing; empty: the standard hint.
    pub contact_text: String,
    pub access_codes_enabled: bool,
    pub codes_priced: bool,
    pub stars_enabled: bool,
    pub unused_code_ttl_days: Option<i32>,
    /// Days an expired, unredeemed code stays listable (status `expired`) before it is purged.
    pub expired_code_retention_days: i32,
    /// The bot's language for users whose Telegram language it does not speak.
    pub default_language: String,
    /// The `/start` welcome per language (language code → text).
    pub welcome_texts: BTreeMap<String, String>,
    /// The promo code a free trial's reminder offers.
    pub trial_promo_id: Option<Uuid>,
    /// The promo code offered once on "Cancel renewal".
    pub retention_promo_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<project::Model> for ProjectOut {
    fn from(p: project::Model) -> Self {
        let welcome_texts = welcome_texts(&p);
        ProjectOut {
            id: p.id,
            name: p.name,
            welcome_message: p.welcome_message,
            contact_text: p.contact_text,
            access_codes_enabled: p.access_codes_enabled,
            codes_priced: p.codes_priced,
            stars_enabled: p.stars_enabled,
            unused_code_ttl_days: p.unused_code_ttl_days,
            expired_code_retention_days: p.expired_code_retention_days,
            welcome_texts,
            default_language: p.default_language,
            trial_promo_id: p.trial_promo_id,
            retention_promo_id: p.retention_promo_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The project's welcome per language, as stored (an unreadable value reads as none).
pub fn welcome_texts(p: &project::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&p.welcome_texts).unwrap_or_default()
}

/// One of the bot's languages, named by `field`.
fn language(field: &str, v: &str) -> Result<Lang> {
    Lang::parse(v).ok_or_else(|| {
        Error::field(
            field,
            "unknown_language",
            "must be one of en, ru, es, pt".to_string(),
        )
    })
}

/// Per-language welcomes: each key one of the bot's languages, each text within
/// [`WELCOME_MAX`]; empty texts are dropped. Stored as a JSON object.
fn welcome_texts_in(v: &BTreeMap<String, String>) -> Result<String> {
    let mut out = BTreeMap::new();
    for (lang, text) in v {
        let lang = language("welcome_texts", lang)?;
        let text = validate::text("welcome_texts", text, WELCOME_MAX)?;
        if !text.is_empty() {
            out.insert(lang.code().to_string(), text);
        }
    }
    Ok(serde_json::to_string(&out).unwrap_or_else(|_| "{}".into()))
}

/// Expired codes stay listable this many days unless the project says otherwise.
pub const DEFAULT_EXPIRED_RETENTION_DAYS: i32 = 30;

fn ttl(field: &str, v: i64) -> Result<i32> {
    if (1..=UNUSED_CODE_TTL_MAX_DAYS).contains(&v) {
        Ok(v as i32)
    } else {
        Err(Error::field(
            field,
            "out_of_range",
            format!("must be between 1 and {UNUSED_CODE_TTL_MAX_DAYS} days"),
        ))
    }
}

/// The tenant-scoped finder: another tenant's project is not found.
pub async fn find(db: &impl ConnectionTrait, t: &TenantCtx, id: Uuid) -> Result<project::Model> {
    project::Entity::find_by_id(id)
        .filter(project::Column::TenantId.eq(t.tenant_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("project"))
}

pub async fn create(ctx: &AppCtx, t: &TenantCtx, input: ProjectIn) -> Result<ProjectOut> {
    t.may(Action::ManageProjects)?;
    let mut errs = FieldErrors::default();
    let name = errs.check(validate::name("name", &input.name));
    let welcome = errs.check(validate::text(
        "welcome_message",
        input.welcome_message.as_deref().unwrap_or(DEFAULT_WELCOME),
        WELCOME_MAX,
    ));
    let contact = errs.check(validate::text(
        "contact_text",
        input.contact_text.as_deref().unwrap_or(""),
        CONTACT_MAX,
    ));
    let ttl_days = match input.unused_code_ttl_days {
        Some(v) => errs.check(ttl("unused_code_ttl_days", v)).map(Some),
        None => Some(None),
    };
    let default_language = input
        .default_language
        .as_deref()
        .map(|l| errs.check(language("default_language", l)));
    let welcome_texts = input
        .welcome_texts
        .as_ref()
        .map(|w| errs.check(welcome_texts_in(w)));
    errs.finish()?;
    let now = ctx.now();
    let welcome = welcome.unwrap_or_default();
    let p = project::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        name: Set(name.unwrap_or_default()),
        welcome_message: Set(if welcome.is_empty() {
            DEFAULT_WELCOME.into()
        } else {
            welcome
        }),
        contact_text: Set(contact.unwrap_or_default()),
        access_codes_enabled: Set(input.access_codes_enabled.unwrap_or(true)),
        codes_priced: Set(input.codes_priced.unwrap_or(false)),
        stars_enabled: Set(input.stars_enabled.unwrap_or(false)),
        unused_code_ttl_days: Set(ttl_days.flatten()),
        expired_code_retention_days: Set(DEFAULT_EXPIRED_RETENTION_DAYS),
        default_language: Set(default_language
            .flatten()
            .unwrap_or(Lang::En)
            .code()
            .to_string()),
        welcome_texts: Set(welcome_texts.flatten().unwrap_or_else(|| "{}".into())),
        trial_promo_id: Set(None),
        retention_promo_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&ctx.db)
    .await?;
    Ok(p.into())
}

pub async fn list(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<ProjectOut>> {
    Ok(project::Entity::find()
        .filter(project::Column::TenantId.eq(t.tenant_id))
        .order_by_asc(project::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub async fn get(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<ProjectOut> {
    Ok(find(&ctx.db, t, id).await?.into())
}

/// Changes settings. A new unused-code timer applies to existing codes too: the expiry
/// sweep reads it at run time rather than stamping it on codes.
pub async fn update(
    ctx: &AppCtx,
    t: &TenantCtx,
    id: Uuid,
    patch: ProjectPatch,
) -> Result<ProjectOut> {
    t.may(Action::ManageProjects)?;
    let p = find(&ctx.db, t, id).await?;
    let mut errs = FieldErrors::default();
    let name = patch
        .name
        .as_deref()
        .map(|n| errs.check(validate::name("name", n)));
    let welcome = patch
        .welcome_message
        .as_deref()
        .map(|w| errs.check(validate::text("welcome_message", w, WELCOME_MAX)));
    let contact = patch
        .contact_text
        .as_deref()
        .map(|c| errs.check(validate::text("contact_text", c, CONTACT_MAX)));
    let ttl_days = patch
        .unused_code_ttl_days
        .map(|v| v.map(|d| errs.check(ttl("unused_code_ttl_days", d))));
    let retention = patch
        .expired_code_retention_days
        .map(|d| errs.check(ttl("expired_code_retention_days", d)));
    let default_language = patch
        .default_language
        .as_deref()
        .map(|l| errs.check(language("default_language", l)));
    let welcome_texts = patch
        .welcome_texts
        .as_ref()
        .map(|w| errs.check(welcome_texts_in(w)));
    for (field, v) in [
        ("trial_promo_id", patch.trial_promo_id),
        ("retention_promo_id", patch.retention_promo_id),
    ] {
        if let Some(Some(promo)) = v {
            let found = entity::promo_code::Entity::find_by_id(promo)
                .filter(entity::promo_code::Column::ProjectId.eq(p.id))
                .one(&ctx.db)
                .await?;
            if found.is_none() {
                errs.add(
                    field,
                    "unknown_promo",
                    "no promo code of this project has this id",
                );
            }
        }
    }
    errs.finish()?;
    let mut am = p.into_active_model();
    if let Some(v) = patch.trial_promo_id {
        am.trial_promo_id = Set(v);
    }
    if let Some(v) = patch.retention_promo_id {
        am.retention_promo_id = Set(v);
    }
    if let Some(Some(n)) = name {
        am.name = Set(n);
    }
    if let Some(Some(w)) = welcome {
        am.welcome_message = Set(if w.is_empty() {
            DEFAULT_WELCOME.into()
        } else {
            w
        });
    }
    if let Some(Some(c)) = contact {
        am.contact_text = Set(c);
    }
    if let Some(v) = patch.access_codes_enabled {
        am.access_codes_enabled = Set(v);
    }
    if let Some(v) = patch.codes_priced {
        am.codes_priced = Set(v);
    }
    if let Some(v) = patch.stars_enabled {
        am.stars_enabled = Set(v);
    }
    if let Some(v) = ttl_days {
        am.unused_code_ttl_days = Set(v.flatten());
    }
    if let Some(Some(d)) = retention {
        am.expired_code_retention_days = Set(d);
    }
    if let Some(Some(l)) = default_language {
        am.default_language = Set(l.code().to_string());
    }
    if let Some(Some(w)) = welcome_texts {
        am.welcome_texts = Set(w);
    }
    am.updated_at = Set(ctx.now());
    let out = am.update(&ctx.db).await?;
    // Redemption reads the project from the per-process cache: every process forgets it now.
    crate::telegram::registry::changed(ctx, out.id).await;
    Ok(out.into())
}

/// Deletes a project and everything in it (bot, channels, plans, codes, members). First the
/// Stars subscriptions renewing in it are cancelled in Telegram (refused with 503
/// `stars_renewals_not_cancelled`, nothing deleted, when one cannot be) and its bot's webhook
/// removed; afterwards every process forgets the project and the bot.
pub async fn delete(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<()> {
    t.may(Action::ManageProjects)?;
    let p = find(&ctx.db, t, id).await?;
    let b = entity::bot::Entity::find()
        .filter(entity::bot::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?;
    crate::renewals::stop_project(ctx, p.id).await?;
    if let Some(b) = &b {
        crate::telegram::registry::release_webhook(ctx, b).await;
    }
    let now = ctx.now();
    let txn = sea_orm::TransactionTrait::begin(&ctx.db).await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "project.deleted", "project", p.id)
            .details(serde_json::json!({"name": p.name})),
        now,
    )
    .await?;
    project::Entity::delete_by_id(p.id).exec(&txn).await?;
    txn.commit().await?;
    crate::telegram::registry::changed(ctx, p.id).await;
    if let Some(b) = b {
        crate::telegram::registry::changed(ctx, b.id).await;
    }
    Ok(())
}
