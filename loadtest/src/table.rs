//! The report as plain-text tables for the terminal, a function per
//! section; the cell helpers (`pct`, `bytes`, `tier_rows`, `latency_row`)
//! are shared with the HTML page so both say the same numbers.

use std::fmt::Write;

use super::report::{Errors, Percentiles, Report, Tiers};

/// A percentage with one decimal.
pub fn pct(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

/// Bytes in B, KB, MB or GB (powers of 1000).
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Renders rows as columns: the first left-aligned, the others right-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::new();
        for (i, cell) in cells.enumerate().take(cols) {
            if i == 0 {
                parts.push(format!("{cell:<w$}", w = width[0]));
            } else {
                parts.push(format!("{cell:>w$}", w = width[i]));
            }
        }
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

fn error_total(e: &Errors) -> u64 {
    e.connect + e.timeout + e.status_4xx + e.status_5xx + e.other
}

fn tier_cells(t: &Tiers) -> [String; 3] {
    [pct(t.edge.share), pct(t.shield.share), pct(t.origin.share)]
}

/// One latency table row: count, mean and percentiles in ms.
pub fn latency_row(name: &str, p: &Percentiles) -> Vec<String> {
    let ms = |v: f64| format!("{v:.2}");
    vec![
        name.to_string(),
        p.count.to_string(),
        ms(p.mean),
        ms(p.p50),
        ms(p.p90),
        ms(p.p99),
        ms(p.p999),
        ms(p.max),
    ]
}

/// The tier table's rows: tier, responses, share, bytes, bytes share, collapsed.
pub fn tier_rows(r: &Report) -> Vec<Vec<String>> {
    [
        ("edge", &r.tiers.edge),
        ("shield", &r.tiers.shield),
        ("origin", &r.tiers.origin),
    ]
    .iter()
    .map(|(name, t)| {
        vec![
            (*name).to_string(),
            t.requests.to_string(),
            pct(t.share),
            bytes(t.bytes as f64),
            pct(t.bytes_share),
            t.collapsed.to_string(),
        ]
    })
    .collect()
}

/// The whole report as text.
pub fn to_text(r: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, r);
    out.push_str(&region_table(r));
    out.push('\n');
    out.push_str(&kind_table(r));
    out.push('\n');
    tier_and_latency_tables(&mut out, r);
    footer(&mut out, r);
    out
}

/// What ran: workload, load, regions, seed; then counts and rates.
fn heading(out: &mut String, r: &Report) {
    let run = &r.run;
    let workload = match run.mode.as_str() {
        "trace" => format!(
            "trace {} ({} entries)",
            run.trace.as_deref().unwrap_or("?"),
            run.trace_entries.unwrap_or(0)
        ),
        _ => format!(
            "zipf s={} over {} products",
            run.zipf_s.unwrap_or(0.0),
            run.catalog.unwrap_or(0)
        ),
    };
    let load = match (run.concurrency, run.rate) {
        (_, Some(rate)) => format!("open loop {rate} req/s"),
        (Some(c), None) => format!("closed loop, {c} users"),
        _ => run.load.clone(),
    };
    let _ = writeln!(
        out,
        "brink loadtest: {workload}, {load}, {} regions, seed {}",
        run.targets.len(),
        run.seed
    );
    let _ = writeln!(
        out,
        "{} requests, {} responses in {:.2} s: {:.0} req/s, {}/s\n",
        r.requests,
        r.responses,
        r.throughput.elapsed_s,
        r.throughput.requests_per_s,
        bytes(r.throughput.bytes_per_s)
    );
}

