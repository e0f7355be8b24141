//! Unit tests of `policy`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_LENGTH, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use http::{Method, StatusCode};

use super::vary::{MAX_VARY_FIELDS, normalize_accept_encoding, qvalue};
use super::*;
use crate::{Entry, Served, directives};

/// Whether a stored response may answer a request, as the pipeline asks:
/// the request's directives read once ([`request_directives`]), then
/// [`decide_with`].
fn decide(req_headers: &HeaderMap, f: &Freshness, age: Duration) -> RequestDecision {
    decide_with(&request_directives(req_headers), f, age)
}

/// A stored entry with this freshness, stored at `stored_at`.
fn entry(freshness: Freshness, stored_at: SystemTime) -> Entry {
    let url: Arc<str> = Arc::from("http://shop.test/");
    Entry {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        freshness,
        stored_at,
        surrogate_keys: Box::new([]),
        url: url.clone(),
        vary: Arc::new([]),
        purged: false,
        full_key: url,
        served: Served::default(),
    }
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn date(secs: u64) -> String {
    httpdate::fmt_http_date(t(secs))
}

fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn store_with(
    req: &[(&str, &str)],
    status: u16,
    resp: &[(&str, &str)],
    rules: &StoreRules,
) -> Storability {
    storability(
        &Method::GET,
        &hm(req),
        StatusCode::from_u16(status).unwrap(),
        &hm(resp),
        rules,
        t(0),
        t(0),
    )
}

fn store(resp: &[(&str, &str)]) -> Storability {
    store_with(&[], 200, resp, &StoreRules::default())
}

fn fresh(resp: &[(&str, &str)]) -> Freshness {
    match store(resp) {
        Storability::Store(f) => f,
        other => panic!("expected Store, got {other:?}"),
    }
}

fn dont(s: Storability) -> &'static str {
    match s {
        Storability::DontStore(r) => r.as_str(),
        other => panic!("expected DontStore, got {other:?}"),
    }
}

