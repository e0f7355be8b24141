//! One pool: its backends, balancer, keep-alive client, outlier detection and
//! retry budget, and one attempt of an exchange with one backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::{Request, Response, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{CaptureConnection, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, millis_since};
use super::balance::{Affinity, Balancer};
use super::connector::{ConnTag, Connector};
use super::guard::GuardedBody;
use super::outlier::Outlier;
use super::retry::RetryBudget;
use crate::body::Body;
use crate::config::PoolConfig;
use crate::error::{EdgeError, OriginFailure};

/// Pool-wide counters.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Retries sent (attempts after the first).
    pub retries: AtomicU64,
    /// Retries refused by the retry budget.
    pub retries_denied: AtomicU64,
    /// Requests answered 503 because no backend (backup or fallback included) was available.
    pub unavailable: AtomicU64,
    /// Attempts sent to a backup backend or a fallback pool.
    pub failovers: AtomicU64,
}

/// A pool of backends sharing one keep-alive client.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    backends: Vec<Arc<Backend>>,
    balancer: Balancer,
    client: Client<Connector, Body>,
    connector: Connector,
    host: Option<http::HeaderValue>,
    outlier: Option<Outlier>,
    pub(super) budget: RetryBudget,
    epoch: Instant,
    /// Pool-wide counters.
    pub stats: PoolStats,
    /// Stops this pool's health checks; cancelled when the pool is dropped
    /// (when the last config generation holding it ends) or on shutdown.
    pub(super) health_checks: CancellationToken,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.health_checks.cancel();
    }
}

