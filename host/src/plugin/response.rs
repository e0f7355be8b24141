//! The response phase of a route's plugins: each sees the client's copy of
//! the response, in reverse chain order, with its body when that body is
//! small text. Kept apart from the request phase because it has its own
//! buffers (the seen request plus the response head) and body handling.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::bindings::{self, RequestHead};
use super::instance::Bindings;
use super::{LoadedPlugin, PluginFailure, SeenRequest, convert, malformed, on_failure, wire};
use crate::body::{Body, full};
use crate::error::EdgeError;

/// Whether a response's body may be shown to plugins: text, not encoded.
fn is_small_text(parts: &http::response::Parts, limit: usize) -> Option<usize> {
    if limit == 0 || parts.headers.contains_key(http::header::CONTENT_ENCODING) {
        return None;
    }
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let text = ct.starts_with("text/")
        || ct.starts_with("application/json")
        || ct.starts_with("application/javascript")
        || ct.contains("xml");
    let len = usize::try_from(crate::body::content_length(&parts.headers)?).ok()?;
    (text && len <= limit).then_some(len)
}

/// The response body as plugins may see it: collected when it is text of
/// at most `limit` bytes (first), else left to stream (second).
async fn small_body(
    parts: &http::response::Parts,
    body: Body,
    limit: usize,
) -> Result<(Option<Bytes>, Option<Body>), EdgeError> {
    if is_small_text(parts, limit).is_none() {
        return Ok((None, Some(body)));
    }
    match body.collect().await {
        Ok(c) => Ok((Some(c.to_bytes()), None)),
        // An origin body that stalled (body_timeout) is the origin's timeout.
        Err(e) if crate::origin::BodyTimeout::is_timeout(&*e) => Err(EdgeError::Origin {
            kind: crate::error::OriginFailure::Timeout,
            pool: "-".into(),
            backend: "-".into(),
            message: format!("reading response body: {e}"),
        }),
        Err(e) => Err(EdgeError::Internal(format!("reading response body: {e}"))),
    }
}

/// What the response-phase plugins are shown, made on first use and again
/// only after a plugin edited the response headers.
#[derive(Default)]
struct ResponseInput {
    /// For 0.2.0 plugins: the request part as seen, then the response part.
    buf: Vec<u8>,
    /// Whether `buf` shows the response as it is now.
    buf_current: bool,
    /// For 0.1.0 plugins: the request head as a record.
    req_head: Option<RequestHead>,
    /// For 0.1.0 plugins: the response head as a record.
    resp_head: Option<bindings::ResponseHead>,
}

impl ResponseInput {
    /// Calls `plugin`'s response hook on the response as it is now.
    async fn call(
        &mut self,
        plugin: &LoadedPlugin,
        (seen, client_ip): (&SeenRequest, &str),
        parts: &http::response::Parts,
        given: Option<&[u8]>,
    ) -> Result<bindings::ResponseEdits, PluginFailure> {
        plugin
            .call(client_ip, async |b, store| match b {
                Bindings::V2(b) => {
                    if !self.buf_current {
                        self.buf.clear();
                        self.buf.extend_from_slice(&seen.0);
                        wire::put_response(&mut self.buf, parts);
                        self.buf_current = true;
                    }
                    b.brink_plugin_handler()
                        .call_on_response(store, &self.buf, given)
                        .await
                }
                Bindings::V1(b) => {
                    let req =
                        match &mut self.req_head {
                            Some(h) => h,
                            None => self.req_head.insert(wire::read_request(&seen.0).ok_or_else(
                                || wasmtime::Error::msg("the seen request is not in layout 1"),
                            )?),
                        };
                    let resp = self
                        .resp_head
                        .get_or_insert_with(|| convert::response_head(parts));
                    b.brink_plugin_handler()
                        .call_on_response(store, req, resp, given)
                        .await
                }
            })
            .await
    }

    /// The response headers changed: what the next plugin is shown is made again.
    fn edited(&mut self) {
        self.buf_current = false;
        self.resp_head = None;
    }
}

/// A plugin replaced the body: its length is no longer known, and a strong
/// validator no longer describes the representation.
fn body_replaced(headers: &mut http::HeaderMap) {
    headers.remove(http::header::CONTENT_LENGTH);
    if let Some(etag) = headers.get(http::header::ETAG).cloned()
        && !etag.as_bytes().starts_with(b"W/")
        && let Ok(weak) = http::HeaderValue::from_bytes(&[b"W/", etag.as_bytes()].concat())
    {
        headers.insert(http::header::ETAG, weak);
    }
}

/// Runs the response phase of `chain` in reverse order (the first plugin
/// sees the response last) on the client's copy of the response.
pub async fn on_response(
    chain: &[Arc<LoadedPlugin>],
    seen: &SeenRequest,
    client_ip: &str,
    resp: http::Response<Body>,
) -> Result<http::Response<Body>, EdgeError> {
    if !chain.iter().any(|p| p.has_on_response()) {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let limit = chain
        .iter()
        .filter(|p| p.has_on_response())
        .map(|p| p.settings.response_body_limit)
        .max()
        .unwrap_or(0);
    let (mut body_bytes, body) = small_body(&parts, body, limit).await?;
    let mut replaced = false;
    let mut input = ResponseInput::default();
    for plugin in chain.iter().rev() {
        if !plugin.has_on_response() {
            continue;
        }
        let given: Option<&[u8]> = body_bytes
            .as_deref()
            .filter(|b| b.len() <= plugin.settings.response_body_limit);
        let had_body = given.is_some();
        let result = input.call(plugin, (seen, client_ip), &parts, given).await;
        let edits = match result {
            Ok(e) => e,
            Err(f) => {
                on_failure(plugin, f)?;
                continue;
            }
        };
        if !edits.headers.is_empty() {
            input.edited();
        }
        if let Err(msg) = convert::apply_header_ops_to_map(&mut parts.headers, edits.headers) {
            on_failure(plugin, malformed(plugin, msg))?;
            continue;
        }
        if let Some(new_body) = edits.body
            && had_body
        {
            body_bytes = Some(Bytes::from(new_body));
            replaced = true;
        }
    }
    if replaced {
        body_replaced(&mut parts.headers);
    }
    let body = match (body, body_bytes) {
        (Some(b), _) => b,
        (None, Some(bytes)) => full(bytes),
        (None, None) => full(Bytes::new()),
    };
    Ok(http::Response::from_parts(parts, body))
}
