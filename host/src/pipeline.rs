//! One request's phases, in order. Each phase is a small function whose doc
//! says when it runs; `handle` strings them together and is the only place
//! that turns an [`EdgeError`] into a response. What the phases share travels
//! in one [`Exchange`] (see [`exchange`]). The cache phase lives in
//! [`cached`], the origin's side of a request in [`upstream`].

mod cached;
mod exchange;
mod ingress;
mod plain;
mod upstream;

pub use plain::{PlainHit, plain_hit};

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::access_log::{AccessRecord, CacheOutcome, LoggedBody};
use crate::body::Body;
use crate::error::EdgeError;
use crate::origin::Pool;
use crate::plugin::{self, ClientFacts, Directives, Flow};
use crate::state::{Generation, Shared};

use exchange::{Exchange, LogFields};

/// Facts about the client connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address.
    pub peer: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The port of the listener it arrived on: like the scheme's default
    /// port, a `Host` naming it is read as naming none.
    pub port: u16,
}

/// Entry point: runs every phase for one request and always produces a response.
pub async fn handle(req: Request<Incoming>, conn: ConnInfo, shared: Arc<Shared>) -> Response<Body> {
    let log = LogFields::new(req.method().clone(), req.uri().path_and_query().cloned());
    let mut x = Exchange::new(conn, shared, log);
    let resp = match run(req, &mut x).await {
        Ok(resp) => resp,
        Err(e) => {
            let log = &x.log;
            match e.status().as_u16() {
                500..=599 => tracing::warn!(
                    source = e.source_label(),
                    "{} {}: {e}",
                    log.method,
                    log.path_text()
                ),
                _ => tracing::debug!(
                    source = e.source_label(),
                    "{} {}: {e}",
                    log.method,
                    log.path_text()
                ),
            }
            e.to_response()
        }
    };
    finish(resp, x)
}

/// The phases after the head is read: ingress, the request plugins, the
/// pool, then the cache or a pass to the origin, and the response plugins.
async fn run(req: Request<Incoming>, x: &mut Exchange) -> Result<Response<Body>, EdgeError> {
    let (mut parts, body) = req.into_parts();
    check_limits(&parts, &x.generation)?;
    x.target = ingress::normalize(&mut parts, x.conn, &x.generation)?;
    check_loop(&parts, &x.generation.config.node.name)?;
    x.route = ingress::route(&mut parts, &x.target, &x.generation)?.0;
    x.plugins.client = client_facts(x);
    let directives = match Box::pin(request_phase(&mut parts, x)).await? {
        Requested::Answer(mut resp) => {
            x.log.cache = CacheOutcome::Plugin;
            cached::mark_bypass(&mut resp, &x.generation.node);
            return Ok(resp);
        }
        Requested::Forward(directives) => directives,
    };
    // The log shows the request as forwarded.
    x.log.path = parts.uri.path_and_query().cloned();
    x.pool = Some(choose_pool(x, directives.pool.as_deref())?);
    let resp = if cached::applies(&parts, x.route()) {
        let variant = key_variant(directives.cache_variant, x, &parts);
        let phase = cached::CachePhase::new(x, variant, directives.ttl_override);
        phase.serve(parts).await?
    } else {
        Box::pin(pass(parts, body, x)).await?
    };
    response_phase(x, resp).await
}

/// Runs after the route, before the request plugins: the client as plugins
/// see it (text); a node without plugins builds nothing.
fn client_facts(x: &Exchange) -> ClientFacts {
    if x.generation.config.plugins.is_empty() {
        ClientFacts {
            ip: String::new(),
            region: String::new(),
        }
    } else {
        ClientFacts {
            ip: x.conn.peer.ip().to_string(),
            region: x.generation.config.node.region.clone(),
        }
    }
}

