//! Configuration from the environment (names as in DESIGN.md). Every problem is reported
//! with the name of the variable at fault, at start, before anything listens.
use std::{net::SocketAddr, path::PathBuf};

/// Why the configuration could not be loaded; always names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// Where the secret key comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// Set in `GATEHOUSE_SECRET_KEY`.
    Env(String),
    /// Embedded default: generated once and kept in the data directory.
    DataDir(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(_) => f.write_str("Env(<redacted>)"),
            SecretSource::DataDir(p) => write!(f, "DataDir({})", p.display()),
        }
    }
}

/// Stripe settings; absent means billing runs offline.
#[derive(Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    pub webhook_secret: Option<String>,
    pub api_base: String,
    pub price_starter_monthly: Option<String>,
    pub price_starter_annual: Option<String>,
    pub price_growth_monthly: Option<String>,
    pub price_growth_annual: Option<String>,
    pub price_overage: Option<String>,
    pub meter_event_name: String,
    /// Per-attempt timeout of one Stripe API call (`STRIPE_TIMEOUT_SECS`, default 10).
    /// Kept well under the usage outbox's claim lease, so a claimed record is settled
    /// before any other flusher may take it again.
    pub timeout_secs: u64,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub bind: SocketAddr,
    pub public_url: Option<String>,
    pub secret: SecretSource,
    pub telegram_api_url: String,
    pub stripe: Option<StripeConfig>,
    pub stripe_webhook_secret: Option<String>,
    pub overage_fee_minor: i64,
    /// Prefix of the job queues; processes sharing a database and a prefix share the work.
    pub job_queue_prefix: String,
    /// Whether workers run the scheduled sweeps (`WORKER_SCHEDULES=off` turns them off,
    /// e.g. for a worker dedicated to jobs, or tests that drive sweeps themselves).
    pub worker_schedules: bool,
    /// Whether workers run the minute sweeps — subscription reminders and ends, code expiry
    /// (`WORKER_MINUTE_SWEEPS=off` leaves them to other workers; the test suite's apps on a
    /// shared database, whose clocks tests move, call them directly instead).
    pub worker_minute_sweeps: bool,
    /// How the worker paces jobs and recovers them (see [`JobTiming`]).
    pub jobs: JobTiming,
    /// PostgreSQL connections this process keeps at most (`DATABASE_MAX_CONNECTIONS`,
    /// default 20; SQLite always uses one).
    pub db_max_connections: u32,
    /// Reverse proxies in front of the API that append to `X-Forwarded-For`
    /// (`TRUSTED_PROXY_HOPS`, default 0: the header is ignored and the socket peer is the
    /// client). See `limits::client_ip`.
    pub trusted_proxy_hops: usize,
    /// Sign-ups accepted per client address per hour (`SIGNUP_PER_ADDRESS_PER_HOUR`,
    /// default 10). Every attempt counts, whether or not its email was taken.
    pub signup_per_address_per_hour: u64,
    /// Passwords hashed or verified at once per process (`PASSWORD_HASH_CONCURRENCY`,
    /// default twice the cores); beyond it sign-ins wait briefly, then get 503.
    pub password_hash_concurrency: usize,
    /// `WEBHOOK_ALLOW_PRIVATE=true` lets webhook endpoints use `http` and loopback, private
    /// and link-local addresses (tests, local development); never on by default.
    pub webhook_allow_private: bool,
    /// First retry delay of a webhook delivery (`WEBHOOK_RETRY_BASE_SECS`, default 10;
    /// doubling to 1 h, with jitter).
    pub webhook_retry_base_secs: u64,
    /// How often each worker looks for due webhook deliveries (`WEBHOOK_POLL_MS`, default 1000).
    pub webhook_poll_ms: u64,
    /// `METRICS_TOKEN`: `/metrics` answers only `Authorization: Bearer <token>`; unset, it
    /// is not served at all (404), so nothing about the service leaks by default.
    pub metrics_token: Option<String>,
}

