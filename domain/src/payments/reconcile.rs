//! Reconciliation: recent Star transactions whose update never arrived are recorded as if it had.

use chrono::Duration;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use entity::{bot, payment, project, subscriber};

use entity::payment::{PaymentStatus, RecordedBy};

use crate::{
    AppCtx, bots,
    error::Result,
    subscriptions::TgUser,
    telegram::{self},
    tenants,
};

use super::CURRENCY;
use super::charge::{Charge, confirm};
use super::invoice::verify;

// --- reconciliation ---------------------------------------------------------------------------

/// Star transactions read per page, and at most this many pages per bot per run.
const RECONCILE_PAGE: u8 = 100;
const RECONCILE_PAGES: u32 = 10;
/// Transactions older than this are not looked at (Telegram retries updates for 24 h).
const RECONCILE_DAYS: i64 = 7;
/// A payment recorded less than this long ago without a confirmation is left to the
/// delivery that recorded it; a refund claimed less than this long ago, to the request that
/// claimed it.
const CONFIRM_GRACE_SECS: i64 = 60;
/// Bots reconciled at once.
const RECONCILE_CONCURRENCY: usize = 16;

/// Reads the recent Star transactions of every bot whose project sells for Stars — or has
/// Stars subscriptions still renewing, or refunds to finish, after Stars were turned off —
/// (and whose tenant is active), and records each incoming invoice payment whose update never
/// arrived — through [`on_paid`], so access is granted and sent as for a delivered update. A
/// charge already recorded is left alone (the charge id is unique); one that cannot be
/// recorded is logged (once per process) and passed over. First, each `refunding` payment
/// (a refund whose answer was lost) is asked of Telegram again — `CHARGE_ALREADY_REFUNDED`
/// counts as refunded — and finished. Returns how many charges were recorded.
pub async fn reconcile(ctx: &AppCtx) -> Result<u64> {
    let busy = payment::Entity::find()
        .select_only()
        .column(payment::Column::ProjectId)
        .filter(
            Condition::any()
                .add(payment::Column::Status.eq(PaymentStatus::Refunding))
                .add(
                    Condition::all()
                        .add(payment::Column::IsFirstRecurring.eq(true))
                        .add(payment::Column::RenewalCanceled.eq(false)),
                ),
        )
        .into_query();
    let projects: Vec<Uuid> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(
            Condition::any()
                .add(project::Column::StarsEnabled.eq(true))
                .add(project::Column::Id.in_subquery(busy)),
        )
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if projects.is_empty() {
        return Ok(0);
    }
    let bots: Vec<Uuid> = bot::Entity::find()
        .select_only()
        .column(bot::Column::Id)
        .filter(bot::Column::ProjectId.is_in(projects))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    // Several bots at a time, so one slow or failing bot (its retries take seconds) does not
    // hold up the others.
    use futures::StreamExt;
    let recorded = futures::stream::iter(bots)
        .map(|bot_id| async move {
            match reconcile_bot(ctx, bot_id).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(bot = %bot_id, error = %e, "reconciling Star transactions failed");
                    0
                }
            }
        })
        .buffer_unordered(RECONCILE_CONCURRENCY)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    Ok(recorded)
}

