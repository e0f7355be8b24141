//! Cache directives: `Cache-Control` (RFC 9111 §5.2) and the targeted fields
//! that take precedence at the edge, `CDN-Cache-Control` (RFC 9213) and
//! `Surrogate-Control` (Edge Architecture 1.0).
//!
//! Parsing never fails: malformed input is mapped to the most restrictive
//! reading and flagged in [`CacheControl::malformed`].
//!
//! - Directive names are case-insensitive; unknown directives are ignored.
//! - delta-seconds above 2^31 (or overflowing) become 2^31 (RFC 9111 §1.2.2).
//! - An invalid `max-age` / `s-maxage` (negative, non-numeric, missing) makes
//!   the response stale (`Some(0)`) (RFC 9111 §4.2.1: "caches are encouraged to
//!   consider responses that have invalid freshness information to be stale").
//! - A duplicated directive keeps the most restrictive value: the smallest
//!   `max-age`, `s-maxage`, `max-stale`, `stale-while-revalidate` and
//!   `stale-if-error`, the largest `min-fresh`; flags accumulate.
//! - `no-cache` / `private` with an empty or invalid field-name list, or more
//!   than 64 names, count as the unqualified (stronger) directive.
//! - Restrictive flags given an argument (`no-store=1`) still apply; permissive
//!   ones (`public=1`, `immutable=1`) are ignored.

mod lex;
mod sf;

use http::{HeaderMap, HeaderName, HeaderValue, header::CACHE_CONTROL};

use lex::list_members;
pub(crate) use lex::{delta_seconds, is_tchar, trim_ows};

/// `CDN-Cache-Control` (RFC 9213).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// `Surrogate-Control` (Edge Architecture 1.0).
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");

/// The value a delta-seconds saturates at (RFC 9111 §1.2.2): 2^31.
pub const DELTA_SECONDS_MAX: u64 = 1 << 31;

/// Most field names a qualified `no-cache` / `private` may list before it is
/// treated as unqualified.
const MAX_FIELD_NAMES: usize = 64;

/// The directives of one `Cache-Control`-like field (request or response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age`, in seconds (request or response).
    pub max_age: Option<u64>,
    /// `s-maxage`, in seconds (response).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` without field names (or with an unusable list).
    pub no_cache: bool,
    /// Field names of a qualified `no-cache="..."`, lowercased, sorted, unique.
    pub no_cache_fields: Vec<String>,
    /// `private` without field names (or with an unusable list).
    pub private: bool,
    /// Field names of a qualified `private="..."`, lowercased, sorted, unique.
    pub private_fields: Vec<String>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// Request `max-stale`: `Some(None)` accepts any staleness.
    pub max_stale: Option<Option<u64>>,
    /// Request `min-fresh`, in seconds.
    pub min_fresh: Option<u64>,
    /// Request `only-if-cached`.
    pub only_if_cached: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `stale-while-revalidate` (RFC 5861), in seconds.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861), in seconds.
    pub stale_if_error: Option<u64>,
    /// `must-understand` (RFC 9111 §5.2.2.3).
    pub must_understand: bool,
    /// Something in the field did not parse cleanly (the most restrictive
    /// reading was taken).
    pub malformed: bool,
}

/// Parses all field lines of one `Cache-Control` header (request or response).
pub fn parse<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> CacheControl {
    let mut cc = CacheControl::default();
    for value in values {
        for member in list_members(value.as_bytes()) {
            if member.bad {
                cc.malformed = true;
            }
            if let Some(name) = member.name {
                apply(&mut cc, &name, member.arg, Mode::List);
            }
        }
    }
    cc.finish();
    cc
}

/// Parses the `Cache-Control` header of `headers`.
pub fn cache_control(headers: &HeaderMap) -> CacheControl {
    parse(headers.get_all(CACHE_CONTROL))
}

/// The targeted field that takes precedence at the edge: `CDN-Cache-Control`
/// if it is present, valid and non-empty, else `Surrogate-Control` if it
/// carries `max-age`, `no-store`, `stale-while-revalidate` or
/// `stale-if-error` (only those are kept), else `None`.
///
/// A `CDN-Cache-Control` value replaces `Cache-Control` and `Expires`
/// entirely (RFC 9213 §2.2); a `Surrogate-Control` value only overrides the
/// directives it carries.
pub fn edge_control(headers: &HeaderMap) -> Option<CacheControl> {
    cdn_cache_control(headers).or_else(|| surrogate_control(headers))
}

