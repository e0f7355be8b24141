//! Layout 1 of the `head` buffers of `brink:plugin@0.2.0` (documented on the
//! `handler` interface in `wit/v0.2/plugin.wit`): the request head, the client
//! facts and the response head as one byte buffer, so a call lowers one list
//! (one allocation in the guest) instead of one string per field. Written
//! straight from the HTTP types, without an intermediate copy of the head.

use http::HeaderMap;

use super::bindings::RequestHead;
use crate::plugin::ClientFacts;

/// The layout version, the buffer's first byte.
pub const LAYOUT: u8 = 1;

/// Appends a length-prefixed string.
fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    // Heads are bounded far below 4 GiB by the HTTP server's limits.
    let n = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(s);
}

/// Appends a `fields` block: the byte length of the entries, then the
/// entries. Values that are not UTF-8 (obs-text) are passed with U+FFFD for
/// the invalid bytes, as 0.1.0 does.
fn put_fields(buf: &mut Vec<u8>, fields: &HeaderMap) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    for (n, v) in fields {
        put_str(buf, n.as_str().as_bytes());
        match std::str::from_utf8(v.as_bytes()) {
            Ok(s) => put_str(buf, s.as_bytes()),
            Err(_) => put_str(buf, String::from_utf8_lossy(v.as_bytes()).as_bytes()),
        }
    }
    let n = u32::try_from(buf.len() - at - 4).unwrap_or(u32::MAX);
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

/// Clears `buf` and writes the version and the `request` part.
pub fn put_request(buf: &mut Vec<u8>, parts: &http::request::Parts, scheme: &str, host: &str) {
    buf.clear();
    let fields: usize = parts
        .headers
        .iter()
        .map(|(n, v)| 8 + n.as_str().len() + v.len())
        .sum();
    let query = parts.uri.query().map_or(0, str::len);
    // The tail (client facts or response head) fits in the spare 128 bytes
    // unless the response has headers.
    buf.reserve(64 + host.len() + parts.uri.path().len() + query + fields + 128);
    buf.push(LAYOUT);
    put_str(buf, parts.method.as_str().as_bytes());
    put_str(buf, scheme.as_bytes());
    put_str(buf, host.as_bytes());
    put_str(buf, parts.uri.path().as_bytes());
    match parts.uri.query() {
        Some(q) => {
            buf.push(1);
            put_str(buf, q.as_bytes());
        }
        None => buf.push(0),
    }
    put_fields(buf, &parts.headers);
}

/// Clears `buf` and writes the `on-request` buffer: the request, then the
/// client facts. Returns the length of the request part.
pub fn on_request(
    buf: &mut Vec<u8>,
    parts: &http::request::Parts,
    scheme: &str,
    host: &str,
    client: &ClientFacts,
) -> usize {
    put_request(buf, parts, scheme, host);
    let request_len = buf.len();
    put_str(buf, client.ip.as_bytes());
    put_str(buf, client.region.as_bytes());
    request_len
}

/// Appends the `on-response` tail (status and response headers) to a buffer
/// holding a request part.
pub fn put_response(buf: &mut Vec<u8>, parts: &http::response::Parts) {
    buf.extend_from_slice(&parts.status.as_u16().to_le_bytes());
    put_fields(buf, &parts.headers);
}

/// Reads a `str`, moving past it.
fn take_str(b: &[u8], at: &mut usize) -> Option<String> {
    let n = u32::from_le_bytes(b.get(*at..*at + 4)?.try_into().ok()?) as usize;
    let s = std::str::from_utf8(b.get(*at + 4..*at + 4 + n)?).ok()?;
    *at += 4 + n;
    Some(s.to_owned())
}

/// Reads the request part of a buffer back as 0.1.0's record (for 0.1.0
/// plugins in the response phase, which gets the request as a buffer).
pub fn read_request(b: &[u8]) -> Option<RequestHead> {
    if *b.first()? != LAYOUT {
        return None;
    }
    let mut at = 1;
    let method = take_str(b, &mut at)?;
    let scheme = take_str(b, &mut at)?;
    let host = take_str(b, &mut at)?;
    let path = take_str(b, &mut at)?;
    let query = match *b.get(at)? {
        0 => {
            at += 1;
            None
        }
        _ => {
            at += 1;
            Some(take_str(b, &mut at)?)
        }
    };
    let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    let end = at + len;
    let mut headers = Vec::new();
    while at < end {
        let n = take_str(b, &mut at)?;
        headers.push((n, take_str(b, &mut at)?));
    }
    Some(RequestHead {
        method,
        scheme,
        host,
        path,
        query,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str) -> http::request::Parts {
        http::Request::post(target)
            .header("accept", "*/*")
            .header("x-e", "")
            .header("x-obs", http::HeaderValue::from_bytes(b"a\xffb").unwrap())
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn request_round_trips_and_the_client_follows() {
        let client = ClientFacts {
            ip: "2001:db8::1".into(),
            region: "eu-west".into(),
        };
        let mut b = vec![9; 3];
        let request_len = on_request(
            &mut b,
            &parts("/a/%C3%A9?q=1"),
            "https",
            "shop.test",
            &client,
        );
        assert_eq!(b[0], LAYOUT);
        let head = read_request(&b).unwrap();
        assert_eq!(
            (&*head.method, &*head.scheme, &*head.host, &*head.path),
            ("POST", "https", "shop.test", "/a/%C3%A9")
        );
        assert_eq!(head.query.as_deref(), Some("q=1"));
        let h: Vec<(&str, &str)> = head.headers.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(h, [("accept", "*/*"), ("x-e", ""), ("x-obs", "a\u{fffd}b")]);
        let mut at = request_len;
        assert_eq!(take_str(&b, &mut at).as_deref(), Some("2001:db8::1"));
        assert_eq!(take_str(&b, &mut at).as_deref(), Some("eu-west"));
        assert_eq!(at, b.len());
        // Only the request part is read back; no query is a 0 byte.
        let mut plain = Vec::new();
        put_request(&mut plain, &parts("/"), "http", "h");
        assert_eq!(read_request(&plain).unwrap().query, None);
        assert!(read_request(&plain[..plain.len() - 1]).is_none());
    }

    #[test]
    fn response_follows_the_request() {
        let mut b = Vec::new();
        put_request(&mut b, &parts("/x"), "http", "h");
        let request_len = b.len();
        let resp = http::Response::builder()
            .status(404)
            .header("content-type", "text/html")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        put_response(&mut b, &resp);
        assert_eq!(
            u16::from_le_bytes([b[request_len], b[request_len + 1]]),
            404
        );
        let mut at = request_len + 2;
        let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        assert_eq!(take_str(&b, &mut at).as_deref(), Some("content-type"));
        assert_eq!(take_str(&b, &mut at).as_deref(), Some("text/html"));
        assert_eq!(at, request_len + 6 + len);
        assert_eq!(at, b.len());
    }
}
