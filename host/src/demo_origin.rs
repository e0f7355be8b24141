//! The built-in synthetic shop origin used by `brink origin`, `brink demo` and tests.
//!
//! It serves a deterministic catalog of products (`1..=catalog`): HTML product pages,
//! product and recommendation fragments, JPEG-looking images with byte ranges, an
//! uncacheable inventory API and an order endpoint, with validators (`ETag`,
//! `Last-Modified`), `Surrogate-Key` headers and conditional requests. Latency and failure
//! injection make it usable for failover and load tests; `/stats` and `/control/*` let a
//! test drive a separate `brink origin` process.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /products/{id}` | HTML page, `max-age=60`, `Surrogate-Key: product-{id} products` |
//! | `GET /fragments/product/{id}` | HTML fragment, `max-age=30`, `Surrogate-Key: product-{id} fragments` |
//! | `GET /fragments/recommendations?segment=S` | HTML fragment per segment with one `{{segment}}` placeholder |
//! | `GET /images/{id}.jpg` | 10–300 KB `image/jpeg`, immutable, single `Range` support |
//! | `GET /api/inventory/{id}` | JSON stock, `no-store` |
//! | `POST /api/orders` | 201 JSON, body up to 1 MiB (else 413) |
//! | `GET /healthz` | 200 `ok`, or 503 when failing health checks |
//! | `GET /stats` | [`OriginStats`] as JSON (not counted) |
//! | `POST /control/health?fail=B`, `POST /control/fail-rate?value=F` | change failure flags (not counted) |
//!
//! Representations depend only on the product id (or segment and catalog size), never on
//! the origin's name, so every origin of a pool serves identical bytes and validators;
//! the `x-origin` response header tells them apart.

mod catalog;
mod conditional;
mod routes;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long `shutdown` waits for open connections to finish before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Options of the built-in shop origin.
#[derive(Debug, Clone)]
pub struct OriginOptions {
    /// Name reported in the `x-origin` header and in JSON answers.
    pub name: String,
    /// Number of products; ids `1..=catalog` exist, others answer 404.
    pub catalog: u32,
    /// Delay before answering every counted request except `/healthz`.
    pub latency: Duration,
    /// Probability (0.0–1.0) that a counted request (not `/healthz`) gets an injected 503.
    pub fail_rate: f64,
    /// Whether `/healthz` answers 503 from the start.
    pub fail_healthz: bool,
}

impl Default for OriginOptions {
    fn default() -> Self {
        Self {
            name: "origin".to_owned(),
            catalog: 1000,
            latency: Duration::ZERO,
            fail_rate: 0.0,
            fail_healthz: false,
        }
    }
}

/// The counters' JSON (`GET /stats`); the type lives in the load tester,
/// which reads it.
pub use brink_loadtest::OriginStats;

/// Path class of a counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Products,
    FragmentsProduct,
    FragmentsRecommendations,
    Images,
    Inventory,
    Orders,
    Healthz,
    Other,
}

/// Atomic counterparts of [`OriginStats`].
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    products: AtomicU64,
    fragments_product: AtomicU64,
    fragments_recommendations: AtomicU64,
    images: AtomicU64,
    inventory: AtomicU64,
    orders: AtomicU64,
    healthz: AtomicU64,
    other: AtomicU64,
    not_modified: AtomicU64,
    partial: AtomicU64,
    injected_failures: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    fn count(&self, class: Class) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let c = match class {
            Class::Products => &self.products,
            Class::FragmentsProduct => &self.fragments_product,
            Class::FragmentsRecommendations => &self.fragments_recommendations,
            Class::Images => &self.images,
            Class::Inventory => &self.inventory,
            Class::Orders => &self.orders,
            Class::Healthz => &self.healthz,
            Class::Other => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> OriginStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        OriginStats {
            total: l(&self.total),
            products: l(&self.products),
            fragments_product: l(&self.fragments_product),
            fragments_recommendations: l(&self.fragments_recommendations),
            images: l(&self.images),
            inventory: l(&self.inventory),
            orders: l(&self.orders),
            healthz: l(&self.healthz),
            other: l(&self.other),
            not_modified: l(&self.not_modified),
            partial: l(&self.partial),
            injected_failures: l(&self.injected_failures),
            bytes: l(&self.bytes),
        }
    }
}

/// State shared by the accept loop, every connection and the handle.
struct Shared {
    name: String,
    origin_header: HeaderValue,
    catalog: u32,
    latency: Duration,
    /// `f64` bits of the failure rate.
    fail_rate: AtomicU64,
    fail_healthz: AtomicBool,
    counters: Counters,
    next_order: AtomicU64,
    inventory_seq: AtomicU64,
    /// Set to `true` to stop; kept here so dropping the handle never stops the origin.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn fail_rate(&self) -> f64 {
        f64::from_bits(self.fail_rate.load(Ordering::Relaxed))
    }

    fn set_fail_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.fail_rate.store(rate.to_bits(), Ordering::Relaxed);
    }
}

/// A running origin; dropping it does NOT stop it, call [`OriginHandle::shutdown`].
pub struct OriginHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for OriginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginHandle")
            .field("name", &self.shared.name)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl OriginHandle {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin's name (as in `x-origin`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Base URL, e.g. `http://127.0.0.1:8081` (`http://[::1]:8081` for IPv6).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> OriginStats {
        self.shared.counters.snapshot()
    }

    /// Makes `/healthz` answer 503 (`true`) or 200 (`false`).
    pub fn set_fail_healthz(&self, fail: bool) {
        self.shared.fail_healthz.store(fail, Ordering::Relaxed);
    }

    /// Sets the injected failure probability, clamped to 0.0–1.0 (NaN means 0.0).
    pub fn set_fail_rate(&self, rate: f64) {
        self.shared.set_fail_rate(rate);
    }

    /// Stops accepting, asks open connections to finish (HTTP/1 closes idle keep-alive
    /// connections, HTTP/2 sends GOAWAY), and aborts those still open after ~2 s.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        if let Err(e) = self.task.await {
            tracing::warn!(origin = %self.shared.name, error = %e, "demo origin task failed");
        }
    }
}

/// Bind `listen` (may be port 0) and serve in a spawned task.
///
/// Fails if the address cannot be bound or `opts.name` is not a valid header value.
pub async fn start(listen: SocketAddr, opts: OriginOptions) -> std::io::Result<OriginHandle> {
    let origin_header = HeaderValue::from_str(&opts.name).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("origin name {:?} is not a valid header value", opts.name),
        )
    })?;
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = watch::channel(false);
    let shared = Arc::new(Shared {
        name: opts.name,
        origin_header,
        catalog: opts.catalog,
        latency: opts.latency,
        fail_rate: AtomicU64::new(0),
        fail_healthz: AtomicBool::new(opts.fail_healthz),
        counters: Counters::default(),
        next_order: AtomicU64::new(1),
        inventory_seq: AtomicU64::new(0),
        shutdown,
    });
    shared.set_fail_rate(opts.fail_rate);
    tracing::info!(origin = %shared.name, %addr, catalog = shared.catalog, "demo origin listening");
    let task = tokio::spawn(serve(listener, Arc::clone(&shared), stop));
    Ok(OriginHandle { addr, shared, task })
}

/// The accept loop: one task per connection, all watched for graceful shutdown.
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "demo origin accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let svc = service_fn(move |req| routes::handle(Arc::clone(&shared), req));
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                conns.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "demo origin connection ended with error");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!(origin = %shared.name, open = conns.len(), "aborting connections after grace period");
    }
    conns.shutdown().await;
    tracing::info!(origin = %shared.name, "demo origin stopped");
}