fn f(lifetime: u64) -> Freshness {
    Freshness {
        lifetime: Duration::from_secs(lifetime),
        initial_age: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::ZERO,
        must_revalidate: false,
        always_revalidate: false,
        heuristic: false,
        strip_fields: vec![],
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn max_age_lifetime() {
    let f = fresh(&[("cache-control", "max-age=60")]);
    assert_eq!(f.lifetime, S(60));
    assert!(!f.heuristic && !f.must_revalidate && !f.always_revalidate);
}

#[test]
fn s_maxage_beats_max_age_and_implies_revalidate() {
    let f = fresh(&[("cache-control", "max-age=60, s-maxage=600")]);
    assert_eq!(f.lifetime, S(600));
    assert!(f.must_revalidate);
}

#[test]
fn edge_control_beats_everything() {
    let f = fresh(&[
        ("cache-control", "max-age=60, s-maxage=600"),
        ("cdn-cache-control", "max-age=5"),
        ("expires", &date(100_000)),
    ]);
    assert_eq!(f.lifetime, S(5));
    assert!(!f.must_revalidate);
    let f = fresh(&[
        ("cache-control", "s-maxage=600"),
        ("surrogate-control", "max-age=7"),
    ]);
    assert_eq!(f.lifetime, S(7));
    assert!(f.must_revalidate); // Cache-Control still applies around Surrogate-Control
}

#[test]
fn cdn_cache_control_replaces_cache_control() {
    // The RFC 9213 pattern: browsers must not store, the CDN may.
    let f = fresh(&[
        ("cache-control", "no-store, private"),
        ("cdn-cache-control", "max-age=300"),
    ]);
    assert_eq!(f.lifetime, S(300));
    // And the other way round.
    assert_eq!(
        dont(store(&[
            ("cache-control", "max-age=300"),
            ("cdn-cache-control", "no-store")
        ])),
        "no-store"
    );
    // Expires is ignored too; with nothing else it falls to heuristics.
    assert_eq!(
        dont(store(&[
            ("cdn-cache-control", "none"),
            ("expires", &date(100))
        ])),
        "stale on arrival and no validator"
    );
    // An invalid CDN-Cache-Control is ignored: Cache-Control applies.
    assert_eq!(
        dont(store(&[
            ("cache-control", "private"),
            ("cdn-cache-control", "Max-Age=5")
        ])),
        "private"
    );
}

#[test]
fn surrogate_control_no_store_and_windows() {
    assert_eq!(
        dont(store(&[
            ("cache-control", "max-age=60"),
            ("surrogate-control", "no-store")
        ])),
        "no-store"
    );
    let f = fresh(&[
        ("cache-control", "max-age=60, stale-while-revalidate=1"),
        (
            "surrogate-control",
            "stale-while-revalidate=30, stale-if-error=90",
        ),
    ]);
    assert_eq!(
        (f.lifetime, f.stale_while_revalidate, f.stale_if_error),
        (S(60), S(30), S(90))
    );
}

#[test]
fn expires_minus_date() {
    let f = fresh(&[("date", &date(0)), ("expires", &date(120))]);
    assert_eq!(f.lifetime, S(120));
    // Missing Date: response_time.
    let f = fresh(&[("expires", &date(30))]);
    assert_eq!(f.lifetime, S(30));
    // max-age wins over Expires.
    let f = fresh(&[("expires", &date(30)), ("cache-control", "max-age=5")]);
    assert_eq!(f.lifetime, S(5));
    // Expires in the past.
    let f = fresh(&[
        ("date", &date(100)),
        ("expires", &date(0)),
        ("etag", "\"a\""),
    ]);
    assert_eq!(f.lifetime, S(0));
}

#[test]
fn invalid_expires_is_stale() {
    for bad in ["0", "-1", "tomorrow", "Thu, 32 Foo 2024 99:00:00 GMT", ""] {
        let f = fresh(&[("expires", bad), ("etag", "\"v\"")]);
        assert_eq!(f.lifetime, S(0), "{bad:?}");
    }
    // Conflicting Expires lines: stale.
    let f = fresh(&[
        ("expires", &date(10)),
        ("expires", &date(20)),
        ("etag", "\"v\""),
    ]);
    assert_eq!(f.lifetime, S(0));
    let f = fresh(&[("expires", &date(10)), ("expires", &date(10))]);
    assert_eq!(f.lifetime, S(10));
    // Stale on arrival without a validator: pointless to store.
    assert_eq!(
        dont(store(&[("expires", "0")])),
        "stale on arrival and no validator"
    );
}

#[test]
fn heuristic_freshness() {
    let lm = httpdate::fmt_http_date(t(0) - S(1000));
    let f = fresh(&[("date", &date(0)), ("last-modified", &lm)]);
    assert_eq!(f.lifetime, S(100));
    assert!(f.heuristic);
    // Capped.
    let lm = httpdate::fmt_http_date(t(0) - S(100 * 86_400));
    assert_eq!(fresh(&[("last-modified", &lm)]).lifetime, S(86_400));
    // Last-Modified in the future: zero.
    let f = fresh(&[("date", &date(0)), ("last-modified", &date(50))]);
    assert_eq!(f.lifetime, S(0));
    // No Last-Modified: lifetime zero, stored only with a validator, and
    // the configured stale windows do not apply.
    assert_eq!(dont(store(&[])), "stale on arrival and no validator");
    let rules = StoreRules {
        default_stale_while_revalidate: S(60),
        default_stale_if_error: S(60),
        ..StoreRules::default()
    };
    assert_eq!(
        dont(store_with(&[], 200, &[], &rules)),
        "stale on arrival and no validator"
    );
    let Storability::Store(f) = store_with(
        &[],
        200,
        &[("cache-control", "no-cache"), ("etag", "\"v\"")],
        &rules,
    ) else {
        panic!()
    };
    assert_eq!(
        (f.lifetime, f.always_revalidate, f.stale_if_error),
        (S(0), true, S(0))
    );
    let f = fresh(&[("etag", "\"v\""), ("cache-control", "stale-if-error=30")]);
    assert_eq!((f.lifetime, f.stale_if_error), (S(0), S(30)));
    assert!(matches!(
        store_with(&[], 302, &[("etag", "\"v\"")], &StoreRules::default()),
        Storability::DontStore(NotStorable::NoFreshness)
    ));
    // Not heuristically cacheable status.
    let lm = httpdate::fmt_http_date(t(0) - S(1000));
    assert!(matches!(
        store_with(&[], 302, &[("last-modified", &lm)], &StoreRules::default()),
        Storability::DontStore(_)
    ));
    // ...unless public.
    assert!(matches!(
        store_with(
            &[],
            302,
            &[("last-modified", &lm), ("cache-control", "public")],
            &StoreRules::default()
        ),
        Storability::Store(_)
    ));
    for code in [203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
        assert!(
            matches!(
                store_with(&[], code, &[("last-modified", &lm)], &StoreRules::default()),
                Storability::Store(Freshness {
                    heuristic: true,
                    ..
                })
            ),
            "{code}"
        );
    }
}

#[test]
fn hostile_heuristic_fraction() {
    let lm = httpdate::fmt_http_date(t(0) - S(1000));
    for fraction in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
        let rules = StoreRules {
            heuristic_fraction: fraction,
            ..StoreRules::default()
        };
        let s = store_with(&[], 200, &[("last-modified", &lm)], &rules);
        let Storability::Store(f) = s else { panic!() };
        assert!(f.lifetime <= rules.heuristic_max);
    }
}

#[test]
fn initial_age_rfc_9111_4_2_3() {
    let resp = hm(&[
        ("cache-control", "max-age=100"),
        ("date", &date(10)),
        ("age", "5"),
    ]);
    // request at 10, response at 12: delay 2; apparent = 12-10 = 2; corrected = 5+2.
    let Storability::Store(f) = storability(
        &Method::GET,
        &HeaderMap::new(),
        StatusCode::OK,
        &resp,
        &StoreRules::default(),
        t(10),
        t(12),
    ) else {
        panic!()
    };
    assert_eq!(f.initial_age, S(7));
    // Date far in the past dominates.
    let resp = hm(&[
        ("cache-control", "max-age=100"),
        ("date", &date(0)),
        ("age", "1"),
    ]);
    let Storability::Store(f) = storability(
        &Method::GET,
        &HeaderMap::new(),
        StatusCode::OK,
        &resp,
        &StoreRules::default(),
        t(40),
        t(40),
    ) else {
        panic!()
    };
    assert_eq!(f.initial_age, S(40));
    // Date in the future, response before request (clock skew): no panic, zero.
    let resp = hm(&[("cache-control", "max-age=100"), ("date", &date(1000))]);
    let Storability::Store(f) = storability(
        &Method::GET,
        &HeaderMap::new(),
        StatusCode::OK,
        &resp,
        &StoreRules::default(),
        t(50),
        t(40),
    ) else {
        panic!()
    };
    assert_eq!(f.initial_age, S(0));
}

#[test]
fn hostile_age_values() {
    let f = fresh(&[("cache-control", "max-age=100"), ("age", "-5")]);
    assert_eq!(f.initial_age, S(0));
    let f = fresh(&[
        ("cache-control", "max-age=100"),
        ("age", "abc"),
        ("age", "7"),
    ]);
    assert_eq!(f.initial_age, S(7));
    let f = fresh(&[
        ("cache-control", "max-age=100"),
        ("age", "3, 9"),
        ("etag", "\"e\""),
    ]);
    assert_eq!(f.initial_age, S(9));
    let f = fresh(&[
        ("cache-control", "max-age=100"),
        ("age", "999999999999999999999999"),
        ("etag", "\"e\""),
    ]);
    assert_eq!(f.initial_age, S(DELTA_SECONDS_MAX));
    assert!(!is_fresh(&f, current_age(&f, t(0), t(0))));
    // Saturation never overflows.
    assert_eq!(
        current_age(&f, t(0), SystemTime::UNIX_EPOCH + S(u64::MAX / 4)),
        MAX_DELTA
    );
}

#[test]
fn overflowing_max_age() {
    let f = fresh(&[("cache-control", "max-age=184467440737095516160000")]);
    assert_eq!(f.lifetime, S(DELTA_SECONDS_MAX));
    assert!(matches!(
        store(&[("cache-control", "max-age=-1")]),
        Storability::DontStore(NotStorable::StaleOnArrival)
    ));
}

#[test]
fn methods() {
    let resp = hm(&[("cache-control", "max-age=60")]);
    let s = |m: Method| {
        storability(
            &m,
            &HeaderMap::new(),
            StatusCode::OK,
            &resp,
            &StoreRules::default(),
            t(0),
            t(0),
        )
    };
    assert!(matches!(s(Method::GET), Storability::Store(_)));
    assert_eq!(dont(s(Method::HEAD)), "HEAD responses are not stored");
    for m in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
    ] {
        assert_eq!(dont(s(m)), "method is not cacheable");
    }
}

