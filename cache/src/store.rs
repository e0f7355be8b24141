//! Where the cache keeps its objects: a byte-weighted store that evicts the
//! least frequently requested object and admits a new one only when it has
//! been requested more often than the objects it would push out.
//!
//! Why not moka's TinyLFU: its 4-bit frequency sketch saturates at 15 and is
//! halved every 10x-capacity accesses, so with a cache of 1% of a Zipf catalog
//! it cannot tell a rank-50 object from a rank-500 one, and measured 85% of the
//! ideal top-C hit ratio (bench/hit_ratio.sh, s = 0.8). Exact counts get
//! within a few percent of the bound in every cell measured.
//!
//! The policy:
//! - every lookup counts a request for its key: a stored object's count lives
//!   beside it, the counts of keys not stored (never admitted, or evicted)
//!   live in a bounded history keyed by the key's hash;
//! - when space is needed, the stored object with the lowest count goes first,
//!   the least recently requested among equal counts;
//! - a new object is admitted only if its count beats every object it would
//!   evict (TinyLFU's admission rule, with exact counts), so a burst of
//!   one-off requests cannot flush the popular set;
//! - counts age: once as many requests as [`AGING_FACTOR`] times the history's
//!   size were counted, every count is halved, so yesterday's hits fade;
//! - when the history is full, the keys with the lowest counts are forgotten.
//!
//! The store also keeps, per URL key (the primary key, before `Vary`), the
//! `Vary` fields of its stored responses, as long as one of them is stored.
//!
//! Everything is behind one mutex; a hit holds it for a hash lookup and a
//! counter bump. Eviction order is a lazy min-heap: a hit only bumps the
//! object's count, and a heap record found outdated when popped is pushed back
//! with the object's current count.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::HeaderName;

use super::Entry;

/// Counts are halved after this many times the history's size in requests.
const AGING_FACTOR: u64 = 16;
/// Bounds of the history (keys not stored whose request counts are kept).
const HISTORY_MIN: usize = 1 << 16;
const HISTORY_MAX: usize = 1 << 22;

/// The object store of one cache.
pub(super) struct Store {
    inner: Mutex<Inner>,
    hasher: RandomState,
    evictions: Arc<AtomicU64>,
}

/// The outcome of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Stored (new, or replacing the object under the same key).
    Stored,
    /// Not stored: the objects it would evict are requested more often.
    Rejected,
    /// Not stored: larger than the whole cache.
    TooLarge,
}

struct Resident {
    entry: Arc<Entry>,
    /// The URL key it is a variant of.
    primary: Arc<str>,
    weight: u64,
    count: u32,
    /// The request clock at the last request (ties between equal counts).
    last: u64,
    /// Distinguishes this object from an earlier one under the same key.
    id: u64,
    /// Stored under its URL key (no `Vary`) while the URL key's latest
    /// stored response varies: lookups must go through the `Vary` record.
    shadowed: bool,
}

impl Resident {
    /// Counts a request at `clock` and hands out the entry.
    fn requested(&mut self, clock: u64) -> Arc<Entry> {
        self.count = self.count.saturating_add(1);
        self.last = clock;
        self.entry.clone()
    }
}

/// What [`Store::lookup`] found.
pub struct Lookup {
    /// The `Vary` fields recorded for the URL key, if a variant is stored.
    pub vary: Option<Arc<[HeaderName]>>,
    /// The full key of the request.
    pub full_key: Arc<str>,
    /// The entry stored under it.
    pub entry: Option<Arc<Entry>>,
}

/// An eviction candidate: lowest `(count, last)` first.
type Record = Reverse<(u32, u64, u64, Arc<str>)>;

struct Inner {
    capacity: u64,
    used: u64,
    residents: HashMap<Arc<str>, Resident>,
    /// Per URL key: the `Vary` fields of its latest stored response and how
    /// many variants are stored.
    vary: HashMap<Arc<str>, (Arc<[HeaderName]>, u32)>,
    /// Request counts of keys not stored, by key hash.
    history: HashMap<u64, u32>,
    history_limit: usize,
    heap: BinaryHeap<Record>,
    /// Requests counted so far (the clock of `Resident::last`).
    clock: u64,
    next_id: u64,
    /// Requests counted since counts were last halved.
    since_aging: u64,
}

