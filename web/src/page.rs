//! What every page shares: the layout facts (who is signed in, the CSRF token, the
//! suspension banner), error pages, field errors from `domain::Error.fields`, and formatting.
use std::collections::BTreeMap;

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use domain::{
    Error, ErrorKind,
    tenancy::{Action, Role},
    tenants::TenantStatus,
};

use crate::session::{CreatorSession, StaffSession};

/// The facts the base template needs.
pub struct Layout {
    pub title: String,
    pub csrf: String,
    /// `anonymous`, `creator` or `staff`.
    pub who: &'static str,
    pub user: String,
    pub workspace: String,
    pub suspended: bool,
    pub suspended_reason: String,
    pub readonly: bool,
    /// The signed-in creator's role (none for staff and visitors): pages show only what the
    /// role table (`domain::tenancy::Action`) lets it do.
    pub role: Option<Role>,
}

impl Layout {
    /// Whether the signed-in creator's role may do `action` (the domain's table).
    pub fn may(&self, action: Action) -> bool {
        self.role.is_some_and(|r| r.allows(action))
    }

    // One per action the templates ask about (askama calls methods, not paths, most simply).
    pub fn may_projects(&self) -> bool {
        self.may(Action::ManageProjects)
    }
    pub fn may_bots(&self) -> bool {
        self.may(Action::ManageBots)
    }
    pub fn may_plans(&self) -> bool {
        self.may(Action::ManagePlans)
    }
    pub fn may_channels(&self) -> bool {
        self.may(Action::ManageChannels)
    }
    pub fn may_codes(&self) -> bool {
        self.may(Action::ManageCodes)
    }
    pub fn may_subscriptions(&self) -> bool {
        self.may(Action::ManageSubscriptions)
    }
    pub fn may_billing(&self) -> bool {
        self.may(Action::ManageBilling)
    }
    pub fn may_team(&self) -> bool {
        self.may(Action::ManageTeam)
    }

    pub fn anonymous(title: impl Into<String>, csrf: &str) -> Self {
        Layout {
            title: title.into(),
            csrf: csrf.to_string(),
            who: "anonymous",
            user: String::new(),
            workspace: String::new(),
            suspended: false,
            suspended_reason: String::new(),
            readonly: false,
            role: None,
        }
    }

    pub fn creator(title: impl Into<String>, s: &CreatorSession) -> Self {
        Layout {
            title: title.into(),
            csrf: s.csrf.clone(),
            who: "creator",
            user: s.me.email.clone().unwrap_or_default(),
            workspace: s.me.tenant.name.clone(),
            suspended: s.me.tenant.status == TenantStatus::Suspended,
            suspended_reason: s.me.tenant.suspended_reason.clone().unwrap_or_default(),
            readonly: false,
            role: Some(s.t.role),
        }
    }

    pub fn staff(title: impl Into<String>, s: &StaffSession) -> Self {
        Layout {
            title: title.into(),
            csrf: s.csrf.clone(),
            who: "staff",
            user: s.s.email.clone(),
            workspace: String::new(),
            suspended: false,
            suspended_reason: String::new(),
            readonly: s.s.can_act().is_err(),
            role: None,
        }
    }
}

/// Renders a template with a status.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn ok<T: Template>(t: &T) -> Response {
    render(StatusCode::OK, t)
}

/// After a successful form: go to the next page with a GET (303 See Other).
pub fn see_other(to: impl AsRef<str>) -> Response {
    Redirect::to(to.as_ref()).into_response()
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    l: Layout,
    heading: String,
    text: String,
}

/// A page with a heading and one message (errors, refusals).
pub fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    render(
        status,
        &MessagePage {
            l: Layout::anonymous(heading, ""),
            heading: heading.to_string(),
            text: text.to_string(),
        },
    )
}

/// A domain error answered as a page: 404 for another tenant's object, a redirect to the
/// login page for a lost session, 403 with the reason for refusals.
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError(e)
    }
}

pub type WebResult<T = Response> = Result<T, WebError>;

/// The status of an error kind (the mapping is `domain::ErrorKind::http_status`).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let e = self.0;
        match e.kind {
            ErrorKind::Unauthenticated => Redirect::to("/login").into_response(),
            ErrorKind::NotFound => message(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here. It may have been deleted, or the link is wrong.",
            ),
            ErrorKind::Internal | ErrorKind::Unavailable => {
                tracing::error!(error = ?e, "dashboard request failed");
                message(
                    status_of(e.kind),
                    "Something went wrong",
                    "We could not finish that. Please try again in a moment.",
                )
            }
            kind => message(status_of(kind), "That did not work", &e.message),
        }
    }
}

/// Errors of a submitted form: per field (shown next to the input) and for the whole form.
#[derive(Default, Debug)]
pub struct FormErrors {
    pub fields: BTreeMap<String, String>,
    pub general: Option<String>,
    pub status: Option<StatusCode>,
}

impl FormErrors {
    /// Errors a form can show; anything else (not found, lost session, outages) goes to
    /// [`WebError`] instead.
    pub fn from_error(e: Error) -> Result<Self, WebError> {
        match e.kind {
            ErrorKind::Invalid
            | ErrorKind::Conflict
            | ErrorKind::Forbidden
            | ErrorKind::PaymentRequired
            | ErrorKind::RateLimited => {
                let fields: BTreeMap<String, String> = e
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.message.clone()))
                    .collect();
                let general = if fields.is_empty() {
                    Some(e.message.clone())
                } else {
                    Some("Please correct the fields marked below.".to_string())
                };
                Ok(FormErrors {
                    fields,
                    general,
                    status: Some(status_of(e.kind)),
                })
            }
            _ => Err(WebError(e)),
        }
    }

    /// The message for `field`, or an empty string (templates test `has`).
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    /// Fields the form does not show on their own (so no message is lost).
    pub fn others<'a>(&self, shown: impl AsRef<[&'a str]>) -> Vec<String> {
        let shown = shown.as_ref();
        self.fields
            .iter()
            .filter(|(k, _)| !shown.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    }
}

/// `2026-11-21 21:46 UTC`
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// [`when`], or `never` for none.
pub fn when_or(t: &Option<DateTime<Utc>>, none: &str) -> String {
    t.as_ref().map(when).unwrap_or_else(|| none.to_string())
}

/// `USD 0.10`
pub fn money(minor: i64, currency: &str) -> String {
    domain::money::format_with_code(minor, currency)
}

pub fn plan_label(plan: &str) -> &'static str {
    match plan {
        "free" => "Free",
        "starter_monthly" => "Starter (monthly)",
        "starter_annual" => "Starter (annual)",
        "growth_monthly" => "Growth (monthly)",
        "growth_annual" => "Growth (annual)",
        _ => "Unknown plan",
    }
}
