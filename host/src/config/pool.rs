//! Validated settings of an origin pool: backends, balancing strategy, active
//! health checks, passive outlier ejection, retries, timeouts, connection
//! reuse and TLS to origins. Defaults are the constants below; `[[pools]]` in
//! `config/demo.toml` shows every key with a comment.

use std::path::PathBuf;
use std::time::Duration;

/// Default connect timeout to origins (TCP and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default time to an origin's response head.
pub const DEFAULT_ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest wait for the next bytes of an origin's response body
/// (nginx's `proxy_read_timeout` is 60 s; this matches the head's timeout).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest wait of a request on another request's fill of the same
/// key before it fetches for itself (nginx's `proxy_cache_lock_timeout` is
/// 5 s): long enough for an ordinary fill, a large object included (10 MB at
/// 10 Mbit/s), short enough that a fill stuck on a stalled origin holds its
/// waiters a bounded time.
pub const DEFAULT_COALESCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an idle keep-alive connection to an origin is kept.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default age after which a keep-alive connection is not reused.
pub const DEFAULT_MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

/// Where a backend lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTarget {
    /// An HTTP(S) origin at this base URL (`http://host:port`, `https://host:port`).
    Url(http::Uri),
    /// A built-in origin declared in `[[origins]]`, by name.
    Builtin(String),
}

/// One backend of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// Its address.
    pub target: BackendTarget,
    /// Relative share of traffic (1 to 1000).
    pub weight: u32,
    /// Used only while no primary (non-backup) backend is available.
    pub backup: bool,
}

/// How a pool chooses among its available backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Smooth weighted round-robin (nginx's algorithm).
    RoundRobin,
    /// Fewest requests in flight relative to weight.
    LeastConnections,
    /// Power of two random choices, compared on latency EWMA times load.
    P2cEwma,
    /// Ketama ring on the request's cache key: a leaving backend moves only its own keys.
    ConsistentHash,
    /// Ketama ring on the client IP address.
    IpHash,
    /// Weighted random.
    Random,
}

impl Strategy {
    /// Every strategy with its config name.
    pub const ALL: [(&'static str, Strategy); 6] = [
        ("round_robin", Strategy::RoundRobin),
        ("least_connections", Strategy::LeastConnections),
        ("p2c_ewma", Strategy::P2cEwma),
        ("consistent_hash", Strategy::ConsistentHash),
        ("ip_hash", Strategy::IpHash),
        ("random", Strategy::Random),
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        Strategy::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("round_robin", |(n, _)| n)
    }
}

/// An inclusive range of status codes a health check accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted status.
    pub min: u16,
    /// Highest accepted status.
    pub max: u16,
}

impl StatusRange {
    /// Whether `status` is in the range.
    pub fn contains(&self, status: http::StatusCode) -> bool {
        (self.min..=self.max).contains(&status.as_u16())
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// Active health checks: one background task per backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// `GET` or `HEAD`.
    pub method: http::Method,
    /// Path (and query) requested.
    pub path: String,
    /// Statuses that count as healthy.
    pub expect_status: StatusRange,
    /// Time between checks.
    pub interval: Duration,
    /// A check without a response head within this time failed.
    pub timeout: Duration,
    /// Consecutive passed checks that bring a down backend up.
    pub rise: u32,
    /// Consecutive failed checks that take an up backend down.
    pub fall: u32,
    /// Up to this much random delay is added to every interval.
    pub jitter: Duration,
}

impl HealthCheckConfig {
    /// The defaults: `GET path`, 200-399, every 5 s, 2 s timeout, rise 2, fall 3, jitter 500 ms.
    pub fn new(path: &str) -> HealthCheckConfig {
        HealthCheckConfig {
            method: http::Method::GET,
            path: path.to_string(),
            expect_status: StatusRange { min: 200, max: 399 },
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            jitter: Duration::from_millis(500),
        }
    }
}

/// Passive outlier ejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Consecutive failures (connect errors, timeouts, broken exchanges, 5xx) that eject a backend.
    pub consecutive_failures: u32,
    /// First ejection time; each repeated ejection doubles it.
    pub base_ejection: Duration,
    /// Longest ejection time.
    pub max_ejection: Duration,
    /// At most this share (percent) of a pool's backends is ejected at once (rounded down,
    /// so a single-backend pool is never ejected).
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

/// Retries on another backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts per request, the first included (1 disables retries).
    pub attempts: u32,
    /// Retries may add at most this percentage to the requests of the last 10 s ...
    pub budget_percent: u32,
    /// ... but this many retries per second are always allowed.
    pub min_retries_per_sec: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 3,
            budget_percent: 20,
            min_retries_per_sec: 10,
        }
    }
}

