//! The body type used on both sides of the proxy, and small constructors.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

/// Errors carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed HTTP body.
pub type Body = BoxBody<Bytes, BoxError>;

/// The body length a head declares in `Content-Length`, if it is a number.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed()
}

/// A small plain-text response.
pub fn text_response(status: http::StatusCode, text: impl Into<String>) -> http::Response<Body> {
    let mut text = text.into();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut resp = http::Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// A JSON response.
pub fn json_response(status: http::StatusCode, value: &serde_json::Value) -> http::Response<Body> {
    let mut resp = http::Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

pin_project_lite::pin_project! {
    /// The bytes `start..end` of a streamed body (see [`slice`]).
    struct Slice {
        #[pin]
        inner: Body,
        pos: u64,
        start: u64,
        end: u64,
    }
}

impl http_body::Body for Slice {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let mut this = self.project();
        loop {
            if *this.pos >= *this.end {
                return Poll::Ready(None);
            }
            let frame = match std::task::ready!(this.inner.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => frame,
            };
            // Trailers belong to the whole representation, not to a part.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let at = *this.pos;
            *this.pos += data.len() as u64;
            let from = (*this.start).max(at);
            let to = (*this.end).min(*this.pos);
            if from < to {
                let part = data.slice((from - at) as usize..(to - at) as usize);
                return Poll::Ready(Some(Ok(http_body::Frame::data(part))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.end - self.start.max(self.pos).min(self.end))
    }
}

/// Bytes `range` of a streamed body, read through without buffering: what
/// comes before is dropped, the stream ends at `range.end`.
pub fn slice(body: Body, range: std::ops::Range<u64>) -> Body {
    Slice {
        inner: body,
        pos: 0,
        start: range.start,
        end: range.end.max(range.start),
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let frames = parts
            .iter()
            .map(|p| Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(p))))
            .collect::<Vec<_>>();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    #[tokio::test]
    async fn slice_spans_chunks() {
        for (range, want) in [
            (0..10, &b"0123456789"[..]),
            (2..7, b"23456"),
            (3..4, b"3"),
            (8..10, b"89"),
            (8..20, b"89"),
            (5..5, b""),
        ] {
            let body = slice(chunked(&[b"012", b"3456", b"", b"789"]), range.clone());
            let got = body.collect().await.expect("body").to_bytes();
            assert_eq!(&got[..], want, "{range:?}");
        }
    }
}
