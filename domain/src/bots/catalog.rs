//! What the bot shows: the welcome and public plans of `/start`, the plans an owner can make
//! codes for, and the code counts of `/codes`.
use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use entity::{access_code, plan, project};

use crate::{
    AppCtx,
    error::{Error, Result},
    i18n::{self, Lang},
    telegram::BotHandle,
    tenancy::TenantStatus,
};

/// Whether the bot's tenant may be served (a suspended tenant's bot says it is paused).
pub async fn tenant_active(ctx: &AppCtx, h: &BotHandle) -> Result<bool> {
    Ok(crate::facts::tenant_status(ctx, h.tenant_id).await? == TenantStatus::Active)
}

pub(crate) async fn project_of(ctx: &AppCtx, h: &BotHandle) -> Result<project::Model> {
    project::Entity::find_by_id(h.project_id)
        .filter(project::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("project"))
}

#[derive(Debug, Clone)]
pub struct PublicPlan {
    pub id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    /// None: lifetime.
    pub duration_days: Option<i32>,
    /// None: not sold for Stars.
    pub price_stars: Option<i32>,
    /// Days of the free trial offered; None: none.
    pub trial_days: Option<i32>,
}

impl PublicPlan {
    /// e.g. `Monthly — 9.99 USD / 30 days`.
    pub fn describe(&self, lang: Lang) -> String {
        let price = if self.price_minor == 0 {
            i18n::t(lang, "plan-free")
        } else {
            format!(
                "{} {}",
                crate::money::format_minor(self.price_minor, &self.currency),
                self.currency
            )
        };
        let term = match self.duration_days {
            None => i18n::t(lang, "plan-lifetime"),
            Some(d) => i18n::tr(lang, "plan-days", &[("days", d.into())]),
        };
        i18n::tr(
            lang,
            "plan-line",
            &[
                ("name", self.name.as_str().into()),
                ("price", price.into()),
                ("term", term.into()),
            ],
        )
    }
}

/// What `/start` shows: the welcome, the public plans, and whether codes can be redeemed.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub project_name: String,
    pub text: String,
    /// The creator's word on how to get access where the bot sells nothing (may be empty).
    pub contact_text: String,
    pub plans: Vec<PublicPlan>,
    pub codes_enabled: bool,
    /// Plans with a Stars price get a "Buy for N ⭐" button.
    pub stars_enabled: bool,
}

/// The project's welcome in `lang` and its public plans (active and not codes-only). The
/// welcome is the project's text for `lang`, else for its default language, else its
/// `welcome_message`.
pub async fn welcome(ctx: &AppCtx, h: &BotHandle, lang: Lang) -> Result<Welcome> {
    let p = project_of(ctx, h).await?;
    let plans = plans_of(ctx, h, Offer::Public).await?;
    let mut texts: BTreeMap<String, String> =
        serde_json::from_str(&p.welcome_texts).unwrap_or_default();
    let text = texts
        .remove(lang.code())
        .or_else(|| texts.remove(&p.default_language))
        .filter(|t| !t.is_empty())
        .unwrap_or(p.welcome_message);
    Ok(Welcome {
        project_name: p.name,
        text,
        contact_text: p.contact_text,
        plans,
        codes_enabled: p.access_codes_enabled,
        stars_enabled: p.stars_enabled,
    })
}

/// The plans an owner can generate codes for: the project's active plans (codes-only ones
/// included), cheapest first.
pub async fn code_plans(ctx: &AppCtx, h: &BotHandle) -> Result<Vec<PublicPlan>> {
    plans_of(ctx, h, Offer::ForCodes).await
}

/// Which of the project's active plans a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// What subscribers see: not codes-only.
    Public,
    /// What an owner can make codes for: codes-only ones included.
    ForCodes,
}

/// The project's active plans, cheapest first.
async fn plans_of(ctx: &AppCtx, h: &BotHandle, offer: Offer) -> Result<Vec<PublicPlan>> {
    let mut q = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .filter(plan::Column::Active.eq(true));
    match offer {
        Offer::Public => q = q.filter(plan::Column::CodesOnly.eq(false)),
        Offer::ForCodes => {}
    }
    Ok(q.order_by_asc(plan::Column::PriceMinor)
        .order_by_asc(plan::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(PublicPlan::from)
        .collect())
}

impl From<plan::Model> for PublicPlan {
    fn from(pl: plan::Model) -> Self {
        PublicPlan {
            id: pl.id,
            name: pl.name,
            price_minor: pl.price_minor,
            currency: pl.currency,
            duration_days: pl.duration_days,
            price_stars: pl.price_stars,
            trial_days: pl.trial_days,
        }
    }
}

/// The plan by id if it belongs to the bot's project (active or not).
pub async fn project_plan(
    ctx: &AppCtx,
    h: &BotHandle,
    plan_id: Uuid,
) -> Result<Option<PublicPlan>> {
    Ok(plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::ProjectId.eq(h.project_id))
        .filter(plan::Column::TenantId.eq(h.tenant_id))
        .one(&ctx.db)
        .await?
        .map(PublicPlan::from))
}

/// `/codes`: the project's access codes by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeCounts {
    pub unredeemed: u64,
    pub redeemed: u64,
    pub expired: u64,
}

pub async fn code_counts(ctx: &AppCtx, h: &BotHandle) -> Result<CodeCounts> {
    use access_code::Column as C;
    let now = ctx.now();
    let base = || {
        access_code::Entity::find()
            .filter(C::ProjectId.eq(h.project_id))
            .filter(C::TenantId.eq(h.tenant_id))
    };
    let redeemed = base()
        .filter(C::ActivationCount.gt(0))
        .count(&ctx.db)
        .await?;
    let expired = base()
        .filter(C::ActivationCount.eq(0))
        .filter(C::ExpiresAt.lte(now))
        .count(&ctx.db)
        .await?;
    let unredeemed = base()
        .filter(C::ActivationCount.eq(0))
        .filter(
            sea_orm::Condition::any()
                .add(C::ExpiresAt.is_null())
                .add(C::ExpiresAt.gt(now)),
        )
        .count(&ctx.db)
        .await?;
    Ok(CodeCounts {
        unredeemed,
        redeemed,
        expired,
    })
}
