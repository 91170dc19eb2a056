//! Team factories: invites and teammates made through the real API (invite, then accept).
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    TestApp,
    factories::{Creator, PASSWORD, unique_email},
};

impl TestApp {
    /// `owner` invites `email` with `role`; status and body (with the one-time `token`).
    pub async fn invite(&self, owner: &Creator, email: &str, role: &str) -> (StatusCode, Value) {
        self.as_creator(
            owner,
            Method::POST,
            "/api/v1/team/invites",
            Some(json!({"email": email, "role": role})),
        )
        .await
    }

    /// Accepts an invite token with a password (public route).
    pub async fn accept_invite(&self, token: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/team/invites/accept",
            None,
            Some(json!({"token": token, "password": password})),
        )
        .await
    }

    /// A new teammate of `owner`'s workspace with `role` (`admin` or `member`), joined through
    /// an invite; their id is in the returned `user_id`.
    pub async fn teammate(&self, owner: &Creator, role: &str) -> (Creator, String) {
        let email = unique_email(role);
        let (s, inv) = self.invite(owner, &email, role).await;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        let (s, out) = self
            .accept_invite(inv["token"].as_str().unwrap(), PASSWORD)
            .await;
        assert_eq!(s, StatusCode::OK, "{out}");
        (
            Creator {
                email,
                tenant_id: owner.tenant_id,
                token: out["token"].as_str().unwrap().to_string(),
            },
            out["user_id"].as_str().unwrap().to_string(),
        )
    }
}