/// `CDN-Cache-Control` parsed as an RFC 9651 Dictionary (RFC 9213 §2.1).
///
/// `None` when absent, empty or not a valid Dictionary (the field is then
/// ignored, RFC 9213 §2.1). Duplicate keys follow Dictionary semantics (the
/// last one wins); parameters are ignored; a `max-age` that is not a
/// non-negative Integer makes the response stale.
pub fn cdn_cache_control(headers: &HeaderMap) -> Option<CacheControl> {
    let mut joined = Vec::new();
    for (i, value) in headers.get_all(CDN_CACHE_CONTROL).iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    let members = sf::dictionary(&joined).ok()?;
    if members.is_empty() {
        return None;
    }
    let mut cc = CacheControl::default();
    for (name, arg) in members {
        apply(&mut cc, &name, arg, Mode::Structured);
    }
    cc.finish();
    Some(cc)
}

/// `Surrogate-Control`, reduced to `max-age`, `no-store`,
/// `stale-while-revalidate` and `stale-if-error`; `None` if it has none of
/// them. Directives targeted at a named surrogate (`max-age=60;edge1`) are
/// ignored, and `max-age=60+30` reads as `max-age=60`.
pub fn surrogate_control(headers: &HeaderMap) -> Option<CacheControl> {
    let mut full = CacheControl::default();
    let mut any = false;
    for value in headers.get_all(SURROGATE_CONTROL) {
        for member in list_members(value.as_bytes()) {
            if member.bad {
                full.malformed = true;
            }
            let Some(name) = member.name else { continue };
            let arg = match member.arg {
                Arg::Token(t) if t.contains(';') => continue,
                Arg::Token(t) if name == "max-age" => match t.split_once('+') {
                    Some((a, _)) => Arg::Token(a.to_owned()),
                    None => Arg::Token(t),
                },
                other => other,
            };
            if matches!(
                name.as_str(),
                "max-age" | "no-store" | "stale-while-revalidate" | "stale-if-error"
            ) {
                any = true;
                apply(&mut full, &name, arg, Mode::List);
            }
        }
    }
    any.then(|| CacheControl {
        max_age: full.max_age,
        no_store: full.no_store,
        stale_while_revalidate: full.stale_while_revalidate,
        stale_if_error: full.stale_if_error,
        malformed: full.malformed,
        ..CacheControl::default()
    })
}

impl CacheControl {
    fn finish(&mut self) {
        for list in [&mut self.no_cache_fields, &mut self.private_fields] {
            list.sort_unstable();
            list.dedup();
        }
        if self.no_cache_fields.len() > MAX_FIELD_NAMES {
            self.no_cache = true;
            self.no_cache_fields.clear();
            self.malformed = true;
        }
        if self.private_fields.len() > MAX_FIELD_NAMES {
            self.private = true;
            self.private_fields.clear();
            self.malformed = true;
        }
    }
}

/// A directive argument, as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// No argument (or sf-boolean true).
    Absent,
    /// sf-boolean false: the directive is not present.
    False,
    /// The token form (or sf-token).
    Token(String),
    /// The quoted-string form, unescaped (or sf-string).
    Quoted(String),
    /// An sf-integer.
    Integer(i64),
    /// Anything else (sf decimal, byte sequence, inner list, ...).
    Other,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// RFC 9110 list syntax (`Cache-Control`, `Surrogate-Control`): lenient.
    List,
    /// RFC 9651 Dictionary (`CDN-Cache-Control`): typed.
    Structured,
}

fn arg_delta(arg: &Arg, mode: Mode) -> Option<u64> {
    match (arg, mode) {
        (Arg::Token(s) | Arg::Quoted(s), Mode::List) => delta_seconds(s),
        (Arg::Integer(i), Mode::Structured) => {
            u64::try_from(*i).ok().map(|v| v.min(DELTA_SECONDS_MAX))
        }
        _ => None,
    }
}

/// Field names of a qualified `no-cache` / `private`; `None` if unusable.
fn arg_fields(arg: &Arg) -> Option<Vec<String>> {
    let list = match arg {
        Arg::Token(t) => t.as_str(),
        Arg::Quoted(q) => q.as_str(),
        _ => return None,
    };
    let mut out = Vec::new();
    for name in list.split(',') {
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() {
            continue;
        }
        if !name.bytes().all(is_tchar) || out.len() >= MAX_FIELD_NAMES {
            return None;
        }
        out.push(name.to_ascii_lowercase());
    }
    (!out.is_empty()).then_some(out)
}

