//! Team factories: invites and teammates made through the real API (invite, then accept).
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    TestApp,
    factories::{Creator, PASSWORD, unique_email},
};

/// The entry of `action` in an audit trail (panics, naming the actions, when it is missing).
pub fn audit_entry<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("{action} missing from {:?}", actions(entries)))
}

/// Asserts the audit trail holds every one of `wanted`.
pub fn assert_audited(entries: &[Value], wanted: &[&str]) {
    for a in wanted {
        audit_entry(entries, a);
    }
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect()
}

impl TestApp {
    /// The tenant's audit trail as staff read it (newest first, up to 200 entries).
    pub async fn audit_trail(&self, tenant: uuid::Uuid) -> Vec<Value> {
        let staff = self.staff(domain::accounts::StaffRole::StaffReadonly).await;
        let (s, page) = self
            .call(
                Method::GET,
                &format!("/api/v1/staff/audit?tenant_id={tenant}&limit=200"),
                Some(&staff.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// The workspace's members as `c` sees them.
    pub async fn team(&self, c: &Creator) -> Vec<Value> {
        let (s, list) = self.as_creator(c, Method::GET, "/api/v1/team", None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        list.as_array().unwrap().clone()
    }

    /// `c`'s user id, from `/api/v1/me`.
    pub async fn my_id(&self, c: &Creator) -> String {
        self.me(c).await["user_id"].as_str().unwrap().to_string()
    }

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
