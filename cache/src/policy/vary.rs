//! `Vary` (RFC 9111 §4.1): which request fields select a stored response,
//! and the secondary key made of their normalised values.

use http::header::{ACCEPT_ENCODING, VARY};
use http::{HeaderMap, HeaderName};

use crate::directives::{self, trim_ows};

/// Most distinct `Vary` fields before the response is treated as `Vary: *`.
pub(crate) const MAX_VARY_FIELDS: usize = 64;

/// The `Vary` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// No `Vary` (or only empty members).
    None,
    /// `Vary: *`, an invalid field name, or more than [`MAX_VARY_FIELDS`]
    /// fields: never matches, so never stored.
    Star,
    /// These request fields select the response: lowercased, sorted, unique.
    Fields(Vec<HeaderName>),
}

/// Parses the response's `Vary` fields.
pub fn vary(resp_headers: &HeaderMap) -> Vary {
    let mut names: Vec<HeaderName> = Vec::new();
    let tidy = |names: &mut Vec<HeaderName>| {
        names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
    };
    for value in resp_headers.get_all(VARY) {
        for member in value.as_bytes().split(|&c| c == b',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            if member == b"*" || !member.iter().all(|&c| directives::is_tchar(c)) {
                return Vary::Star;
            }
            match HeaderName::from_bytes(member) {
                Ok(name) => names.push(name),
                Err(_) => return Vary::Star,
            }
            if names.len() > 4 * MAX_VARY_FIELDS {
                tidy(&mut names);
                if names.len() > MAX_VARY_FIELDS {
                    return Vary::Star;
                }
            }
        }
    }
    tidy(&mut names);
    match names.len() {
        0 => Vary::None,
        n if n > MAX_VARY_FIELDS => Vary::Star,
        _ => Vary::Fields(names),
    }
}

/// The secondary cache key for a request: for each field in `fields` (as
/// returned by [`vary`]), its normalised value. An absent field differs from
/// an empty one. Values are normalised: several lines combined with `", "`,
/// list members trimmed, empty members dropped, whitespace runs collapsed,
/// case kept; `Accept-Encoding` becomes [`normalize_accept_encoding`].
/// Bytes outside printable ASCII (and `%`) are percent-escaped, so distinct
/// values never collide.
pub(crate) fn vary_key(fields: &[HeaderName], req_headers: &HeaderMap) -> String {
    let mut out = String::new();
    for field in fields {
        out.push_str(field.as_str());
        let values = req_headers.get_all(field);
        if values.iter().next().is_none() {
            out.push('\n');
            continue;
        }
        out.push(':');
        if field == ACCEPT_ENCODING {
            let joined: Vec<String> = values
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            out.push_str(normalize_accept_encoding(&joined.join(",")));
        } else {
            let mut first = true;
            for value in values {
                for member in value.as_bytes().split(|&c| c == b',') {
                    let member = trim_ows(member);
                    if member.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    let mut in_space = false;
                    for &c in member {
                        if c == b' ' || c == b'\t' {
                            in_space = true;
                            continue;
                        }
                        if in_space {
                            out.push(' ');
                            in_space = false;
                        }
                        if (0x21..=0x7e).contains(&c) && c != b'%' {
                            out.push(char::from(c));
                        } else {
                            out.push_str(&format!("%{c:02X}"));
                        }
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A qvalue in thousandths; `None` if invalid.
pub(super) fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac_val = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_val),
        "1" if frac_val == 0 => Some(1000),
        _ => None,
    }
}

/// Normalises an `Accept-Encoding` value to the coding the cache would store
/// for it: `"br"`, `"gzip"` or `"identity"`. The acceptable coding with the
/// higher qvalue wins (`br` on a tie); `q=0` excludes; `*` covers codings not
/// listed; an invalid qvalue excludes its coding; a coding listed twice takes
/// its lowest qvalue.
pub(crate) fn normalize_accept_encoding(value: &str) -> &'static str {
    let (mut br, mut gzip, mut star): (Option<u16>, Option<u16>, Option<u16>) = (None, None, None);
    for member in value.split(',') {
        let mut parts = member.split(';');
        let coding = parts.next().unwrap_or("").trim_matches([' ', '\t']);
        if coding.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim_matches([' ', '\t']).eq_ignore_ascii_case("q")
            {
                q = qvalue(v.trim_matches([' ', '\t'])).unwrap_or(0);
            }
        }
        let slot = if coding.eq_ignore_ascii_case("br") {
            &mut br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |cur| cur.min(q)));
    }
    let br = br.or(star).unwrap_or(0);
    let gzip = gzip.or(star).unwrap_or(0);
    if br == 0 && gzip == 0 {
        "identity"
    } else if br >= gzip {
        "br"
    } else {
        "gzip"
    }
}
