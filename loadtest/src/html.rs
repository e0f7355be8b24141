//! The report as one self-contained HTML file: inline CSS and inline SVG
//! charts, no script and no external resource, so it opens with no network.
//!
//! The page is put together here; the charts are `html/charts.rs` and the
//! tables `html/tables.rs`.

mod charts;
mod tables;

use std::fmt::Write;

pub use charts::{latency_chart, tier_chart, timeline_chart};

use super::report::Report;
use super::table::{bytes, pct};

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];
const HIT_COLOR: &str = "#2ca02c";
const MISS_COLOR: &str = "#d62728";
const SHIELD_COLOR: &str = "#ff7f0e";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL shown as text without its scheme (the page names no fetchable address).
fn host_of(url: &str) -> String {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .to_string()
}

/// The report as an HTML document.
pub fn to_html(r: &Report) -> String {
    let mut h = String::new();
    let title = format!(
        "brink loadtest: {} requests, hit ratio {} (ideal {})",
        r.requests,
        pct(r.hit_ratio),
        pct(r.ideal_hit_ratio)
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        CSS,
        esc(&title)
    );
    summary(&mut h, r);
    h.push_str("<h2>Hit ratio over time</h2>\n");
    h.push_str(&timeline_chart(r));
    h.push_str("<h2>Latency distribution</h2>\n");
    h.push_str(&latency_chart(r));
    h.push_str("<h2>Tiers per region</h2>\n");
    h.push_str(&tier_chart(r));
    tables::tables(&mut h, r);
    h.push_str("</body>\n</html>\n");
    h
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}\
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em}\
.card b{display:block;font-size:1.3em}svg{max-width:100%;height:auto;background:#fff}\
svg text{font-family:inherit;font-size:12px;fill:#333}.note{color:#666;font-size:.85em}";

fn summary(h: &mut String, r: &Report) {
    let run = &r.run;
    let workload = if run.mode == "trace" {
        format!(
            "replay of {} ({} entries)",
            run.trace.as_deref().unwrap_or("?"),
            run.trace_entries.unwrap_or(0)
        )
    } else {
        format!(
            "Zipf s = {} over {} products",
            run.zipf_s.unwrap_or(0.0),
            run.catalog.unwrap_or(0)
        )
    };
    let load = match (run.concurrency, run.rate) {
        (_, Some(rate)) => format!("open loop at {rate} req/s"),
        (Some(c), None) => format!("closed loop with {c} users"),
        _ => run.load.clone(),
    };
    let _ = writeln!(
        h,
        "<p>{}, {}, {} region(s), seed {}, {:.2} s.</p>",
        esc(&workload),
        esc(&load),
        run.targets.len(),
        run.seed,
        r.throughput.elapsed_s
    );
    h.push_str("<div class=\"cards\">\n");
    let cards = [
        ("hit ratio", pct(r.hit_ratio)),
        ("ideal (top-C)", pct(r.ideal_hit_ratio)),
        ("shield hits", pct(r.shield_hit_ratio)),
        ("origin offload (requests)", pct(r.offload.requests)),
        ("origin offload (bytes)", pct(r.offload.bytes)),
        (
            "throughput",
            format!("{:.0} req/s", r.throughput.requests_per_s),
        ),
        (
            "bandwidth",
            format!("{}/s", bytes(r.throughput.bytes_per_s)),
        ),
        ("p99 latency", format!("{:.2} ms", r.latency.all.p99)),
    ];
    for (label, value) in cards {
        let _ = writeln!(
            h,
            "<div class=\"card\">{}<b>{}</b></div>",
            esc(label),
            esc(&value)
        );
    }
    h.push_str("</div>\n");
}

#[cfg(test)]
mod tests;
