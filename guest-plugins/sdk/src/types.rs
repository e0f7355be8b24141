//! The SDK's plain Rust types and their helpers: the request and response
//! views a plugin reads (borrowing the host's wire buffers), and the text
//! helpers plugins share (cookies, queries, percent-decoding, header
//! checks). What a plugin hands back (edits, early responses, the action)
//! is in `types/edits.rs`.

use std::borrow::Cow;

use crate::wire;

mod edits;

use edits::apply_header_ops;
pub use edits::{Action, EarlyResponse, Edits, HeaderOp, RequestEdits, ResponseEdits};

/// Header fields in the host's wire layout (`wit/v0.2/plugin.wit`): each
/// field a length-prefixed name and value. Borrowed from the host's buffer
/// when a plugin runs, owned when a test builds a [`Request`] or
/// [`Response`]. Lookups walk the fields without copying them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    raw: Cow<'a, [u8]>,
}

impl<'a> Fields<'a> {
    /// Fields over a `fields` block's entries (without its length prefix).
    pub(crate) fn borrowed(raw: &'a [u8]) -> Self {
        Fields {
            raw: Cow::Borrowed(raw),
        }
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> FieldsIter<'_> {
        FieldsIter { rest: &self.raw }
    }

    /// The value of the first field with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        let mut rest: &[u8] = &self.raw;
        next_named(&mut rest, name)
    }

    /// The values of every field with this name (case-insensitive), in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let mut rest: &'s [u8] = &self.raw;
        std::iter::from_fn(move || next_named(&mut rest, name))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Adds a field (the name is lower-cased).
    pub fn push(&mut self, name: &str, value: &str) {
        let raw = self.raw.to_mut();
        wire::put_str(raw, &name.to_ascii_lowercase());
        wire::put_str(raw, value);
    }

    /// The fields as owned `(name, value)` pairs.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// Replaces the fields with these pairs.
    fn set_all(&mut self, fields: &[(String, String)]) {
        let mut raw = Vec::new();
        for (n, v) in fields {
            wire::put_str(&mut raw, n);
            wire::put_str(&mut raw, v);
        }
        self.raw = Cow::Owned(raw);
    }

    /// Fields that own their bytes.
    pub fn into_owned(self) -> Fields<'static> {
        Fields {
            raw: Cow::Owned(self.raw.into_owned()),
        }
    }
}

/// The value of the next field named `name` (case-insensitive) in the
/// encoded fields `rest`, which it advances past that field.
fn next_named<'s>(rest: &mut &'s [u8], name: &str) -> Option<&'s str> {
    while !rest.is_empty() {
        let n = wire::take_bytes(rest);
        let v = wire::take_bytes(rest);
        if n.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(wire::text(v));
        }
    }
    None
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'f> IntoIterator for &'f Fields<'_> {
    type Item = (&'f str, &'f str);
    type IntoIter = FieldsIter<'f>;

    fn into_iter(self) -> FieldsIter<'f> {
        self.iter()
    }
}

/// An iterator over [`Fields`], yielding `(name, value)`.
#[derive(Clone, Debug)]
pub struct FieldsIter<'f> {
    rest: &'f [u8],
}

impl<'f> Iterator for FieldsIter<'f> {
    type Item = (&'f str, &'f str);

    fn next(&mut self) -> Option<(&'f str, &'f str)> {
        if self.rest.is_empty() {
            return None;
        }
        let n = wire::take_bytes(&mut self.rest);
        let v = wire::take_bytes(&mut self.rest);
        Some((wire::text(n), wire::text(v)))
    }
}

/// The request as a plugin sees it (after earlier plugins in the chain edited
/// it). While a plugin runs, every part borrows from the buffer the host
/// passed in: reading it copies nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request<'a> {
    pub(crate) method: Cow<'a, str>,
    pub(crate) scheme: Cow<'a, str>,
    pub(crate) host: Cow<'a, str>,
    pub(crate) path: Cow<'a, str>,
    pub(crate) query: Option<Cow<'a, str>>,
    pub(crate) headers: Fields<'a>,
}

