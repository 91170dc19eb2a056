//! The real `gatehouse` binary as OS processes: `migrate`, then any number of `api` and
//! `worker` processes on one PostgreSQL database (of their own) and one Redis database (of
//! their own, so flushing it touches no other test), with Telegram and Stripe faked at the
//! wire. Processes can be killed (SIGKILL), stopped (SIGTERM) and started again.
use std::{collections::HashMap, path::PathBuf, time::Duration};

use reqwest::StatusCode;

use crate::{
    TestApp,
    app::{REDIS_URL, TEST_SECRET, TempDir, isolated_pg_database},
    fake_stripe::FakeStripe,
    fake_telegram::FakeTelegram,
    telegram::PUBLIC_URL,
};

/// The built binary: `target/<profile>/gatehouse`, beside the test executable's `deps/`.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let p = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("gatehouse");
    assert!(
        p.exists(),
        "build the gatehouse binary first ({})",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// One running `gatehouse` process.
pub struct Proc {
    pub role: &'static str,
    /// `http://127.0.0.1:<port>` for an api process.
    pub base: Option<String>,
    pub log: PathBuf,
    extra: HashMap<String, String>,
    child: Option<tokio::process::Child>,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let ok = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .expect("kill")
                .success();
            assert!(ok, "kill {sig} {pid}");
        }
    }

    /// SIGKILL, as a crash would; waits until the process is gone.
    pub async fn kill(&mut self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.wait().await;
        }
    }

    /// SIGTERM; waits (bounded) for the exit and answers its status code.
    pub async fn terminate(&mut self) -> Option<i32> {
        self.signal("-TERM");
        let mut c = self.child.take()?;
        tokio::time::timeout(Duration::from_secs(40), c.wait())
            .await
            .expect("process stops after SIGTERM")
            .ok()
            .and_then(|s| s.code())
    }

    /// Waits for the process to exit on its own (e.g. an injected fault), bounded.
    pub async fn exited(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        tokio::time::timeout(Duration::from_secs(30), c.wait())
            .await
            .expect("process exits")
            .ok()
            .and_then(|s| s.code())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Processes of one deployment, and the fakes they talk to.
pub struct Cluster {
    pub env: HashMap<String, String>,
    pub tg: FakeTelegram,
    pub stripe: FakeStripe,
    /// A handle on api process 0 (HTTP) and on the database (setup and reading the truth).
    pub app: TestApp,
    pub apis: Vec<Proc>,
    pub workers: Vec<Proc>,
    /// The Redis database index of this cluster.
    pub redis_db: u32,
    dir: TempDir,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

/// Clusters running at once: each is several processes with their own connection pools, on
/// a machine whose PostgreSQL allows 100 connections and whose cores the rest of the suite
/// shares.
const CLUSTERS_AT_ONCE: usize = 2;

static TURNS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(CLUSTERS_AT_ONCE)));

