//! One pool: its backends, a keep-alive client and round-robin selection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::Body;
use crate::config::PoolConfig;
use crate::error::{EdgeError, OriginFailure};

/// One origin server.
#[derive(Debug)]
pub struct Backend {
    /// Base URL (`http://host:port`).
    pub uri: http::Uri,
    /// Requests sent to it.
    pub requests: AtomicU64,
    /// Failed exchanges.
    pub failures: AtomicU64,
}

/// A pool of backends sharing one keep-alive client.
#[derive(Debug)]
pub struct Pool {
    name: String,
    backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
    client: Client<HttpConnector, Body>,
    timeout: Duration,
    host: Option<http::HeaderValue>,
}

impl Pool {
    /// Builds a pool from its config and resolved backend URLs.
    pub fn new(config: &PoolConfig, backends: Vec<http::Uri>) -> Pool {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Pool {
            name: config.name.clone(),
            backends: backends
                .into_iter()
                .map(|uri| {
                    Arc::new(Backend {
                        uri,
                        requests: AtomicU64::new(0),
                        failures: AtomicU64::new(0),
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            client,
            timeout: config.timeout,
            host: config
                .host
                .as_ref()
                .and_then(|h| http::HeaderValue::from_str(h).ok()),
        }
    }

    /// Pool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backends.
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// The `Host` override, if configured.
    pub fn host_override(&self) -> Option<&http::HeaderValue> {
        self.host.as_ref()
    }

    /// Picks the next backend, round-robin.
    pub fn pick(&self) -> Result<Arc<Backend>, EdgeError> {
        if self.backends.is_empty() {
            return Err(EdgeError::Unavailable {
                pool: self.name.clone(),
            });
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.backends.len();
        Ok(self.backends[i].clone())
    }

    /// Sends `req` (whose URI is only a path and query) to `backend` and waits
    /// for the response head within the pool's timeout. The body streams.
    pub async fn send(
        &self,
        backend: &Backend,
        mut req: http::Request<Body>,
    ) -> Result<http::Response<hyper::body::Incoming>, EdgeError> {
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
        backend.requests.fetch_add(1, Ordering::Relaxed);
        let fail = |kind, message: String| {
            backend.failures.fetch_add(1, Ordering::Relaxed);
            EdgeError::Origin {
                kind,
                pool: self.name.clone(),
                backend: backend.uri.to_string(),
                message,
            }
        };
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(fail(
                OriginFailure::Timeout,
                format!("no response within {:?}", self.timeout),
            )),
            Ok(Err(e)) if e.is_connect() => Err(fail(OriginFailure::Connect, error_chain(&e))),
            Ok(Err(e)) => {
                // A request body the client failed to send (too large, cut off) is the client's fault.
                if let Some(status) = client_body_status(&e) {
                    return Err(EdgeError::client(status, "request body rejected"));
                }
                Err(fail(OriginFailure::Protocol, error_chain(&e)))
            }
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// If the error came from the client's request body, the status to answer.
fn client_body_status(e: &(dyn std::error::Error + 'static)) -> Option<http::StatusCode> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            return Some(http::StatusCode::PAYLOAD_TOO_LARGE);
        }
        cur = err.source();
    }
    None
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
