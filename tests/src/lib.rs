//! Test support for Brink's end-to-end tests.
//!
//! Everything here runs on `127.0.0.1:0` and stops when dropped, so tests are
//! hermetic and can run in parallel:
//!
//! - [`BrinkProcess`]: the real `brink` binary (`serve`, `origin`, ...), ready
//!   once it has printed its `listening` / `admin` lines.
//! - [`TestEdge`]: an edge node started in-process through the library, built
//!   like `TestEdge::new().origin(url).config_toml(extra).start().await`.
//! - [`EchoOrigin`]: a controllable in-process origin (echo, slow, streamed and
//!   upload endpoints) that counts what it receives.
//! - [`ScriptOrigin`]: an origin that answers each path as the test scripted
//!   ([`Script`]), records the requests it gets and can go down and come back.
//! - [`NatsServer`]: a real `nats-server -js` on a free port (fleet tests).
//! - [`StallOrigin`]: an origin whose response bodies stall after 10 bytes.
//! - Clients: HTTP/1.1 ([`h1_client`]), h2c ([`h2c_client`]), HTTPS with ALPN
//!   ([`HttpsConn`]) against a [`TestCert`] made at test time, and [`RawConn`]
//!   for byte-level tests.
//!
//! Time limits here are upper bounds for "it eventually happened", never
//! assertions about speed: a hang fails the test instead of blocking it.

pub mod client;
pub mod echo;
pub mod edge;
pub mod nats;
pub mod process;
pub mod raw;
pub mod script;
pub mod stall;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use client::{HttpsConn, Reply, get, h1_client, h2c_client, send};
pub use echo::EchoOrigin;
pub use edge::{EdgeHandle, TestEdge};
pub use nats::NatsServer;
pub use process::BrinkProcess;
pub use raw::RawConn;
pub use script::{
    Script, ScriptOrigin, Seen, cache_status, get_with, http_date, http_date_ago, purge,
    request_with,
};
pub use stall::StallOrigin;
pub use tls::TestCert;

/// How long a spawned process may take to print its listening lines.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Upper bound for one request/response exchange in a test.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Awaits `fut`, panicking with `what` if it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    within(limit, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The `brink` binary built next to the test executable
/// (`target/debug/deps/TEST` -> `target/debug/brink`).
pub fn brink_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test executable has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("brink{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the brink binary is missing at {}: build it first with `cargo build -p brink` \
         (`cargo test --workspace` builds it through host/tests/cli.rs)",
        bin.display()
    );
    bin
}

/// The value of the first Prometheus sample line starting with `prefix`
/// (metric name and labels), if there is one.
pub fn metric_sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The `SocketAddr` of an `http://ADDR` or `https://ADDR` URL.
pub fn url_addr(url: &str) -> SocketAddr {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .trim_end_matches('/');
    rest.parse()
        .unwrap_or_else(|e| panic!("not an IP:PORT URL {url:?}: {e}"))
}

/// An address on 127.0.0.1 where nothing listens: bound, then released.
pub fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr")
}

/// 64-bit FNV-1a, to compare bodies without shipping them back.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    /// Hash of one slice, as hex.
    pub fn of(bytes: &[u8]) -> String {
        let mut h = Fnv::default();
        h.update(bytes);
        h.hex()
    }
}

/// `n` bytes of a repeating, position-dependent pattern (so reordering or
/// truncation changes the hash).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i % 251) as u8 ^ ((i / 251) % 256) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_known_value() {
        assert_eq!(Fnv::of(b""), "cbf29ce484222325");
        assert_eq!(Fnv::of(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn url_addr_parses() {
        assert_eq!(url_addr("http://127.0.0.1:80").port(), 80);
        assert_eq!(url_addr("https://127.0.0.1:443/").port(), 443);
    }
}
