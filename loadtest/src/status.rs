//! Classifying a response by its `Cache-Status` field (RFC 9211).
//!
//! The field is a list, origin-most cache first; each cache appends its member,
//! e.g. `shield-1; hit; ttl=30, edge-1; fwd=uri-miss; fwd-status=200; stored`.
//! The tier that served the response is `edge` when the last member (the user's
//! edge) is a hit, `shield` when an earlier member is a hit, and `origin`
//! otherwise, including when there is no field at all.

use serde::{Deserialize, Serialize};

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The user's edge answered from its cache.
    Edge,
    /// A cache between the edge and the origin (a shield) answered.
    Shield,
    /// No cache answered: the origin did (or nothing said otherwise).
    Origin,
}

impl Tier {
    /// Every tier, user-most first.
    pub const ALL: [Tier; 3] = [Tier::Edge, Tier::Shield, Tier::Origin];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Shield => "shield",
            Tier::Origin => "origin",
        }
    }

    /// Index into [`Tier::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One cache's member, as far as the load test cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    /// The cache's name (empty when the member is malformed).
    pub cache: String,
    /// `hit` (or `hit=?1`) was present.
    pub hit: bool,
    /// `collapsed` was present: the request was coalesced with another one.
    pub collapsed: bool,
    /// The member could not be parsed; it counts as a miss.
    pub malformed: bool,
}

/// What a response's `Cache-Status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The serving tier.
    pub tier: Tier,
    /// Some cache coalesced this request with another, so it did not reach the
    /// next hop itself.
    pub collapsed: bool,
    /// The field (or a member of it) was not valid; malformed members are misses.
    pub malformed: bool,
}

/// Classifies the `Cache-Status` field values of a response (all lines, in order).
pub fn classify<'a>(values: impl IntoIterator<Item = &'a str>) -> Classification {
    let mut members = Vec::new();
    let mut malformed = false;
    for v in values {
        match parse(v) {
            Ok(m) => members.extend(m),
            Err(Unsplittable) => malformed = true,
        }
    }
    if malformed {
        // A field we cannot split reliably tells us nothing about positions.
        return Classification {
            tier: Tier::Origin,
            collapsed: false,
            malformed: true,
        };
    }
    classify_members(&members)
}

/// The tier of a parsed member list.
pub fn classify_members(members: &[Member]) -> Classification {
    let malformed = members.iter().any(|m| m.malformed);
    let tier = match members.split_last() {
        Some((last, _)) if last.hit => Tier::Edge,
        Some((_, earlier)) if earlier.iter().any(|m| m.hit) => Tier::Shield,
        _ => Tier::Origin,
    };
    // Only a miss can have been collapsed on its way to the origin.
    let collapsed = tier != Tier::Edge && members.iter().any(|m| m.collapsed);
    Classification {
        tier,
        collapsed,
        malformed,
    }
}

/// A field value whose quoting is broken, so its list cannot be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unterminated string in Cache-Status")]
pub struct Unsplittable;

/// Parses one field value into members. `Err` when quoting is broken (the list
/// cannot be split); otherwise members that do not parse are kept as malformed.
pub fn parse(value: &str) -> Result<Vec<Member>, Unsplittable> {
    split_outside_quotes(value, ',')?
        .into_iter()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(parse_member)
        .collect()
}

fn parse_member(text: &str) -> Result<Member, Unsplittable> {
    let mut parts = split_outside_quotes(text, ';')?.into_iter().map(str::trim);
    let name = parts.next().unwrap_or_default();
    let mut m = Member::default();
    match parse_bare_item(name) {
        Some(Item::Token(t) | Item::String(t)) => m.cache = t,
        _ => {
            m.malformed = true;
            return Ok(m);
        }
    }
    for param in parts {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (param, None),
        };
        if !is_key(key) {
            m.malformed = true;
            continue;
        }
        let value = match value {
            None => Item::Bool(true),
            Some(v) => match parse_bare_item(v) {
                Some(item) => item,
                None => {
                    m.malformed = true;
                    continue;
                }
            },
        };
        match key {
            "hit" => match value {
                Item::Bool(b) => m.hit = b,
                _ => m.malformed = true,
            },
            "collapsed" => match value {
                Item::Bool(b) => m.collapsed = b,
                _ => m.malformed = true,
            },
            _ => {}
        }
    }
    Ok(m)
}

/// A structured-field bare item, reduced to what matters here.
#[derive(Debug, PartialEq)]
enum Item {
    Token(String),
    String(String),
    Bool(bool),
    Number,
}