#[test]
fn statuses() {
    let rules = StoreRules::default();
    let cc = [("cache-control", "max-age=60")];
    assert_eq!(
        dont(store_with(&[], 206, &cc, &rules)),
        "partial content is not a full response"
    );
    assert_eq!(
        dont(store_with(&[], 304, &cc, &rules)),
        "304 updates a stored response"
    );
    assert_eq!(dont(store_with(&[], 100, &cc, &rules)), "interim response");
    // Explicit freshness makes any final status storable, even unknown ones.
    assert!(matches!(
        store_with(&[], 500, &cc, &rules),
        Storability::Store(_)
    ));
    assert!(matches!(
        store_with(&[], 299, &cc, &rules),
        Storability::Store(_)
    ));
    // must-understand: unknown status not stored, known status ignores no-store.
    let mu = [("cache-control", "must-understand, no-store, max-age=60")];
    assert!(matches!(
        store_with(&[], 299, &mu, &rules),
        Storability::DontStore(_)
    ));
    assert!(matches!(
        store_with(&[], 200, &mu, &rules),
        Storability::Store(_)
    ));
}

#[test]
fn cache_statuses_restrict() {
    let rules = StoreRules {
        cache_statuses: Some(vec![200]),
        ..StoreRules::default()
    };
    let cc = [("cache-control", "max-age=60")];
    assert!(matches!(
        store_with(&[], 200, &cc, &rules),
        Storability::Store(_)
    ));
    assert_eq!(
        dont(store_with(&[], 404, &cc, &rules)),
        "status not cached by rule"
    );
}

#[test]
fn no_store_and_private() {
    assert_eq!(
        dont(store(&[("cache-control", "max-age=60, no-store")])),
        "no-store"
    );
    assert_eq!(
        dont(store(&[
            ("cache-control", "max-age=60"),
            ("cache-control", "NO-STORE")
        ])),
        "no-store"
    );
    assert_eq!(
        dont(store(&[("cache-control", "private, max-age=60")])),
        "private"
    );
    assert_eq!(
        dont(store(&[("cache-control", "private=\"a b\", max-age=60")])),
        "private"
    );
    assert_eq!(
        dont(store_with(
            &[("cache-control", "no-store")],
            200,
            &[("cache-control", "max-age=60")],
            &StoreRules::default()
        )),
        "request no-store"
    );
}

#[test]
fn qualified_private_and_no_cache_strip_fields() {
    let f = fresh(&[
        (
            "cache-control",
            "max-age=60, private=\"X-User\", no-cache=\"Set-Cookie\"",
        ),
        ("set-cookie", "a=b"),
    ]);
    assert_eq!(f.strip_fields, vec!["set-cookie", "x-user"]);
    assert!(!f.always_revalidate);
    let mut h = hm(&[
        ("x-user", "bob"),
        ("set-cookie", "a=b"),
        ("connection", "x-hop"),
        ("x-hop", "1"),
        ("keep-alive", "5"),
        ("content-type", "text/plain"),
    ]);
    strip_for_storage(&mut h, &f.strip_fields);
    assert_eq!(h.len(), 1);
    assert!(h.contains_key("content-type"));
}

#[test]
fn no_cache_always_revalidates() {
    let f = fresh(&[
        (
            "cache-control",
            "no-cache, max-age=60, stale-while-revalidate=30",
        ),
        ("etag", "\"x\""),
    ]);
    assert!(f.always_revalidate);
    assert_eq!(f.stale_while_revalidate, S(0));
    assert_eq!(
        decide(&HeaderMap::new(), &f, S(0)),
        RequestDecision::Revalidate
    );
    assert!(!may_serve_stale_on_error(&f, S(0), &HeaderMap::new()));
    assert_eq!(
        dont(store(&[("cache-control", "no-cache, max-age=60")])),
        "stale on arrival and no validator"
    );
}

