//! Linked owner Telegram accounts: who may register channels through the bot, listing and
//! unlinking owners (API and dashboard), and owner commands needing a current member.
use gatehouse_tests::{
    Backend, Creator, TestApp,
    app::assert_error,
    factories::{BotProject, PASSWORD, unique_email},
    telegram::updates,
    web::{assert_contains, assert_lacks, assert_redirect},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

async fn channels(app: &TestApp, c: &Creator, pid: &str) -> Vec<serde_json::Value> {
    app.list_of(c, &format!("/api/v1/projects/{pid}/channels"))
        .await
}

#[tokio::test]
async fn only_a_linked_owner_promoting_the_bot_registers_a_channel() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (pid, bot) = app.project_with_bot(&c, &tg).await;
    app.link_owner(&c, &pid, &bot, &tg, 4242, 900_001).await;

    // A stranger makes the bot admin of their chat: nothing is registered.
    let stranger = updates::my_chat_member_by(
        7777,
        1,
        &bot,
        -100777,
        "channel",
        "Not yours",
        "left",
        "administrator",
    );
    assert_eq!(app.post_update(&bot, &stranger).await, StatusCode::OK);
    app.wait_idle().await;
    assert!(channels(&app, &c, &pid).await.is_empty());

    // The linked owner does the same: the channel is the project's.
    let owner = updates::my_chat_member_by(
        4242,
        2,
        &bot,
        -100424,
        "channel",
        "Ours",
        "left",
        "administrator",
    );
    assert_eq!(app.post_update(&bot, &owner).await, StatusCode::OK);
    app.wait_idle().await;
    let list = channels(&app, &c, &pid).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["telegram_chat_id"], -100424);

    // A stranger cannot bring a channel the bot lost back either; losing rights always counts.
    let left = updates::my_chat_member_by(
        7777,
        3,
        &bot,
        -100424,
        "channel",
        "Ours",
        "administrator",
        "left",
    );
    app.post_update(&bot, &left).await;
    app.wait_idle().await;
    assert_eq!(channels(&app, &c, &pid).await[0]["available"], false);
    let back = updates::my_chat_member_by(
        7777,
        4,
        &bot,
        -100424,
        "channel",
        "Ours",
        "left",
        "administrator",
    );
    app.post_update(&bot, &back).await;
    app.wait_idle().await;
    assert_eq!(channels(&app, &c, &pid).await[0]["available"], false);
}

async fn owners(app: &TestApp, c: &Creator, pid: &str) -> Vec<serde_json::Value> {
    app.list_of(c, &format!("/api/v1/projects/{pid}/owners"))
        .await
}

