//! `AppCtx`: the one context shared by axum state, jobs and the bot dispatcher.
//! Cheap to clone; everything inside is behind an `Arc` or is itself a pool handle.
use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use rand::RngCore;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sha2::{Digest, Sha256};

use crate::{
    clock::{Clock, SystemClock},
    config::{Config, SecretSource},
    limits::PasswordWork,
};

#[derive(Clone)]
pub struct AppCtx {
    pub db: DatabaseConnection,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    /// The per-process bound on concurrent password hashing.
    pub password_work: Arc<PasswordWork>,
    /// This application instance's identity as a claimer of shared work (`claims`): one per
    /// process in production; tests running several apps in one process get one each.
    pub instance: uuid::Uuid,
}

/// Keys derived from `GATEHOUSE_SECRET_KEY`, one per purpose so no two uses share key material.
pub struct Keys {
    pub jwt_encoding: jsonwebtoken::EncodingKey,
    pub jwt_decoding: jsonwebtoken::DecodingKey,
    /// 32-byte key for encrypting secrets at rest (bot tokens).
    pub at_rest: [u8; 32],
    /// HMAC key signing Telegram Stars invoice payloads.
    pub invoice: [u8; 32],
}

impl Keys {
    pub fn derive(secret: &str) -> Self {
        let purpose = |p: &str| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(p.as_bytes());
            h.update([0u8]);
            h.update(secret.as_bytes());
            h.finalize().into()
        };
        let jwt = purpose("gatehouse/jwt");
        Keys {
            jwt_encoding: jsonwebtoken::EncodingKey::from_secret(&jwt),
            jwt_decoding: jsonwebtoken::DecodingKey::from_secret(&jwt),
            at_rest: purpose("gatehouse/at-rest"),
            invoice: purpose("gatehouse/stars-invoice"),
        }
    }
}

/// Reads the secret key, generating and keeping one in the data directory for the embedded default.
/// The generated file is created readable by its owner only (mode 0600 from the start, never
/// widened then narrowed); two processes starting at once agree on the first one written.
pub fn load_secret(source: &SecretSource) -> anyhow::Result<String> {
    let read = |path: &std::path::Path| -> Option<String> {
        let s = std::fs::read_to_string(path).ok()?;
        let s = s.trim().to_string();
        (s.len() >= crate::config::MIN_SECRET_LEN).then_some(s)
    };
    match source {
        SecretSource::Env(s) => Ok(s.clone()),
        SecretSource::DataDir(path) => {
            if let Some(s) = read(path) {
                return Ok(s);
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            if path.exists() {
                // Too short to be ours (e.g. an interrupted write): replace it.
                std::fs::remove_file(path)
                    .with_context(|| format!("replacing the unusable {}", path.display()))?;
            }
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let s = hex::encode(bytes);
            let mut open = std::fs::OpenOptions::new();
            open.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                open.mode(0o600);
            }
            match open.open(path) {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(s.as_bytes())
                        .and_then(|_| f.sync_all())
                        .with_context(|| format!("writing secret key to {}", path.display()))?;
                    Ok(s)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    read(path).with_context(|| format!("reading the secret key {}", path.display()))
                }
                Err(e) => {
                    Err(e).with_context(|| format!("creating secret key file {}", path.display()))
                }
            }
        }
    }
}

/// Opens the database named by the configuration (creating the SQLite file and its directory).
pub async fn connect_db(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if !config.is_postgres() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    let mut opts = ConnectOptions::new(config.database_url.clone());
    // SQLite has one writer. With several pooled connections, a transaction that reads and
    // then writes fails at once with "database is locked" when another connection wrote in
    // between (busy_timeout cannot help a deferred upgrade). One connection serialises the
    // embedded default cleanly; PostgreSQL gets a real pool.
    opts.max_connections(if config.is_postgres() {
        config.db_max_connections
    } else {
        1
    })
    .min_connections(1)
    .connect_timeout(Duration::from_secs(10))
    .acquire_timeout(Duration::from_secs(30))
    .sqlx_logging(false)
    .map_sqlx_sqlite_opts(|o| {
        use sea_orm::sqlx::sqlite::SqliteJournalMode;
        o.journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
    });
    let mut db = Database::connect(opts)
        .await
        .context("connecting to DATABASE_URL")?;
    db.set_metric_callback(|_| {
        STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(db)
}

static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Statements this process has sent to the database since it started, each one round trip
/// (`BEGIN` and `COMMIT` are not counted). `db_statements_total` on `/metrics`; the redemption
/// benchmark divides it by the redemptions it made.
pub fn statements_sent() -> u64 {
    STATEMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

pub async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    let client = redis::Client::open(url).context("parsing REDIS_URL")?;
    redis::aio::ConnectionManager::new(client)
        .await
        .context("connecting to REDIS_URL")
}

impl AppCtx {
    /// Connects everything the configuration names. Migrations are run separately.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let secret = load_secret(&config.secret)?;
        let db = connect_db(&config).await?;
        let redis = match &config.redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        Ok(Self::from_parts(
            db,
            redis,
            config,
            &secret,
            Arc::new(SystemClock),
        ))
    }

    pub fn from_parts(
        db: DatabaseConnection,
        redis: Option<redis::aio::ConnectionManager>,
        config: Config,
        secret: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AppCtx {
            db,
            redis,
            password_work: Arc::new(PasswordWork::new(config.password_hash_concurrency)),
            config: Arc::new(config),
            clock,
            keys: Arc::new(Keys::derive(secret)),
            instance: uuid::Uuid::now_v7(),
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        use migration::MigratorTrait;
        migration::Migrator::up(&self.db, None)
            .await
            .context("running migrations")?;
        crate::jobs::setup(&self.db)
            .await
            .context("setting up the job tables")
    }

    /// Readiness: the database answers, and Redis too when configured.
    pub async fn check_ready(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| format!("database: {e}"))?;
        if let Some(r) = &self.redis {
            let mut r = r.clone();
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut r).await;
            pong.map_err(|e| format!("redis: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_generated_secret_key_is_private_from_the_start_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gh-secret-{}", uuid::Uuid::new_v4()));
        let path = dir.join("secret.key");
        let source = SecretSource::DataDir(path.clone());
        let first = load_secret(&source).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret.key mode {mode:o}");
        assert!(first.len() >= crate::config::MIN_SECRET_LEN);
        assert_eq!(load_secret(&source).unwrap(), first);
        // An unusable file is replaced by a private one.
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = load_secret(&source).unwrap();
        assert_ne!(again, first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
