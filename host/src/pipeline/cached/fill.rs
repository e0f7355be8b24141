//! Misses: one origin fetch per key for all concurrent requests, and storing
//! what RFC 9111 and the route allow.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;

use super::{Answer, CachePhase, ClientAsks, copy_head};
use crate::access_log::CacheOutcome;
use crate::body::{Body, content_length, empty};
use crate::cache::coalesce_wait;
use crate::cache::policy::{self, NotStorable, Storability, Vary};
use crate::cache::range::{self, RangeRequest};
use crate::cache::status::Fwd;
use crate::cache::{
    Admit, CacheKey, Entry, FillOutcome, Join, LeaderGuard, PassScope, detached_fields,
    strip_surrogate,
};
use crate::error::EdgeError;
use crate::forwarding;
use crate::metrics::CacheResult;

impl CachePhase<'_> {
    /// A miss: fetch once for all concurrent requests of this key, store what
    /// may be stored, and answer.
    pub(super) async fn fill(
        &mut self,
        parts: &http::request::Parts,
        key: &CacheKey,
        full_key: Arc<str>,
        fwd: Fwd,
        no_store: bool,
    ) -> Result<Answer, EdgeError> {
        let credentialed = policy::carries_credentials(&parts.headers);
        for _attempt in 0..3 {
            if no_store || self.cache().is_pass(&key.primary, credentialed) {
                self.count(CacheResult::Miss);
                return self.fetch_uncoalesced(parts, fwd).await;
            }
            let rx = match self.cache().join(&full_key) {
                Join::Leader(guard) => return self.lead_fill(parts, key, guard, fwd).await,
                Join::Waiter(rx) => rx,
            };
            match coalesce_wait(rx, self.coalesce_timeout()?).await {
                Some(FillOutcome::Stored(entry)) => {
                    return self.follow_fill(parts, key, entry, fwd).await;
                }
                Some(FillOutcome::Uncacheable) => {
                    self.count(CacheResult::Miss);
                    return self.fetch_uncoalesced(parts, fwd).await;
                }
                // Nothing to share yet: try again (one of the
                // waiters leads the next fill).
                Some(FillOutcome::LeaderOnly | FillOutcome::Failed) => continue,
                // The fill is slow or stuck on its origin: this request
                // fetches for itself (not stored; the fill may still be).
                None => {
                    self.count(CacheResult::Miss);
                    let mut answer = self.fetch_uncoalesced(parts, fwd).await?;
                    answer.status.detail = Some("coalesce-timeout".into());
                    return Ok(answer);
                }
            }
        }
        self.count(CacheResult::Miss);
        self.fetch_uncoalesced(parts, fwd).await
    }

    /// The leader of a fill: fetch, store if allowed, tell the waiters (and
    /// leave a hit-for-pass where no request may store the response).
    async fn lead_fill(
        &mut self,
        parts: &http::request::Parts,
        key: &CacheKey,
        guard: LeaderGuard,
        fwd: Fwd,
    ) -> Result<Answer, EdgeError> {
        let upstream = self.fill_request(parts, None);
        let request_time = SystemTime::now();
        let resp = self.fetch(upstream).await?;
        self.count(CacheResult::Miss);
        let mut status = self.new_status();
        status.fwd = Some(fwd);
        status.fwd_status = Some(resp.status().as_u16());
        match self.store(parts, key, resp, request_time).await? {
            Stored::Yes(entry, admit) => {
                guard.finish(FillOutcome::Stored(entry.clone()));
                status.set_admit(admit);
                status.ttl = Some(entry.ttl(SystemTime::now()));
                Ok(Answer {
                    resp: self.respond_from(&entry, parts, SystemTime::now()),
                    status,
                    outcome: CacheOutcome::Miss,
                })
            }
            Stored::No(resp, why) => {
                let credentialed = policy::carries_credentials(&parts.headers);
                let (outcome, pass) = after_not_stored(why, resp.status(), credentialed);
                if let Some(scope) = pass {
                    self.cache().mark_pass(&key.primary, scope);
                }
                guard.finish(outcome);
                status.detail = Some(why.to_string());
                Ok(Answer {
                    resp: self.for_client(resp, parts),
                    status,
                    outcome: CacheOutcome::Miss,
                })
            }
        }
    }

    /// A waiter whose leader stored `entry`: served from it, unless the
    /// entry varies on fields this request differs in (then that variant is
    /// looked up, or filled).
    async fn follow_fill(
        &mut self,
        parts: &http::request::Parts,
        key: &CacheKey,
        entry: Arc<Entry>,
        fwd: Fwd,
    ) -> Result<Answer, EdgeError> {
        let full = key.full(&entry.vary, &parts.headers);
        if full != entry.full_key {
            if let Some(e) = self.cache().get(&full) {
                let asks = ClientAsks::of(&parts.headers);
                let now = SystemTime::now();
                return Box::pin(self.with_entry(parts, &asks, key, full, e, now)).await;
            }
            return Box::pin(self.fill(parts, key, full, Fwd::VaryMiss, false)).await;
        }
        self.count(CacheResult::Coalesced);
        let mut status = self.new_status();
        status.fwd = Some(fwd);
        status.collapsed = true;
        status.fwd_status = Some(entry.status.as_u16());
        status.ttl = Some(entry.ttl(SystemTime::now()));
        Ok(Answer {
            resp: self.respond_from(&entry, parts, SystemTime::now()),
            status,
            outcome: CacheOutcome::Collapsed,
        })
    }

    /// Fetches for this request alone, without storing.
    pub(super) async fn fetch_uncoalesced(
        &mut self,
        parts: &http::request::Parts,
        fwd: Fwd,
    ) -> Result<Answer, EdgeError> {
        let head = copy_head(parts, parts.method.clone(), parts.headers.clone());
        let upstream = self.x.to_upstream(head, empty());
        let resp = self.fetch(upstream).await?;
        let mut status = self.new_status();
        status.fwd = Some(fwd);
        status.fwd_status = Some(resp.status().as_u16());
        let mut resp = self.x.client_response(resp);
        strip_surrogate(resp.headers_mut());
        Ok(Answer {
            resp,
            status,
            outcome: CacheOutcome::Miss,
        })
    }

    /// An origin response that is not stored, as the client gets it. The
    /// fill asked for the whole object, so a client's single byte range is
    /// cut out of the stream here (206, or 416 if unsatisfiable); several
    /// ranges get the whole 200, as RFC 9110 allows.
    pub(super) fn for_client(
        &self,
        resp: Response<Body>,
        parts: &http::request::Parts,
    ) -> Response<Body> {
        let (mut head, body) = resp.into_parts();
        strip_surrogate(&mut head.headers);
        forwarding::add_via(&mut head.headers, http::Version::HTTP_11, self.node());
        let mut body = if parts.method == Method::HEAD {
            empty()
        } else {
            body
        };
        let total = content_length(&head.headers);
        if parts.method == Method::GET
            && head.status == StatusCode::OK
            && parts.headers.contains_key(header::RANGE)
            && let Some(total) = total
        {
            match range::parse_range(&parts.headers, &head.headers, total) {
                RangeRequest::Satisfiable(ranges) if ranges.len() == 1 => {
                    let r = ranges[0].clone();
                    range::single_range_head(&mut head, r.clone(), total);
                    body = crate::body::slice(body, r);
                }
                RangeRequest::Unsatisfiable => {
                    let (status, headers) = range::unsatisfiable(total);
                    head.status = status;
                    for (name, value) in &headers {
                        head.headers.insert(name.clone(), value.clone());
                    }
                    head.headers.remove(header::TRANSFER_ENCODING);
                    body = empty();
                }
                _ => {}
            }
        }
        Response::from_parts(head, body)
    }

    /// Stores the origin's response if RFC 9111 and the route allow it and it
    /// fits; otherwise hands the (streaming) response back.
    pub(super) async fn store(
        &self,
        parts: &http::request::Parts,
        key: &CacheKey,
        resp: Response<Body>,
        request_time: SystemTime,
    ) -> Result<Stored, EdgeError> {
        let response_time = SystemTime::now();
        let (mut head, body) = resp.into_parts();
        forwarding::remove_hop_by_hop(&mut head.headers);
        let not_stored = |head: http::response::Parts, body: Body, why: NotStorable| {
            Ok(Stored::No(Response::from_parts(head, body), why))
        };
        let freshness = match policy::storability(
            &Method::GET,
            &parts.headers,
            head.status,
            &head.headers,
            &self.rules(),
            request_time,
            response_time,
        ) {
            Storability::Store(f) => f,
            Storability::DontStore(why) => return not_stored(head, body, why),
        };
        let vary: Arc<[HeaderName]> = match policy::vary(&head.headers) {
            Vary::None => Arc::from(Vec::new()),
            Vary::Fields(f) => Arc::from(f),
            Vary::Star => return not_stored(head, body, NotStorable::VaryStar),
        };
        let max = self.generation().config.cache.max_object_bytes;
        let declared = content_length(&head.headers);
        if declared.is_some_and(|n| n > max) {
            return not_stored(head, body, NotStorable::TooLarge);
        }
        let bytes = match collect_up_to(body, max, declared).await {
            Ok(b) => b,
            Err(Partial::TooLarge(body)) => return not_stored(head, body, NotStorable::TooLarge),
            Err(Partial::Failed(e)) => {
                // A body that stalled (body_timeout) is answered 504.
                let kind = if crate::origin::BodyTimeout::is_timeout(&*e) {
                    crate::error::OriginFailure::Timeout
                } else {
                    crate::error::OriginFailure::Protocol
                };
                return Err(EdgeError::Origin {
                    kind,
                    pool: self.x.pool()?.name().to_string(),
                    backend: "-".into(),
                    message: format!("reading the response body: {e}"),
                });
            }
        };
        policy::strip_for_storage(&mut head.headers, &freshness.strip_fields);
        let surrogate_keys: Box<[String]> = head
            .headers
            .get_all("surrogate-key")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split_ascii_whitespace())
            .take(64)
            .map(str::to_string)
            .collect();
        head.headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(bytes.len() as u64),
        );
        let full_key = key.full(&vary, &parts.headers);
        let entry = Arc::new(Entry {
            status: head.status,
            headers: detached_fields(&head.headers),
            body: bytes,
            freshness,
            stored_at: response_time,
            surrogate_keys,
            url: key.url.clone(),
            vary,
            purged: false,
            full_key: full_key.clone(),
            served: Default::default(),
        });
        let admit = self.cache().insert(key, full_key, entry.clone());
        Ok(Stored::Yes(entry, admit))
    }
}

