//! Tenant-scoped finders, in the manner of svix's `secure_find(org_id)`: every query for a
//! tenant's row starts from [`secure_find`] (or [`secure_find_in`] for a project's rows), so
//! the tenant filter cannot be forgotten, and [`secure_get`] turns "not there" — including
//! "another tenant's" — into the one `not_found` error.
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, Iterable, PrimaryKeyToColumn, QueryFilter, Select,
};
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    tenancy::TenantCtx,
};

/// A table whose rows belong to one tenant.
pub trait Owned: EntityTrait {
    /// What the `not_found` error calls a missing row.
    const NOUN: &'static str;
    fn tenant_column() -> Self::Column;
}

/// A table whose rows belong to one project of a tenant.
pub trait InProject: Owned {
    fn project_column() -> Self::Column;
}

/// The tenant's rows of `E`.
pub fn secure_find<E: Owned>(t: &TenantCtx) -> Select<E> {
    E::find().filter(E::tenant_column().eq(t.tenant_id))
}

/// The rows of `E` in one of the tenant's projects.
pub fn secure_find_in<E: InProject>(t: &TenantCtx, project_id: Uuid) -> Select<E> {
    secure_find::<E>(t).filter(E::project_column().eq(project_id))
}

/// One row of a scoped query by its id, or `not_found`.
pub async fn secure_get<E: Owned>(
    db: &impl ConnectionTrait,
    scope: Select<E>,
    id: Uuid,
) -> Result<E::Model> {
    let pk = E::PrimaryKey::iter()
        .next()
        .expect("every table has a primary key")
        .into_column();
    scope
        .filter(pk.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(E::NOUN))
}

macro_rules! owned {
    ($($table:ident: $noun:literal );* $(;)?) => {
        $(impl Owned for entity::$table::Entity {
            const NOUN: &'static str = $noun;
            fn tenant_column() -> Self::Column {
                entity::$table::Column::TenantId
            }
        })*
    };
}

macro_rules! in_project {
    ($($table:ident),* $(,)?) => {
        $(impl InProject for entity::$table::Entity {
            fn project_column() -> Self::Column {
                entity::$table::Column::ProjectId
            }
        })*
    };
}

owned! {
    project: "project";
    plan: "plan";
    channel: "channel";
    code_batch: "batch";
    access_code: "code";
    bot: "bot";
    subscription: "subscription";
    subscriber: "subscriber";
    owner_link: "owner link";
    api_key: "API key";
    webhook_endpoint: "webhook endpoint";
    webhook_delivery: "webhook delivery";
}

in_project!(
    plan,
    channel,
    code_batch,
    access_code,
    bot,
    subscription,
    subscriber,
    owner_link
);