#[tokio::test]
async fn unlinking_an_owner_applies_at_once_in_every_process() {
    let s = BotProject::builder(Backend::Postgres)
        .owner(99)
        .build()
        .await;
    let list = owners(&s.app, &s.c, &s.pid).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["telegram_user_id"], 99);
    assert_eq!(list[0]["linked_by_email"], s.c.email);
    assert_eq!(list[0]["active"], true);
    let link_id = list[0]["id"].as_str().unwrap().to_string();

    s.say(99, "/codes").await;
    s.reply(99, "Unredeemed").await;
    // Notifications go to the owner's chat (and the project's owners are now cached).
    assert_eq!(
        domain::bots::owner_chat_ids(&s.app.ctx, s.pid.parse().unwrap())
            .await
            .unwrap(),
        vec![99]
    );

    // Another tenant cannot see or unlink it.
    let other = s.app.signup().await;
    let path = format!("/api/v1/projects/{}/owners/{link_id}", s.pid);
    assert_error(
        &s.app.as_creator(&other, Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );

    // Unlinked through another API process (same database, its own caches)...
    let second = TestApp::spawn().await;
    let r = second.as_creator(&s.c, Method::DELETE, &path, None).await;
    assert_eq!(r.0, StatusCode::NO_CONTENT, "{}", r.1);
    // ...the bot's process refuses owner commands on the very next update.
    s.say(99, "/codes").await;
    s.reply(99, "for the project's owners").await;
    assert!(owners(&s.app, &s.c, &s.pid).await.is_empty());
    assert!(
        domain::bots::owner_chat_ids(&s.app.ctx, s.pid.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    let audited = entity::audit_entry::Entity::find()
        .filter(entity::audit_entry::Column::Action.eq("owner.unlinked"))
        .filter(entity::audit_entry::Column::TargetId.eq(link_id.clone()))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(audited, 1);
    // Gone is gone.
    assert_error(
        &s.app.as_creator(&s.c, Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
}

#[tokio::test]
async fn owners_are_listed_and_unlinked_on_the_dashboard() {
    let s = BotProject::builder(Backend::Postgres)
        .owner(314)
        .build()
        .await;
    let mut w = s.app.web_login(&s.c.email).await;
    let page = w.get(&format!("/projects/{}", s.pid)).await;
    assert_contains(&page.body, "Linked owner Telegram accounts");
    assert_contains(&page.body, "<code>314</code>");
    let link_id = owners(&s.app, &s.c, &s.pid).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .post_form(&format!("/projects/{}/owners/{link_id}/unlink", s.pid), &[])
        .await;
    assert_redirect(&r, &format!("/projects/{}#bot", s.pid));
    let page = w.get(&format!("/projects/{}", s.pid)).await;
    assert_lacks(&page.body, "<code>314</code>");
    s.say(314, "/codes").await;
    s.reply(314, "for the project's owners").await;
}

#[tokio::test]
async fn owner_commands_need_a_current_member_behind_the_link() {
    let s = BotProject::builder(Backend::Postgres).build().await;
    // A second member of the workspace makes the owner link...
    let email = unique_email("member");
    let member_id = Uuid::now_v7();
    entity::user::ActiveModel {
        id: Set(member_id),
        tenant_id: Set(Some(s.c.tenant_id)),
        email: Set(email.clone()),
        password_hash: Set(domain::accounts::hash_password(&s.app.ctx, PASSWORD)
            .await
            .unwrap()),
        role: Set(entity::user::UserRole::Admin),
        created_at: Set(s.app.ctx.now()),
    }
    .insert(&s.app.ctx.db)
    .await
    .unwrap();
    let member = s
        .app
        .relogin(&Creator {
            email,
            tenant_id: s.c.tenant_id,
            token: String::new(),
        })
        .await;
    s.app
        .link_owner(&member, &s.pid, &s.bot, &s.tg, 55, 900_055)
        .await;
    s.say(55, "/codes").await;
    s.reply(55, "Unredeemed").await;

    // ...then leaves it: the link grants nothing, with no fallback to acting as the tenant.
    entity::user::Entity::delete_by_id(member_id)
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    s.say(55, "/codes").await;
    s.reply(55, "for the project's owners").await;
    s.say(55, "/newcode").await;
    s.replies(55, "for the project's owners", 2).await;
    let list = owners(&s.app, &s.c, &s.pid).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["active"], false);
    // The tenant's owner can still clear it.
    let id = list[0]["id"].as_str().unwrap();
    let r = s
        .app
        .as_creator(
            &s.c,
            Method::DELETE,
            &format!("/api/v1/projects/{}/owners/{id}", s.pid),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn api_keys_cannot_make_owner_links() {
    let s = BotProject::builder(Backend::Sqlite).build().await;
    let (_, key) = s
        .app
        .as_creator(
            &s.c,
            Method::POST,
            "/api/v1/api-keys",
            Some(serde_json::json!({"name": "ci"})),
        )
        .await;
    let r = s
        .app
        .call(
            Method::POST,
            &format!("/api/v1/projects/{}/owner-link", s.pid),
            key["secret"].as_str(),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "owner_link_needs_member", None);
}
