//! Abuse limits shared by every process: fixed-window attempt counters in the database
//! (one conditional upsert both counts an attempt and decides whether it may go ahead), the
//! bound on concurrent password hashing, and which address a request comes from.
use std::{
    net::{IpAddr, Ipv6Addr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use entity::login_limit::{self, Column};

use crate::error::{Error, ErrorKind, Result};

/// An attempt counted in a window; give it back with [`refund`] when it turned out not to
/// count (a success, or work refused before it began).
#[derive(Debug, Clone)]
pub struct Slot {
    pub key: String,
    pub window_start: DateTime<Utc>,
    /// Attempts in the window, this one included.
    pub attempts: i32,
}

/// Counts an attempt under `key` unless `max` attempts already fall in the current window
/// of `window`. One statement: `INSERT … ON CONFLICT (key) DO UPDATE … WHERE <window over or
/// attempts < max> RETURNING …`, so concurrent attempts serialise on the row and at most
/// `max` of them are ever let through per window (PostgreSQL and SQLite alike). `Err` holds
/// the seconds until the window ends.
pub async fn take(
    db: &impl ConnectionTrait,
    key: &str,
    max: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Slot, u64>> {
    let over = Expr::col((login_limit::Entity, Column::WindowStart)).lte(now - window);
    let stmt = Query::insert()
        .into_table(login_limit::Entity)
        .columns([Column::Key, Column::WindowStart, Column::Attempts])
        .values_panic([key.into(), now.into(), 1i32.into()])
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(
                    Column::Attempts,
                    Expr::case(over.clone(), 1i32)
                        .finally(Expr::col((login_limit::Entity, Column::Attempts)).add(1i32)),
                )
                .value(
                    Column::WindowStart,
                    Expr::case(over.clone(), now)
                        .finally(Expr::col((login_limit::Entity, Column::WindowStart))),
                )
                .action_and_where(
                    over.or(Expr::col((login_limit::Entity, Column::Attempts)).lt(max as i32)),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([Column::Attempts, Column::WindowStart]))
        .to_owned();
    let stmt = db.get_database_backend().build(&stmt);
    if let Some(row) = db.query_one_raw(stmt).await? {
        return Ok(Ok(Slot {
            key: key.to_string(),
            attempts: row.try_get("", "attempts")?,
            window_start: row.try_get("", "window_start")?,
        }));
    }
    let start = login_limit::Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .map_or(now, |r| r.window_start);
    Ok(Err(Ord::max((start + window - now).num_seconds(), 1) as u64))
}

/// Gives a counted attempt back, if its window is still the current one.
pub async fn refund(db: &impl ConnectionTrait, slot: &Slot) -> Result<()> {
    login_limit::Entity::update_many()
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1i32))
        .filter(Column::Key.eq(&slot.key))
        .filter(Column::WindowStart.eq(slot.window_start))
        .filter(Column::Attempts.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets every attempt under `key` (a successful login clears its email's counter).
pub async fn reset(db: &impl ConnectionTrait, key: &str) -> Result<()> {
    login_limit::Entity::delete_by_id(key.to_string())
        .exec(db)
        .await?;
    Ok(())
}

/// The longest window any counter here uses (sign-ups per address: an hour). Pruning
/// forgets only counters older than this, whatever their own window.
pub const LONGEST_WINDOW: Duration = Duration::hours(1);

/// Deletes counters whose window started before `cutoff` (pass a time at least
/// [`LONGEST_WINDOW`] ago, so no counter still in its window is lost).
pub async fn prune(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64> {
    Ok(login_limit::Entity::delete_many()
        .filter(Column::WindowStart.lte(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

// --- where a request comes from ---------------------------------------------------------------

/// The client address of a request. With `trusted_proxy_hops = 0` (the default) it is the
/// socket's peer and `X-Forwarded-For` is ignored, since any client can write that header.
/// With `n` trusted reverse proxies in front, each appending the address it received the
/// request from, the client is the `n`-th entry from the right of `X-Forwarded-For`; entries
/// further left were written by the client and are never believed. A header with fewer
/// entries than that (a misconfigured proxy) falls back to the peer.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxy_hops: usize,
) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let Some(h) = forwarded_for else {
        return peer;
    };
    let entries: Vec<&str> = h.split(',').map(str::trim).collect();
    if entries.len() < trusted_proxy_hops {
        return peer;
    }
    entries[entries.len() - trusted_proxy_hops]
        .parse::<IpAddr>()
        .unwrap_or(peer)
}

/// The key an address is limited under: IPv4 addresses as they are, IPv6 by their /64 (one
/// subscriber line usually holds a whole /64, so single addresses would be free to rotate).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

// --- password hashing ---------------------------------------------------------------------------

/// Server busy: too much password hashing in flight. 503 with `Retry-After`.
pub const SERVER_BUSY: &str = "server_busy";
/// How long a request waits for a hashing permit before it is refused.
pub const PASSWORD_WORK_WAIT: StdDuration = StdDuration::from_secs(2);

/// Bounds concurrent argon2 work (≈ 19 MiB and a core each), so unauthenticated requests
/// cannot exhaust memory or starve the process. A few requests may wait briefly for a
/// permit; beyond that they are refused at once.
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl PasswordWork {
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        PasswordWork {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency * 4,
        }
    }

    /// A permit to hash or verify one password, or `server_busy` (503, `Retry-After: 1`).
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        let busy = || {
            let mut e = Error::new(
                ErrorKind::Unavailable,
                SERVER_BUSY,
                "too many sign-ins at once; try again in a moment",
            );
            e.retry_after = Some(1);
            e
        };
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let got =
            tokio::time::timeout(PASSWORD_WORK_WAIT, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(Ok(p)) => Ok(p),
            _ => Err(busy()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_as_far_as_trusted_proxies() {
        let peer = Some("10.0.0.1".parse().unwrap());
        let h = Some("6.6.6.6, 1.2.3.4, 10.0.0.9");
        assert_eq!(client_ip(peer, h, 0).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, h, 1).to_string(), "10.0.0.9");
        assert_eq!(client_ip(peer, h, 2).to_string(), "1.2.3.4");
        assert_eq!(client_ip(peer, h, 4).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, Some("garbage"), 1).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, None, 1).to_string(), "10.0.0.1");
    }

    #[test]
    fn ipv6_is_limited_by_its_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}
