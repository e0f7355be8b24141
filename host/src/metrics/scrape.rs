//! Families read at scrape time. A subsystem that already counts something
//! for `/status` (pool backends, plugins, reloads, the cache) writes it to
//! `/metrics` through these helpers from a
//! [`Collector`](prometheus_client::collector::Collector), so the request
//! path keeps one set of atomics and no registry is touched per request.
//! Series that come and go with config generations (a removed pool's
//! backends, a replaced plugin) vanish with the generation, which a
//! registered family could not do without a sweep.
//!
//! Names are given without the registry's `brink_` prefix, HELP text as it
//! is written (with its full stop); counters get `_total` on their samples.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The label set of a sample: `(name, value)` pairs in order.
pub type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

/// Writes one counter family: its HELP and TYPE lines, then one
/// `NAME_total{labels} value` line per sample.
pub fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one gauge family: its HELP and TYPE lines, then one
/// `NAME{labels} value` line per sample.
pub fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, i64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one gauge without labels (an integer or a float).
pub fn gauge<V>(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: V) -> fmt::Result
where
    ConstGauge<V>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A `u64` count as a gauge value (saturating: a gauge is an `i64`).
pub fn level(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
