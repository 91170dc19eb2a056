//! Telegram test helpers: an app wired to the fake Bot API, connected bots, and real
//! Update JSON as Telegram sends it.
use std::{collections::HashMap, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Backend, Creator, TestApp,
    fake_telegram::{FakeBot, FakeTelegram},
};

/// The public URL tests configure for webhook mode (Telegram never calls it; tests post).
pub const PUBLIC_URL: &str = "https://gatehouse.example.com";

/// A bot connected through the API, with what Telegram was told.
#[derive(Debug, Clone)]
pub struct ConnectedBot {
    pub id: Uuid,
    pub project_id: String,
    pub token: String,
    pub telegram_id: i64,
    pub username: String,
    /// The `secret_token` given to setWebhook (None in polling mode).
    pub secret: Option<String>,
}

impl TestApp {
    /// The app pointed at a fresh fake Telegram; with `webhooks`, PUBLIC_URL is set.
    pub async fn spawn_with_telegram(backend: Backend, webhooks: bool) -> (TestApp, FakeTelegram) {
        Self::spawn_with_telegram_full(backend, webhooks, true).await
    }

    /// As [`TestApp::spawn_with_telegram`]; without `worker` the background worker is not
    /// started, for tests that drive jobs themselves.
    pub async fn spawn_with_telegram_full(
        backend: Backend,
        webhooks: bool,
        worker: bool,
    ) -> (TestApp, FakeTelegram) {
        Self::spawn_with_telegram_env(backend, webhooks, worker, HashMap::new()).await
    }

    /// As [`TestApp::spawn_with_telegram_full`], with extra settings.
    pub async fn spawn_with_telegram_env(
        backend: Backend,
        webhooks: bool,
        worker: bool,
        extra: HashMap<String, String>,
    ) -> (TestApp, FakeTelegram) {
        let fake = FakeTelegram::start().await;
        let mut env = extra;
        env.insert("TELEGRAM_API_URL".to_string(), fake.url.clone());
        if webhooks {
            env.insert("PUBLIC_URL".to_string(), PUBLIC_URL.to_string());
        }
        let mut app = TestApp::spawn_full(backend, env, worker).await;
        app.tg = Some(fake.clone());
        (app, fake)
    }

    /// A new project of `c` with a new fake bot connected to it: the project's id and the bot.
    pub async fn project_with_bot(
        &self,
        c: &Creator,
        fake: &FakeTelegram,
    ) -> (String, ConnectedBot) {
        let pid = self.create_project_id(c).await;
        let bot = self.connect_bot(c, &pid, fake).await;
        (pid, bot)
    }

    /// Connects a new fake bot to the project through `PUT /api/v1/projects/{id}/bot`.
    pub async fn connect_bot(
        &self,
        c: &Creator,
        project_id: &str,
        fake: &FakeTelegram,
    ) -> ConnectedBot {
        let fb = fake.add_bot();
        self.connect_fake_bot(c, project_id, fake, &fb).await
    }

