//! What the pools export: Prometheus text for `/metrics` and JSON for `/status`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::{Pool, Pools};

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Appends the pools' metrics (OpenMetrics text) to `out`.
pub fn encode_metrics(pools: &Pools, out: &mut String) {
    let all = pools.all();
    let mut family = |name: &str, kind: &str, help: &str, rows: &dyn Fn(&Pool, &mut String)| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for p in &all {
            rows(p, out);
        }
    };
    let per_backend = |name: &'static str, value: fn(&Pool, &super::Backend) -> u64| {
        move |p: &Pool, out: &mut String| {
            for b in p.backends() {
                let _ = writeln!(
                    out,
                    "{name}{{pool=\"{}\",backend=\"{}\"}} {}",
                    p.name(),
                    b.uri,
                    value(p, b)
                );
            }
        }
    };
    family(
        "brink_origin_backend_up",
        "gauge",
        "1 when active health checks consider the backend up.",
        &per_backend("brink_origin_backend_up", |_, b| u64::from(b.healthy())),
    );
    family(
        "brink_origin_backend_ejected",
        "gauge",
        "1 while the backend is passively ejected.",
        &per_backend("brink_origin_backend_ejected", |p, b| {
            u64::from(p.ejected(b))
        }),
    );
    family(
        "brink_origin_backend_in_flight",
        "gauge",
        "Requests in flight to the backend.",
        &per_backend("brink_origin_backend_in_flight", |_, b| {
            b.in_flight() as u64
        }),
    );
    family(
        "brink_origin_backend_requests",
        "counter",
        "Attempts sent to the backend (retries included).",
        &per_backend("brink_origin_backend_requests_total", |_, b| {
            load(&b.requests)
        }),
    );
    family(
        "brink_origin_backend_failures",
        "counter",
        "Failed attempts: connect errors, timeouts, broken exchanges, 5xx.",
        &per_backend("brink_origin_backend_failures_total", |_, b| {
            load(&b.failures)
        }),
    );
    family(
        "brink_origin_backend_ejections",
        "counter",
        "Passive outlier ejections.",
        &per_backend("brink_origin_backend_ejections_total", |_, b| {
            load(&b.ejections)
        }),
    );
    family(
        "brink_origin_connection_requests",
        "counter",
        "Origin responses by whether their connection was new or reused.",
        &|p: &Pool, out: &mut String| {
            for b in p.backends() {
                for (reuse, n) in [("new", &b.conn_new), ("reused", &b.conn_reused)] {
                    let _ = writeln!(
                        out,
                        "brink_origin_connection_requests_total{{pool=\"{}\",backend=\"{}\",connection=\"{reuse}\"}} {}",
                        p.name(),
                        b.uri,
                        load(n)
                    );
                }
            }
        },
    );
    family(
        "brink_origin_connections_opened",
        "counter",
        "Connections opened to the pool's backends.",
        &|p: &Pool, out: &mut String| {
            let _ = writeln!(
                out,
                "brink_origin_connections_opened_total{{pool=\"{}\"}} {}",
                p.name(),
                p.connections_opened()
            );
        },
    );
    family(
        "brink_origin_health_checks",
        "counter",
        "Active health checks, by result.",
        &|p: &Pool, out: &mut String| {
            for b in p.backends() {
                for (result, n) in [
                    ("pass", &b.health_checks_passed),
                    ("fail", &b.health_checks_failed),
                ] {
                    let _ = writeln!(
                        out,
                        "brink_origin_health_checks_total{{pool=\"{}\",backend=\"{}\",result=\"{result}\"}} {}",
                        p.name(),
                        b.uri,
                        load(n)
                    );
                }
            }
        },
    );
    family(
        "brink_origin_health_transitions",
        "counter",
        "Health state changes, by new state.",
        &|p: &Pool, out: &mut String| {
            for b in p.backends() {
                for (to, n) in [("up", &b.went_up), ("down", &b.went_down)] {
                    let _ = writeln!(
                        out,
                        "brink_origin_health_transitions_total{{pool=\"{}\",backend=\"{}\",to=\"{to}\"}} {}",
                        p.name(),
                        b.uri,
                        load(n)
                    );
                }
            }
        },
    );
    let per_pool = |name: &'static str, value: fn(&Pool) -> u64| {
        move |p: &Pool, out: &mut String| {
            let _ = writeln!(out, "{name}{{pool=\"{}\"}} {}", p.name(), value(p));
        }
    };
    family(
        "brink_origin_retries",
        "counter",
        "Retries sent on another backend.",
        &per_pool("brink_origin_retries_total", |p| load(&p.stats.retries)),
    );
    family(
        "brink_origin_retries_denied",
        "counter",
        "Retries refused by the retry budget.",
        &per_pool("brink_origin_retries_denied_total", |p| {
            load(&p.stats.retries_denied)
        }),
    );
    family(
        "brink_origin_failovers",
        "counter",
        "Attempts sent to a backup backend or a fallback pool.",
        &per_pool("brink_origin_failovers_total", |p| load(&p.stats.failovers)),
    );
    family(
        "brink_origin_unavailable",
        "counter",
        "Requests refused with 503 because no backend was available.",
        &per_pool("brink_origin_unavailable_total", |p| {
            load(&p.stats.unavailable)
        }),
    );
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
