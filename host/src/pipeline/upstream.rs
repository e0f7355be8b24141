//! The origin's side of an exchange: the request sent to the pool (proxy
//! fields added, hop-by-hop ones dropped), the forward itself with its
//! metrics and the backend for the log, and the origin's response head made
//! fit for the client. Shared by the cache phase (fills, revalidations) and
//! the pass phase, so both forward the same way.

use http::{HeaderValue, Request, Response, header};

use super::exchange::Exchange;
use crate::body::Body;
use crate::error::{EdgeError, OriginFailure};
use crate::forwarding;
use crate::origin::{self, Affinity};

impl Exchange {
    /// Builds the request sent to the origin: hop-by-hop fields dropped,
    /// `X-Forwarded-*` and `Via` added, `Host` kept, origin-form, HTTP/1.1.
    pub(crate) fn to_upstream(&self, mut parts: http::request::Parts, body: Body) -> Request<Body> {
        let host_header = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let version = parts.version;
        let node = &self.generation.config.node.name;
        forwarding::remove_hop_by_hop(&mut parts.headers);
        forwarding::add_forwarded(
            &mut parts.headers,
            self.conn.peer.ip(),
            self.conn.scheme,
            host_header.as_ref().and_then(|h| h.to_str().ok()),
        );
        forwarding::add_via(&mut parts.headers, version, node);
        if let Some(h) = host_header {
            parts.headers.insert(header::HOST, h);
        }
        parts.version = http::Version::HTTP_11;
        let pq = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        parts.uri = http::Uri::from(pq);
        Request::from_parts(parts, body)
    }

    /// Runs on a cache miss or a pass: sends the request to the chosen pool
    /// (balancing, retries on another backend, backups and fallback pools;
    /// see [`crate::origin`]), counts the outcome and notes the backend for
    /// the log. Every backend down gives [`EdgeError::Unavailable`].
    pub(crate) async fn forward(
        &mut self,
        upstream: Request<Body>,
    ) -> Result<Response<Body>, EdgeError> {
        let pool = self.pool()?;
        // Hash-based strategies pick by host + path + query (consistent_hash) or client (ip_hash).
        let pq = upstream.uri().path_and_query().map_or("/", |p| p.as_str());
        let affinity = Affinity::from_request(&self.target.authority, pq, self.conn.peer.ip());
        let fallback = self.route().fallback.as_deref();
        let result =
            origin::forward(&self.generation.pools, pool, fallback, upstream, &affinity).await;
        let outcome = match &result {
            Ok(f) => crate::metrics::status_class(f.response.status()),
            Err(EdgeError::Origin {
                kind: OriginFailure::Timeout,
                ..
            }) => "timeout",
            Err(EdgeError::Unavailable { .. }) => "unavailable",
            Err(EdgeError::Client { .. }) => "client_abort",
            Err(_) => "error",
        };
        self.shared.metrics.record_origin(pool.name(), outcome);
        match result {
            Ok(f) => {
                self.log.origin = Some(f.backend.uri.to_string());
                Ok(f.response)
            }
            Err(e) => {
                if let EdgeError::Origin { backend, .. } = &e {
                    self.log.origin = Some(backend.clone());
                }
                Err(e)
            }
        }
    }

    /// Runs on the origin's response head: drops hop-by-hop fields, adds
    /// `Via`, and lets the body stream through.
    pub(crate) fn client_response(&self, resp: Response<Body>) -> Response<Body> {
        let (mut parts, body) = resp.into_parts();
        let version = parts.version;
        forwarding::remove_hop_by_hop(&mut parts.headers);
        let node = &self.generation.config.node.name;
        forwarding::add_via(&mut parts.headers, version, node);
        Response::from_parts(parts, body)
    }
}
