//! `/newcode` through `POST /tg/{bot_id}`: plan → quantity → expiry → preview → confirm, with
//! the state in the database between steps, against the fake Telegram.
use std::time::Duration as StdDuration;

use domain::bots::{Conversation, ExpiryPreset, NewCodeExpiry};
use gatehouse_tests::{
    Backend, Creator, TestApp,
    fake_telegram::FakeTelegram,
    telegram::{ConnectedBot, updates},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

const OWNER: i64 = 4_100;

struct Setup {
    app: TestApp,
    tg: FakeTelegram,
    c: Creator,
    pid: String,
    plan: String,
    bot: ConnectedBot,
    next_update: std::sync::atomic::AtomicI64,
}

async fn setup(billing_plan: Option<&str>) -> Setup {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    if let Some(p) = billing_plan {
        app.set_billing_plan(c.tenant_id, p).await;
    }
    let pid = app.create_project(&c).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = app
        .create_plan(
            &c,
            &pid,
            json!({"name": "Gold", "price_minor": 1500, "currency": "USD", "duration_days": 30}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bot = app.connect_bot(&c, &pid, &tg).await;
    let s = Setup {
        app,
        tg,
        c,
        pid,
        plan,
        bot,
        next_update: std::sync::atomic::AtomicI64::new(1),
    };
    s.link_owner(OWNER).await;
    s
}

impl Setup {
    fn uid(&self) -> i64 {
        self.next_update
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    async fn say(&self, user: i64, text: &str) {
        let s = self
            .app
            .post_update(&self.bot, &updates::message(self.uid(), user, text))
            .await;
        assert_eq!(s, StatusCode::OK);
    }

    async fn press(&self, user: i64, data: &str) {
        let s = self
            .app
            .post_update(
                &self.bot,
                &updates::callback(self.uid(), user, data, &self.bot),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }

    async fn reply(&self, user: i64, needle: &str) -> String {
        self.tg
            .wait_for_text(&self.bot.token, user, needle)
            .await
            .params["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until `n` messages to `user` contain `needle` (updates are handled in the
    /// background, so each step waits for the previous one's answer).
    async fn replies(&self, user: i64, needle: &str, n: usize) {
        for _ in 0..400 {
            if self
                .texts_to(user)
                .iter()
                .filter(|t| t.contains(needle))
                .count()
                >= n
            {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!(
            "no {n} messages containing {needle:?}: {:?}",
            self.texts_to(user)
        );
    }

    fn texts_to(&self, user: i64) -> Vec<String> {
        self.tg
            .calls_to(&self.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(user))
            .map(|c| c.params["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn state(&self, user: i64) -> Option<Conversation> {
        domain::bots::conversation(&self.app.ctx, self.bot.id, user)
            .await
            .unwrap()
    }

    async fn batches(&self) -> Vec<entity::code_batch::Model> {
        entity::code_batch::Entity::find()
            .filter(entity::code_batch::Column::ProjectId.eq(Uuid::parse_str(&self.pid).unwrap()))
            .all(&self.app.ctx.db)
            .await
            .unwrap()
    }

    async fn link_owner(&self, owner_user: i64) {
        let (s, b) = self
            .app
            .as_creator(
                &self.c,
                Method::POST,
                &format!("/api/v1/projects/{}/owner-link", self.pid),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let payload = b["link"]
            .as_str()
            .unwrap()
            .split("?start=")
            .nth(1)
            .unwrap()
            .to_string();
        self.say(owner_user, &format!("/start {payload}")).await;
        self.reply(owner_user, "now an owner").await;
    }

    /// /newcode → plan → quantity; answers the nonce of the preview after `expiry`.
    async fn up_to_preview(&self, quantity: &str, expiry: &str) -> Uuid {
        self.say(OWNER, "/newcode").await;
        self.reply(OWNER, "which plan").await;
        assert_eq!(self.state(OWNER).await, Some(Conversation::NewCodePlan));
        self.press(OWNER, &format!("nc:plan:{}", self.plan)).await;
        self.reply(OWNER, "How many codes").await;
        self.say(OWNER, quantity).await;
        self.reply(OWNER, "expire").await;
        self.press(OWNER, &format!("nc:exp:{expiry}")).await;
        self.reply(OWNER, "Preview").await;
        match self.state(OWNER).await {
            Some(Conversation::NewCodeConfirm { nonce, .. }) => nonce,
            other => panic!("not at the confirm step: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_owner_generates_codes_that_reach_the_linked_chat_and_a_double_confirm_makes_one_batch()
{
    let s = setup(Some("growth_monthly")).await;
    let nonce = s.up_to_preview("3", "1w").await;
    let preview = s.reply(OWNER, "Preview").await;
    assert!(preview.contains("Codes: 3"), "{preview}");
    assert!(
        preview.contains("Free codes left this cycle: 500"),
        "{preview}"
    );
    assert!(preview.contains("Free: 3 · Overage: 0"), "{preview}");
    // Two taps on Confirm.
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "being generated").await;
    let batches = s.batches().await;
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.plan_id.to_string(), s.plan);
    assert_eq!(b.quantity, 3);
    assert_eq!(b.expiry_kind, "1w");
    assert_eq!(s.state(OWNER).await, None);
    // The codes go to the owner's chat, one message each.
    let done = s.app.wait_batch(&s.c, &s.pid, &b.id.to_string()).await;
    let codes = s
        .app
        .all_codes(
            &s.c,
            &s.pid,
            &format!("&batch_id={}", done["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(codes.len(), 3);
    for c in codes {
        s.reply(OWNER, c["code"].as_str().unwrap()).await;
    }
    s.app.wait_idle().await;
    assert_eq!(
        s.texts_to(OWNER)
            .iter()
            .filter(|t| t.contains("being generated"))
            .count(),
        1
    );
}

#[tokio::test]
async fn invalid_quantities_and_days_are_asked_again_and_the_state_lives_in_the_database() {
    let s = setup(Some("growth_monthly")).await;
    s.say(OWNER, "/newcode").await;
    s.reply(OWNER, "which plan").await;
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    s.reply(OWNER, "How many codes").await;
    for (i, bad) in ["zero", "0", "1001", "-3"].into_iter().enumerate() {
        s.say(OWNER, bad).await;
        s.replies(OWNER, "not a number from 1 to 1000", i + 1).await;
    }
    let plan_id = Uuid::parse_str(&s.plan).unwrap();
    assert_eq!(
        s.state(OWNER).await,
        Some(Conversation::NewCodeQuantity { plan_id })
    );
    // Another process continues from the stored state: set it directly and carry on.
    domain::bots::set_conversation(
        &s.app.ctx,
        s.bot.id,
        OWNER,
        Conversation::NewCodeExpiry {
            plan_id,
            quantity: 2,
        },
    )
    .await
    .unwrap();
    s.say(OWNER, "forever").await;
    s.reply(OWNER, "number of days from 1 to 36500").await;
    s.say(OWNER, "10").await;
    let preview = s.reply(OWNER, "Preview").await;
    assert!(preview.contains("Codes: 2"), "{preview}");
    assert!(preview.contains("after 10 days"), "{preview}");
    let Some(Conversation::NewCodeConfirm {
        nonce,
        quantity: 2,
        expiry: NewCodeExpiry::Days(10),
        ..
    }) = s.state(OWNER).await
    else {
        panic!("not at the confirm step");
    };
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "being generated").await;
    let b = &s.batches().await[0];
    assert_eq!(
        (b.quantity, b.expiry_kind.as_str(), b.expiry_days),
        (2, "days", Some(10))
    );
    // /cancel ends a conversation.
    s.say(OWNER, "/newcode").await;
    s.replies(OWNER, "which plan", 2).await;
    s.say(OWNER, "/cancel").await;
    s.reply(OWNER, "Cancelled").await;
    assert_eq!(s.state(OWNER).await, None);
    let _ = ExpiryPreset::ALL;
}

#[tokio::test]
async fn a_non_owner_is_refused() {
    let s = setup(Some("growth_monthly")).await;
    s.say(4_200, "/newcode").await;
    s.reply(4_200, "for the project's owners").await;
    assert_eq!(s.state(4_200).await, None);
    s.press(4_200, &format!("nc:plan:{}", s.plan)).await;
    assert_eq!(s.state(4_200).await, None);
    assert!(s.batches().await.is_empty());
}

#[tokio::test]
async fn the_free_plan_quota_is_explained() {
    // Free plan: 5 codes a cycle.
    let s = setup(None).await;
    let nonce = s.up_to_preview("4", "none").await;
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "being generated").await;
    s.say(OWNER, "/newcode").await;
    s.replies(OWNER, "which plan", 2).await;
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    s.replies(OWNER, "How many codes", 2).await;
    s.say(OWNER, "3").await;
    s.replies(OWNER, "expire", 2).await;
    s.press(OWNER, "nc:exp:none").await;
    let text = s.reply(OWNER, "Not generated").await;
    assert!(text.contains("1 free code(s) left"), "{text}");
    assert_eq!(s.state(OWNER).await, None);
    assert_eq!(s.batches().await.len(), 1);
}
