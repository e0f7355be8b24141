//! Layout 1 of the `head` buffers of `brink:plugin@0.2.0` (documented on the
//! `handler` interface in `wit/v0.2/plugin.wit`): the request head, the client
//! facts and the response head as one byte buffer, so a call lowers one list
//! (one allocation in the guest) instead of one string per field.

use super::bindings::{RequestHead, ResponseHead};
use crate::plugin::ClientFacts;

/// The layout version, the buffer's first byte.
pub const LAYOUT: u8 = 1;

/// Appends a length-prefixed string.
fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_len(buf, s.len());
    buf.extend_from_slice(s.as_bytes());
}

fn put_len(buf: &mut Vec<u8>, n: usize) {
    // Heads are bounded far below 4 GiB by the HTTP server's limits.
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    buf.extend_from_slice(&n.to_le_bytes());
}

/// Appends a `fields` block: the byte length of the entries, then the entries.
fn put_fields(buf: &mut Vec<u8>, fields: &[(String, String)]) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    for (n, v) in fields {
        put_str(buf, n);
        put_str(buf, v);
    }
    let n = u32::try_from(buf.len() - at - 4).unwrap_or(u32::MAX);
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

/// Clears `buf` and writes the version and the `request` part of `head`.
pub fn put_request(buf: &mut Vec<u8>, head: &RequestHead) {
    buf.clear();
    buf.push(LAYOUT);
    put_str(buf, &head.method);
    put_str(buf, &head.scheme);
    put_str(buf, &head.host);
    put_str(buf, &head.path);
    match &head.query {
        Some(q) => {
            buf.push(1);
            put_str(buf, q);
        }
        None => buf.push(0),
    }
    put_fields(buf, &head.headers);
}

/// The `on-request` buffer: the request, then the client facts.
pub fn on_request(buf: &mut Vec<u8>, head: &RequestHead, client: &ClientFacts) {
    put_request(buf, head);
    put_str(buf, &client.ip);
    put_str(buf, &client.region);
}

/// Appends the `on-response` tail (status and response headers) to a buffer
/// holding [`put_request`]'s output.
pub fn put_response(buf: &mut Vec<u8>, head: &ResponseHead) {
    buf.extend_from_slice(&head.status.to_le_bytes());
    put_fields(buf, &head.headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
    }

    /// Reads a `str` at `*at`, moving past it.
    fn take_str<'a>(b: &'a [u8], at: &mut usize) -> &'a str {
        let n = u32_at(b, *at);
        let s = std::str::from_utf8(&b[*at + 4..*at + 4 + n]).unwrap();
        *at += 4 + n;
        s
    }

    fn take_fields<'a>(b: &'a [u8], at: &mut usize) -> Vec<(&'a str, &'a str)> {
        let end = *at + 4 + u32_at(b, *at);
        *at += 4;
        let mut out = Vec::new();
        while *at < end {
            let n = take_str(b, at);
            out.push((n, take_str(b, at)));
        }
        assert_eq!(*at, end);
        out
    }

    fn head(query: Option<&str>) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            scheme: "https".into(),
            host: "shop.test".into(),
            path: "/a/é".into(),
            query: query.map(Into::into),
            headers: vec![
                ("accept".into(), "*/*".into()),
                ("x-e".into(), String::new()),
            ],
        }
    }

    #[test]
    fn request_and_client_round_trip() {
        let mut b = vec![9; 3];
        let client = ClientFacts {
            ip: "2001:db8::1".into(),
            region: "eu-west".into(),
        };
        on_request(&mut b, &head(Some("q=1")), &client);
        assert_eq!(b[0], LAYOUT);
        let mut at = 1;
        let fixed: Vec<&str> = (0..4).map(|_| take_str(&b, &mut at)).collect();
        assert_eq!(fixed, ["GET", "https", "shop.test", "/a/é"]);
        assert_eq!(b[at], 1);
        at += 1;
        assert_eq!(take_str(&b, &mut at), "q=1");
        assert_eq!(take_fields(&b, &mut at), [("accept", "*/*"), ("x-e", "")]);
        assert_eq!(take_str(&b, &mut at), "2001:db8::1");
        assert_eq!(take_str(&b, &mut at), "eu-west");
        assert_eq!(at, b.len());
    }

    #[test]
    fn response_follows_the_request() {
        let mut b = Vec::new();
        put_request(&mut b, &head(None));
        let request_len = b.len();
        put_response(
            &mut b,
            &ResponseHead {
                status: 404,
                headers: vec![("content-type".into(), "text/html".into())],
            },
        );
        // No query: one 0 byte before the request fields.
        let mut at = 1;
        for _ in 0..4 {
            take_str(&b, &mut at);
        }
        assert_eq!(b[at], 0);
        at += 1;
        take_fields(&b, &mut at);
        assert_eq!(at, request_len);
        assert_eq!(u16::from_le_bytes([b[at], b[at + 1]]), 404);
        at += 2;
        assert_eq!(take_fields(&b, &mut at), [("content-type", "text/html")]);
        assert_eq!(at, b.len());
    }
}
