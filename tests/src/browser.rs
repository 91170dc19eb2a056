//! Headless Chromium for end-to-end tests, driven through chromedriver with fantoccini.
//!
//! Each test (one at a time) starts its own chromedriver on a free port, waits until the port accepts
//! connections, and always ends the WebDriver session (which quits Chromium) — also when the
//! test body panics — and then kills chromedriver. Chromium's and chromedriver's output go to
//! /dev/null so a stray browser can never hold the test's output pipe open.
use std::{future::Future, panic::AssertUnwindSafe, path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// One Chromium at a time: it is the heaviest thing in the suite, and on a 2-core machine two
/// at once starve the timing-sensitive tests running beside them.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Where screenshots go: `target/screenshots/` under the workspace root.
pub fn screenshot_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let dir = root.join("target").join("screenshots");
    std::fs::create_dir_all(&dir).expect("creating target/screenshots");
    dir
}

/// Saves a PNG of the current page as `target/screenshots/<name>.png`.
pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("writing screenshot");
}

/// Runs `body` with a fresh headless Chromium; the session and chromedriver are always ended.
pub async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "browser tests need {CHROMIUM} and {CHROMEDRIVER} (./scripts/test installs chromium chromium-driver)"
    );
    let _turn = ONE_BROWSER.lock().await;
    let port = free_port();
    let mut driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting chromedriver");
    // Wait for the port instead of sleeping a fixed time.
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "chromedriver did not open port {port}");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1280,1000"
            ]
        }
    });
    let caps = caps.as_object().cloned().expect("capabilities object");
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("starting a WebDriver session");
    let result = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    let _ = driver.kill().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Waits (up to 30 s) for an element to appear.
pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

/// Types into the input found by `css` (clearing it first).
pub async fn fill(c: &Client, css: &str, text: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("finding {css}: {e}"));
    el.clear()
        .await
        .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
    el.send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("finding {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// The page's HTML.
pub async fn html(c: &Client) -> String {
    c.source().await.expect("page source")
}
