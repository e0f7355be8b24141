//! Plain hits: requests the HTTP/1 front loop (`server::front`) answers
//! without hyper. The phases are the same as [`super::handle`]'s — limits,
//! loop check, route, cache lookup, `Cache-Status`, metrics and the access
//! log — but stop at the first thing a plain hit does not have (a plugin, a
//! directive, a condition, a range, a stale or purged entry, a node renamed
//! since the entry's header block was made); the request then goes through
//! [`super::handle`] as usual.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::{ConnInfo, cached, check_limits, check_loop, request_host, select_route};
use crate::access_log::{self, AccessRecord};
use crate::cache::Entry;
use crate::cache::status::{self, CACHE_STATUS};
use crate::state::{Generation, Shared};

/// A fresh stored response that answers a GET as it is.
pub struct PlainHit {
    entry: Arc<Entry>,
    generation: Arc<Generation>,
    shared: Arc<Shared>,
    age: Duration,
    cache_status: HeaderValue,
    start: Instant,
    path: Option<http::uri::PathAndQuery>,
    client: SocketAddr,
}

/// The plain hit for this request head, if it is one (see the module doc).
pub fn plain_hit(
    parts: &http::request::Parts,
    conn: ConnInfo,
    shared: &Arc<Shared>,
) -> Option<PlainHit> {
    if parts.method != Method::GET {
        return None;
    }
    let start = Instant::now();
    let generation = shared.generation();
    check_limits(parts, &generation).ok()?;
    check_loop(parts, &generation.config.node.name).ok()?;
    let host = request_host(parts);
    let (route_index, route) = select_route(parts, &host, &generation).ok()?;
    if !generation.plugins.chain(route_index).is_empty()
        || generation.route_pools[route_index].is_none()
        || !cached::applies(parts, route)
    {
        return None;
    }
    let (entry, member, age) =
        cached::plain_hit(shared, &generation, conn.scheme, &host, route_index, parts)?;
    // The prepared block holds the `Cache-Status` slot (and any upstream
    // members); a node renamed by a reload has none ready.
    let block = entry.served.headers(&entry.headers, &generation.node)?;
    let cache_status = status::value_after(block.get_all(CACHE_STATUS), &member)?;
    Some(PlainHit {
        generation,
        shared: shared.clone(),
        age,
        cache_status,
        start,
        path: parts.uri.path_and_query().cloned(),
        client: conn.peer,
        entry,
    })
}

impl PlainHit {
    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.entry.body
    }

    /// Appends the HTTP/1.1 response head: the status line, the entry's
    /// prepared fields with this hit's `Age` and `Cache-Status`, a `Date`
    /// and `Content-Length` when the stored response has none (as hyper
    /// adds them), and the blank line.
    pub fn encode_head(&self, out: &mut Vec<u8>) {
        let status = self.entry.status;
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        let block = self
            .entry
            .served
            .headers(&self.entry.headers, &self.generation.node)
            .expect("checked when the hit was found");
        let (mut has_date, mut has_length) = (false, false);
        let mut prev: Option<&HeaderName> = None;
        for (name, value) in block {
            let repeat = prev == Some(name);
            prev = Some(name);
            if name == header::AGE {
                if !repeat {
                    field(
                        out,
                        name,
                        itoa::Buffer::new().format(self.age.as_secs()).as_bytes(),
                    );
                }
            } else if name == CACHE_STATUS {
                if !repeat {
                    field(out, name, self.cache_status.as_bytes());
                }
            } else {
                has_date |= name == header::DATE;
                has_length |= name == header::CONTENT_LENGTH;
                field(out, name, value.as_bytes());
            }
        }
        if !has_date {
            with_http_date(|date| field(out, &header::DATE, date.as_bytes()));
        }
        if !has_length {
            let mut len = itoa::Buffer::new();
            let len = len.format(self.entry.body.len());
            field(out, &header::CONTENT_LENGTH, len.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    /// After the response was written (`complete`) or the client went away:
    /// the request metrics and the access log, as [`super::finish`] records
    /// them.
    pub fn finish(self, bytes: u64, complete: bool) {
        let status = self.entry.status;
        self.shared
            .metrics
            .record_request(status, self.start.elapsed());
        if self.generation.config.log.access_log {
            let record = AccessRecord {
                path: self.path.as_ref().map_or("/", |p| p.as_str()).to_string(),
                method: Method::GET,
                status: status.as_u16(),
                client: self.client.to_string(),
                cache: "HIT",
                origin: "-".into(),
                start: self.start,
            };
            access_log::log(&record, bytes, complete);
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.entry.status
    }
}

fn field(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Calls `f` with the current time as an HTTP date, made once a second per
/// thread.
fn with_http_date(f: impl FnOnce(&str)) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != secs || text.is_empty() {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        f(text);
    });
}
