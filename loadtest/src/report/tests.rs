//! Unit tests of the report, and the sample report the table and HTML
//! tests render.

use std::time::Duration;

use super::*;
use crate::client::{Answer, Failure};
use crate::recorder::{Outcome, Recorder};
use crate::status::Classification;
use crate::workload::Kind;

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
    let rec = sample_recorder();
    let universe = vec![
        ("/images/1.jpg".to_string(), 0.5),
        ("/products/2".to_string(), 0.25),
    ];
    build(
        &rec,
        BuildInput {
            run: sample_run(),
            elapsed: Duration::from_secs(2),
            universe: Some(&universe),
            cache_objects: Some(1),
            origins: vec![],
        },
    )
}

/// The outcomes of [`sample_report`]: region 0 (images and inventory),
/// region 1 (product pages and orders, one timing out).
fn sample_recorder() -> Recorder {
    use Tier::{Edge, Origin, Shield};
    let (img, page) = (Some("/images/1.jpg"), Some("/products/2"));
    // (region, kind, key, result, latency ms, at ms)
    let outcomes = [
        (0, Kind::Images, img, answer(Origin, 200, 1000), 20, 100),
        (0, Kind::Images, img, answer(Edge, 200, 1000), 1, 200),
        (0, Kind::Images, img, answer(Edge, 200, 1000), 1, 1200),
        (0, Kind::Inventory, None, answer(Origin, 200, 100), 10, 1300),
        (
            1,
            Kind::ProductPages,
            page,
            answer(Origin, 200, 500),
            30,
            300,
        ),
        (
            1,
            Kind::ProductPages,
            page,
            answer(Shield, 200, 500),
            5,
            400,
        ),
        (1, Kind::Orders, None, answer(Origin, 503, 0), 8, 500),
        (1, Kind::Orders, None, Err(Failure::Timeout), 1000, 1500),
    ];
    let mut rec = Recorder::new(2);
    for (region, kind, key, result, ms, at) in outcomes {
        rec.record(Outcome {
            region,
            kind,
            key: key.map(str::to_string),
            result,
            latency: Duration::from_millis(ms),
            at: Duration::from_millis(at),
        });
    }
    rec.late = 1;
    rec
}

/// The parameters of [`sample_report`]'s run: two regions, closed loop.
fn sample_run() -> RunInfo {
    RunInfo {
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
    }
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
