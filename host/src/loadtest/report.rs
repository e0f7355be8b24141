//! The load-test report: a serde-serialisable summary of a run.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::RegionTarget;
use super::ideal;
use super::recorder::{ErrorAcc, GroupAcc, Recorder, TierAcc};
use super::status::Tier;
use super::workload::Kind;
use crate::demo_origin::OriginStats;

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

/// Upper bounds of the latency buckets, in ms.
const BUCKET_BOUNDS_MS: [f64; 16] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0,
];

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

fn buckets(hit: &Histogram<u64>, miss: &Histogram<u64>) -> Vec<LatencyBucket> {
    let mut out: Vec<LatencyBucket> = BUCKET_BOUNDS_MS
        .iter()
        .map(|b| Some(*b))
        .chain([None])
        .map(|le_ms| LatencyBucket {
            le_ms,
            hit: 0,
            miss: 0,
        })
        .collect();
    let index = |us: u64| {
        let ms = us as f64 / 1000.0;
        BUCKET_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKET_BOUNDS_MS.len())
    };
    for v in hit.iter_recorded() {
        out[index(v.value_iterated_to())].hit += v.count_at_value();
    }
    for v in miss.iter_recorded() {
        out[index(v.value_iterated_to())].miss += v.count_at_value();
    }
    let used = |b: &LatencyBucket| b.hit + b.miss > 0;
    match (out.iter().position(used), out.iter().rposition(used)) {
        (Some(first), Some(last)) => out[first..=last].to_vec(),
        _ => Vec::new(),
    }
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

/// `after - before`, field by field.
pub fn stats_delta(before: &OriginStats, after: &OriginStats) -> OriginStats {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    OriginStats {
        total: d(after.total, before.total),
        products: d(after.products, before.products),
        fragments_product: d(after.fragments_product, before.fragments_product),
        fragments_recommendations: d(
            after.fragments_recommendations,
            before.fragments_recommendations,
        ),
        images: d(after.images, before.images),
        inventory: d(after.inventory, before.inventory),
        orders: d(after.orders, before.orders),
        healthz: d(after.healthz, before.healthz),
        other: d(after.other, before.other),
        not_modified: d(after.not_modified, before.not_modified),
        partial: d(after.partial, before.partial),
        injected_failures: d(after.injected_failures, before.injected_failures),
        bytes: d(after.bytes, before.bytes),
    }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// What [`build`] needs besides the recorded outcomes.
#[derive(Debug)]
pub struct BuildInput<'a> {
    /// The run's parameters.
    pub run: RunInfo,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Every cacheable key with its probability (synthetic workload); `None`
    /// ranks keys by observed frequency.
    pub universe: Option<&'a [(String, f64)]>,
    /// `--cache-objects`; `None` defaults to 10% of the distinct cacheable keys.
    pub cache_objects: Option<u64>,
    /// Origin counters.
    pub origins: Vec<OriginReport>,
}

