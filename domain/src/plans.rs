//! Subscription plans of a project: price, duration or lifetime, active and codes-only
//! flags, and the channels each plan grants.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{channel, plan, plan_channel};

use crate::{
    AppCtx,
    error::{Error, FieldErrors, Result},
    projects,
    tenancy::Action,
    tenants::TenantCtx,
    validate,
};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PlanIn {
    pub name: String,
    /// Price in minor units (cents); 0 for free plans.
    pub price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// 1–36,500 days; leave out and set `lifetime: true` for a plan that never ends.
    pub duration_days: Option<i64>,
    #[serde(default)]
    pub lifetime: bool,
    pub active: Option<bool>,
    /// Hidden from the public plan list; reachable through access codes only.
    pub codes_only: Option<bool>,
    #[serde(default)]
    pub channel_ids: Vec<Uuid>,
    /// Price in Telegram Stars (1–10,000); leave out for a plan not sold for Stars.
    pub price_stars: Option<i64>,
    /// A free trial of 1–90 days that `/start` offers (one per Telegram user per project,
    /// ever); leave out for none.
    pub trial_days: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PlanPatch {
    pub name: Option<String>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub duration_days: Option<i64>,
    pub lifetime: Option<bool>,
    pub active: Option<bool>,
    pub codes_only: Option<bool>,
    pub channel_ids: Option<Vec<Uuid>>,
    /// 1–10,000 Stars; `null` stops selling the plan for Stars.
    #[serde(default, deserialize_with = "crate::projects::double_option")]
    #[schema(value_type = Option<i64>)]
    pub price_stars: Option<Option<i64>>,
    /// 1–90 days; `null` stops offering a trial.
    #[serde(default, deserialize_with = "crate::projects::double_option")]
    #[schema(value_type = Option<i64>)]
    pub trial_days: Option<Option<i64>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanOut {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    /// Null for lifetime plans.
    pub duration_days: Option<i32>,
    pub lifetime: bool,
    pub active: bool,
    pub codes_only: bool,
    /// Price in Telegram Stars; null when the plan is not sold for Stars.
    pub price_stars: Option<i32>,
    /// Days of the free trial offered; null: none.
    pub trial_days: Option<i32>,
    pub channel_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PlanOut {
    fn new(p: plan::Model, channel_ids: Vec<Uuid>) -> Self {
        PlanOut {
            id: p.id,
            project_id: p.project_id,
            name: p.name,
            price_minor: p.price_minor,
            currency: p.currency,
            lifetime: p.duration_days.is_none(),
            duration_days: p.duration_days,
            active: p.active,
            codes_only: p.codes_only,
            price_stars: p.price_stars,
            trial_days: p.trial_days,
            channel_ids,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The tenant-scoped finder for a plan of a project.
pub async fn find(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    plan_id: Uuid,
) -> Result<plan::Model> {
    plan::Entity::find_by_id(plan_id)
        .filter(plan::Column::TenantId.eq(t.tenant_id))
        .filter(plan::Column::ProjectId.eq(project_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("plan"))
}

async fn check_channels(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    project_id: Uuid,
    ids: &[Uuid],
    errs: &mut FieldErrors,
) -> Result<Vec<Uuid>> {
    let wanted: BTreeSet<Uuid> = ids.iter().copied().collect();
    if wanted.is_empty() {
        return Ok(vec![]);
    }
    let found: BTreeSet<Uuid> = channel::Entity::find()
        .filter(channel::Column::TenantId.eq(t.tenant_id))
        .filter(channel::Column::ProjectId.eq(project_id))
        .filter(channel::Column::Id.is_in(wanted.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    if found != wanted {
        errs.add(
            "channel_ids",
            "unknown_channel",
            "every channel must belong to this project",
        );
    }
    Ok(wanted.into_iter().collect())
}

async fn set_channels(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    plan_id: Uuid,
    ids: &[Uuid],
) -> Result<()> {
    plan_channel::Entity::delete_many()
        .filter(plan_channel::Column::PlanId.eq(plan_id))
        .exec(db)
        .await?;
    if !ids.is_empty() {
        plan_channel::Entity::insert_many(ids.iter().map(|c| plan_channel::ActiveModel {
            plan_id: Set(plan_id),
            channel_id: Set(*c),
            tenant_id: Set(t.tenant_id),
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

async fn channels_of(
    db: &impl ConnectionTrait,
    plan_ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Vec<Uuid>>> {
    let mut out: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    if plan_ids.is_empty() {
        return Ok(out);
    }
    for pc in plan_channel::Entity::find()
        .filter(plan_channel::Column::PlanId.is_in(plan_ids.iter().copied()))
        .all(db)
        .await?
    {
        out.entry(pc.plan_id).or_default().push(pc.channel_id);
    }
    Ok(out)
}

pub async fn create(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    input: PlanIn,
) -> Result<PlanOut> {
    t.may(Action::ManagePlans)?;
    let p = projects::find(&ctx.db, t, project_id).await?;
    let mut errs = FieldErrors::default();
    let name = errs.check(validate::name("name", &input.name));
    let price = errs.check(validate::price_minor("price_minor", input.price_minor));
    let currency = errs.check(validate::currency("currency", &input.currency));
    let duration = errs.check(validate::duration_days(
        "duration_days",
        input.duration_days,
        input.lifetime,
    ));
    let stars = input
        .price_stars
        .map(|v| errs.check(validate::price_stars("price_stars", v)));
    let trial = input
        .trial_days
        .map(|v| errs.check(validate::trial_days("trial_days", v)));
    let channels = check_channels(&ctx.db, t, p.id, &input.channel_ids, &mut errs).await?;
    errs.finish()?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let plan = plan::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        project_id: Set(p.id),
        name: Set(name.unwrap_or_default()),
        price_minor: Set(price.unwrap_or_default()),
        currency: Set(currency.unwrap_or_default()),
        duration_days: Set(duration.flatten()),
        active: Set(input.active.unwrap_or(true)),
        codes_only: Set(input.codes_only.unwrap_or(false)),
        price_stars: Set(stars.flatten()),
        trial_days: Set(trial.flatten()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    set_channels(&txn, t, plan.id, &channels).await?;
    txn.commit().await?;
    Ok(PlanOut::new(plan, channels))
}

pub async fn list(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<Vec<PlanOut>> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let plans = plan::Entity::find()
        .filter(plan::Column::TenantId.eq(t.tenant_id))
        .filter(plan::Column::ProjectId.eq(p.id))
        .order_by_asc(plan::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let ids: Vec<Uuid> = plans.iter().map(|p| p.id).collect();
    let mut chans = channels_of(&ctx.db, &ids).await?;
    Ok(plans
        .into_iter()
        .map(|p| {
            let c = chans.remove(&p.id).unwrap_or_default();
            PlanOut::new(p, c)
        })
        .collect())
}

pub async fn get(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid, plan_id: Uuid) -> Result<PlanOut> {
    let p = find(&ctx.db, t, project_id, plan_id).await?;
    let c = channels_of(&ctx.db, &[p.id])
        .await?
        .remove(&p.id)
        .unwrap_or_default();
    Ok(PlanOut::new(p, c))
}

pub async fn update(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    plan_id: Uuid,
    patch: PlanPatch,
) -> Result<PlanOut> {
    t.may(Action::ManagePlans)?;
    let p = find(&ctx.db, t, project_id, plan_id).await?;
    let mut errs = FieldErrors::default();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| errs.check(validate::name("name", n)));
    let price = patch
        .price_minor
        .and_then(|v| errs.check(validate::price_minor("price_minor", v)));
    let currency = patch
        .currency
        .as_deref()
        .and_then(|c| errs.check(validate::currency("currency", c)));
    let duration = match (patch.duration_days, patch.lifetime) {
        (None, None) | (None, Some(false)) => None,
        (d, l) => errs.check(validate::duration_days(
            "duration_days",
            d,
            l.unwrap_or(false),
        )),
    };
    let stars = patch
        .price_stars
        .map(|v| v.map(|n| errs.check(validate::price_stars("price_stars", n))));
    let trial = patch
        .trial_days
        .map(|v| v.map(|n| errs.check(validate::trial_days("trial_days", n))));
    let channels = match &patch.channel_ids {
        Some(ids) => Some(check_channels(&ctx.db, t, project_id, ids, &mut errs).await?),
        None => None,
    };
    errs.finish()?;
    let txn = ctx.db.begin().await?;
    let mut am = p.into_active_model();
    if let Some(v) = name {
        am.name = Set(v);
    }
    if let Some(v) = price {
        am.price_minor = Set(v);
    }
    if let Some(v) = currency {
        am.currency = Set(v);
    }
    if let Some(v) = duration {
        am.duration_days = Set(v);
    }
    if let Some(v) = patch.active {
        am.active = Set(v);
    }
    if let Some(v) = patch.codes_only {
        am.codes_only = Set(v);
    }
    if let Some(v) = stars {
        am.price_stars = Set(v.flatten());
    }
    if let Some(v) = trial {
        am.trial_days = Set(v.flatten());
    }
    am.updated_at = Set(ctx.now());
    let plan = am.update(&txn).await?;
    if let Some(ids) = &channels {
        set_channels(&txn, t, plan.id, ids).await?;
    }
    txn.commit().await?;
    // Redemption reads the plan from the per-process cache: every process forgets it now.
    crate::telegram::registry::changed(ctx, plan.id).await;
    let c = channels_of(&ctx.db, &[plan.id])
        .await?
        .remove(&plan.id)
        .unwrap_or_default();
    Ok(PlanOut::new(plan, c))
}