/// Whether a fill was stored.
pub(super) enum Stored {
    /// Stored if the cache admitted it (a fill is served either way).
    Yes(Arc<Entry>, Admit),
    No(Response<Body>, NotStorable),
}

/// After a fill whose response was not stored: what its waiters are told,
/// and the hit-for-pass it leaves, if any.
///
/// Only a response that no request may store makes the URL pass for
/// everyone: a refusal that comes from the leader's own request
/// (`Authorization`, `no-store`) leaves nothing, and waiters try again among
/// themselves; a response to a request with credentials (`Authorization`,
/// `Cookie`) may be `private` or set a cookie because of them, so its pass
/// holds for requests with credentials only. Hit-for-pass never follows a
/// 5xx: a transient origin error must not keep the URL uncached (and
/// uncoalesced) for the whole pass period.
pub(super) fn after_not_stored(
    why: NotStorable,
    status: StatusCode,
    credentialed: bool,
) -> (FillOutcome, Option<PassScope>) {
    if status.is_server_error() {
        (FillOutcome::Uncacheable, None)
    } else if !why.uncacheable_for_everyone() {
        (FillOutcome::LeaderOnly, None)
    } else if credentialed {
        (FillOutcome::LeaderOnly, Some(PassScope::Credentialed))
    } else {
        (FillOutcome::Uncacheable, Some(PassScope::Everyone))
    }
}

