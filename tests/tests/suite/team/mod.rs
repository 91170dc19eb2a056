//! Teammates and roles through the API: invite → accept (new and existing accounts), the
//! one-time link (expired, reused, revoked), roles enforced (`forbidden_role`), the last
//! owner, ownership transfer, removal taking effect at once, and the audit trail.
use chrono::Duration;
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{PASSWORD, batch, monthly_plan, unique_email},
    team::{assert_audited, audit_entry},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

mod leavers;
mod roles;
mod web;

#[tokio::test]
async fn an_invited_member_joins_generates_codes_but_cannot_create_a_plan() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (pid, plan_id) = app.project_with_plan(&owner).await;
    // (Members may not connect bots: the owner does.)
    app.ensure_bot(&owner, &pid).await;
    let email = unique_email("newbie");
    let (s, inv) = app.invite(&owner, &email, "member").await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let token = inv["token"].as_str().unwrap();
    assert!(
        inv["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/invite/{token}")),
        "{inv}"
    );
    assert_eq!(inv["status"], "pending");
    // The link is shown once: the list never carries it.
    let (_, list) = app
        .as_creator(&owner, Method::GET, "/api/v1/team/invites", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(token));
    assert!(list[0].get("token").is_none());

    // Accepting signs up: a new account in the owner's workspace.
    let (s, out) = app.accept_invite(token, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["account_created"], true);
    assert_eq!(out["role"], "member");
    assert_eq!(out["tenant_id"], owner.tenant_id.to_string());
    let member = Creator {
        email: email.clone(),
        tenant_id: owner.tenant_id,
        token: out["token"].as_str().unwrap().to_string(),
    };
    let me = app.me(&member).await;
    assert_eq!(me["role"], "member");
    assert_eq!(me["tenant"]["id"], owner.tenant_id.to_string());
    // The member logs in with the password they chose.
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Members read everything and generate codes...
    let (s, plans) = app
        .as_creator(
            &member,
            Method::GET,
            &format!("/api/v1/projects/{pid}/plans"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(plans.as_array().unwrap().len(), 1);
    let (s, b) = app
        .post_batch(&member, &pid, batch(&plan_id, 2), None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let done = app
        .wait_batch(&member, &pid, b["id"].as_str().unwrap())
        .await;
    assert_eq!(done["status"], "done");
    // ...but may not create a plan: 403 forbidden_role, naming the role needed.
    let r = app
        .as_creator(
            &member,
            Method::POST,
            &format!("/api/v1/projects/{pid}/plans"),
            Some(monthly_plan()),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_role", None);
    assert_eq!(r.1["error"]["details"]["required_role"], "admin");
    assert_eq!(r.1["error"]["details"]["role"], "member");

    // The team shows both, owner first.
    let members = app.team(&owner).await;
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(members[1]["email"], email);
    assert_eq!(members[1]["role"], "member");
    let (_, list) = app
        .as_creator(&owner, Method::GET, "/api/v1/team/invites", None)
        .await;
    assert_eq!(list[0]["status"], "accepted");
}

#[tokio::test]
async fn an_invite_works_once_even_when_accepted_twice_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (_, inv) = app.invite(&owner, &unique_email("twice"), "admin").await;
    let token = inv["token"].as_str().unwrap();
    let (a, b) = tokio::join!(
        app.accept_invite(token, PASSWORD),
        app.accept_invite(token, PASSWORD)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let refused = if a.0 == StatusCode::OK { b } else { a };
    // Either the claim lost (used) or the account it raced to create exists now.
    let code = refused.1["error"]["code"].as_str().unwrap().to_string();
    assert!(
        code == "invite_used" || code == "email_taken",
        "{}",
        refused.1
    );
    // Afterwards the link is simply used.
    let again = app.accept_invite(token, PASSWORD).await;
    assert_error(&again, StatusCode::CONFLICT, "invite_used", None);
    assert_eq!(app.team(&owner).await.len(), 2);
}

#[tokio::test]
async fn expired_revoked_unknown_and_reused_invites_are_refused_with_clear_codes() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    // Reused.
    let (_, used) = app.invite(&owner, &unique_email("used"), "member").await;
    let used = used["token"].as_str().unwrap().to_string();
    assert_eq!(app.accept_invite(&used, PASSWORD).await.0, StatusCode::OK);
    let r = app.accept_invite(&used, PASSWORD).await;
    assert_error(&r, StatusCode::CONFLICT, "invite_used", None);
    // Revoked: owners revoke a pending invite, its link stops working at once.
    let (_, revoked) = app.invite(&owner, &unique_email("revoked"), "admin").await;
    let (s, out) = app
        .as_creator(
            &owner,
            Method::DELETE,
            &format!("/api/v1/team/invites/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "revoked");
    let r = app
        .accept_invite(revoked["token"].as_str().unwrap(), PASSWORD)
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invite_revoked", None);
    let r = app
        .as_creator(
            &owner,
            Method::DELETE,
            &format!("/api/v1/team/invites/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invite_not_pending", None);
    // Unknown.
    let r = app.accept_invite("not-a-real-token", PASSWORD).await;
    assert_error(&r, StatusCode::NOT_FOUND, "invite_not_found", None);
    // Expired: 7 days.
    let email = unique_email("late");
    let (_, late) = app.invite(&owner, &email, "member").await;
    assert!(!late["expires_at"].as_str().unwrap().is_empty());
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    let r = app
        .accept_invite(late["token"].as_str().unwrap(), PASSWORD)
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invite_expired", None);
    // Nothing joined from the refused links, and no account was made for them.
    let owner = app.relogin(&owner).await;
    assert_eq!(app.team(&owner).await.len(), 2);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An expired invite no longer blocks a new one for the same email.
    let (s, _) = app.invite(&owner, &email, "member").await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn invites_are_validated_and_not_duplicated() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let r = app.invite(&owner, "not-an-email", "owner").await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("email"),
    );
    assert_eq!(r.1["error"]["fields"]["role"]["code"], "invalid_role");
    let email = unique_email("dup");
    assert_eq!(
        app.invite(&owner, &email, "member").await.0,
        StatusCode::CREATED
    );
    let r = app.invite(&owner, &email, "admin").await;
    assert_error(&r, StatusCode::CONFLICT, "invite_pending", Some("email"));
    let r = app.invite(&owner, &owner.email, "admin").await;
    assert_error(&r, StatusCode::CONFLICT, "already_member", Some("email"));
    // A short password for a new account is a field error, and the invite stays usable.
    let (_, inv) = app.invite(&owner, &unique_email("short"), "member").await;
    let token = inv["token"].as_str().unwrap();
    let r = app.accept_invite(token, "short").await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("password"),
    );
    assert_eq!(app.accept_invite(token, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once_and_can_rejoin_with_their_account() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (pid, _) = app.project_with_plan(&owner).await;
    let (admin, admin_id) = app.teammate(&owner, "admin").await;
    // The admin's API key works while they are in.
    let (s, key) = app.create_api_key(&admin, "admin's key").await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().unwrap().to_string();
    let get_project = |token: String| {
        let app = &app;
        let path = format!("/api/v1/projects/{pid}");
        async move { app.call(Method::GET, &path, Some(&token), None).await.0 }
    };
    assert_eq!(get_project(admin.token.clone()).await, StatusCode::OK);
    assert_eq!(get_project(secret.clone()).await, StatusCode::OK);

    let (s, body) = app
        .as_creator(
            &owner,
            Method::DELETE,
            &format!("/api/v1/team/members/{admin_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    // The very next request with their session or their key is refused.
    assert_eq!(
        get_project(admin.token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get_project(secret.clone()).await, StatusCode::UNAUTHORIZED);
    // Logging in again does not bring them back.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": admin.email, "password": PASSWORD})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "no_workspace", None);
    assert_eq!(app.team(&owner).await.len(), 1);

    // Invited again, the existing account accepts by logging in (its own password).
    let (_, inv) = app.invite(&owner, &admin.email, "member").await;
    let token = inv["token"].as_str().unwrap();
    let r = app.accept_invite(token, "a wrong password entirely").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    let (s, out) = app.accept_invite(token, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["account_created"], false);
    assert_eq!(out["user_id"], admin_id.as_str());
    assert_eq!(out["role"], "member");
    // The old session works again (same person, same workspace), now as a member; the
    // revoked key stays revoked.
    let me = app.me(&admin).await;
    assert_eq!(me["role"], "member");
    assert_eq!(get_project(secret).await, StatusCode::UNAUTHORIZED);

    let entries = app.audit_trail(owner.tenant_id).await;
    assert_audited(
        &entries,
        &[
            "team.invite_created",
            "team.member_joined",
            "api_key.created",
            "team.member_removed",
        ],
    );
    let removed = audit_entry(&entries, "team.member_removed");
    assert_eq!(removed["target_id"], admin_id.as_str());
    assert_eq!(removed["details"]["api_keys_revoked"], 1);
    assert_eq!(removed["actor"], owner.email.as_str());
}

#[tokio::test]
async fn an_account_of_another_workspace_cannot_accept() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let other = app.signup().await;
    let (_, inv) = app.invite(&owner, &other.email, "admin").await;
    let r = app
        .accept_invite(inv["token"].as_str().unwrap(), PASSWORD)
        .await;
    assert_error(&r, StatusCode::CONFLICT, "account_in_other_workspace", None);
    assert_eq!(app.team(&owner).await.len(), 1);
    assert_eq!(app.team(&other).await.len(), 1);
}

#[tokio::test]
async fn the_last_owner_cannot_leave_or_be_demoted_and_ownership_transfers() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let owner_id = app.my_id(&owner).await;
    let (admin, admin_id) = app.teammate(&owner, "admin").await;
    let (member, member_id) = app.teammate(&owner, "member").await;

    // The only owner can neither leave nor step down.
    let r = app
        .as_creator(
            &owner,
            Method::DELETE,
            &format!("/api/v1/team/members/{owner_id}"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "last_owner", None);
    let r = app
        .as_creator(
            &owner,
            Method::PATCH,
            &format!("/api/v1/team/members/{owner_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "last_owner", None);
    // Admins cannot touch the team.
    let r = app
        .as_creator(
            &admin,
            Method::PATCH,
            &format!("/api/v1/team/members/{member_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_role", None);
    assert_eq!(r.1["error"]["details"]["required_role"], "owner");
    let r = app
        .as_creator(
            &admin,
            Method::POST,
            "/api/v1/team/transfer-ownership",
            Some(json!({"user_id": admin_id})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_role", None);

    // The owner promotes the member to admin, then transfers ownership to the admin.
    let (s, m) = app
        .as_creator(
            &owner,
            Method::PATCH,
            &format!("/api/v1/team/members/{member_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["role"], "admin");
    let (s, t) = app
        .as_creator(
            &owner,
            Method::POST,
            "/api/v1/team/transfer-ownership",
            Some(json!({"user_id": admin_id})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["role"], "owner");
    // Roles apply on the next request: the old owner is an admin now, the new one owns.
    let me = app.me(&owner).await;
    assert_eq!(me["role"], "admin");
    let r = app.invite(&owner, &unique_email("x"), "member").await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_role", None);
    assert_eq!(
        app.invite(&admin, &unique_email("y"), "member").await.0,
        StatusCode::CREATED
    );
    // Now the old owner (an admin) may leave; the new owner still cannot.
    let (s, _) = app
        .as_creator(
            &owner,
            Method::DELETE,
            &format!("/api/v1/team/members/{owner_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = app
        .as_creator(
            &admin,
            Method::DELETE,
            &format!("/api/v1/team/members/{admin_id}"),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "last_owner", None);
    // A member leaves on their own.
    let (s, _) = app
        .as_creator(
            &member,
            Method::DELETE,
            &format!("/api/v1/team/members/{member_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let members = app.team(&admin).await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["role"], "owner");

    let entries = app.audit_trail(owner.tenant_id).await;
    assert_audited(
        &entries,
        &[
            "team.role_changed",
            "team.ownership_transferred",
            "team.member_left",
        ],
    );
    let transfer = audit_entry(&entries, "team.ownership_transferred");
    assert_eq!(transfer["target_id"], admin_id.as_str());
    assert_eq!(transfer["details"]["from_user_id"], owner_id.as_str());
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::spawn_on(backend, Default::default()).await;
        let a = app.signup().await;
        let a_id = app.my_id(&a).await;
        let (b, b_id) = app.teammate(&a, "admin").await;
        let (s, _) = app
            .as_creator(
                &a,
                Method::PATCH,
                &format!("/api/v1/team/members/{b_id}"),
                Some(json!({"role": "owner"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let demote = |c: &Creator, id: &str| {
            let path = format!("/api/v1/team/members/{id}");
            let c = c.clone();
            let app = &app;
            async move {
                app.as_creator(&c, Method::PATCH, &path, Some(json!({"role": "member"})))
                    .await
            }
        };
        let (x, y) = tokio::join!(demote(&a, &b_id), demote(&b, &a_id));
        let mut got = [x.0, y.0];
        got.sort();
        // One wins; the other is refused as the last owner, or by its now-lower role.
        assert_eq!(got[0], StatusCode::OK, "{x:?} {y:?}");
        assert_ne!(got[1], StatusCode::OK, "{x:?} {y:?}");
        let owners = app
            .team(&a)
            .await
            .into_iter()
            .chain(app.team(&b).await)
            .filter(|m| m["role"] == "owner")
            .count();
        // Both lists are the same team; exactly one owner appears in each.
        assert_eq!(owners, 2, "{backend:?}");
    }
}

#[tokio::test]
async fn members_unlink_their_own_owner_link_but_only_admins_unlink_others() {
    let s = gatehouse_tests::factories::BotProject::builder(Backend::Postgres)
        .owner(4100)
        .build()
        .await;
    let (member, _) = s.app.teammate(&s.c, "member").await;
    s.app
        .link_owner(&member, &s.pid, &s.bot, &s.tg, 4200, 900_420)
        .await;
    let (_, list) = s
        .app
        .as_creator(
            &member,
            Method::GET,
            &format!("/api/v1/projects/{}/owners", s.pid),
            None,
        )
        .await;
    let id_of = |tg: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|o| o["telegram_user_id"] == tg)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (owners_link, own_link) = (id_of(4100), id_of(4200));
    let unlink = |c: &Creator, id: &str| {
        let path = format!("/api/v1/projects/{}/owners/{id}", s.pid);
        let c = c.clone();
        let app = &s.app;
        async move { app.as_creator(&c, Method::DELETE, &path, None).await }
    };
    let r = unlink(&member, &owners_link).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_role", None);
    assert_eq!(r.1["error"]["details"]["required_role"], "admin");
    assert_eq!(unlink(&member, &own_link).await.0, StatusCode::NO_CONTENT);
    let (admin, _) = s.app.teammate(&s.c, "admin").await;
    assert_eq!(unlink(&admin, &owners_link).await.0, StatusCode::NO_CONTENT);
}
