//! Brink personalisation plugin: gives each request a segment and makes the
//! origin render, and the cache store, one variant per segment.
//!
//! The segment is the first of: header `segment_header` (default
//! `x-user-tier`, which the auth plugin sets from a claim), cookie
//! `segment_cookie` (default `segment`), `region-<client region>`,
//! `default_segment` (default `anonymous`). Each candidate is sanitised to
//! `[a-z0-9-]{1,32}` (lower-cased, other characters become `-`, runs of `-`
//! collapse, `-` trimmed at both ends, cut at 32); one that ends up empty is
//! skipped.
//!
//! Only requests whose path starts with one of `prefixes` (comma-separated or
//! a TOML array; default `/fragments/recommendations`) are personalised:
//!
//! - `on_request` sets the cache variant to the segment, sets header
//!   `x-segment: <segment>`, and sets query parameter `segment=<segment>`
//!   (replacing any the client sent, keeping the other parameters);
//! - `on_response` sets header `x-brink-segment: <segment>` and, when the host
//!   passes the body and it contains `{{segment}}`, returns the body with every
//!   `{{segment}}` replaced. The segment is read back from the `x-segment`
//!   request header when present, else derived again (with the edge node's
//!   region standing in for the client's).

use std::rc::Rc;

use brink_plugin_sdk::config::Memo;
use brink_plugin_sdk::{
    Action, Client, Edits, Plugin, Request, Response, ResponseEdits, config, host,
};

/// The plugin.
pub struct Personalize;

/// The placeholder replaced in response bodies.
pub const PLACEHOLDER: &str = "{{segment}}";

