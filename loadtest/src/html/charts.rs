//! The report page's three inline SVG charts: hit ratio over time, the
//! latency distribution and the tiers per region.
//!
//! Apart from `html.rs` (the page and its tables) because each chart is
//! mostly geometry; a chart's frame (plot area and scales) is a small
//! struct so its parts (axis labels, one region's line, the bars of one
//! bucket) are functions of their own.

use std::fmt::Write;

use super::{HIT_COLOR, MISS_COLOR, PALETTE, SHIELD_COLOR, esc};
use crate::report::{LatencyBucket, RegionReport, Report, Tiers};
use crate::table::pct;

/// The plot area of the hit-ratio chart and its scales.
struct Timeline {
    left: f64,
    top: f64,
    /// Plot width.
    pw: f64,
    /// Plot height.
    ph: f64,
    /// Seconds on the x axis (at least 1).
    seconds: usize,
}

impl Timeline {
    fn x(&self, t: f64) -> f64 {
        self.left
            + self.pw
                * if self.seconds > 1 {
                    t / (self.seconds - 1) as f64
                } else {
                    0.5
                }
    }

    fn y(&self, ratio: f64) -> f64 {
        self.top + self.ph * (1.0 - ratio.clamp(0.0, 1.0))
    }

    /// 0% to 100% on the left, seconds below.
    fn labels(&self, s: &mut String) {
        for i in 0..=4 {
            let v = i as f64 / 4.0;
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
                self.left - 6.0,
                self.y(v) + 4.0,
                v * 100.0
            );
        }
        let seconds = self.seconds;
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
                self.x(t),
                self.top + self.ph + 18.0,
                t
            );
        }
    }

    /// Region `i`'s line (with dots when there are few points) and its
    /// ideal as a dashed line.
    fn series(&self, s: &mut String, i: usize, name: &str, g: &RegionReport, elapsed_s: f64) {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<String> = g
            .timeline
            .iter()
            .filter(|p| p.responses > 0)
            // A last bucket covering under half a second is noise: leave it out.
            .filter(|p| g.timeline.len() == 1 || p.t_s as f64 + 0.5 <= elapsed_s)
            .map(|p| format!("{:.1},{:.1}", self.x(p.t_s as f64), self.y(p.hit_ratio)))
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
        let left = self.left;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\" stroke-width=\"1\"><title>{} ideal {}</title></line>",
            left + self.pw,
            self.y(g.ideal_hit_ratio),
            self.y(g.ideal_hit_ratio),
            esc(name),
            pct(g.ideal_hit_ratio)
        );
    }

    /// Region `i`'s entry in the legend right of the plot.
    fn legend(&self, s: &mut String, i: usize, name: &str, g: &RegionReport) {
        let color = PALETTE[i % PALETTE.len()];
        let ly = self.top + 14.0 + 36.0 * i as f64;
        let lx = self.left + self.pw + 12.0;
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
    let frame = Timeline {
        left,
        top,
        pw,
        ph,
        seconds,
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" id=\"hit-ratio-over-time\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" role=\"img\">\
         <title>Edge hit ratio per second, per region</title>"
    );
    axes(&mut s, left, top, pw, ph);
    frame.labels(&mut s);
    for (i, (name, g)) in r.regions.iter().enumerate() {
        frame.series(&mut s, i, name, g, r.throughput.elapsed_s);
        frame.legend(&mut s, i, name, g);
    }
    s.push_str("</svg>\n<p class=\"note\">Lines: edge hit ratio per 1 s bucket. Dashed: the ideal top-C bound of each region.</p>\n");
    s
}

/// `n / of`, 0 when `of` is 0.
fn share(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// The plot area of the latency chart and its scale.
struct Bars {
    left: f64,
    top: f64,
    /// Plot width.
    pw: f64,
    /// Plot height.
    ph: f64,
    /// The largest share in any bucket (the top of the y axis).
    peak: f64,
    /// Edge hits, all buckets.
    hits: u64,
    /// Misses, all buckets.
    misses: u64,
}

impl Bars {
    fn y(&self, v: f64) -> f64 {
        self.top + self.ph * (1.0 - v / self.peak)
    }

    /// 0% to the peak share on the left.
    fn labels(&self, s: &mut String) {
        for i in 0..=4 {
            let v = self.peak * i as f64 / 4.0;
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
                self.left - 6.0,
                self.y(v) + 4.0,
                v * 100.0
            );
        }
    }

    /// Each bucket's two bars (edge hits, misses) and its label below.
    fn bars(&self, s: &mut String, buckets: &[LatencyBucket]) {
        let (left, top, ph) = (self.left, self.top, self.ph);
        let n = buckets.len().max(1) as f64;
        let slot = self.pw / n;
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
                (b.hit, self.hits, HIT_COLOR, "edge hits"),
                (b.miss, self.misses, MISS_COLOR, "misses"),
            ]
            .into_iter()
            .enumerate()
            {
                let v = share(count, of);
                let _ = writeln!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} ms: {count} {what} ({})</title></rect>",
                    x0 + bar * j as f64,
                    self.y(v),
                    top + ph - self.y(v),
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
    }
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
    let peak = buckets
        .iter()
        .map(|b| share(b.hit, hits).max(share(b.miss, misses)))
        .fold(0.0, f64::max)
        .max(0.01);
    let frame = Bars {
        left,
        top,
        pw,
        ph,
        peak,
        hits,
        misses,
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" id=\"latency-distribution\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" role=\"img\">\
         <title>Latency distribution, edge hits and misses</title>"
    );
    axes(&mut s, left, top, pw, ph);
    frame.labels(&mut s);
    frame.bars(&mut s, buckets);
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
