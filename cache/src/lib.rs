//! The HTTP cache: an RFC 9111 shared cache held in memory (weighted by bytes,
//! frequency-based eviction and admission, see [`store`]), with `Vary`
//! variants, request coalescing, purge by URL, prefix and surrogate key, and
//! the per-route rules of the config. The rules of RFC 9111 live in [`policy`]
//! and its siblings as pure functions; this module holds the state. The cache
//! belongs to the node, not to a config generation, so it survives reloads.
//!
//! A crate of its own (issue 15): it needs nothing of the host (its settings
//! are [`CacheConfig`] and [`QueryKey`], which the host's config validates
//! into), so an edit of the request pipeline does not recompile these rules
//! and their tests, and an edit here does not recompile the whole host
//! twice (library and tests). The host names it `brink::cache`.

#![warn(missing_docs)]

pub mod conditional;
pub mod directives;
pub mod fields;
pub mod policy;
pub mod range;
pub mod status;

mod coalesce;
mod key;
mod served;
mod settings;
mod store;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

pub use coalesce::{FillOutcome, Join, LeaderGuard, wait as coalesce_wait};
pub use key::CacheKey;
use policy::Freshness;
pub use served::{Served, Wire, client_fields, push_field, strip_surrogate};
pub use settings::{CacheConfig, QueryKey};
pub use store::{Admit, Lookup};

/// A stored response.
#[derive(Debug)]
pub struct Entry {
    /// Status.
    pub status: StatusCode,
    /// Header fields as stored (hop-by-hop removed).
    pub headers: HeaderMap,
    /// The whole body, served without copying.
    pub body: Bytes,
    /// Freshness as computed when stored.
    pub freshness: Freshness,
    /// When it was stored (or last refreshed by a 304).
    pub stored_at: SystemTime,
    /// Surrogate keys from the origin's `Surrogate-Key` header.
    pub surrogate_keys: Box<[String]>,
    /// The URL part of the key (no variant), for purges.
    pub url: Arc<str>,
    /// The header fields this response varies on.
    pub vary: Arc<[HeaderName]>,
    /// Set by a soft purge: the entry must be revalidated before use.
    pub purged: bool,
    /// The full key it is stored under.
    pub full_key: Arc<str>,
    /// The header block of a plain hit, made on the first one.
    pub served: Served,
}

impl Entry {
    /// Age now.
    pub fn age(&self, now: SystemTime) -> Duration {
        policy::current_age(&self.freshness, self.stored_at, now)
    }

    /// Seconds of freshness left (negative when stale).
    pub fn ttl(&self, now: SystemTime) -> i64 {
        if self.purged {
            return -(self.age(now).as_secs() as i64);
        }
        self.freshness.lifetime.as_secs() as i64 - self.age(now).as_secs() as i64
    }

    /// Bytes it keeps in memory, as counted against `capacity_bytes`: the
    /// body; the header fields three times (the stored map, the client block
    /// of [`Served`] and its wire bytes, made on the first hit and counted
    /// from the start); the keys; and a fixed share for the entry, its store
    /// record and the maps that find it.
    fn weight(key: &str, e: &Entry) -> u64 {
        let text: usize = e
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        // Stored map and client block: a slot per field each (both sized by
        // the map's capacity), the text once (the block shares the values)
        // plus the fields it adds; the wire block: the text again.
        let maps = 2 * (e.headers.capacity() + 4) * FIELD_SLOT;
        let surrogate: usize = e.surrogate_keys.iter().map(|k| k.len() + 24).sum();
        // The full key (also the store's), the URL and the URL key.
        let keys = key.len() + 2 * e.url.len();
        (allocated(e.body.len()) + 2 * text + CLIENT_FIELDS + maps + surrogate + keys + PER_ENTRY)
            as u64
    }

    /// A copy marked as soft-purged (stale, must revalidate).
    fn soft_purged(&self) -> Entry {
        Entry {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            freshness: self.freshness.clone(),
            stored_at: self.stored_at,
            surrogate_keys: self.surrogate_keys.clone(),
            url: self.url.clone(),
            vary: self.vary.clone(),
            purged: true,
            full_key: self.full_key.clone(),
            served: Served::default(),
        }
    }
}

