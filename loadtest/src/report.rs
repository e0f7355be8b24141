//! The load-test report: a serde-serialisable summary of a run.
//!
//! This file holds the report's types (the JSON of `--json`); turning the
//! recorded outcomes into them is `report/build.rs`, so the shape of the
//! report reads apart from the arithmetic.

mod build;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use build::{BuildInput, build};

use super::RegionTarget;
use super::origin_stats::OriginStats;
use super::recorder::{ErrorAcc, TierAcc};
use super::status::Tier;

/// The report of one run. Ratios are 0..=1 (0 when there is nothing to divide);
/// latencies are milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was run.
    pub run: RunInfo,
    /// Requests sent (complete responses and failures).
    pub requests: u64,
    /// Complete responses (any status).
    pub responses: u64,
    /// Edge hits / responses.
    pub hit_ratio: f64,
    /// Shield hits / responses.
    pub shield_hit_ratio: f64,
    /// The top-C bound for this trace and cache capacity (see [`IdealInfo`]).
    pub ideal_hit_ratio: f64,
    /// How the ideal bound was computed.
    pub ideal: IdealInfo,
    /// Responses by serving tier.
    pub tiers: Tiers,
    /// Share of requests and bytes not served by the origin tier.
    pub offload: Offload,
    /// Rates over the run.
    pub throughput: Throughput,
    /// Latency of complete responses.
    pub latency: Latency,
    /// Failures and error statuses.
    pub errors: Errors,
    /// Per region, by name.
    pub regions: BTreeMap<String, RegionReport>,
    /// Per request kind, by name (kinds with no request are left out).
    pub kinds: BTreeMap<String, KindReport>,
    /// What each origin's `/stats` counted during the run (after minus before).
    pub origins: Vec<OriginReport>,
}

/// The parameters of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `zipf` (synthetic workload) or `trace` (replay).
    pub mode: String,
    /// The edges, one per region.
    pub targets: Vec<RegionTarget>,
    /// `closed` (concurrency) or `open` (target rate).
    pub load: String,
    /// Closed loop: virtual users.
    pub concurrency: Option<u64>,
    /// Open loop: target requests per second.
    pub rate: Option<f64>,
    /// Open loop: most requests in flight.
    pub max_in_flight: Option<u64>,
    /// Planned duration in seconds, when limited by time.
    pub duration_s: Option<f64>,
    /// Planned requests, when limited by count.
    pub requests_limit: Option<u64>,
    /// Zipf exponent (zipf mode).
    pub zipf_s: Option<f64>,
    /// Number of products (zipf mode).
    pub catalog: Option<u32>,
    /// Request-kind weights (zipf mode), by kind name.
    pub mix: Option<BTreeMap<String, f64>>,
    /// RNG seed.
    pub seed: u64,
    /// Trace file (trace mode).
    pub trace: Option<String>,
    /// Requests in the trace file (trace mode).
    pub trace_entries: Option<u64>,
    /// Per-request timeout in seconds.
    pub timeout_s: f64,
    /// Unix time of the start, in seconds.
    pub started_at: u64,
}

/// How the ideal bound was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdealInfo {
    /// C: objects each edge can hold.
    pub cache_objects: u64,
    /// Whether C was defaulted to 10% of the distinct cacheable keys.
    pub cache_objects_defaulted: bool,
    /// `distribution` (keys ranked by the known Zipf popularity) or `observed`
    /// (ranked by frequency on the trace).
    pub ranking: String,
    /// Distinct cacheable keys requested (all regions).
    pub distinct_cacheable_keys: u64,
    /// Ideal hits, summed over the regions.
    pub hits: u64,
}

/// Responses of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierReport {
    /// Responses served by this tier.
    pub requests: u64,
    /// Their share of responses.
    pub share: f64,
    /// Body bytes.
    pub bytes: u64,
    /// Their share of body bytes.
    pub bytes_share: f64,
    /// Of `requests`, those coalesced with another request on the way, so
    /// they did not reach the next hop themselves.
    pub collapsed: u64,
}

/// Responses by tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tiers {
    /// Hits in the user's edge.
    pub edge: TierReport,
    /// Hits in a shield.
    pub shield: TierReport,
    /// Everything else.
    pub origin: TierReport,
}

impl Tiers {
    fn new(tiers: &[TierAcc; 3]) -> Tiers {
        let requests: u64 = tiers.iter().map(|t| t.requests).sum();
        let bytes: u64 = tiers.iter().map(|t| t.bytes).sum();
        let one = |t: Tier| {
            let a = tiers[t.index()];
            TierReport {
                requests: a.requests,
                share: ratio(a.requests, requests),
                bytes: a.bytes,
                bytes_share: ratio(a.bytes, bytes),
                collapsed: a.collapsed,
            }
        };
        Tiers {
            edge: one(Tier::Edge),
            shield: one(Tier::Shield),
            origin: one(Tier::Origin),
        }
    }

