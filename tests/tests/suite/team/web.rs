//! The team pages over HTTP: invite (the link shown once), accept (signup), pending invites
//! (revoke), change role, remove, transfer; pages hide what a role may not do and refuse it
//! cleanly when it is tried anyway.
use gatehouse_tests::{
    TestApp,
    factories::{PASSWORD, unique_email},
    web::{assert_contains, assert_lacks, assert_redirect},
};
use reqwest::{Method, StatusCode};

/// The invite link in the page that created it.
fn invite_url(body: &str) -> String {
    let marker = "id=\"invite-url\" type=\"text\" readonly value=\"";
    let i = body
        .find(marker)
        .unwrap_or_else(|| panic!("no link in {body}"))
        + marker.len();
    body[i..i + body[i..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn an_owner_invites_through_the_dashboard_and_the_invitee_joins_as_a_member() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (pid, _) = app.project_with_plan(&owner).await;
    let mut w = app.web_login(&owner.email).await;
    let page = w.get("/team").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "id=\"invite-link\"");
    assert_contains(&page.body, "id=\"no-invites\"");

    // Bad input comes back next to its field.
    let r = w
        .post_form("/team/invite", &[("email", "nope"), ("role", "member")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&r.body, "id=\"email-error\"");

    let email = unique_email("webmate");
    let r = w
        .post_form("/team/invite", &[("email", &email), ("role", "member")])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = invite_url(&r.body);
    let path = &url[url.find("/invite/").unwrap()..];
    // Shown once: the team page lists the invite but never its link.
    let page = w.get("/team").await;
    assert_contains(&page.body, &email);
    assert_lacks(&page.body, path);

    // The invitee opens the link (no session), chooses a password and lands in the workspace.
    let mut invitee = app.web();
    let accept = invitee.get(path).await;
    assert_eq!(accept.status, StatusCode::OK);
    assert_contains(&accept.body, "Create account and join");
    assert_contains(&accept.body, &email);
    let r = invitee.post_form(path, &[("password", "short")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&r.body, "id=\"password-error\"");
    let r = invitee.post_form(path, &[("password", PASSWORD)]).await;
    assert_redirect(&r, "/projects");
    assert!(r.set_cookies.iter().any(|c| c.starts_with("gh_session=")));
    // A used link says so.
    let again = app.web().get(path).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_contains(&again.body, "used already");

    // As a member: the team page shows no owner controls, plans have no create form, and a
    // forged form post is refused with a page that names the role needed.
    let team = invitee.get("/team").await;
    assert_contains(&team.body, "id=\"my-role\">member");
    assert_lacks(&team.body, "id=\"invite-link\"");
    assert_lacks(&team.body, "Change role");
    assert_contains(&team.body, "id=\"leave-link\"");
    let plans = invitee.get(&format!("/projects/{pid}/plans")).await;
    assert_eq!(plans.status, StatusCode::OK);
    assert_lacks(&plans.body, "Create plan");
    assert_contains(&plans.body, "Admins and owners create and change plans.");
    let billing = invitee.get("/billing").await;
    assert_contains(&billing.body, "Only the workspace's owners");
    let r = invitee
        .post_form(
            &format!("/projects/{pid}/plans"),
            &[
                ("name", "Sneaky"),
                ("price_minor", "100"),
                ("currency", "USD"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_contains(&r.body, "admin role");
    let r = invitee
        .post_form(
            "/team/invite",
            &[("email", &unique_email("x")), ("role", "member")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_contains(&r.body, "owner role");
    let form = invitee.get("/team/invite").await;
    assert_contains(&form.body, "Only the workspace's owners invite teammates.");
    assert_lacks(&form.body, "Create invite link");
    // But members generate codes: the form is there.
    let new = invitee.get(&format!("/projects/{pid}/codes/new")).await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn owners_revoke_invites_change_roles_remove_members_and_transfer_ownership_in_the_dashboard()
{
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (admin, admin_id) = app.teammate(&owner, "admin").await;
    let (member, member_id) = app.teammate(&owner, "member").await;
    let mut w = app.web_login(&owner.email).await;

    // Revoke a pending invite.
    let (_, inv) = app.invite(&owner, &unique_email("pending"), "admin").await;
    let id = inv["id"].as_str().unwrap();
    let page = w.get("/team").await;
    assert_contains(&page.body, &format!("id=\"invite-{id}\""));
    let r = w
        .post_form(&format!("/team/invites/{id}/revoke"), &[])
        .await;
    assert_redirect(&r, "/team?notice=invite_revoked");
    let page = w.get("/team?notice=invite_revoked").await;
    assert_lacks(&page.body, &format!("id=\"invite-{id}\""));
    assert_contains(&page.body, "Invite revoked.");
    let gone = app
        .web()
        .get(&format!("/invite/{}", inv["token"].as_str().unwrap()))
        .await;
    assert_eq!(gone.status, StatusCode::CONFLICT);
    assert_contains(&gone.body, "revoked");

    // Promote the member to admin.
    let r = w
        .post_form(
            &format!("/team/members/{member_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_redirect(&r, "/team?notice=role_changed");
    let me = app.me(&member).await;
    assert_eq!(me["role"], "admin");

    // Remove them after a confirmation page; their sessions (API and dashboard) die at once.
    let mut mw = app.web_login(&member.email).await;
    assert_eq!(mw.get("/projects").await.status, StatusCode::OK);
    let confirm = w.get(&format!("/team/members/{member_id}/remove")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert_contains(&confirm.body, &format!("Remove {}?", member.email));
    let r = w
        .post_form(&format!("/team/members/{member_id}/remove"), &[])
        .await;
    assert_redirect(&r, "/team?notice=removed");
    let (s, _) = app
        .as_creator(&member, Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_redirect(&mw.get("/projects").await, "/login");
    // Logging in to the dashboard again says why it cannot.
    let r = app
        .web()
        .post_form(
            "/login",
            &[("email", &member.email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_contains(&r.body, "no longer belongs to a workspace");

    // The last owner cannot step down: a clear refusal, nothing changed.
    let mut owner_id = String::new();
    let (_, list) = app
        .as_creator(&owner, Method::GET, "/api/v1/team", None)
        .await;
    for m in list.as_array().unwrap() {
        if m["role"] == "owner" {
            owner_id = m["user_id"].as_str().unwrap().to_string();
        }
    }
    let r = w
        .post_form(
            &format!("/team/members/{owner_id}/role"),
            &[("role", "member")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_contains(&r.body, "needs an owner");

    // Transfer ownership to the admin after a confirmation page.
    let confirm = w.get(&format!("/team/members/{admin_id}/transfer")).await;
    assert_contains(&confirm.body, "Transfer ownership");
    let r = w
        .post_form(&format!("/team/members/{admin_id}/transfer"), &[])
        .await;
    assert_redirect(&r, "/team?notice=transferred");
    let page = w.get("/team").await;
    assert_contains(&page.body, "id=\"my-role\">admin");
    assert_lacks(&page.body, "id=\"invite-link\"");
    let mut aw = app.web_login(&admin.email).await;
    let page = aw.get("/team").await;
    assert_contains(&page.body, "id=\"my-role\">owner");
    assert_contains(&page.body, "id=\"invite-link\"");

    // The former owner leaves on their own and is signed out.
    let r = w
        .post_form(&format!("/team/members/{owner_id}/remove"), &[])
        .await;
    assert_redirect(&r, "/login");
    assert_redirect(&w.get("/team").await, "/login");
}
