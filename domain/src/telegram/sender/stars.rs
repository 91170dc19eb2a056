//! Telegram Stars calls of the one sender (the payments service's): invoices, invoice links,
//! pre-checkout answers, refunds, Stars subscriptions and the transaction list — paced and
//! retried like every other call.
use super::*;

/// A Stars invoice: currency `XTR`, no provider token, exactly one price item.
#[derive(Debug, Clone)]
pub struct StarsInvoice<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub payload: &'a str,
    pub label: &'a str,
    pub stars: u32,
}

fn stars_price(i: &StarsInvoice<'_>) -> Vec<teloxide::types::LabeledPrice> {
    vec![teloxide::types::LabeledPrice::new(i.label, i.stars)]
}

/// Sends a one-time Stars invoice to a chat; returns Telegram's message id.
pub async fn send_invoice(
    ctx: &AppCtx,
    bot_id: Uuid,
    chat_id: i64,
    i: &StarsInvoice<'_>,
) -> Result<i32> {
    use teloxide::payloads::SendInvoiceSetters;
    let h = handle(ctx, bot_id).await?;
    let msg = deliver(&h, Some(chat_id), || {
        let req = h
            .bot
            .send_invoice(
                ChatId(chat_id),
                i.title,
                i.description,
                i.payload,
                "XTR",
                stars_price(i),
            )
            .provider_token("");
        async move { req.await }
    })
    .await?;
    Ok(msg.id.0)
}

/// An invoice link; with `subscription_period` (seconds, 2592000 = 30 days) Telegram renews
/// it as a Stars subscription.
pub async fn create_invoice_link(
    ctx: &AppCtx,
    bot_id: Uuid,
    i: &StarsInvoice<'_>,
    subscription_period: Option<u32>,
) -> Result<String> {
    use teloxide::payloads::CreateInvoiceLinkSetters;
    let h = handle(ctx, bot_id).await?;
    deliver(&h, None, || {
        let req = h
            .bot
            .create_invoice_link(i.title, i.description, i.payload, "XTR", stars_price(i))
            .provider_token("");
        let req = match subscription_period {
            Some(s) => req.subscription_period(teloxide::types::Seconds::from_seconds(s)),
            None => req,
        };
        async move { req.await }
    })
    .await
}

/// Answers a `pre_checkout_query`: ok, or refused with a message the user sees.
pub async fn answer_pre_checkout(
    ctx: &AppCtx,
    bot_id: Uuid,
    query_id: &str,
    error: Option<&str>,
) -> Result<()> {
    use teloxide::payloads::AnswerPreCheckoutQuerySetters;
    let h = handle(ctx, bot_id).await?;
    let id = teloxide::types::PreCheckoutQueryId(query_id.to_string());
    // Telegram fails the payment if this is not answered within 10 s.
    deliver_as(&h, Turn::Answer, || {
        let req = h.bot.answer_pre_checkout_query(id.clone(), error.is_none());
        let req = match error {
            Some(e) => req.error_message(e),
            None => req,
        };
        async move { req.await }
    })
    .await?;
    Ok(())
}

/// What became of a refund asked of Telegram.
#[derive(Debug)]
pub enum RefundAnswer {
    /// Refunded — now, or before (`CHARGE_ALREADY_REFUNDED`: an earlier call whose answer was
    /// lost did it).
    Refunded,
    /// Telegram answered no: nothing was refunded.
    Refused(Error),
    /// No answer (the network, or Telegram's server errors after the retries): the refund may
    /// or may not have happened; asking again tells.
    Unknown(Error),
}

/// Gives a Stars payment back to the user. Safe to ask again: a charge already refunded
/// answers [`RefundAnswer::Refunded`].
pub async fn refund_star_payment(
    ctx: &AppCtx,
    bot_id: Uuid,
    user_id: i64,
    charge_id: &str,
) -> RefundAnswer {
    let h = match handle(ctx, bot_id).await {
        Ok(h) => h,
        Err(e) => return RefundAnswer::Refused(e),
    };
    let charge = teloxide::types::TelegramTransactionId(charge_id.to_string());
    let sent = deliver(&h, None, || {
        let req = h
            .bot
            .refund_star_payment(teloxide::types::UserId(user_id as u64), charge.clone());
        async move {
            match req.await {
                Err(RequestError::Api(e)) if e.to_string().contains("CHARGE_ALREADY_REFUNDED") => {
                    Ok(())
                }
                other => other.map(|_| ()),
            }
        }
    })
    .await;
    match sent {
        Ok(()) => RefundAnswer::Refunded,
        Err(e) if answer_lost(&e) => RefundAnswer::Unknown(e),
        Err(e) => RefundAnswer::Refused(e),
    }
}

/// A failure after which Telegram may have acted: no answer, or a server error.
fn answer_lost(e: &Error) -> bool {
    e.code == "telegram_unavailable"
        || [
            "Internal Server Error",
            "Bad Gateway",
            "Service Unavailable",
            "Gateway Timeout",
        ]
        .iter()
        .any(|p| e.message.contains(p))
}

/// Cancels (or re-enables) the renewal of a user's Stars subscription.
pub async fn edit_user_star_subscription(
    ctx: &AppCtx,
    bot_id: Uuid,
    user_id: i64,
    charge_id: &str,
    canceled: bool,
) -> Result<()> {
    let h = handle(ctx, bot_id).await?;
    let charge = teloxide::types::TelegramTransactionId(charge_id.to_string());
    deliver(&h, None, || {
        let req = h.bot.edit_user_star_subscription(
            teloxide::types::UserId(user_id as u64),
            charge.clone(),
            canceled,
        );
        async move { req.await }
    })
    .await?;
    Ok(())
}

/// One page of the bot's Star transactions.
pub async fn get_star_transactions(
    ctx: &AppCtx,
    bot_id: Uuid,
    offset: u32,
    limit: u8,
) -> Result<Vec<teloxide::types::StarTransaction>> {
    use teloxide::payloads::GetStarTransactionsSetters;
    let h = handle(ctx, bot_id).await?;
    let page = deliver(&h, None, || {
        let req = h.bot.get_star_transactions().offset(offset).limit(limit);
        async move { req.await }
    })
    .await?;
    Ok(page.transactions)
}
