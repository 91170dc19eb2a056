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
        Creator {
            email,
            tenant_id: body["tenant_id"].as_str().unwrap().parse().unwrap(),
            token: body["token"].as_str().unwrap().to_string(),
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
