//! Factories: a fresh creator (tenant + owner) per test, and their projects, channels, plans;
//! batches and codes; a project with a connected bot and a linked owner ([`BotProject`]); an
//! app against the fake Stripe and a subscribed tenant ([`TestApp::subscribed_tenant`]).
use std::{
    collections::HashMap,
    sync::atomic::{AtomicI64, Ordering},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Backend, FakeStripe, TestApp,
    fake_stripe::{self, WEBHOOK_SECRET},
    fake_telegram::FakeTelegram,
    telegram::{ConnectedBot, updates},
};

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-up creator: their tenant and a session token.
#[derive(Debug, Clone)]
pub struct Creator {
    pub email: String,
    pub tenant_id: Uuid,
    pub token: String,
}

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", Uuid::new_v4().simple())
}

impl TestApp {
    pub async fn signup(&self) -> Creator {
        let email = unique_email("creator");
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({"email": email, "password": PASSWORD, "workspace": "Test Workspace"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let tenant_id = body["tenant_id"].as_str().unwrap().parse().unwrap();
        self.tenants.lock().expect("tenants").push(tenant_id);
        Creator {
            email,
            tenant_id,
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    /// A fresh session for a creator (after the test clock moved past the old one's expiry).
    pub async fn relogin(&self, c: &Creator) -> Creator {
        let s = domain::accounts::login(
            &self.ctx,
            &c.email,
            PASSWORD,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("login");
        Creator {
            token: s.token,
            ..c.clone()
        }
    }

    pub async fn as_creator(
        &self,
        c: &Creator,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&c.token), body).await
    }

    pub async fn create_project(&self, c: &Creator) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                "/api/v1/projects",
                Some(json!({"name": "Inner Circle"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    /// A new project of `c`; its id.
    pub async fn create_project_id(&self, c: &Creator) -> String {
        self.create_project(c).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_channel(&self, c: &Creator, project_id: &str, chat_id: i64) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                &format!("/api/v1/projects/{project_id}/channels"),
                Some(
                    json!({"telegram_chat_id": chat_id, "title": "VIP channel", "kind": "channel"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    pub async fn create_plan(&self, c: &Creator, project_id: &str, body: Value) -> Value {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                &format!("/api/v1/projects/{project_id}/plans"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }
}

/// A 30-day plan in USD.
pub fn monthly_plan() -> Value {
    json!({"name": "Monthly", "price_minor": 999, "currency": "USD", "duration_days": 30})
}

/// A staff member, created the only way staff can be (the bootstrap command's service).
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub ctx: domain::accounts::StaffCtx,
    pub token: String,
}

impl TestApp {
    pub async fn staff(&self, role: domain::accounts::StaffRole) -> StaffMember {
        let email = unique_email("staff");
        let id = domain::accounts::create_staff(&self.ctx, &email, PASSWORD, role)
            .await
            .expect("staff");
        let token = domain::accounts::login(
            &self.ctx,
            &email,
            PASSWORD,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("staff login")
        .token;
        StaffMember {
            ctx: domain::accounts::StaffCtx {
                user_id: id,
                email,
                role,
            },
            token,
        }
    }
}

impl TestApp {
    /// The tenant's audit actions, oldest first, read from the database.
    pub async fn audit_actions(&self, tenant: Uuid) -> Vec<String> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::audit_entry::Entity::find()
            .filter(entity::audit_entry::Column::TenantId.eq(tenant))
            .order_by_asc(entity::audit_entry::Column::At)
            .order_by_asc(entity::audit_entry::Column::Id)
            .all(&self.ctx.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Codes used in the tenant's current cycle (free and overage), as the quota counts them.
    pub async fn quota_used(&self, tenant_id: Uuid) -> i64 {
        domain::quota::usage(&self.ctx, tenant_id)
            .await
            .unwrap()
            .used
    }

    /// Puts a tenant on a creator plan directly (as billing or a staff override would).
    pub async fn set_billing_plan(&self, tenant_id: Uuid, plan: &str) {
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
        let t = entity::tenant::Entity::find_by_id(tenant_id)
            .one(&self.ctx.db)
            .await
            .unwrap()
            .unwrap();
        let mut am = t.into_active_model();
        am.billing_plan = Set(plan.to_string());
        am.update(&self.ctx.db).await.unwrap();
    }

    /// A project with access codes on, and an active 30-day plan in it.
    pub async fn project_with_plan(&self, c: &Creator) -> (String, String) {
        let p = self.create_project(c).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let plan = self.create_plan(c, &pid, monthly_plan()).await;
        (pid, plan["id"].as_str().unwrap().to_string())
    }

    /// Posts a batch; returns status and body. A project of `c` without a bot gets one
    /// first (codes need a connected bot), on the app's fake Bot API.
    pub async fn post_batch(
        &self,
        c: &Creator,
        pid: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        self.ensure_bot(c, pid).await;
        let mut req = self
            .http
            .post(self.url(&format!("/api/v1/projects/{pid}/code-batches")))
            .bearer_auth(&c.token)
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.unwrap();
        let s = resp.status();
        (s, resp.json().await.unwrap_or(Value::Null))
    }

    /// Connects a fake bot to `c`'s project `pid` unless it has one (a project that is not
    /// `c`'s is left alone: the call that follows is then refused as it should be).
    pub async fn ensure_bot(&self, c: &Creator, pid: &str) {
        let Some(tg) = &self.tg else { return };
        let (project, _) = self
            .as_creator(c, Method::GET, &format!("/api/v1/projects/{pid}"), None)
            .await;
        if project != StatusCode::OK {
            return;
        }
        let (bot, _) = self
            .as_creator(c, Method::GET, &format!("/api/v1/projects/{pid}/bot"), None)
            .await;
        if bot == StatusCode::NOT_FOUND {
            // As `c`: a role that may not connect bots is refused here, and its batch then
            // answers for itself.
            let fb = tg.add_bot();
            self.as_creator(
                c,
                Method::PUT,
                &format!("/api/v1/projects/{pid}/bot"),
                Some(json!({"token": fb.token})),
            )
            .await;
        }
    }

    /// Waits (bounded) until the worker has finished a batch, and returns it.
    pub async fn wait_batch(&self, c: &Creator, pid: &str, batch_id: &str) -> Value {
        // Generous: the process-level suite runs many processes on few cores.
        for _ in 0..1200 {
            let (s, b) = self
                .as_creator(
                    c,
                    Method::GET,
                    &format!("/api/v1/projects/{pid}/code-batches/{batch_id}"),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            if b["status"] == "done" || b["status"] == "failed" {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("batch {batch_id} did not finish");
    }

    /// All codes of a project (walking the cursor).
    pub async fn all_codes(&self, c: &Creator, pid: &str, query: &str) -> Vec<Value> {
        let mut out = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/projects/{pid}/codes?limit=100{query}");
            if let Some(cur) = &cursor {
                path.push_str(&format!("&cursor={cur}"));
            }
            let (s, page) = self.as_creator(c, Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(n) => cursor = Some(n.to_string()),
                None => return out,
            }
        }
    }
}

/// A batch body with consent given.
pub fn batch(plan_id: &str, quantity: i64) -> Value {
    serde_json::json!({"plan_id": plan_id, "quantity": quantity, "consent": true})
}

/// Percent-encodes a query parameter value (everything but unreserved characters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A code as people type it: lower case (with `zero` for 0 and `l` for 1) and dashes after
/// the 4th and 8th characters.
pub fn typed_like_a_person(code: &str, zero: char) -> String {
    code.chars()
        .enumerate()
        .map(|(i, ch)| {
            let ch = match ch {
                '0' => zero,
                '1' => 'l',
                c => c.to_ascii_lowercase(),
            };
            if i == 4 || i == 8 {
                format!("-{ch}")
            } else {
                ch.to_string()
            }
        })
        .collect()
}

/// Asserts a `validation_failed` error naming `field` with the field's own `code`.
#[track_caller]
pub fn assert_field_error(got: &(StatusCode, Value), field: &str, code: &str, what: &str) {
    crate::app::assert_error(
        got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some(field),
    );
    assert_eq!(got.1["error"]["fields"][field]["code"], code, "{what}");
}

impl TestApp {
    /// Writes a finished batch straight to the database (as if generated in the cycle that
    /// starts at `cycle_start`), for tests about quota and billing that need used units
    /// without generating codes.
    pub async fn insert_done_batch(
        &self,
        c: &Creator,
        project_id: &str,
        plan_id: &str,
        (free, overage): (i32, i32),
        cycle_start: chrono::DateTime<chrono::Utc>,
        delivery: entity::code_batch::DeliveryState,
    ) {
        use sea_orm::{ActiveModelTrait, Set};
        let now = self.ctx.now();
        entity::code_batch::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id),
            project_id: Set(project_id.parse().unwrap()),
            plan_id: Set(plan_id.parse().unwrap()),
            requested_by: Set(None),
            quantity: Set(free + overage),
            expiry_kind: Set("none".into()),
            expiry_days: Set(None),
            codes_expire_at: Set(None),
            max_activations: Set(1),
            status: Set(entity::code_batch::BatchStatus::Done),
            free_count: Set(free),
            overage_count: Set(overage),
            cycle_start: Set(cycle_start),
            idempotency_key: Set(None),
            delivery: Set(delivery),
            error: Set(None),
            delivered_count: Set(0),
            delivery_lease_until: Set(None),
            claimed_by: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.ctx.db)
        .await
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// A project with a connected bot (fake Telegram), a plan, and optionally a channel, a
// creator plan and a linked owner.

/// A project with a plan and a bot connected through the API against a fresh fake Telegram
/// (webhook mode), with helpers to talk to the bot as Telegram users. Build it with
/// [`BotProject::builder`].
pub struct BotProject {
    pub app: TestApp,
    pub tg: FakeTelegram,
    pub c: Creator,
    pub pid: String,
    pub plan: String,
    /// The Telegram chat of the channel the plan grants, when there is one.
    pub channel: Option<i64>,
    pub bot: ConnectedBot,
    next_update: AtomicI64,
}

/// What a [`BotProject`] is made of; every part but the bot is optional.
pub struct BotProjectBuilder {
    backend: Backend,
    billing_plan: Option<String>,
    channel: Option<i64>,
    plan: Value,
    owner: Option<i64>,
    worker: bool,
    env: HashMap<String, String>,
}

/// The plan a [`BotProject`] gets unless told otherwise: "Gold", 15.00 USD for 30 days.
pub fn gold_plan() -> Value {
    json!({"name": "Gold", "price_minor": 1500, "currency": "USD", "duration_days": 30})
}

impl BotProject {
    pub fn builder(backend: Backend) -> BotProjectBuilder {
        BotProjectBuilder {
            backend,
            billing_plan: None,
            channel: None,
            plan: gold_plan(),
            owner: None,
            worker: true,
            env: HashMap::new(),
        }
    }
}

impl BotProjectBuilder {
    /// Puts the creator on a creator plan (e.g. `growth_monthly`) before anything else.
    pub fn billing_plan(mut self, plan: &str) -> Self {
        self.billing_plan = Some(plan.into());
        self
    }

    /// Registers a channel with this chat id, granted by the plan.
    pub fn channel(mut self, chat_id: i64) -> Self {
        self.channel = Some(chat_id);
        self
    }

    /// The plan's body (without `channel_ids`, which the channel adds).
    pub fn plan(mut self, body: Value) -> Self {
        self.plan = body;
        self
    }

    /// Links this Telegram user as an owner through the owner link and `/start`.
    pub fn owner(mut self, telegram_user: i64) -> Self {
        self.owner = Some(telegram_user);
        self
    }

    /// Without the background worker, for tests that drive jobs themselves.
    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    /// An extra setting of the app (e.g. shorter job retries).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub async fn build(self) -> BotProject {
        let (app, tg) =
            TestApp::spawn_with_telegram_env(self.backend, true, self.worker, self.env).await;
        let c = app.signup().await;
        if let Some(p) = &self.billing_plan {
            app.set_billing_plan(c.tenant_id, p).await;
        }
        let pid = app.create_project(&c).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut body = self.plan;
        if let Some(chat) = self.channel {
            let channel = app.create_channel(&c, &pid, chat).await;
            body["channel_ids"] = json!([channel["id"]]);
        }
        let plan = app.create_plan(&c, &pid, body).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let bot = app.connect_bot(&c, &pid, &tg).await;
        let s = BotProject {
            app,
            tg,
            c,
            pid,
            plan,
            channel: self.channel,
            bot,
            next_update: AtomicI64::new(1),
        };
        if let Some(owner) = self.owner {
            s.link_owner(owner).await;
        }
        s
    }
}

impl BotProject {
    /// A fresh update id (1, 2, ...), for tests that do not number updates themselves.
    pub fn next_update_id(&self) -> i64 {
        self.next_update.fetch_add(1, Ordering::SeqCst)
    }

    /// `user` sends `text` to the bot, in an update with the next id.
    pub async fn say(&self, user: i64, text: &str) {
        self.say_as_update(self.next_update_id(), user, text).await;
    }

    /// `user` sends `text` to the bot, in the update `update_id`.
    pub async fn say_as_update(&self, update_id: i64, user: i64, text: &str) {
        let s = self
            .app
            .post_update(&self.bot, &updates::message(update_id, user, text))
            .await;
        assert_eq!(s, StatusCode::OK);
    }

    /// `user` presses an inline button carrying `data`.
    pub async fn press(&self, user: i64, data: &str) {
        let s = self
            .app
            .post_update(
                &self.bot,
                &updates::callback(self.next_update_id(), user, data, &self.bot),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }

    /// Waits for a message to `user` containing `needle`, and returns its text.
    pub async fn reply(&self, user: i64, needle: &str) -> String {
        self.tg
            .wait_for_text(&self.bot.token, user, needle)
            .await
            .params["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits for a message to `user` containing `needle`; returns its text and its URL
    /// buttons as (label, url), row by row (access goes out as "Join <channel>" buttons).
    pub async fn reply_with_buttons(
        &self,
        user: i64,
        needle: &str,
    ) -> (String, Vec<(String, String)>) {
        let call = self.tg.wait_for_text(&self.bot.token, user, needle).await;
        let text = call.params["text"].as_str().unwrap().to_string();
        let mut buttons = vec![];
        if let Some(rows) = call.params["reply_markup"]["inline_keyboard"].as_array() {
            for b in rows
                .iter()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
            {
                if let Some(url) = b["url"].as_str() {
                    buttons.push((b["text"].as_str().unwrap().to_string(), url.to_string()));
                }
            }
        }
        (text, buttons)
    }

    /// Waits (bounded) until `n` messages to `user` contain `needle` (updates are handled in
    /// the background, so each step waits for the previous one's answer).
    pub async fn replies(&self, user: i64, needle: &str, n: usize) {
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
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no {n} messages containing {needle:?}: {:?}",
            self.texts_to(user)
        );
    }

    /// Every text the bot sent to `user`, in order.
    pub fn texts_to(&self, user: i64) -> Vec<String> {
        self.tg
            .calls_to(&self.bot.token, "sendMessage")
            .into_iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(user))
            .map(|c| c.params["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The conversation state stored for `user`.
    pub async fn state(&self, user: i64) -> Option<domain::bots::Conversation> {
        domain::bots::conversation(&self.app.ctx, self.bot.id, user)
            .await
            .unwrap()
    }

    /// Links `owner_user` as an owner: the owner link from the API, then `/start` with it
    /// (as update `900_000 + owner_user`, clear of the ids tests number themselves).
    pub async fn link_owner(&self, owner_user: i64) {
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
        self.say_as_update(
            900_000 + owner_user,
            owner_user,
            &format!("/start {payload}"),
        )
        .await;
        self.reply(owner_user, "now an owner").await;
    }

    /// Generates `n` codes of the plan through the API (`extra` overrides the batch body),
    /// waits for the worker, and returns them.
    pub async fn codes(&self, n: i64, extra: Value) -> Vec<String> {
        let mut body = batch(&self.plan, n);
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        // A fresh session: tests walk the clock past the old one's expiry.
        let c = self.app.relogin(&self.c).await;
        let (s, b) = self.app.post_batch(&c, &self.pid, body, None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let id = b["id"].as_str().unwrap();
        self.app.wait_batch(&c, &self.pid, id).await;
        self.app
            .all_codes(&c, &self.pid, &format!("&batch_id={id}"))
            .await
            .iter()
            .map(|c| c["code"].as_str().unwrap().to_string())
            .collect()
    }

    /// How many audit entries of `action` the tenant has.
    pub async fn audited(&self, action: &str) -> usize {
        let all = self.app.audit_actions(self.c.tenant_id).await;
        all.iter().filter(|a| *a == action).count()
    }

    /// Waits for the bot's `n`-th `method` call and returns every call's parameters so far.
    pub async fn calls(&self, method: &str, n: usize) -> Vec<Value> {
        self.tg
            .wait_for(
                &self.bot.token,
                method,
                n,
                std::time::Duration::from_secs(10),
            )
            .await
            .into_iter()
            .map(|c| c.params)
            .collect()
    }

    /// The project's subscriptions as `GET .../subscriptions` lists them.
    pub async fn subscriptions(&self) -> Vec<Value> {
        let c = self.app.relogin(&self.c).await;
        let (s, b) = self
            .app
            .as_creator(
                &c,
                Method::GET,
                &format!("/api/v1/projects/{}/subscriptions", self.pid),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"].as_array().unwrap().clone()
    }

    /// The project's batches, straight from the database.
    pub async fn batches(&self) -> Vec<entity::code_batch::Model> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::code_batch::Entity::find()
            .filter(entity::code_batch::Column::ProjectId.eq(Uuid::parse_str(&self.pid).unwrap()))
            .all(&self.app.ctx.db)
            .await
            .unwrap()
    }

    /// `user` asks to join the plan's channel through a link that is not theirs (a forwarded
    /// one), as update `update_id`.
    pub async fn join_request(&self, update_id: i64, user: i64) -> StatusCode {
        let bot = self.bot.telegram_id;
        self.join_request_through(update_id, user, Some(bot)).await
    }

    /// `user` asks to join the plan's channel through an invite link made by Telegram user
    /// `link_creator` (None: no link, a public channel's "request to join").
    pub async fn join_request_through(
        &self,
        update_id: i64,
        user: i64,
        link_creator: Option<i64>,
    ) -> StatusCode {
        let channel = self.channel.expect("a BotProject with a channel");
        let upd = json!({
            "update_id": update_id,
            "chat_join_request": {
                "chat": {"id": channel, "title": "VIP channel", "type": "channel"},
                "from": updates::user(user),
                "user_chat_id": user,
                "date": 1_763_700_000,
            }
        });
        let mut upd = upd;
        if let Some(creator) = link_creator {
            upd["chat_join_request"]["invite_link"] = json!({
                "invite_link": "https://t.me/+forwarded",
                "creator": {"id": creator, "is_bot": creator == self.bot.telegram_id, "first_name": "Maker"},
                "creates_join_request": true, "is_primary": false, "is_revoked": false,
            });
        }
        self.app.post_update(&self.bot, &upd).await
    }
}

// ---------------------------------------------------------------------------------------
// Stripe: an app wired to the fake Stripe, signed webhook deliveries, a subscribed tenant.

/// The app against a fresh fake Stripe, without the background worker (billing tests drive
/// the flusher themselves), its clock on a whole second (the database keeps microseconds;
/// whole seconds keep comparisons with Stripe's timestamps exact).
pub async fn stripe_app(backend: Backend) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start().await;
    let app = TestApp::spawn_full(backend, fake.env(), false).await;
    app.start_on_whole_second();
    (app, fake)
}

/// A fresh Stripe event id.
pub fn stripe_event_id() -> String {
    format!("evt_{}", Uuid::new_v4().simple())
}

/// A creator subscribed through Checkout and the fake Stripe: [`TestApp::subscribed_tenant`].
#[derive(Debug, Clone)]
pub struct Subscribed {
    pub c: Creator,
    pub customer: String,
    pub subscription: String,
    /// The period's start and end (Unix seconds).
    pub start: i64,
    pub end: i64,
}

impl TestApp {
    /// Moves the clock to the whole second it is in.
    pub fn start_on_whole_second(&self) {
        let now = self.ctx.now().timestamp();
        self.clock
            .set(chrono::DateTime::from_timestamp(now, 0).unwrap());
    }

    /// `GET path` as `c`, which must answer 200 with a JSON array: its items.
    pub async fn list_of(&self, c: &Creator, path: &str) -> Vec<Value> {
        let (s, b) = self.as_creator(c, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        b.as_array()
            .unwrap_or_else(|| panic!("{path} answers a list: {b}"))
            .clone()
    }

    /// `c`'s `GET /api/v1/me`.
    pub async fn me(&self, c: &Creator) -> Value {
        let (s, me) = self.as_creator(c, Method::GET, "/api/v1/me", None).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        me
    }

    /// `c` creates an API key named `name` (`POST /api/v1/api-keys`).
    pub async fn create_api_key(&self, c: &Creator, name: &str) -> (StatusCode, Value) {
        self.as_creator(
            c,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({ "name": name })),
        )
        .await
    }

    /// `c` asks for a Stripe Checkout of `plan` (`POST /api/v1/billing/checkout`).
    pub async fn checkout(&self, c: &Creator, plan: &str) -> (StatusCode, Value) {
        self.as_creator(
            c,
            Method::POST,
            "/api/v1/billing/checkout",
            Some(json!({ "plan": plan })),
        )
        .await
    }

    /// Delivers `payload` to `/webhooks/stripe` with the given signature header.
    pub async fn deliver_stripe_raw(
        &self,
        payload: &str,
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(payload.to_string());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        let resp = req.send().await.expect("webhook request");
        let status = resp.status();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Delivers an event signed now (by the app's clock) with the right secret.
    pub async fn deliver_stripe(&self, event: &Value) -> (StatusCode, Value) {
        let payload = event.to_string();
        let sig = fake_stripe::sign(&payload, WEBHOOK_SECRET, self.ctx.now().timestamp());
        self.deliver_stripe_raw(&payload, Some(&sig)).await
    }

    /// Checkout through the API (creating the Stripe customer), then Stripe completing it
    /// with a subscription to `price` for the period `start..end`. Returns the customer and
    /// subscription ids.
    #[allow(clippy::too_many_arguments)]
    pub async fn subscribe(
        &self,
        fake: &FakeStripe,
        c: &Creator,
        plan: &str,
        price: &str,
        start: i64,
        end: i64,
    ) -> (String, String) {
        use sea_orm::EntityTrait;
        let (s, b) = self.checkout(c, plan).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let customer = entity::tenant::Entity::find_by_id(c.tenant_id)
            .one(&self.ctx.db)
            .await
            .unwrap()
            .unwrap()
            .stripe_customer_id
            .expect("customer stored");
        let sub_id = format!("sub_{}", Uuid::new_v4().simple());
        fake.put_subscription(fake_stripe::subscription_json(
            &sub_id,
            &customer,
            &c.tenant_id.to_string(),
            price,
            "active",
            start,
            end,
        ));
        let session = fake_stripe::checkout_session_json(
            b["session_id"].as_str().unwrap(),
            Some(&customer),
            Some(&sub_id),
            Some(&c.tenant_id.to_string()),
        );
        let (s, r) = self
            .deliver_stripe(&fake_stripe::event_json(
                &stripe_event_id(),
                "checkout.session.completed",
                session,
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["applied"], true);
        (customer, sub_id)
    }

    /// A new creator subscribed to `plan` (at `price`) for 30 days from now.
    pub async fn subscribed_tenant(
        &self,
        fake: &FakeStripe,
        plan: &str,
        price: &str,
    ) -> Subscribed {
        let start = self.ctx.now().timestamp();
        self.subscribed_tenant_since(fake, plan, price, start).await
    }

    /// A new creator subscribed to `plan` (at `price`) for the 30 days from `start` (Unix
    /// seconds; in the past for a period already under way).
    pub async fn subscribed_tenant_since(
        &self,
        fake: &FakeStripe,
        plan: &str,
        price: &str,
        start: i64,
    ) -> Subscribed {
        let c = self.signup().await;
        let end = start + 30 * 86_400;
        let (customer, subscription) = self.subscribe(fake, &c, plan, price, start, end).await;
        Subscribed {
            c,
            customer,
            subscription,
            start,
            end,
        }
    }
}
