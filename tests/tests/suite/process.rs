//! The `gatehouse` binary itself: the embedded default, configuration errors naming their
//! variable, staff bootstrap, graceful shutdown on SIGTERM.
use std::{path::PathBuf, process::Stdio, time::Duration};

use gatehouse_tests::{
    app::TempDir,
    factories::{PASSWORD, unique_email},
};
use reqwest::StatusCode;
use serde_json::json;

fn binary() -> PathBuf {
    // target/<profile>/deps/suite-… → target/<profile>/gatehouse
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("gatehouse");
    assert!(
        p.exists(),
        "build the gatehouse binary first ({})",
        p.display()
    );
    p
}

fn command(dir: &TempDir) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(binary());
    c.current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c.kill_on_drop(true);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CPU time (user + system) `pid` used over `window`, as a share of one core.
async fn cpu_share_over(pid: u32, window: Duration) -> f64 {
    let ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Fields after the command name (which may hold spaces) start at its closing ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let hz = String::from_utf8(
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse::<f64>()
    .unwrap();
    let before = ticks();
    tokio::time::sleep(window).await;
    (ticks() - before) as f64 / hz / window.as_secs_f64()
}

#[tokio::test]
async fn a_bad_setting_fails_at_start_naming_the_variable() {
    let dir = TempDir::new();
    for (var, value, named) in [
        ("BIND", "not-an-address", "BIND"),
        (
            "DATABASE_URL",
            "postgres://127.0.0.1/x",
            "GATEHOUSE_SECRET_KEY",
        ),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL"),
        ("OVERAGE_FEE_MINOR", "ten", "OVERAGE_FEE_MINOR"),
    ] {
        let out = command(&dir)
            .arg("serve")
            .env(var, value)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{var}={value} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{var}={value}: {err}");
    }
}

#[tokio::test]
async fn embedded_default_serves_on_sqlite_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let staff_email = unique_email("ops");
    let out = command(&dir)
        .args([
            "staff",
            "create",
            "--email",
            &staff_email,
            "--password",
            PASSWORD,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    // Codes need a connected bot: Telegram is the fake.
    let tg = gatehouse_tests::fake_telegram::FakeTelegram::start().await;
    let mut child = command(&dir)
        .arg("serve")
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("TELEGRAM_API_URL", &tg.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "gatehouse serve did not become ready");
    assert!(
        dir.0.join("gatehouse-data/gatehouse.db").exists(),
        "SQLite file in the data dir"
    );
    assert!(
        dir.0.join("gatehouse-data/secret.key").exists(),
        "generated secret kept in the data dir"
    );
    // Request-latency samples are drained by a thread of the process's own, so memory does
    // not grow with every request when nothing scrapes `/metrics`.
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", child.id().unwrap()))
        .expect("a Linux /proc")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    assert!(
        threads.iter().any(|n| n == "metrics-upkeep"),
        "the metrics upkeep thread runs in gatehouse serve: {threads:?}"
    );

    let creator_email = unique_email("embedded");
    let r = http
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": creator_email, "password": PASSWORD, "workspace": "Embedded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": staff_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("staff can log in");
    let r = http
        .get(format!("{base}/api/v1/projects"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Idle, the process sleeps: its SQLite workers wait between looks at an empty queue (an
    // idle `serve` once spun a whole core re-polling it) …
    let busy = cpu_share_over(child.id().unwrap(), Duration::from_secs(3)).await;
    assert!(
        busy < 0.25,
        "an idle gatehouse serve used {:.0} % of a core",
        busy * 100.0
    );
    // … without holding the one SQLite connection while waiting (a first fix did, and every
    // request waited ~200 ms for it) …
    let mut took = vec![];
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        took.push(t.elapsed());
    }
    took.sort();
    assert!(
        took[10] < Duration::from_millis(50),
        "median /readyz took {:?} on an idle embedded serve",
        took[10]
    );
    // … and a job still runs at once: a batch of codes (the Free plan's five) is generated by the worker in this
    // process, on SQLite.
    let creator: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": creator_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ct = creator["token"].as_str().expect("creator can log in");
    let post = |path: String, body: serde_json::Value| {
        let req = http
            .post(format!("{base}{path}"))
            .bearer_auth(ct)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let project = post("/api/v1/projects".into(), json!({"name": "Embedded"})).await;
    let pid = project["id"].as_str().unwrap();
    let plan = post(
        format!("/api/v1/projects/{pid}/plans"),
        gatehouse_tests::factories::monthly_plan(),
    )
    .await;
    let connected = http
        .put(format!("{base}/api/v1/projects/{pid}/bot"))
        .bearer_auth(ct)
        .json(&json!({"token": tg.add_bot().token}))
        .send()
        .await
        .unwrap();
    assert!(connected.status().is_success(), "{}", connected.status());
    let started = std::time::Instant::now();
    let batch = post(
        format!("/api/v1/projects/{pid}/code-batches"),
        gatehouse_tests::factories::batch(plan["id"].as_str().unwrap(), 5),
    )
    .await;
    let bid = batch["id"].as_str().unwrap();
    let mut status = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        let b: serde_json::Value = http
            .get(format!("{base}/api/v1/projects/{pid}/code-batches/{bid}"))
            .bearer_auth(ct)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = b["status"].as_str().unwrap_or_default().to_string();
        if status == "done" || status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "done", "the embedded worker generates a batch");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}
