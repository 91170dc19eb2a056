//! Submitted forms as name/value pairs: single values, repeated names (checkbox groups),
//! checkboxes, and numbers with a field error when they do not parse.
use axum::{
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};

use crate::page::{self, FormErrors};

/// An `application/x-www-form-urlencoded` body.
pub struct FormData(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(FormData(v)),
            Err(e) => Err(page::message(
                e.status(),
                "That form could not be read",
                "Go back, reload the page and try again.",
            )
            .into_response()),
        }
    }
}

impl FormData {
    /// The first value of `name`, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }

    /// Every value of `name` (a group of checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// A checkbox: present means ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// An optional whole number; a value that is not one is a field error.
    pub fn int(&self, name: &str, errs: &mut FormErrors) -> Option<i64> {
        let raw = self.get(name);
        if raw.is_empty() {
            return None;
        }
        match raw.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                errs.fields
                    .insert(name.to_string(), "must be a whole number".to_string());
                None
            }
        }
    }
}
