//! Dashboard and staff console over HTTP: login redirects, cookie flags, CSRF refusal, field
//! errors, tenant isolation, the code generation flow (preview, consent, batch, list, CSV,
//! delete, rollback), billing offline, and the staff console's roles and suspension.
use std::collections::HashMap;

use domain::accounts::StaffRole;
use gatehouse_tests::{
    Backend, TestApp,
    factories::unique_email,
    web::{WebClient, assert_contains, assert_lacks, assert_redirect},
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The value of `name="<field>" value="…"` in a page (hidden inputs).
fn hidden(body: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let i = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        + marker.len();
    body[i..i + body[i..].find('"').unwrap()].to_string()
}

async fn signup_web(app: &TestApp) -> (WebClient, String) {
    let mut w = app.web();
    let email = unique_email("web");
    let r = w
        .post_form(
            "/signup",
            &[
                ("email", &email),
                ("password", gatehouse_tests::factories::PASSWORD),
                ("workspace", "Web Workspace"),
            ],
        )
        .await;
    assert_redirect(&r, "/projects");
    (w, email)
}

#[tokio::test]
async fn web_pages_redirect_to_login_without_a_session() {
    let app = TestApp::spawn().await;
    let mut w = app.web();
    for path in [
        "/projects",
        "/billing",
        "/staff",
        "/staff/audit",
        "/projects/01a2001a-f62f-70dd-805c-bfcc670d66e7/codes",
    ] {
        let r = w.get(path).await;
        assert_redirect(&r, "/login");
    }
    // A forged or expired cookie is no session either.
    w.cookies.insert("gh_session".into(), "not-a-token".into());
    assert_redirect(&w.get("/projects").await, "/login");
    // The front page and the login page are public.
    w.cookies.remove("gh_session");
    assert_eq!(w.get("/").await.status, StatusCode::OK);
    let login = w.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_contains(&login.body, "<label for=\"email\">");
    let css = w.get("/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
}

#[tokio::test]
async fn web_signup_sets_a_safe_session_cookie_and_logout_ends_it() {
    let app = TestApp::spawn().await;
    let mut w = app.web();
    let email = unique_email("web");
    let r = w
        .post_form(
            "/signup",
            &[
                ("email", &email),
                ("password", gatehouse_tests::factories::PASSWORD),
                ("workspace", "Cookie Co"),
            ],
        )
        .await;
    assert_redirect(&r, "/projects");
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gh_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain http must not mark it Secure: {session}"
    );
    let page = w.get("/projects").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "Cookie Co");
    assert!(
        page.body.contains("No projects yet"),
        "empty state: {}",
        page.body
    );

    let out = w.post_form("/logout", &[]).await;
    assert_redirect(&out, "/login");
    assert_redirect(&w.get("/projects").await, "/login");

    // Logging in again through the form works; a wrong password is refused on the page.
    let bad = w
        .post_form(
            "/login",
            &[("email", &email), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_contains(&bad.body, "do not match");
    let mut again = app.web_login(&email).await;
    assert_eq!(again.get("/projects").await.status, StatusCode::OK);
}

#[tokio::test]
async fn web_session_cookie_is_secure_behind_https() {
    let app = TestApp::spawn_on(
        Backend::Postgres,
        HashMap::from([("PUBLIC_URL".into(), "https://gatehouse.example".into())]),
    )
    .await;
    let c = app.signup().await;
    let mut w = app.web();
    let r = w
        .post_form(
            "/login",
            &[
                ("email", &c.email),
                ("password", gatehouse_tests::factories::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gh_session="))
        .expect("session cookie");
    assert!(session.contains("Secure"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");
}

#[tokio::test]
async fn web_post_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let mut w = app.web_login(&c.email).await;
    // No token at all.
    let r = w.post_raw("/projects", &[("name", "Forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // A token that is not this browser's.
    let r = w
        .post_raw(
            "/projects",
            &[("csrf", &"ab".repeat(32)), ("name", "Forged")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Login and logout forms are protected too.
    let mut fresh = app.web();
    fresh.get("/login").await;
    let r = fresh
        .post_raw(
            "/login",
            &[
                ("email", &c.email),
                ("password", gatehouse_tests::factories::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing was created.
    let (_, list) = app
        .as_creator(&c, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    // With the token the same form works.
    let r = w.post_form("/projects", &[("name", "Real")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, list) = app
        .as_creator(&c, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn web_errors_are_shown_next_to_their_fields() {
    let app = TestApp::spawn().await;
    let mut w = app.web();
    let r = w
        .post_form(
            "/signup",
            &[
                ("email", "not-an-email"),
                ("password", "short"),
                ("workspace", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["email", "password", "workspace"] {
        assert!(
            r.body.contains(&format!("id=\"{f}-error\"")),
            "{f} error missing: {}",
            r.body
        );
    }
    assert!(r.body.contains("aria-invalid=\"true\""));
    // What was typed comes back (except the password).
    assert!(r.body.contains("value=\"not-an-email\""));

    let (mut w, _) = signup_web(&app).await;
    let r = w.post_form("/projects", &[("name", "Club")]).await;
    let pid = r.location.unwrap().rsplit('/').next().unwrap().to_string();
    let r = w
        .post_form(
            &format!("/projects/{pid}/plans"),
            &[
                ("name", "Gold"),
                ("price_minor", "100"),
                ("currency", "XXQ"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, "id=\"currency-error\"");
    assert!(
        r.body.contains("value=\"Gold\""),
        "typed values kept: {}",
        r.body
    );
}

#[tokio::test]
async fn web_another_tenants_project_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&owner).await;
    let (mut other, _) = signup_web(&app).await;
    for path in [
        format!("/projects/{pid}"),
        format!("/projects/{pid}/plans"),
        format!("/projects/{pid}/plans/{plan_id}"),
        format!("/projects/{pid}/channels"),
        format!("/projects/{pid}/codes"),
        format!("/projects/{pid}/codes/new"),
        format!("/projects/{pid}/codes/export.csv"),
    ] {
        let r = other.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = other
        .post_form(
            &format!("/projects/{pid}/settings"),
            &[("name", "Mine now")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = other
        .post_form(
            &format!("/projects/{pid}/plans/{plan_id}/active"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (_, p) = app
        .as_creator(
            &owner,
            Method::GET,
            &format!("/api/v1/projects/{pid}"),
            None,
        )
        .await;
    assert_ne!(p["name"], "Mine now");
    let (_, plan) = app
        .as_creator(
            &owner,
            Method::GET,
            &format!("/api/v1/projects/{pid}/plans"),
            None,
        )
        .await;
    assert_eq!(plan[0]["active"], true);
    // And the owner sees it.
    let mut mine = app.web_login(&owner.email).await;
    assert_eq!(
        mine.get(&format!("/projects/{pid}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn web_projects_plans_and_channels_are_managed_from_the_pages() {
    let app = TestApp::spawn().await;
    let (mut w, _) = signup_web(&app).await;
    let r = w.post_form("/projects", &[("name", "Book Club")]).await;
    let loc = r.location.clone().unwrap();
    let pid = loc.rsplit('/').next().unwrap().to_string();
    let overview = w.get(&loc).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.body.contains("id=\"bot\""),
        "bot placeholder: {}",
        overview.body
    );
    assert_contains(&overview.body, "No bot connected yet.");
    assert_contains(&overview.body, "No plans yet");

    let r = w
        .post_form(
            &format!("/projects/{pid}/channels"),
            &[
                ("title", "Readers"),
                ("telegram_chat_id", "-100123"),
                ("kind", "channel"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let chans = w.get(&format!("/projects/{pid}/plans")).await.body;
    let chan_id = hidden(&chans, "channel_ids");
    let r = w
        .post_form(
            &format!("/projects/{pid}/plans"),
            &[
                ("name", "Monthly"),
                ("price_minor", "999"),
                ("currency", "USD"),
                ("duration_days", "30"),
                ("channel_ids", &chan_id),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = w.get(&format!("/projects/{pid}/plans")).await.body;
    assert!(
        page.contains("USD 9.99") && page.contains("Readers"),
        "{page}"
    );
    let plan_id = {
        let m = format!("/projects/{pid}/plans/");
        let i = page.find(&m).unwrap() + m.len();
        page[i..i + 36].to_string()
    };
    // Deactivate, then edit, then activate again.
    let r = w
        .post_form(
            &format!("/projects/{pid}/plans/{plan_id}/active"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        w.get(&format!("/projects/{pid}/plans"))
            .await
            .body
            .contains("inactive")
    );
    let r = w
        .post_form(
            &format!("/projects/{pid}/plans/{plan_id}"),
            &[
                ("name", "Yearly"),
                ("price_minor", "9900"),
                ("currency", "EUR"),
                ("duration_days", ""),
                ("lifetime", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = w.get(&format!("/projects/{pid}/plans")).await.body;
    assert!(
        page.contains("Yearly") && page.contains("EUR 99.00") && page.contains("Lifetime"),
        "{page}"
    );
    // Settings.
    let r = w
        .post_form(
            &format!("/projects/{pid}/settings"),
            &[
                ("name", "Book Club"),
                ("welcome_message", "Hi readers"),
                ("access_codes_enabled", "1"),
                ("unused_code_ttl_days", "14"),
            ],
        )
        .await;
    assert_redirect(&r, &format!("/projects/{pid}?saved=1"));
    let page = w.get(&format!("/projects/{pid}?saved=1")).await.body;
    assert!(
        page.contains("Settings saved")
            && page.contains("value=\"14\"")
            && page.contains("Hi readers"),
        "{page}"
    );
    let r = w
        .post_form(
            &format!("/projects/{pid}/settings"),
            &[("name", "Book Club"), ("unused_code_ttl_days", "soon")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&r.body, "id=\"ttl-error\"");
    // How long expired codes stay listed: shown (30 by default), saved, refused when wrong.
    let page = w.get(&format!("/projects/{pid}")).await.body;
    assert_contains(
        &page,
        "name=\"expired_code_retention_days\" type=\"number\" min=\"1\" value=\"30\"",
    );
    let r = w
        .post_form(
            &format!("/projects/{pid}/settings"),
            &[("name", "Book Club"), ("expired_code_retention_days", "45")],
        )
        .await;
    assert_redirect(&r, &format!("/projects/{pid}?saved=1"));
    let page = w.get(&format!("/projects/{pid}")).await.body;
    assert_contains(&page, "min=\"1\" value=\"45\"");
    let r = w
        .post_form(
            &format!("/projects/{pid}/settings"),
            &[("name", "Book Club"), ("expired_code_retention_days", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&r.body, "id=\"retention-error\"");
}

#[tokio::test]
async fn web_expired_codes_stay_under_the_expired_filter_until_purged() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&c).await;
    let mut body = gatehouse_tests::factories::batch(&plan_id, 1);
    body["expiry"] = serde_json::json!({"days": 1});
    let (st, b) = app.post_batch(&c, &pid, body, None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    app.wait_batch(&c, &pid, b["id"].as_str().unwrap()).await;
    let code = app.all_codes(&c, &pid, "").await[0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance(chrono::Duration::days(2));
    domain::codes::expire(&app.ctx).await.unwrap();
    let mut w = app.web_login(&c.email).await;
    let expired = w
        .get(&format!("/projects/{pid}/codes?status=expired"))
        .await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_contains(&expired.body, &code);
    let unredeemed = w
        .get(&format!("/projects/{pid}/codes?status=unredeemed"))
        .await;
    assert_lacks(&unredeemed.body, &code);
    // Still there near the end of the retention (30 days), gone after it.
    app.clock.advance(chrono::Duration::days(29));
    domain::codes::expire(&app.ctx).await.unwrap();
    let mut w = app.web_login(&c.email).await;
    let page = w
        .get(&format!("/projects/{pid}/codes?status=expired"))
        .await;
    assert_contains(&page.body, &code);
    app.clock.advance(chrono::Duration::days(2));
    domain::codes::expire(&app.ctx).await.unwrap();
    let mut w = app.web_login(&c.email).await;
    let page = w
        .get(&format!("/projects/{pid}/codes?status=expired"))
        .await;
    assert_lacks(&page.body, &code);
}

#[tokio::test]
async fn web_codes_preview_consent_batch_list_export_delete_and_rollback() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&c).await;
    app.ensure_bot(&c, &pid).await;
    let mut w = app.web_login(&c.email).await;

    let new = w.get(&format!("/projects/{pid}/codes/new")).await;
    assert_eq!(new.status, StatusCode::OK);
    assert_contains(&new.body, "id=\"free-left\">5<");

    let fields = |q: &'static str| {
        vec![
            ("plan_id", plan_id.clone()),
            ("quantity", q.to_string()),
            ("expiry", "days".to_string()),
            ("expiry_days", "10".to_string()),
            ("max_activations", "1".to_string()),
        ]
    };
    // Too many for the Free plan: the preview says so and offers no confirm button.
    let f6 = fields("6");
    let f6: Vec<(&str, &str)> = f6.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = w
        .post_form(&format!("/projects/{pid}/codes/preview"), &f6)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_contains(&p.body, "more than the free codes left");
    assert!(!p.body.contains("confirm-button"));
    // A bad quantity goes back to the form with the error next to the field.
    let f0 = fields("0");
    let f0: Vec<(&str, &str)> = f0.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = w
        .post_form(&format!("/projects/{pid}/codes/preview"), &f0)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_contains(&p.body, "id=\"quantity-error\"");

    let f3 = fields("3");
    let f3: Vec<(&str, &str)> = f3.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = w
        .post_form(&format!("/projects/{pid}/codes/preview"), &f3)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_contains(&p.body, "id=\"preview-free-left\">5<");
    assert_contains(&p.body, "id=\"preview-free\">3<");
    assert_contains(&p.body, "id=\"preview-overage\">0<");
    let key = hidden(&p.body, "idempotency_key");

    // Confirming without consent is refused next to the checkbox; nothing is generated.
    let mut confirm: Vec<(&str, &str)> = f3.clone();
    confirm.push(("idempotency_key", &key));
    let r = w
        .post_form(&format!("/projects/{pid}/batches"), &confirm)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, "id=\"consent-error\"");
    confirm.push(("consent", "1"));
    let r = w
        .post_form(&format!("/projects/{pid}/batches"), &confirm)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let batch_url = r.location.unwrap();
    // A double submit returns the same batch.
    let again = w
        .post_form(&format!("/projects/{pid}/batches"), &confirm)
        .await;
    assert_eq!(again.location.as_deref(), Some(batch_url.as_str()));
    let batch_id = batch_url.rsplit('/').next().unwrap().to_string();
    app.wait_batch(&c, &pid, &batch_id).await;
    let page = w.get(&batch_url).await;
    assert_contains(&page.body, "data-status=\"done\"");
    assert!(
        !page.body.contains("http-equiv=\"refresh\""),
        "a finished batch stops refreshing"
    );
    assert!(page.body.contains("id=\"download-csv\""));

    let csv = w.get(&format!("{batch_url}/codes.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "Access Code,Plan Name,Join Link,Expires At,Price,Currency,Started On,Ends On"
    );
    assert_eq!(lines.len(), 4, "{}", csv.body);

    // The list, a search, a filter, and the filtered export.
    let list = w.get(&format!("/projects/{pid}/codes")).await;
    assert_eq!(list.status, StatusCode::OK);
    let codes = app.all_codes(&c, &pid, "").await;
    assert_eq!(codes.len(), 3);
    let first: &Value = &codes[0];
    let code = first["code"].as_str().unwrap().to_string();
    let code_id = first["id"].as_str().unwrap().to_string();
    for x in &codes {
        assert!(list.body.contains(x["code"].as_str().unwrap()));
    }
    let search = w
        .get(&format!(
            "/projects/{pid}/codes?q={}",
            &code[..8].to_lowercase()
        ))
        .await;
    assert_contains(&search.body, &code);
    let redeemed = w
        .get(&format!("/projects/{pid}/codes?status=redeemed"))
        .await;
    assert_contains(&redeemed.body, "No codes match");
    let export = w
        .get(&format!(
            "/projects/{pid}/codes/export.csv?status=unredeemed"
        ))
        .await;
    assert_eq!(
        export.body.trim_start_matches('\u{feff}').lines().count(),
        4
    );
    let bad = w
        .get(&format!("/projects/{pid}/codes?expires_after=tomorrow"))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Delete asks first, then deletes.
    let confirm_page = w
        .get(&format!(
            "/projects/{pid}/codes/{code_id}/delete?code={code}"
        ))
        .await;
    assert_contains(&confirm_page.body, &format!("Delete code {code}?"));
    let r = w
        .post_form(&format!("/projects/{pid}/codes/{code_id}/delete"), &[])
        .await;
    assert_redirect(&r, &format!("/projects/{pid}/codes?notice=deleted"));
    assert_eq!(app.all_codes(&c, &pid, "").await.len(), 2);
    // Rollback of another code.
    let other = app.all_codes(&c, &pid, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .post_form(&format!("/projects/{pid}/codes/{other}/rollback"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_contains(&r.body, "rolled back");
    assert_eq!(app.all_codes(&c, &pid, "").await.len(), 1);
    let list = w
        .get(&format!("/projects/{pid}/codes?notice=deleted"))
        .await;
    assert!(list.body.contains("The code was deleted."));
}

#[tokio::test]
async fn web_billing_page_shows_quota_and_offline_billing() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let mut w = app.web_login(&c.email).await;
    let page = w.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "id=\"billing-plan\">Free<");
    assert_contains(&page.body, "0 of 5 free codes used");
    assert_contains(&page.body, "id=\"billing-offline\"");
    // Checkout without Stripe answers on the page, not with a crash or a redirect.
    let r = w
        .post_form("/billing/checkout", &[("plan", "starter_monthly")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_contains(&r.body, "role=\"alert\"");
}

#[tokio::test]
async fn web_staff_console_roles_suspension_and_the_creator_banner() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, _) = app.project_with_plan(&c).await;
    let boss = app.staff(StaffRole::Staff).await;
    let viewer = app.staff(StaffRole::StaffReadonly).await;

    // Creators are kept out of the console; staff are sent to it.
    let mut creator = app.web_login(&c.email).await;
    assert_eq!(creator.get("/staff").await.status, StatusCode::FORBIDDEN);
    let mut ro = app.web_login(&viewer.ctx.email).await;
    assert_redirect(&ro.get("/projects").await, "/staff");

    // Read-only staff see the tenant but no action forms, and their POSTs are refused.
    let search = ro.get(&format!("/staff?q={}", c.email)).await;
    assert_contains(&search.body, &format!("/staff/tenants/{}", c.tenant_id));
    let t = ro.get(&format!("/staff/tenants/{}", c.tenant_id)).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_contains(&t.body, "id=\"readonly-note\"");
    assert!(!t.body.contains("suspend-form"));
    for (path, fields) in [
        ("suspend", vec![("reason", "nope")]),
        ("quota-grants", vec![("codes", "10")]),
        ("plan", vec![("plan", "growth_monthly")]),
    ] {
        let r = ro
            .post_form(&format!("/staff/tenants/{}/{path}", c.tenant_id), &fields)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    let me = app.me(&c).await;
    assert_eq!(me["tenant"]["status"], "active");
    assert_eq!(me["tenant"]["billing_plan"], "free");

    // Staff act: a reason is required to suspend (shown next to the field).
    let mut staff = app.web_login(&boss.ctx.email).await;
    let page = staff.get(&format!("/staff/tenants/{}", c.tenant_id)).await;
    assert_contains(&page.body, "suspend-form");
    let r = staff
        .post_form(
            &format!("/staff/tenants/{}/suspend", c.tenant_id),
            &[("reason", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_contains(&r.body, "id=\"suspend-reason-error\"");
    let r = staff
        .post_form(
            &format!("/staff/tenants/{}/suspend", c.tenant_id),
            &[("reason", "Unpaid invoices")],
        )
        .await;
    assert_redirect(
        &r,
        &format!("/staff/tenants/{}?done=suspended", c.tenant_id),
    );
    let r = staff
        .post_form(
            &format!("/staff/tenants/{}/quota-grants", c.tenant_id),
            &[("codes", "25"), ("reason", "goodwill")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = staff
        .post_form(
            &format!("/staff/tenants/{}/plan", c.tenant_id),
            &[("plan", "starter_monthly")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = staff.get(&format!("/staff/tenants/{}", c.tenant_id)).await;
    assert_contains(&page.body, "Starter (monthly)");
    assert_contains(&page.body, "id=\"tenant-free-left\">225<");
    let audit = staff
        .get(&format!("/staff/audit?tenant_id={}", c.tenant_id))
        .await;
    assert_contains(&audit.body, "tenant.suspended");

    // The creator sees the banner with the reason, and writes are refused.
    let page = creator.get("/projects").await;
    assert_contains(&page.body, "id=\"suspended-banner\"");
    assert_contains(&page.body, "Unpaid invoices");
    let r = creator
        .post_form(&format!("/projects/{pid}/settings"), &[("name", "Renamed")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Unsuspending lifts the banner.
    let r = staff
        .post_form(&format!("/staff/tenants/{}/unsuspend", c.tenant_id), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = creator.get("/projects").await;
    assert_lacks(&page.body, "id=\"suspended-banner\"");
}

#[tokio::test]
async fn web_code_list_pages_with_a_cursor_and_custom_dates_expire_at_day_end() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "starter_monthly").await;
    let (pid, plan_id) = app.project_with_plan(&c).await;
    app.ensure_bot(&c, &pid).await;
    let mut w = app.web_login(&c.email).await;
    let date = (app.ctx.now() + chrono::Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    let fields = [
        ("plan_id", plan_id.as_str()),
        ("quantity", "60"),
        ("expiry", "date"),
        ("expiry_date", date.as_str()),
        ("max_activations", "2"),
        ("consent", "1"),
        ("idempotency_key", "web-paging"),
    ];
    let r = w
        .post_form(&format!("/projects/{pid}/batches"), &fields)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let batch_id = r.location.unwrap().rsplit('/').next().unwrap().to_string();
    let b = app.wait_batch(&c, &pid, &batch_id).await;
    assert_eq!(b["codes_expire_at"], format!("{date}T23:59:59Z"), "{b}");
    assert_eq!(b["max_activations"], 2);

    let first = w
        .get(&format!("/projects/{pid}/codes?plan_id={plan_id}"))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.matches("<td class=\"code\">").count(), 50);
    let marker = "id=\"next-page\"";
    assert_contains(&first.body, marker);
    let href_start = first.body.find("Next page").unwrap();
    let before = &first.body[..href_start];
    let h = before.rfind("href=\"").unwrap() + 6;
    let next = before[h..h + before[h..].find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        next.contains(&format!("plan_id={plan_id}")),
        "filters kept: {next}"
    );
    let second = w.get(&next).await;
    assert_eq!(second.body.matches("<td class=\"code\">").count(), 10);
    assert!(!second.body.contains(marker));
    assert!(second.body.contains("First page"));
    // Expiry-window filter on the list: the day before the date has none, the day has all.
    let none = w
        .get(&format!(
            "/projects/{pid}/codes?expires_before={}",
            (app.ctx.now() + chrono::Duration::days(19)).format("%Y-%m-%d")
        ))
        .await;
    assert_contains(&none.body, "No codes match");
    let csv = w
        .get(&format!(
            "/projects/{pid}/codes/export.csv?expires_after={date}&expires_before={date}"
        ))
        .await;
    assert_eq!(csv.body.trim_start_matches('\u{feff}').lines().count(), 61);
}

#[tokio::test]
async fn web_batch_page_refreshes_itself_until_the_batch_is_done() {
    // No worker: the batch stays queued.
    let app = TestApp::spawn_without_worker(Backend::Postgres).await;
    let c = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&c).await;
    let (s, b) = app
        .post_batch(
            &c,
            &pid,
            gatehouse_tests::factories::batch(&plan_id, 2),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let mut w = app.web_login(&c.email).await;
    let page = w
        .get(&format!(
            "/projects/{pid}/batches/{}",
            b["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "http-equiv=\"refresh\"");
    assert_contains(&page.body, "data-status=\"queued\"");
    assert!(!page.body.contains("id=\"download-csv\""));
}

#[tokio::test]
async fn web_billing_upgrade_goes_to_stripe_checkout() {
    let fake = gatehouse_tests::FakeStripe::start().await;
    let app = TestApp::spawn_full(Backend::Sqlite, fake.env(), false).await;
    let c = app.signup().await;
    let mut w = app.web_login(&c.email).await;
    let page = w.get("/billing").await;
    assert_lacks(&page.body, "id=\"billing-offline\"");
    assert_contains(&page.body, "Upgrade to Growth (monthly)");
    let r = w
        .post_form("/billing/checkout", &[("plan", "growth_monthly")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location
            .as_deref()
            .is_some_and(|l| l.starts_with("https://checkout.stripe.com/")),
        "{r:?}"
    );
    assert_eq!(fake.calls_to("POST", "/v1/checkout/sessions").len(), 1);
    // Checkout created the Stripe customer, so the portal opens for it.
    let r = w.post_form("/billing/portal", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location
            .as_deref()
            .is_some_and(|l| l.starts_with("https://billing.stripe.com/")),
        "{r:?}"
    );
}

#[tokio::test]
async fn web_project_and_staff_pages_show_the_connected_bot() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (pid, _) = app.project_with_plan(&c).await;
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let mut w = app.web_login(&c.email).await;
    let page = w.get(&format!("/projects/{pid}")).await;
    assert_contains(
        &page.body,
        &format!("Connected: <strong>@{} (webhook)</strong>", bot.username),
    );
    let boss = app.staff(StaffRole::Staff).await;
    let mut staff = app.web_login(&boss.ctx.email).await;
    let t = staff.get(&format!("/staff/tenants/{}", c.tenant_id)).await;
    assert_contains(&t.body, &format!("@{}", bot.username));
    // Staff find the tenant by the bot's username too.
    let found = staff.get(&format!("/staff?q=@{}", bot.username)).await;
    assert_contains(&found.body, &format!("/staff/tenants/{}", c.tenant_id));
}
