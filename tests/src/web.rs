//! A small cookie-keeping HTTP client for the dashboard: follows no redirects (tests look at
//! them), remembers `Set-Cookie`, and fills in the CSRF field of forms.
use std::collections::BTreeMap;

use reqwest::{StatusCode, header};

use crate::TestApp;

pub struct WebClient {
    pub base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// One answer: status, `Location` (if any), the raw `Set-Cookie` lines and the body.
#[derive(Debug)]
pub struct WebResponse {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl TestApp {
    /// A fresh browser-like client for the dashboard (no session yet).
    pub fn web(&self) -> WebClient {
        WebClient {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    /// A dashboard client signed in through the login form.
    pub async fn web_login(&self, email: &str) -> WebClient {
        let mut w = self.web();
        let r = w
            .post_form(
                "/login",
                &[("email", email), ("password", crate::factories::PASSWORD)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login failed: {}", r.body);
        w
    }
}

impl WebClient {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> WebResponse {
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                let removal = c.to_ascii_lowercase().contains("max-age=0") || v.is_empty();
                if removal {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        let body = resp.text().await.expect("body");
        WebResponse {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> WebResponse {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(resp).await
    }

    /// The CSRF token of this client (fetched from a page if it has none yet).
    pub async fn csrf(&mut self) -> String {
        if !self.cookies.contains_key("gh_csrf") {
            self.get("/login").await;
        }
        self.cookies.get("gh_csrf").cloned().expect("csrf cookie")
    }

    /// Posts a form with this client's CSRF token added.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> WebResponse {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> WebResponse {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(header::COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .expect("POST");
        self.finish(resp).await
    }
}

/// Asserts that `body` (a page) contains `needle`, showing the page when it does not.
#[track_caller]
pub fn assert_contains(body: &str, needle: &str) {
    assert!(body.contains(needle), "{needle:?} missing from: {body}");
}

/// Asserts that `body` (a page) does not contain `needle`, showing the page when it does.
#[track_caller]
pub fn assert_lacks(body: &str, needle: &str) {
    assert!(!body.contains(needle), "{needle:?} present in: {body}");
}

/// Asserts a `303 See Other` to `to`.
#[track_caller]
pub fn assert_redirect(r: &WebResponse, to: &str) {
    assert_eq!(r.status, reqwest::StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some(to), "{}", r.body);
}
