//! Unit tests of `directives`.

use super::*;

fn cc(s: &str) -> CacheControl {
    let v = HeaderValue::from_str(s).unwrap();
    parse([&v])
}

fn cc_lines(lines: &[&str]) -> CacheControl {
    let vs: Vec<HeaderValue> = lines
        .iter()
        .map(|s| HeaderValue::from_str(s).unwrap())
        .collect();
    parse(&vs)
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

#[test]
fn basic_response_directives() {
    let c = cc(
        "public, max-age=60, s-maxage=120, must-revalidate, proxy-revalidate, immutable, no-transform",
    );
    assert_eq!(c.max_age, Some(60));
    assert_eq!(c.s_maxage, Some(120));
    assert!(c.public && c.must_revalidate && c.proxy_revalidate && c.immutable && c.no_transform);
    assert!(!c.no_store && !c.no_cache && !c.private && !c.malformed);
}

#[test]
fn basic_request_directives() {
    let c = cc("max-age=0, max-stale=30, min-fresh=5, only-if-cached, no-store, no-cache");
    assert_eq!(c.max_age, Some(0));
    assert_eq!(c.max_stale, Some(Some(30)));
    assert_eq!(c.min_fresh, Some(5));
    assert!(c.only_if_cached && c.no_store && c.no_cache);
    assert_eq!(cc("max-stale").max_stale, Some(None));
}

#[test]
fn names_are_case_insensitive() {
    let c = cc("MAX-AGE=10, No-Store, Private, S-MaxAge=5");
    assert_eq!(c.max_age, Some(10));
    assert_eq!(c.s_maxage, Some(5));
    assert!(c.no_store && c.private);
}

#[test]
fn whitespace_and_empty_members() {
    let c = cc(" ,, max-age = 10 ,\tpublic , ,");
    assert_eq!(c.max_age, Some(10));
    assert!(c.public);
}

#[test]
fn quoted_numbers_accepted_in_cache_control() {
    assert_eq!(cc("max-age=\"30\"").max_age, Some(30));
    assert_eq!(
        cc("stale-while-revalidate=\"5\"").stale_while_revalidate,
        Some(5)
    );
}

#[test]
fn invalid_max_age_is_stale() {
    for v in [
        "max-age=-1",
        "max-age=abc",
        "max-age=",
        "max-age",
        "max-age=1.5",
        "max-age=+5",
        "max-age=5 6",
    ] {
        let c = cc(v);
        assert_eq!(c.max_age, Some(0), "{v}");
        assert!(c.malformed, "{v}");
    }
    assert_eq!(cc("s-maxage=-10").s_maxage, Some(0));
}

#[test]
fn huge_delta_seconds_saturate_at_2_pow_31() {
    assert_eq!(cc("max-age=2147483647").max_age, Some(2_147_483_647));
    assert_eq!(cc("max-age=2147483648").max_age, Some(DELTA_SECONDS_MAX));
    assert_eq!(
        cc("max-age=99999999999999999999999999999999").max_age,
        Some(DELTA_SECONDS_MAX)
    );
    assert_eq!(
        cc("max-age=000000000000000000000000000000010").max_age,
        Some(10)
    );
    assert!(!cc("max-age=99999999999999999999999999999999").malformed);
}

#[test]
fn duplicates_take_most_restrictive() {
    assert_eq!(cc("max-age=60, max-age=10").max_age, Some(10));
    assert_eq!(cc("max-age=10, max-age=60").max_age, Some(10));
    assert_eq!(cc_lines(&["max-age=600", "max-age=6"]).max_age, Some(6));
    assert_eq!(cc("max-age=60, max-age=oops").max_age, Some(0));
    assert_eq!(cc("s-maxage=60, s-maxage=30").s_maxage, Some(30));
    assert_eq!(cc("min-fresh=5, min-fresh=50").min_fresh, Some(50));
    assert_eq!(cc("max-stale, max-stale=20").max_stale, Some(Some(20)));
    assert_eq!(cc("max-stale=20, max-stale").max_stale, Some(Some(20)));
    assert_eq!(cc("max-stale=20, max-stale=3").max_stale, Some(Some(3)));
    assert_eq!(
        cc("stale-if-error=50, stale-if-error=5").stale_if_error,
        Some(5)
    );
    let c = cc("public, private, max-age=60, no-cache");
    assert!(c.public && c.private && c.no_cache);
}

#[test]
fn invalid_request_extensions_are_ignored() {
    let c = cc("max-stale=-1, min-fresh=x, stale-while-revalidate, stale-if-error=1e3");
    assert_eq!(c.max_stale, None);
    assert_eq!(c.min_fresh, None);
    assert_eq!(c.stale_while_revalidate, None);
    assert_eq!(c.stale_if_error, None);
    assert!(c.malformed);
}

#[test]
fn qualified_no_cache_and_private() {
    let c = cc("no-cache=\"Set-Cookie, X-Foo\", private=\"X-Secret\"");
    assert!(!c.no_cache && !c.private);
    assert_eq!(c.no_cache_fields, vec!["set-cookie", "x-foo"]);
    assert_eq!(c.private_fields, vec!["x-secret"]);
    let c = cc("no-cache=Set-Cookie");
    assert_eq!(c.no_cache_fields, vec!["set-cookie"]);
    assert!(!c.no_cache);
}

#[test]
fn qualified_lists_are_merged_and_deduped() {
    let c = cc("private=\"b, A\", private=\"a\"");
    assert_eq!(c.private_fields, vec!["a", "b"]);
    assert!(!c.private);
}

#[test]
fn bad_field_lists_become_unqualified() {
    for v in [
        "no-cache=\"\"",
        "no-cache=\" , \"",
        "no-cache=\"a b\"",
        "no-cache=\"x@y\"",
    ] {
        let c = cc(v);
        assert!(c.no_cache, "{v}");
        assert!(c.malformed, "{v}");
    }
    let many: Vec<String> = (0..100).map(|i| format!("x-{i}")).collect();
    let c = cc(&format!("private=\"{}\"", many.join(", ")));
    assert!(c.private && c.private_fields.is_empty());
    let c = cc(&many
        .iter()
        .map(|f| format!("no-cache=\"{f}\""))
        .collect::<Vec<_>>()
        .join(", "));
    assert!(c.no_cache && c.no_cache_fields.is_empty());
}

#[test]
fn unqualified_and_qualified_together() {
    let c = cc("no-cache=\"x-a\", no-cache");
    assert!(c.no_cache);
}

#[test]
fn commas_inside_quotes_do_not_split() {
    let c = cc("private=\"a, max-age=5\", max-age=60");
    assert_eq!(c.max_age, Some(60));
    assert!(c.malformed); // "max-age=5" is not a field name
    assert!(c.private);
}

#[test]
fn escapes_in_quoted_strings() {
    let c = cc(r#"x-ext="a\"b, no-store", max-age=5"#);
    assert!(!c.no_store);
    assert_eq!(c.max_age, Some(5));
}

#[test]
fn unterminated_quote_swallows_rest_and_is_flagged() {
    let c = cc("max-age=5, x=\"abc, no-store");
    assert_eq!(c.max_age, Some(5));
    assert!(!c.no_store);
    assert!(c.malformed);
}

#[test]
fn flags_with_arguments() {
    let c = cc("no-store=1, public=yes, immutable=\"x\", must-revalidate=0");
    assert!(c.no_store && c.must_revalidate);
    assert!(!c.public && !c.immutable);
    assert!(c.malformed);
}

#[test]
fn unknown_and_garbage_members() {
    let c = cc("foo, bar=baz, =5, ===, \"quoted\", max-age=7, ;;;");
    assert_eq!(c.max_age, Some(7));
    assert!(c.malformed);
    assert_eq!(cc("").max_age, None);
    assert_eq!(cc(",,,"), CacheControl::default());
}

#[test]
fn non_utf8_bytes_do_not_panic() {
    let v = HeaderValue::from_bytes(b"max-age=5, \xff\xfe=1, private=\"\xc3\x28\"").unwrap();
    let c = parse([&v]);
    assert_eq!(c.max_age, Some(5));
    assert!(c.private);
}

#[test]
fn huge_header_is_linear_and_most_restrictive() {
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&format!("max-age={}, x-ext-{i}=\"{i}\", ", 100_000 - i));
    }
    s.push_str("no-store");
    let c = cc(&s);
    assert_eq!(c.max_age, Some(100_000 - 19_999));
    assert!(c.no_store);
}

