//! A Redis server of a test's own: `redis-server` on a free port without persistence, killed
//! when dropped. For tests that flush or kill Redis, which must never touch the shared one.
use std::time::{Duration, Instant};

use crate::cluster::free_port;

pub struct PrivateRedis {
    pub port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    /// Starts the server and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = free_port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (install redis-server)");
        let r = PrivateRedis { port, child };
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Empties every database of this server (a restart without persistence).
    pub async fn flush(&self) {
        let mut conn = domain::ctx::connect_redis(&self.url())
            .await
            .expect("private redis");
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("FLUSHALL");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
