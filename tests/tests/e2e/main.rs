//! Brink's end-to-end tests, linked into one test binary: each module is one
//! area (its own `//!` doc says what it covers), run with
//! `cargo test -p brink-tests --test e2e [MODULE::]`, e.g.
//! `cargo test -p brink-tests --test e2e cache_range::`.
//!
//! One binary instead of one per file: every test binary links wasmtime, and
//! linking dominated the test build. The tests share one process, so none of
//! them may change process-wide state (environment variables, the current
//! directory, a global tracing subscriber, signal handlers).

#![allow(
    clippy::too_many_lines,
    reason = "a scenario reads best top to bottom; the limit is for product code"
)]

mod admin;
mod cache_coalescing;
mod cache_eviction;
mod cache_hostile;
mod cache_metrics;
mod cache_purge;
mod cache_range;
mod cache_rfc9111;
mod cache_stale;
mod config_errors;
mod fleet;
mod fleet_nats;
mod fleet_purge;
mod front;
mod https_origin;
mod limits;
mod loadtest;
mod origin;
mod plugins;
mod pools;
mod proxy;
mod reload;
mod request_identity;
mod shutdown;