/// What the request plugins decided.
enum Requested {
    /// A plugin answered: this goes to the client.
    Answer(Response<Body>),
    /// On to the cache and the origin, on the exchange's route, with these
    /// directives (the chain that ran last is in the exchange: its response
    /// phase runs on the way back).
    Forward(Directives),
}

/// Runs after the route: the route's request plugins, in order. When one
/// changes the path or Host, the new target is normalised and routed again
/// (the exchange's `target` and `route` follow), and the chain of that route
/// runs from the top; the rewriter is not called again on the same route.
/// Past [`ingress::MAX_RESTARTS`] rewrites: 508.
async fn request_phase(
    parts: &mut http::request::Parts,
    x: &mut Exchange,
) -> Result<Requested, EdgeError> {
    let generation = &*x.generation;
    let pool_exists = |name: &str| generation.pools.get(name).is_some();
    let mut directives = Directives::default();
    // (route, plugin index) of each rewrite so far: not called again there.
    let mut rewrites: Vec<(usize, usize)> = Vec::new();
    loop {
        // Canary versions are picked once per pass: both phases run the same versions.
        let chain = generation.plugins.pick(x.route);
        if chain.is_empty() {
            return Ok(Requested::Forward(directives));
        }
        let skip: Vec<usize> = rewrites
            .iter()
            .filter(|(r, _)| *r == x.route)
            .map(|(_, i)| *i)
            .collect();
        let request = (
            &mut *parts,
            x.conn.scheme,
            &*x.target.host,
            &x.plugins.client,
        );
        let (flow, seen) = plugin::on_request_after(
            &chain,
            request,
            &pool_exists,
            &skip,
            std::mem::take(&mut directives),
        )
        .await?;
        match flow {
            Flow::Respond(resp) => return Ok(Requested::Answer(resp)),
            Flow::Continue(directives) => {
                x.plugins.chain = chain.into_owned();
                x.plugins.seen = seen;
                return Ok(Requested::Forward(directives));
            }
            Flow::Retarget { directives: d, by } => {
                directives = d;
                rewrites.push((x.route, by));
                if rewrites.len() > ingress::MAX_RESTARTS {
                    return Err(EdgeError::client(
                        StatusCode::LOOP_DETECTED,
                        "plugins rewrote the request too many times",
                    ));
                }
                x.target = ingress::retarget(parts, x.conn, &x.target)?;
                x.route = ingress::route(parts, &x.target, generation)?.0;
            }
        }
    }
}

/// Runs after the request plugins: the pool a plugin named, else the
/// route's own (looked up once for the generation).
fn choose_pool(x: &Exchange, named: Option<&str>) -> Result<Arc<Pool>, EdgeError> {
    let pool = match named {
        Some(name) => x.generation.pools.get(name),
        None => x.generation.route_pools[x.route].as_ref(),
    };
    pool.cloned().ok_or_else(|| {
        let name = named.unwrap_or(&x.route().pool);
        EdgeError::Internal(format!("missing pool {name}"))
    })
}

/// Runs on the way back, after the cache or pass phase: the response
/// plugins of the chain the request ran.
async fn response_phase(x: &Exchange, resp: Response<Body>) -> Result<Response<Body>, EdgeError> {
    match &x.plugins.seen {
        Some(seen) => {
            let (chain, ip) = (&x.plugins.chain, &x.plugins.client.ip);
            Box::pin(plugin::on_response(chain, seen, ip, resp)).await
        }
        None => Ok(resp),
    }
}