impl Pool {
    /// Builds a pool from its config and resolved backend URLs (in config order).
    pub fn new(config: &PoolConfig, uris: Vec<http::Uri>) -> Result<Pool, String> {
        let backends: Vec<Arc<Backend>> = uris
            .into_iter()
            .zip(&config.backends)
            .map(|(uri, b)| {
                Arc::new(Backend::new(
                    uri,
                    b.weight,
                    b.backup,
                    config.max_connections,
                ))
            })
            .collect();
        let connector = Connector::new(config.connect_timeout, &config.tls)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_connections.unwrap_or(1024))
            .pool_timer(TokioTimer::new())
            // hyper's read buffer (default ~400 KiB) grows to its limit while
            // a large body goes through it and keeps that size while the
            // connection lives, idle in the pool too. 64 KiB: a few more
            // reads per large body; response heads up to 64 KiB.
            .http1_max_buf_size(64 * 1024)
            .build(connector.clone());
        Ok(Pool {
            balancer: Balancer::new(config.strategy, &backends),
            backends,
            client,
            connector,
            host: config
                .host
                .as_ref()
                .and_then(|h| http::HeaderValue::from_str(h).ok()),
            outlier: config.outlier.clone().map(Outlier::new),
            budget: RetryBudget::new(&config.retry),
            epoch: Instant::now(),
            stats: PoolStats::default(),
            config: config.clone(),
            health_checks: CancellationToken::new(),
        })
    }

    /// Pool name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The backends, in config order.
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// The `Host` override, if configured.
    pub fn host_override(&self) -> Option<&http::HeaderValue> {
        self.host.as_ref()
    }

    /// Connections opened to its backends so far.
    pub fn connections_opened(&self) -> u64 {
        self.connector.opened()
    }

    /// Whether `backend` is passively ejected now.
    pub fn ejected(&self, backend: &Backend) -> bool {
        backend.ejected_at(millis_since(self.epoch))
    }

    /// Whether `backend` may take traffic: healthy and not ejected.
    pub fn available(&self, backend: &Backend) -> bool {
        backend.healthy() && !self.ejected(backend)
    }

    /// Whether any backend (backups included) may take traffic.
    pub fn any_available(&self) -> bool {
        self.backends.iter().any(|b| self.available(b))
    }

    /// Picks an available backend of the primary or backup tier that is not in `tried`.
    pub(super) fn pick(
        &self,
        backup: bool,
        tried: &[Arc<Backend>],
        affinity: &Affinity,
    ) -> Option<Arc<Backend>> {
        let now = millis_since(self.epoch);
        let base = |i: usize| {
            let b = &self.backends[i];
            b.backup == backup
                && b.healthy()
                && !b.ejected_at(now)
                && !tried.iter().any(|t| Arc::ptr_eq(t, b))
        };
        let free = |i: usize| base(i) && !self.backends[i].saturated();
        self.balancer
            .pick(&self.backends, &free, affinity)
            .or_else(|| self.balancer.pick(&self.backends, &base, affinity))
            .map(|i| self.backends[i].clone())
    }

    /// Records the outcome of one attempt for outlier detection.
    fn record(&self, backend: &Backend, ok: bool) {
        if ok {
            Outlier::success(backend);
            return;
        }
        backend.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = &self.outlier {
            o.failure(self.name(), backend, &self.backends, self.epoch);
        }
    }

    /// A response body stalled past `body_timeout`: a failure of its backend,
    /// like a timeout to the head.
    pub(super) fn body_timed_out(&self, backend: &Backend) {
        tracing::debug!(
            pool = self.name(),
            backend = %backend.uri,
            "response body stalled for {:?} (body_timeout)",
            self.config.body_timeout
        );
        self.record(backend, false);
    }

    fn failure(&self, backend: &Backend, kind: OriginFailure, message: String) -> EdgeError {
        EdgeError::Origin {
            kind,
            pool: self.name().to_string(),
            backend: backend.uri.to_string(),
            message,
        }
    }

    /// One attempt: sends `req` (whose URI is only a path and query) to
    /// `backend` and waits for the response head within the first-byte
    /// timeout (and the total deadline). The body streams, failing if the
    /// origin sends nothing for `body_timeout` (see [`GuardedBody`]).
    pub(super) async fn send(
        self: &Arc<Self>,
        backend: &Arc<Backend>,
        mut req: Request<Body>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Response<Body>, EdgeError> {
        self.address(backend, &mut req)?;
        let permit = self.permit(backend).await?;
        let capture = capture_connection(&mut req);
        let in_flight = backend.start_request();
        let started = Instant::now();
        let mut limit = self.config.timeout;
        if let Some(d) = deadline {
            limit = limit.min(d.saturating_duration_since(tokio::time::Instant::now()));
        }
        let result = tokio::time::timeout(limit, self.client.request(req)).await;
        let resp = match result {
            Err(_) => {
                self.record(backend, false);
                return Err(self.failure(
                    backend,
                    OriginFailure::Timeout,
                    format!("no response within {limit:?}"),
                ));
            }
            Ok(Err(e)) => return Err(self.request_failed(backend, &e)),
            Ok(Ok(resp)) => resp,
        };
        backend.observe_latency(started.elapsed());
        self.record(backend, !resp.status().is_server_error());
        self.count_connection(backend, &resp, &capture);
        let body_timeout = self.config.body_timeout;
        Ok(resp.map(|b| {
            GuardedBody::new(b, deadline, body_timeout, in_flight, permit, self.clone()).boxed()
        }))
    }

    /// Points `req` at `backend` (its scheme and authority, the request's
    /// path and query) with the pool's `host`, if it has one.
    fn address(&self, backend: &Backend, req: &mut Request<Body>) -> Result<(), EdgeError> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut parts = backend.uri.clone().into_parts();
        parts.path_and_query = Some(path.parse().map_err(|_| {
            EdgeError::client(http::StatusCode::BAD_REQUEST, "invalid request target")
        })?);
        *req.uri_mut() =
            http::Uri::from_parts(parts).map_err(|e| EdgeError::Internal(e.to_string()))?;
        if let Some(h) = &self.host {
            req.headers_mut().insert(header::HOST, h.clone());
        }
        Ok(())
    }

    /// A connection slot of `backend` under `max_connections` (none without
    /// a limit), waiting at most the connect timeout for one.
    async fn permit(&self, backend: &Backend) -> Result<Option<OwnedSemaphorePermit>, EdgeError> {
        let Some(sem) = &backend.limit else {
            return Ok(None);
        };
        if let Ok(p) = sem.clone().try_acquire_owned() {
            return Ok(Some(p));
        }
        let wait = tokio::time::timeout(self.config.connect_timeout, sem.clone().acquire_owned());
        match wait.await {
            Ok(Ok(p)) => Ok(Some(p)),
            // Busy, not broken: no outlier penalty, and nothing was sent.
            _ => Err(self.failure(
                backend,
                OriginFailure::Connect,
                "every allowed connection is busy (max_connections)".into(),
            )),
        }
    }

    /// The error for a request the client could not complete: the
    /// client's fault if its request body was refused, else a failure of
    /// `backend` (connect or protocol).
    fn request_failed(
        &self,
        backend: &Backend,
        e: &hyper_util::client::legacy::Error,
    ) -> EdgeError {
        // A request body the client failed to send (too large, cut off) is the client's fault.
        if let Some(status) = client_body_status(e) {
            return EdgeError::client(status, "request body rejected");
        }
        self.record(backend, false);
        let kind = if e.is_connect() {
            OriginFailure::Connect
        } else {
            OriginFailure::Protocol
        };
        self.failure(backend, kind, error_chain(e))
    }

    /// Counts a new or reused connection, and retires one that has lived
    /// past `max_connection_lifetime`.
    fn count_connection<B>(
        &self,
        backend: &Backend,
        resp: &Response<B>,
        capture: &CaptureConnection,
    ) {
        let Some(tag) = resp.extensions().get::<ConnTag>() else {
            return;
        };
        if tag.uses.fetch_add(1, Ordering::Relaxed) == 0 {
            backend.conn_new.fetch_add(1, Ordering::Relaxed);
        } else {
            backend.conn_reused.fetch_add(1, Ordering::Relaxed);
        }
        if tag.created.elapsed() >= self.config.max_connection_lifetime
            && let Some(conn) = capture.connection_metadata().as_ref()
        {
            conn.poison();
        }
    }
}

/// If the error came from the client's request body, the status to answer:
/// 413 over the body limit, 400 when the body broke off.
fn client_body_status(e: &(dyn std::error::Error + 'static)) -> Option<http::StatusCode> {
    let chain = || std::iter::successors(Some(e), |err| err.source());
    if chain().any(|err| err.is::<http_body_util::LengthLimitError>()) {
        return Some(http::StatusCode::PAYLOAD_TOO_LARGE);
    }
    chain()
        .any(|err| {
            err.downcast_ref::<hyper::Error>()
                .is_some_and(|h| h.is_user())
        })
        .then_some(http::StatusCode::BAD_REQUEST)
}

/// `outer: inner: innermost` for logs.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        s.push_str(": ");
        s.push_str(&err.to_string());
        cur = err.source();
    }
    s
}
