//! A scripted in-process origin for cache tests.
//!
//! Each path answers with what the test scripted through
//! [`ScriptOrigin::set`] (404 when nothing is scripted); scripts can be
//! changed between requests. The origin counts requests per path and overall,
//! records every request's method, query and header fields (so a test can
//! check that a revalidation carried `If-None-Match`), and can go down
//! ([`ScriptOrigin::set_down`]: the listener closes, so connections are
//! refused) and come back on the same port.
//!
//! Every answer carries `Date` (now, unless the script sets its own) and
//! `x-script-seq: N`, the number of this request among those to its path
//! (1 for the first), so a test can tell a stored copy from a fresh one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brink::body::{Body, empty, full};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// What one path answers.
#[derive(Debug, Clone)]
pub struct Script {
    /// Status code.
    pub status: u16,
    /// Response header fields (a `Date` here replaces the automatic one).
    pub headers: Vec<(&'static str, String)>,
    /// Response body (none is sent for HEAD and 304).
    pub body: Bytes,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer a request whose `If-None-Match` lists this script's `ETag`
    /// (or `*`) with `304 Not Modified` and the script's header fields.
    pub not_modified_on_etag: bool,
    /// Request fields echoed in the response as `x-reflect-NAME` (the
    /// values joined by `, `, `-` when absent), as an origin that builds its
    /// answer from them would: what a cache may then not share.
    pub reflect: Vec<&'static str>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            status: 200,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            not_modified_on_etag: false,
            reflect: Vec::new(),
        }
    }
}

impl Script {
    /// `200` with this body.
    pub fn ok(body: impl Into<Bytes>) -> Script {
        Script {
            body: body.into(),
            ..Script::default()
        }
    }

    /// `200` with this body and `Cache-Control: <cc>`.
    pub fn cached(body: impl Into<Bytes>, cc: &str) -> Script {
        Script::ok(body).header("cache-control", cc)
    }

    /// Sets the status.
    pub fn status(mut self, status: u16) -> Script {
        self.status = status;
        self
    }

    /// Adds a header field.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Script {
        self.headers.push((name, value.into()));
        self
    }

    /// Echoes request field `name` in the response as `x-reflect-NAME`.
    pub fn reflect(mut self, name: &'static str) -> Script {
        self.reflect.push(name);
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Script {
        self.delay = delay;
        self
    }

    /// Answers matching `If-None-Match` with 304.
    pub fn etag_304(mut self) -> Script {
        self.not_modified_on_etag = true;
        self
    }

    fn etag(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("etag"))
            .map(|(_, v)| v.as_str())
    }
}

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Query, if any.
    pub query: Option<String>,
    /// Header fields.
    pub headers: HeaderMap,
}

impl Seen {
    /// The request-target as received (path and query).
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// Every value of field `name`.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    seen: Mutex<Vec<Seen>>,
    total: AtomicU64,
}

impl State {
    fn lock_scripts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Script>> {
        self.scripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running scripted origin; stops when dropped.
pub struct ScriptOrigin {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::sync::Mutex<Option<Running>>,
}

/// The accept loop and the signal that stops it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    fn spawn(listener: TcpListener, state: Arc<State>) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(accept(listener, state, stopped));
        Running { stop, task }
    }
}

