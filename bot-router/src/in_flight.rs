//! The update tasks the webhook has spawned and not yet finished: tracked as a whole, so a
//! shutting-down process waits for them ([`drain`]) instead of dropping acknowledged updates,
//! and counted per tenant, so the integration suite can wait until a conversation's replies
//! are all sent before asserting that nothing more came.
use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use uuid::Uuid;

static IN_FLIGHT: LazyLock<Mutex<HashMap<Uuid, usize>>> = LazyLock::new(Default::default);
static TASKS: LazyLock<tokio_util::task::TaskTracker> =
    LazyLock::new(tokio_util::task::TaskTracker::new);

/// Runs one acknowledged update's handling in the background, tracked for [`drain`].
pub(crate) fn spawn<F>(tenant_id: Uuid, work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let guard = Guard::start(tenant_id);
    TASKS.spawn(async move {
        let _guard = guard;
        work.await
    });
}

/// Waits, at most `limit`, for every update task still running (called after the HTTP
/// server stopped accepting requests). Answers how many were still running at the limit.
pub async fn drain(limit: std::time::Duration) -> usize {
    TASKS.close();
    let running = TASKS.len();
    if running > 0 {
        tracing::info!(running, "waiting for in-flight updates");
    }
    if tokio::time::timeout(limit, TASKS.wait()).await.is_err() {
        let left = TASKS.len();
        tracing::warn!(left, "in-flight updates still running at shutdown");
        return left;
    }
    0
}

/// How many webhook update tasks of `tenant_id` are still running.
pub fn updates_in_flight(tenant_id: Uuid) -> usize {
    IN_FLIGHT
        .lock()
        .map(|m| m.get(&tenant_id).copied().unwrap_or(0))
        .unwrap_or(0)
}

/// Held by one update task; counted from before the spawn until the task ends (or panics).
pub(crate) struct Guard(Uuid);

impl Guard {
    pub(crate) fn start(tenant_id: Uuid) -> Self {
        if let Ok(mut m) = IN_FLIGHT.lock() {
            *m.entry(tenant_id).or_default() += 1;
        }
        Guard(tenant_id)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut m) = IN_FLIGHT.lock()
            && let Some(n) = m.get_mut(&self.0)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.0);
            }
        }
    }
}
