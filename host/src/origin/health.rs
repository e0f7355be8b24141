//! Active health checks: one background task per backend (never on the
//! request path) sends `method path` every `interval` plus random jitter,
//! with its own keep-alive client. `fall` consecutive failures take an up
//! backend down, `rise` consecutive passes bring a down backend back; every
//! change is logged and counted (`/metrics`, `/status`). Backends start up,
//! so a node serves at once; the first check runs immediately.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{Request, header};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::sync::CancellationToken;

use super::Pool;
use super::backend::Backend;
use super::connector::Connector;
use crate::body::Body;
use crate::config::HealthCheckConfig;

/// Largest health-check body read (the rest is dropped with the connection).
const BODY_LIMIT: usize = 64 * 1024;

/// Starts the checks of every backend of `pool`; they stop when the pool is
/// dropped or stopped (its own cancellation token).
pub(super) fn spawn(pool: &Arc<Pool>) -> Result<(), String> {
    let cancel = &pool.health_checks;
    let Some(hc) = pool.config().health_check.clone() else {
        return Ok(());
    };
    let connector = Connector::new(hc.timeout, &pool.config().tls)?;
    let client: Client<Connector, Body> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(hc.interval.saturating_mul(3))
        .pool_max_idle_per_host(1)
        .pool_timer(TokioTimer::new())
        .build(connector);
    for backend in pool.backends() {
        let checker = Checker {
            pool: pool.name().to_string(),
            backend: backend.clone(),
            client: client.clone(),
            host: pool.host_override().cloned(),
            config: hc.clone(),
        };
        tokio::spawn(checker.run(cancel.clone()));
    }
    Ok(())
}

struct Checker {
    pool: String,
    backend: Arc<Backend>,
    client: Client<Connector, Body>,
    host: Option<http::HeaderValue>,
    config: HealthCheckConfig,
}

impl Checker {
    async fn run(self, cancel: CancellationToken) {
        let (mut passes, mut fails) = (0u32, 0u32);
        loop {
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.check() => r,
            };
            match outcome {
                Ok(()) => {
                    self.backend
                        .health_checks_passed
                        .fetch_add(1, Ordering::Relaxed);
                    fails = 0;
                    passes = passes.saturating_add(1);
                    if !self.backend.healthy() && passes >= self.config.rise {
                        self.backend.set_healthy(true);
                        self.backend.went_up.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            pool = %self.pool,
                            backend = %self.backend.uri,
                            passes,
                            "backend is up: health checks pass again"
                        );
                    }
                }
                Err(why) => {
                    self.backend
                        .health_checks_failed
                        .fetch_add(1, Ordering::Relaxed);
                    passes = 0;
                    fails = fails.saturating_add(1);
                    tracing::debug!(pool = %self.pool, backend = %self.backend.uri, "health check failed: {why}");
                    if self.backend.healthy() && fails >= self.config.fall {
                        self.backend.set_healthy(false);
                        self.backend.went_down.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            pool = %self.pool,
                            backend = %self.backend.uri,
                            fails,
                            "backend is down: {why}"
                        );
                    }
                }
            }
            let jitter = if self.config.jitter.is_zero() {
                Duration::ZERO
            } else {
                let ms = u64::try_from(self.config.jitter.as_millis()).unwrap_or(u64::MAX);
                Duration::from_millis(rand::random::<u64>() % (ms + 1))
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.config.interval + jitter) => {}
            }
        }
    }

    /// One check: `Ok` when the status is expected, else why not.
    async fn check(&self) -> Result<(), String> {
        let uri = format!(
            "{}{}",
            self.backend.uri.to_string().trim_end_matches('/'),
            self.config.path
        );
        let mut req = Request::builder()
            .method(self.config.method.clone())
            .uri(uri)
            .header(
                header::USER_AGENT,
                concat!("brink-health-check/", env!("CARGO_PKG_VERSION")),
            )
            .body(crate::body::empty())
            .map_err(|e| e.to_string())?;
        if let Some(h) = &self.host {
            req.headers_mut().insert(header::HOST, h.clone());
        }
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut s = e.to_string();
                let mut cur = std::error::Error::source(&e);
                while let Some(err) = cur {
                    s.push_str(": ");
                    s.push_str(&err.to_string());
                    cur = err.source();
                }
                s
            })?;
            let status = resp.status();
            // Read a small body so the connection can be reused; a large one is cut off.
            let _ = Limited::new(resp.into_body(), BODY_LIMIT).collect().await;
            if self.config.expect_status.contains(status) {
                Ok(())
            } else {
                Err(format!(
                    "health check answered {} (expected {})",
                    status.as_u16(),
                    self.config.expect_status
                ))
            }
        };
        tokio::time::timeout(self.config.timeout, exchange)
            .await
            .map_err(|_| format!("health check timed out after {:?}", self.config.timeout))?
    }
}