#[test]
fn authorization_3_5() {
    let rules = StoreRules::default();
    let auth = [("authorization", "Bearer x")];
    assert_eq!(
        dont(store_with(
            &auth,
            200,
            &[("cache-control", "max-age=60")],
            &rules
        )),
        "request has Authorization"
    );
    for ok in [
        "public, max-age=60",
        "s-maxage=60",
        "max-age=60, must-revalidate",
    ] {
        assert!(
            matches!(
                store_with(&auth, 200, &[("cache-control", ok)], &rules),
                Storability::Store(_)
            ),
            "{ok}"
        );
    }
    assert!(matches!(
        store_with(
            &auth,
            200,
            &[("cache-control", "max-age=60, proxy-revalidate")],
            &rules
        ),
        Storability::DontStore(_)
    ));
    // force_ttl does not override it.
    let forced = StoreRules {
        force_ttl: Some(S(60)),
        ..StoreRules::default()
    };
    assert!(matches!(
        store_with(&auth, 200, &[], &forced),
        Storability::DontStore(_)
    ));
}

/// The reason of a refusal, as a value.
fn why(s: Storability) -> NotStorable {
    match s {
        Storability::DontStore(r) => r,
        other => panic!("expected DontStore, got {other:?}"),
    }
}

#[test]
fn reasons_from_the_request_are_not_uncacheable_for_everyone() {
    let rules = StoreRules::default();
    let cc = [("cache-control", "max-age=60")];
    let on = |m: Method, req: &[(&str, &str)]| {
        why(storability(
            &m,
            &hm(req),
            StatusCode::OK,
            &hm(&cc),
            &rules,
            t(0),
            t(0),
        ))
    };
    for (reason, want) in [
        (on(Method::HEAD, &[]), NotStorable::HeadRequest),
        (on(Method::POST, &[]), NotStorable::Method),
        (
            on(Method::GET, &[("cache-control", "no-store")]),
            NotStorable::RequestNoStore,
        ),
        (
            on(Method::GET, &[("authorization", "x")]),
            NotStorable::RequestAuthorization,
        ),
    ] {
        assert_eq!(reason, want);
        assert!(!reason.uncacheable_for_everyone(), "{reason}");
    }
    // Request directives other than no-store, and cookies, do not refuse.
    for req in [
        [("cache-control", "no-cache")],
        [("cache-control", "max-age=0")],
        [("pragma", "no-cache")],
        [("cookie", "session=1")],
    ] {
        assert!(
            matches!(store_with(&req, 200, &cc, &rules), Storability::Store(_)),
            "{req:?}"
        );
    }
}

