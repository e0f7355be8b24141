//! `brink loadtest`: drive edges in several regions with a synthetic shop
//! workload (or a replayed trace) and report hit ratios.
//!
//! Virtual users are spread over the regions; each region's users send to
//! that region's edge. The synthetic workload picks products by Zipf(s)
//! popularity over a catalog and a request kind from a mix (images, product
//! fragments and pages, personalised recommendations, inventory API, order
//! POSTs). Each response is classified by its `Cache-Status` (RFC 9211) as
//! served by the user's edge, a shield or the origin. The [`Report`] puts the
//! measured hit ratio beside the ideal top-C bound for the same trace and
//! cache capacity, and is written as a terminal table, JSON and a
//! self-contained HTML page.
//!
//! The run itself is [`run`] on [`LoadtestOptions`]: a list of
//! [`RegionTarget`]s (from `--target`, or later from a fleet config) plus
//! optional origin `/stats` URLs to read before and after.
//!
//! A crate of its own, below the `brink` crate and not depending on it: the
//! load tester talks to edges over HTTP only, so it builds and tests without
//! the host (`cargo test -p brink-loadtest`), and an edit here recompiles
//! this crate instead of the host's. The one type it shares with the host is
//! [`OriginStats`], the JSON of the built-in origin's `/stats`, which lives
//! here because this is the side that reads it (the demo origin serves it).

#![warn(missing_docs)]

pub mod client;
pub mod html;
pub mod ideal;
pub mod origin_stats;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod status;
pub mod table;
pub mod trace;
pub mod workload;
pub mod zipf;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use origin_stats::OriginStats;
pub use report::Report;
pub use runner::{Load, Stop};
pub use workload::{Kind, Mix};

use client::HttpClient;
use report::{BuildInput, OriginReport, RunInfo};
use runner::{Plan, Source};
use workload::{Personas, ZipfWorkload};

/// One region's edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTarget {
    /// Region name, e.g. `us-east`.
    pub region: String,
    /// The edge's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
}

impl FromStr for RegionTarget {
    type Err = String;

    /// `REGION=URL`, or a bare `URL` for region `default`.
    fn from_str(s: &str) -> Result<RegionTarget, String> {
        let (region, url) = match s.split_once('=') {
            Some((r, u)) if !r.contains("://") => (r.trim(), u.trim()),
            _ => ("default", s.trim()),
        };
        if region.is_empty() {
            return Err(format!("{s:?}: the region name is empty (REGION=URL)"));
        }
        let url = client::check_base_url(url)?;
        Ok(RegionTarget {
            region: region.to_string(),
            url,
        })
    }
}

/// What to request.
#[derive(Debug, Clone)]
pub enum Workload {
    /// The synthetic shop workload.
    Zipf {
        /// Zipf exponent of product popularity.
        s: f64,
        /// Products `1..=catalog`.
        catalog: u32,
        /// Weights of the request kinds.
        mix: Mix,
    },
    /// Replay of a trace file.
    Trace {
        /// The file (shown in the report).
        path: PathBuf,
        /// Its parsed entries.
        trace: trace::Trace,
    },
}

