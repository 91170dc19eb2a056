//! The per-process cache of the facts every update of a bot reads: its tenant's status, its
//! project, the plans of its codes, and the tenant's webhook endpoints (every grant and
//! redemption asks which endpoints listen, and most tenants have none), and a project's linked
//! owner links (every redemption notifies them, and most projects have none). A leaf, like the bot cache it sits beside, and kept
//! the same way: the database is the truth; a process that changes one of these rows forgets
//! it at once and announces the id on the bot cache's Redis channel
//! ([`crate::telegram::registry::changed`]), and every process drops it as soon as the
//! message arrives; entries are re-read after [`REVALIDATE_AFTER`] in any case (one node
//! without Redis, or a message missed while a listener reconnects).
//!
//! A read that raced an eviction does not put its (possibly older) row back: every eviction
//! moves a generation counter, and a row read before it is returned but not cached.
use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dashmap::DashMap;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::{owner_link, plan, project, tenant, tenant::TenantStatus, webhook_endpoint};

use crate::{
    AppCtx,
    error::{Error, Result},
};

/// How long a cached fact is trusted before it is re-read (the bot cache's interval).
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(60);

enum Fact {
    TenantStatus(TenantStatus),
    Project(Arc<project::Model>),
    Plan(Arc<plan::Model>),
}

static CACHE: LazyLock<DashMap<Uuid, (Fact, Instant)>> = LazyLock::new(DashMap::new);
/// A tenant's webhook endpoints (enabled or not: a disabled one holds its events), by tenant id (beside `CACHE`, whose tenant entry is
/// its status; one eviction of the tenant id drops both).
static ENDPOINTS: LazyLock<DashMap<Uuid, (Endpoints, Instant)>> = LazyLock::new(DashMap::new);

type Endpoints = Arc<Vec<webhook_endpoint::Model>>;
/// A project's linked owner links, by project id (beside `CACHE`'s project row; one eviction
/// of the project id drops both).
static OWNERS: LazyLock<DashMap<Uuid, (OwnerLinks, Instant)>> = LazyLock::new(DashMap::new);

type OwnerLinks = Arc<Vec<owner_link::Model>>;
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Forgets whatever is cached under `id` (a tenant, project or plan id; ids are UUIDs, so
/// one namespace serves all three).
pub fn evict(id: Uuid) {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    CACHE.remove(&id);
    ENDPOINTS.remove(&id);
    OWNERS.remove(&id);
}

/// Forgets everything (after a lost invalidation subscription).
pub fn clear() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    CACHE.clear();
    ENDPOINTS.clear();
    OWNERS.clear();
}

/// Evicted with the bot cache: its invalidation (local and through Redis) is ours.
fn hook(id: Option<Uuid>) {
    match id {
        Some(id) => evict(id),
        None => clear(),
    }
}

fn register() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| crate::telegram::registry::also_evict(hook));
}

fn cached<T>(id: Uuid, pick: impl Fn(&Fact) -> Option<T>) -> Option<T> {
    register();
    let e = CACHE.get(&id)?;
    if e.1.elapsed() >= REVALIDATE_AFTER {
        return None;
    }
    pick(&e.0)
}

fn keep(id: Uuid, generation: u64, fact: Fact) {
    if GENERATION.load(Ordering::SeqCst) == generation {
        CACHE.insert(id, (fact, Instant::now()));
    }
}

/// The tenant's status (active or suspended).
pub async fn tenant_status(ctx: &AppCtx, tenant_id: Uuid) -> Result<TenantStatus> {
    if let Some(s) = cached(tenant_id, |f| match f {
        Fact::TenantStatus(s) => Some(*s),
        _ => None,
    }) {
        return Ok(s);
    }
    let generation = GENERATION.load(Ordering::SeqCst);
    let t = tenant::Entity::find_by_id(tenant_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))?;
    keep(tenant_id, generation, Fact::TenantStatus(t.status));
    Ok(t.status)
}

/// The project row.
pub async fn project(ctx: &AppCtx, project_id: Uuid) -> Result<Arc<project::Model>> {
    if let Some(p) = cached(project_id, |f| match f {
        Fact::Project(p) => Some(p.clone()),
        _ => None,
    }) {
        return Ok(p);
    }
    let generation = GENERATION.load(Ordering::SeqCst);
    let p = Arc::new(
        project::Entity::find_by_id(project_id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| Error::not_found("project"))?,
    );
    keep(project_id, generation, Fact::Project(p.clone()));
    Ok(p)
}

/// The plan row.
pub async fn plan(ctx: &AppCtx, plan_id: Uuid) -> Result<Arc<plan::Model>> {
    if let Some(p) = cached(plan_id, |f| match f {
        Fact::Plan(p) => Some(p.clone()),
        _ => None,
    }) {
        return Ok(p);
    }
    let generation = GENERATION.load(Ordering::SeqCst);
    let p = Arc::new(
        plan::Entity::find_by_id(plan_id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| Error::not_found("plan"))?,
    );
    keep(plan_id, generation, Fact::Plan(p.clone()));
    Ok(p)
}

/// A cached list of rows under `id` in `map`, or `load`ed (and cached unless an eviction
/// happened meanwhile) when missing or older than [`REVALIDATE_AFTER`].
async fn cached_rows<M>(
    map: &DashMap<Uuid, (Arc<Vec<M>>, Instant)>,
    id: Uuid,
    load: impl Future<Output = std::result::Result<Vec<M>, sea_orm::DbErr>>,
) -> Result<Arc<Vec<M>>> {
    register();
    if let Some(e) = map.get(&id)
        && e.1.elapsed() < REVALIDATE_AFTER
    {
        return Ok(e.0.clone());
    }
    let generation = GENERATION.load(Ordering::SeqCst);
    let found = Arc::new(load.await?);
    if GENERATION.load(Ordering::SeqCst) == generation {
        map.insert(id, (found.clone(), Instant::now()));
    }
    Ok(found)
}

/// The tenant's enabled webhook endpoints, read through `db` (the caller's transaction) when
/// not cached. Whoever creates, changes or deletes an endpoint announces the tenant id
/// ([`crate::telegram::registry::changed`]).
pub async fn webhook_endpoints(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Endpoints> {
    let load = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .all(db);
    cached_rows(&ENDPOINTS, tenant_id, load).await
}

/// The project's linked owner links (linked, whether or not a member is still behind them:
/// the caller asks that of the accounts, which are not cached). Whoever links or unlinks an
/// owner announces the project id ([`crate::telegram::registry::changed`]).
pub async fn linked_owners(ctx: &AppCtx, project_id: Uuid) -> Result<OwnerLinks> {
    let load = owner_link::Entity::find()
        .filter(owner_link::Column::ProjectId.eq(project_id))
        .filter(owner_link::Column::LinkedAt.is_not_null())
        .all(&ctx.db);
    cached_rows(&OWNERS, project_id, load).await
}
