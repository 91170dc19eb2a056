//! A teammate who leaves takes nothing with them: their owner links stop at once (code
//! batches, also ones an API key asks for, no longer reach their Telegram chat), and the
//! invites they made are revoked — also when they are only demoted.
use gatehouse_tests::{
    Backend, Creator, TestApp,
    factories::{BotProject, batch, unique_email},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MATE_TG: i64 = 7_101;

fn codes_to(s: &BotProject, chat: i64) -> usize {
    s.tg.calls_to(&s.bot.token, "sendMessage")
        .iter()
        .filter(|c| {
            c.params["chat_id"].as_i64() == Some(chat)
                && c.params["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Access code for"))
        })
        .count()
}

async fn invites(s: &BotProject) -> Vec<Value> {
    let (st, b) = s
        .app
        .as_creator(&s.c, Method::GET, "/api/v1/team/invites", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

/// A second owner of the workspace (so they may invite): their creator and user id.
async fn second_owner(s: &BotProject) -> (Creator, String) {
    let (mate, id) = s.app.teammate(&s.c, "admin").await;
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::PATCH,
            &format!("/api/v1/team/members/{id}"),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let mate = s.app.relogin(&mate).await;
    (mate, id)
}

#[tokio::test]
async fn a_removed_teammates_linked_chat_gets_nothing_from_an_api_key_batch() {
    let s = BotProject::builder(Backend::Postgres).build().await;
    let (mate, mate_id) = second_owner(&s).await;
    s.app
        .link_owner(&mate, &s.pid, &s.bot, &s.tg, MATE_TG, s.next_update_id())
        .await;
    let invited = unique_email("invited");
    let (st, inv) = s.app.invite(&mate, &invited, "member").await;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    let invite_token = inv["token"].as_str().unwrap().to_string();
    let (st, key) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{key}");
    let api_key = Creator {
        email: String::new(),
        tenant_id: s.c.tenant_id,
        token: key["secret"].as_str().unwrap().to_string(),
    };

    // While a member, the teammate's linked chat is where an API key's batch goes.
    let (st, b) = s
        .app
        .post_batch(&api_key, &s.pid, batch(&s.plan, 2), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    s.reply(MATE_TG, "Access code for").await;
    for _ in 0..200 {
        if codes_to(&s, MATE_TG) == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(codes_to(&s, MATE_TG), 2);

    // The bot's process has the project's linked owners cached now.
    let pid: uuid::Uuid = s.pid.parse().unwrap();
    assert_eq!(
        domain::bots::owner_chat_ids(&s.app.ctx, pid).await.unwrap(),
        vec![MATE_TG]
    );

    // Removed through another API process (same database, its own caches): the link is gone
    // at once in every process, and the invite they made is revoked.
    let second = TestApp::spawn().await;
    let (st, b) = second
        .as_creator(
            &s.c,
            Method::DELETE,
            &format!("/api/v1/team/members/{mate_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    assert!(
        domain::bots::owner_chat_ids(&s.app.ctx, pid)
            .await
            .unwrap()
            .is_empty()
    );
    s.say(MATE_TG, "/codes").await;
    s.reply(MATE_TG, "for the project's owners").await;
    let (_, owners) = s
        .app
        .as_creator(
            &s.c,
            Method::GET,
            &format!("/api/v1/projects/{}/owners", s.pid),
            None,
        )
        .await;
    assert_eq!(owners.as_array().map(Vec::len), Some(0), "{owners}");
    let inv = invites(&s)
        .await
        .into_iter()
        .find(|i| i["email"] == invited.as_str())
        .expect("the invite");
    assert_eq!(inv["status"], "revoked", "{inv}");
    let (st, b) = s
        .app
        .accept_invite(&invite_token, gatehouse_tests::factories::PASSWORD)
        .await;
    assert_ne!(st, StatusCode::OK, "{b}");

    // The next API-key batch waits for a linked chat; the removed teammate gets nothing.
    let (st, b) = s
        .app
        .post_batch(&api_key, &s.pid, batch(&s.plan, 3), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let done = s
        .app
        .wait_batch(&s.c, &s.pid, b["id"].as_str().unwrap())
        .await;
    assert_eq!(done["delivery"], "waiting_for_linked_chat", "{done}");
    s.app.wait_idle().await;
    assert_eq!(
        codes_to(&s, MATE_TG),
        2,
        "nothing more reached the removed teammate"
    );
}

#[tokio::test]
async fn demoting_an_owner_revokes_the_invites_they_made() {
    let s = BotProject::builder(Backend::Sqlite).build().await;
    let (mate, mate_id) = second_owner(&s).await;
    let invited = unique_email("invited");
    let (st, inv) = s.app.invite(&mate, &invited, "member").await;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    let token = inv["token"].as_str().unwrap().to_string();
    let (st, b) = s
        .app
        .as_creator(
            &s.c,
            Method::PATCH,
            &format!("/api/v1/team/members/{mate_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let listed = invites(&s)
        .await
        .into_iter()
        .find(|i| i["email"] == invited.as_str())
        .expect("the invite");
    assert_eq!(listed["status"], "revoked", "{listed}");
    let (st, b) = s
        .app
        .accept_invite(&token, gatehouse_tests::factories::PASSWORD)
        .await;
    assert_ne!(st, StatusCode::OK, "{b}");
}