    /// The report of `tier`.
    pub fn get(&self, tier: Tier) -> &TierReport {
        match tier {
            Tier::Edge => &self.edge,
            Tier::Shield => &self.shield,
            Tier::Origin => &self.origin,
        }
    }
}

/// Origin offload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Offload {
    /// Share of responses not served by the origin tier.
    pub requests: f64,
    /// Share of body bytes not served by the origin tier.
    pub bytes: f64,
}

impl Offload {
    fn new(t: &Tiers) -> Offload {
        let responses = t.edge.requests + t.shield.requests + t.origin.requests;
        let bytes = t.edge.bytes + t.shield.bytes + t.origin.bytes;
        Offload {
            requests: ratio(responses - t.origin.requests, responses),
            bytes: ratio(bytes - t.origin.bytes, bytes),
        }
    }
}

/// Rates over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Wall-clock seconds from the first request to the last response.
    pub elapsed_s: f64,
    /// Complete responses per second.
    pub requests_per_s: f64,
    /// Body bytes received.
    pub bytes: u64,
    /// Body bytes per second.
    pub bytes_per_s: f64,
}

/// Percentiles of one latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of a histogram in microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Percentiles {
                count: 0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        Percentiles {
            count: h.len(),
            mean: h.mean().round() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// One bar of the latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    /// Upper bound in ms (inclusive); `None` for the last, unbounded bucket.
    pub le_ms: Option<f64>,
    /// Edge hits in the bucket.
    pub hit: u64,
    /// Other responses in the bucket.
    pub miss: u64,
}

/// Latency of complete responses, split edge hit / other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Always `ms`.
    pub unit: String,
    /// All responses.
    pub all: Percentiles,
    /// Edge hits.
    pub hit: Percentiles,
    /// Everything else (shield hits and origin).
    pub miss: Percentiles,
    /// Distribution in log-spaced buckets, from the first to the last non-empty one.
    pub buckets: Vec<LatencyBucket>,
}

/// Failures and error statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// The connection could not be made.
    pub connect: u64,
    /// No complete response within the timeout.
    pub timeout: u64,
    /// Responses with a 4xx status (counted as responses too).
    pub status_4xx: u64,
    /// Responses with a 5xx status (counted as responses too).
    pub status_5xx: u64,
    /// Exchanges that broke after connecting.
    pub other: u64,
    /// Open loop: requests sent more than 10 ms after their scheduled time.
    pub late: u64,
    /// Open loop: arrivals not sent because `max_in_flight` requests were in flight.
    pub dropped: u64,
    /// Responses whose `Cache-Status` could not be parsed (classified as misses).
    pub malformed_cache_status: u64,
}

impl Errors {
    fn of(e: &ErrorAcc) -> Errors {
        Errors {
            connect: e.connect,
            timeout: e.timeout,
            status_4xx: e.status_4xx,
            status_5xx: e.status_5xx,
            other: e.other,
            ..Errors::default()
        }
    }
}

/// One region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionReport {
    /// The region's edge.
    pub url: String,
    /// Requests sent.
    pub requests: u64,
    /// Complete responses.
    pub responses: u64,
    /// Edge hits / responses.
    pub hit_ratio: f64,
    /// Shield hits / responses.
    pub shield_hit_ratio: f64,
    /// The top-C bound on the trace this region's edge saw.
    pub ideal_hit_ratio: f64,
    /// Ideal hits on that trace.
    pub ideal_hits: u64,
    /// Distinct cacheable keys this edge saw.
    pub distinct_cacheable_keys: u64,
    /// Responses by tier.
    pub tiers: Tiers,
    /// Origin offload.
    pub offload: Offload,
    /// Latency of its complete responses.
    pub latency: Percentiles,
    /// Failures and error statuses.
    pub errors: Errors,
    /// Hit ratio per second.
    pub timeline: Vec<TimelinePoint>,
}

/// One second of a region's run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the start (the bucket `[t_s, t_s + 1)`).
    pub t_s: u64,
    /// Complete responses.
    pub responses: u64,
    /// Edge hits.
    pub edge_hits: u64,
    /// Shield hits.
    pub shield_hits: u64,
    /// Edge hits / responses in that second.
    pub hit_ratio: f64,
}

/// One request kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindReport {
    /// Whether it can be served from a cache (inventory and orders cannot).
    pub cacheable: bool,
    /// Requests sent.
    pub requests: u64,
    /// Complete responses.
    pub responses: u64,
    /// Edge hits / responses.
    pub hit_ratio: f64,
    /// Shield hits / responses.
    pub shield_hit_ratio: f64,
    /// Responses by tier.
    pub tiers: Tiers,
    /// Failures and error statuses.
    pub errors: Errors,
}

/// What an origin counted during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginReport {
    /// Its `/stats` URL.
    pub url: String,
    /// Counters after the run minus before (`None` when `/stats` failed).
    pub counted: Option<OriginStats>,
    /// Why `/stats` could not be read.
    pub error: Option<String>,
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
