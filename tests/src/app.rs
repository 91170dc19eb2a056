//! Spawning the real application for a test.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use domain::{AppCtx, clock::ManualClock, config::Config};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The `METRICS_TOKEN` of test apps: `/metrics` answers only with it.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const TEST_SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Production shape: PostgreSQL and Redis.
    Postgres,
    /// Embedded default: a SQLite file, no Redis.
    Sqlite,
}

static PG_DB: OnceCell<String> = OnceCell::const_new();

/// One PostgreSQL database per test run, migrated once; tests isolate by tenant.
async fn pg_database() -> String {
    PG_DB
        .get_or_init(|| {
            create_pg_database(format!(
                "gatehouse_test_{}_{}",
                std::process::id(),
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            ))
        })
        .await
        .clone()
}

/// The claimer identity (`AppCtx::instance`) of every app this test process runs on the
/// shared database.
fn run_instance() -> uuid::Uuid {
    static RUN: std::sync::OnceLock<uuid::Uuid> = std::sync::OnceLock::new();
    *RUN.get_or_init(uuid::Uuid::now_v7)
}

/// A PostgreSQL database of its own, migrated, for tests that act on every tenant at once
/// (e.g. the usage outbox flusher) and so cannot share the run's database with tests
/// running beside them. Pass it as `DATABASE_URL` to [`TestApp::spawn_on`].
pub async fn isolated_pg_database() -> String {
    create_pg_database(format!("gatehouse_iso_{}", uuid::Uuid::new_v4().simple())).await
}