/// Memory of one slot of a `HeaderMap`: the name, the value's handle, the
/// chain links and the index (the text is counted apart).
const FIELD_SLOT: usize = 128;
/// The fields a client block adds (`Via`, `Age`, `Cache-Status`, the status
/// line of the wire block).
const CLIENT_FIELDS: usize = 128;
/// The entry's own struct, its `Arc`, the store's record, hash-map slots and
/// heap records, the `Vary` record, and the prepared blocks' handles.
const PER_ENTRY: usize = 1024;

/// What an allocation of `len` bytes takes: allocators serve sizes in classes.
/// mimalloc's (`mi_good_size`): four per power of two up to 512 KiB, so up
/// to a quarter more than asked; whole 4 KiB pages above.
fn allocated(len: usize) -> usize {
    if len > 512 * 1024 {
        return len.next_multiple_of(4096);
    }
    if len <= 64 {
        return len;
    }
    let step = (1usize << (usize::BITS - 1 - len.leading_zeros())) / 4;
    len.next_multiple_of(step)
}

/// Header fields in storage of their own: every value in one block of the
/// exact size. The values of a parsed response are slices of the
/// connection's read buffer (up to ~400 KiB, the body read into it too), so
/// a stored map that keeps them keeps that whole buffer.
pub fn detached_fields(headers: &HeaderMap) -> HeaderMap {
    let mut text = Vec::with_capacity(headers.values().map(HeaderValue::len).sum());
    for v in headers.values() {
        text.extend_from_slice(v.as_bytes());
    }
    let text = Bytes::from(text);
    let mut out = HeaderMap::with_capacity(headers.keys_len());
    let mut at = 0;
    for (name, value) in headers {
        let end = at + value.len();
        let mut v =
            HeaderValue::from_maybe_shared(text.slice(at..end)).unwrap_or_else(|_| value.clone());
        at = end;
        v.set_sensitive(value.is_sensitive());
        out.append(name.clone(), v);
    }
    out
}

/// What a purge selects.
#[derive(Debug, Clone)]
pub enum PurgeTarget {
    /// One URL (`scheme://host/path?query`, or a path matching any host).
    Url(String),
    /// Every URL starting with this (full URL or path prefix).
    Prefix(String),
    /// Every object tagged with this surrogate key.
    Tag(String),
}

/// Counters of the cache, exported as metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Entries evicted for space.
    pub evictions: Arc<AtomicU64>,
}

/// The node's cache.
pub struct Cache {
    entries: store::Store,
    pass: moka::sync::Cache<Arc<str>, PassScope>,
    inflight: coalesce::Inflight,
    /// Counters.
    pub counters: CacheCounters,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// How long a key that produced an uncacheable response bypasses coalescing
/// (Varnish's hit-for-pass), so uncacheable hot URLs are not serialised.
const PASS_TTL: Duration = Duration::from_secs(30);

/// Which requests a URL's hit-for-pass applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassScope {
    /// A request without credentials got a response that no request may
    /// store: every request for the URL skips coalescing.
    Everyone,
    /// A request with credentials (`Authorization`, `Cookie`) got a response
    /// that may not be stored, maybe because of them (`private`,
    /// `Set-Cookie`): requests with credentials skip coalescing, the others
    /// still fill (and may store) as usual.
    Credentialed,
}