#[test]
fn reasons_from_the_response_are_uncacheable_for_everyone() {
    let rules = StoreRules {
        cache_statuses: Some(vec![200, 404]),
        ..StoreRules::default()
    };
    type Case = (u16, &'static [(&'static str, &'static str)], NotStorable);
    let cases: [Case; 11] = [
        (100, &[], NotStorable::Interim),
        (
            206,
            &[("cache-control", "max-age=60")],
            NotStorable::Partial,
        ),
        (
            304,
            &[("cache-control", "max-age=60")],
            NotStorable::NotModified,
        ),
        (
            299,
            &[("cache-control", "must-understand, no-store, max-age=60")],
            NotStorable::MustUnderstand,
        ),
        (200, &[("cache-control", "no-store")], NotStorable::NoStore),
        (
            200,
            &[("cache-control", "private, max-age=60")],
            NotStorable::Private,
        ),
        (
            200,
            &[("cache-control", "max-age=60"), ("set-cookie", "a=1")],
            NotStorable::SetCookie,
        ),
        (
            200,
            &[("cache-control", "max-age=60"), ("vary", "*")],
            NotStorable::VaryStar,
        ),
        (
            410,
            &[("cache-control", "max-age=60")],
            NotStorable::StatusRule,
        ),
        (200, &[], NotStorable::StaleOnArrival),
        (
            200,
            &[("cache-control", "no-cache")],
            NotStorable::StaleOnArrival,
        ),
    ];
    for (status, resp, want) in cases {
        let reason = why(store_with(&[], status, resp, &rules));
        assert_eq!(reason, want, "{status} {resp:?}");
        assert!(reason.uncacheable_for_everyone(), "{reason}");
    }
    let reason = why(store_with(&[], 302, &[], &StoreRules::default()));
    assert_eq!(reason, NotStorable::NoFreshness);
    assert!(reason.uncacheable_for_everyone());
    assert!(NotStorable::TooLarge.uncacheable_for_everyone());
    // A response refusal wins over the request's: `private` to a request
    // with Authorization is about the response (whether it is so because of
    // the credentials is the caller's to weigh, see carries_credentials).
    assert_eq!(
        why(store_with(
            &[("authorization", "x")],
            200,
            &[("cache-control", "private, max-age=60")],
            &StoreRules::default()
        )),
        NotStorable::Private
    );
}

#[test]
fn credentials_are_authorization_or_cookie() {
    assert!(carries_credentials(&hm(&[("authorization", "Bearer x")])));
    assert!(carries_credentials(&hm(&[("cookie", "a=1")])));
    assert!(!carries_credentials(&hm(&[
        ("cache-control", "no-cache"),
        ("accept", "*/*")
    ])));
    assert!(!carries_credentials(&HeaderMap::new()));
}

#[test]
fn set_cookie() {
    let resp = [("cache-control", "max-age=60"), ("set-cookie", "s=1")];
    assert_eq!(dont(store(&resp)), "Set-Cookie");
    let rules = StoreRules {
        allow_set_cookie: true,
        ..StoreRules::default()
    };
    assert!(matches!(
        store_with(&[], 200, &resp, &rules),
        Storability::Store(_)
    ));
    let forced = StoreRules {
        force_ttl: Some(S(60)),
        ..StoreRules::default()
    };
    assert_eq!(dont(store_with(&[], 200, &resp, &forced)), "Set-Cookie");
}

#[test]
fn vary_star_and_too_many() {
    assert_eq!(
        dont(store(&[
            ("cache-control", "max-age=60"),
            ("vary", "accept, *")
        ])),
        "Vary: * (or too many Vary fields)"
    );
    let many: Vec<String> = (0..300).map(|i| format!("X-H{i}")).collect();
    let joined = many.join(", ");
    assert_eq!(vary(&hm(&[("vary", &joined)])), Vary::Star);
    assert!(matches!(
        store(&[("cache-control", "max-age=60"), ("vary", &joined)]),
        Storability::DontStore(_)
    ));
    // Hundreds of duplicates of a few fields are fine.
    let dups = vec!["Accept-Encoding, accept-encoding, ACCEPT"; 300].join(",");
    assert_eq!(
        vary(&hm(&[("vary", &dups)])),
        Vary::Fields(vec![HeaderName::from_static("accept"), ACCEPT_ENCODING])
    );
    // Invalid field name.
    assert_eq!(vary(&hm(&[("vary", "accept encoding")])), Vary::Star);
    assert_eq!(vary(&hm(&[("vary", " , ,")])), Vary::None);
    assert_eq!(vary(&HeaderMap::new()), Vary::None);
    let exactly: Vec<String> = (0..MAX_VARY_FIELDS).map(|i| format!("x-{i}")).collect();
    assert!(
        matches!(vary(&hm(&[("vary", &exactly.join(","))])), Vary::Fields(v) if v.len() == MAX_VARY_FIELDS)
    );
}

#[test]
fn vary_key_normalisation() {
    let fields = [
        HeaderName::from_static("accept-language"),
        ACCEPT_ENCODING,
        HeaderName::from_static("x-absent"),
    ];
    let a = vary_key(
        &fields,
        &hm(&[
            ("accept-language", "en-US,  fr;q=0.5"),
            ("accept-encoding", "gzip, deflate, br"),
        ]),
    );
    let b = vary_key(
        &fields,
        &hm(&[
            ("accept-language", "en-US"),
            ("accept-language", "fr;q=0.5 "),
            ("accept-encoding", "br;q=1"),
        ]),
    );
    assert_eq!(a, b);
    assert_eq!(
        a,
        "accept-language:en-US, fr;q=0.5\naccept-encoding:br\nx-absent\n"
    );
    // Case is kept for other fields.
    let c = vary_key(
        &fields,
        &hm(&[
            ("accept-language", "EN-us, fr;q=0.5"),
            ("accept-encoding", "br"),
        ]),
    );
    assert_ne!(a, c);
    // Absent differs from empty.
    let f = [HeaderName::from_static("x-a")];
    assert_ne!(
        vary_key(&f, &HeaderMap::new()),
        vary_key(&f, &hm(&[("x-a", "")]))
    );
    // Non-ASCII bytes are escaped without collisions.
    let mut h1 = HeaderMap::new();
    h1.insert("x-a", HeaderValue::from_bytes(b"\xff").unwrap());
    let mut h2 = HeaderMap::new();
    h2.insert("x-a", HeaderValue::from_bytes(b"\xfe").unwrap());
    assert_ne!(vary_key(&f, &h1), vary_key(&f, &h2));
    assert_ne!(vary_key(&f, &h1), vary_key(&f, &hm(&[("x-a", "%FF")])));
    // Separators inside values cannot forge another field's entry.
    let two = [
        HeaderName::from_static("x-a"),
        HeaderName::from_static("x-b"),
    ];
    assert_ne!(
        vary_key(&two, &hm(&[("x-a", "1"), ("x-b", "2")])),
        vary_key(&two, &hm(&[("x-a", "1:x-b:2")]))
    );
}

#[test]
fn accept_encoding() {
    assert_eq!(normalize_accept_encoding("gzip, deflate, br, zstd"), "br");
    assert_eq!(normalize_accept_encoding("gzip, deflate"), "gzip");
    assert_eq!(normalize_accept_encoding("x-gzip"), "gzip");
    assert_eq!(normalize_accept_encoding(""), "identity");
    assert_eq!(normalize_accept_encoding("identity"), "identity");
    assert_eq!(normalize_accept_encoding("deflate, compress"), "identity");
    assert_eq!(normalize_accept_encoding("br;q=0, gzip"), "gzip");
    assert_eq!(normalize_accept_encoding("br;q=0.5, gzip;q=0.8"), "gzip");
    assert_eq!(normalize_accept_encoding("br;q=0.8, gzip;q=0.8"), "br");
    assert_eq!(
        normalize_accept_encoding("GZIP;Q=1.000, BR;q=0.000"),
        "gzip"
    );
    assert_eq!(normalize_accept_encoding("*"), "br");
    assert_eq!(normalize_accept_encoding("*;q=0"), "identity");
    assert_eq!(normalize_accept_encoding("br;q=0, *"), "gzip");
    assert_eq!(normalize_accept_encoding("br;q=2, gzip"), "gzip");
    assert_eq!(normalize_accept_encoding("br;q=abc"), "identity");
    assert_eq!(normalize_accept_encoding("br, br;q=0"), "identity");
    assert_eq!(normalize_accept_encoding(",,;;==,br ; q = 0.9 ,"), "br");
    assert_eq!(normalize_accept_encoding(&"x, ".repeat(10_000)), "identity");
}

#[test]
fn qvalues() {
    assert_eq!(qvalue("1"), Some(1000));
    assert_eq!(qvalue("1.000"), Some(1000));
    assert_eq!(qvalue("1.001"), None);
    assert_eq!(qvalue("0.5"), Some(500));
    assert_eq!(qvalue("0.05"), Some(50));
    assert_eq!(qvalue("0."), Some(0));
    assert_eq!(qvalue("0.0001"), None);
    assert_eq!(qvalue("-0"), None);
    assert_eq!(qvalue(""), None);
}

#[test]
fn decide_fresh_and_stale() {
    let none = HeaderMap::new();
    assert_eq!(decide(&none, &f(60), S(10)), RequestDecision::ServeFresh);
    assert_eq!(decide(&none, &f(60), S(60)), RequestDecision::Revalidate);
    let mut swr = f(60);
    swr.stale_while_revalidate = S(30);
    assert_eq!(
        decide(&none, &swr, S(70)),
        RequestDecision::ServeStaleWhileRevalidate
    );
    assert_eq!(decide(&none, &swr, S(90)), RequestDecision::Revalidate);
}

#[test]
fn decide_request_directives() {
    let fr = f(60);
    assert_eq!(
        decide(&hm(&[("cache-control", "no-cache")]), &fr, S(1)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("pragma", "no-cache")]), &fr, S(1)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("pragma", "x, No-Cache")]), &fr, S(1)),
        RequestDecision::Revalidate
    );
    // Pragma is ignored when Cache-Control is present.
    assert_eq!(
        decide(
            &hm(&[("pragma", "no-cache"), ("cache-control", "max-stale")]),
            &fr,
            S(1)
        ),
        RequestDecision::ServeFresh
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-age=5")]), &fr, S(10)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-age=10")]), &fr, S(10)),
        RequestDecision::ServeFresh
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-age=0")]), &fr, S(0)),
        RequestDecision::ServeFresh
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-age=0")]), &fr, S(1)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "min-fresh=20")]), &fr, S(50)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "min-fresh=20")]), &fr, S(30)),
        RequestDecision::ServeFresh
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-stale=10")]), &fr, S(70)),
        RequestDecision::ServeStale
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-stale=10")]), &fr, S(71)),
        RequestDecision::Revalidate
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-stale")]), &fr, S(1_000_000)),
        RequestDecision::ServeStale
    );
    assert_eq!(
        decide(&hm(&[("cache-control", "max-stale=-3")]), &fr, S(61)),
        RequestDecision::Revalidate
    );
    let mut mr = f(60);
    mr.must_revalidate = true;
    assert_eq!(
        decide(&hm(&[("cache-control", "max-stale")]), &mr, S(61)),
        RequestDecision::Revalidate
    );
}