/// TLS to `https://` backends (rustls, ring provider).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginTlsConfig {
    /// Server name sent (SNI) and verified, instead of the backend URL's host.
    pub sni: Option<String>,
    /// Extra PEM CA certificates trusted besides the public web roots.
    pub ca_file: Option<PathBuf>,
}

/// An origin pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Pool name, referenced by routes and plugins.
    pub name: String,
    /// Backends (primary and backup).
    pub backends: Vec<BackendConfig>,
    /// Balancing strategy.
    pub strategy: Strategy,
    /// Connect timeout per attempt (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time from sending the request to the origin's response head (first byte).
    pub timeout: Duration,
    /// Deadline for the whole exchange, retries and response body included.
    pub total_timeout: Option<Duration>,
    /// Longest wait for the next bytes of a response body (idle, not total):
    /// past it the exchange fails like a timeout, the client's response is
    /// cut and nothing is stored.
    pub body_timeout: Duration,
    /// Longest wait of a request on another request's cache fill (or
    /// revalidation) of the same key; past it the request fetches for itself
    /// (not stored).
    pub coalesce_timeout: Duration,
    /// Override of the `Host` sent to the origin; by default the client's `Host` is kept.
    pub host: Option<String>,
    /// Most requests in flight (so connections) per backend.
    pub max_connections: Option<usize>,
    /// Idle keep-alive connections are closed after this time.
    pub idle_timeout: Duration,
    /// Connections older than this are not reused.
    pub max_connection_lifetime: Duration,
    /// Active health checks, if configured.
    pub health_check: Option<HealthCheckConfig>,
    /// Passive outlier ejection; `None` disables it.
    pub outlier: Option<OutlierConfig>,
    /// Retry policy.
    pub retry: RetryConfig,
    /// TLS settings for `https://` backends.
    pub tls: OriginTlsConfig,
    /// Pool used when none of this pool's backends (backups included) is available.
    pub fallback: Option<String>,
}

impl PoolConfig {
    /// A pool of `backends` (weight 1, primary) with every other setting at its default:
    /// round-robin, no active health checks, outlier ejection and retries on.
    pub fn new(name: &str, backends: Vec<BackendTarget>) -> PoolConfig {
        PoolConfig {
            name: name.to_string(),
            backends: backends
                .into_iter()
                .map(|target| BackendConfig {
                    target,
                    weight: 1,
                    backup: false,
                })
                .collect(),
            strategy: Strategy::RoundRobin,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_ORIGIN_TIMEOUT,
            total_timeout: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            coalesce_timeout: DEFAULT_COALESCE_TIMEOUT,
            host: None,
            max_connections: None,
            idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            max_connection_lifetime: DEFAULT_MAX_CONNECTION_LIFETIME,
            health_check: None,
            outlier: Some(OutlierConfig::default()),
            retry: RetryConfig::default(),
            tls: OriginTlsConfig::default(),
            fallback: None,
        }
    }

    /// The zero-config pool: health checks on `/` that accept any answer below 500
    /// (the path's status is unknown), outlier ejection and idempotent retries.
    pub fn zero_config(backends: Vec<BackendTarget>) -> PoolConfig {
        let mut p = PoolConfig::new("default", backends);
        let mut hc = HealthCheckConfig::new("/");
        hc.expect_status = StatusRange { min: 200, max: 499 };
        hc.interval = Duration::from_secs(2);
        hc.timeout = Duration::from_secs(1);
        hc.jitter = Duration::from_millis(200);
        p.health_check = Some(hc);
        p
    }
}

impl super::Config {
    /// Zero-config mode's `--health-path`: health checks request `path` and
    /// expect 200-399 from it.
    pub fn set_health_path(&mut self, path: &str) -> Result<(), super::ConfigErrors> {
        if !path.starts_with('/') {
            return Err(super::ConfigErrors::single(super::ConfigError::new(
                "<command line>",
                1,
                1,
                "--health-path",
                format!("invalid health check path \"{path}\": it must start with '/'"),
            )));
        }
        for p in &mut self.pools {
            let hc = p
                .health_check
                .get_or_insert_with(|| HealthCheckConfig::new(path));
            hc.path = path.to_string();
            hc.expect_status = StatusRange { min: 200, max: 399 };
        }
        Ok(())
    }
}