pub(super) enum Partial {
    /// Over the limit: the bytes read so far followed by the rest of the stream.
    TooLarge(Body),
    Failed(crate::body::BoxError),
}

/// Reads a body of up to `limit` bytes into storage of its exact size (a
/// buffer grown by doubling would be kept with up to twice the body's
/// length): a buffer of the declared length, which the caller checked
/// against `limit`, is filled as the frames come; without one, the bytes are
/// copied once more at the end into a block of their length.
async fn collect_up_to(
    mut body: Body,
    limit: u64,
    declared: Option<u64>,
) -> Result<Bytes, Partial> {
    let reserve = declared.map_or(0, |n| n.min(limit));
    let mut buf = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Partial::Failed)?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                use futures_util::StreamExt;
                let read = [Bytes::from(buf), data]
                    .into_iter()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok::<_, crate::body::BoxError>(http_body::Frame::data(b)));
                let stream =
                    futures_util::stream::iter(read).chain(http_body_util::BodyStream::new(body));
                return Err(Partial::TooLarge(BodyExt::boxed(
                    http_body_util::StreamBody::new(stream),
                )));
            }
            buf.extend_from_slice(&data);
        }
    }
    if buf.len() == buf.capacity() {
        Ok(Bytes::from(buf))
    } else {
        // Not `shrink_to_fit`: an allocator may keep a block shrunk by up to
        // half where it is (mimalloc does).
        Ok(Bytes::copy_from_slice(&buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in these frames.
    fn frames(parts: &[&'static [u8]]) -> Body {
        let frames: Vec<Result<_, crate::body::BoxError>> = parts
            .iter()
            .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p))))
            .collect();
        BodyExt::boxed(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn collects_with_and_without_a_declared_length() {
        let parts: &[&'static [u8]] = &[b"hello ", b"big ", b"world"];
        for declared in [Some(15), None] {
            let Ok(b) = collect_up_to(frames(parts), 15, declared).await else {
                panic!("{declared:?}: not collected");
            };
            assert_eq!(&b[..], b"hello big world", "{declared:?}");
        }
        let Ok(b) = collect_up_to(frames(&[]), 15, Some(0)).await else {
            panic!("empty body not collected");
        };
        assert!(b.is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_comes_back_whole() {
        for declared in [Some(10), None] {
            let Err(Partial::TooLarge(body)) =
                collect_up_to(frames(&[b"hello ", b"big ", b"world"]), 10, declared).await
            else {
                panic!("{declared:?}: collected past the limit");
            };
            let all = body.collect().await.expect("the rest streams").to_bytes();
            assert_eq!(&all[..], b"hello big world", "{declared:?}");
        }
    }

    fn after(
        why: NotStorable,
        status: u16,
        credentialed: bool,
    ) -> (&'static str, Option<PassScope>) {
        let (outcome, pass) =
            after_not_stored(why, StatusCode::from_u16(status).unwrap(), credentialed);
        let outcome = match outcome {
            FillOutcome::Uncacheable => "uncacheable",
            FillOutcome::LeaderOnly => "leader-only",
            FillOutcome::Stored(_) => "stored",
            FillOutcome::Failed => "failed",
        };
        (outcome, pass)
    }

    #[test]
    fn hit_for_pass_only_for_what_no_request_may_store() {
        // About the response, to an anonymous request: pass for everyone.
        for why in [
            NotStorable::Private,
            NotStorable::NoStore,
            NotStorable::SetCookie,
        ] {
            assert_eq!(
                after(why, 200, false),
                ("uncacheable", Some(PassScope::Everyone))
            );
        }
        // The same to a request with credentials: maybe because of them.
        assert_eq!(
            after(NotStorable::Private, 200, true),
            ("leader-only", Some(PassScope::Credentialed))
        );
        // About the request: no pass, waiters try again.
        for why in [
            NotStorable::RequestAuthorization,
            NotStorable::RequestNoStore,
        ] {
            for credentialed in [false, true] {
                assert_eq!(after(why, 200, credentialed), ("leader-only", None));
            }
        }
        // A 5xx never leaves a pass.
        assert_eq!(
            after(NotStorable::NoStore, 503, false),
            ("uncacheable", None)
        );
    }
}