/// One row per region and a last `all` row.
fn region_table(r: &Report) -> String {
    let mut rows: Vec<Vec<String>> = r
        .regions
        .iter()
        .map(|(name, g)| {
            let [edge, shield, origin] = tier_cells(&g.tiers);
            vec![
                name.clone(),
                g.requests.to_string(),
                edge,
                pct(g.ideal_hit_ratio),
                shield,
                origin,
                pct(g.offload.bytes),
                format!("{:.2}", g.latency.p50),
                format!("{:.2}", g.latency.p99),
                error_total(&g.errors).to_string(),
            ]
        })
        .collect();
    let [edge, shield, origin] = tier_cells(&r.tiers);
    rows.push(vec![
        "all".into(),
        r.requests.to_string(),
        edge,
        pct(r.ideal_hit_ratio),
        shield,
        origin,
        pct(r.offload.bytes),
        format!("{:.2}", r.latency.all.p50),
        format!("{:.2}", r.latency.all.p99),
        error_total(&r.errors).to_string(),
    ]);
    render(
        &[
            "region",
            "requests",
            "hit ratio",
            "ideal",
            "shield",
            "origin",
            "offload B",
            "p50 ms",
            "p99 ms",
            "errors",
        ],
        &rows,
    )
}

/// One row per request kind.
fn kind_table(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .kinds
        .iter()
        .map(|(name, k)| {
            let [edge, shield, origin] = tier_cells(&k.tiers);
            vec![
                name.clone(),
                k.requests.to_string(),
                if k.cacheable { "yes" } else { "no" }.into(),
                edge,
                shield,
                origin,
                error_total(&k.errors).to_string(),
            ]
        })
        .collect();
    render(
        &[
            "kind",
            "requests",
            "cacheable",
            "hit ratio",
            "shield",
            "origin",
            "errors",
        ],
        &rows,
    )
}

/// The tier table with the offload line, then the latency table.
fn tier_and_latency_tables(out: &mut String, r: &Report) {
    let rows = tier_rows(r);
    out.push_str(&render(
        &[
            "tier",
            "responses",
            "share",
            "bytes",
            "bytes share",
            "collapsed",
        ],
        &rows,
    ));
    let _ = writeln!(
        out,
        "origin offload: {} of requests, {} of bytes\n",
        pct(r.offload.requests),
        pct(r.offload.bytes)
    );

    out.push_str(&render(
        &[
            "latency ms",
            "count",
            "mean",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
        ],
        &[
            latency_row("all", &r.latency.all),
            latency_row("edge hit", &r.latency.hit),
            latency_row("miss", &r.latency.miss),
        ],
    ));
    out.push('\n');
}

/// Errors, how the ideal bound was computed, and what each origin counted.
fn footer(out: &mut String, r: &Report) {
    let e = &r.errors;
    let _ = writeln!(
        out,
        "errors: connect {}, timeout {}, 4xx {}, 5xx {}, other {}, late {}, dropped {}, malformed Cache-Status {}",
        e.connect,
        e.timeout,
        e.status_4xx,
        e.status_5xx,
        e.other,
        e.late,
        e.dropped,
        e.malformed_cache_status
    );
    let i = &r.ideal;
    let _ = writeln!(
        out,
        "ideal: top-C bound, C = {} objects per edge{}, {} distinct cacheable keys, keys ranked by {}",
        i.cache_objects,
        if i.cache_objects_defaulted {
            " (default: 10% of the distinct cacheable keys)"
        } else {
            ""
        },
        i.distinct_cacheable_keys,
        if i.ranking == "distribution" {
            "the Zipf distribution"
        } else {
            "observed frequency"
        }
    );
    for o in &r.origins {
        match (&o.counted, &o.error) {
            (Some(s), _) => {
                let _ = writeln!(
                    out,
                    "origin {}: {} requests (products {}, product fragments {}, recommendations {}, images {}, inventory {}, orders {}), {}",
                    o.url,
                    s.total,
                    s.products,
                    s.fragments_product,
                    s.fragments_recommendations,
                    s.images,
                    s.inventory,
                    s.orders,
                    bytes(s.bytes as f64)
                );
            }
            (None, err) => {
                let _ = writeln!(
                    out,
                    "origin {}: stats unavailable ({})",
                    o.url,
                    err.as_deref().unwrap_or("unknown")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_section() {
        let r = crate::report::tests::sample_report();
        let text = to_text(&r);
        for needle in [
            "us-east",
            "eu-west",
            "images",
            "edge hit",
            "ideal",
            "origin offload",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(1500.0), "1.5 KB");
        assert_eq!(bytes(2_500_000.0), "2.5 MB");
        assert_eq!(pct(0.5), "50.0%");
    }
}