fn parse_bare_item(s: &str) -> Option<Item> {
    let first = s.bytes().next()?;
    match first {
        b'"' => {
            let inner = s.strip_prefix('"')?.strip_suffix('"')?;
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next()? {
                        c @ ('"' | '\\') => out.push(c),
                        _ => return None,
                    },
                    '"' => return None,
                    c if (' '..='~').contains(&c) => out.push(c),
                    _ => return None,
                }
            }
            Some(Item::String(out))
        }
        b'?' => match s {
            "?1" => Some(Item::Bool(true)),
            "?0" => Some(Item::Bool(false)),
            _ => None,
        },
        b'-' | b'0'..=b'9' => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            let ok = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && digits.bytes().next().is_some_and(|b| b.is_ascii_digit());
            ok.then_some(Item::Number)
        }
        c if c.is_ascii_alphabetic() || c == b'*' => s
            .bytes()
            .all(|b| is_tchar(b) || b == b':' || b == b'/')
            .then(|| Item::Token(s.to_string())),
        _ => None,
    }
}

fn is_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'*')
        && b.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*')
        })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits at `sep` outside double-quoted strings; `Err` on an unterminated string.
fn split_outside_quotes(s: &str, sep: char) -> Result<Vec<&str>, Unsplittable> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if in_quotes {
        return Err(Unsplittable);
    }
    out.push(&s[start..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(v: &str) -> Tier {
        classify([v]).tier
    }

    #[test]
    fn edge_hit_is_the_last_member() {
        assert_eq!(tier("edge-1; hit; ttl=30"), Tier::Edge);
        assert_eq!(
            tier("shield-1; fwd=uri-miss; stored, edge-1; hit; ttl=12"),
            Tier::Edge
        );
        assert_eq!(tier("shield-1; hit, edge-1; hit=?1"), Tier::Edge);
    }

    #[test]
    fn shield_hit_is_an_earlier_member() {
        assert_eq!(
            tier("shield-1; hit; ttl=30, edge-1; fwd=uri-miss; fwd-status=200; stored"),
            Tier::Shield
        );
        assert_eq!(
            tier("origin-cache; hit, shield-1; fwd=miss, edge-1; fwd=uri-miss"),
            Tier::Shield
        );
    }

    #[test]
    fn misses_and_absence_are_origin() {
        assert_eq!(
            tier("shield-1; fwd=uri-miss; stored, edge-1; fwd=uri-miss; stored"),
            Tier::Origin
        );
        assert_eq!(tier("edge-1; fwd=bypass"), Tier::Origin);
        assert_eq!(
            tier("edge-1; hit=?0; fwd=stale; fwd-status=304"),
            Tier::Origin
        );
        assert_eq!(classify([]).tier, Tier::Origin);
        assert_eq!(tier(""), Tier::Origin);
    }

    #[test]
    fn several_field_lines_concatenate() {
        let c = classify(["shield-1; hit", "edge-1; fwd=uri-miss"]);
        assert_eq!(c.tier, Tier::Shield);
        let c = classify(["shield-1; fwd=uri-miss", "edge-1; hit"]);
        assert_eq!(c.tier, Tier::Edge);
    }

    #[test]
    fn quoted_names_and_commas_inside_strings() {
        assert_eq!(
            tier(r#""Shield, Frankfurt"; hit, "edge \"1\""; fwd=uri-miss"#),
            Tier::Shield
        );
        assert_eq!(tier(r#"edge; hit; detail="a, b; c""#), Tier::Edge);
    }

    #[test]
    fn collapsed_misses_are_flagged() {
        let c = classify(["edge-1; fwd=uri-miss; collapsed"]);
        assert_eq!((c.tier, c.collapsed), (Tier::Origin, true));
        let c = classify(["edge-1; hit; collapsed"]);
        assert_eq!((c.tier, c.collapsed), (Tier::Edge, false));
        let c = classify(["edge-1; fwd=uri-miss; collapsed=?0"]);
        assert!(!c.collapsed);
    }

    #[test]
    fn malformed_headers() {
        // Unterminated string: nothing can be trusted.
        let c = classify([r#"shield; hit, "edge; hit"#]);
        assert_eq!((c.tier, c.malformed), (Tier::Origin, true));
        // A malformed member counts as a miss, positions are kept.
        let c = classify(["shield-1; hit, 123bad; hit"]);
        assert_eq!((c.tier, c.malformed), (Tier::Shield, true));
        let c = classify(["edge-1; hit=yes"]);
        assert_eq!((c.tier, c.malformed), (Tier::Origin, true));
        let c = classify(["edge-1; HIT"]);
        assert_eq!((c.tier, c.malformed), (Tier::Origin, true));
        let c = classify(["edge-1; hit; ttl=1@"]);
        assert_eq!((c.tier, c.malformed), (Tier::Edge, true));
        // Empty members are skipped, not malformed.
        let c = classify([" , edge-1; hit ,"]);
        assert_eq!((c.tier, c.malformed), (Tier::Edge, false));
        let c = classify(["; hit"]);
        assert_eq!((c.tier, c.malformed), (Tier::Origin, true));
    }
}
