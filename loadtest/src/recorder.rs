//! Per-task accumulators of outcomes, merged into one at the end of a run.

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::client::{Answer, Failure};
use super::status::Tier;
use super::workload::Kind;

/// Largest latency recorded, in microseconds (longer ones saturate).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A new latency histogram in microseconds, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// The outcome of one request.
#[derive(Debug)]
pub struct Outcome {
    /// Region index.
    pub region: usize,
    /// Request kind.
    pub kind: Kind,
    /// Cache key competing for the ideal bound (`None`: uncacheable).
    pub key: Option<String>,
    /// The response or why there was none.
    pub result: Result<Answer, Failure>,
    /// Time from sending to the end of the body (or the failure).
    pub latency: Duration,
    /// When it completed, since the start of the run.
    pub at: Duration,
}

/// Requests, bytes and collapsed requests served by one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierAcc {
    /// Responses.
    pub requests: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Responses coalesced with another request on the way (tier origin/shield only).
    pub collapsed: u64,
}

/// Failures and error statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorAcc {
    /// Connection refused or failed.
    pub connect: u64,
    /// Per-request timeout.
    pub timeout: u64,
    /// Broken exchanges.
    pub other: u64,
    /// 4xx responses.
    pub status_4xx: u64,
    /// 5xx responses.
    pub status_5xx: u64,
}

impl ErrorAcc {
    fn add(&mut self, o: &ErrorAcc) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.other += o.other;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
    }
}

/// Counts of a group of requests (a region, a kind, everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupAcc {
    /// Requests sent (responses and failures).
    pub requests: u64,
    /// Complete responses, by tier (see [`Tier::index`]).
    pub tiers: [TierAcc; 3],
    /// Failures and error statuses.
    pub errors: ErrorAcc,
}

impl GroupAcc {
    /// Complete responses.
    pub fn responses(&self) -> u64 {
        self.tiers.iter().map(|t| t.requests).sum()
    }

    /// Body bytes of all responses.
    pub fn bytes(&self) -> u64 {
        self.tiers.iter().map(|t| t.bytes).sum()
    }

    fn add(&mut self, o: &GroupAcc) {
        self.requests += o.requests;
        for (a, b) in self.tiers.iter_mut().zip(&o.tiers) {
            a.requests += b.requests;
            a.bytes += b.bytes;
            a.collapsed += b.collapsed;
        }
        self.errors.add(&o.errors);
    }

    fn record(&mut self, result: &Result<Answer, Failure>) {
        self.requests += 1;
        match result {
            Ok(a) => {
                let t = &mut self.tiers[a.cache.tier.index()];
                t.requests += 1;
                t.bytes += a.bytes;
                t.collapsed += u64::from(a.cache.collapsed);
                match a.status {
                    400..=499 => self.errors.status_4xx += 1,
                    500..=599 => self.errors.status_5xx += 1,
                    _ => {}
                }
            }
            Err(Failure::Connect) => self.errors.connect += 1,
            Err(Failure::Timeout) => self.errors.timeout += 1,
            Err(Failure::Other) => self.errors.other += 1,
        }
    }
}

/// One second of a region's timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    /// Complete responses in that second.
    pub responses: u64,
    /// Of which edge hits.
    pub edge_hits: u64,
    /// Of which shield hits.
    pub shield_hits: u64,
}

/// A region's accumulator.
#[derive(Debug, Clone)]
pub struct RegionAcc {
    /// Counts.
    pub group: GroupAcc,
    /// Requests per cacheable key (complete responses only).
    pub keys: HashMap<String, u64>,
    /// 1 s buckets since the start.
    pub timeline: Vec<Second>,
    /// Latency of complete responses, microseconds.
    pub latency: Histogram<u64>,
}

impl RegionAcc {
    fn new() -> RegionAcc {
        RegionAcc {
            group: GroupAcc::default(),
            keys: HashMap::new(),
            timeline: Vec::new(),
            latency: histogram(),
        }
    }
}

/// Everything recorded by one task (or, merged, by the whole run).
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Per region, by index.
    pub regions: Vec<RegionAcc>,
    /// Per kind (index in [`Kind::ALL`]).
    pub kinds: Vec<GroupAcc>,
    /// Latency of edge hits, microseconds.
    pub hit: Histogram<u64>,
    /// Latency of other complete responses, microseconds.
    pub miss: Histogram<u64>,
    /// Responses whose `Cache-Status` was malformed.
    pub malformed_cache_status: u64,
    /// Open loop: requests sent later than scheduled.
    pub late: u64,
    /// Open loop: arrivals not sent because too many were in flight.
    pub dropped: u64,
}

fn kind_index(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Recorder {
    /// An empty recorder for `regions` regions.
    pub fn new(regions: usize) -> Recorder {
        Recorder {
            regions: (0..regions).map(|_| RegionAcc::new()).collect(),
            kinds: vec![GroupAcc::default(); Kind::ALL.len()],
            hit: histogram(),
            miss: histogram(),
            malformed_cache_status: 0,
            late: 0,
            dropped: 0,
        }
    }

    /// Records one outcome.
    pub fn record(&mut self, o: Outcome) {
        let Some(region) = self.regions.get_mut(o.region) else {
            return;
        };
        region.group.record(&o.result);
        self.kinds[kind_index(o.kind)].record(&o.result);
        let Ok(answer) = &o.result else {
            return;
        };
        let us = u64::try_from(o.latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        region.latency.saturating_record(us);
        let tier = answer.cache.tier;
        if tier == Tier::Edge {
            self.hit.saturating_record(us);
        } else {
            self.miss.saturating_record(us);
        }
        self.malformed_cache_status += u64::from(answer.cache.malformed);
        if let Some(key) = o.key {
            *region.keys.entry(key).or_insert(0) += 1;
        }
        let second = o.at.as_secs() as usize;
        if region.timeline.len() <= second {
            region.timeline.resize(second + 1, Second::default());
        }
        let s = &mut region.timeline[second];
        s.responses += 1;
        s.edge_hits += u64::from(tier == Tier::Edge);
        s.shield_hits += u64::from(tier == Tier::Shield);
    }

    /// Adds another recorder's counts to this one.
    pub fn merge(&mut self, other: Recorder) {
        for (a, b) in self.regions.iter_mut().zip(other.regions) {
            a.group.add(&b.group);
            for (k, n) in b.keys {
                *a.keys.entry(k).or_insert(0) += n;
            }
            if a.timeline.len() < b.timeline.len() {
                a.timeline.resize(b.timeline.len(), Second::default());
            }
            for (x, y) in a.timeline.iter_mut().zip(b.timeline) {
                x.responses += y.responses;
                x.edge_hits += y.edge_hits;
                x.shield_hits += y.shield_hits;
            }
            let _ = a.latency.add(&b.latency);
        }
        for (a, b) in self.kinds.iter_mut().zip(&other.kinds) {
            a.add(b);
        }
        let _ = self.hit.add(&other.hit);
        let _ = self.miss.add(&other.miss);
        self.malformed_cache_status += other.malformed_cache_status;
        self.late += other.late;
        self.dropped += other.dropped;
    }

    /// All regions' counts together.
    pub fn total(&self) -> GroupAcc {
        let mut t = GroupAcc::default();
        for r in &self.regions {
            t.add(&r.group);
        }
        t
    }

    /// The counts of `kind`.
    pub fn kind(&self, kind: Kind) -> &GroupAcc {
        &self.kinds[kind_index(kind)]
    }
}
