//! Factories: a fresh creator (tenant + owner) per test, and their projects, channels, plans.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-up creator: their tenant and a session token.
#[derive(Debug, Clone)]
pub struct Creator {
    pub email: String,
    pub tenant_id: Uuid,
    pub token: String,
}

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", Uuid::new_v4().simple())
}

impl TestApp {
    pub async fn signup(&self) -> Creator {
        let email = unique_email("creator");
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({"email": email, "password": PASSWORD, "workspace": "Test Workspace"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let tenant_id = body["tenant_id"].as_str().unwrap().parse().unwrap();
        self.tenants.lock().expect("tenants").push(tenant_id);
        Creator {
            email,
            tenant_id,
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    /// A fresh session for a creator (after the test clock moved past the old one's expiry).
    pub async fn relogin(&self, c: &Creator) -> Creator {
        let s = domain::accounts::login(&self.ctx, &c.email, PASSWORD)
            .await
            .expect("login");
        Creator {
            token: s.token,
            ..c.clone()
        }
    }

    pub async fn as_creator(
        &self,
        c: &Creator,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&c.token), body).await
    }

    pub async fn create_project(&self, c: &Creator) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                "/api/v1/projects",
                Some(json!({"name": "Inner Circle"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    pub async fn create_channel(&self, c: &Creator, project_id: &str, chat_id: i64) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                &format!("/api/v1/projects/{project_id}/channels"),
                Some(
                    json!({"telegram_chat_id": chat_id, "title": "VIP channel", "kind": "channel"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    pub async fn create_plan(&self, c: &Creator, project_id: &str, body: Value) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                &format!("/api/v1/projects/{project_id}/plans"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }
}

/// A 30-day plan in USD.
pub fn monthly_plan() -> Value {
    json!({"name": "Monthly", "price_minor": 999, "currency": "USD", "duration_days": 30})
}

/// A staff member, created the only way staff can be (the bootstrap command's service).
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub ctx: domain::accounts::StaffCtx,
    pub token: String,
}

impl TestApp {
    pub async fn staff(&self, role: domain::accounts::StaffRole) -> StaffMember {
        let email = unique_email("staff");
        let id = domain::accounts::create_staff(&self.ctx, &email, PASSWORD, role)
            .await
            .expect("staff");
        let token = domain::accounts::login(&self.ctx, &email, PASSWORD)
            .await
            .expect("staff login")
            .token;
        StaffMember {
            ctx: domain::accounts::StaffCtx {
                user_id: id,
                email,
                role,
            },
            token,
        }
    }
}

impl TestApp {
    /// Puts a tenant on a creator plan directly (as billing or a staff override would).
    pub async fn set_billing_plan(&self, tenant_id: Uuid, plan: &str) {
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
        let t = entity::tenant::Entity::find_by_id(tenant_id)
            .one(&self.ctx.db)
            .await
            .unwrap()
            .unwrap();
        let mut am = t.into_active_model();
        am.billing_plan = Set(plan.to_string());
        am.update(&self.ctx.db).await.unwrap();
    }

    /// A project with access codes on, and an active 30-day plan in it.
    pub async fn project_with_plan(&self, c: &Creator) -> (String, String) {
        let p = self.create_project(c).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let plan = self.create_plan(c, &pid, monthly_plan()).await;
        (pid, plan["id"].as_str().unwrap().to_string())
    }

    /// Posts a batch; returns status and body.
    pub async fn post_batch(
        &self,
        c: &Creator,
        pid: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.url(&format!("/api/v1/projects/{pid}/code-batches")))
            .bearer_auth(&c.token)
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.unwrap();
        let s = resp.status();
        (s, resp.json().await.unwrap_or(Value::Null))
    }

    /// Waits (bounded) until the worker has finished a batch, and returns it.
    pub async fn wait_batch(&self, c: &Creator, pid: &str, batch_id: &str) -> Value {
        for _ in 0..600 {
            let (s, b) = self
                .as_creator(
                    c,
                    Method::GET,
                    &format!("/api/v1/projects/{pid}/code-batches/{batch_id}"),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            if b["status"] == "done" || b["status"] == "failed" {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("batch {batch_id} did not finish");
    }

    /// All codes of a project (walking the cursor).
    pub async fn all_codes(&self, c: &Creator, pid: &str, query: &str) -> Vec<Value> {
        let mut out = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/projects/{pid}/codes?limit=100{query}");
            if let Some(cur) = &cursor {
                path.push_str(&format!("&cursor={cur}"));
            }
            let (s, page) = self.as_creator(c, Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(n) => cursor = Some(n.to_string()),
                None => return out,
            }
        }
    }
}

/// A batch body with consent given.
pub fn batch(plan_id: &str, quantity: i64) -> Value {
    serde_json::json!({"plan_id": plan_id, "quantity": quantity, "consent": true})
}