#[test]
fn must_understand() {
    assert!(cc("must-understand, no-store").must_understand);
}

#[test]
fn cdn_cache_control_is_structured() {
    let h = hm(&[("cdn-cache-control", "max-age=60, stale-while-revalidate=30")]);
    let c = edge_control(&h).unwrap();
    assert_eq!(c.max_age, Some(60));
    assert_eq!(c.stale_while_revalidate, Some(30));
    // Valid but unknown directive: still a valid, non-empty field.
    let c = cdn_cache_control(&hm(&[("cdn-cache-control", "none")])).unwrap();
    assert_eq!(c, CacheControl::default());
    // Parameters ignored, booleans honoured.
    let c = cdn_cache_control(&hm(&[(
        "cdn-cache-control",
        "no-store=?0, private;x=1, max-age=5;a",
    )]))
    .unwrap();
    assert!(!c.no_store && c.private);
    assert_eq!(c.max_age, Some(5));
    let c = cdn_cache_control(&hm(&[("cdn-cache-control", "no-cache=\"Set-Cookie\"")])).unwrap();
    assert_eq!(c.no_cache_fields, vec!["set-cookie"]);
}

#[test]
fn cdn_cache_control_invalid_is_ignored() {
    for v in [
        "Max-Age=60",
        "max-age=60,",
        "max-age=60;",
        "max-age=\"60",
        "max-age=1234567890123456",
        "max-age=60 no-store",
        "max-age=1.2345",
        ",max-age=5",
        "max-age=60, (a)",
    ] {
        let h = hm(&[("cdn-cache-control", v)]);
        assert_eq!(cdn_cache_control(&h), None, "{v}");
    }
    assert_eq!(
        cdn_cache_control(&hm(&[("cdn-cache-control", "   ")])),
        None
    );
    assert_eq!(cdn_cache_control(&HeaderMap::new()), None);
}