/// The shortest `METRICS_TOKEN` accepted.
pub const MIN_METRICS_TOKEN_LEN: usize = 16;

/// `Debug` never shows secrets: URL passwords are replaced and the Stripe secrets left out,
/// so a logged or panicking `Config` leaks nothing.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("secret", &self.secret)
            .field("telegram_api_url", &self.telegram_api_url)
            .field("stripe", &self.stripe)
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("overage_fee_minor", &self.overage_fee_minor)
            .field("job_queue_prefix", &self.job_queue_prefix)
            .field("worker_schedules", &self.worker_schedules)
            .field("worker_minute_sweeps", &self.worker_minute_sweeps)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field(
                "signup_per_address_per_hour",
                &self.signup_per_address_per_hour,
            )
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("jobs", &self.jobs)
            .field("db_max_connections", &self.db_max_connections)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("webhook_retry_base_secs", &self.webhook_retry_base_secs)
            .field("webhook_poll_ms", &self.webhook_poll_ms)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A connection URL with its password (in the user info or a `password=` query parameter)
/// replaced by `<redacted>`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "<redacted>");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=<redacted>"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// Job retry and recovery timing. The defaults are the product's; tests shorten them
/// through the same variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTiming {
    /// First retry delay of a failed job (`JOB_RETRY_MIN_MS`, default 500 ms); it doubles
    /// with each attempt, with jitter, up to `JOB_RETRY_MAX_MS` (default 60 s).
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// Worker heartbeat (`JOB_HEARTBEAT_SECS`, default 5 s). A worker silent for four
    /// heartbeats is dead and its jobs go to the others: orphans are picked up within 20 s
    /// plus one heartbeat.
    pub heartbeat_secs: u64,
    /// A batch with no progress for this long (`BATCH_STUCK_AFTER_SECS`, default 300 s) is
    /// resumed (its job queued again) or, if its reservation never completed, failed; a
    /// sending broadcast untouched this long, with no job queued and no live claim, gets its
    /// job queued again.
    pub stuck_after_secs: u64,
    /// How often the worker flushes the usage outbox and looks for stuck batches
    /// (`JOB_SWEEP_SECS`, default 5 s: a dead worker's claims are free 20 s after its last
    /// beat, and the next sweep takes them, inside the 30 s takeover promise).
    pub sweep_secs: u64,
    /// First retry delay of a usage record Stripe did not take (`USAGE_RETRY_BASE_SECS`,
    /// default 30 s; doubles per attempt up to an hour).
    pub usage_retry_base_secs: u64,
    /// How often the worker reads each Stars bot's recent Star transactions to record
    /// payments whose update never arrived (`STARS_RECONCILE_SECS`, default 300 s).
    pub stars_reconcile_secs: u64,
}

impl Default for JobTiming {
    fn default() -> Self {
        JobTiming {
            retry_min_ms: 500,
            retry_max_ms: 60_000,
            heartbeat_secs: 5,
            stuck_after_secs: 300,
            sweep_secs: 5,
            usage_retry_base_secs: 30,
            stars_reconcile_secs: 300,
        }
    }
}

/// Beats a worker may miss before it is taken for dead.
pub const MISSED_HEARTBEATS: u64 = 4;

/// A switch that is on unless set to `off` (`false`, `0`).
fn on_off(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None | Some("on" | "true" | "1") => Ok(true),
        Some("off" | "false" | "0") => Ok(false),
        Some(other) => Err(bad(var, format!("expected on or off, got {other:?}"))),
    }
}