/// Runs before the cache phase: what the key holds besides the URL and the
/// `Vary`'d fields. The plugins' cache variant; the canary versions the
/// request ran (their responses are never served to the stable version);
/// the pool's own `Host`, when it sets one (the origin answered for that
/// host); and the override fields a route forwards (an origin may answer
/// them with another resource). Parts are separated by a control character
/// no plugin variant or field value holds.
fn key_variant(
    plugin: Option<String>,
    x: &Exchange,
    parts: &http::request::Parts,
) -> Option<String> {
    let canary = x.generation.plugins.canary_tag(&x.plugins.chain);
    let pool_host = (x.pool.as_ref())
        .and_then(|p| p.host_override())
        .and_then(|h| h.to_str().ok());
    let overrides = x.route().forward_overrides && parts.headers.keys().any(ingress::is_override);
    if canary.is_none() && pool_host.is_none() && !overrides {
        return plugin;
    }
    let mut v = plugin.unwrap_or_default();
    if let Some(c) = canary {
        v.push_str("\u{1f}canary=");
        v.push_str(&c);
    }
    if let Some(h) = pool_host {
        v.push_str("\u{1f}pool-host=");
        v.push_str(h);
    }
    if overrides {
        for (name, value) in parts
            .headers
            .iter()
            .filter(|(n, _)| ingress::is_override(n))
        {
            v.push('\u{1f}');
            v.push_str(name.as_str());
            v.push('=');
            v.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
    }
    Some(v)
}

/// Runs for requests the cache does not handle (unsafe methods, bypassed
/// routes): forwards with the body streamed, and after a successful unsafe
/// method invalidates what it changed.
async fn pass(
    parts: http::request::Parts,
    body: Incoming,
    x: &mut Exchange,
) -> Result<Response<Body>, EdgeError> {
    let host = x.target.authority.clone();
    let invalidate = (!parts.method.is_safe())
        .then(|| cached::invalidation_url(&parts, x.conn, &host, x.route()));
    let limit = x.generation.config.limits.max_body_bytes;
    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed();
    let upstream = x.to_upstream(parts, body);
    let resp = x.forward(upstream).await?;
    if let Some(url) = invalidate
        && (resp.status().is_success() || resp.status().is_redirection())
    {
        let cache = &x.shared.cache;
        cached::invalidate_after_unsafe(cache, &url, &host, x.conn, resp.headers()).await;
    }
    let mut resp = x.client_response(resp);
    cached::mark_bypass(&mut resp, &x.generation.node);
    Ok(resp)
}

/// Runs first: refuses heads over `max_header_bytes` (431) and bodies whose
/// declared length is over `max_body_bytes` (413).
fn check_limits(req: &http::request::Parts, generation: &Generation) -> Result<(), EdgeError> {
    let limits = &generation.config.limits;
    let head: usize = req
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + req.uri.authority().map_or(0, |a| a.as_str().len());
    if head > limits.max_header_bytes {
        return Err(EdgeError::client(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header fields too large",
        ));
    }
    if crate::body::content_length(&req.headers).is_some_and(|n| n > limits.max_body_bytes) {
        return Err(EdgeError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ));
    }
    Ok(())
}

/// Runs after the limits: a request whose `Via` already names this node has
/// come round in a forwarding loop (508).
fn check_loop(req: &http::request::Parts, node: &str) -> Result<(), EdgeError> {
    let looped = req
        .headers
        .get_all(header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|hop| hop.split_whitespace().nth(1) == Some(node));
    if looped {
        return Err(EdgeError::client(
            StatusCode::LOOP_DETECTED,
            "forwarding loop detected",
        ));
    }
    Ok(())
}

/// Runs last: metrics and the access log (written when the body ends).
fn finish(resp: Response<Body>, x: Exchange) -> Response<Body> {
    let log = x.log;
    x.shared
        .metrics
        .record_request(resp.status(), log.start.elapsed());
    let record = x.generation.config.log.access_log.then(|| AccessRecord {
        path: log.path_text().to_string(),
        method: log.method,
        status: resp.status().as_u16(),
        client: x.conn.peer.to_string(),
        cache: log.cache,
        origin: log.origin.unwrap_or_else(|| "-".into()),
        start: log.start,
    });
    match record {
        Some(record) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, BodyExt::boxed(LoggedBody::new(body, Some(record))))
        }
        None => resp,
    }
}
