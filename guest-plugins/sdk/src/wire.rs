//! Reading the host's `head` buffers, layout 1 (documented on the `handler`
//! interface in `wit/v0.2/plugin.wit`):
//!
//! ```text
//! head         := version:u8 (= 1), request, tail
//! request      := str method, str scheme, str host, str path, query, fields
//! query        := u8 0 | u8 1, str
//! fields       := u32 n, then n bytes of (str name, str value)*
//! on-request tail  := str client-ip, str client-region
//! on-response tail := u16 status, fields
//! str          := u32 n, then n bytes of UTF-8 (integers little-endian)
//! ```
//!
//! Everything read borrows from the buffer. The host always sends a
//! well-formed buffer; a malformed one is a host bug, and reading it panics
//! (which traps the instance; the host then counts a plugin failure).

use std::borrow::Cow;

use crate::types::{Client, Fields, Request, Response};

/// The layout this SDK reads.
pub const LAYOUT: u8 = 1;

#[cold]
#[inline(never)]
fn malformed() -> ! {
    panic!("brink-plugin-sdk: the host's head buffer is not in layout {LAYOUT}")
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
    let Some((head, tail)) = rest.split_at_checked(n) else {
        malformed()
    };
    *rest = tail;
    head
}

fn take_u32(rest: &mut &[u8]) -> usize {
    let b = take(rest, 4);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Reads one `str`'s bytes.
pub(crate) fn take_bytes<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let n = take_u32(rest);
    take(rest, n)
}

/// The bytes of a `str` as text.
pub(crate) fn text(b: &[u8]) -> &str {
    match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(_) => malformed(),
    }
}

fn take_str<'a>(rest: &mut &'a [u8]) -> &'a str {
    text(take_bytes(rest))
}

fn take_fields<'a>(rest: &mut &'a [u8]) -> Fields<'a> {
    Fields::borrowed(take_bytes(rest))
}

/// Appends a `str`.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    let n = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Reads the version and the request; returns the rest (the tail).
fn request<'a>(buf: &'a [u8]) -> (Request<'a>, &'a [u8]) {
    let mut rest = buf;
    if take(&mut rest, 1)[0] != LAYOUT {
        malformed();
    }
    let method = take_str(&mut rest);
    let scheme = take_str(&mut rest);
    let host = take_str(&mut rest);
    let path = take_str(&mut rest);
    let query = match take(&mut rest, 1)[0] {
        0 => None,
        1 => Some(Cow::Borrowed(take_str(&mut rest))),
        _ => malformed(),
    };
    let headers = take_fields(&mut rest);
    let req = Request {
        method: Cow::Borrowed(method),
        scheme: Cow::Borrowed(scheme),
        host: Cow::Borrowed(host),
        path: Cow::Borrowed(path),
        query,
        headers,
    };
    (req, rest)
}

/// Reads an `on-request` buffer.
pub fn on_request(buf: &[u8]) -> (Request<'_>, Client<'_>) {
    let (req, mut rest) = request(buf);
    let ip = take_str(&mut rest);
    let region = take_str(&mut rest);
    (req, Client::new(ip, region))
}

/// Reads an `on-response` buffer.
pub fn on_response(buf: &[u8]) -> (Request<'_>, Response<'_>) {
    let (req, mut rest) = request(buf);
    let status = take(&mut rest, 2);
    let status = u16::from_le_bytes([status[0], status[1]]);
    let headers = take_fields(&mut rest);
    (req, Response { status, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &mut Vec<u8>, list: &[(&str, &str)]) {
        let mut entries = Vec::new();
        for (n, v) in list {
            put_str(&mut entries, n);
            put_str(&mut entries, v);
        }
        buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        buf.extend_from_slice(&entries);
    }

    fn request_buf(query: Option<&str>) -> Vec<u8> {
        let mut b = vec![LAYOUT];
        for s in ["POST", "http", "shop.test", "/a%20b"] {
            put_str(&mut b, s);
        }
        match query {
            Some(q) => {
                b.push(1);
                put_str(&mut b, q);
            }
            None => b.push(0),
        }
        fields(
            &mut b,
            &[
                ("cookie", "a=1"),
                ("x-e", ""),
                ("cookie", "b=2"),
                ("x-u", "é"),
            ],
        );
        b
    }

    #[test]
    fn reads_on_request() {
        let mut b = request_buf(Some("q=1&r"));
        put_str(&mut b, "192.0.2.1");
        put_str(&mut b, "eu-west");
        let (req, client) = on_request(&b);
        assert_eq!(
            (req.method(), req.scheme(), req.host(), req.path()),
            ("POST", "http", "shop.test", "/a%20b")
        );
        assert_eq!(req.query(), Some("q=1&r"));
        assert_eq!(req.header("X-E"), Some(""));
        assert_eq!(req.header("x-u"), Some("é"));
        assert_eq!(req.header("missing"), None);
        assert_eq!(req.cookie("b"), Some("2"));
        assert_eq!(req.headers().count(), 4);
        assert_eq!((client.ip(), client.region()), ("192.0.2.1", "eu-west"));
        // The same request built for a test is equal to the one read.
        let built = Request::new("POST", "/a%20b?q=1&r")
            .with_scheme("http")
            .with_host("shop.test")
            .with_header("Cookie", "a=1")
            .with_header("x-e", "")
            .with_header("cookie", "b=2")
            .with_header("x-u", "é");
        assert_eq!(built, req);
    }

    #[test]
    fn reads_on_response() {
        let mut b = request_buf(None);
        b.extend_from_slice(&503u16.to_le_bytes());
        fields(&mut b, &[("content-type", "text/html")]);
        let (req, resp) = on_response(&b);
        assert_eq!(req.query(), None);
        assert_eq!(req.fields().len(), 4);
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.header("Content-Type"), Some("text/html"));
        assert_eq!(
            resp.headers().collect::<Vec<_>>(),
            [("content-type", "text/html")]
        );
    }

    #[test]
    #[should_panic(expected = "not in layout 1")]
    fn a_truncated_buffer_panics() {
        let b = request_buf(None);
        on_request(&b);
    }

    #[test]
    #[should_panic(expected = "not in layout 1")]
    fn another_layout_panics() {
        let mut b = request_buf(None);
        b[0] = 2;
        on_response(&b);
    }
}
