//! The checks behind Brink's fuzz targets, one function per target. Each
//! takes the raw fuzz input, runs the parser on it and panics when an
//! invariant does not hold; the `fuzz_targets/` binaries only call them.
//! Being plain functions, they also run on stable without cargo-fuzz: this
//! crate's tests feed them the seed corpora (`seeds/`) and a few thousand
//! generated inputs (`cargo test --manifest-path fuzz/Cargo.toml`).

use std::borrow::Cow;
use std::str::FromStr;

use brink::cache::directives::{self, CacheControl, DELTA_SECONDS_MAX};
use brink::normalize::{
    Authority, EscapedSlashes, PathError, PathRules, normalize_path, parse_authority,
};
use http::header::CACHE_CONTROL;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The four rule sets: `merge_slashes` off / on × `Reject` / `Keep`.
pub const ALL_RULES: [PathRules; 4] = [
    PathRules {
        merge_slashes: false,
        escaped_slashes: EscapedSlashes::Reject,
    },
    PathRules {
        merge_slashes: true,
        escaped_slashes: EscapedSlashes::Reject,
    },
    PathRules {
        merge_slashes: false,
        escaped_slashes: EscapedSlashes::Keep,
    },
    PathRules {
        merge_slashes: true,
        escaped_slashes: EscapedSlashes::Keep,
    },
];

/// Fuzz target `normalize_path`: the input (lossily made UTF-8) is
/// normalised under every rule set of [`ALL_RULES`]; see
/// [`check_normalized`] for what an accepted path must satisfy. Across rule
/// sets: merging slashes accepts and refuses the same paths, for the same
/// reason; what `Reject` accepts, `Keep` accepts and gives the same result.
pub fn check_normalize_path(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    let results: Vec<Result<Cow<'_, str>, PathError>> = ALL_RULES
        .iter()
        .map(|&rules| {
            let out = normalize_path(&path, rules);
            if let Ok(out) = &out {
                check_normalized(&path, out, rules);
            }
            out
        })
        .collect();
    let [reject, reject_merged, keep, keep_merged] = &results[..] else {
        unreachable!("four rule sets")
    };
    // Merging slashes changes the result, never whether a path is accepted.
    assert_eq!(
        reject.as_ref().err(),
        reject_merged.as_ref().err(),
        "{path:?}"
    );
    assert_eq!(keep.as_ref().err(), keep_merged.as_ref().err(), "{path:?}");
    // Keep is Reject with encoded slashes allowed.
    for (strict, lenient) in [(reject, keep), (reject_merged, keep_merged)] {
        match strict {
            Ok(out) => assert_eq!(lenient.as_ref().ok(), Some(out), "{path:?}"),
            Err(PathError::EncodedSlash) => {}
            Err(e) => assert_eq!(lenient.as_ref().err(), Some(e), "{path:?}"),
        }
    }
}

