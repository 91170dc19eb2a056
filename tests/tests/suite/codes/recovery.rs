//! Batches that meet failure: a delivery retried after one message went out sends only the
//! rest; a delivery that never gets through ends `failed` with its reason (and its page
//! stops refreshing); a late duplicate generation job never revives a failed batch.
use gatehouse_tests::{factories::BotProject, fake_telegram::Fault};

use super::*;

const OWNER: i64 = 6_120;

async fn project(quick_retries: bool) -> BotProject {
    let b = BotProject::builder(Backend::Postgres)
        .billing_plan("growth_monthly")
        .owner(OWNER);
    let b = if quick_retries {
        b.env("JOB_RETRY_MIN_MS", "10")
            .env("JOB_RETRY_MAX_MS", "40")
    } else {
        b
    };
    b.build().await
}

/// Code messages Telegram accepted for the owner's chat.
fn code_messages(s: &BotProject) -> Vec<String> {
    s.tg.calls_to(&s.bot.token, "sendMessage")
        .into_iter()
        .filter(|c| c.status == 200 && c.params["chat_id"].as_i64() == Some(OWNER))
        .filter_map(|c| c.params["text"].as_str().map(str::to_string))
        .filter(|t| t.starts_with("Access code for"))
        .collect()
}

#[tokio::test]
async fn a_retried_delivery_sends_only_the_codes_not_sent_yet() {
    let s = project(false).await;
    // Each message takes a moment, so the failure can be armed between the first two.
    s.tg.delay("sendMessage", std::time::Duration::from_millis(300));
    let (st, b) = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 3), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    s.reply(OWNER, "Access code for").await;
    s.tg.fail_next(Some("sendMessage"), 1, Fault::Status(400));
    let done = s
        .app
        .wait_batch(&s.c, &s.pid, b["id"].as_str().unwrap())
        .await;
    assert_eq!(done["delivery"], "sent", "{done}");
    s.app.wait_idle().await;
    let sent = code_messages(&s);
    assert_eq!(sent.len(), 3, "each code once: {sent:?}");
    let distinct: HashSet<&String> = sent.iter().collect();
    assert_eq!(distinct.len(), 3, "{sent:?}");
    let refused =
        s.tg.calls_to(&s.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.status != 200)
            .count();
    assert_eq!(refused, 1, "one attempt failed and was retried");
}

#[tokio::test]
async fn a_delivery_that_never_gets_through_ends_failed_with_its_reason() {
    let s = project(true).await;
    s.tg.fail_next(Some("sendDocument"), 100, Fault::Status(400));
    let (st, b) = s
        .app
        .post_batch(&s.c, &s.pid, batch(&s.plan, 30), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_str().unwrap();
    let done = s.app.wait_batch(&s.c, &s.pid, id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["delivery"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .starts_with("delivery failed"),
        "{done}"
    );
    // The codes exist and count; the creator downloads them from the dashboard instead.
    assert_eq!(done["generated"], 30);
    let attempts = s.tg.calls_to(&s.bot.token, "sendDocument").len();
    // Every job attempt was made (the sender itself retries an unknown error in each).
    assert!(attempts >= domain::jobs::MAX_ATTEMPTS, "{attempts} calls");
    let mut w = s.app.web_login(&s.c.email).await;
    let page = w.get(&format!("/projects/{}/batches/{id}", s.pid)).await;
    assert!(
        !page.body.contains("http-equiv=\"refresh\""),
        "a batch whose delivery failed stops refreshing"
    );
}

#[tokio::test]
async fn a_late_duplicate_generation_job_does_not_revive_a_failed_batch() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    let (pid, plan) = app.project_with_plan(&c).await;
    let (st, b) = app.post_batch(&c, &pid, batch(&plan, 3), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let id: Uuid = b["id"].as_str().unwrap().parse().unwrap();
    app.wait_batch(&c, &pid, &id.to_string()).await;
    // Failed as the worker fails a batch after its last attempt…
    entity::code_batch::Entity::update_many()
        .col_expr(
            entity::code_batch::Column::Status,
            sea_orm::sea_query::Expr::value(entity::code_batch::BatchStatus::Generating),
        )
        .filter(entity::code_batch::Column::Id.eq(id))
        .exec(&app.ctx.db)
        .await
        .unwrap();
    domain::batches::give_up(&app.ctx, id, "test: given up")
        .await
        .unwrap();
    // …then a duplicate job arrives late and the worker runs it.
    domain::jobs::push(
        &app.ctx.db,
        &app.ctx,
        domain::jobs::GenerateCodes { batch_id: id },
    )
    .await
    .unwrap();
    app.wait_idle().await;
    let (_, got) = app
        .as_creator(
            &c,
            Method::GET,
            &format!("/api/v1/projects/{pid}/code-batches/{id}"),
            None,
        )
        .await;
    assert_eq!(got["status"], "failed", "{got}");
    assert_eq!(got["generated"], 0, "{got}");
    assert_eq!(app.quota_used(c.tenant_id).await, 0);
}