    pub async fn connect_fake_bot(
        &self,
        c: &Creator,
        project_id: &str,
        fake: &FakeTelegram,
        fb: &FakeBot,
    ) -> ConnectedBot {
        let (s, b) = self
            .as_creator(
                c,
                Method::PUT,
                &format!("/api/v1/projects/{project_id}/bot"),
                Some(json!({"token": fb.token})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        ConnectedBot {
            id: b["id"].as_str().unwrap().parse().unwrap(),
            project_id: project_id.to_string(),
            token: fb.token.clone(),
            telegram_id: fb.id,
            username: fb.username.clone(),
            secret: fake
                .webhook(&fb.token)
                .and_then(|w| w["secret_token"].as_str().map(str::to_string)),
        }
    }

    /// Links Telegram user `tg_user` as an owner of `pid`'s bot: `c` makes the owner link
    /// through the API, then `/start o_…` arrives as update `update_id`.
    pub async fn link_owner(
        &self,
        c: &Creator,
        pid: &str,
        bot: &ConnectedBot,
        fake: &FakeTelegram,
        tg_user: i64,
        update_id: i64,
    ) {
        let (s, b) = self
            .as_creator(
                c,
                Method::POST,
                &format!("/api/v1/projects/{pid}/owner-link"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let payload = b["link"].as_str().unwrap().split("?start=").nth(1).unwrap();
        let start = updates::message(update_id, tg_user, &format!("/start {payload}"));
        assert_eq!(self.post_update(bot, &start).await, StatusCode::OK);
        fake.wait_for_text(&bot.token, tg_user, "now an owner")
            .await;
    }

    /// Posts an update to `/tg/{bot_id}` as Telegram would, with the bot's secret.
    pub async fn post_update(&self, bot: &ConnectedBot, update: &Value) -> StatusCode {
        self.post_update_with(bot.id, bot.secret.as_deref(), update.to_string())
            .await
    }

    pub async fn post_update_with(
        &self,
        bot_id: Uuid,
        secret: Option<&str>,
        body: String,
    ) -> StatusCode {
        let mut req = self
            .http
            .post(self.url(&format!("/tg/{bot_id}")))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        req.send().await.expect("posting update").status()
    }

    /// Starts a long-polling supervisor for this app (as `serve`/`worker` do), looking for
    /// new polling bots every 100 ms; it stops with the app. Calling it twice stands for two
    /// worker processes. It serves only `c`'s bots: every app of the suite shares one database
    /// but talks to its own fake Telegram, so a supervisor must not pick up another test's
    /// bots. Returns a token that stops just this supervisor.
    pub fn start_pollers(&self, c: &Creator) -> tokio_util::sync::CancellationToken {
        let stop = self.shutdown.child_token();
        tokio::spawn(bot_router::run_pollers_with(
            self.ctx.clone(),
            stop.clone(),
            Duration::from_millis(100),
            Some(c.tenant_id),
        ));
        stop
    }
}

/// Real Update JSON, shaped as the Bot API sends it.
pub mod updates {
    use super::*;

    /// Telegram asks whether to go ahead with a payment of `amount` Stars for `payload`.
    pub fn pre_checkout_query(update_id: i64, user_id: i64, payload: &str, amount: i64) -> Value {
        json!({
            "update_id": update_id,
            "pre_checkout_query": {
                "id": format!("pcq{update_id}"),
                "from": user(user_id),
                "currency": "XTR",
                "total_amount": amount,
                "invoice_payload": payload,
            }
        })
    }

    /// A Stars payment went through: the service message carrying `successful_payment`.
    /// `recurring`: `Some((is_first, expires_at_unix))` for a Stars subscription payment.
    pub fn successful_payment(
        update_id: i64,
        user_id: i64,
        payload: &str,
        amount: i64,
        charge_id: &str,
        recurring: Option<(bool, i64)>,
    ) -> Value {
        let mut paid = json!({
            "currency": "XTR",
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        });
        if let Some((first, expires)) = recurring {
            paid["subscription_expiration_date"] = json!(expires);
            paid["is_recurring"] = json!(true);
            if first {
                paid["is_first_recurring"] = json!(true);
            }
        }
        json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": user(user_id),
                "chat": {"id": user_id, "first_name": "Ann", "username": format!("ann{user_id}"), "type": "private"},
                "date": 1_763_700_000,
                "successful_payment": paid,
            }
        })
    }

    pub fn user(id: i64) -> Value {
        json!({"id": id, "is_bot": false, "first_name": "Ann", "username": format!("ann{id}"), "language_code": "en"})
    }

    /// A private text message from `user_id` (commands get their `bot_command` entity).
    pub fn message(update_id: i64, user_id: i64, text: &str) -> Value {
        let mut m = json!({
            "message_id": update_id,
            "from": user(user_id),
            "chat": {"id": user_id, "first_name": "Ann", "username": format!("ann{user_id}"), "type": "private"},
            "date": 1_763_700_000,
            "text": text,
        });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            m["entities"] = json!([{"offset": 0, "length": len, "type": "bot_command"}]);
        }
        json!({"update_id": update_id, "message": m})
    }

    /// [`message`] from a user whose Telegram language is `lang` (an IETF tag: `ru`, `pt-BR`).
    pub fn message_in(lang: &str, update_id: i64, user_id: i64, text: &str) -> Value {
        let mut upd = message(update_id, user_id, text);
        upd["message"]["from"]["language_code"] = json!(lang);
        upd
    }

    /// A press of an inline button with `data` under a message the bot sent to `user_id`.
    pub fn callback(update_id: i64, user_id: i64, data: &str, bot: &ConnectedBot) -> Value {
        json!({
            "update_id": update_id,
            "callback_query": {
                "id": format!("cb{update_id}"),
                "from": user(user_id),
                "message": {
                    "message_id": 1,
                    "from": {"id": bot.telegram_id, "is_bot": true, "first_name": "Bot", "username": bot.username},
                    "chat": {"id": user_id, "first_name": "Ann", "type": "private"},
                    "date": 1_763_700_000,
                    "text": "Welcome",
                },
                "chat_instance": "-123456789",
                "data": data,
            }
        })
    }

    /// The bot's own membership in a channel or group changed (`status`: administrator,
    /// left…), changed by Telegram user 555.
    pub fn my_chat_member(
        update_id: i64,
        bot: &ConnectedBot,
        chat_id: i64,
        kind: &str,
        title: &str,
        old_status: &str,
        new_status: &str,
    ) -> Value {
        my_chat_member_by(
            555, update_id, bot, chat_id, kind, title, old_status, new_status,
        )
    }

    /// [`my_chat_member`], changed by Telegram user `from`.
    #[allow(clippy::too_many_arguments)]
    pub fn my_chat_member_by(
        from: i64,
        update_id: i64,
        bot: &ConnectedBot,
        chat_id: i64,
        kind: &str,
        title: &str,
        old_status: &str,
        new_status: &str,
    ) -> Value {
        let bot_user = json!({"id": bot.telegram_id, "is_bot": true, "first_name": "Bot", "username": bot.username});
        let member = |status: &str| {
            if status == "administrator" {
                json!({
                    "user": bot_user, "status": "administrator", "can_be_edited": false,
                    "can_manage_chat": true, "can_change_info": true, "can_delete_messages": true,
                    "can_invite_users": true, "can_restrict_members": true, "can_pin_messages": true,
                    "can_manage_topics": false, "can_promote_members": false,
                    "can_manage_video_chats": true, "can_post_stories": true,
                    "can_edit_stories": true, "can_delete_stories": true,
                    "can_post_messages": true, "can_edit_messages": true, "is_anonymous": false,
                })
            } else {
                json!({"user": bot_user, "status": status})
            }
        };
        json!({
            "update_id": update_id,
            "my_chat_member": {
                "chat": {"id": chat_id, "title": title, "type": kind},
                "from": user(from),
                "date": 1_763_700_000,
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            }
        })
    }
}
