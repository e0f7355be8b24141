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

use http::{HeaderMap, HeaderName, HeaderValue, header::CACHE_CONTROL};

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

/// One member of a comma-separated directive list.
pub(crate) struct Member {
    /// The lowercased directive name, `None` if it was not a token.
    pub(crate) name: Option<String>,
    pub(crate) arg: Arg,
    /// Syntax error somewhere in this member.
    pub(crate) bad: bool,
}

pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

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
                i += 1;
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
                bad |= !closed;
                while i < n && is_ows(s[i]) {
                    i += 1;
                }
                if i < n && s[i] != b',' {
                    bad = true;
                    while i < n && s[i] != b',' {
                        i += 1;
                    }
                }
                Arg::Quoted(String::from_utf8_lossy(&buf).into_owned())
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

fn min_opt(slot: &mut Option<u64>, v: u64) {
    *slot = Some(slot.map_or(v, |cur| cur.min(v)));
}

fn apply(cc: &mut CacheControl, name: &str, arg: Arg, mode: Mode) {
    if arg == Arg::False {
        return;
    }
    // Dictionary semantics: a later member replaces an earlier one.
    let replace = mode == Mode::Structured;
    let has_arg = arg != Arg::Absent;
    match name {
        "max-age" | "s-maxage" => {
            let slot = if name == "max-age" {
                &mut cc.max_age
            } else {
                &mut cc.s_maxage
            };
            let v = arg_delta(&arg, mode).unwrap_or_else(|| {
                cc.malformed = true;
                0
            });
            if replace {
                *slot = Some(v);
            } else {
                min_opt(slot, v);
            }
        }
        "no-store" | "must-revalidate" | "proxy-revalidate" | "no-transform" | "only-if-cached"
        | "must-understand" => {
            cc.malformed |= has_arg;
            *match name {
                "no-store" => &mut cc.no_store,
                "must-revalidate" => &mut cc.must_revalidate,
                "proxy-revalidate" => &mut cc.proxy_revalidate,
                "no-transform" => &mut cc.no_transform,
                "only-if-cached" => &mut cc.only_if_cached,
                _ => &mut cc.must_understand,
            } = true;
        }
        "public" | "immutable" => {
            if has_arg {
                cc.malformed = true;
            } else if name == "public" {
                cc.public = true;
            } else {
                cc.immutable = true;
            }
        }
        "no-cache" | "private" => {
            let (flag, fields) = if name == "no-cache" {
                (&mut cc.no_cache, &mut cc.no_cache_fields)
            } else {
                (&mut cc.private, &mut cc.private_fields)
            };
            if replace {
                *flag = false;
                fields.clear();
            }
            if !has_arg {
                *flag = true;
            } else if let Some(list) = arg_fields(&arg) {
                fields.extend(list);
            } else {
                cc.malformed = true;
                *flag = true;
            }
        }
        "max-stale" => {
            let new = if has_arg {
                match arg_delta(&arg, mode) {
                    Some(v) => Some(v),
                    None => {
                        cc.malformed = true;
                        return;
                    }
                }
            } else {
                None
            };
            cc.max_stale = match (cc.max_stale, new) {
                (_, new) if replace => Some(new),
                (None, new) => Some(new),
                (Some(None), new) => Some(new),
                (Some(Some(a)), Some(b)) => Some(Some(a.min(b))),
                (Some(Some(a)), None) => Some(Some(a)),
            };
        }
        "min-fresh" => match arg_delta(&arg, mode) {
            Some(v) if replace => cc.min_fresh = Some(v),
            Some(v) => cc.min_fresh = Some(cc.min_fresh.map_or(v, |cur| cur.max(v))),
            None => cc.malformed = true,
        },
        "stale-while-revalidate" | "stale-if-error" => {
            let slot = if name == "stale-if-error" {
                &mut cc.stale_if_error
            } else {
                &mut cc.stale_while_revalidate
            };
            match arg_delta(&arg, mode) {
                Some(v) if replace => *slot = Some(v),
                Some(v) => min_opt(slot, v),
                None => cc.malformed = true,
            }
        }
        _ => {}
    }
}

/// A strict RFC 9651 Dictionary parser, enough to validate a field and read
/// its members' bare items.
mod sf {
    use super::Arg;