/// Timings short enough for a test to watch recovery happen, through the product's own
/// settings.
pub fn quick_timings() -> HashMap<String, String> {
    [
        ("JOB_SWEEP_SECS", "1"),
        ("BATCH_STUCK_AFTER_SECS", "3"),
        ("JOB_RETRY_MIN_MS", "200"),
        ("JOB_RETRY_MAX_MS", "2000"),
        ("USAGE_RETRY_BASE_SECS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Cluster {
    /// Migrates a fresh database, then starts `apis` api and `workers` worker processes,
    /// all with `extra` settings on top of the cluster's own.
    pub async fn start(apis: usize, workers: usize, extra: HashMap<String, String>) -> Self {
        let turn = TURNS.clone().acquire_owned().await.expect("cluster turns");
        let tg = FakeTelegram::start().await;
        let stripe = FakeStripe::start().await;
        let dir = TempDir::new();
        // Databases 1–15 of the local Redis, in turn (at most two clusters run at once), so
        // a cluster flushes only its own.
        static NEXT_DB: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let redis_db = 1 + NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 15;
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("DATABASE_URL".into(), isolated_pg_database().await);
        env.insert("REDIS_URL".into(), format!("{REDIS_URL}/{redis_db}"));
        env.insert("GATEHOUSE_SECRET_KEY".into(), TEST_SECRET.into());
        env.insert("SIGNUP_PER_ADDRESS_PER_HOUR".into(), "1000000".into());
        env.insert("TELEGRAM_API_URL".into(), tg.url.clone());
        env.insert("PUBLIC_URL".into(), PUBLIC_URL.into());
        env.insert("DATA_DIR".into(), dir.0.display().to_string());
        // Many processes share the test machine's PostgreSQL (100 connections in all).
        env.insert("DATABASE_MAX_CONNECTIONS".into(), "6".into());
        env.insert(
            "RUST_LOG".into(),
            "info,sqlx=warn,sea_orm=warn,apalis=warn".into(),
        );
        env.extend(stripe.env());
        env.extend(extra);
        let out = tokio::process::Command::new(binary())
            .arg("migrate")
            .env_clear()
            .envs(&env)
            .output()
            .await
            .expect("gatehouse migrate");
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut apis_v = Vec::new();
        for _ in 0..apis {
            apis_v.push(Self::spawn(&env, &dir, "api", HashMap::new()).await);
        }
        let mut workers_v = Vec::new();
        for _ in 0..workers {
            workers_v.push(Self::spawn(&env, &dir, "worker", HashMap::new()).await);
        }
        let base = apis_v
            .first()
            .and_then(|p| p.base.clone())
            .unwrap_or_else(|| "http://127.0.0.1:9".into());
        let mut app = TestApp::attach(base, &env).await;
        app.tg = Some(tg.clone());
        Cluster {
            env,
            tg,
            stripe,
            app,
            apis: apis_v,
            workers: workers_v,
            redis_db,
            dir,
            _turn: turn,
        }
    }

    async fn spawn(
        env: &HashMap<String, String>,
        dir: &TempDir,
        role: &'static str,
        extra: HashMap<String, String>,
    ) -> Proc {
        let log = dir
            .0
            .join(format!("{role}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let port = free_port();
        let mut cmd = tokio::process::Command::new(binary());
        cmd.arg(role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .envs(&extra)
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true);
        let child = cmd.spawn().expect("spawning gatehouse");
        let base = (role == "api").then(|| format!("http://127.0.0.1:{port}"));
        let p = Proc {
            role,
            base,
            log,
            extra,
            child: Some(child),
        };
        if let Some(b) = &p.base {
            wait_ready(b, &p).await;
        }
        p
    }

    /// Starts another process of `role` with `extra` settings (e.g. a fault point).
    pub async fn add(&mut self, role: &'static str, extra: HashMap<String, String>) -> usize {
        let p = Self::spawn(&self.env, &self.dir, role, extra).await;
        if role == "api" {
            self.apis.push(p);
            self.apis.len() - 1
        } else {
            self.workers.push(p);
            self.workers.len() - 1
        }
    }

    /// Starts a stopped process again, with the settings it had.
    pub async fn restart(&mut self, role: &'static str, i: usize) {
        let extra = match role {
            "api" => self.apis[i].extra.clone(),
            _ => self.workers[i].extra.clone(),
        };
        let p = Self::spawn(&self.env, &self.dir, role, extra).await;
        match role {
            "api" => self.apis[i] = p,
            _ => self.workers[i] = p,
        }
    }

    /// The base URL of api process `i`.
    pub fn api(&self, i: usize) -> String {
        self.apis[i].base.clone().expect("an api process")
    }

    /// A handle like [`Cluster::app`] whose HTTP goes to api process `i`.
    pub async fn app_on(&self, i: usize) -> TestApp {
        let mut app = TestApp::attach(self.api(i), &self.env).await;
        app.tg = Some(self.tg.clone());
        app
    }

    /// Empties this cluster's Redis database (as a Redis restart without persistence would).
    pub async fn flush_redis(&self) {
        let mut r = self.app.ctx.redis.clone().expect("redis");
        let _: () = redis::cmd("FLUSHDB")
            .query_async(&mut r)
            .await
            .expect("FLUSHDB");
    }

    /// Every process' log, for a failing assertion's message.
    pub fn logs(&self) -> String {
        self.apis
            .iter()
            .chain(&self.workers)
            .map(|p| {
                let l = p.logs();
                let tail: Vec<&str> = l.lines().rev().take(40).collect();
                format!(
                    "--- {} ---\n{}",
                    p.role,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn wait_ready(base: &str, p: &Proc) {
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} at {base} did not become ready:\n{}", p.role, p.logs());
}