#[test]
fn must_revalidate_forbids_stale() {
    let f = fresh(&[
        (
            "cache-control",
            "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30",
        ),
        ("etag", "\"a\""),
    ]);
    assert!(f.must_revalidate);
    assert_eq!((f.stale_while_revalidate, f.stale_if_error), (S(0), S(0)));
    assert!(!may_serve_stale_on_error(
        &f,
        S(61),
        &hm(&[("cache-control", "stale-if-error=100")])
    ));
    let rules = StoreRules {
        default_stale_if_error: S(100),
        default_stale_while_revalidate: S(100),
        ..StoreRules::default()
    };
    let Storability::Store(f) = store_with(
        &[],
        200,
        &[("cache-control", "max-age=60, proxy-revalidate")],
        &rules,
    ) else {
        panic!()
    };
    assert_eq!((f.stale_while_revalidate, f.stale_if_error), (S(0), S(0)));
}

#[test]
fn s_maxage_with_explicit_swr_keeps_window_but_not_defaults() {
    let f = fresh(&[("cache-control", "s-maxage=1, stale-while-revalidate=59")]);
    assert_eq!(f.stale_while_revalidate, S(59));
    assert_eq!(
        decide(&HeaderMap::new(), &f, S(30)),
        RequestDecision::ServeStaleWhileRevalidate
    );
    let rules = StoreRules {
        default_stale_if_error: S(100),
        ..StoreRules::default()
    };
    let Storability::Store(f) = store_with(&[], 200, &[("cache-control", "s-maxage=10")], &rules)
    else {
        panic!()
    };
    assert_eq!(f.stale_if_error, S(0));
}

#[test]
fn default_windows_apply() {
    let rules = StoreRules {
        default_stale_if_error: S(300),
        default_stale_while_revalidate: S(10),
        ..StoreRules::default()
    };
    let Storability::Store(f) = store_with(&[], 200, &[("cache-control", "max-age=60")], &rules)
    else {
        panic!()
    };
    assert_eq!(
        (f.stale_while_revalidate, f.stale_if_error),
        (S(10), S(300))
    );
    let Storability::Store(f) = store_with(
        &[],
        200,
        &[("cache-control", "max-age=60, stale-if-error=5")],
        &rules,
    ) else {
        panic!()
    };
    assert_eq!(f.stale_if_error, S(5));
}

#[test]
fn stale_if_error_windows() {
    let none = HeaderMap::new();
    let mut sie = f(60);
    sie.stale_if_error = S(30);
    assert!(may_serve_stale_on_error(&sie, S(10), &none));
    assert!(may_serve_stale_on_error(&sie, S(89), &none));
    assert!(!may_serve_stale_on_error(&sie, S(90), &none));
    assert!(!may_serve_stale_on_error(&f(60), S(61), &none));
    assert!(may_serve_stale_on_error(
        &f(60),
        S(61),
        &hm(&[("cache-control", "stale-if-error=10")])
    ));
}

