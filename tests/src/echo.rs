//! A controllable in-process test origin.
//!
//! | Path | Answer |
//! |---|---|
//! | `/slow?ms=N` | sleeps N ms, then `200 slow N` |
//! | `/stream?chunks=N&ms=M[&gate=1]` | N chunks, M ms apart; with `gate=1` the last chunk waits for [`EchoOrigin::open_gate`] |
//! | `/upload` | reads the body frame by frame; JSON `{body_len, body_hash, frames}` |
//! | `/status/NNN` | an empty answer with that status |
//! | anything else (e.g. `/echo`) | JSON `{origin, method, path, query, version, headers, body_len, body_hash, body_start}` |
//!
//! Every answer carries `x-echo-origin: NAME` and these hop-by-hop fields, which
//! a proxy must drop: `Connection: close-me-not, x-hop`, `x-hop: secret`,
//! `Keep-Alive: timeout=5`, `Proxy-Authenticate: x`; plus `x-echo-kept: yes`,
//! which it must keep.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use brink::body::{Body, BoxError, full};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Channel};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::Fnv;

/// How long a gated stream waits for the gate before giving up.
const GATE_LIMIT: Duration = Duration::from_secs(15);

struct State {
    name: String,
    requests: AtomicU64,
    in_flight: AtomicU64,
    gate: Semaphore,
    stream_done: AtomicBool,
}

/// A running test origin; stops (and drops its connections) when dropped.
pub struct EchoOrigin {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl EchoOrigin {
    /// Starts an origin named `echo` on 127.0.0.1:0.
    pub async fn start() -> EchoOrigin {
        EchoOrigin::named("echo").await
    }

    /// Starts an origin reporting `name` in `x-echo-origin` and its JSON.
    pub async fn named(name: &str) -> EchoOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(State {
            name: name.to_string(),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            gate: Semaphore::new(0),
            stream_done: AtomicBool::new(false),
        });
        let task = tokio::spawn(accept(listener, state.clone()));
        EchoOrigin { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received (counted when their head arrives).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests whose answer has not been produced yet.
    pub fn in_flight(&self) -> u64 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Lets one gated `/stream` send its last chunk.
    pub fn open_gate(&self) {
        self.state.gate.add_permits(1);
    }

    /// Whether a `/stream` has produced its last chunk.
    pub fn stream_done(&self) -> bool {
        self.state.stream_done.load(Ordering::SeqCst)
    }
}

impl Drop for EchoOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((tcp, _)) = r else { continue };
                let state = state.clone();
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(tcp), svc).into_owned();
                conns.spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

/// Marks a request in flight until dropped.
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let guard = InFlight(state.clone());
    let path = req.uri().path().to_string();
    let mut resp = if path == "/slow" {
        let ms = query_param(&req, "ms").unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Response::new(full(format!("slow {ms}\n")))
    } else if path == "/stream" {
        stream(&state, &req)
    } else if path == "/upload" {
        upload(req).await
    } else if let Some(code) = path.strip_prefix("/status/") {
        let mut r = Response::new(brink::body::empty());
        *r.status_mut() = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        r
    } else {
        echo(&state, req).await
    };
    drop(guard);
    let h = resp.headers_mut();
    h.insert(
        "x-echo-origin",
        HeaderValue::from_str(&state.name).expect("name"),
    );
    h.insert("x-echo-kept", HeaderValue::from_static("yes"));
    h.insert(
        "connection",
        HeaderValue::from_static("close-me-not, x-hop"),
    );
    h.insert("x-hop", HeaderValue::from_static("secret"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.insert("proxy-authenticate", HeaderValue::from_static("x"));
    resp
}

async fn echo(state: &State, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return error_response(format!("body error: {e}")),
    };
    let headers: Vec<_> = parts
        .headers
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let start = String::from_utf8_lossy(&body[..body.len().min(64)]).into_owned();
    let v = json!({
        "origin": state.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
        "body_hash": Fnv::of(&body),
        "body_start": start,
    });
    let mut r = Response::new(full(v.to_string()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn upload(req: Request<Incoming>) -> Response<Body> {
    let mut body = req.into_body();
    let (mut len, mut frames, mut hash) = (0u64, 0u64, Fnv::default());
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    len += d.len() as u64;
                    frames += 1;
                    hash.update(d);
                }
            }
            Err(e) => return error_response(format!("body error: {e}")),
        }
    }
    let v = json!({ "body_len": len, "body_hash": hash.hex(), "frames": frames });
    Response::new(full(v.to_string()))
}

fn stream(state: &Arc<State>, req: &Request<Incoming>) -> Response<Body> {
    let chunks = query_param(req, "chunks").unwrap_or(3).max(1);
    let ms = query_param(req, "ms").unwrap_or(100);
    let gated = query_param(req, "gate") == Some(1);
    let (mut tx, rx) = Channel::<Bytes, BoxError>::new(1);
    let state = state.clone();
    state.stream_done.store(false, Ordering::SeqCst);
    tokio::spawn(async move {
        for i in 0..chunks {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if gated && i + 1 == chunks {
                match tokio::time::timeout(GATE_LIMIT, state.gate.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => return,
                }
            }
            if tx
                .send_data(Bytes::from(format!("chunk {i}\n")))
                .await
                .is_err()
            {
                return;
            }
        }
        state.stream_done.store(true, Ordering::SeqCst);
    });
    Response::new(rx.boxed())
}

fn error_response(text: String) -> Response<Body> {
    let mut r = Response::new(full(text));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}
