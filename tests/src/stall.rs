//! An origin whose response bodies stall: it answers every request with a
//! head announcing `Content-Length: 1000`, sends the first 10 bytes and then
//! nothing more, holding the connection open until the edge closes it. Set
//! [`StallOrigin::recover`] and it answers the whole 1000 bytes instead.
//!
//! It counts the requests it received and the stalled connections the edge
//! gave up on (closed from its side).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The body length announced.
pub const STALL_LENGTH: usize = 1000;
/// The bytes sent before a stall.
pub const STALL_SENT: usize = 10;

#[derive(Default)]
struct State {
    requests: AtomicU64,
    closed: AtomicU64,
    recovered: AtomicBool,
}

/// A running stalling origin on 127.0.0.1:0; stops when dropped.
pub struct StallOrigin {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl StallOrigin {
    /// Starts; every answer carries `headers` (e.g. `Cache-Control`).
    pub async fn start(headers: &[(&str, &str)]) -> StallOrigin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stall origin");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(State::default());
        let fields: String = headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let task = tokio::spawn(accept(listener, state.clone(), Arc::from(fields)));
        StallOrigin { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received (counted when their head arrived).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Stalled connections the edge closed.
    pub fn closed(&self) -> u64 {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// From now on, answers the whole body.
    pub fn recover(&self) {
        self.state.recovered.store(true, Ordering::SeqCst);
    }
}

impl Drop for StallOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, fields: Arc<str>) {
    // Connections are detached: they end when the edge closes them (a
    // stalled one waits for that) or with the runtime.
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(tcp, state.clone(), fields.clone()));
    }
}

/// Reads one request head; `false` if the connection ended first.
async fn read_head(tcp: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

async fn serve(mut tcp: TcpStream, state: Arc<State>, fields: Arc<str>) {
    while read_head(&mut tcp).await {
        state.requests.fetch_add(1, Ordering::SeqCst);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {STALL_LENGTH}\r\n{fields}\r\n");
        let recovered = state.recovered.load(Ordering::SeqCst);
        let sent = if recovered { STALL_LENGTH } else { STALL_SENT };
        let mut out = head.into_bytes();
        out.extend(std::iter::repeat_n(b'x', sent));
        if tcp.write_all(&out).await.is_err() {
            return;
        }
        if !recovered {
            // Stall: wait for the edge to give up on the connection.
            let mut buf = [0u8; 64];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            state.closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}