impl Store {
    /// An empty store of `capacity` bytes.
    pub(super) fn new(capacity: u64, evictions: Arc<AtomicU64>) -> Store {
        let history_limit = history_limit(capacity);
        Store {
            inner: Mutex::new(Inner {
                capacity,
                used: 0,
                residents: HashMap::new(),
                vary: HashMap::new(),
                history: HashMap::new(),
                history_limit,
                heap: BinaryHeap::new(),
                clock: 0,
                next_id: 0,
                since_aging: 0,
            }),
            hasher: RandomState::new(),
            evictions,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent at every await-free step; a panic in
        // another holder leaves nothing half-done that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks a request up under one lock: the `Vary` fields recorded for its
    /// URL key, the full key `full_key` builds from them, and (if `fetch`)
    /// the stored entry under it, counting the request.
    pub(super) fn lookup(
        &self,
        primary: &str,
        full_key: impl FnOnce(&[HeaderName]) -> Arc<str>,
        fetch: bool,
    ) -> Lookup {
        let mut inner = self.lock();
        if fetch {
            inner.tick();
            // The common case in one hash lookup: a response without `Vary`,
            // the latest for its URL, stored under the URL key itself.
            let clock = inner.clock;
            if let Some(r) = inner.residents.get_mut(primary)
                && !r.shadowed
            {
                let entry = r.requested(clock);
                return Lookup {
                    vary: Some(entry.vary.clone()),
                    full_key: full_key(&[]),
                    entry: Some(entry),
                };
            }
        }
        let vary = inner.vary.get(primary).map(|(fields, _)| fields.clone());
        let full = full_key(vary.as_deref().unwrap_or(&[]));
        let entry = if fetch {
            self.find_counted(&mut inner, &full)
        } else {
            None
        };
        Lookup {
            vary,
            full_key: full,
            entry,
        }
    }

    /// The entry a request would find under `primary` (or its `Vary` key),
    /// if `accept` takes it; the request is counted only then. For the HTTP/1
    /// front loop, which asks before it commits to answering: a request it
    /// passes on is looked up (and counted) again by [`Self::lookup`].
    pub(super) fn lookup_if(
        &self,
        primary: &str,
        full_key: impl FnOnce(&[HeaderName]) -> Arc<str>,
        accept: impl FnOnce(&Entry) -> bool,
    ) -> Option<Arc<Entry>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        // The clock as `tick` is about to set it.
        let clock = inner.clock + 1;
        let take = |r: &mut Resident| {
            if !accept(&r.entry) {
                return None;
            }
            Some(r.requested(clock))
        };
        // As in `lookup`: a response without `Vary` is found in one hash
        // lookup, under the URL key itself.
        let entry = match inner.residents.get_mut(primary) {
            Some(r) if !r.shadowed => take(r)?,
            _ => {
                let full = full_key(&inner.vary.get(primary)?.0);
                take(inner.residents.get_mut(&*full)?)?
            }
        };
        inner.tick();
        Some(entry)
    }

    /// Looks a key up and counts the request.
    pub(super) fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let mut inner = self.lock();
        self.get_locked(&mut inner, key)
    }

    fn get_locked(&self, inner: &mut Inner, key: &str) -> Option<Arc<Entry>> {
        inner.tick();
        self.find_counted(inner, key)
    }

    /// The entry under `key`, counting the request (the clock has ticked).
    fn find_counted(&self, inner: &mut Inner, key: &str) -> Option<Arc<Entry>> {
        let clock = inner.clock;
        if let Some(r) = inner.residents.get_mut(key) {
            return Some(r.requested(clock));
        }
        let hash = self.hasher.hash_one(key);
        let c = inner.history.entry(hash).or_insert(0);
        *c = c.saturating_add(1);
        if inner.history.len() > inner.history_limit {
            inner.trim_history();
        }
        None
    }