    pub(super) fn dictionary(s: &[u8]) -> Result<Vec<(String, Arg)>, ()> {
        let mut p = Parser { s, i: 0 };
        let mut out: Vec<(String, Arg)> = Vec::new();
        p.skip_sp();
        if p.at_end() {
            return Ok(out);
        }
        loop {
            let key = p.key()?;
            let arg = if p.eat(b'=') {
                if p.peek() == Some(b'(') {
                    p.inner_list()?;
                    Arg::Other
                } else {
                    p.bare_item()?
                }
            } else {
                Arg::Absent
            };
            p.parameters()?;
            out.retain(|(k, _)| *k != key);
            out.push((key, arg));
            p.skip_ows();
            if p.at_end() {
                return Ok(out);
            }
            if !p.eat(b',') {
                return Err(());
            }
            p.skip_ows();
            if p.at_end() {
                return Err(());
            }
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn at_end(&self) -> bool {
            self.i >= self.s.len()
        }
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
        }
        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }
        fn key(&mut self) -> Result<String, ()> {
            let start = self.i;
            match self.peek() {
                Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
                _ => return Err(()),
            }
            while let Some(c) = self.peek() {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
                    self.i += 1;
                } else {
                    break;
                }
            }
            Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
        }
        fn parameters(&mut self) -> Result<(), ()> {
            while self.eat(b';') {
                self.skip_sp();
                self.key()?;
                if self.eat(b'=') {
                    self.bare_item()?;
                }
            }
            Ok(())
        }
        fn inner_list(&mut self) -> Result<(), ()> {
            if !self.eat(b'(') {
                return Err(());
            }
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    return self.parameters();
                }
                self.bare_item()?;
                self.parameters()?;
                match self.peek() {
                    Some(b' ' | b')') => {}
                    _ => return Err(()),
                }
            }
        }
        fn bare_item(&mut self) -> Result<Arg, ()> {
            match self.peek().ok_or(())? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string().map(Arg::Quoted),
                b'*' | b'A'..=b'Z' | b'a'..=b'z' => Ok(Arg::Token(self.token())),
                b':' => self.bytes().map(|()| Arg::Other),
                b'?' => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'1') => {
                            self.i += 1;
                            Ok(Arg::Absent)
                        }
                        Some(b'0') => {
                            self.i += 1;
                            Ok(Arg::False)
                        }
                        _ => Err(()),
                    }
                }
                b'@' => {
                    self.i += 1;
                    match self.number()? {
                        Arg::Integer(_) => Ok(Arg::Other),
                        _ => Err(()),
                    }
                }
                b'%' => self.display_string().map(|()| Arg::Other),
                _ => Err(()),
            }
        }
        fn number(&mut self) -> Result<Arg, ()> {
            let neg = self.eat(b'-');
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let int_len = self.i - start;
            if int_len == 0 {
                return Err(());
            }
            if self.eat(b'.') {
                let fstart = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let frac = self.i - fstart;
                if int_len > 12 || frac == 0 || frac > 3 {
                    return Err(());
                }
                return Ok(Arg::Other);
            }
            if int_len > 15 {
                return Err(());
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ())?;
            let v: i64 = digits.parse().map_err(|_| ())?;
            Ok(Arg::Integer(if neg { -v } else { v }))
        }
        fn string(&mut self) -> Result<String, ()> {
            self.i += 1;
            let mut out = String::new();
            loop {
                let c = self.peek().ok_or(())?;
                self.i += 1;
                match c {
                    b'\\' => {
                        let e = self.peek().ok_or(())?;
                        if e != b'"' && e != b'\\' {
                            return Err(());
                        }
                        out.push(char::from(e));
                        self.i += 1;
                    }
                    b'"' => return Ok(out),
                    0x20..=0x7e => out.push(char::from(c)),
                    _ => return Err(()),
                }
            }
        }
        fn token(&mut self) -> String {
            let start = self.i;
            self.i += 1;
            while self
                .peek()
                .is_some_and(|c| super::is_tchar(c) || c == b':' || c == b'/')
            {
                self.i += 1;
            }
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
        }
        fn bytes(&mut self) -> Result<(), ()> {
            self.i += 1;
            loop {
                match self.peek().ok_or(())? {
                    b':' => {
                        self.i += 1;
                        return Ok(());
                    }
                    c if c.is_ascii_alphanumeric() || b"+/=".contains(&c) => self.i += 1,
                    _ => return Err(()),
                }
            }
        }
        fn display_string(&mut self) -> Result<(), ()> {
            self.i += 1;
            if !self.eat(b'"') {
                return Err(());
            }
            loop {
                match self.peek().ok_or(())? {
                    b'"' => {
                        self.i += 1;
                        return Ok(());
                    }
                    b'%' => {
                        let hex = self.s.get(self.i + 1..self.i + 3).ok_or(())?;
                        if !hex
                            .iter()
                            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
                        {
                            return Err(());
                        }
                        self.i += 3;
                    }
                    0x20..=0x7e => self.i += 1,
                    _ => return Err(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