#[test]
fn force_ttl() {
    let rules = StoreRules {
        force_ttl: Some(S(3600)),
        ..StoreRules::default()
    };
    let Storability::Store(f) = store_with(&[], 200, &[], &rules) else {
        panic!()
    };
    assert_eq!(f.lifetime, S(3600));
    let Storability::Store(f) = store_with(
        &[],
        200,
        &[("cache-control", "max-age=5, no-cache"), ("age", "100")],
        &rules,
    ) else {
        panic!()
    };
    assert_eq!((f.lifetime, f.initial_age), (S(3700), S(100)));
    assert!(!f.always_revalidate);
    assert_eq!(
        dont(store_with(
            &[],
            200,
            &[("cache-control", "no-store")],
            &rules
        )),
        "no-store"
    );
    assert_eq!(
        dont(store_with(
            &[],
            200,
            &[("cache-control", "private")],
            &rules
        )),
        "private"
    );
    assert_eq!(
        dont(store_with(&[], 200, &[("vary", "*")], &rules)),
        "Vary: * (or too many Vary fields)"
    );
    // Errors are not forced unless the route lists them.
    assert!(matches!(
        store_with(&[], 503, &[], &rules),
        Storability::DontStore(_)
    ));
    let listed = StoreRules {
        cache_statuses: Some(vec![503]),
        ..rules
    };
    assert!(matches!(
        store_with(&[], 503, &[], &listed),
        Storability::Store(_)
    ));
}

#[test]
fn current_age_and_ttl() {
    let mut fr = f(60);
    fr.initial_age = S(5);
    assert_eq!(current_age(&fr, t(0), t(10)), S(15));
    assert_eq!(current_age(&fr, t(10), t(0)), S(5));
    // The Cache-Status ttl: remaining freshness, negative once stale.
    let stored = entry(fr.clone(), t(0));
    assert_eq!(stored.ttl(t(10)), 45);
    assert_eq!(stored.ttl(t(70)), -15);
    // The Age field: whole seconds of the age, which saturates at 2^31.
    assert_eq!(HeaderValue::from(stored.age(t(7)).as_secs()), "12");
    fr.initial_age = MAX_DELTA;
    let old = entry(fr, t(0));
    assert_eq!(
        HeaderValue::from(old.age(t(1_000)).as_secs()),
        HeaderValue::from(DELTA_SECONDS_MAX)
    );
}

#[test]
fn request_helpers() {
    let asks = |pairs: &[(&str, &str)]| request_directives(&hm(pairs));
    assert!(asks(&[("cache-control", "ONLY-IF-CACHED")]).only_if_cached);
    assert!(!asks(&[]).only_if_cached);
    assert!(asks(&[("cache-control", "max-age=0, no-store")]).no_store);
    assert!(!asks(&[("pragma", "no-store")]).no_store);
}

#[test]
fn invalidation() {
    let h = hm(&[
        ("location", "https://Example.com:8443/a/b?x=1#frag"),
        ("content-location", "/c?d"),
    ]);
    assert_eq!(
        invalidation_targets("example.com", &h),
        vec!["/a/b?x=1", "/c?d"]
    );
    assert_eq!(
        invalidation_targets(
            "example.com:8080",
            &hm(&[("location", "http://example.com")])
        ),
        vec!["/"]
    );
    assert_eq!(
        invalidation_targets("example.com", &hm(&[("location", "//example.com?q")])),
        vec!["/?q"]
    );
    assert_eq!(
        invalidation_targets(
            "example.com",
            &hm(&[("location", "http://user@example.com/p")])
        ),
        vec!["/p"]
    );
    assert_eq!(
        invalidation_targets("[::1]:80", &hm(&[("location", "http://[::1]/v6")])),
        vec!["/v6"]
    );
    for other in [
        "https://evil.com/a",
        "https://example.com.evil.com/a",
        "http://evil.com@/x",
        "mailto:a@example.com",
        "relative/path",
        "../up",
        "javascript:alert(1)",
        "http:/nohost",
        "",
        "/a b",
    ] {
        assert!(
            invalidation_targets("example.com", &hm(&[("location", other)])).is_empty(),
            "{other}"
        );
    }
    // Duplicates collapse.
    let h = hm(&[
        ("location", "/same"),
        ("content-location", "http://example.com/same"),
    ]);
    assert_eq!(invalidation_targets("example.com", &h), vec!["/same"]);
}