/// Builds the report from the merged recorder.
pub fn build(rec: &Recorder, input: BuildInput<'_>) -> Report {
    let total = rec.total();
    let responses = total.responses();
    let tiers = Tiers::new(&total.tiers);

    let mut all_keys = std::collections::HashSet::new();
    for r in &rec.regions {
        all_keys.extend(r.keys.keys().map(String::as_str));
    }
    let distinct = all_keys.len();
    let cache_objects = input
        .cache_objects
        .unwrap_or_else(|| ideal::default_capacity(distinct));
    let ideal_hits_of = |keys: &std::collections::HashMap<String, u64>| match input.universe {
        Some(u) => ideal::top_c_hits(u, keys, cache_objects),
        None => ideal::top_c_hits_observed(keys, cache_objects),
    };

    let mut regions = BTreeMap::new();
    let mut ideal_hits = 0;
    for (i, r) in rec.regions.iter().enumerate() {
        let target = input.run.targets.get(i);
        let name = target.map_or_else(|| format!("region-{i}"), |t| t.region.clone());
        let hits = ideal_hits_of(&r.keys);
        ideal_hits += hits;
        let g = &r.group;
        let t = Tiers::new(&g.tiers);
        regions.insert(
            name,
            RegionReport {
                url: target.map(|t| t.url.clone()).unwrap_or_default(),
                requests: g.requests,
                responses: g.responses(),
                hit_ratio: t.edge.share,
                shield_hit_ratio: t.shield.share,
                ideal_hit_ratio: ratio(hits, g.responses()),
                ideal_hits: hits,
                distinct_cacheable_keys: r.keys.len() as u64,
                offload: Offload::new(&t),
                tiers: t,
                latency: Percentiles::of(&r.latency),
                errors: Errors::of(&g.errors),
                timeline: r
                    .timeline
                    .iter()
                    .enumerate()
                    .map(|(s, b)| TimelinePoint {
                        t_s: s as u64,
                        responses: b.responses,
                        edge_hits: b.edge_hits,
                        shield_hits: b.shield_hits,
                        hit_ratio: ratio(b.edge_hits, b.responses),
                    })
                    .collect(),
            },
        );
    }

    let kinds = Kind::ALL
        .iter()
        .filter(|k| rec.kind(**k).requests > 0)
        .map(|k| (k.as_str().to_string(), kind_report(*k, rec.kind(*k))))
        .collect();

    let mut errors = Errors::of(&total.errors);
    errors.late = rec.late;
    errors.dropped = rec.dropped;
    errors.malformed_cache_status = rec.malformed_cache_status;

    let secs = input.elapsed.as_secs_f64();
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let mut all = rec.hit.clone();
    let _ = all.add(&rec.miss);

    Report {
        requests: total.requests,
        responses,
        hit_ratio: tiers.edge.share,
        shield_hit_ratio: tiers.shield.share,
        ideal_hit_ratio: ratio(ideal_hits, responses),
        ideal: IdealInfo {
            cache_objects,
            cache_objects_defaulted: input.cache_objects.is_none(),
            ranking: if input.universe.is_some() {
                "distribution".into()
            } else {
                "observed".into()
            },
            distinct_cacheable_keys: distinct as u64,
            hits: ideal_hits,
        },
        offload: Offload::new(&tiers),
        tiers,
        throughput: Throughput {
            elapsed_s: secs,
            requests_per_s: per_s(responses),
            bytes: total.bytes(),
            bytes_per_s: per_s(total.bytes()),
        },
        latency: Latency {
            unit: "ms".into(),
            all: Percentiles::of(&all),
            hit: Percentiles::of(&rec.hit),
            miss: Percentiles::of(&rec.miss),
            buckets: buckets(&rec.hit, &rec.miss),
        },
        errors,
        regions,
        kinds,
        origins: input.origins,
        run: input.run,
    }
}