/// What `out`, the normalised form of `input` under `rules`, must be: it
/// starts with `/`; no segment is `.` or `..`; no control byte; every `%`
/// is followed by two upper-case hex digits; no `%2F` / `%5C` under
/// `Reject`, no `//` when slashes are merged; normalising it again gives it
/// back, borrowed (a fixed point); and when `input` is a valid URI path
/// (`http::uri::PathAndQuery` takes it whole), so is `out`.
pub fn check_normalized(input: &str, out: &str, rules: PathRules) {
    let ctx = || format!("{input:?} -> {out:?} under {rules:?}");
    assert!(out.starts_with('/'), "not absolute: {}", ctx());
    assert!(
        !out.split('/').skip(1).any(|s| s == "." || s == ".."),
        "dot segment left: {}",
        ctx()
    );
    assert!(
        !out.bytes().any(|b| b < 0x20 || b == 0x7f),
        "control byte: {}",
        ctx()
    );
    let b = out.as_bytes();
    for (i, _) in out.match_indices('%') {
        let upper_hex = |j: usize| {
            b.get(j)
                .is_some_and(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
        };
        assert!(
            upper_hex(i + 1) && upper_hex(i + 2),
            "bad escape: {}",
            ctx()
        );
    }
    assert!(!out.contains('\\'), "backslash: {}", ctx());
    if rules.escaped_slashes == EscapedSlashes::Reject {
        assert!(
            !out.contains("%2F") && !out.contains("%5C"),
            "encoded slash under Reject: {}",
            ctx()
        );
    }
    if rules.merge_slashes {
        assert!(!out.contains("//"), "'//' left while merging: {}", ctx());
    }
    assert!(!out.starts_with("//"), "leading '//': {}", ctx());
    match normalize_path(out, rules) {
        Ok(Cow::Borrowed(again)) => assert_eq!(again, out, "not a fixed point: {}", ctx()),
        Ok(Cow::Owned(again)) => {
            panic!("not a fixed point: {} -> {again:?}", ctx())
        }
        Err(e) => panic!("output refused ({e:?}): {}", ctx()),
    }
    if is_uri_path(input) {
        assert!(is_uri_path(out), "not a valid URI path: {}", ctx());
    }
}

/// Whether `http` reads `s` whole as a path: no query, no fragment, no byte
/// it refuses.
pub fn is_uri_path(s: &str) -> bool {
    PathAndQuery::from_str(s).is_ok_and(|pq| pq.path() == s && pq.query().is_none())
}

/// Fuzz target `parse_authority`: the input is parsed with default ports
/// 80 and 443; see [`check_authority`]. Upper- or lower-casing the input
/// never changes the result.
pub fn check_parse_authority(data: &[u8]) {
    let mut hosts = Vec::new();
    for default_port in [80, 443] {
        let parsed = parse_authority(data, default_port);
        if let Ok(a) = &parsed {
            check_authority(data, a, default_port);
            hosts.push(a.host.clone());
        }
        for cased in [data.to_ascii_lowercase(), data.to_ascii_uppercase()] {
            assert_eq!(
                parse_authority(&cased, default_port).ok(),
                parsed.as_ref().ok().cloned(),
                "{:?} vs {:?}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&cased)
            );
        }
    }
    // The default port decides the port only, never the host.
    if let [a, b] = &hosts[..] {
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(data));
    }
}

/// What an accepted authority must be: a non-empty lower-case host without
/// `@`, space, `%` or a trailing dot; no port 0 and no port equal to the
/// default; `text()` parses back to the same `Authority`, and `http` takes
/// it as an authority and as a header value.
pub fn check_authority(input: &[u8], a: &Authority, default_port: u16) {
    let ctx = || {
        format!(
            "{:?} -> {a:?} (default {default_port})",
            String::from_utf8_lossy(input)
        )
    };
    assert!(!a.host.is_empty(), "empty host: {}", ctx());
    assert!(
        !a.host.bytes().any(|b| b.is_ascii_uppercase()),
        "host not lower case: {}",
        ctx()
    );
    assert!(
        !a.host.contains(['@', ' ', '%']),
        "'@', ' ' or '%' in host: {}",
        ctx()
    );
    assert!(!a.host.ends_with('.'), "trailing dot: {}", ctx());
    assert!(
        a.port != Some(default_port) && a.port != Some(0),
        "port: {}",
        ctx()
    );
    let text = a.text();
    assert_eq!(
        parse_authority(text.as_bytes(), default_port).as_ref(),
        Ok(a),
        "text() {text:?} does not parse back: {}",
        ctx()
    );
    assert!(
        http::uri::Authority::from_str(&text).is_ok(),
        "http refuses {text:?}: {}",
        ctx()
    );
    assert!(
        HeaderValue::from_str(&text).is_ok(),
        "not a header value {text:?}: {}",
        ctx()
    );
}