#[test]
fn cdn_cache_control_typed_values() {
    // Strings, decimals and negatives are not delta-seconds: stale.
    for v in [
        "max-age=\"60\"",
        "max-age=1.5",
        "max-age=-5",
        "max-age=:AAA=:",
        "max-age=(1 2)",
    ] {
        let c = cdn_cache_control(&hm(&[("cdn-cache-control", v)])).unwrap();
        assert_eq!(c.max_age, Some(0), "{v}");
    }
    let c = cdn_cache_control(&hm(&[("cdn-cache-control", "max-age=999999999999999")])).unwrap();
    assert_eq!(c.max_age, Some(DELTA_SECONDS_MAX));
    // Dictionary semantics: last wins.
    let c = cdn_cache_control(&hm(&[("cdn-cache-control", "max-age=5, max-age=50")])).unwrap();
    assert_eq!(c.max_age, Some(50));
    // Several lines are one dictionary.
    let c = cdn_cache_control(&hm(&[
        ("cdn-cache-control", "max-age=5"),
        ("cdn-cache-control", "no-store"),
    ]))
    .unwrap();
    assert!(c.no_store);
    assert_eq!(c.max_age, Some(5));
    let c = cdn_cache_control(&hm(&[(
        "cdn-cache-control",
        "a=@1659578233, b=%\"caf%c3%a9\", c=?1, d=tok/en:x",
    )]))
    .unwrap();
    assert_eq!(c, CacheControl::default());
}

#[test]
fn surrogate_control_subset() {
    let h = hm(&[(
        "surrogate-control",
        "max-age=300, content=\"ESI/1.0\", private, stale-if-error=60",
    )]);
    let c = edge_control(&h).unwrap();
    assert_eq!(c.max_age, Some(300));
    assert_eq!(c.stale_if_error, Some(60));
    assert!(!c.private);
    // Only an ESI capability: no precedence.
    assert_eq!(
        edge_control(&hm(&[("surrogate-control", "content=\"ESI/1.0\"")])),
        None
    );
    // Targeted members are ignored; "+" extension.
    let c = surrogate_control(&hm(&[(
        "surrogate-control",
        "max-age=60+30, no-store;other-cdn",
    )]))
    .unwrap();
    assert_eq!(c.max_age, Some(60));
    assert!(!c.no_store);
}

#[test]
fn cdn_cache_control_wins_over_surrogate() {
    let h = hm(&[
        ("surrogate-control", "max-age=300"),
        ("cdn-cache-control", "max-age=10"),
    ]);
    assert_eq!(edge_control(&h).unwrap().max_age, Some(10));
    let h = hm(&[
        ("surrogate-control", "max-age=300"),
        ("cdn-cache-control", "Bad=1"),
    ]);
    assert_eq!(edge_control(&h).unwrap().max_age, Some(300));
}

#[test]
fn delta_seconds_helper() {
    assert_eq!(delta_seconds("0"), Some(0));
    assert_eq!(delta_seconds(""), None);
    assert_eq!(delta_seconds("-1"), None);
    assert_eq!(delta_seconds("4294967296"), Some(DELTA_SECONDS_MAX));
}