fn whole(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                bad(
                    var,
                    format!(
                        "expected a whole number from {} to {}, got {v:?}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
pub const DEFAULT_OVERAGE_FEE_MINOR: i64 = 10;
pub const DEFAULT_STRIPE_TIMEOUT_SECS: u64 = 10;
pub const MIN_SECRET_LEN: usize = 32;

fn check_url(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim().trim_end_matches('/');
    if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() < 10 {
        return Err(bad(var, format!("expected an http(s) URL, got {value:?}")));
    }
    Ok(v.to_string())
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "gatehouse-data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url) => {
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:"))
                {
                    return Err(bad("DATABASE_URL", "expected postgres://… or sqlite:…"));
                }
                url
            }
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("gatehouse.db").display()
            ),
        };
        let production = !database_url.starts_with("sqlite:");
        let redis_url = match get("REDIS_URL") {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => Some(u),
            Some(_) => return Err(bad("REDIS_URL", "expected redis://…")),
            None => None,
        };
        let bind_raw = get("BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let bind = bind_raw
            .parse::<SocketAddr>()
            .map_err(|_| bad("BIND", format!("expected host:port, got {bind_raw:?}")))?;
        let public_url = get("PUBLIC_URL")
            .map(|v| check_url("PUBLIC_URL", &v))
            .transpose()?;
        let secret = match get("GATEHOUSE_SECRET_KEY") {
            Some(s) if s.len() >= MIN_SECRET_LEN => SecretSource::Env(s),
            Some(_) => {
                return Err(bad(
                    "GATEHOUSE_SECRET_KEY",
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
            None if production => {
                return Err(bad(
                    "GATEHOUSE_SECRET_KEY",
                    "is required when DATABASE_URL points at PostgreSQL (production mode)",
                ));
            }
            None => SecretSource::DataDir(data_dir.join("secret.key")),
        };
        let telegram_api_url = check_url(
            "TELEGRAM_API_URL",
            &get("TELEGRAM_API_URL").unwrap_or_else(|| DEFAULT_TELEGRAM_API_URL.into()),
        )?;
        let stripe_api_base = check_url(
            "STRIPE_API_BASE",
            &get("STRIPE_API_BASE").unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.into()),
        )?;
        let stripe_webhook_secret = get("STRIPE_WEBHOOK_SECRET");
        let stripe = get("STRIPE_SECRET_KEY").map(|secret_key| StripeConfig {
            secret_key,
            webhook_secret: stripe_webhook_secret.clone(),
            api_base: stripe_api_base.clone(),
            price_starter_monthly: get("STRIPE_PRICE_STARTER_MONTHLY"),
            price_starter_annual: get("STRIPE_PRICE_STARTER_ANNUAL"),
            price_growth_monthly: get("STRIPE_PRICE_GROWTH_MONTHLY"),
            price_growth_annual: get("STRIPE_PRICE_GROWTH_ANNUAL"),
            price_overage: get("STRIPE_PRICE_OVERAGE"),
            meter_event_name: get("STRIPE_METER_EVENT_NAME")
                .unwrap_or_else(|| "gatehouse_overage_codes".into()),
            timeout_secs: DEFAULT_STRIPE_TIMEOUT_SECS,
        });
        let stripe = match (stripe, get("STRIPE_TIMEOUT_SECS")) {
            (Some(mut s), Some(v)) => {
                s.timeout_secs = v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=60).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "STRIPE_TIMEOUT_SECS",
                            format!("expected whole seconds from 1 to 60, got {v:?}"),
                        )
                    })?;
                Some(s)
            }
            (s, _) => s,
        };
        let overage_fee_minor = match get("OVERAGE_FEE_MINOR") {
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    bad(
                        "OVERAGE_FEE_MINOR",
                        format!("expected a whole number ≥ 0 of minor units, got {v:?}"),
                    )
                })?,
            None => DEFAULT_OVERAGE_FEE_MINOR,
        };
        let d = JobTiming::default();
        let jobs = JobTiming {
            retry_min_ms: whole(&get, "JOB_RETRY_MIN_MS", 1..=600_000, d.retry_min_ms)?,
            retry_max_ms: whole(&get, "JOB_RETRY_MAX_MS", 1..=3_600_000, d.retry_max_ms)?,
            heartbeat_secs: whole(&get, "JOB_HEARTBEAT_SECS", 1..=300, d.heartbeat_secs)?,
            stuck_after_secs: whole(
                &get,
                "BATCH_STUCK_AFTER_SECS",
                1..=86_400,
                d.stuck_after_secs,
            )?,
            sweep_secs: whole(&get, "JOB_SWEEP_SECS", 1..=3_600, d.sweep_secs)?,
            stars_reconcile_secs: whole(
                &get,
                "STARS_RECONCILE_SECS",
                1..=86_400,
                d.stars_reconcile_secs,
            )?,
            usage_retry_base_secs: whole(
                &get,
                "USAGE_RETRY_BASE_SECS",
                1..=3_600,
                d.usage_retry_base_secs,
            )?,
        };
        let db_max_connections = whole(&get, "DATABASE_MAX_CONNECTIONS", 2..=1_000, 20)? as u32;
        let metrics_token = match get("METRICS_TOKEN").filter(|t| !t.is_empty()) {
            Some(t) if t.len() < MIN_METRICS_TOKEN_LEN => {
                return Err(bad(
                    "METRICS_TOKEN",
                    format!("must be at least {MIN_METRICS_TOKEN_LEN} characters"),
                ));
            }
            t => t,
        };
        Ok(Config {
            metrics_token,
            jobs,
            db_max_connections,
            data_dir,
            database_url,
            redis_url,
            bind,
            public_url,
            secret,
            telegram_api_url,
            stripe,
            stripe_webhook_secret,
            overage_fee_minor,
            job_queue_prefix: get("JOB_QUEUE_PREFIX").unwrap_or_else(|| "gatehouse".into()),
            signup_per_address_per_hour: whole(
                &get,
                "SIGNUP_PER_ADDRESS_PER_HOUR",
                1..=1_000_000,
                10,
            )?,
            trusted_proxy_hops: match get("TRUSTED_PROXY_HOPS") {
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 10)
                    .ok_or_else(|| {
                        bad(
                            "TRUSTED_PROXY_HOPS",
                            format!("expected a number of proxies from 0 to 10, got {v:?}"),
                        )
                    })?,
                None => 0,
            },
            password_hash_concurrency: match get("PASSWORD_HASH_CONCURRENCY") {
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "PASSWORD_HASH_CONCURRENCY",
                            format!("expected a number from 1 to 256, got {v:?}"),
                        )
                    })?,
                None => std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .saturating_mul(2),
            },
            webhook_allow_private: match get("WEBHOOK_ALLOW_PRIVATE").as_deref().map(str::trim) {
                None | Some("false" | "off" | "0" | "") => false,
                Some("true" | "on" | "1") => true,
                Some(other) => {
                    return Err(bad(
                        "WEBHOOK_ALLOW_PRIVATE",
                        format!("expected true or false, got {other:?}"),
                    ));
                }
            },
            webhook_retry_base_secs: match get("WEBHOOK_RETRY_BASE_SECS") {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 3600)
                    .ok_or_else(|| {
                        bad(
                            "WEBHOOK_RETRY_BASE_SECS",
                            format!("expected seconds from 0 to 3600, got {v:?}"),
                        )
                    })?,
                None => 10,
            },
            webhook_poll_ms: match get("WEBHOOK_POLL_MS") {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (50..=60_000).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "WEBHOOK_POLL_MS",
                            format!("expected milliseconds from 50 to 60000, got {v:?}"),
                        )
                    })?,
                None => 1000,
            },
            worker_minute_sweeps: on_off(&get, "WORKER_MINUTE_SWEEPS")?,
            worker_schedules: on_off(&get, "WORKER_SCHEDULES")?,
        })
    }

    /// True on PostgreSQL; the embedded default is SQLite.
    pub fn is_postgres(&self) -> bool {
        !self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests;