fn kind_report(kind: Kind, g: &GroupAcc) -> KindReport {
    let t = Tiers::new(&g.tiers);
    KindReport {
        cacheable: kind.cacheable(),
        requests: g.requests,
        responses: g.responses(),
        hit_ratio: t.edge.share,
        shield_hit_ratio: t.shield.share,
        tiers: t,
        errors: Errors::of(&g.errors),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::loadtest::client::{Answer, Failure};
    use crate::loadtest::recorder::Outcome;
    use crate::loadtest::status::Classification;

    fn answer(tier: Tier, status: u16, bytes: u64) -> Result<Answer, Failure> {
        Ok(Answer {
            status,
            cache: Classification {
                tier,
                collapsed: false,
                malformed: false,
            },
            bytes,
        })
    }

    /// A small report: two regions, a few hits, misses and failures.
    pub(crate) fn sample_report() -> Report {
        let mut rec = Recorder::new(2);
        let mut push = |region, kind, key: Option<&str>, result, ms: u64, at: u64| {
            rec.record(Outcome {
                region,
                kind,
                key: key.map(str::to_string),
                result,
                latency: Duration::from_millis(ms),
                at: Duration::from_millis(at),
            })
        };
        push(
            0,
            Kind::Images,
            Some("/images/1.jpg"),
            answer(Tier::Origin, 200, 1000),
            20,
            100,
        );
        push(
            0,
            Kind::Images,
            Some("/images/1.jpg"),
            answer(Tier::Edge, 200, 1000),
            1,
            200,
        );
        push(
            0,
            Kind::Images,
            Some("/images/1.jpg"),
            answer(Tier::Edge, 200, 1000),
            1,
            1200,
        );
        push(
            0,
            Kind::Inventory,
            None,
            answer(Tier::Origin, 200, 100),
            10,
            1300,
        );
        push(
            1,
            Kind::ProductPages,
            Some("/products/2"),
            answer(Tier::Origin, 200, 500),
            30,
            300,
        );
        push(
            1,
            Kind::ProductPages,
            Some("/products/2"),
            answer(Tier::Shield, 200, 500),
            5,
            400,
        );
        push(1, Kind::Orders, None, answer(Tier::Origin, 503, 0), 8, 500);
        push(1, Kind::Orders, None, Err(Failure::Timeout), 1000, 1500);
        rec.late = 1;
        let universe = vec![
            ("/images/1.jpg".to_string(), 0.5),
            ("/products/2".to_string(), 0.25),
        ];
        build(
            &rec,
            BuildInput {
                run: RunInfo {
                    mode: "zipf".into(),
                    targets: vec![
                        RegionTarget {
                            region: "us-east".into(),
                            url: "http://127.0.0.1:1".into(),
                        },
                        RegionTarget {
                            region: "eu-west".into(),
                            url: "http://127.0.0.1:2".into(),
                        },
                    ],
                    load: "closed".into(),
                    concurrency: Some(2),
                    rate: None,
                    max_in_flight: None,
                    duration_s: None,
                    requests_limit: Some(8),
                    zipf_s: Some(1.0),
                    catalog: Some(10),
                    mix: None,
                    seed: 1,
                    trace: None,
                    trace_entries: None,
                    timeout_s: 1.0,
                    started_at: 0,
                },
                elapsed: Duration::from_secs(2),
                universe: Some(&universe),
                cache_objects: Some(1),
                origins: vec![],
            },
        )
    }

    #[test]
    fn counts_ratios_and_ideal() {
        let r = sample_report();
        assert_eq!(r.requests, 8);
        assert_eq!(r.responses, 7);
        assert_eq!(r.tiers.edge.requests, 2);
        assert_eq!(r.tiers.shield.requests, 1);
        assert_eq!(r.tiers.origin.requests, 4);
        assert_eq!(r.hit_ratio, 2.0 / 7.0);
        assert_eq!(r.offload.requests, 3.0 / 7.0);
        assert_eq!(r.offload.bytes, 2500.0 / 4100.0);
        assert_eq!(r.errors.timeout, 1);
        assert_eq!(r.errors.status_5xx, 1);
        assert_eq!(r.errors.late, 1);
        let us = &r.regions["us-east"];
        assert_eq!(us.hit_ratio, 0.5);
        // C = 1: the images key (probability 0.5) is kept: 3 requests, 2 hits.
        assert_eq!(us.ideal_hits, 2);
        assert_eq!(us.ideal_hit_ratio, 0.5);
        assert_eq!(us.timeline.len(), 2);
        assert_eq!(us.timeline[0].hit_ratio, 0.5);
        assert_eq!(us.timeline[1].hit_ratio, 0.5);
        // eu-west: /products/2 is not in the top 1 of the universe.
        let eu = &r.regions["eu-west"];
        assert_eq!(eu.ideal_hits, 0);
        assert_eq!(eu.shield_hit_ratio, 1.0 / 3.0);
        assert_eq!(r.ideal.hits, 2);
        assert_eq!(r.kinds["images"].hit_ratio, 2.0 / 3.0);
        assert!(!r.kinds["orders"].cacheable);
        assert!(!r.kinds.contains_key("other"));
        assert_eq!(r.latency.hit.count, 2);
        assert_eq!(r.latency.miss.count, 5);
        let bucketed: u64 = r.latency.buckets.iter().map(|b| b.hit + b.miss).sum();
        assert_eq!(bucketed, 7);
        assert_eq!(r.throughput.requests_per_s, 3.5);
    }

    #[test]
    fn json_round_trip() {
        let r = sample_report();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for field in [
            "run",
            "requests",
            "responses",
            "hit_ratio",
            "ideal_hit_ratio",
            "tiers",
            "offload",
            "throughput",
            "latency",
            "errors",
            "regions",
            "kinds",
            "origins",
        ] {
            assert!(v.get(field).is_some(), "missing {field}");
        }
        assert!(v["regions"]["us-east"]["hit_ratio"].is_f64());
        assert!(v["regions"]["us-east"]["ideal_hit_ratio"].is_f64());
        assert_eq!(v["tiers"]["edge"]["requests"], 2);
    }

    #[test]
    fn empty_run_has_no_nan() {
        let rec = Recorder::new(1);
        let r = build(
            &rec,
            BuildInput {
                run: sample_report().run,
                elapsed: Duration::ZERO,
                universe: None,
                cache_objects: None,
                origins: vec![],
            },
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("null,\"shield") && !text.contains("NaN"));
        assert_eq!(r.hit_ratio, 0.0);
        assert_eq!(r.ideal.cache_objects, 1);
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
