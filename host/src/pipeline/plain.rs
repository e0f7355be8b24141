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
use http::Method;
use http::header;

use super::{ConnInfo, cached, check_limits, check_loop, ingress};
use crate::access_log::{self, AccessRecord, CacheOutcome};
use crate::cache::status::{CACHE_STATUS, CacheStatus};
use crate::cache::{Entry, Wire, push_field};
use crate::state::{Generation, Shared};

/// A fresh stored response that answers a GET as it is.
pub struct PlainHit {
    entry: Arc<Entry>,
    generation: Arc<Generation>,
    shared: Arc<Shared>,
    age: Duration,
    member: CacheStatus,
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
    // Only a request already in normal form (ingress would change nothing
    // the route, key or origin see) on a route that keys nothing else.
    let (host, authority) = ingress::plain(parts, conn)?;
    let (route_index, route) = ingress::select(parts, host, &generation).ok()?;
    if !generation.plugins.chain(route_index).is_empty()
        || generation.route_pools[route_index].is_none()
        || !cached::applies(parts, route)
        || generation.route_pools[route_index]
            .as_ref()
            .is_some_and(|p| p.host_override().is_some())
        || (route.forward_overrides && parts.headers.keys().any(ingress::is_override))
    {
        return None;
    }
    let (entry, member, age) = cached::plain_hit(
        shared,
        &generation,
        conn.scheme,
        authority,
        route_index,
        parts,
    )?;
    Some(PlainHit {
        generation,
        shared: shared.clone(),
        age,
        member,
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

    /// Appends the HTTP/1.1 response head: the entry's prepared block
    /// ([`Wire`]), this hit's `Age` and `Cache-Status`, a `Date` when the
    /// stored response has none (as hyper adds one), and the blank line.
    pub fn encode_head(&self, out: &mut Vec<u8>) {
        let wire = self.wire();
        out.extend_from_slice(&wire.head);
        let mut age = itoa::Buffer::new();
        push_field(out, &header::AGE, age.format(self.age.as_secs()).as_bytes());
        if !wire.dated {
            with_http_date(|date| push_field(out, &header::DATE, date.as_bytes()));
        }
        out.extend_from_slice(CACHE_STATUS.as_str().as_bytes());
        out.extend_from_slice(b": ");
        if let Some(upstream) = &wire.upstream_status {
            out.extend_from_slice(upstream);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(self.member.to_header_value().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
    }

    /// The entry's prepared block: made when the hit was found.
    fn wire(&self) -> &Wire {
        let e = &self.entry;
        e.served
            .wire(e.status, &e.headers, &self.generation.node, e.body.len())
            .expect("a hit is only taken for the node its block was made for")
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
                cache: CacheOutcome::Hit,
                origin: "-".into(),
                start: self.start,
            };
            access_log::log(&record, bytes, complete);
        }
    }
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
