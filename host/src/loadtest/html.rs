//! The report as one self-contained HTML file: inline CSS and inline SVG
//! charts, no script and no external resource, so it opens with no network.

use std::fmt::Write;

use super::report::{Report, Tiers};
use super::table::{bytes, latency_row, pct, tier_rows};

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
    tables(&mut h, r);
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

/// Hit ratio per second per region (lines) with each region's ideal (dashed).
pub fn timeline_chart(r: &Report) -> String {
    let (w, hgt) = (900.0, 320.0);
    let (left, right, top, bottom) = (50.0, 190.0, 15.0, 35.0);
    let pw = w - left - right;
    let ph = hgt - top - bottom;
    let seconds = r
        .regions
        .values()
        .map(|g| g.timeline.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |t: f64| {
        left + pw
            * if seconds > 1 {
                t / (seconds - 1) as f64
            } else {
                0.5
            }
    };
    let y = |ratio: f64| top + ph * (1.0 - ratio.clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" id=\"hit-ratio-over-time\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" role=\"img\">\
         <title>Edge hit ratio per second, per region</title>"
    );
    axes(&mut s, left, top, pw, ph);
    for i in 0..=4 {
        let v = i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            left - 6.0,
            y(v) + 4.0,
            v * 100.0
        );
    }
    let ticks = seconds.min(10);
    for i in 0..ticks {
        let t = if ticks > 1 {
            (i * (seconds - 1)) as f64 / (ticks - 1) as f64
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}s</text>",
            x(t),
            top + ph + 18.0,
            t
        );
    }
    for (i, (name, g)) in r.regions.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<String> = g
            .timeline
            .iter()
            .filter(|p| p.responses > 0)
            // A last bucket covering under half a second is noise: leave it out.
            .filter(|p| g.timeline.len() == 1 || p.t_s as f64 + 0.5 <= r.throughput.elapsed_s)
            .map(|p| format!("{:.1},{:.1}", x(p.t_s as f64), y(p.hit_ratio)))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
                points.join(" "),
                esc(name)
            );
            if points.len() <= 60 {
                for p in &points {
                    let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(
                        s,
                        "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>"
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\" stroke-width=\"1\"><title>{} ideal {}</title></line>",
            left + pw,
            y(g.ideal_hit_ratio),
            y(g.ideal_hit_ratio),
            esc(name),
            pct(g.ideal_hit_ratio)
        );
        let ly = top + 14.0 + 36.0 * i as f64;
        let lx = left + pw + 12.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"note\">{} / ideal {}</text>",
            ly - 10.0,
            lx + 16.0,
            ly,
            esc(name),
            lx + 16.0,
            ly + 15.0,
            pct(g.hit_ratio),
            pct(g.ideal_hit_ratio)
        );
    }
    s.push_str("</svg>\n<p class=\"note\">Lines: edge hit ratio per 1 s bucket. Dashed: the ideal top-C bound of each region.</p>\n");
    s
}