#[test]
fn merge_304() {
    let mut stored = hm(&[
        ("content-length", "100"),
        ("content-encoding", "gzip"),
        ("etag", "\"a\""),
        ("cache-control", "max-age=10"),
        ("x-keep", "1"),
        ("x-multi", "1"),
        ("x-multi", "2"),
    ]);
    let nm = hm(&[
        ("content-length", "0"),
        ("content-encoding", "br"),
        ("transfer-encoding", "chunked"),
        ("content-range", "bytes 0-1/2"),
        ("connection", "x-secret"),
        ("x-secret", "1"),
        ("keep-alive", "timeout=5"),
        ("cache-control", "max-age=600"),
        ("x-multi", "3"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ]);
    merge_not_modified(&mut stored, &nm);
    assert_eq!(stored["content-length"], "100");
    assert_eq!(stored["content-encoding"], "gzip");
    assert_eq!(stored["cache-control"], "max-age=600");
    assert_eq!(stored["x-keep"], "1");
    assert_eq!(
        stored.get_all("x-multi").iter().collect::<Vec<_>>(),
        vec!["3"]
    );
    assert!(stored.contains_key("date"));
    for absent in [
        "transfer-encoding",
        "content-range",
        "connection",
        "x-secret",
        "keep-alive",
    ] {
        assert!(!stored.contains_key(absent), "{absent}");
    }
}

#[test]
fn revalidation() {
    let h = revalidation_headers(&hm(&[("etag", "W/\"x\""), ("last-modified", &date(0))]));
    assert_eq!(h[IF_NONE_MATCH], "W/\"x\"");
    assert_eq!(h[IF_MODIFIED_SINCE], date(0).as_str());
    let h = revalidation_headers(&hm(&[("last-modified", "garbage")]));
    assert!(h.is_empty());
}

/// Pieces the hostile values are made of.
const PIECES: &[&str] = &[
    "max-age",
    "s-maxage",
    "no-cache",
    "private",
    "no-store",
    "public",
    "max-stale",
    "min-fresh",
    "stale-while-revalidate",
    "stale-if-error",
    "must-revalidate",
    "bytes",
    "W/",
    "\"",
    "\\",
    ",",
    "=",
    ";",
    " ",
    "\t",
    "-",
    "*",
    "(",
    ")",
    "?",
    ":",
    "@",
    "%",
    "/",
    "0",
    "1",
    "9",
    "99999999999999999999",
    "-1",
    "q=0",
    "br",
    "gzip",
    "é",
    "http://",
    "//",
    "example.com",
    "Mon, 01 Jan 2024 00:00:00 GMT",
    "a",
    "Z",
];

/// Hostile request and response fields from a pseudo-random source.
fn hostile_headers(next: &mut impl FnMut() -> u64) -> (HeaderMap, HeaderMap) {
    let mut gen_value = || {
        let n = (next() % 24) as usize;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("x"))
    };
    let mut req = HeaderMap::new();
    let mut resp = HeaderMap::new();
    for name in [
        "cache-control",
        "pragma",
        "range",
        "if-range",
        "if-none-match",
        "if-match",
        "if-modified-since",
        "accept-encoding",
    ] {
        req.append(HeaderName::from_static(name), gen_value());
    }
    for name in [
        "cache-control",
        "cdn-cache-control",
        "surrogate-control",
        "expires",
        "age",
        "date",
        "last-modified",
        "etag",
        "vary",
        "location",
        "content-location",
        "cache-status",
    ] {
        resp.append(HeaderName::from_static(name), gen_value());
    }
    (req, resp)
}

/// Directives, storability, reuse and `Vary` on hostile fields.
fn hostile_policy(req: &HeaderMap, resp: &HeaderMap) {
    let cc = directives::cache_control(resp);
    for v in [
        cc.max_age,
        cc.s_maxage,
        cc.min_fresh,
        cc.stale_while_revalidate,
        cc.stale_if_error,
    ]
    .into_iter()
    .flatten()
    {
        assert!(v <= DELTA_SECONDS_MAX);
    }
    let _ = directives::edge_control(resp);
    if let Storability::Store(f) = storability(
        &Method::GET,
        req,
        StatusCode::OK,
        resp,
        &StoreRules::default(),
        t(0),
        t(1),
    ) {
        assert!(f.lifetime <= MAX_DELTA.saturating_mul(2) && f.initial_age <= MAX_DELTA);
        let age = current_age(&f, t(1), t(100));
        let _ = decide(req, &f, age);
        let _ = may_serve_stale_on_error(&f, age, req);
        let _ = entry(f.clone(), t(1)).ttl(t(100));
    }
    if let Vary::Fields(fields) = vary(resp) {
        assert!(fields.len() <= MAX_VARY_FIELDS);
        let key = vary_key(&fields, req);
        assert!(!key.contains('\u{1f}'));
    }
}

/// The other fields' parsers on hostile fields: invalidation, 304 merging,
/// conditionals, ranges, `Cache-Status`.
fn hostile_fields(req: &HeaderMap, resp: &HeaderMap, body: &bytes::Bytes) {
    use crate::{conditional, range, status};
    let _ = normalize_accept_encoding(req["accept-encoding"].to_str().unwrap_or(""));
    let _ = invalidation_targets("example.com", resp);
    let mut stored = resp.clone();
    merge_not_modified(&mut stored, req);
    let _ = revalidation_headers(resp);
    let _ = conditional::client_not_modified(&Method::GET, req, StatusCode::OK, resp);
    let _ = conditional::precondition_failed(req, StatusCode::OK, resp);
    match range::parse_range(req, resp, body.len() as u64) {
        range::RangeRequest::Satisfiable(ranges) => {
            assert!(!ranges.is_empty() && ranges.len() <= range::MAX_RANGES);
            assert!(
                ranges
                    .iter()
                    .all(|r| r.start < r.end && r.end <= body.len() as u64)
            );
            let (_, h, chunks) = range::partial_response(resp, body, &ranges);
            let total: usize = chunks.iter().map(|c| c.len()).sum();
            assert_eq!(h[CONTENT_LENGTH], total.to_string().as_str());
        }
        range::RangeRequest::Unsatisfiable | range::RangeRequest::None => {}
    }
    let mut out = resp.clone();
    status::append(
        &mut out,
        &status::CacheStatus {
            cache: req["range"].to_str().unwrap_or("e").into(),
            key: Some(String::from_utf8_lossy(req["if-match"].as_bytes()).into_owned()),
            ..status::CacheStatus::default()
        },
    );
}

/// Deterministic pseudo-random hostile inputs through every parser of the
/// cache: nothing panics and the invariants hold.
#[test]
fn hostile_inputs_fuzz() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let body = bytes::Bytes::from(vec![b'x'; 1000]);
    for _ in 0..3000 {
        let (req, resp) = hostile_headers(&mut next);
        hostile_policy(&req, &resp);
        hostile_fields(&req, &resp, &body);
    }
}
