//! A fake Telegram Bot API: a local axum server speaking the real wire format
//! (`POST /bot<token>/<method>` with JSON, form or multipart bodies; `{"ok":true,"result":…}`
//! or `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`).
//! Bots are keyed by token; every call is recorded; updates can be queued for `getUpdates`;
//! the next N calls can be made to fail with a 429 or a 5xx, and calls can be held back until
//! the test releases them (a slow Telegram at a chosen moment). Method names match
//! case-insensitively, since teloxide sends them capitalised (`SendMessage`).
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{FromRequest, Multipart, Path, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
    serve::ListenerExt,
};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub token: String,
    /// Lower-cased method name, e.g. `sendmessage`.
    pub method: String,
    /// The parameters, whatever the encoding (multipart files appear as
    /// `{"filename":…,"size":…,"content":<utf-8 text if it is>}`).
    pub params: Value,
    pub at: Instant,
    /// What the fake answered (HTTP status).
    pub status: u16,
}

/// A way to fail the next calls.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 Too Many Requests with `parameters.retry_after`.
    RetryAfter(u32),
    /// An error with this status and Telegram's wording (e.g. 409, 500, 502).
    Status(u16),
    /// The call is carried out (a refund is made), but its answer is lost: the caller gets
    /// this server error instead.
    AnswerLost(u16),
    /// A definite refusal (400 `Bad Request: …`), answered at once and not worth a retry.
    BadRequest,
}

#[derive(Debug, Clone)]
pub struct FakeBot {
    pub token: String,
    pub id: i64,
    pub username: String,
}