/// Creates the database `name`, migrates it and sets up apalis' job tables; returns its URL.
async fn create_pg_database(name: String) -> String {
    let admin_url = std::env::var("TEST_PG_ADMIN_URL").unwrap_or_else(|_| PG_ADMIN_URL.into());
    let admin = Database::connect(&admin_url)
        .await
        .expect("connecting to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .expect("admin url has a database")
        .0;
    let url = format!("{base}/{name}");
    let db = Database::connect(&url)
        .await
        .expect("connecting to the test database");
    use migration::MigratorTrait;
    migration::Migrator::up(&db, None)
        .await
        .expect("migrating the test database");
    domain::jobs::setup(&db)
        .await
        .expect("setting up the job tables");
    db.close().await.ok();
    url
}

pub struct TestApp {
    pub base: String,
    pub ctx: AppCtx,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub backend: Backend,
    pub shutdown: CancellationToken,
    /// The tenants signed up through [`TestApp::signup`], whose update tasks
    /// [`TestApp::wait_idle`] waits for.
    pub(crate) tenants: Arc<Mutex<Vec<Uuid>>>,
    /// The fake Bot API this app talks to (its own unless the test brought one), where
    /// [`TestApp::post_batch`] connects a bot for a project that has none.
    pub tg: Option<crate::fake_telegram::FakeTelegram>,
    _data_dir: Arc<TempDir>,
}

/// A directory removed when the app is dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("gatehouse-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).expect("creating temp dir");
        TempDir(p)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(Backend::Postgres, HashMap::new()).await
    }

    pub async fn spawn_sqlite() -> Self {
        Self::spawn_on(Backend::Sqlite, HashMap::new()).await
    }

    /// Starts the app on `backend` with extra environment settings.
    pub async fn spawn_on(backend: Backend, extra: HashMap<String, String>) -> Self {
        Self::spawn_full(backend, extra, true).await
    }

    /// Without the background worker, for tests that drive jobs themselves.
    pub async fn spawn_without_worker(backend: Backend) -> Self {
        Self::spawn_full(backend, HashMap::new(), false).await
    }

    pub async fn spawn_full(
        backend: Backend,
        extra: HashMap<String, String>,
        worker: bool,
    ) -> Self {
        init_logs();
        let data_dir = Arc::new(TempDir::new());
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("BIND".into(), "127.0.0.1:0".into());
        env.insert("DATA_DIR".into(), data_dir.0.display().to_string());
        env.insert("GATEHOUSE_SECRET_KEY".into(), TEST_SECRET.into());
        env.insert("METRICS_TOKEN".into(), METRICS_TOKEN.into());
        // Every test signs up from 127.0.0.1; the sign-up limit's own test sets it low.
        env.insert("SIGNUP_PER_ADDRESS_PER_HOUR".into(), "1000000".into());
        // Each app its own job queues, so a worker of another test never takes its jobs.
        env.insert(
            "JOB_QUEUE_PREFIX".into(),
            format!("test-{}", uuid::Uuid::new_v4().simple()),
        );
        if backend == Backend::Postgres {
            env.insert("DATABASE_URL".into(), pg_database().await);
            env.insert(
                "REDIS_URL".into(),
                std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| REDIS_URL.into()),
            );
        }
        env.extend(extra);
        // Every app talks to a fake Bot API: codes need a connected bot.
        let own_tg = if env.contains_key("TELEGRAM_API_URL") {
            None
        } else {
            let fake = crate::fake_telegram::FakeTelegram::start().await;
            env.insert("TELEGRAM_API_URL".into(), fake.url.clone());
            Some(fake)
        };
        if backend == Backend::Postgres {
            // Eight tests at once and the process clusters share PostgreSQL's connections:
            // each app pools a few (requests beyond them wait their turn).
            env.entry("DATABASE_MAX_CONNECTIONS".into())
                .or_insert_with(|| "8".into());
        }
        let shared =
            backend == Backend::Postgres && env.get("DATABASE_URL") == Some(&pg_database().await);
        if shared {
            // The periodic sweeps (stuck-batch recovery, the usage outbox) act on every
            // tenant. On the run's shared database an app whose clock a test walked forward
            // would take other tests' work for stuck, or their claimer for dead, and push it
            // into its own queues: there they run hourly. Tests of the sweeps use a database
            // of their own (`isolated_pg_database`).
            env.entry("JOB_SWEEP_SECS".into())
                .or_insert_with(|| "3600".into());
        }
        // The minute sweeps (subscription ends and reminders, code expiry, lapsed promo
        // places): tests call them directly, after walking the app's clock — on any database,
        // or the app's own cron would race them for the same rows. Process tests (`cluster`)
        // show them running in a real worker.
        env.entry("WORKER_MINUTE_SWEEPS".into())
            .or_insert_with(|| "off".into());
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let db = domain::ctx::connect_db(&config).await.expect("db");
        let redis = match &config.redis_url {
            Some(u) => Some(domain::ctx::connect_redis(u).await.expect("redis")),
            None => None,
        };
        let clock = ManualClock::default();
        let mut ctx = AppCtx::from_parts(db, redis, config, TEST_SECRET, Arc::new(clock.clone()));
        if shared {
            // One claimer for every app of this test process on the shared database: an app
            // that ended mid-delivery is not a dead worker whose claims others take over
            // (the worker takeover tests run real processes on databases of their own).
            ctx.instance = run_instance();
        }
        if backend == Backend::Sqlite {
            ctx.migrate().await.expect("migrating SQLite");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        tokio::spawn(gatehouse::app::serve_http(
            ctx.clone(),
            listener,
            shutdown.clone(),
        ));
        if worker {
            tokio::spawn(worker::run(ctx.clone(), shutdown.clone()));
        }
        TestApp {
            base,
            ctx,
            clock,
            http: reqwest::Client::new(),
            backend,
            shutdown,
            tenants: Arc::default(),
            tg: own_tg,
            _data_dir: data_dir,
        }
    }

    /// A test handle on processes running elsewhere (the real binary): HTTP goes to `base`,
    /// and `ctx` is a connection of its own to the same database and Redis (on the real
    /// clock), for setting up what no endpoint offers and for reading the truth.
    pub async fn attach(base: String, env: &HashMap<String, String>) -> Self {
        init_logs();
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("cluster config");
        let db = domain::ctx::connect_db(&config).await.expect("db");
        let redis = match &config.redis_url {
            Some(u) => Some(domain::ctx::connect_redis(u).await.expect("redis")),
            None => None,
        };
        let ctx = AppCtx::from_parts(
            db,
            redis,
            config,
            TEST_SECRET,
            Arc::new(domain::clock::SystemClock),
        );
        TestApp {
            base,
            ctx,
            clock: ManualClock::default(),
            http: reqwest::Client::new(),
            backend: Backend::Postgres,
            shutdown: CancellationToken::new(),
            tenants: Arc::default(),
            tg: None,
            _data_dir: Arc::new(TempDir::new()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a JSON request (token optional) and returns status and parsed body (Null if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }
}

impl TestApp {
    /// Waits (bounded) until the app is idle: no webhook update task of its creators is
    /// still running, and none of its jobs is pending, queued, running or due for a retry.
    /// For asserting that something did *not* happen, without a fixed sleep.
    ///
    /// Update tasks are checked before jobs: an update task pushes its job before it ends,
    /// and a job pushes the next one before it is marked done, so nothing slips between.
    pub async fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let updates = self.updates_in_flight();
            let jobs = if updates == 0 {
                self.jobs_in_flight().await
            } else {
                0
            };
            if updates == 0 && jobs == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the app did not become idle: {updates} update tasks, {jobs} jobs in flight"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Webhook update tasks of this app's creators still running.
    pub fn updates_in_flight(&self) -> usize {
        let tenants = self.tenants.lock().expect("tenants").clone();
        tenants.into_iter().map(bot_router::updates_in_flight).sum()
    }

    /// This app's apalis jobs not finished yet: pending, queued, running, or failed with
    /// attempts left (apalis' own notion of a job still to run). Jobs live in apalis' tables
    /// (`apalis.jobs` on PostgreSQL, `Jobs` on SQLite), one queue (`job_type`) per job type,
    /// named `<JOB_QUEUE_PREFIX>::<type>`.
    pub async fn jobs_in_flight(&self) -> i64 {
        let (backend, table, like) = match self.ctx.db.get_database_backend() {
            DatabaseBackend::Postgres => (DatabaseBackend::Postgres, "apalis.jobs", "$1"),
            _ => (DatabaseBackend::Sqlite, "Jobs", "?"),
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE job_type LIKE {like} \
             AND (status IN ('Pending', 'Queued', 'Running') \
                  OR (status = 'Failed' AND attempts < max_attempts))"
        );
        let prefix = format!("{}::%", self.ctx.config.job_queue_prefix);
        let row = self
            .ctx
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [prefix.into()],
            ))
            .await
            .expect("counting jobs in flight")
            .expect("a count");
        row.try_get::<i64>("", "n").expect("the count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Asserts an API error: status, code, and (when given) the field at fault.
#[track_caller]
pub fn assert_error(
    got: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(got.0, status, "status of {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "code of {}", got.1);
    if let Some(f) = field {
        assert!(
            got.1["error"]["fields"].get(f).is_some(),
            "field {f} missing in {}",
            got.1
        );
    }
}

/// Logs go to the test's captured output; `RUST_LOG` sets the filter (default: errors).
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "error".into()),
            )
            .with_test_writer()
            .try_init();
    });
}
