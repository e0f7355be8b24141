//! One reading of a request's target and authority. Everything that decides
//! about a request (the route, the plugins, the cache key) and the origin
//! that receives it see the path and host this module produces, never the
//! bytes the client sent.
//!
//! A leaf: pure functions on text, no I/O, nothing else of the crate. The
//! rules follow RFC 3986 and Envoy's path normalisation
//! (`normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`):
//!
//! - dot-segments are removed (RFC 3986 §5.2.4); `..` never climbs above `/`;
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded, every other escape is kept with upper-case hex;
//! - an escape that is not two hex digits, NUL or any other control byte (raw
//!   or encoded), a raw `\`, and a `.` or `..` segment spelled with an encoded
//!   dot are refused;
//! - encoded `/` and `\` (`%2F`, `%5C`) are refused unless the route keeps
//!   them ([`EscapedSlashes::Keep`]); kept, they stay encoded, so they never
//!   separate segments for routing, the key or the origin;
//! - `//` is merged only where the route asks ([`PathRules::merge_slashes`]),
//!   but a path never starts with `//` (a leading run of slashes is one).
//!
//! The result is a fixed point: normalising a normalised path changes nothing.

use std::borrow::Cow;

/// What a route does with `%2F` and `%5C` in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// 400 (the default): an origin that decodes them would see other
    /// segments than the route and the key did.
    #[default]
    Reject,
    /// Forwarded as they are (hex in upper case), for origins that need them.
    Keep,
}

/// How a path is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathRules {
    /// Merge runs of `/` into one.
    pub merge_slashes: bool,
    /// What to do with encoded slashes.
    pub escaped_slashes: EscapedSlashes,
}

impl PathRules {
    /// The rules before a route is known (and for a plugin's rewrite or a
    /// purge URL): escapes of `/` kept, so they separate no segments, and
    /// `//` left for the route to merge or not.
    pub const BEFORE_ROUTE: PathRules = PathRules {
        merge_slashes: false,
        escaped_slashes: EscapedSlashes::Keep,
    };
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an absolute path.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// NUL or another control byte, raw or percent-encoded.
    #[error("control character in path")]
    Control,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding in path")]
    BadEscape,
    /// `%2F` or `%5C` where the route refuses them.
    #[error("encoded '/' or '\\' in path")]
    EncodedSlash,
    /// A `.` or `..` segment spelled with `%2E`.
    #[error("encoded dot segment in path")]
    EncodedDotSegment,
    /// A raw backslash, which some origins read as `/`.
    #[error("backslash in path")]
    Backslash,
}

/// The normalised form of `path` (no query), borrowed when it is already
/// normal.
pub fn normalize_path(path: &str, rules: PathRules) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(bytes, rules.merge_slashes) {
        return Ok(Cow::Borrowed(path));
    }
    let mut segments: Vec<Vec<u8>> = Vec::new();
    // The last segment was `.` or `..`: the result ends with `/`.
    let mut trailing = false;
    let raw_segments: Vec<&[u8]> = bytes[1..].split(|&b| b == b'/').collect();
    let last = raw_segments.len() - 1;
    for (i, raw) in raw_segments.into_iter().enumerate() {
        let (seg, encoded_dot) = decode_segment(raw, rules.escaped_slashes)?;
        match seg.as_slice() {
            b"." | b".." if encoded_dot => return Err(PathError::EncodedDotSegment),
            b"." => trailing = true,
            b".." => {
                segments.pop();
                trailing = true;
            }
            // A path never starts with `//`: an origin building a URL from
            // it would read `//evil.example/x` as another host.
            b"" if (rules.merge_slashes || segments.is_empty()) && i != last => {}
            _ => {
                segments.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    for seg in &segments {
        out.push(b'/');
        out.extend_from_slice(seg);
    }
    if out.is_empty() || (trailing && out.last() != Some(&b'/')) {
        out.push(b'/');
    }
    // Only ASCII went in or came out of escapes; other bytes were copied.
    let out = String::from_utf8(out).map_err(|_| PathError::BadEscape)?;
    Ok(if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    })
}

/// Whether a path needs no work: no escape, backslash, control byte or dot
/// segment (a `/.` is taken as one, the slow path sorts it out), no leading
/// `//`, and no `//` at all when slashes are merged. The HTTP/1 front loop
/// asks it (with `merge_slashes`) before it answers a request itself.
pub fn is_normal(bytes: &[u8], merge_slashes: bool) -> bool {
    if bytes.starts_with(b"//") {
        return false;
    }
    let mut prev = 0u8;
    for &b in bytes {
        if !PATH_BYTE[usize::from(b)]
            || (prev == b'/' && (b == b'.' || (merge_slashes && b == b'/')))
        {
            return false;
        }
        prev = b;
    }
    true
}

/// Bytes a normal path may hold: not `%`, `\`, a control byte or DEL.
static PATH_BYTE: [bool; 256] = {
    let mut t = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = false;
        b += 1;
    }
    t[0x7f] = false;
    t[b'%' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// One segment with its escapes decoded as the module doc says, and whether
/// a `.` in it was encoded.
fn decode_segment(raw: &[u8], slashes: EscapedSlashes) -> Result<(Vec<u8>, bool), PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut encoded_dot = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).and_then(|c| hex(*c)),
                    raw.get(i + 2).and_then(|c| hex(*c)),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let c = h << 4 | l;
                if c < 0x20 || c == 0x7f {
                    return Err(PathError::Control);
                }
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    encoded_dot |= c == b'.';
                    out.push(c);
                } else {
                    if matches!(c, b'/' | b'\\') && slashes == EscapedSlashes::Reject {
                        return Err(PathError::EncodedSlash);
                    }
                    out.extend_from_slice(&[b'%', HEX[usize::from(h)], HEX[usize::from(l)]]);
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0..0x20 | 0x7f => return Err(PathError::Control),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok((out, encoded_dot))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A request's host and port, as routing, the key and the origin use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lower case, without a trailing dot; IPv6 literals keep their brackets.
    pub host: String,
    /// The port, when it is not the scheme's default.
    pub port: Option<u16>,
}

