//! Access codes: validation, generation through the worker, idempotency, quota (Free hard cap,
//! paid overage, grants, cycles, frees, concurrency, a lost Redis), listing, CSV, delete,
//! rollback, expiry.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use domain::codes::{ALPHABET, CODE_LEN};
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{assert_field_error, batch, monthly_plan, typed_like_a_person, urlencode},
};
use reqwest::{Method, StatusCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

mod batches;
mod lifecycle;
mod listing;
mod quota;
mod recovery;

async fn codes_in_db(app: &TestApp, tenant: Uuid) -> Vec<entity::access_code::Model> {
    entity::access_code::Entity::find()
        .filter(entity::access_code::Column::TenantId.eq(tenant))
        .all(&app.ctx.db)
        .await
        .unwrap()
}

async fn generate(app: &TestApp, c: &Creator, pid: &str, body: Value) -> String {
    let (s, b) = app.post_batch(c, pid, body, None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    app.wait_batch(c, pid, &id).await;
    id
}

async fn mark_redeemed(app: &TestApp, code_id: &str) {
    let m = entity::access_code::Entity::find_by_id(code_id.parse::<Uuid>().unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut am = m.into_active_model();
    am.activation_count = Set(1);
    am.update(&app.ctx.db).await.unwrap();
}