impl ScriptOrigin {
    /// Starts on 127.0.0.1:0 with no scripts (every path 404).
    pub async fn start() -> ScriptOrigin {
        let listener = listen("127.0.0.1:0".parse().expect("addr")).expect("bind script origin");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(State::default());
        let running = Running::spawn(listener, state.clone());
        ScriptOrigin {
            addr,
            state,
            task: tokio::sync::Mutex::new(Some(running)),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address (kept across [`ScriptOrigin::set_down`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Scripts (or re-scripts) what `path` answers from the next request on.
    pub fn set(&self, path: &str, script: Script) {
        self.state.lock_scripts().insert(path.to_string(), script);
    }

    /// Changes the script of `path` in place (it must be set).
    pub fn update(&self, path: &str, f: impl FnOnce(&mut Script)) {
        let mut scripts = self.state.lock_scripts();
        let script = scripts
            .get_mut(path)
            .unwrap_or_else(|| panic!("no script for {path}"));
        f(script);
    }

    /// Requests received for `path` (counted when their head arrives).
    pub fn count(&self, path: &str) -> u64 {
        self.state
            .lock_seen()
            .iter()
            .filter(|s| s.path == path)
            .count() as u64
    }

    /// Requests received in all.
    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }

    /// Every request received for `path`, oldest first.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock_seen()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// Every request received, oldest first.
    pub fn all_seen(&self) -> Vec<Seen> {
        self.state.lock_seen().clone()
    }

    /// The last request received for `path`.
    pub fn last(&self, path: &str) -> Seen {
        self.seen(path)
            .pop()
            .unwrap_or_else(|| panic!("no request for {path}"))
    }

    /// `true`: closes the listener and every open connection, so new
    /// connections are refused; `false`: listens again on the same port.
    pub async fn set_down(&self, down: bool) {
        let mut task = self.task.lock().await;
        if down {
            if let Some(running) = task.take() {
                // The loop closes the listener and waits for every
                // connection to be aborted before it ends.
                let _ = running.stop.send(());
                let _ = running.task.await;
            }
        } else if task.is_none() {
            let mut tries = 0;
            let listener = loop {
                match listen(self.addr) {
                    Ok(l) => break l,
                    Err(e) if tries < 100 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("rebinding {}: {e}", self.addr),
                }
            };
            *task = Some(Running::spawn(listener, self.state.clone()));
        }
    }
}

impl Drop for ScriptOrigin {
    fn drop(&mut self) {
        if let Some(running) = self.task.get_mut().take() {
            running.task.abort();
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => {
                drop(listener);
                conns.shutdown().await;
                return;
            }
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

/// Whether an `If-None-Match` value lists `etag` (weak comparison) or `*`.
fn etag_listed(if_none_match: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = strip(etag);
    if_none_match
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == want)
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    state.total.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let seq = {
        let mut seen = state.lock_seen();
        seen.push(Seen {
            method: req.method().clone(),
            path: path.clone(),
            query: req.uri().query().map(str::to_string),
            headers: req.headers().clone(),
        });
        seen.iter().filter(|s| s.path == path).count()
    };
    let script = state.lock_scripts().get(&path).cloned();
    let Some(script) = script else {
        let mut r = Response::new(full("no script\n"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        stamp(r.headers_mut(), seq, &[]);
        return r;
    };
    if !script.delay.is_zero() {
        tokio::time::sleep(script.delay).await;
    }
    let not_modified = script.not_modified_on_etag
        && script
            .etag()
            .is_some_and(|etag| etag_listed(req.headers(), etag));
    let head = req.method() == Method::HEAD;
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, empty())
    } else if head {
        (status_code(script.status), empty())
    } else {
        (status_code(script.status), full(script.body.clone()))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    for (name, value) in &script.headers {
        if not_modified && name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).expect("scripted header name");
        let value = HeaderValue::from_str(value).expect("scripted header value");
        h.append(name, value);
    }
    if head && !h.contains_key(http::header::CONTENT_LENGTH) {
        h.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(script.body.len()),
        );
    }
    for name in &script.reflect {
        let values: Vec<&[u8]> = req
            .headers()
            .get_all(*name)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let joined = if values.is_empty() {
            b"-".to_vec()
        } else {
            values.join(&b", "[..])
        };
        let value = HeaderValue::from_bytes(&joined).expect("reflected value");
        h.insert(
            HeaderName::from_bytes(format!("x-reflect-{name}").as_bytes()).expect("reflect name"),
            value,
        );
    }
    stamp(h, seq, &script.headers);
    r
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("scripted status")
}

fn stamp(h: &mut HeaderMap, seq: usize, scripted: &[(&'static str, String)]) {
    if !scripted.iter().any(|(n, _)| n.eq_ignore_ascii_case("date")) {
        h.insert(
            http::header::DATE,
            HeaderValue::from_str(&http_date(SystemTime::now())).expect("date"),
        );
    }
    h.insert("x-script-seq", HeaderValue::from(seq));
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `t`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem / 60) % 60, rem % 60);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(month - 1) as usize]
    )
}

/// [`http_date`] of now minus `ago`.
pub fn http_date_ago(ago: Duration) -> String {
    http_date(SystemTime::now() - ago)
}

/// `METHOD url` with extra request header fields, collected.
pub async fn request_with(
    client: &crate::client::HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> crate::Reply {
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    crate::send(client, req.body(empty()).expect("request")).await
}

/// `GET url` with extra request header fields.
pub async fn get_with(
    client: &crate::client::HttpClient,
    url: &str,
    headers: &[(&str, &str)],
) -> crate::Reply {
    request_with(client, Method::GET, url, headers).await
}

/// The reply's `Cache-Status` (empty if absent).
pub fn cache_status(reply: &crate::Reply) -> String {
    reply.header("cache-status").unwrap_or("").to_string()
}

/// `POST {admin}/purge?{query}`, with `Authorization: Bearer {token}` if given.
pub async fn purge(
    client: &crate::client::HttpClient,
    admin_url: &str,
    query: &str,
    token: Option<&str>,
) -> crate::Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    request_with(
        client,
        Method::POST,
        &format!("{admin_url}/purge?{query}"),
        &headers,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }

    #[test]
    fn etag_lists() {
        let mut h = HeaderMap::new();
        h.insert("if-none-match", HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(etag_listed(&h, "\"b\""));
        assert!(etag_listed(&h, "W/\"a\""));
        assert!(!etag_listed(&h, "\"c\""));
    }
}