    /// Looks a key up without counting a request.
    #[cfg(test)]
    pub(super) fn peek(&self, key: &str) -> Option<Arc<Entry>> {
        self.lock().residents.get(key).map(|r| r.entry.clone())
    }

    /// Stores `entry` under `key` if the admission rule lets it in. An object
    /// already stored under the key is replaced and keeps its count.
    pub(super) fn insert(
        &self,
        key: Arc<str>,
        primary: &Arc<str>,
        entry: Arc<Entry>,
        weight: u64,
    ) -> Admit {
        let mut inner = self.lock();
        if weight > inner.capacity {
            inner.remove(&key, &self.hasher);
            return Admit::TooLarge;
        }
        let key_text = key.clone();
        let evicted;
        if let Some(r) = inner.residents.get_mut(&key) {
            let old = std::mem::replace(&mut r.weight, weight);
            let fields = entry.vary.clone();
            r.entry = entry;
            inner.used = inner.used - old + weight;
            if let Some(v) = inner.vary.get_mut(primary) {
                v.0 = fields;
            }
            evicted = inner.evict_until_fits(&self.hasher);
        } else {
            let hash = self.hasher.hash_one(&*key);
            let count = inner.history.remove(&hash).unwrap_or(0).max(1);
            let Some(victims) = inner.victims_for(weight, count) else {
                inner.history.insert(hash, count);
                return Admit::Rejected;
            };
            evicted = victims.len() as u64;
            for k in victims {
                inner.remove(&k, &self.hasher);
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let last = inner.clock;
            inner.heap.push(Reverse((count, last, id, key.clone())));
            inner.used += weight;
            inner
                .vary
                .entry(primary.clone())
                .and_modify(|v| {
                    v.0 = entry.vary.clone();
                    v.1 += 1;
                })
                .or_insert_with(|| (entry.vary.clone(), 1));
            inner.residents.insert(
                key,
                Resident {
                    primary: primary.clone(),
                    entry,
                    weight,
                    count,
                    last,
                    id,
                    shadowed: false,
                },
            );
        }
        // The URL key's `Vary` record now holds this response's fields: an
        // object stored under the URL key itself is what lookups find only
        // if this response does not vary (then it is this one).
        let varies = *key_text != **primary;
        if let Some(r) = inner.residents.get_mut(&**primary) {
            r.shadowed = varies;
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        inner.compact_heap();
        Admit::Stored
    }

    /// Soft- or hard-purges every stored object `matches` selects; returns
    /// how many matched. Soft purge swaps in a stale-marked copy (`soften`)
    /// and keeps the count; hard purge removes the object but not its count.
    pub(super) fn purge(
        &self,
        matches: impl Fn(&Entry) -> bool,
        soft: bool,
        soften: impl Fn(&Entry) -> Entry,
    ) -> usize {
        let mut inner = self.lock();
        let selected: Vec<Arc<str>> = inner
            .residents
            .iter()
            .filter(|(_, r)| matches(&r.entry))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &selected {
            if soft {
                if let Some(r) = inner.residents.get_mut(k)
                    && !r.entry.purged
                {
                    r.entry = Arc::new(soften(&r.entry));
                }
            } else {
                inner.remove(k, &self.hasher);
            }
        }
        inner.compact_heap();
        selected.len()
    }

    /// Changes the capacity; a smaller one evicts the least requested
    /// objects until the rest fit.
    pub(super) fn set_capacity(&self, capacity: u64) {
        let mut inner = self.lock();
        inner.capacity = capacity;
        inner.history_limit = history_limit(capacity);
        let evicted = inner.evict_until_fits(&self.hasher);
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        inner.compact_heap();
    }

    /// The capacity in bytes.
    pub(super) fn capacity(&self) -> u64 {
        self.lock().capacity
    }

    /// Objects stored.
    pub(super) fn len(&self) -> u64 {
        self.lock().residents.len() as u64
    }

    /// Bytes stored (as weighed).
    pub(super) fn used(&self) -> u64 {
        self.lock().used
    }
}

/// How many keys not stored have their counts kept: one per KiB of capacity,
/// within [`HISTORY_MIN`, `HISTORY_MAX`].
fn history_limit(capacity: u64) -> usize {
    usize::try_from(capacity / 1024)
        .unwrap_or(usize::MAX)
        .clamp(HISTORY_MIN, HISTORY_MAX)
}

impl Inner {
    /// Counts one request on the clock; halves all counts when it is time.
    fn tick(&mut self) {
        self.clock += 1;
        self.since_aging += 1;
        if self.since_aging >= AGING_FACTOR * self.history_limit as u64 {
            self.age();
        }
    }

    /// Halves every count (stored and remembered) and rebuilds the heap.
    fn age(&mut self) {
        self.since_aging = 0;
        self.history.retain(|_, c| {
            *c /= 2;
            *c > 0
        });
        for r in self.residents.values_mut() {
            r.count /= 2;
        }
        self.rebuild_heap();
    }

    fn rebuild_heap(&mut self) {
        self.heap = self
            .residents
            .iter()
            .map(|(k, r)| Reverse((r.count, r.last, r.id, k.clone())))
            .collect();
    }

    /// The heap keeps records of removed and replaced objects until popped;
    /// rebuilds it when those outnumber the live ones.
    fn compact_heap(&mut self) {
        if self.heap.len() > 2 * self.residents.len() + 64 {
            self.rebuild_heap();
        }
    }

    /// Forgets the least requested keys of the history, down to 3/4 of its limit.
    fn trim_history(&mut self) {
        let target = self.history_limit / 4 * 3;
        let mut floor = 1;
        while self.history.len() > target {
            self.history.retain(|_, c| *c > floor);
            floor = floor.saturating_mul(2);
        }
    }

    /// Pops the stored object that would be evicted next, fixing outdated
    /// records on the way; `None` when nothing is stored.
    fn pop_victim(&mut self) -> Option<(u32, u64, u64, Arc<str>)> {
        while let Some(Reverse((count, last, id, key))) = self.heap.pop() {
            let Some(r) = self.residents.get(&key) else {
                continue;
            };
            if r.id != id {
                continue;
            }
            if (r.count, r.last) != (count, last) {
                self.heap.push(Reverse((r.count, r.last, id, key)));
                continue;
            }
            return Some((count, last, id, key));
        }
        None
    }

    /// The keys to evict to fit `weight` more bytes for an object requested
    /// `count` times, or `None` (nothing evicted) if one of them is requested
    /// at least as often.
    fn victims_for(&mut self, weight: u64, count: u32) -> Option<Vec<Arc<str>>> {
        let mut freed = 0;
        let mut taken = Vec::new();
        let mut admit = true;
        while self.used - freed + weight > self.capacity {
            let Some(v) = self.pop_victim() else {
                break;
            };
            let beaten = v.0 < count;
            freed += self.residents.get(&v.3).map_or(0, |r| r.weight);
            taken.push(v);
            if !beaten {
                admit = false;
                break;
            }
        }
        if !admit {
            for v in taken {
                self.heap.push(Reverse(v));
            }
            return None;
        }
        Some(taken.into_iter().map(|v| v.3).collect())
    }

    /// Evicts least-requested objects until the stored bytes fit (after a
    /// replacement grew an object); returns how many.
    fn evict_until_fits(&mut self, hasher: &RandomState) -> u64 {
        let mut n = 0;
        while self.used > self.capacity {
            let Some(v) = self.pop_victim() else {
                break;
            };
            self.remove(&v.3, hasher);
            n += 1;
        }
        n
    }

    /// Removes a stored object; its count moves to the history.
    fn remove(&mut self, key: &str, hasher: &RandomState) {
        if let Some(r) = self.residents.remove(key) {
            self.used -= r.weight;
            if let Some(v) = self.vary.get_mut(&r.primary) {
                v.1 -= 1;
                if v.1 == 0 {
                    self.vary.remove(&r.primary);
                }
            }
            if r.count > 0 {
                self.history.insert(hasher.hash_one(key), r.count);
            }
        }
    }
}

#[cfg(test)]
mod tests;