impl Cache {
    /// An empty cache with this capacity.
    pub fn new(config: &CacheConfig) -> Cache {
        let counters = CacheCounters::default();
        let entries = store::Store::new(config.capacity_bytes, counters.evictions.clone());
        Cache {
            entries,
            pass: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PASS_TTL)
                .build(),
            inflight: coalesce::Inflight::default(),
            counters,
        }
    }

    /// The capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.entries.capacity()
    }

    /// Applies a new capacity (config reload): a smaller one evicts the
    /// least requested objects until the rest fit; entries stay otherwise.
    pub fn resize(&self, capacity_bytes: u64) {
        self.entries.set_capacity(capacity_bytes);
    }

    /// Looks a request up: the `Vary` fields recorded for its URL key (while
    /// a variant is stored), its full key, and, if `fetch`, the entry stored
    /// under it (counting the request for eviction and admission).
    pub fn lookup(&self, key: &CacheKey, req: &HeaderMap, fetch: bool) -> Lookup {
        self.entries
            .lookup(&key.primary, |vary| key.full(vary, req), fetch)
    }

    /// The entry for `key` and the request's fields when `accept` takes it,
    /// counting the request only then (see `store::Store::lookup_if`).
    pub fn lookup_if(
        &self,
        key: &CacheKey,
        req: &HeaderMap,
        accept: impl FnOnce(&Entry) -> bool,
    ) -> Option<Arc<Entry>> {
        self.entries
            .lookup_if(&key.primary, |vary| key.full(vary, req), accept)
    }

    /// The stored entry under a full key; counts a request for the key (the
    /// store's eviction and admission follow these counts).
    pub fn get(&self, full_key: &str) -> Option<Arc<Entry>> {
        self.entries.get(full_key)
    }

    /// Stores an entry under its full key, if the store admits it (see
    /// [`store`]), and records its `Vary` fields.
    pub fn insert(&self, key: &CacheKey, full_key: Arc<str>, entry: Arc<Entry>) -> Admit {
        self.pass.invalidate(&*key.primary);
        let weight = Entry::weight(&full_key, &entry);
        self.entries.insert(full_key, &key.primary, entry, weight)
    }

    /// Removes every variant of the URL key (invalidation after an unsafe method).
    pub fn invalidate_url(&self, primary_url: &str) -> usize {
        self.purge(&PurgeTarget::Url(primary_url.to_string()), false)
    }

    /// Marks a key as uncacheable for a while, for the requests of `scope`:
    /// they skip coalescing. A pass for everyone is not narrowed.
    pub fn mark_pass(&self, primary: &Arc<str>, scope: PassScope) {
        if scope == PassScope::Credentialed
            && self.pass.get(&**primary) == Some(PassScope::Everyone)
        {
            return;
        }
        self.pass.insert(primary.clone(), scope);
    }

    /// Whether the key is in hit-for-pass for a request with (or without)
    /// credentials.
    pub fn is_pass(&self, primary: &str, credentialed: bool) -> bool {
        match self.pass.get(primary) {
            Some(PassScope::Everyone) => true,
            Some(PassScope::Credentialed) => credentialed,
            None => false,
        }
    }

    /// Joins the fill of `key`: the first caller leads, later ones wait.
    pub fn join(&self, key: &str) -> Join {
        self.inflight.join(key)
    }

    /// Purges what `target` selects; soft purge marks entries stale instead of
    /// removing them. Returns how many entries matched.
    pub fn purge(&self, target: &PurgeTarget, soft: bool) -> usize {
        let matches = |e: &Entry| match target {
            PurgeTarget::Url(u) => url_matches(&e.url, u, false),
            PurgeTarget::Prefix(p) => url_matches(&e.url, p, true),
            PurgeTarget::Tag(t) => e.surrogate_keys.iter().any(|k| k == t),
        };
        self.entries.purge(matches, soft, Entry::soft_purged)
    }

    /// Entries stored now.
    pub fn entry_count(&self) -> u64 {
        self.entries.len()
    }

    /// Bytes stored now (as weighed).
    pub fn weighted_size(&self) -> u64 {
        self.entries.used()
    }
}