impl Request<'static> {
    /// A request with this method and target (`/path` or `/path?query`),
    /// scheme `https`, host `localhost` and no headers; for tests.
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(Cow::Owned(q.to_owned()))),
            None => (target, None),
        };
        Request {
            method: Cow::Owned(method.to_owned()),
            scheme: Cow::Borrowed("https"),
            host: Cow::Borrowed("localhost"),
            path: Cow::Owned(path.to_owned()),
            query,
            headers: Fields::default(),
        }
    }
}

impl<'a> Request<'a> {
    /// Builder: adds a header field (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Builder: sets the host.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Cow::Owned(host.to_owned());
        self
    }

    /// Builder: sets the scheme (`http` or `https`).
    pub fn with_scheme(mut self, scheme: &str) -> Self {
        self.scheme = Cow::Owned(scheme.to_owned());
        self
    }

    /// Method, upper case (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// `http` or `https`: how the client reached the edge.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Host the client asked for, without the port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Path, starting with `/`, percent-encoded as received.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Query string without the leading `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// Every header field as `(name, value)`, names in lower case, in the
    /// order received.
    pub fn headers(&self) -> FieldsIter<'_> {
        self.headers.iter()
    }

    /// The header fields.
    pub fn fields(&self) -> &Fields<'a> {
        &self.headers
    }

    /// The value of the first header field with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The values of every header field with this name (case-insensitive), in order.
    pub fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers.get_all(name)
    }

    /// Every cookie as `(name, value)`, from all `Cookie` header fields, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.header_all("cookie").flat_map(cookie_pairs)
    }

    /// The value of the first cookie with this name (case-sensitive, as cookies are).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The query's `(name, value)` pairs, percent-decoded (`+` is a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .map(|q| {
                query_pairs(q)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The decoded value of the first query parameter with this (decoded) name.
    /// A parameter without `=` has the value `""`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(self.query()?)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Applies request edits the way the host does (header operations in order,
    /// then path and query); for tests and for plugins that chain their own logic.
    pub fn apply(&mut self, edits: &Edits) {
        if !edits.headers.is_empty() {
            let mut headers = self.headers.to_vec();
            apply_header_ops(&mut headers, &edits.headers);
            self.headers.set_all(&headers);
        }
        if let Some(path) = &edits.path {
            self.path = Cow::Owned(path.clone());
        }
        if let Some(query) = &edits.query {
            self.query = if query.is_empty() {
                None
            } else {
                Some(Cow::Owned(query.clone()))
            };
        }
    }

    /// A copy that owns its data (outlives the host's buffer).
    pub fn into_owned(self) -> Request<'static> {
        Request {
            method: Cow::Owned(self.method.into_owned()),
            scheme: Cow::Owned(self.scheme.into_owned()),
            host: Cow::Owned(self.host.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
            query: self.query.map(|q| Cow::Owned(q.into_owned())),
            headers: self.headers.into_owned(),
        }
    }
}

/// Facts about the client and the edge node that received the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Client<'a> {
    ip: &'a str,
    region: &'a str,
}

impl<'a> Client<'a> {
    /// A client with this IP address and region.
    pub fn new(ip: &'a str, region: &'a str) -> Self {
        Client { ip, region }
    }

    /// The client's IP address as text (IPv4 or IPv6).
    pub fn ip(&self) -> &'a str {
        self.ip
    }

    /// The region the client is attributed to.
    pub fn region(&self) -> &'a str {
        self.region
    }
}

/// The response head as a plugin sees it in `on_response`; its headers
/// borrow from the host's buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response<'a> {
    pub(crate) status: u16,
    pub(crate) headers: Fields<'a>,
}

impl Response<'static> {
    /// A response with this status and no headers.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Fields::default(),
        }
    }
}

impl<'a> Response<'a> {
    /// Builder: adds a header field (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header field as `(name, value)`, names in lower case.
    pub fn headers(&self) -> FieldsIter<'_> {
        self.headers.iter()
    }

    /// The value of the first header field with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// The value of the first field called `name` (case-insensitive).
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits one `Cookie` header value into `(name, value)` pairs; surrounding
/// double quotes of a value are removed, pairs without `=` are skipped.
pub fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!name.is_empty()).then_some((name, value))
    })
}

