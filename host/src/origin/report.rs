//! What the pools export: metric families for `/metrics` (read at scrape
//! time from the counters the pools keep, see [`crate::metrics::scrape`])
//! and JSON for `/status`. Both read the same atomics, so they agree.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::DescriptorEncoder;
use serde_json::json;

use super::{Backend, Pool, Pools};
use crate::metrics::scrape::{self, Labels};

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// A family with one sample per backend: name (without `brink_`), HELP, value.
type PerBackend = (&'static str, &'static str, fn(&Pool, &Backend) -> u64);

const BACKEND_GAUGES: [PerBackend; 3] = [
    (
        "origin_backend_up",
        "1 when active health checks consider the backend up.",
        |_, b| u64::from(b.healthy()),
    ),
    (
        "origin_backend_ejected",
        "1 while the backend is passively ejected.",
        |p, b| u64::from(p.ejected(b)),
    ),
    (
        "origin_backend_in_flight",
        "Requests in flight to the backend.",
        |_, b| b.in_flight() as u64,
    ),
];

const BACKEND_COUNTERS: [PerBackend; 3] = [
    (
        "origin_backend_requests",
        "Attempts sent to the backend (retries included).",
        |_, b| load(&b.requests),
    ),
    (
        "origin_backend_failures",
        "Failed attempts: connect errors, timeouts, broken exchanges, 5xx.",
        |_, b| load(&b.failures),
    ),
    (
        "origin_backend_ejections",
        "Passive outlier ejections.",
        |_, b| load(&b.ejections),
    ),
];

/// A counter family with two samples per backend, split by one more label:
/// name, HELP, the label's name, and each of its values with its counter.
type Split = (
    &'static str,
    &'static str,
    &'static str,
    [(&'static str, fn(&Backend) -> &AtomicU64); 2],
);

const BACKEND_SPLITS: [Split; 3] = [
    (
        "origin_connection_requests",
        "Origin responses by whether their connection was new or reused.",
        "connection",
        [("new", |b| &b.conn_new), ("reused", |b| &b.conn_reused)],
    ),
    (
        "origin_health_checks",
        "Active health checks, by result.",
        "result",
        [
            ("pass", |b| &b.health_checks_passed),
            ("fail", |b| &b.health_checks_failed),
        ],
    ),
    (
        "origin_health_transitions",
        "Health state changes, by new state.",
        "to",
        [("up", |b| &b.went_up), ("down", |b| &b.went_down)],
    ),
];

/// A counter family with one sample per pool: name, HELP, value.
type PerPool = (&'static str, &'static str, fn(&Pool) -> u64);

const POOL_COUNTERS: [PerPool; 5] = [
    (
        "origin_connections_opened",
        "Connections opened to the pool's backends.",
        Pool::connections_opened,
    ),
    ("origin_retries", "Retries sent on another backend.", |p| {
        load(&p.stats.retries)
    }),
    (
        "origin_retries_denied",
        "Retries refused by the retry budget.",
        |p| load(&p.stats.retries_denied),
    ),
    (
        "origin_failovers",
        "Attempts sent to a backup backend or a fallback pool.",
        |p| load(&p.stats.failovers),
    ),
    (
        "origin_unavailable",
        "Requests refused with 503 because no backend was available.",
        |p| load(&p.stats.unavailable),
    ),
];

fn labels<'a>(p: &'a Pool, uri: &'a str) -> Labels<'a, 2> {
    [("pool", p.name()), ("backend", uri)]
}

/// Writes the pools' families (`brink_origin_*`) for a scrape: one series
/// per backend (`pool`, `backend` labels) or per pool (`pool`).
pub fn encode_metrics(pools: &Pools, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let pools = pools.all();
    // Each backend with its URL as text, written once per scrape.
    let backends: Vec<(&Pool, &Backend, String)> = pools
        .iter()
        .flat_map(|p| {
            p.backends()
                .iter()
                .map(move |b| (&***p, &**b, b.uri.to_string()))
        })
        .collect();
    for (name, help, value) in BACKEND_GAUGES {
        let rows = backends
            .iter()
            .map(|(p, b, uri)| (labels(p, uri), scrape::level(value(p, b))));
        scrape::gauges(encoder, name, help, rows)?;
    }
    for (name, help, value) in BACKEND_COUNTERS {
        let rows = backends
            .iter()
            .map(|(p, b, uri)| (labels(p, uri), value(p, b)));
        scrape::counters(encoder, name, help, rows)?;
    }
    for (name, help, label, split) in BACKEND_SPLITS {
        let rows = backends.iter().flat_map(|(p, b, uri)| {
            split.map(|(v, n)| ((labels(p, uri), [(label, v)]), load(n(b))))
        });
        scrape::counters(encoder, name, help, rows)?;
    }
    for (name, help, value) in POOL_COUNTERS {
        let rows = pools.iter().map(|p| ([("pool", p.name())], value(p)));
        scrape::counters(encoder, name, help, rows)?;
    }
    Ok(())
}

/// The `/status` entry of one pool.
pub fn status_json(p: &Pool) -> serde_json::Value {
    let backends: Vec<_> = p
        .backends()
        .iter()
        .map(|b| {
            json!({
                "url": b.uri.to_string(),
                "weight": b.weight,
                "backup": b.backup,
                "healthy": b.healthy(),
                "ejected": p.ejected(b),
                "available": p.available(b),
                "in_flight": b.in_flight(),
                "requests": load(&b.requests),
                "failures": load(&b.failures),
                "ejections": load(&b.ejections),
                "latency_ewma_ms": (b.latency_ewma_us() / 10.0).round() / 100.0,
                "connections": { "new": load(&b.conn_new), "reused": load(&b.conn_reused) },
                "health_checks": {
                    "passed": load(&b.health_checks_passed),
                    "failed": load(&b.health_checks_failed),
                    "went_up": load(&b.went_up),
                    "went_down": load(&b.went_down),
                },
            })
        })
        .collect();
    let c = p.config();
    json!({
        "name": p.name(),
        "strategy": c.strategy.name(),
        "health_check": c.health_check.as_ref().map(|h| format!("{} {}", h.method, h.path)),
        "fallback": c.fallback,
        "available": p.any_available(),
        "retries": load(&p.stats.retries),
        "retries_denied": load(&p.stats.retries_denied),
        "failovers": load(&p.stats.failovers),
        "unavailable": load(&p.stats.unavailable),
        "connections_opened": p.connections_opened(),
        "backends": backends,
    })
}