async fn reconcile_bot(ctx: &AppCtx, bot_id: Uuid) -> Result<u64> {
    use teloxide::types::{TransactionPartner, TransactionPartnerUserKind};
    let Some(h) = bots::handle(ctx, bot_id).await? else {
        return Ok(0);
    };
    if !tenants::is_active(&ctx.db, h.tenant_id).await? {
        return Ok(0);
    }
    finish_refunds(ctx, &h).await?;
    let oldest = ctx.now() - Duration::days(RECONCILE_DAYS);
    let mut recorded = 0;
    for page in 0..RECONCILE_PAGES {
        let txs = telegram::sender::get_star_transactions(
            ctx,
            h.id,
            page * u32::from(RECONCILE_PAGE),
            RECONCILE_PAGE,
        )
        .await?;
        let n = txs.len();
        for tx in txs {
            if tx.date < oldest {
                continue;
            }
            let Some(TransactionPartner::User(u)) = &tx.source else {
                continue;
            };
            let TransactionPartnerUserKind::InvoicePayment(inv) = &u.kind else {
                continue;
            };
            let Some(payload) = inv.invoice_payload.clone() else {
                continue;
            };
            if verify(ctx, &payload).is_none() {
                continue;
            }
            let charge_id = tx.id.0.clone();
            let known = payment::Entity::find()
                .filter(payment::Column::TelegramPaymentChargeId.eq(&charge_id))
                .one(&ctx.db)
                .await?;
            // Recorded and confirmed: nothing to do. Recorded a moment ago: its own delivery
            // is confirming it. Recorded long enough ago without a confirmation: it was lost,
            // and goes now.
            if let Some(p) = &known
                && (p.confirmed_at.is_some()
                    || p.created_at > ctx.now() - Duration::seconds(CONFIRM_GRACE_SECS))
            {
                continue;
            }
            let recurring = inv.subscription_period.is_some();
            let charge = Charge {
                user: TgUser {
                    id: u.user.id.0 as i64,
                    username: u.user.username.clone(),
                    first_name: u.user.first_name.clone(),
                    language_code: u.user.language_code.clone(),
                },
                currency: CURRENCY.to_string(),
                total_amount: i64::from(tx.amount),
                payload,
                telegram_payment_charge_id: charge_id,
                is_recurring: recurring,
                is_first_recurring: false,
                subscription_expires_at: inv
                    .subscription_period
                    .filter(|_| recurring)
                    .map(|p| tx.date + p.chrono_duration()),
                recorded_by: RecordedBy::Reconciliation,
                paid_at: tx.date,
            };
            if let Err(e) = confirm(ctx, &h, charge.user.id, &charge).await {
                if unrecordable_first_seen(&charge.telegram_payment_charge_id) {
                    tracing::error!(bot = %h.id, charge = %charge.telegram_payment_charge_id, error = %e, "a paid charge could not be recorded or confirmed; passed over");
                }
                continue;
            }
            if known.is_none() {
                recorded += 1;
                tracing::warn!(bot = %h.id, charge = %charge.telegram_payment_charge_id, "a paid charge whose update never arrived was recorded");
            }
        }
        if n < usize::from(RECONCILE_PAGE) {
            break;
        }
    }
    Ok(recorded)
}

/// Whether this process has not yet logged that `charge` cannot be recorded (so each run
/// does not log it again).
fn unrecordable_first_seen(charge: &str) -> bool {
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if seen.len() > 10_000 {
        seen.clear();
    }
    seen.insert(charge.to_string())
}

/// Asks Telegram again for each of the bot's `refunding` payments (claimed over a minute ago)
/// and finishes those it refunded (see [`super::refund::settle`]).
async fn finish_refunds(ctx: &AppCtx, h: &telegram::BotHandle) -> Result<()> {
    let open = payment::Entity::find()
        .filter(payment::Column::ProjectId.eq(h.project_id))
        .filter(payment::Column::Status.eq(PaymentStatus::Refunding))
        // One claimed a moment ago is still being asked by the refund that claimed it.
        .filter(payment::Column::UpdatedAt.lt(ctx.now() - Duration::seconds(CONFIRM_GRACE_SECS)))
        .all(&ctx.db)
        .await?;
    for pay in open {
        let Some(user) = subscriber::Entity::find_by_id(pay.subscriber_id)
            .one(&ctx.db)
            .await?
        else {
            continue;
        };
        if let Err(e) = super::refund::settle(ctx, h.id, user.telegram_user_id, &pay, None).await {
            tracing::warn!(error = %e, payment = %pay.id, "Telegram refused a refund reconciliation asked again; the payment is paid again");
        }
    }
    Ok(())
}