/// Whether an entry URL matches a purge URL: a full URL compares with the
/// whole entry URL, a path (`/...`) with the entry URL's path and query.
fn url_matches(entry_url: &str, target: &str, prefix: bool) -> bool {
    let subject = if target.starts_with('/') {
        match entry_url.find("://") {
            Some(i) => {
                let rest = &entry_url[i + 3..];
                rest.find('/').map(|j| &rest[j..]).unwrap_or("/")
            }
            None => entry_url,
        }
    } else {
        entry_url
    };
    if prefix {
        subject.starts_with(target)
    } else {
        subject == target
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn pass_scopes() {
        let cache = Cache::new(&CacheConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("http://h/a"), Arc::from("http://h/b"));
        assert!(!cache.is_pass(&a, false) && !cache.is_pass(&a, true));
        cache.mark_pass(&a, PassScope::Credentialed);
        assert!(cache.is_pass(&a, true), "credentialed requests pass");
        assert!(!cache.is_pass(&a, false), "anonymous ones still fill");
        cache.mark_pass(&a, PassScope::Everyone);
        assert!(cache.is_pass(&a, true) && cache.is_pass(&a, false));
        cache.mark_pass(&a, PassScope::Credentialed);
        assert!(
            cache.is_pass(&a, false),
            "a pass for everyone is not narrowed"
        );
        assert!(!cache.is_pass(&b, true) && !cache.is_pass(&b, false));
    }

    #[test]
    fn detached_fields_copy_the_values_out_of_the_read_buffer() {
        // As hyper parses a response: every value a slice of the read buffer.
        let buffer = Bytes::from(
            b"text/html\"v1\"a=1b=2secret"
                .iter()
                .copied()
                .chain([0; 4096])
                .collect::<Vec<u8>>(),
        );
        let value = |r: std::ops::Range<usize>| {
            HeaderValue::from_maybe_shared(buffer.slice(r)).expect("valid")
        };
        let mut parsed = HeaderMap::new();
        parsed.insert("content-type", value(0..9));
        parsed.insert("etag", value(9..13));
        parsed.append("set-cookie", value(13..16));
        parsed.append("set-cookie", value(16..19));
        let mut secret = value(19..25);
        secret.set_sensitive(true);
        parsed.insert("x-secret", secret);

        let stored = detached_fields(&parsed);
        assert_eq!(stored, parsed);
        let names = |m: &HeaderMap| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&stored), names(&parsed), "same fields, same order");
        assert!(stored["x-secret"].is_sensitive());
        let within = buffer.as_ptr_range();
        for v in stored.values() {
            assert!(
                !within.contains(&v.as_bytes().as_ptr()),
                "{v:?} still in the buffer"
            );
        }
    }

    #[test]
    fn allocations_are_weighed_by_size_class() {
        assert_eq!(allocated(0), 0);
        assert_eq!(allocated(64), 64);
        assert_eq!(allocated(100 * 1024), 112 * 1024);
        assert_eq!(allocated(128 * 1024), 128 * 1024);
        assert_eq!(allocated(128 * 1024 + 1), 160 * 1024);
        assert_eq!(allocated(300 * 1000), 320 * 1024);
        assert_eq!(allocated(512 * 1024 + 1), 516 * 1024);
    }

    #[test]
    fn an_entry_weighs_its_body_fields_and_keys() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("image/jpeg"));
        headers.insert("etag", HeaderValue::from_static("\"abc\""));
        let url: Arc<str> = Arc::from("http://shop.test/images/1.jpg");
        let entry = Entry {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(vec![0; 100 * 1024]),
            freshness: Freshness {
                lifetime: Duration::from_secs(60),
                initial_age: Duration::ZERO,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
                must_revalidate: false,
                always_revalidate: false,
                heuristic: false,
                strip_fields: Vec::new(),
            },
            stored_at: SystemTime::now(),
            surrogate_keys: Box::new([]),
            url: url.clone(),
            vary: Arc::new([]),
            purged: false,
            full_key: url.clone(),
            served: Served::default(),
        };
        let w = Entry::weight(&url, &entry);
        let floor = 112 * 1024 + PER_ENTRY + 3 * url.len();
        assert!(w as usize > floor, "{w}");
        assert!(w < 120 * 1024, "{w}");
    }

    #[test]
    fn purge_url_matching() {
        let u = "http://shop.test/products/1?x=1";
        assert!(url_matches(u, "/products/1?x=1", false));
        assert!(!url_matches(u, "/products/1", false));
        assert!(url_matches(u, "/products/", true));
        assert!(url_matches(u, "http://shop.test/products", true));
        assert!(!url_matches(u, "http://other.test/products", true));
    }
}
