//! Building the [`Report`] from the merged [`Recorder`]: ratios, the ideal
//! top-C bound per region and overall, latency percentiles and buckets.
//!
//! Apart from `report.rs` (the types) so each piece of arithmetic is a
//! small function of its own: a region's report, the ideal bound, the
//! latency summary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{
    Errors, IdealInfo, KindReport, Latency, LatencyBucket, Offload, OriginReport, Percentiles,
    RegionReport, Report, RunInfo, Throughput, Tiers, TimelinePoint, ratio,
};
use crate::RegionTarget;
use crate::ideal;
use crate::recorder::{GroupAcc, Recorder, RegionAcc};
use crate::workload::Kind;

/// Upper bounds of the latency buckets, in ms.
const BUCKET_BOUNDS_MS: [f64; 16] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0,
];

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
    let bound = Bound::new(rec, &input);

    let mut regions = BTreeMap::new();
    let mut ideal_hits = 0;
    for (i, r) in rec.regions.iter().enumerate() {
        let target = input.run.targets.get(i);
        let name = target.map_or_else(|| format!("region-{i}"), |t| t.region.clone());
        let hits = bound.hits(&r.keys);
        ideal_hits += hits;
        regions.insert(name, region_report(target, r, hits));
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

    Report {
        requests: total.requests,
        responses,
        hit_ratio: tiers.edge.share,
        shield_hit_ratio: tiers.shield.share,
        ideal_hit_ratio: ratio(ideal_hits, responses),
        ideal: bound.info(&input, ideal_hits),
        offload: Offload::new(&tiers),
        tiers,
        throughput: throughput(input.elapsed, responses, total.bytes()),
        latency: latency(rec),
        errors,
        regions,
        kinds,
        origins: input.origins,
        run: input.run,
    }
}

/// The ideal top-C bound's parameters: C and how keys are ranked.
struct Bound<'a> {
    /// Every cacheable key with its probability, or `None`: observed frequency.
    universe: Option<&'a [(String, f64)]>,
    /// C, objects per edge.
    cache_objects: u64,
    /// Distinct cacheable keys requested, all regions.
    distinct: usize,
}

impl<'a> Bound<'a> {
    fn new(rec: &Recorder, input: &BuildInput<'a>) -> Bound<'a> {
        let mut all_keys = HashSet::new();
        for r in &rec.regions {
            all_keys.extend(r.keys.keys().map(String::as_str));
        }
        let distinct = all_keys.len();
        Bound {
            universe: input.universe,
            cache_objects: input
                .cache_objects
                .unwrap_or_else(|| ideal::default_capacity(distinct)),
            distinct,
        }
    }

    /// Ideal hits on one edge's trace (requests per key).
    fn hits(&self, keys: &HashMap<String, u64>) -> u64 {
        match self.universe {
            Some(u) => ideal::top_c_hits(u, keys, self.cache_objects),
            None => ideal::top_c_hits_observed(keys, self.cache_objects),
        }
    }

    fn info(&self, input: &BuildInput<'_>, hits: u64) -> IdealInfo {
        IdealInfo {
            cache_objects: self.cache_objects,
            cache_objects_defaulted: input.cache_objects.is_none(),
            ranking: if self.universe.is_some() {
                "distribution".into()
            } else {
                "observed".into()
            },
            distinct_cacheable_keys: self.distinct as u64,
            hits,
        }
    }
}

fn region_report(target: Option<&RegionTarget>, r: &RegionAcc, hits: u64) -> RegionReport {
    let g = &r.group;
    let t = Tiers::new(&g.tiers);
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

fn throughput(elapsed: Duration, responses: u64, bytes: u64) -> Throughput {
    let secs = elapsed.as_secs_f64();
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    Throughput {
        elapsed_s: secs,
        requests_per_s: per_s(responses),
        bytes,
        bytes_per_s: per_s(bytes),
    }
}

fn latency(rec: &Recorder) -> Latency {
    let mut all = rec.hit.clone();
    let _ = all.add(&rec.miss);
    Latency {
        unit: "ms".into(),
        all: Percentiles::of(&all),
        hit: Percentiles::of(&rec.hit),
        miss: Percentiles::of(&rec.miss),
        buckets: buckets(&rec.hit, &rec.miss),
    }
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
