//! Fault points for the process-level tests: named places where a test run can make the
//! real binary fail the way production can (an error after the quota reservation, a process
//! dying mid-way). Set `GATEHOUSE_TEST_FAULTS=<point>=<error|exit>[,…]`; unset (always, in
//! production) every point is a no-op. Read once per process.
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// After the quota is reserved and the split written, before the transaction commits.
pub const AFTER_RESERVATION: &str = "after_reservation";
/// After a batch's codes are written, before it is handed to delivery.
pub const AFTER_GENERATION: &str = "after_generation";
/// At the start of handling an acknowledged Telegram update.
pub const HANDLING_UPDATE: &str = "handling_update";
/// After a worker claimed usage records, before it sends them to Stripe.
pub const AFTER_USAGE_CLAIM: &str = "after_usage_claim";
/// After Stripe accepted a usage record, before the worker records it as sent.
pub const AFTER_USAGE_SENT: &str = "after_usage_sent";
/// After a worker claimed a batch's delivery, before it sends anything.
pub const AFTER_DELIVERY_CLAIM: &str = "after_delivery_claim";
/// After a worker claimed a broadcast recipient, before it sends the message.
pub const AFTER_BROADCAST_CLAIM: &str = "after_broadcast_claim";
/// After a worker claimed webhook deliveries, before it sends them.
pub const AFTER_WEBHOOK_CLAIM: &str = "after_webhook_claim";

/// When a process announces a changed row to the others (`error`: the announcement is
/// lost; the process still forgets the row itself).
pub const ANNOUNCEMENT: &str = "announcement";

fn points() -> &'static [(String, String)] {
    static POINTS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("GATEHOUSE_TEST_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    })
}

/// As [`hit`], and also `pause`: the task waits there for ever, holding whatever it claimed,
/// while the process stays alive and beating (a test then kills it, as SIGKILL would);
/// `pause@N` passes the first N−1 times and pauses the N-th (mid-way through a run of work).
pub async fn reach(name: &str) -> Result<()> {
    static REACHED: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
    let pause = match points()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
    {
        Some("pause") => true,
        Some(v) if v.starts_with("pause@") => {
            let nth: usize = v["pause@".len()..].parse().unwrap_or(1);
            let mut reached = REACHED.lock().unwrap_or_else(|e| e.into_inner());
            let n = match reached.iter_mut().find(|(k, _)| k == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    reached.push((name.to_string(), 1));
                    1
                }
            };
            n == nth
        }
        _ => false,
    };
    if pause {
        tracing::warn!(point = name, "injected fault: pausing");
        std::future::pending::<()>().await;
    }
    hit(name)
}

/// Passes unless the fault point `name` is armed: `error` answers an internal error,
/// `error_once` does so the first time only (a blip), `exit` ends the process at once (as a
/// crash or SIGKILL would).
pub fn hit(name: &str) -> Result<()> {
    static ONCE_SPENT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    match points()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
    {
        Some("error_once") => {
            let mut spent = ONCE_SPENT.lock().unwrap_or_else(|e| e.into_inner());
            if spent.iter().any(|s| s == name) {
                return Ok(());
            }
            spent.push(name.to_string());
            Err(Error::internal(anyhow::anyhow!("injected fault at {name}")))
        }
        Some("exit") => {
            tracing::error!(point = name, "injected fault: exiting");
            std::process::exit(86)
        }
        Some("error") => Err(Error::internal(anyhow::anyhow!("injected fault at {name}"))),
        _ => Ok(()),
    }
}
