//! Unit tests of `html`.

use super::*;

#[test]
fn self_contained_with_charts() {
    let mut r = crate::report::tests::sample_report();
    r.regions.get_mut("us-east").expect("region").url = "http://127.0.0.1:1/<x>".into();
    let html = to_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    assert!(html.contains("id=\"hit-ratio-over-time\""));
    assert!(html.contains("id=\"latency-distribution\""));
    assert!(html.contains("<polyline"));
    for bad in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<script",
    ] {
        assert!(!html.contains(bad), "found {bad:?}");
    }
    assert!(html.contains("127.0.0.1:1/&lt;x&gt;"));
    assert_eq!(
        html.matches("<table>").count(),
        html.matches("</table>").count()
    );
}

#[test]
fn escapes() {
    assert_eq!(
        esc("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}

#[test]
fn empty_report_still_renders() {
    let mut r = crate::report::tests::sample_report();
    for g in r.regions.values_mut() {
        g.timeline.clear();
    }
    r.latency.buckets.clear();
    let html = to_html(&r);
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("NaN"));
}