/// Sanitises a segment candidate to `[a-z0-9-]{1,32}`; `None` if nothing is left.
pub fn sanitize(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(32));
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
        if out.len() == 32 {
            break;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// The plugin's config, parsed once per instance.
struct Settings {
    segment_header: String,
    segment_cookie: String,
    /// `default_segment`, sanitised.
    default_segment: Option<String>,
    prefixes: Vec<String>,
}

fn load_settings() -> Settings {
    Settings {
        segment_header: config::get("segment_header").unwrap_or_else(|| "x-user-tier".to_owned()),
        segment_cookie: config::get("segment_cookie").unwrap_or_else(|| "segment".to_owned()),
        default_segment: config::get("default_segment").and_then(|d| sanitize(&d)),
        prefixes: config::get_list("prefixes")
            .unwrap_or_else(|| vec!["/fragments/recommendations".to_owned()]),
    }
}

thread_local! {
    static SETTINGS: Memo<Settings> = const { Memo::new() };
}

fn settings() -> Rc<Settings> {
    SETTINGS.with(|m| m.get(load_settings))
}

/// Derives the segment of a request (see the crate docs for the order).
pub fn segment(req: &Request, region: &str) -> String {
    let settings = settings();
    req.header(&settings.segment_header)
        .and_then(sanitize)
        .or_else(|| req.cookie(&settings.segment_cookie).and_then(sanitize))
        .or_else(|| sanitize(&format!("region-{region}")).filter(|_| !region.trim().is_empty()))
        .or_else(|| settings.default_segment.clone())
        .unwrap_or_else(|| "anonymous".to_owned())
}

fn personalised(path: &str) -> bool {
    settings()
        .prefixes
        .iter()
        .any(|p| path.starts_with(p.as_str()))
}

/// The query with every `segment` parameter replaced by `segment=<segment>`
/// (appended at the end); other parameters are kept as they were sent.
pub fn with_segment_param(query: Option<&str>, segment: &str) -> String {
    let query = query.unwrap_or("");
    let mut out = String::with_capacity(query.len() + segment.len() + 9);
    for p in query.split('&').filter(|p| {
        !p.is_empty()
            && brink_plugin_sdk::percent_decode(p.split('=').next().unwrap_or("")) != "segment"
    }) {
        out.push_str(p);
        out.push('&');
    }
    out.push_str("segment=");
    out.push_str(segment);
    out
}

impl Plugin for Personalize {
    fn on_request(req: &Request, client: &Client) -> Action {
        if !personalised(req.path()) {
            return Action::default();
        }
        let seg = segment(req, client.region());
        Action::Continue(
            Edits::new()
                .set_header("x-segment", seg.as_str())
                .query(with_segment_param(req.query(), &seg))
                .cache_variant(seg),
        )
    }

    fn on_response(req: &Request, _resp: &Response, body: Option<&[u8]>) -> ResponseEdits {
        if !personalised(req.path()) {
            return ResponseEdits::default();
        }
        let seg = match req.header("x-segment").and_then(sanitize) {
            Some(s) => s,
            None => segment(req, &host::node_region()),
        };
        let mut edits = ResponseEdits::new().set_header("x-brink-segment", seg.as_str());
        if let Some(body) = body
            && let Some(replaced) = substitute(body, &seg)
        {
            edits = edits.body(replaced);
        }
        edits
    }
}

/// The body with every `{{segment}}` replaced, or `None` when it has none.
pub fn substitute(body: &[u8], segment: &str) -> Option<Vec<u8>> {
    let needle = PLACEHOLDER.as_bytes();
    let first = body.windows(needle.len()).position(|w| w == needle)?;
    let mut out = Vec::with_capacity(body.len() + segment.len());
    out.extend_from_slice(&body[..first]);
    let mut rest = &body[first..];
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(segment.as_bytes());
            rest = &rest[needle.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    Some(out)
}

brink_plugin_sdk::export_plugin!(Personalize);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use brink_plugin_sdk::testing;

    const PATH: &str = "/fragments/recommendations";

    #[test]
    fn derivation_order() {
        testing::reset();
        let both = Request::new("GET", PATH)
            .with_header("x-user-tier", "Gold")
            .with_header("cookie", "segment=sports");
        assert_eq!(segment(&both, "eu-west"), "gold");
        let cookie = Request::new("GET", PATH).with_header("cookie", "segment=sports");
        assert_eq!(segment(&cookie, "eu-west"), "sports");
        let plain = Request::new("GET", PATH);
        assert_eq!(segment(&plain, "eu-west"), "region-eu-west");
        assert_eq!(segment(&plain, ""), "anonymous");
        testing::set_config("default_segment", "Guest");
        assert_eq!(segment(&plain, " "), "guest");
        // Configurable names; an unusable header value falls through.
        testing::with_config(&[("segment_header", "x-seg"), ("segment_cookie", "s")]);
        let custom = Request::new("GET", PATH)
            .with_header("x-seg", "!!!")
            .with_header("cookie", "s=VIP; segment=x");
        assert_eq!(segment(&custom, "eu"), "vip");
    }

    #[test]
    fn sanitisation() {
        assert_eq!(sanitize("Gold Tier_2").as_deref(), Some("gold-tier-2"));
        assert_eq!(sanitize("  --a..b--  ").as_deref(), Some("a-b"));
        assert_eq!(sanitize("<script>").as_deref(), Some("script"));
        assert_eq!(sanitize("ünï").as_deref(), Some("n"));
        assert_eq!(sanitize("!!!"), None);
        assert_eq!(sanitize(""), None);
        let long = sanitize(&"ab".repeat(40)).unwrap();
        assert_eq!(long.len(), 32);
        assert_eq!(
            sanitize(&format!("{}-x", "a".repeat(31))).unwrap(),
            "a".repeat(31)
        );
    }

    #[test]
    fn on_request_sets_variant_header_and_query() {
        testing::reset();
        let req = Request::new(
            "GET",
            "/fragments/recommendations/home?segment=evil&x=1&Segment=y&segment",
        )
        .with_header("x-user-tier", "gold");
        let action = Personalize::on_request(&req, &Client::new("192.0.2.1", "eu-west"));
        let edits = action.edits().unwrap();
        assert_eq!(edits.cache_variant.as_deref(), Some("gold"));
        let mut out = req.clone();
        out.apply(edits);
        assert_eq!(out.header("x-segment"), Some("gold"));
        assert_eq!(out.query(), Some("x=1&Segment=y&segment=gold"));
        assert_eq!(out.query_param("segment").as_deref(), Some("gold"));

        let other = Request::new("GET", "/products/1").with_header("x-user-tier", "gold");
        assert_eq!(
            Personalize::on_request(&other, &Client::default()),
            Action::default()
        );

        testing::set_config("prefixes", r#"["/a/", "/b/"]"#);
        let b = Request::new("GET", "/b/x");
        let edits = Personalize::on_request(&b, &Client::new("", "us-east"));
        assert_eq!(
            edits.edits().unwrap().query.as_deref(),
            Some("segment=region-us-east")
        );
        assert_eq!(
            Personalize::on_request(&Request::new("GET", PATH), &Client::default()),
            Action::default()
        );
    }

    #[test]
    fn on_response_labels_and_substitutes() {
        testing::reset();
        let req = Request::new("GET", PATH).with_header("x-segment", "gold");
        let edits = Personalize::on_response(
            &req,
            &Response::new(200),
            Some(b"<p>{{segment}} picks: {{segment}}{{</p>"),
        );
        assert_eq!(
            edits.body.as_deref(),
            Some(&b"<p>gold picks: gold{{</p>"[..])
        );
        let mut h = Vec::new();
        edits.apply_headers(&mut h);
        assert_eq!(h, [("x-brink-segment".to_owned(), "gold".to_owned())]);

        let no_placeholder = Personalize::on_response(&req, &Response::new(200), Some(b"plain"));
        assert_eq!(no_placeholder.body, None);
        let no_body = Personalize::on_response(&req, &Response::new(200), None);
        assert_eq!(no_body.body, None);

        testing::set_node_region("ap-south");
        let fresh = Personalize::on_response(
            &Request::new("GET", PATH),
            &Response::new(200),
            Some(b"{{segment}}"),
        );
        assert_eq!(fresh.body.as_deref(), Some(&b"region-ap-south"[..]));
        let elsewhere = Personalize::on_response(
            &Request::new("GET", "/x"),
            &Response::new(200),
            Some(b"{{segment}}"),
        );
        assert_eq!(elsewhere, ResponseEdits::default());
    }
}
