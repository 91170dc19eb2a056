//! A count of the update tasks the webhook has spawned and not yet finished, per tenant.
//! It changes nothing in how updates are handled; it lets the integration suite wait until
//! a conversation's replies are all sent before asserting that nothing more came.
use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use uuid::Uuid;

static IN_FLIGHT: LazyLock<Mutex<HashMap<Uuid, usize>>> = LazyLock::new(Default::default);

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