/// Fuzz target `cache_control`: the input, split at `\n` into field lines
/// (lines `http` refuses as header values are dropped), is parsed as
/// `Cache-Control`, `CDN-Cache-Control` and `Surrogate-Control`; see
/// [`check_directives`] for what each result must satisfy.
pub fn check_cache_control(data: &[u8]) {
    let lines: Vec<HeaderValue> = data
        .split(|&b| b == b'\n')
        .filter_map(|l| HeaderValue::from_bytes(l).ok())
        .collect();
    let input = || String::from_utf8_lossy(data).into_owned();
    let cc = directives::parse(&lines);
    check_directives(&cc, &input());
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (CACHE_CONTROL, &lines),
        (directives::CDN_CACHE_CONTROL, &lines),
        (directives::SURROGATE_CONTROL, &lines),
    ] {
        for v in value {
            headers.append(HeaderName::clone(&name), v.clone());
        }
    }
    assert_eq!(directives::cache_control(&headers), cc, "{:?}", input());
    if let Some(cdn) = directives::cdn_cache_control(&headers) {
        check_directives(&cdn, &input());
    }
    if let Some(surrogate) = directives::surrogate_control(&headers) {
        check_directives(&surrogate, &input());
        // Only the four directives a surrogate may set.
        let kept = CacheControl {
            max_age: surrogate.max_age,
            no_store: surrogate.no_store,
            stale_while_revalidate: surrogate.stale_while_revalidate,
            stale_if_error: surrogate.stale_if_error,
            malformed: surrogate.malformed,
            ..CacheControl::default()
        };
        assert_eq!(surrogate, kept, "{:?}", input());
    }
    let _ = directives::edge_control(&headers);
}

/// What parsed directives must be: every delta-seconds at most 2^31; the
/// field-name lists sorted, unique, lower-case tokens, at most 64; and the
/// directives, written back as one `Cache-Control` line ([`render`]), parse
/// to the same directives (without the `malformed` flag, which a clean
/// rendering does not set).
pub fn check_directives(cc: &CacheControl, input: &str) {
    let deltas = [
        cc.max_age,
        cc.s_maxage,
        cc.max_stale.flatten(),
        cc.min_fresh,
        cc.stale_while_revalidate,
        cc.stale_if_error,
    ];
    assert!(
        deltas.iter().flatten().all(|&v| v <= DELTA_SECONDS_MAX),
        "delta-seconds above 2^31: {cc:?} from {input:?}"
    );
    for fields in [&cc.no_cache_fields, &cc.private_fields] {
        assert!(fields.len() <= 64, "{cc:?} from {input:?}");
        assert!(
            fields.windows(2).all(|w| w[0] < w[1]),
            "fields not sorted and unique: {cc:?} from {input:?}"
        );
        assert!(
            fields.iter().all(|f| !f.is_empty()
                && f.bytes().all(|b| is_tchar(b) && !b.is_ascii_uppercase())),
            "field name not a lower-case token: {cc:?} from {input:?}"
        );
    }
    let text = render(cc);
    let value = HeaderValue::from_str(&text)
        .unwrap_or_else(|e| panic!("rendered {text:?} is no header value ({e}): {cc:?}"));
    let again = directives::parse([&value]);
    let want = CacheControl {
        malformed: false,
        ..cc.clone()
    };
    assert_eq!(
        again, want,
        "{input:?} parsed, rendered as {text:?}, parses differently"
    );
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// `cc` written as one `Cache-Control` value, with nothing lost: qualified
/// `no-cache` / `private` in the quoted form, beside the unqualified one
/// when both were given.
pub fn render(cc: &CacheControl) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut delta = |name: &str, v: Option<u64>| {
        if let Some(v) = v {
            parts.push(format!("{name}={v}"));
        }
    };
    delta("max-age", cc.max_age);
    delta("s-maxage", cc.s_maxage);
    delta("min-fresh", cc.min_fresh);
    delta("stale-while-revalidate", cc.stale_while_revalidate);
    delta("stale-if-error", cc.stale_if_error);
    match cc.max_stale {
        Some(Some(v)) => parts.push(format!("max-stale={v}")),
        Some(None) => parts.push("max-stale".into()),
        None => {}
    }
    for (name, flag, fields) in [
        ("no-cache", cc.no_cache, &cc.no_cache_fields),
        ("private", cc.private, &cc.private_fields),
    ] {
        if flag {
            parts.push(name.into());
        }
        if !fields.is_empty() {
            parts.push(format!("{name}=\"{}\"", fields.join(", ")));
        }
    }
    for (name, flag) in [
        ("no-store", cc.no_store),
        ("public", cc.public),
        ("must-revalidate", cc.must_revalidate),
        ("proxy-revalidate", cc.proxy_revalidate),
        ("immutable", cc.immutable),
        ("only-if-cached", cc.only_if_cached),
        ("no-transform", cc.no_transform),
        ("must-understand", cc.must_understand),
    ] {
        if flag {
            parts.push(name.into());
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