/// A load test to run.
#[derive(Debug, Clone)]
pub struct LoadtestOptions {
    /// One edge per region (at least one; region names distinct).
    pub targets: Vec<RegionTarget>,
    /// Origins' `/stats` URLs, read before and after the run.
    pub origin_stats: Vec<String>,
    /// What to request.
    pub workload: Workload,
    /// Closed or open loop.
    pub load: Load,
    /// When to stop.
    pub stop: Stop,
    /// RNG seed.
    pub seed: u64,
    /// Bearer tokens: user segment `i` uses token `i` (none: a `segment` cookie).
    pub tokens: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// C for the ideal bound; `None`: 10% of the distinct cacheable keys.
    pub cache_objects: Option<u64>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// Why a load test cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// Options that do not make a run.
    #[error("{0}")]
    Invalid(String),
    /// The trace file.
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Default virtual users in closed loop.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default duration when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// Runs a load test and builds its report.
pub async fn run(opts: LoadtestOptions) -> Result<Report, LoadtestError> {
    validate(&opts)?;
    let personas = Personas::new(opts.tokens.clone());
    let (source, universe, mode) = match &opts.workload {
        Workload::Zipf { s, catalog, mix } => {
            let w = ZipfWorkload::new(*catalog, *s, mix.clone(), personas);
            let universe = w.universe();
            (Source::Zipf(Arc::new(w)), Some(universe), "zipf")
        }
        Workload::Trace { trace, .. } => (
            Source::Trace {
                entries: Arc::new(trace.entries.clone()),
                personas,
            },
            None,
            "trace",
        ),
    };
    let idle = match opts.load {
        Load::Closed { concurrency } => concurrency,
        Load::Open { max_in_flight, .. } => max_in_flight,
    };
    let client = HttpClient::new(opts.timeout, idle);
    let stats_urls: Vec<String> = opts.origin_stats.iter().map(|u| stats_url(u)).collect();
    let mut before = Vec::new();
    for u in &stats_urls {
        before.push(client.get_json::<OriginStats>(u).await);
    }
    let started_at = now_secs();
    let plan = Plan {
        bases: opts.targets.iter().map(|t| t.url.clone()).collect(),
        source,
        load: opts.load,
        stop: opts.stop,
        seed: opts.seed,
        progress: opts.progress,
    };
    let (rec, elapsed) = runner::run(plan, client.clone()).await;
    let mut origins = Vec::new();
    for (u, b) in stats_urls.iter().zip(before) {
        let after = client.get_json::<OriginStats>(u).await;
        origins.push(match (b, after) {
            (Ok(b), Ok(a)) => OriginReport {
                url: u.clone(),
                counted: Some(a.since(&b)),
                error: None,
            },
            (Err(e), _) | (_, Err(e)) => OriginReport {
                url: u.clone(),
                counted: None,
                error: Some(e),
            },
        });
    }
    let run_info = run_info(&opts, mode, started_at);
    Ok(report::build(
        &rec,
        BuildInput {
            run: run_info,
            elapsed,
            universe: universe.as_deref(),
            cache_objects: opts.cache_objects,
            origins,
        },
    ))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `URL` if it already names `/stats`, else `URL/stats`.
fn stats_url(u: &str) -> String {
    let u = u.trim_end_matches('/');
    if u.ends_with("/stats") {
        u.to_string()
    } else {
        format!("{u}/stats")
    }
}

fn validate(opts: &LoadtestOptions) -> Result<(), LoadtestError> {
    let bad = |m: String| Err(LoadtestError::Invalid(m));
    if opts.targets.is_empty() {
        return bad("give at least one --target REGION=URL (one per region)".into());
    }
    for (i, t) in opts.targets.iter().enumerate() {
        if opts.targets[..i].iter().any(|o| o.region == t.region) {
            return bad(format!(
                "region {:?} has two targets: give one edge per region",
                t.region
            ));
        }
    }
    match opts.load {
        Load::Closed { concurrency: 0 } => return bad("--concurrency must be at least 1".into()),
        Load::Open { rate, .. } if !(rate.is_finite() && rate > 0.0) => {
            return bad("--rate must be a positive number of requests per second".into());
        }
        Load::Open {
            max_in_flight: 0, ..
        } => return bad("--max-in-flight must be at least 1".into()),
        _ => {}
    }
    match opts.stop {
        Stop::Requests(0) => return bad("--requests must be at least 1".into()),
        Stop::Duration(d) if d.is_zero() => return bad("--duration must be positive".into()),
        _ => {}
    }
    if opts.timeout.is_zero() {
        return bad("--timeout must be positive".into());
    }
    if opts.cache_objects == Some(0) {
        return bad("--cache-objects must be at least 1".into());
    }
    if let Workload::Zipf { s, catalog, .. } = &opts.workload {
        if !(s.is_finite() && *s >= 0.0) {
            return bad("--zipf must be a number >= 0".into());
        }
        if *catalog == 0 {
            return bad("--catalog must be at least 1".into());
        }
    }
    if opts
        .tokens
        .iter()
        .any(|t| t.trim().is_empty() || t.contains(['\r', '\n']))
    {
        return bad("--token values must be non-empty single-line tokens".into());
    }
    Ok(())
}

fn run_info(opts: &LoadtestOptions, mode: &str, started_at: u64) -> RunInfo {
    let (concurrency, rate, max_in_flight, load) = match opts.load {
        Load::Closed { concurrency } => (Some(concurrency as u64), None, None, "closed"),
        Load::Open {
            rate,
            max_in_flight,
        } => (None, Some(rate), Some(max_in_flight as u64), "open"),
    };
    let (duration_s, requests_limit) = match opts.stop {
        Stop::Requests(n) => (None, Some(n)),
        Stop::Duration(d) => (Some(d.as_secs_f64()), None),
    };
    let (zipf_s, catalog, mix, trace, trace_entries) = match &opts.workload {
        Workload::Zipf { s, catalog, mix } => (
            Some(*s),
            Some(*catalog),
            Some(
                mix.0
                    .iter()
                    .map(|(k, w)| (k.as_str().to_string(), *w))
                    .collect(),
            ),
            None,
            None,
        ),
        Workload::Trace { path, trace } => (
            None,
            None,
            None,
            Some(path.display().to_string()),
            Some(trace.entries.len() as u64),
        ),
    };
    RunInfo {
        mode: mode.into(),
        targets: opts.targets.clone(),
        load: load.into(),
        concurrency,
        rate,
        max_in_flight,
        duration_s,
        requests_limit,
        zipf_s,
        catalog,
        mix,
        seed: opts.seed,
        trace,
        trace_entries,
        timeout_s: opts.timeout.as_secs_f64(),
        started_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t: RegionTarget = "us-east=http://127.0.0.1:8080/".parse().unwrap();
        assert_eq!(t.region, "us-east");
        assert_eq!(t.url, "http://127.0.0.1:8080");
        let t: RegionTarget = "http://127.0.0.1:8080".parse().unwrap();
        assert_eq!(t.region, "default");
        assert!("=http://127.0.0.1:1".parse::<RegionTarget>().is_err());
        assert!("eu=ftp://x".parse::<RegionTarget>().is_err());
    }

    #[test]
    fn stats_urls() {
        assert_eq!(stats_url("http://a:1"), "http://a:1/stats");
        assert_eq!(stats_url("http://a:1/stats"), "http://a:1/stats");
        assert_eq!(stats_url("http://a:1/"), "http://a:1/stats");
    }

    fn opts() -> LoadtestOptions {
        LoadtestOptions {
            targets: vec!["a=http://127.0.0.1:1".parse().unwrap()],
            origin_stats: vec![],
            workload: Workload::Zipf {
                s: 1.0,
                catalog: 10,
                mix: Mix::default(),
            },
            load: Load::Closed { concurrency: 1 },
            stop: Stop::Requests(1),
            seed: 1,
            tokens: vec![],
            timeout: Duration::from_secs(1),
            cache_objects: None,
            progress: false,
        }
    }

    #[test]
    fn validation() {
        assert!(validate(&opts()).is_ok());
        let mut o = opts();
        o.targets.push(o.targets[0].clone());
        assert!(
            validate(&o)
                .unwrap_err()
                .to_string()
                .contains("two targets")
        );
        let mut o = opts();
        o.targets.clear();
        assert!(validate(&o).is_err());
        let mut o = opts();
        o.load = Load::Open {
            rate: 0.0,
            max_in_flight: 1,
        };
        assert!(validate(&o).is_err());
        let mut o = opts();
        o.stop = Stop::Requests(0);
        assert!(validate(&o).is_err());
        let mut o = opts();
        o.cache_objects = Some(0);
        assert!(validate(&o).is_err());
    }

    #[tokio::test]
    async fn refused_target_counts_connect_errors() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut o = opts();
        o.targets = vec![format!("a=http://127.0.0.1:{port}").parse().unwrap()];
        o.stop = Stop::Requests(5);
        let r = run(o).await.unwrap();
        assert_eq!(r.requests, 5);
        assert_eq!(r.responses, 0);
        assert_eq!(r.errors.connect, 5);
        assert_eq!(r.hit_ratio, 0.0);
    }
}
