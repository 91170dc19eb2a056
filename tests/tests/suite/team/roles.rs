//! The role table walked whole: every creator route × every role (owner, admin, member, and
//! an API key, which acts as admin). A route whose action the role may do is never 403; one
//! it may not is 403 `forbidden_role` naming the least role allowed. The route list is
//! checked against the OpenAPI document, so a new creator route fails this test until it
//! has its line here (one line: method, path template, the `Action` it needs, a body).
use std::collections::{BTreeSet, HashMap};

use domain::tenancy::{Action, Role};
use gatehouse_tests::{
    Creator, TestApp,
    factories::{batch, monthly_plan, unique_email},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// One route: method, path template (a parameter's name picks its value from the test's
/// `ids`; the document's own names may differ), the action it needs (`None`: a read,
/// every role may), and its body.
type Route = (Method, &'static str, Option<Action>, Option<Value>);

// One line per route, kept that way on purpose (a new route is one line to add).
#[rustfmt::skip]
fn routes(ids: &HashMap<&'static str, String>) -> Vec<Route> {
    use Action::*;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    const PATCH: Method = Method::PATCH;
    const DELETE: Method = Method::DELETE;
    let plan_id = &ids["plan_id"];
    vec![
        (GET, "/api/v1/me", None, None),
        (POST, "/api/v1/api-keys", Some(ManageApiKeys), Some(json!({"name": "k"}))),
        (GET, "/api/v1/api-keys", None, None),
        (DELETE, "/api/v1/api-keys/{key_id}", Some(ManageApiKeys), None),
        (POST, "/api/v1/projects", Some(ManageProjects), Some(json!({"name": "p"}))),
        (GET, "/api/v1/projects", None, None),
        (GET, "/api/v1/projects/{project_id}", None, None),
        (PATCH, "/api/v1/projects/{project_id}", Some(ManageProjects), Some(json!({"name": "renamed"}))),
        (DELETE, "/api/v1/projects/{spare_project_id}", Some(ManageProjects), None),
        (POST, "/api/v1/projects/{project_id}/channels", Some(ManageChannels), Some(json!({"telegram_chat_id": -100777, "title": "c", "kind": "channel"}))),
        (GET, "/api/v1/projects/{project_id}/channels", None, None),
        (POST, "/api/v1/projects/{project_id}/plans", Some(ManagePlans), Some(monthly_plan())),
        (GET, "/api/v1/projects/{project_id}/plans", None, None),
        (GET, "/api/v1/projects/{project_id}/plans/{plan_id}", None, None),
        (PATCH, "/api/v1/projects/{project_id}/plans/{plan_id}", Some(ManagePlans), Some(json!({"name": "x"}))),
        (POST, "/api/v1/projects/{project_id}/promo-codes", Some(ManagePlans), Some(json!({"percent_off": 10}))),
        (GET, "/api/v1/projects/{project_id}/promo-codes", None, None),
        (POST, "/api/v1/projects/{project_id}/promo-codes/{promo_id}/deactivate", Some(ManagePlans), None),
        (POST, "/api/v1/projects/{project_id}/broadcasts", Some(SendBroadcasts), Some(json!({"text": "Hi", "segment": {"kind": "all"}}))),
        (GET, "/api/v1/projects/{project_id}/broadcasts", None, None),
        (POST, "/api/v1/projects/{project_id}/broadcasts/preview", None, Some(json!({"text": "Hi", "segment": {"kind": "all"}}))),
        (GET, "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}", None, None),
        (POST, "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/send", Some(SendBroadcasts), None),
        (POST, "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/cancel", Some(SendBroadcasts), None),
        (POST, "/api/v1/projects/{project_id}/broadcasts/{broadcast_id}/test", Some(SendBroadcasts), None),
        (POST, "/api/v1/projects/{project_id}/codes/preview", None, Some(json!({"plan_id": plan_id, "quantity": 1}))),
        (POST, "/api/v1/projects/{project_id}/code-batches", Some(GenerateCodes), Some(batch(plan_id, 1))),
        (GET, "/api/v1/projects/{project_id}/code-batches/{batch_id}", None, None),
        (GET, "/api/v1/projects/{project_id}/code-batches/{batch_id}/codes.csv", None, None),
        (GET, "/api/v1/projects/{project_id}/codes", None, None),
        (GET, "/api/v1/projects/{project_id}/codes/export.csv", None, None),
        (DELETE, "/api/v1/projects/{project_id}/codes/{code_id}", Some(ManageCodes), None),
        (POST, "/api/v1/projects/{project_id}/codes/{code_id}/rollback", Some(ManageCodes), None),
        (GET, "/api/v1/projects/{project_id}/subscribers", None, None),
        (GET, "/api/v1/projects/{project_id}/subscriptions", None, None),
        (POST, "/api/v1/projects/{project_id}/subscriptions/{subscription_id}/revoke", Some(ManageSubscriptions), None),
        (PUT, "/api/v1/projects/{project_id}/bot", Some(ManageBots), Some(json!({"token": "not-a-token"}))),
        (GET, "/api/v1/projects/{project_id}/bot", None, None),
        (DELETE, "/api/v1/projects/{project_id}/bot", Some(ManageBots), None),
        (POST, "/api/v1/projects/{project_id}/owner-link", Some(LinkOwnTelegram), None),
        (GET, "/api/v1/projects/{project_id}/owners", None, None),
        // Anyone unlinks their own link; someone else's needs ManageBots, checked once the link
        // is found (a made-up id is 404 for every role; team::members_unlink_their_own_… covers it).
        (DELETE, "/api/v1/projects/{project_id}/owners/{owner_id}", Some(LinkOwnTelegram), None),
        (GET, "/api/v1/projects/{project_id}/payments", None, None),
        (GET, "/api/v1/projects/{project_id}/payments/{payment_id}", None, None),
        (POST, "/api/v1/projects/{project_id}/payments/{payment_id}/refund", Some(ManageSubscriptions), None),
        (GET, "/api/v1/projects/{project_id}/revenue", None, None),
        (POST, "/api/v1/webhooks/endpoints", Some(ManageWebhooks), Some(json!({"url": "https://127.0.0.1/hook", "event_types": ["code.redeemed"]}))),
        (GET, "/api/v1/webhooks/endpoints", None, None),
        (GET, "/api/v1/webhooks/endpoints/{endpoint_id}", None, None),
        (PATCH, "/api/v1/webhooks/endpoints/{endpoint_id}", Some(ManageWebhooks), Some(json!({"enabled": false}))),
        (DELETE, "/api/v1/webhooks/endpoints/{endpoint_id}", Some(ManageWebhooks), None),
        (GET, "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", None, None),
        (GET, "/api/v1/webhooks/endpoints/{endpoint_id}/attempts", None, None),
        (POST, "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", Some(ManageWebhooks), None),
        (GET, "/api/v1/billing", None, None),
        (POST, "/api/v1/billing/checkout", Some(ManageBilling), Some(json!({"plan": "starter_monthly"}))),
        (POST, "/api/v1/billing/portal", Some(ManageBilling), None),
        (GET, "/api/v1/team", None, None),
        (PATCH, "/api/v1/team/members/{user_id}", Some(ManageTeam), Some(json!({"role": "admin"}))),
        (DELETE, "/api/v1/team/members/{user_id}", Some(ManageTeam), None),
        (POST, "/api/v1/team/transfer-ownership", Some(ManageTeam), Some(json!({"user_id": ids["user_id"]}))),
        (POST, "/api/v1/team/invites", Some(ManageTeam), Some(json!({"email": unique_email("walk"), "role": "member"}))),
        (GET, "/api/v1/team/invites", None, None),
        (DELETE, "/api/v1/team/invites/{invite_id}", Some(ManageTeam), None),
    ]
}

/// `/a/{x}/b` → `/a/{}/b`: templates compared without their parameter names.
fn shape(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in template.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

fn fill(template: &str, ids: &HashMap<&'static str, String>) -> String {
    let mut path = template.to_string();
    for (k, v) in ids {
        path = path.replace(&format!("{{{k}}}"), v);
    }
    assert!(
        !path.contains('{'),
        "no value for a parameter of {template}"
    );
    path
}

/// Every creator operation of the OpenAPI document: authenticated, under `/api/v1`, not staff.
async fn documented_creator_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let (s, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/staff") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let public = match op.get("security") {
                None => false,
                Some(reqs) => {
                    let reqs = reqs.as_array().unwrap();
                    reqs.is_empty() || reqs.iter().any(|r| r.as_object().unwrap().is_empty())
                }
            };
            if !public {
                out.insert((method.to_uppercase(), shape(path)));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_creator_route_answers_every_role_as_the_role_table_says() {
    let app = TestApp::spawn().await;
    let owner = app.signup().await;
    let (admin, _) = app.teammate(&owner, "admin").await;
    let (member, _) = app.teammate(&owner, "member").await;
    let (pid, plan_id) = app.project_with_plan(&owner).await;
    let spare = app.create_project_id(&owner).await;
    let (s, b) = app.post_batch(&owner, &pid, batch(&plan_id, 1), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let mut keys = vec![];
    for name in ["acting", "target"] {
        let (s, k) = app
            .as_creator(
                &owner,
                Method::POST,
                "/api/v1/api-keys",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        keys.push(k);
    }
    let (_, invite) = app.invite(&owner, &unique_email("pending"), "member").await;
    let ids: HashMap<&'static str, String> = [
        ("project_id", pid.clone()),
        ("spare_project_id", spare),
        ("plan_id", plan_id.clone()),
        ("batch_id", b["id"].as_str().unwrap().to_string()),
        ("code_id", Uuid::now_v7().to_string()),
        ("subscription_id", Uuid::now_v7().to_string()),
        ("payment_id", Uuid::now_v7().to_string()),
        ("promo_id", Uuid::now_v7().to_string()),
        ("broadcast_id", Uuid::now_v7().to_string()),
        ("endpoint_id", Uuid::now_v7().to_string()),
        ("delivery_id", Uuid::now_v7().to_string()),
        ("key_id", keys[1]["id"].as_str().unwrap().to_string()),
        ("owner_id", Uuid::now_v7().to_string()),
        ("invite_id", invite["id"].as_str().unwrap().to_string()),
        // Nobody's id: the gate answers before the member is looked up.
        ("user_id", Uuid::now_v7().to_string()),
    ]
    .into_iter()
    .collect();
    let api_key = Creator {
        token: keys[0]["secret"].as_str().unwrap().to_string(),
        ..owner.clone()
    };
    let principals = [
        ("member", Role::Member, &member),
        ("admin", Role::Admin, &admin),
        ("api key", Role::Admin, &api_key),
        ("owner", Role::Owner, &owner),
    ];

    let routes = routes(&ids);
    // The list is the document's creator routes, no more and no fewer.
    let listed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|(m, t, _, _)| (m.as_str().to_string(), shape(t)))
        .collect();
    assert_eq!(listed.len(), routes.len(), "a route is listed twice");
    let documented = documented_creator_routes(&app).await;
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "add these routes to the role walk: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&documented).collect();
    assert!(stale.is_empty(), "not in the API any more: {stale:?}");

    let mut walked = 0;
    for (method, template, action, body) in &routes {
        let path = fill(template, &ids);
        for (who, role, c) in &principals {
            let got = app.as_creator(c, method.clone(), &path, body.clone()).await;
            walked += 1;
            match action {
                Some(a) if !role.allows(*a) => {
                    assert_eq!(
                        got.0,
                        StatusCode::FORBIDDEN,
                        "{who}: {method} {template}: {}",
                        got.1
                    );
                    assert_eq!(
                        got.1["error"]["code"], "forbidden_role",
                        "{who}: {method} {template}"
                    );
                    assert_eq!(
                        got.1["error"]["details"]["required_role"],
                        a.min_role().as_str(),
                        "{who}: {method} {template}"
                    );
                }
                // Owner links act as a member, so API keys cannot make them (whatever the role).
                _ if *who == "api key" && template.ends_with("/owner-link") => {
                    assert_eq!(got.1["error"]["code"], "owner_link_needs_member");
                }
                _ => {
                    assert_ne!(
                        got.0,
                        StatusCode::FORBIDDEN,
                        "{who}: {method} {template}: {}",
                        got.1
                    );
                    assert!(
                        got.0 != StatusCode::UNAUTHORIZED && !got.0.is_server_error(),
                        "{who}: {method} {template}: {} {}",
                        got.0,
                        got.1
                    );
                }
            }
        }
    }
    assert_eq!(walked, routes.len() * principals.len());
    // Every action of the table is exercised by some route.
    for a in Action::ALL {
        assert!(routes.iter().any(|r| r.2 == Some(*a)), "{a:?} has no route");
    }
}
