//! The lenient reading of RFC 9110 list fields (`#(token [ "=" ( token /
//! quoted-string ) ])`) that `Cache-Control` and `Surrogate-Control` use,
//! and the token and whitespace rules the other cache fields share
//! (`Vary`, entity tags, `Range`, `Cache-Status`). Kept apart from the
//! directive meanings in [`super`] so those read as a table of rules.

use super::{Arg, DELTA_SECONDS_MAX};

/// One member of a comma-separated directive list.
pub(crate) struct Member {
    /// The lowercased directive name, `None` if it was not a token.
    pub(crate) name: Option<String>,
    pub(crate) arg: Arg,
    /// Syntax error somewhere in this member.
    pub(crate) bad: bool,
}

/// A token character (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `s` without leading and trailing spaces and tabs.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits a `#(token [ "=" ( token / quoted-string ) ])` list, leniently:
/// commas inside quoted strings do not split, empty members are skipped.
pub(crate) fn list_members(s: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let n = s.len();
    let mut i = 0;
    loop {
        while i < n && (is_ows(s[i]) || s[i] == b',') {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && s[i] != b'=' && s[i] != b',' {
            i += 1;
        }
        let raw_name = trim_ows(&s[start..i]);
        let mut bad = false;
        let arg = if i < n && s[i] == b'=' {
            i += 1;
            while i < n && is_ows(s[i]) {
                i += 1;
            }
            if i < n && s[i] == b'"' {
                let (text, end, ok) = quoted(s, i + 1);
                i = end;
                bad |= !ok;
                Arg::Quoted(text)
            } else {
                let vs = i;
                while i < n && s[i] != b',' {
                    i += 1;
                }
                let v = trim_ows(&s[vs..i]);
                if v.is_empty() || !v.iter().all(|&c| is_tchar(c)) {
                    bad = true;
                }
                Arg::Token(String::from_utf8_lossy(v).into_owned())
            }
        } else {
            Arg::Absent
        };
        let name = if !raw_name.is_empty() && raw_name.iter().all(|&c| is_tchar(c)) {
            Some(String::from_utf8_lossy(raw_name).to_ascii_lowercase())
        } else {
            bad = true;
            None
        };
        out.push(Member { name, arg, bad });
    }
    out
}

/// The quoted-string starting after its opening quote at `i`, unescaped;
/// where the member ends (at the next comma or the end); and whether it was
/// closed and followed by nothing but whitespace.
fn quoted(s: &[u8], mut i: usize) -> (String, usize, bool) {
    let n = s.len();
    let mut buf = Vec::new();
    let mut closed = false;
    while i < n {
        match s[i] {
            b'\\' if i + 1 < n => {
                buf.push(s[i + 1]);
                i += 2;
            }
            b'"' => {
                i += 1;
                closed = true;
                break;
            }
            c => {
                buf.push(c);
                i += 1;
            }
        }
    }
    let mut ok = closed;
    while i < n && is_ows(s[i]) {
        i += 1;
    }
    if i < n && s[i] != b',' {
        ok = false;
        while i < n && s[i] != b',' {
            i += 1;
        }
    }
    (String::from_utf8_lossy(&buf).into_owned(), i, ok)
}

/// Parses delta-seconds (`1*DIGIT`), saturating at 2^31.
pub(crate) fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for c in s.bytes() {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
        if v >= DELTA_SECONDS_MAX {
            return Some(DELTA_SECONDS_MAX);
        }
    }
    Some(v)
}