/// Applies one directive to `cc`. In a Dictionary (`mode` Structured) a
/// later member replaces an earlier one; in a list, repeats narrow.
fn apply(cc: &mut CacheControl, name: &str, arg: Arg, mode: Mode) {
    if arg == Arg::False {
        return;
    }
    let has_arg = arg != Arg::Absent;
    let bad = &mut cc.malformed;
    match name {
        "max-age" => narrow(&mut cc.max_age, lifetime(&arg, mode, bad), mode, u64::min),
        "s-maxage" => narrow(&mut cc.s_maxage, lifetime(&arg, mode, bad), mode, u64::min),
        "no-store" => flag(&mut cc.no_store, has_arg, bad),
        "must-revalidate" => flag(&mut cc.must_revalidate, has_arg, bad),
        "proxy-revalidate" => flag(&mut cc.proxy_revalidate, has_arg, bad),
        "no-transform" => flag(&mut cc.no_transform, has_arg, bad),
        "only-if-cached" => flag(&mut cc.only_if_cached, has_arg, bad),
        "must-understand" => flag(&mut cc.must_understand, has_arg, bad),
        // Permissive: an argument makes them void.
        "public" | "immutable" if has_arg => *bad = true,
        "public" => cc.public = true,
        "immutable" => cc.immutable = true,
        "no-cache" => qualified(&mut cc.no_cache, &mut cc.no_cache_fields, &arg, mode, bad),
        "private" => qualified(&mut cc.private, &mut cc.private_fields, &arg, mode, bad),
        "max-stale" => max_stale(&mut cc.max_stale, &arg, mode, bad),
        "min-fresh" => narrow(&mut cc.min_fresh, window(&arg, mode, bad), mode, u64::max),
        "stale-while-revalidate" => {
            let v = window(&arg, mode, bad);
            narrow(&mut cc.stale_while_revalidate, v, mode, u64::min);
        }
        "stale-if-error" => narrow(
            &mut cc.stale_if_error,
            window(&arg, mode, bad),
            mode,
            u64::min,
        ),
        _ => {}
    }
}

/// A `max-age` / `s-maxage` value: an invalid one reads as 0 (stale).
fn lifetime(arg: &Arg, mode: Mode, bad: &mut bool) -> Option<u64> {
    Some(arg_delta(arg, mode).unwrap_or_else(|| {
        *bad = true;
        0
    }))
}

/// A `min-fresh` or stale window: an invalid one is ignored.
fn window(arg: &Arg, mode: Mode, bad: &mut bool) -> Option<u64> {
    let v = arg_delta(arg, mode);
    *bad |= v.is_none();
    v
}

/// Sets `slot` to `v`: replacing it in a Dictionary, else keeping the more
/// restrictive of the two (`pick`).
fn narrow(slot: &mut Option<u64>, v: Option<u64>, mode: Mode, pick: fn(u64, u64) -> u64) {
    let Some(v) = v else { return };
    *slot = match *slot {
        Some(cur) if mode == Mode::List => Some(pick(cur, v)),
        _ => Some(v),
    };
}

/// A restrictive flag: it applies even with an (invalid) argument.
fn flag(slot: &mut bool, has_arg: bool, bad: &mut bool) {
    *bad |= has_arg;
    *slot = true;
}

/// `no-cache` / `private`: unqualified, or with field names (an unusable
/// list counts as unqualified).
fn qualified(flag: &mut bool, fields: &mut Vec<String>, arg: &Arg, mode: Mode, bad: &mut bool) {
    if mode == Mode::Structured {
        *flag = false;
        fields.clear();
    }
    if *arg == Arg::Absent {
        *flag = true;
    } else if let Some(list) = arg_fields(arg) {
        fields.extend(list);
    } else {
        *bad = true;
        *flag = true;
    }
}

/// `max-stale`: without an argument any staleness; repeats keep the smallest
/// bound.
fn max_stale(slot: &mut Option<Option<u64>>, arg: &Arg, mode: Mode, bad: &mut bool) {
    let new = if *arg == Arg::Absent {
        None
    } else {
        match arg_delta(arg, mode) {
            Some(v) => Some(v),
            None => {
                *bad = true;
                return;
            }
        }
    };
    *slot = match (*slot, new) {
        (_, new) if mode == Mode::Structured => Some(new),
        (None | Some(None), new) => Some(new),
        (Some(Some(a)), Some(b)) => Some(Some(a.min(b))),
        (Some(Some(a)), None) => Some(Some(a)),
    };
}

#[cfg(test)]
mod tests;