#[derive(Default)]
struct State_ {
    bots: HashMap<String, FakeBot>,
    calls: Vec<Call>,
    updates: HashMap<String, VecDeque<Value>>,
    /// (method filter, remaining, fault)
    faults: VecDeque<(Option<String>, u32, Fault)>,
    webhooks: HashMap<String, Value>,
    /// Tokens with a `getUpdates` in progress (Telegram allows one poller per bot).
    polling: std::collections::HashSet<String>,
    /// `getChatMember` answers: (chat, user) → status; anyone else has `left`.
    members: HashMap<(i64, i64), String>,
    /// Methods (lower case) answered only after this long, as a slow Telegram would. A
    /// request whose client goes away while it waits is not processed (nor recorded).
    delays: HashMap<String, Duration>,
    /// Requests of a delayed method that arrived (recorded or not).
    arrivals: HashMap<String, usize>,
    /// Calls held back until released: (method, chat_id if only to that chat).
    holds: Vec<(String, Option<i64>)>,
    /// How many calls have been held back so far.
    held: usize,
    /// Star transactions per bot, as `getStarTransactions` answers them (oldest first).
    star_transactions: HashMap<String, Vec<Value>>,
    /// Charges refunded through `refundStarPayment` (a second refund is refused, as
    /// Telegram does).
    refunded: std::collections::HashSet<String>,
    /// (token, chat) pairs whose user blocked the bot: messages to them are refused with
    /// Telegram's 403 "bot was blocked by the user".
    blocked: std::collections::HashSet<(String, i64)>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    inner: Arc<Mutex<State_>>,
    changed: Arc<Notify>,
    next_id: Arc<AtomicI64>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let fake = FakeTelegram {
            url,
            inner: Arc::default(),
            changed: Arc::new(Notify::new()),
            // Telegram bot ids are unique platform-wide and tests share one database: start each
            // fake somewhere random so two fakes never hand out the same bot id.
            next_id: Arc::new(AtomicI64::new(
                1_000_000_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64 * 1_000,
            )),
        };
        let app = Router::new()
            .route("/{*path}", any(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(|tcp| _ = tcp.set_nodelay(true)), app).await;
        });
        fake
    }

    /// Registers a new bot and returns it (its token is what a creator would paste).
    pub fn add_bot(&self) -> FakeBot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bot = FakeBot {
            token: format!("{id}:AAH{}", uuid::Uuid::new_v4().simple()),
            id,
            username: format!("gh_test_{id}_bot"),
        };
        self.inner
            .lock()
            .unwrap()
            .bots
            .insert(bot.token.clone(), bot.clone());
        bot
    }

    /// Records that `user_id` paid `amount` Stars for an invoice with `payload` (charge id
    /// `charge_id`), as Telegram's ledger would: `getStarTransactions` lists it. With
    /// `subscription_period`, it was a Stars subscription payment.
    pub fn record_star_payment(
        &self,
        token: &str,
        user_id: i64,
        payload: &str,
        amount: i64,
        charge_id: &str,
        subscription_period: Option<i64>,
    ) {
        let mut source = json!({
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user_json(user_id, false, "Ann", Some(&format!("ann{user_id}"))),
            "invoice_payload": payload,
        });
        if let Some(p) = subscription_period {
            source["subscription_period"] = json!(p);
        }
        let tx = json!({
            "id": charge_id,
            "amount": amount,
            "date": chrono::Utc::now().timestamp(),
            "source": source,
        });
        self.inner
            .lock()
            .unwrap()
            .star_transactions
            .entry(token.to_string())
            .or_default()
            .push(tx);
    }

    /// Makes a token invalid from now on (as if revoked in @BotFather).
    pub fn revoke(&self, token: &str) {
        self.inner.lock().unwrap().bots.remove(token);
    }

    /// Queues an update for the bot's next `getUpdates`.
    pub fn push_update(&self, token: &str, update: Value) {
        self.inner
            .lock()
            .unwrap()
            .updates
            .entry(token.to_string())
            .or_default()
            .push_back(update);
        self.changed.notify_waiters();
    }

    /// Answers `method` (e.g. `sendDocument`) only after `delay` from now on.
    pub fn delay(&self, method: &str, delay: Duration) {
        self.inner
            .lock()
            .unwrap()
            .delays
            .insert(method.to_lowercase(), delay);
    }

    /// How many requests of a [`delay`](Self::delay)ed method arrived, answered or not.
    pub fn arrivals(&self, method: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .arrivals
            .get(&method.to_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// The next `n` calls (of `method` only, when given) answer with `fault`.
    pub fn fail_next(&self, method: Option<&str>, n: u32, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push_back((method.map(str::to_lowercase), n, fault));
    }

    /// The user `chat_id` blocked the bot `token`: messages to them answer 403.
    pub fn block(&self, token: &str, chat_id: i64) {
        self.inner
            .lock()
            .unwrap()
            .blocked
            .insert((token.to_string(), chat_id));
    }

    /// The user `chat_id` unblocked the bot `token`.
    pub fn unblock(&self, token: &str, chat_id: i64) {
        self.inner
            .lock()
            .unwrap()
            .blocked
            .remove(&(token.to_string(), chat_id));
    }

    /// What `getChatMember` says of a user in a chat (`member`, `administrator`, `kicked`, …).
    pub fn set_member_status(&self, chat_id: i64, user_id: i64, status: &str) {
        self.inner
            .lock()
            .unwrap()
            .members
            .insert((chat_id, user_id), status.to_string());
    }

    /// Holds back calls to `method` (only those to `chat_id`, when given) until
    /// [`FakeTelegram::release`]: a slow Telegram, at the moment a test chooses.
    pub fn hold(&self, method: &str, chat_id: Option<i64>) {
        self.inner
            .lock()
            .unwrap()
            .holds
            .push((method.to_lowercase(), chat_id));
    }

    /// Lets every held call through, and stops holding.
    pub fn release(&self) {
        self.inner.lock().unwrap().holds.clear();
        self.changed.notify_waiters();
    }

    /// Waits until `n` calls have been held back (panics after `timeout`).
    pub async fn wait_held(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let held = self.inner.lock().unwrap().held;
            if held >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fake telegram: waited {timeout:?} for {n} held call(s), got {held}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// How many calls have arrived so far (a mark for [`FakeTelegram::calls_since`]).
    pub fn call_count(&self) -> usize {
        self.inner.lock().unwrap().calls.len()
    }

    /// The calls after the first `mark`, oldest first (copies only those: a benchmark that
    /// polls for replies must not spend its CPU copying the whole log).
    pub fn calls_since(&self, mark: usize) -> Vec<Call> {
        let inner = self.inner.lock().unwrap();
        inner.calls.get(mark..).unwrap_or_default().to_vec()
    }

    /// Calls of one bot to one method (case-insensitive), oldest first.
    pub fn calls_to(&self, token: &str, method: &str) -> Vec<Call> {
        let m = method.to_lowercase();
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.token == token && c.method == m)
            .cloned()
            .collect()
    }

    /// The webhook currently set for a bot (`setWebhook` parameters), if any.
    pub fn webhook(&self, token: &str) -> Option<Value> {
        self.inner.lock().unwrap().webhooks.get(token).cloned()
    }

    /// Waits until the bot has made at least `n` calls to `method` (panics after `timeout`).
    pub async fn wait_for(
        &self,
        token: &str,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let got = self.calls_to(token, method);
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "fake telegram: waited {timeout:?} for {n} {method} call(s) of bot {}, got {}: {:?}",
                    token.split(':').next().unwrap_or(""),
                    got.len(),
                    got.iter().map(|c| &c.params).collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// Waits for the first `sendMessage` to `chat_id` whose text contains `needle`.
    pub async fn wait_for_text(&self, token: &str, chat_id: i64, needle: &str) -> Call {
        // teloxide itself waits 10 s after a 5xx before reporting it; leave room for one.
        self.wait_for_text_within(token, chat_id, needle, Duration::from_secs(30))
            .await
    }

    /// As [`FakeTelegram::wait_for_text`], waiting at most `limit`.
    pub async fn wait_for_text_within(
        &self,
        token: &str,
        chat_id: i64,
        needle: &str,
        limit: Duration,
    ) -> Call {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if let Some(c) = self.calls_to(token, "sendMessage").into_iter().find(|c| {
                c.params["chat_id"].as_i64() == Some(chat_id)
                    && c.params["text"]
                        .as_str()
                        .is_some_and(|t| t.contains(needle))
            }) {
                return c;
            }
            if Instant::now() >= deadline {
                panic!(
                    "fake telegram: no message containing {needle:?} to {chat_id}; sent: {:?}",
                    self.calls_to(token, "sendMessage")
                        .iter()
                        .map(|c| &c.params)
                        .collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }
}

fn ok(result: Value) -> Response {
    (StatusCode::OK, Json(json!({"ok": true, "result": result}))).into_response()
}

fn fail(status: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response()
}

/// Form and multipart values arrive as strings; JSON-looking ones (reply_markup,
/// allowed_updates, numbers) are read as JSON, as Telegram does.
fn loose(v: String) -> Value {
    if v.starts_with('{')
        || v.starts_with('[')
        || v.parse::<f64>().is_ok()
        || v == "true"
        || v == "false"
    {
        serde_json::from_str(&v).unwrap_or(Value::String(v))
    } else {
        Value::String(v)
    }
}

async fn params_of(req: Request) -> Value {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let query: Vec<(String, String)> = req.uri().query().map(url_decode_pairs).unwrap_or_default();
    let mut map = Map::new();
    for (k, v) in query {
        map.insert(k, loose(v));
    }
    if ctype.starts_with("multipart/form-data") {
        if let Ok(mut mp) = Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or("").to_string();
                let filename = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.unwrap_or_default();
                let v = match filename {
                    Some(f) => json!({
                        "filename": f,
                        "size": bytes.len(),
                        "content": String::from_utf8(bytes.to_vec()).ok(),
                    }),
                    None => loose(String::from_utf8_lossy(&bytes).into_owned()),
                };
                map.insert(name, v);
            }
            // `"document": "attach://<part>"` names the part holding the file; inline it.
            let refs: Vec<(String, String)> = map
                .iter()
                .filter_map(|(k, v)| {
                    v.as_str()
                        .and_then(|s| s.strip_prefix("attach://"))
                        .map(|part| (k.clone(), part.to_string()))
                })
                .collect();
            for (k, part) in refs {
                if let Some(file) = map.remove(&part) {
                    map.insert(k, file);
                }
            }
        }
    } else {
        let body: Bytes = axum::body::to_bytes(req.into_body(), 50 * 1024 * 1024)
            .await
            .unwrap_or_default();
        if ctype.starts_with("application/json") {
            if let Ok(Value::Object(o)) = serde_json::from_slice(&body) {
                map.extend(o);
            }
        } else if !body.is_empty() {
            for (k, v) in url_decode_pairs(&String::from_utf8_lossy(&body)) {
                map.insert(k, loose(v));
            }
        }
    }
    Value::Object(map)
}

fn url_decode_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn user_json(id: i64, is_bot: bool, name: &str, username: Option<&str>) -> Value {
    let mut u = json!({"id": id, "is_bot": is_bot, "first_name": name});
    if let Some(n) = username {
        u["username"] = json!(n);
    }
    u
}

fn chat_json(id: i64) -> Value {
    if id > 0 {
        json!({"id": id, "type": "private", "first_name": "User"})
    } else {
        json!({"id": id, "type": "supergroup", "title": "Chat"})
    }
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let path = percent_decode(&path);
    let Some((bot_part, method)) = path.trim_start_matches('/').split_once('/') else {
        return fail(404, "Not Found", None);
    };
    let Some(token) = bot_part.strip_prefix("bot") else {
        return fail(404, "Not Found", None);
    };
    let token = token.to_string();
    let method = method.to_lowercase();
    let params = params_of(req).await;
    let delay = {
        let mut s = fake.inner.lock().unwrap();
        let d = s.delays.get(&method).copied();
        if d.is_some() {
            *s.arrivals.entry(method.clone()).or_default() += 1;
        }
        d
    };
    if let Some(d) = delay {
        fake.changed.notify_waiters();
        tokio::time::sleep(d).await;
    }

    // A held call waits here until the test releases it.
    let mut counted = false;
    loop {
        let notified = fake.changed.notified();
        let newly = {
            let mut s = fake.inner.lock().unwrap();
            let held = s.holds.iter().any(|(m, chat)| {
                *m == method && chat.is_none_or(|c| params["chat_id"].as_i64() == Some(c))
            });
            if !held {
                break;
            }
            let newly = !counted;
            if newly {
                counted = true;
                s.held += 1;
            }
            newly
        };
        if newly {
            fake.changed.notify_waiters();
            continue;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
    }

    // getUpdates long-polls: wait (briefly) for queued updates before answering. Like
    // Telegram, a second poller of the same bot while one waits gets 409 Conflict.
    if method == "getupdates" {
        if !fake.inner.lock().unwrap().polling.insert(token.clone()) {
            let resp = fail(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                None,
            );
            fake.inner.lock().unwrap().calls.push(Call {
                token,
                method,
                params,
                at: Instant::now(),
                status: 409,
            });
            fake.changed.notify_waiters();
            return resp;
        }
        let timeout = params["timeout"].as_u64().unwrap_or(0).min(1);
        let deadline = Instant::now() + Duration::from_secs(timeout);
        loop {
            let notified = fake.changed.notified();
            let has = {
                let s = fake.inner.lock().unwrap();
                let offset = params["offset"].as_i64().unwrap_or(0);
                s.updates.get(&token).is_some_and(|q| {
                    q.iter()
                        .any(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                })
            };
            if has || Instant::now() >= deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
        fake.inner.lock().unwrap().polling.remove(&token);
    }
    let resp = {
        let mut s = fake.inner.lock().unwrap();
        let resp = answer(&fake, &mut s, &token, &method, &params);
        let status = resp.status().as_u16();
        s.calls.push(Call {
            token: token.clone(),
            method: method.clone(),
            params,
            at: Instant::now(),
            status,
        });
        resp
    };
    fake.changed.notify_waiters();
    resp
}

fn take_fault(s: &mut State_, method: &str) -> Option<Fault> {
    let idx = s
        .faults
        .iter()
        .position(|(m, n, _)| *n > 0 && m.as_deref().is_none_or(|m| m == method))?;
    let entry = &mut s.faults[idx];
    entry.1 -= 1;
    let fault = entry.2;
    if entry.1 == 0 {
        s.faults.remove(idx);
    }
    Some(fault)
}

fn answer(fake: &FakeTelegram, s: &mut State_, token: &str, method: &str, p: &Value) -> Response {
    let Some(bot) = s.bots.get(token).cloned() else {
        return fail(401, "Unauthorized", None);
    };
    let desc = |code: u16| match code {
        409 => {
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        }
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    };
    let sends = method.starts_with("send") || method == "copymessage";
    if sends
        && p["chat_id"]
            .as_i64()
            .is_some_and(|c| s.blocked.contains(&(token.to_string(), c)))
    {
        return fail(403, "Forbidden: bot was blocked by the user", None);
    }
    if let Some(f) = take_fault(s, method) {
        return match f {
            Fault::RetryAfter(secs) => fail(
                429,
                &format!("Too Many Requests: retry after {secs}"),
                Some(json!({"retry_after": secs})),
            ),
            Fault::Status(code) => fail(code, desc(code), None),
            Fault::BadRequest => fail(400, "Bad Request: refused by the test", None),
            Fault::AnswerLost(code) => {
                let _ = act(fake, s, token, method, p, &bot);
                fail(code, desc(code), None)
            }
        };
    }
    act(fake, s, token, method, p, &bot)
}

/// What a call does and answers, faults aside.
fn act(
    fake: &FakeTelegram,
    s: &mut State_,
    token: &str,
    method: &str,
    p: &Value,
    bot: &FakeBot,
) -> Response {
    let bot_user = user_json(bot.id, true, "Gatehouse Test Bot", Some(&bot.username));
    let now = chrono::Utc::now().timestamp();
    let message_id = fake.next_id.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
    let chat_id = p["chat_id"].as_i64().unwrap_or(0);
    let user_id = p["user_id"].as_i64().unwrap_or(0);
    let invite = |revoked: bool| {
        json!({
            "invite_link": p["invite_link"].as_str().map(str::to_string)
                .unwrap_or_else(|| format!("https://t.me/+fake{message_id}")),
            "creator": bot_user,
            "creates_join_request": p["creates_join_request"].as_bool().unwrap_or(false),
            "is_primary": false,
            "is_revoked": revoked,
            "name": p["name"],
        })
    };
    match method {
        "getme" => {
            let mut me = bot_user.clone();
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(false);
            me["supports_inline_queries"] = json!(false);
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            ok(me)
        }
        "setwebhook" => {
            s.webhooks.insert(token.to_string(), p.clone());
            ok(json!(true))
        }
        "deletewebhook" => {
            s.webhooks.remove(token);
            ok(json!(true))
        }
        "getupdates" => {
            if s.webhooks.contains_key(token) {
                return fail(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                    None,
                );
            }
            let offset = p["offset"].as_i64().unwrap_or(0);
            let q = s.updates.entry(token.to_string()).or_default();
            q.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            let limit = p["limit"].as_u64().unwrap_or(100) as usize;
            ok(Value::Array(q.iter().take(limit).cloned().collect()))
        }
        "sendmessage" | "editmessagetext" => ok(json!({
            "message_id": p["message_id"].as_i64().unwrap_or(message_id),
            "date": now,
            "chat": chat_json(chat_id),
            "from": bot_user,
            "text": p["text"],
        })),
        "sendphoto" => ok(json!({
            "message_id": message_id,
            "date": now,
            "chat": chat_json(chat_id),
            "from": bot_user,
            "caption": p["caption"],
            "photo": [{
                "file_id": format!("photo{message_id}"),
                "file_unique_id": format!("u{message_id}"),
                "width": 800,
                "height": 600,
            }],
        })),
        "senddocument" => ok(json!({
            "message_id": message_id,
            "date": now,
            "chat": chat_json(chat_id),
            "from": bot_user,
            "caption": p["caption"],
            "document": {
                "file_id": format!("doc{message_id}"),
                "file_unique_id": format!("u{message_id}"),
                "file_name": p["document"]["filename"],
                "file_size": p["document"]["size"],
            },
        })),
        "sendinvoice" => {
            let prices = p["prices"].as_array().cloned().unwrap_or_default();
            if p["currency"] != "XTR" || prices.len() != 1 {
                return fail(400, "Bad Request: STARS_INVOICE_INVALID", None);
            }
            ok(json!({
                "message_id": message_id,
                "date": now,
                "chat": chat_json(chat_id),
                "from": bot_user,
                "invoice": {
                    "title": p["title"],
                    "description": p["description"],
                    "start_parameter": "",
                    "currency": p["currency"],
                    "total_amount": prices[0]["amount"],
                },
            }))
        }
        "createinvoicelink" => {
            let prices = p["prices"].as_array().cloned().unwrap_or_default();
            if p["currency"] != "XTR" || prices.len() != 1 {
                return fail(400, "Bad Request: STARS_INVOICE_INVALID", None);
            }
            if !p["subscription_period"].is_null() && p["subscription_period"] != 2_592_000 {
                return fail(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID", None);
            }
            ok(json!(format!("https://t.me/$fakeinvoice{message_id}")))
        }
        "refundstarpayment" => {
            let charge = p["telegram_payment_charge_id"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !s.refunded.insert(charge) {
                return fail(400, "Bad Request: CHARGE_ALREADY_REFUNDED", None);
            }
            ok(json!(true))
        }
        "getstartransactions" => {
            let offset = p["offset"].as_u64().unwrap_or(0) as usize;
            let limit = p["limit"].as_u64().unwrap_or(100) as usize;
            let txs: Vec<Value> = s
                .star_transactions
                .get(token)
                .map(|t| t.iter().skip(offset).take(limit).cloned().collect())
                .unwrap_or_default();
            ok(json!({"transactions": txs}))
        }
        "answerprecheckoutquery" | "edituserstarsubscription" => ok(json!(true)),
        "answercallbackquery"
        | "approvechatjoinrequest"
        | "declinechatjoinrequest"
        | "banchatmember"
        | "unbanchatmember"
        | "setmycommands" => ok(json!(true)),
        "createchatinvitelink" | "editchatinvitelink" => ok(invite(false)),
        "revokechatinvitelink" => ok(invite(true)),
        "getchatmember" => {
            let status = s
                .members
                .get(&(chat_id, user_id))
                .cloned()
                .unwrap_or_else(|| "left".to_string());
            let mut m = json!({"user": user_json(user_id, false, "User", None), "status": status});
            if status == "kicked" {
                m["until_date"] = json!(0);
            }
            if status == "restricted" {
                m = json!({"user": user_json(user_id, false, "User", None), "status": "left"});
            }
            ok(m)
        }
        "getchat" => ok(json!({
            "id": chat_id,
            "type": if chat_id > 0 { "private" } else { "supergroup" },
            "title": if chat_id > 0 { Value::Null } else { json!("Chat") },
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": false, "limited_gifts": false,
                "unique_gifts": false, "premium_subscription": false
            },
        })),
        _ => fail(404, "Not Found: method not found", None),
    }
}
