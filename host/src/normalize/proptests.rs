//! Property tests of [`normalize_path`]: paths built from segments that
//! matter (dots, encoded dots and slashes, escapes good and bad, a
//! backslash), under every rule set. The same invariants as the
//! `normalize_path` fuzz target (`fuzz/`).

#![cfg(test)]

use std::borrow::Cow;
use std::str::FromStr;

use proptest::prelude::*;

use super::{EscapedSlashes, PathError, PathRules, normalize_path};

const SEGMENTS: &[&str] = &[
    "", ".", "..", "a", "%2e", "%2E%2e", "%2F", "%5c", "%41", "%00", "b.c", "%zz", "~", "\\",
];

/// `/` then 0 to 10 segments of [`SEGMENTS`] joined by `/`.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SEGMENTS), 0..10)
        .prop_map(|segments| format!("/{}", segments.join("/")))
}

/// Paths that need no work under any rules: no `%`, `\`, dot segment or `//`.
fn normal_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&["", "a", "b.c", "~", ".a", "a."][..]),
        0..10,
    )
    .prop_map(|segments| format!("/{}", segments.join("/")))
    .prop_filter("no //", |p| !p.contains("//"))
}

fn rules() -> impl Strategy<Value = PathRules> {
    (any::<bool>(), any::<bool>()).prop_map(|(merge_slashes, keep)| PathRules {
        merge_slashes,
        escaped_slashes: if keep {
            EscapedSlashes::Keep
        } else {
            EscapedSlashes::Reject
        },
    })
}

fn is_uri_path(s: &str) -> bool {
    http::uri::PathAndQuery::from_str(s).is_ok_and(|pq| pq.path() == s && pq.query().is_none())
}

fn upper_hex(b: Option<&u8>) -> bool {
    b.is_some_and(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn normalised_paths_keep_the_invariants(input in path(), rules in rules()) {
        let Ok(out) = normalize_path(&input, rules) else {
            return Ok(());
        };
        prop_assert!(out.starts_with('/'));
        prop_assert!(!out.split('/').any(|s| s == "." || s == ".."), "{out}");
        prop_assert!(!out.bytes().any(|b| b < 0x20 || b == 0x7f), "{out:?}");
        prop_assert!(!out.contains('\\'), "{out}");
        let b = out.as_bytes();
        for (i, _) in out.match_indices('%') {
            prop_assert!(upper_hex(b.get(i + 1)) && upper_hex(b.get(i + 2)), "{out}");
        }
        if rules.escaped_slashes == EscapedSlashes::Reject {
            prop_assert!(!out.contains("%2F") && !out.contains("%5C"), "{out}");
        }
        if rules.merge_slashes {
            prop_assert!(!out.contains("//"), "{out}");
        }
        prop_assert!(!out.starts_with("//"), "{out}");
        // A fixed point, recognised as such.
        let again = normalize_path(&out, rules);
        prop_assert!(matches!(&again, Ok(Cow::Borrowed(a)) if *a == out), "{out} -> {again:?}");
        prop_assert!(is_uri_path(&input), "{input}");
        prop_assert!(is_uri_path(&out), "{out}");
    }

    #[test]
    fn rules_agree_where_they_should(input in path()) {
        let with = |merge_slashes, escaped_slashes| {
            normalize_path(&input, PathRules { merge_slashes, escaped_slashes })
        };
        for slashes in [EscapedSlashes::Reject, EscapedSlashes::Keep] {
            // Merging changes the result, never whether a path is accepted.
            prop_assert_eq!(with(false, slashes).err(), with(true, slashes).err());
        }
        for merge in [false, true] {
            match with(merge, EscapedSlashes::Reject) {
                Ok(out) => prop_assert_eq!(with(merge, EscapedSlashes::Keep).ok(), Some(out)),
                Err(PathError::EncodedSlash) => {}
                Err(e) => prop_assert_eq!(with(merge, EscapedSlashes::Keep).err(), Some(e)),
            }
        }
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged(input in normal_path(), rules in rules()) {
        let out = normalize_path(&input, rules);
        prop_assert!(matches!(&out, Ok(Cow::Borrowed(p)) if *p == input), "{input} -> {out:?}");
    }
}
