//! Fixtures shared by every scenario: a private `redis-server`, an app process (test host or real
//! Spin), an HTTP client that records every reply, and a load generator.
//! Everything a scenario starts is its own (free loopback port, own temp dir) and is killed on drop.

pub mod app;
pub mod build;
pub mod http;
pub mod https;
pub mod kept;
pub mod load;
pub mod proxy;
pub mod raw;
pub mod redis_server;
pub mod runtime;
pub mod tls;

use std::net::TcpListener;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

/// The repository root: the directory holding `spin.toml`.
pub fn repo_root() -> PathBuf {
    let testhost = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    testhost
        .parent()
        .expect("testhost/ lives inside the repository")
        .to_path_buf()
}

/// A loopback port nobody listens on right now. The fixtures retry on another port when a
/// process loses the race for it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Polls `probe` every 20 ms until it returns `Some`, or fails after `deadline` naming `what`.
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if start.elapsed() > deadline {
            return Err(format!("timed out after {deadline:?} waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}
