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
    let mut child = command(&dir)
        .arg("serve")
        .env("BIND", format!("127.0.0.1:{port}"))
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

    let r = http
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": unique_email("embedded"), "password": PASSWORD, "workspace": "Embedded"}))
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