/// Latency buckets: share of edge hits and of misses in each bucket.
pub fn latency_chart(r: &Report) -> String {
    let buckets = &r.latency.buckets;
    let (w, hgt) = (900.0, 300.0);
    let (left, right, top, bottom) = (50.0, 20.0, 30.0, 40.0);
    let pw = w - left - right;
    let ph = hgt - top - bottom;
    let hits: u64 = buckets.iter().map(|b| b.hit).sum();
    let misses: u64 = buckets.iter().map(|b| b.miss).sum();
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let peak = buckets
        .iter()
        .map(|b| share(b.hit, hits).max(share(b.miss, misses)))
        .fold(0.0, f64::max)
        .max(0.01);
    let y = |v: f64| top + ph * (1.0 - v / peak);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" id=\"latency-distribution\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" role=\"img\">\
         <title>Latency distribution, edge hits and misses</title>"
    );
    axes(&mut s, left, top, pw, ph);
    for i in 0..=4 {
        let v = peak * i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            left - 6.0,
            y(v) + 4.0,
            v * 100.0
        );
    }
    let n = buckets.len().max(1) as f64;
    let slot = pw / n;
    let bar = (slot * 0.4).min(40.0);
    let mut prev = 0.0;
    for (i, b) in buckets.iter().enumerate() {
        let x0 = left + slot * i as f64 + slot / 2.0 - bar;
        let label = match b.le_ms {
            Some(le) => format!("≤{}", fmt_ms(le)),
            None => format!(">{}", fmt_ms(prev)),
        };
        prev = b.le_ms.unwrap_or(prev);
        for (j, (count, of, color, what)) in [
            (b.hit, hits, HIT_COLOR, "edge hits"),
            (b.miss, misses, MISS_COLOR, "misses"),
        ]
        .into_iter()
        .enumerate()
        {
            let v = share(count, of);
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} ms: {count} {what} ({})</title></rect>",
                x0 + bar * j as f64,
                y(v),
                top + ph - y(v),
                esc(&label),
                pct(v)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            left + slot * i as f64 + slot / 2.0,
            top + ph + 16.0,
            esc(&label)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ms</text>\
         <rect x=\"{left}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{HIT_COLOR}\"/><text x=\"{:.1}\" y=\"18\">edge hits ({hits}, p50 {:.2} ms, p99 {:.2} ms)</text>\
         <rect x=\"{:.1}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{MISS_COLOR}\"/><text x=\"{:.1}\" y=\"18\">misses ({misses}, p50 {:.2} ms, p99 {:.2} ms)</text>",
        left + pw / 2.0,
        hgt - 6.0,
        left + 16.0,
        r.latency.hit.p50,
        r.latency.hit.p99,
        left + 330.0,
        left + 346.0,
        r.latency.miss.p50,
        r.latency.miss.p99
    );
    s.push_str("</svg>\n<p class=\"note\">Bars: share of edge hits (green) and of misses (red) in each latency bucket.</p>\n");
    s
}

/// Stacked bars: edge / shield / origin share per region.
pub fn tier_chart(r: &Report) -> String {
    let rows: Vec<(&str, &Tiers)> = r
        .regions
        .iter()
        .map(|(n, g)| (n.as_str(), &g.tiers))
        .chain([("all", &r.tiers)])
        .collect();
    let (w, left, row_h) = (900.0, 90.0, 28.0);
    let pw = w - left - 20.0;
    let hgt = 40.0 + row_h * rows.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" id=\"tiers\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" role=\"img\">\
         <title>Share of responses per tier and region</title>"
    );
    for (i, (name, t)) in rows.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + 15.0,
            esc(name)
        );
        let mut x = left;
        for (tier, share, color) in [
            ("edge", t.edge.share, HIT_COLOR),
            ("shield", t.shield.share, SHIELD_COLOR),
            ("origin", t.origin.share, MISS_COLOR),
        ] {
            let width = pw * share;
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"20\" fill=\"{color}\"><title>{} {tier}: {}</title></rect>",
                esc(name),
                pct(share)
            );
            x += width;
        }
    }
    let ly = hgt - 12.0;
    for (i, (label, color)) in [
        ("edge", HIT_COLOR),
        ("shield", SHIELD_COLOR),
        ("origin", MISS_COLOR),
    ]
    .into_iter()
    .enumerate()
    {
        let lx = left + 90.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{ly:.1}\">{label}</text>",
            ly - 10.0,
            lx + 16.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}s", v / 1000.0)
    } else {
        format!("{v}")
    }
}

fn axes(s: &mut String, left: f64, top: f64, pw: f64, ph: f64) {
    for i in 0..=4 {
        let y = top + ph * i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>",
            left + pw
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"#888\"/>\
         <line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>",
        top + ph,
        left + pw,
        top + ph,
        top + ph
    );
}

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

fn tables(h: &mut String, r: &Report) {
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

    if !r.origins.is_empty() {
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

#[cfg(test)]
mod tests;
