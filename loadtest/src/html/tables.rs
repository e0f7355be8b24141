//! The report page's tables: regions, request kinds, tiers, latency,
//! errors and origins, then the note on the ideal bound. Each is a function
//! of its own; the cells come from the terminal table's helpers.

use std::fmt::Write;

use super::{esc, host_of};
use crate::report::Report;
use crate::table::{bytes, latency_row, pct, tier_rows};

/// One `<table>` with a caption above it.
fn table(h: &mut String, caption: &str, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(h, "<h2>{}</h2>\n<table>\n<tr>", esc(caption));
    for c in header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for c in row {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// Every table of the page, in order, and the note on the ideal bound.
pub(super) fn tables(h: &mut String, r: &Report) {
    regions(h, r);
    kinds(h, r);
    tiers_latency_errors(h, r);
    origins(h, r);
    ideal_note(h, r);
}

fn regions(h: &mut String, r: &Report) {
    let mut rows: Vec<Vec<String>> = r
        .regions
        .iter()
        .map(|(name, g)| {
            vec![
                name.clone(),
                host_of(&g.url),
                g.requests.to_string(),
                pct(g.hit_ratio),
                pct(g.ideal_hit_ratio),
                pct(g.shield_hit_ratio),
                pct(g.tiers.origin.share),
                pct(g.offload.bytes),
                format!("{:.2}", g.latency.p50),
                format!("{:.2}", g.latency.p99),
            ]
        })
        .collect();
    rows.push(vec![
        "all".into(),
        String::new(),
        r.requests.to_string(),
        pct(r.hit_ratio),
        pct(r.ideal_hit_ratio),
        pct(r.shield_hit_ratio),
        pct(r.tiers.origin.share),
        pct(r.offload.bytes),
        format!("{:.2}", r.latency.all.p50),
        format!("{:.2}", r.latency.all.p99),
    ]);
    table(
        h,
        "Regions",
        &[
            "region",
            "edge",
            "requests",
            "hit ratio",
            "ideal",
            "shield hits",
            "origin",
            "offload (bytes)",
            "p50 ms",
            "p99 ms",
        ],
        &rows,
    );
}

fn kinds(h: &mut String, r: &Report) {
    let rows: Vec<Vec<String>> = r
        .kinds
        .iter()
        .map(|(name, k)| {
            vec![
                name.clone(),
                if k.cacheable { "yes" } else { "no" }.into(),
                k.requests.to_string(),
                pct(k.hit_ratio),
                pct(k.shield_hit_ratio),
                pct(k.tiers.origin.share),
                (k.errors.connect
                    + k.errors.timeout
                    + k.errors.other
                    + k.errors.status_4xx
                    + k.errors.status_5xx)
                    .to_string(),
            ]
        })
        .collect();
    table(
        h,
        "Request kinds",
        &[
            "kind",
            "cacheable",
            "requests",
            "hit ratio",
            "shield hits",
            "origin",
            "errors",
        ],
        &rows,
    );
}

fn tiers_latency_errors(h: &mut String, r: &Report) {
    let rows = tier_rows(r);
    table(
        h,
        "Tiers",
        &[
            "tier",
            "responses",
            "share",
            "bytes",
            "bytes share",
            "collapsed",
        ],
        &rows,
    );

    table(
        h,
        "Latency (ms)",
        &["", "count", "mean", "p50", "p90", "p99", "p99.9", "max"],
        &[
            latency_row("all", &r.latency.all),
            latency_row("edge hits", &r.latency.hit),
            latency_row("misses", &r.latency.miss),
        ],
    );

    let e = &r.errors;
    table(
        h,
        "Errors",
        &["kind", "count"],
        &[
            vec!["connect".into(), e.connect.to_string()],
            vec!["timeout".into(), e.timeout.to_string()],
            vec!["4xx".into(), e.status_4xx.to_string()],
            vec!["5xx".into(), e.status_5xx.to_string()],
            vec!["other".into(), e.other.to_string()],
            vec!["late (open loop)".into(), e.late.to_string()],
            vec!["dropped (open loop)".into(), e.dropped.to_string()],
            vec![
                "malformed Cache-Status".into(),
                e.malformed_cache_status.to_string(),
            ],
        ],
    );
}

/// What each origin's `/stats` counted (no table when no origin was read).
fn origins(h: &mut String, r: &Report) {
    if r.origins.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = r
        .origins
        .iter()
        .map(|o| match &o.counted {
            Some(s) => vec![
                host_of(&o.url),
                s.total.to_string(),
                s.products.to_string(),
                s.fragments_product.to_string(),
                s.fragments_recommendations.to_string(),
                s.images.to_string(),
                s.inventory.to_string(),
                s.orders.to_string(),
                bytes(s.bytes as f64),
            ],
            None => vec![host_of(&o.url), o.error.clone().unwrap_or_default()],
        })
        .collect();
    table(
        h,
        "Origins (counted by /stats during the run)",
        &[
            "origin",
            "total",
            "products",
            "product fragments",
            "recommendations",
            "images",
            "inventory",
            "orders",
            "bytes",
        ],
        &rows,
    );
}

fn ideal_note(h: &mut String, r: &Report) {
    let i = &r.ideal;
    let _ = writeln!(
        h,
        "<p class=\"note\">Ideal: the top-C bound with C = {} objects per edge{}: requests to the C most popular cacheable keys (ranked by {}) minus their first, compulsory, misses; {} distinct cacheable keys were requested. Inventory and orders are never cacheable.</p>",
        i.cache_objects,
        if i.cache_objects_defaulted {
            " (default: 10% of the distinct cacheable keys)"
        } else {
            ""
        },
        if i.ranking == "distribution" {
            "the Zipf distribution"
        } else {
            "observed frequency"
        },
        i.distinct_cacheable_keys
    );
}