impl Authority {
    /// `host` or `host:port`: the `Host` forwarded and the key's authority.
    pub fn text(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Why a host was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Nothing there.
    #[error("empty host")]
    Empty,
    /// A byte no host name has (user info, spaces, percent-escapes, ...).
    #[error("invalid character in host")]
    Invalid,
    /// An IP literal that does not parse.
    #[error("invalid IP literal in host")]
    BadLiteral,
    /// A port that is not a number from 1 to 65535.
    #[error("invalid port in host")]
    BadPort,
    /// Longer than 255 bytes, or an empty label.
    #[error("malformed host name")]
    Malformed,
}

/// Parses a `Host` value or an authority (`host[:port]`, `[v6][:port]`).
/// Host names are letters, digits, `-`, `_` and `.`: nothing else that
/// RFC 3986 would allow in a reg-name (sub-delims, escapes, user info) is a
/// name any origin serves, and each is a way to read one host two ways.
/// `default_port` (80 or 443) is dropped.
pub fn parse_authority(raw: &[u8], default_port: u16) -> Result<Authority, HostError> {
    if raw.is_empty() {
        return Err(HostError::Empty);
    }
    let (host, port) = if raw[0] == b'[' {
        let end = raw
            .iter()
            .position(|&b| b == b']')
            .ok_or(HostError::BadLiteral)?;
        let literal = std::str::from_utf8(&raw[1..end]).map_err(|_| HostError::BadLiteral)?;
        let ip: std::net::Ipv6Addr = literal.parse().map_err(|_| HostError::BadLiteral)?;
        let rest = &raw[end + 1..];
        let port = match rest {
            [] => None,
            [b':', digits @ ..] => Some(digits),
            _ => return Err(HostError::Invalid),
        };
        (format!("[{ip}]"), port)
    } else {
        let (name, port) = match raw.iter().rposition(|&b| b == b':') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (raw, None),
        };
        if name.is_empty() {
            return Err(HostError::Empty);
        }
        if !name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(HostError::Invalid);
        }
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() || name.len() > 255 || name.split(|&b| b == b'.').any(<[u8]>::is_empty) {
            return Err(HostError::Malformed);
        }
        let mut host = String::from_utf8(name.to_vec()).map_err(|_| HostError::Invalid)?;
        host.make_ascii_lowercase();
        (host, port)
    };
    let port = match port {
        None | Some([]) => None,
        Some(digits) => {
            if digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(HostError::BadPort);
            }
            let n: u32 = digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
            match u16::try_from(n) {
                Ok(0) | Err(_) => return Err(HostError::BadPort),
                Ok(p) if p == default_port => None,
                Ok(p) => Some(p),
            }
        }
    };
    Ok(Authority { host, port })
}