/// Splits a query string (without `?`) into percent-decoded `(name, value)`
/// pairs, `+` decoding to a space; empty segments are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space) in a URL component. Invalid
/// escapes are kept as they are; invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when `name` is a valid HTTP field name (an RFC 9110 token).
pub fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True when `value` is a valid HTTP field value: visible ASCII or obs-text,
/// spaces and tabs, no CR / LF / NUL or other control characters.
pub fn is_valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive() {
        let req = Request::new("GET", "/")
            .with_header("X-Thing", "a")
            .with_header("x-thing", "b");
        assert_eq!(req.header("x-THING"), Some("a"));
        assert_eq!(req.header_all("X-thing").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(req.header("missing"), None);
    }

    #[test]
    fn cookies_parse_across_headers() {
        let req = Request::new("GET", "/")
            .with_header("cookie", "a=1; token=abc.def; quoted=\"q v\"")
            .with_header("Cookie", "b=2;flag;  c = 3 ");
        assert_eq!(req.cookie("token"), Some("abc.def"));
        assert_eq!(req.cookie("quoted"), Some("q v"));
        assert_eq!(req.cookie("b"), Some("2"));
        assert_eq!(req.cookie("c"), Some("3"));
        assert_eq!(req.cookie("flag"), None);
        assert_eq!(req.cookie("A"), None);
        assert_eq!(req.cookies().count(), 5);
    }

    #[test]
    fn query_params_decode() {
        let req = Request::new("GET", "/s?q=a+b%20c&x=%2Fp&empty&k=1&k=2&bad=%zz%4");
        assert_eq!(req.query_param("q").as_deref(), Some("a b c"));
        assert_eq!(req.query_param("x").as_deref(), Some("/p"));
        assert_eq!(req.query_param("empty").as_deref(), Some(""));
        assert_eq!(req.query_param("k").as_deref(), Some("1"));
        assert_eq!(req.query_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(req.query_param("nope"), None);
        assert_eq!(req.query_pairs().len(), 6);
        assert_eq!(Request::new("GET", "/").query_param("q"), None);
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn edits_apply_in_order() {
        let mut req = Request::new("GET", "/a?x=1")
            .with_header("x-one", "1")
            .with_header("x-two", "2")
            .with_header("x-two", "3");
        let edits = Edits::new()
            .set_header("X-Two", "9")
            .append_header("x-one", "4")
            .remove_header("x-missing")
            .remove_header("X-ONE")
            .path("/b")
            .query("");
        req.apply(&edits);
        assert_eq!(
            req.fields().to_vec(),
            [("x-two".to_owned(), "9".to_owned())]
        );
        assert_eq!(req.headers().collect::<Vec<_>>(), [("x-two", "9")]);
        assert_eq!(req.path(), "/b");
        assert_eq!(req.query(), None);
        assert!(Edits::new().is_empty());
        assert!(!edits.is_empty());
    }

    #[test]
    fn builders() {
        let e = Edits::new().pool("eu").cache_variant("gold").ttl(60);
        assert_eq!(e.pool.as_deref(), Some("eu"));
        assert_eq!(e.cache_variant.as_deref(), Some("gold"));
        assert_eq!(e.ttl, Some(60));
        let r = EarlyResponse::new(401)
            .header("Content-Type", "text/plain")
            .body("no");
        assert_eq!(r.header_value("content-type"), Some("text/plain"));
        assert_eq!(r.body, b"no");
        assert_eq!(Action::default(), Action::Continue(Edits::new()));
        let mut h = vec![("a".to_owned(), "1".to_owned())];
        ResponseEdits::new()
            .set_header("b", "2")
            .remove_header("a")
            .apply_headers(&mut h);
        assert_eq!(h, [("b".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn header_validity() {
        assert!(is_valid_header_name("x-user-id"));
        assert!(!is_valid_header_name("bad header\n"));
        assert!(!is_valid_header_name(""));
        assert!(is_valid_header_value("a b\tc"));
        assert!(!is_valid_header_value("a\r\nb: c"));
    }
}
