//! The one domain error type. Each edge maps it once: HTTP to a status and
//! `{"error":{"code","message","fields"}}`, the bot to a friendly reply, the worker to retry or drop.
use std::collections::BTreeMap;

use serde::Serialize;

/// What kind of failure this is; edges choose their status or reply from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Input failed validation; `fields` says which field and why.
    Invalid,
    /// Missing, or belonging to another tenant (never say which).
    NotFound,
    /// No or bad credentials.
    Unauthenticated,
    /// Authenticated but not allowed (role, suspension).
    Forbidden,
    /// The request clashes with existing state (duplicate, wrong state).
    Conflict,
    /// Too many attempts; `retry_after` seconds says when to try again.
    RateLimited,
    /// The tenant's plan or payment status refuses the action.
    PaymentRequired,
    /// The request body is larger than allowed.
    TooLarge,
    /// A dependency (database, Redis, Telegram, Stripe) failed.
    Unavailable,
    /// A bug or an unexpected infrastructure failure; never shown in detail.
    Internal,
}

/// A field at fault: its stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

/// The facts of one failure; reached through [`Error`]'s `Deref`.
#[derive(Debug)]
pub struct ErrorData {
    pub kind: ErrorKind,
    /// Stable snake_case code clients can match on.
    pub code: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, FieldError>,
    /// Extra machine-readable facts (e.g. how many codes are left).
    pub details: Option<serde_json::Value>,
    pub retry_after: Option<u64>,
    pub source: Option<anyhow::Error>,
}

/// Boxed so `Result<T, Error>` stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct Error(Box<ErrorData>);

impl std::ops::Deref for Error {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    pub fn into_data(self) -> ErrorData {
        *self.0
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorData {
            kind,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            details: None,
            retry_after: None,
            source: None,
        }))
    }

    /// One field is invalid.
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let mut f = FieldErrors::default();
        f.add(field, code, message);
        f.into_error()
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    pub fn rate_limited(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(ErrorKind::RateLimited, code, message);
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(ErrorKind::Internal, "internal", "internal error");
        e.source = Some(err.into());
        e
    }

    pub fn unavailable(code: &'static str, err: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            ErrorKind::Unavailable,
            code,
            "a dependency is unavailable, try again",
        );
        e.source = Some(err.into());
        e
    }

    pub fn with_field(mut self, field: &str) -> Self {
        let fe = FieldError {
            code: self.code,
            message: self.message.clone(),
        };
        self.fields.insert(field.to_string(), fe);
        self
    }

    /// Whether `field` was refused with `code` (a validation error names its fields).
    pub fn field_is(&self, field: &str, code: &str) -> bool {
        self.fields.get(field).is_some_and(|f| f.code == code)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::internal(e)
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(e: sea_orm::TransactionError<Error>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => Error::internal(db),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<crate::tenancy::Denied> for Error {
    fn from(d: crate::tenancy::Denied) -> Self {
        use crate::tenancy::Denied;
        match d {
            Denied::TenantSuspended => Error::forbidden(
                TENANT_SUSPENDED,
                "this workspace is suspended; it can be read but not changed",
            ),
            Denied::Role { required, actual } => Error::forbidden(
                FORBIDDEN_ROLE,
                format!("this needs the {required} role or above; yours is {actual}"),
            )
            .with_details(serde_json::json!({
                "required_role": required.as_str(),
                "role": actual.as_str(),
            })),
            Denied::StaffReadonly => {
                Error::forbidden("staff_readonly", "read-only staff cannot change anything")
            }
        }
    }
}

/// The code of every action refused by the role table (HTTP 403, `details.required_role`).
/// Code of an error that lists the fields at fault (`fields`).
pub const VALIDATION_FAILED: &str = "validation_failed";

pub const FORBIDDEN_ROLE: &str = "forbidden_role";

/// The code of every write refused because the tenant is suspended (HTTP 403).
pub const TENANT_SUSPENDED: &str = "tenant_suspended";

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::unavailable("redis_unavailable", e)
    }
}

/// Collects every invalid field of one input so the caller sees them all at once.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.0.entry(field.to_string()).or_insert(FieldError {
            code,
            message: message.into(),
        });
    }

    /// Records the error of a parse step and hands back its value when it succeeded.
    pub fn check<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                for (k, v) in e.into_data().fields {
                    self.0.entry(k).or_insert(v);
                }
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_error(self) -> Error {
        let message = match self.0.iter().next() {
            Some((field, fe)) if self.0.len() == 1 => format!("{field}: {}", fe.message),
            _ => "some fields are invalid".to_string(),
        };
        let mut e = Error::new(ErrorKind::Invalid, VALIDATION_FAILED, message);
        e.fields = self.0;
        e
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

impl ErrorKind {
    /// The HTTP status the edges (API and dashboard) answer this kind with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 422,
            ErrorKind::NotFound => 404,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::Conflict => 409,
            ErrorKind::RateLimited => 429,
            ErrorKind::PaymentRequired => 402,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}