/// The default port of a scheme (`https`: 443, anything else: 80).
pub fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize_path(p, PathRules::default()).map(Cow::into_owned)
    }

    fn norm_with(p: &str, merge: bool, keep: bool) -> Result<String, PathError> {
        let rules = PathRules {
            merge_slashes: merge,
            escaped_slashes: if keep {
                EscapedSlashes::Keep
            } else {
                EscapedSlashes::Reject
            },
        };
        normalize_path(p, rules).map(Cow::into_owned)
    }

    #[test]
    fn dot_segments_rfc3986() {
        for (input, want) in [
            ("/", "/"),
            ("/a/b/c", "/a/b/c"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/images/../api/secret", "/api/secret"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/..", "/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/a//../b", "/a/b"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a/..b/c", "/a/..b/c"),
            ("/a/.../c", "/a/.../c"),
            ("/a//b", "/a//b"),
        ] {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(norm("/%41%62c").as_deref(), Ok("/Abc"));
        assert_eq!(norm("/a%7e%2d%5F").as_deref(), Ok("/a~-_"));
        assert_eq!(norm("/a%20b").as_deref(), Ok("/a%20b"));
        assert_eq!(norm("/a%c3%a9").as_deref(), Ok("/a%C3%A9"));
        assert_eq!(norm("/a%25").as_deref(), Ok("/a%25"));
        assert_eq!(norm("/a%"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%2"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(norm("/a%00"), Err(PathError::Control));
        assert_eq!(norm("/a%0a"), Err(PathError::Control));
        assert_eq!(norm("/a%7F"), Err(PathError::Control));
        assert_eq!(norm("/a\x01"), Err(PathError::Control));
    }

    #[test]
    fn encoded_slashes_and_dots() {
        assert_eq!(norm("/images/..%2Faccount"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a%2fb"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a%5Cb"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a\\b"), Err(PathError::Backslash));
        assert_eq!(norm("/a/%2e%2e/b"), Err(PathError::EncodedDotSegment));
        assert_eq!(norm("/a/.%2E/b"), Err(PathError::EncodedDotSegment));
        assert_eq!(norm("/a/%2e/b"), Err(PathError::EncodedDotSegment));
        assert_eq!(norm("/a/%2e%2e%2e/b").as_deref(), Ok("/a/.../b"));
        assert_eq!(norm("/a/x%2e/b").as_deref(), Ok("/a/x./b"));
        assert_eq!(
            norm_with("/images/..%2faccount", false, true).as_deref(),
            Ok("/images/..%2Faccount")
        );
        assert_eq!(norm_with("/a/%2F/../b", false, true).as_deref(), Ok("/a/b"));
    }

    #[test]
    fn merging_slashes() {
        assert_eq!(norm_with("//a///b//", true, false).as_deref(), Ok("/a/b/"));
        assert_eq!(norm_with("//", true, false).as_deref(), Ok("/"));
        assert_eq!(norm_with("/a//./b", true, false).as_deref(), Ok("/a/b"));
        // A leading run of slashes is one, merged or not.
        assert_eq!(norm_with("//", false, false).as_deref(), Ok("/"));
        assert_eq!(
            norm_with("//evil.example/x", false, false).as_deref(),
            Ok("/evil.example/x")
        );
        assert_eq!(
            norm("/..//evil.example/x").as_deref(),
            Ok("/evil.example/x")
        );
        assert_eq!(norm("/a/..//b").as_deref(), Ok("/b"));
        assert_eq!(norm("/.//a").as_deref(), Ok("/a"));
        assert_eq!(norm("/a//").as_deref(), Ok("/a//"));
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for p in ["/", "/a/b", "/images/1.jpg", "/a//b", "/.well-known/x"] {
            assert!(matches!(
                normalize_path(p, PathRules::default()),
                Ok(Cow::Borrowed(_))
            ));
        }
        assert_eq!(norm("x"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn authorities() {
        let a = |s: &str, port| parse_authority(s.as_bytes(), port);
        assert_eq!(
            a("Shop.Example", 80),
            Ok(Authority {
                host: "shop.example".into(),
                port: None
            })
        );
        assert_eq!(
            a("shop.example:80", 80).map(|a| a.text()).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            a("shop.example:8080", 80).map(|a| a.text()).as_deref(),
            Ok("shop.example:8080")
        );
        assert_eq!(
            a("shop.example:443", 443).map(|a| a.text()).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            a("shop.example.", 80).map(|a| a.text()).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            a("shop.example:", 80).map(|a| a.text()).as_deref(),
            Ok("shop.example")
        );
        assert_eq!(
            a("[::1]:8080", 80).map(|a| a.text()).as_deref(),
            Ok("[::1]:8080")
        );
        assert_eq!(a("[0:0::1]", 80).map(|a| a.text()).as_deref(), Ok("[::1]"));
        assert_eq!(
            a("127.0.0.1:9", 80).map(|a| a.text()).as_deref(),
            Ok("127.0.0.1:9")
        );
        assert_eq!(a("", 80), Err(HostError::Empty));
        assert_eq!(a(":80", 80), Err(HostError::Empty));
        assert_eq!(a("user@shop.example", 80), Err(HostError::Invalid));
        assert_eq!(a("shop.example evil", 80), Err(HostError::Invalid));
        assert_eq!(a("shop%2eexample", 80), Err(HostError::Invalid));
        assert_eq!(a("a:b:c", 80), Err(HostError::Invalid));
        assert_eq!(a("shop.example:99999", 80), Err(HostError::BadPort));
        assert_eq!(a("shop.example:0", 80), Err(HostError::BadPort));
        assert_eq!(a("shop.example:8x", 80), Err(HostError::BadPort));
        assert_eq!(a("a..b", 80), Err(HostError::Malformed));
        assert_eq!(a(".", 80), Err(HostError::Malformed));
        assert_eq!(a("[::1", 80), Err(HostError::BadLiteral));
        assert_eq!(a("[zz]", 80), Err(HostError::BadLiteral));
        assert_eq!(a("[::1]x", 80), Err(HostError::Invalid));
    }
}
mod proptests;
