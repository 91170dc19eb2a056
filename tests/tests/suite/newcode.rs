//! `/newcode` through `POST /tg/{bot_id}`: plan → quantity → expiry → preview → confirm, with
//! the state in the database between steps, against the fake Telegram.
use domain::bots::{Conversation, ExpiryPreset, NewCodeExpiry};
use gatehouse_tests::{Backend, factories::BotProject};
use uuid::Uuid;

const OWNER: i64 = 4_100;

/// A project with a plan ("Gold") and a connected bot, and `OWNER` linked as its owner.
async fn setup(billing_plan: Option<&str>) -> BotProject {
    let b = BotProject::builder(Backend::Postgres).owner(OWNER);
    match billing_plan {
        Some(p) => b.billing_plan(p),
        None => b,
    }
    .build()
    .await
}

/// /newcode → plan → quantity; answers the nonce of the preview after `expiry`.
async fn up_to_preview(s: &BotProject, quantity: &str, expiry: &str) -> Uuid {
    s.say(OWNER, "/newcode").await;
    s.reply(OWNER, "which plan").await;
    assert_eq!(s.state(OWNER).await, Some(Conversation::NewCodePlan));
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    s.reply(OWNER, "How many codes").await;
    s.say(OWNER, quantity).await;
    s.reply(OWNER, "expire").await;
    s.press(OWNER, &format!("nc:exp:{expiry}")).await;
    s.reply(OWNER, "Preview").await;
    match s.state(OWNER).await {
        Some(Conversation::NewCodeConfirm { nonce, .. }) => nonce,
        other => panic!("not at the confirm step: {other:?}"),
    }
}

#[tokio::test]
async fn an_owner_generates_codes_that_reach_the_linked_chat_and_a_double_confirm_makes_one_batch()
{
    let s = setup(Some("growth_monthly")).await;
    let nonce = up_to_preview(&s, "3", "1w").await;
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
    let nonce = up_to_preview(&s, "4", "none").await;
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

#[tokio::test]
async fn a_custom_date_and_activations_per_code_reach_the_batch_and_25_codes_arrive_as_one_csv() {
    let s = setup(Some("growth_monthly")).await;
    s.say(OWNER, "/newcode").await;
    s.reply(OWNER, "which plan").await;
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    s.reply(OWNER, "How many codes").await;
    s.say(OWNER, "25").await;
    s.reply(OWNER, "a date (YYYY-MM-DD)").await;
    let date = (s.app.ctx.now() + chrono::Duration::days(40)).date_naive();
    s.say(OWNER, &date.format("%Y-%m-%d").to_string()).await;
    let preview = s.reply(OWNER, "Preview").await;
    assert!(
        preview.contains(&format!("at the end of {date}")),
        "{preview}"
    );
    assert!(preview.contains("Activations per code: 1"), "{preview}");
    s.press(OWNER, "nc:act").await;
    s.reply(OWNER, "How many times may each code be redeemed")
        .await;
    s.say(OWNER, "0").await;
    s.reply(OWNER, "not a number from 1 to 1000000").await;
    s.say(OWNER, "3").await;
    s.replies(OWNER, "Activations per code: 3", 1).await;
    let Some(Conversation::NewCodeConfirm {
        nonce,
        quantity: 25,
        expiry: NewCodeExpiry::Date(d),
        max_activations: 3,
        ..
    }) = s.state(OWNER).await
    else {
        panic!("not at the confirm step: {:?}", s.state(OWNER).await);
    };
    assert_eq!(d, date);
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "being generated").await;
    let b = &s.batches().await[0];
    assert_eq!(b.max_activations, 3);
    assert_eq!(
        b.codes_expire_at,
        Some(date.and_hms_opt(23, 59, 59).unwrap().and_utc())
    );
    // 25 codes: one CSV document to the owner's chat, with every code.
    let docs =
        s.tg.wait_for(
            &s.bot.token,
            "sendDocument",
            1,
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_eq!(docs[0].params["chat_id"].as_i64(), Some(OWNER));
    let csv = docs[0].params["document"]["content"].as_str().unwrap();
    // (A UTF-8 byte order mark first, for spreadsheets.)
    assert!(
        csv.trim_start_matches('\u{feff}')
            .starts_with("Access Code,Plan Name,Join Link"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 26, "{csv}");
    assert!(
        csv.contains(&format!("{date}T23:59:59")),
        "the codes' expiry in the CSV: {csv}"
    );
}

/// The callback data of the inline buttons of `call`, row by row.
fn button_data(call: &gatehouse_tests::fake_telegram::Call) -> Vec<String> {
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_quantity_step_offers_buttons_and_a_past_date_is_refused_where_it_is_typed() {
    let s = setup(Some("growth_monthly")).await;
    s.say(OWNER, "/newcode").await;
    s.reply(OWNER, "which plan").await;
    s.press(OWNER, &format!("nc:plan:{}", s.plan)).await;
    let ask =
        s.tg.wait_for_text(&s.bot.token, OWNER, "How many codes")
            .await;
    assert_eq!(
        button_data(&ask),
        [
            "nc:qty:1",
            "nc:qty:10",
            "nc:qty:25",
            "nc:qty:100",
            "nc:qty:other"
        ],
        "{ask:?}"
    );
    // "Other" asks for a number and keeps the step.
    s.press(OWNER, "nc:qty:other").await;
    s.reply(OWNER, "Send how many codes").await;
    let plan_id = Uuid::parse_str(&s.plan).unwrap();
    assert_eq!(
        s.state(OWNER).await,
        Some(Conversation::NewCodeQuantity { plan_id })
    );
    // A button's quantity moves on to the expiry step.
    s.press(OWNER, "nc:qty:25").await;
    s.reply(OWNER, "expire").await;
    assert_eq!(
        s.state(OWNER).await,
        Some(Conversation::NewCodeExpiry {
            plan_id,
            quantity: 25
        })
    );
    // A date already past is refused at this step, and the owner stays at it.
    s.say(OWNER, "2020-01-31").await;
    s.reply(OWNER, "not in the future").await;
    assert_eq!(
        s.state(OWNER).await,
        Some(Conversation::NewCodeExpiry {
            plan_id,
            quantity: 25
        })
    );
    assert!(
        !s.texts_to(OWNER)
            .iter()
            .any(|t| t.contains("Something went wrong")),
        "{:?}",
        s.texts_to(OWNER)
    );
    // A later date carries on to the preview and the batch.
    let next_year = (s.app.ctx.now() + chrono::Duration::days(400))
        .format("%Y-%m-%d")
        .to_string();
    s.say(OWNER, &next_year).await;
    let preview = s.reply(OWNER, "Preview").await;
    assert!(preview.contains("Codes: 25"), "{preview}");
    let Some(Conversation::NewCodeConfirm { nonce, .. }) = s.state(OWNER).await else {
        panic!("not at the confirm step");
    };
    s.press(OWNER, &format!("nc:ok:{nonce}")).await;
    s.reply(OWNER, "being generated").await;
    assert_eq!(s.batches().await[0].quantity, 25);
}
