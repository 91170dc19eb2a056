//! Bots: the outgoing sender (429s, pacing, multipart), many bots at once, the fake Bot API's
//! shapes, and tokens kept out of the logs.
use super::*;

#[tokio::test]
async fn a_thousand_bots_each_answer_through_their_own_token() {
    use futures::StreamExt;
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let bots: Vec<_> = futures::stream::iter(0..1000)
        .map(|_| async {
            let pid = app.create_project_id(&c).await;
            app.connect_bot(&c, &pid, &tg).await
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(bots.len(), 1000);
    let app = &app;
    let statuses: Vec<StatusCode> = futures::stream::iter(bots.iter().enumerate())
        .map(|(i, b)| async move {
            app.post_update(b, &updates::message(1, 100_000 + i as i64, "/start"))
                .await
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent = tg
            .calls()
            .into_iter()
            .filter(|c| c.method == "sendmessage")
            .count();
        if sent >= 1000 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, b) in bots.iter().enumerate() {
        let sent = tg.calls_to(&b.token, "sendMessage");
        assert_eq!(sent.len(), 1, "bot {i}");
        assert_eq!(
            sent[0].params["chat_id"],
            100_000 + i as i64,
            "bot {i} answered its own user"
        );
    }
    // And nothing was sent through a token other than the receiving bot's.
    assert_eq!(
        tg.calls()
            .into_iter()
            .filter(|c| c.method == "sendmessage")
            .count(),
        1000
    );
}

#[tokio::test]
async fn the_sender_waits_out_a_429_and_then_delivers() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    let id = domain::telegram::send_message(&app.ctx, bot.id, 42, "hello", None)
        .await
        .expect("delivered after the 429");
    assert!(id > 0);
    let calls = tg.calls_to(&bot.token, "sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[1].status, 200);
    assert_eq!(calls[1].params["text"], "hello");
    // The retry came after the wait Telegram asked for (a lower bound our own sleep ensures).
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(900));

    // Through a conversation too: the /start reply survives a 429.
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    app.post_update(&bot, &updates::message(1, 43, "/start"))
        .await;
    tg.wait_for_text(&bot.token, 43, "Welcome").await;

    // A transient server error is retried; a refusal is reported as the domain error.
    tg.fail_next(Some("sendMessage"), 1, Fault::Status(500));
    domain::telegram::send_message(&app.ctx, bot.id, 44, "again", None)
        .await
        .unwrap();
    tg.revoke(&bot.token);
    let e = domain::telegram::send_message(&app.ctx, bot.id, 45, "lost", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, "telegram_rejected");
}

#[tokio::test]
async fn the_sender_paces_messages_per_chat_and_per_bot() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
    let ctx = &app.ctx;
    // Three messages to one chat at once go out about a second apart, in order of reservation.
    let sends = (0..3).map(|i| async move {
        domain::telegram::send_message(ctx, bot.id, 42, &format!("m{i}"), None)
            .await
            .unwrap()
    });
    futures::future::join_all(sends).await;
    let calls = tg.calls_to(&bot.token, "sendMessage");
    assert_eq!(calls.len(), 3);
    for w in calls.windows(2) {
        assert!(w[1].at.duration_since(w[0].at) >= Duration::from_millis(900));
    }
    // Thirty-one messages to different chats take at least a second (30 per second per bot).
    // An invite link asked for meanwhile is not a message: it does not queue behind them.
    let start = std::time::Instant::now();
    let sends = (0..31).map(|i| async move {
        domain::telegram::send_message(ctx, bot.id, 1000 + i, "hi", None)
            .await
            .unwrap()
    });
    let link = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        domain::telegram::sender::create_join_request_link(ctx, bot.id, -100_777, "sub")
            .await
            .unwrap()
    };
    let (_, link) = tokio::join!(futures::future::join_all(sends), link);
    assert!(start.elapsed() >= Duration::from_millis(950));
    let messages = tg.calls_to(&bot.token, "sendMessage");
    assert_eq!(messages.len(), 34);
    let links = tg.calls_to(&bot.token, "createChatInviteLink");
    assert_eq!(links.len(), 1);
    assert!(link.starts_with("https://t.me/"), "{link}");
    let last_message = messages.last().unwrap().at;
    assert!(
        last_message.duration_since(links[0].at) >= Duration::from_millis(500),
        "the link waited for the messages' slots"
    );
    // Calls that are not messages are paced too, on a budget of their own: thirty-one links
    // take at least a second.
    let start = std::time::Instant::now();
    let asks = (0..31).map(|i| async move {
        domain::telegram::sender::create_join_request_link(ctx, bot.id, -100_778 - i, "sub")
            .await
            .unwrap()
    });
    futures::future::join_all(asks).await;
    assert!(start.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn a_429_holds_every_call_of_that_bot() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
    let ctx = &app.ctx;
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    let message = domain::telegram::send_message(ctx, bot.id, 42, "hello", None);
    let link = async {
        // Asked after the 429 reached the sender (the fake records the call as it answers;
        // the sender reads the answer a moment later): it waits out the same hold.
        tg.wait_for(&bot.token, "sendMessage", 1, Duration::from_secs(5))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        domain::telegram::sender::create_join_request_link(ctx, bot.id, -100_779, "sub").await
    };
    let (m, l) = tokio::join!(message, link);
    m.unwrap();
    l.unwrap();
    let refused = tg.calls_to(&bot.token, "sendMessage")[0].at;
    let link_at = tg.calls_to(&bot.token, "createChatInviteLink")[0].at;
    assert!(link_at.duration_since(refused) >= Duration::from_millis(900));
}

#[tokio::test]
async fn documents_are_uploaded_as_multipart() {
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let (_, bot) = app.project_with_bot(&c, &tg).await;
    let csv = b"Access Code,Plan Name\nABCD,Monthly\n".to_vec();
    domain::telegram::send_document(&app.ctx, bot.id, 42, "codes.csv", csv, Some("Your codes"))
        .await
        .unwrap();
    let call = &tg.calls_to(&bot.token, "sendDocument")[0];
    assert_eq!(call.params["chat_id"], 42);
    assert_eq!(call.params["caption"], "Your codes");
    assert_eq!(call.params["document"]["filename"], "codes.csv");
    assert_eq!(
        call.params["document"]["content"],
        "Access Code,Plan Name\nABCD,Monthly\n"
    );
    // Unknown bots are a not-found, not a panic.
    let e = domain::telegram::send_message(&app.ctx, Uuid::now_v7(), 42, "x", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_found");
}

/// The fake answers every Bot API method the product uses in a shape teloxide reads, so other
/// flows (invites, join requests, removals) can rely on it.
#[tokio::test]
async fn the_fake_bot_api_answers_every_method_in_teloxides_shapes() {
    use teloxide::{
        payloads::CreateChatInviteLinkSetters,
        prelude::Requester,
        types::{ChatId, MessageId, UserId},
    };
    let (app, tg) = TestApp::spawn_with_telegram(Backend::Sqlite, false).await;
    let fb = tg.add_bot();
    let bot = domain::telegram::registry::client_for(&app.ctx, &fb.token).unwrap();
    let chat = ChatId(-1001234);
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.user.id.0 as i64, fb.id);
    let link = bot
        .create_chat_invite_link(chat)
        .creates_join_request(true)
        .name("sub-1")
        .await
        .unwrap();
    assert!(link.creates_join_request);
    assert!(
        bot.revoke_chat_invite_link(chat, link.invite_link.clone())
            .await
            .unwrap()
            .is_revoked
    );
    bot.approve_chat_join_request(chat, UserId(42))
        .await
        .unwrap();
    bot.decline_chat_join_request(chat, UserId(43))
        .await
        .unwrap();
    bot.ban_chat_member(chat, UserId(42)).await.unwrap();
    bot.unban_chat_member(chat, UserId(42)).await.unwrap();
    let member = bot.get_chat_member(chat, UserId(42)).await.unwrap();
    assert_eq!(member.user.id, UserId(42));
    assert_eq!(bot.get_chat(chat).await.unwrap().id, chat);
    let sent = bot.send_message(ChatId(42), "hi").await.unwrap();
    let edited = bot
        .edit_message_text(ChatId(42), MessageId(sent.id.0), "edited")
        .await
        .unwrap();
    assert_eq!(edited.text(), Some("edited"));
    assert!(bot.get_updates().await.unwrap().is_empty());
    for m in [
        "getMe",
        "createChatInviteLink",
        "revokeChatInviteLink",
        "approveChatJoinRequest",
        "declineChatJoinRequest",
        "banChatMember",
        "unbanChatMember",
        "getChatMember",
        "getChat",
        "sendMessage",
        "editMessageText",
        "getUpdates",
    ] {
        assert_eq!(tg.calls_to(&fb.token, m).len(), 1, "{m}");
    }
    assert_eq!(
        tg.calls_to(&fb.token, "banChatMember")[0].params["user_id"],
        42
    );
    // A token the fake does not know is a 401, as Telegram answers.
    tg.revoke(&fb.token);
    assert!(matches!(
        bot.get_me().await,
        Err(teloxide::RequestError::Api(
            teloxide::ApiError::InvalidToken
        ))
    ));
}

/// A writer that keeps everything logged during one test.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn bot_tokens_never_reach_the_logs() {
    use tracing_subscriber::util::SubscriberInitExt;
    // Everything runs on this test's thread (current-thread runtime), so a thread-local
    // subscriber sees the app, the handlers and the sender alike, at debug level for all crates.
    let logs = CapturedLogs::default();
    let sink = logs.clone();
    let _guard = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish()
        .set_default();

    let (app, tg) = TestApp::spawn_with_telegram(Backend::Postgres, true).await;
    let c = app.signup().await;
    let pid = app.create_project_id(&c).await;
    let refused = tg.add_bot();
    tg.revoke(&refused.token);
    let r = app
        .as_creator(
            &c,
            Method::PUT,
            &format!("/api/v1/projects/{pid}/bot"),
            Some(json!({"token": refused.token})),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    let bot = app.connect_bot(&c, &pid, &tg).await;
    tg.fail_next(Some("sendMessage"), 1, Fault::RetryAfter(1));
    app.post_update(&bot, &updates::message(1, 42, "/start"))
        .await;
    tg.wait_for(&bot.token, "sendMessage", 2, WAIT).await;
    // Failures are logged with their causes: a revoked token, then disconnecting with it.
    tg.revoke(&bot.token);
    app.post_update(&bot, &updates::message(2, 42, "/start"))
        .await;
    tg.wait_for(&bot.token, "sendMessage", 3, WAIT).await;
    app.wait_idle().await;
    let (s, _) = app
        .as_creator(
            &c,
            Method::DELETE,
            &format!("/api/v1/projects/{pid}/bot"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("bot connected") && text.contains("handling update failed"),
        "captured: {text}"
    );
    assert!(text.contains("Telegram asked to slow down"));
    for token in [&bot.token, &refused.token] {
        let secret_part = token.split_once(':').unwrap().1;
        assert!(!text.contains(secret_part), "a bot token was logged");
    }
    assert!(
        !text.contains(bot.secret.as_deref().unwrap()),
        "a webhook secret was logged"
    );
}
