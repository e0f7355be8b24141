//! One request's phases, in order. Each phase is a small function whose doc
//! says when it runs; `handle` strings them together and is the only place
//! that turns an [`EdgeError`] into a response. The cache phase lives in
//! [`cached`].

mod cached;
mod ingress;
mod plain;

pub use ingress::{MAX_RESTARTS, OVERRIDE_HEADERS};

pub use plain::{PlainHit, plain_hit};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::access_log::{AccessRecord, LoggedBody};
use crate::body::Body;
use crate::error::{EdgeError, OriginFailure};
use crate::forwarding;
use crate::metrics::Metrics;
use crate::origin::{self, Affinity, Pool};
use crate::plugin::{self, ClientFacts, Flow};
use crate::state::{Generation, Shared};

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

/// What the phases learn about a request, for the log and metrics.
pub(crate) struct RequestCtx {
    start: Instant,
    method: http::Method,
    /// Path and query (a cheap clone of the request's; text only for logs).
    path: Option<http::uri::PathAndQuery>,
    /// Backend that answered, if one did.
    pub(crate) origin: Option<String>,
    /// Cache outcome for the access log.
    pub(crate) cache: &'static str,
    /// The request's authority (`host[:port]`, lower case, no default
    /// port), once known.
    pub(crate) host: Arc<str>,
}

impl RequestCtx {
    /// The path and query, for logs.
    fn path_text(&self) -> &str {
        self.path.as_ref().map_or("/", |p| p.as_str())
    }

    /// A context for work no client waits for (background revalidation).
    pub(crate) fn background(
        method: http::Method,
        path: Option<http::uri::PathAndQuery>,
    ) -> RequestCtx {
        RequestCtx {
            start: Instant::now(),
            method,
            path,
            origin: None,
            cache: "-",
            host: Arc::from(""),
        }
    }
}

/// Entry point: runs every phase for one request and always produces a response.
pub async fn handle(req: Request<Incoming>, conn: ConnInfo, shared: Arc<Shared>) -> Response<Body> {
    let generation = shared.generation();
    let mut ctx = RequestCtx {
        start: Instant::now(),
        method: req.method().clone(),
        path: req.uri().path_and_query().cloned(),
        origin: None,
        cache: "BYPASS",
        host: Arc::from(""),
    };
    let resp = match run(req, conn, &generation, &shared, &mut ctx).await {
        Ok(resp) => resp,
        Err(e) => {
            match e.status().as_u16() {
                500..=599 => tracing::warn!(
                    source = e.source_label(),
                    "{} {}: {e}",
                    ctx.method,
                    ctx.path_text()
                ),
                _ => tracing::debug!(
                    source = e.source_label(),
                    "{} {}: {e}",
                    ctx.method,
                    ctx.path_text()
                ),
            }
            e.to_response()
        }
    };
    finish(resp, ctx, conn, &shared, &generation)
}

async fn run(
    req: Request<Incoming>,
    conn: ConnInfo,
    generation: &Arc<Generation>,
    shared: &Arc<Shared>,
    ctx: &mut RequestCtx,
) -> Result<Response<Body>, EdgeError> {
    let (mut parts, body) = req.into_parts();
    check_limits(&parts, generation)?;
    let mut target = ingress::normalize(&mut parts, conn, generation)?;
    check_loop(&parts, &generation.config.node.name)?;
    let (mut route_index, mut route) = ingress::route(&mut parts, &target, generation)?;
    // Plugins see the client as text; a node without plugins builds nothing.
    let client = if generation.config.plugins.is_empty() {
        ClientFacts {
            ip: String::new(),
            region: String::new(),
        }
    } else {
        ClientFacts {
            ip: conn.peer.ip().to_string(),
            region: generation.config.node.region.clone(),
        }
    };
    let (chain, seen, directives) = match Box::pin(request_phase(
        &mut parts,
        conn,
        generation,
        &client,
        &mut target,
        &mut (route_index, route),
    ))
    .await?
    {
        Requested::Answer(mut resp) => {
            ctx.cache = "PLUGIN";
            cached::mark_bypass(&mut resp, &generation.node);
            return Ok(resp);
        }
        Requested::Forward {
            chain,
            seen,
            directives,
            route: r,
        } => {
            (route_index, route) = r;
            (chain, seen, directives)
        }
    };
    let chain: &[_] = &chain;
    // The log shows the request as forwarded.
    ctx.path = parts.uri.path_and_query().cloned();
    ctx.host = target.authority.clone();
    // The route's own pool was looked up once for the generation.
    let pool = match directives.pool.as_deref() {
        Some(name) => generation.pools.get(name),
        None => generation.route_pools[route_index].as_ref(),
    };
    let pool = pool
        .ok_or_else(|| {
            let name = directives.pool.as_deref().unwrap_or(&route.pool);
            EdgeError::Internal(format!("missing pool {name}"))
        })?
        .clone();
    let resp = if cached::applies(&parts, route) {
        let variant = key_variant(
            directives.cache_variant,
            generation.plugins.canary_tag(chain),
            &pool,
            route,
            &parts,
        );
        let phase = cached::CachePhase {
            shared: shared.clone(),
            generation: generation.clone(),
            pool,
            fallback: route.fallback.clone(),
            conn,
            host: target.authority.clone(),
            route_index,
            variant,
            ttl_override: directives.ttl_override,
        };
        phase.serve(parts, ctx).await?
    } else {
        Box::pin(pass(
            parts, body, conn, generation, &pool, shared, route, ctx,
        ))
        .await?
    };
    match &seen {
        Some(seen) => Box::pin(plugin::on_response(chain, seen, &client.ip, resp)).await,
        None => Ok(resp),
    }
}

/// What the request plugins decided.
enum Requested<'g> {
    /// A plugin answered: this goes to the client.
    Answer(Response<Body>),
    /// On to the cache and the origin, on `route`, with the chain that ran
    /// last (its response phase runs on the way back).
    Forward {
        chain: std::borrow::Cow<'g, [Arc<plugin::LoadedPlugin>]>,
        seen: Option<plugin::SeenRequest>,
        directives: plugin::Directives,
        route: (usize, &'g crate::config::RouteConfig),
    },
}

/// Runs after the route: the route's request plugins, in order. When one
/// changes the path or Host, the new target is normalised and routed again
/// (`target` and `route` follow), and the chain of that route runs from the
/// top; the rewriter is not called again on the same route. Past
/// [`ingress::MAX_RESTARTS`] rewrites: 508.
async fn request_phase<'g>(
    parts: &mut http::request::Parts,
    conn: ConnInfo,
    generation: &'g Generation,
    client: &ClientFacts,
    target: &mut ingress::Target,
    route: &mut (usize, &'g crate::config::RouteConfig),
) -> Result<Requested<'g>, EdgeError> {
    let pool_exists = |name: &str| generation.pools.get(name).is_some();
    let mut directives = plugin::Directives::default();
    // (route, plugin index) of each rewrite so far: not called again there.
    let mut rewrites: Vec<(usize, usize)> = Vec::new();
    loop {
        // Canary versions are picked once per pass: both phases run the same versions.
        let chain = generation.plugins.pick(route.0);
        if chain.is_empty() {
            let route = *route;
            let (seen, directives) = (None, directives);
            return Ok(Requested::Forward {
                chain,
                seen,
                directives,
                route,
            });
        }
        let skip: Vec<usize> = rewrites
            .iter()
            .filter(|(r, _)| *r == route.0)
            .map(|(_, i)| *i)
            .collect();
        let request = (&mut *parts, conn.scheme, &*target.host, client);
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
                let route = *route;
                return Ok(Requested::Forward {
                    chain,
                    seen,
                    directives,
                    route,
                });
            }
            Flow::Retarget { directives: d, by } => {
                directives = d;
                rewrites.push((route.0, by));
                if rewrites.len() > ingress::MAX_RESTARTS {
                    return Err(EdgeError::client(
                        StatusCode::LOOP_DETECTED,
                        "plugins rewrote the request too many times",
                    ));
                }
                *target = ingress::retarget(parts, conn, target)?;
                *route = ingress::route(parts, target, generation)?;
            }
        }
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
    canary: Option<String>,
    pool: &Pool,
    route: &crate::config::RouteConfig,
    parts: &http::request::Parts,
) -> Option<String> {
    let pool_host = pool.host_override().and_then(|h| h.to_str().ok());
    let overrides = route.forward_overrides && parts.headers.keys().any(ingress::is_override);
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
#[expect(clippy::too_many_arguments, reason = "one phase's whole context")]
async fn pass(
    parts: http::request::Parts,
    body: Incoming,
    conn: ConnInfo,
    generation: &Arc<Generation>,
    pool: &Arc<Pool>,
    shared: &Arc<Shared>,
    route: &crate::config::RouteConfig,
    ctx: &mut RequestCtx,
) -> Result<Response<Body>, EdgeError> {
    let invalidate =
        (!parts.method.is_safe()).then(|| cached::invalidation_url(&parts, conn, &ctx.host, route));
    let limit = generation.config.limits.max_body_bytes;
    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed();
    let upstream = to_upstream(parts, body, conn, generation);
    let host = ctx.host.clone();
    let resp = forward(
        generation,
        pool,
        route.fallback.as_deref(),
        upstream,
        &host,
        conn.peer.ip(),
        &shared.metrics,
        ctx,
    )
    .await?;
    if let Some(url) = invalidate
        && (resp.status().is_success() || resp.status().is_redirection())
    {
        cached::invalidate_after_unsafe(&shared.cache, &url, &host, conn, resp.headers()).await;
    }
    let mut resp = from_upstream(resp, generation);
    cached::mark_bypass(&mut resp, &generation.node);
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

/// Builds the request sent to the origin: hop-by-hop fields dropped,
/// `X-Forwarded-*` and `Via` added, `Host` kept, the body streamed through a
/// length limit.
pub(crate) fn to_upstream(
    mut parts: http::request::Parts,
    body: Body,
    conn: ConnInfo,
    generation: &Generation,
) -> Request<Body> {
    let host_header = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let version = parts.version;
    forwarding::remove_hop_by_hop(&mut parts.headers);
    forwarding::add_forwarded(
        &mut parts.headers,
        conn.peer.ip(),
        conn.scheme,
        host_header.as_ref().and_then(|h| h.to_str().ok()),
    );
    forwarding::add_via(&mut parts.headers, version, &generation.config.node.name);
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

/// Runs on a cache miss: sends the request to the pool (balancing, retries
/// on another backend, backups and fallback pools; see [`crate::origin`]) and
/// records the outcome. Every backend down gives [`EdgeError::Unavailable`].
#[expect(clippy::too_many_arguments, reason = "one phase's whole context")]
pub(crate) async fn forward(
    generation: &Generation,
    pool: &Arc<Pool>,
    route_fallback: Option<&str>,
    upstream: Request<Body>,
    host: &str,
    client_ip: std::net::IpAddr,
    metrics: &Metrics,
    ctx: &mut RequestCtx,
) -> Result<Response<Body>, EdgeError> {
    // Hash-based strategies pick by host + path + query (consistent_hash) or client (ip_hash).
    let pq = upstream.uri().path_and_query().map_or("/", |p| p.as_str());
    let affinity = Affinity::from_request(host, pq, client_ip);
    let result =
        origin::forward(&generation.pools, pool, route_fallback, upstream, &affinity).await;
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
    metrics.record_origin(pool.name(), outcome);
    match result {
        Ok(f) => {
            ctx.origin = Some(f.backend.uri.to_string());
            Ok(f.response)
        }
        Err(e) => {
            if let EdgeError::Origin { backend, .. } = &e {
                ctx.origin = Some(backend.clone());
            }
            Err(e)
        }
    }
}

/// Runs on the origin's response head: drops hop-by-hop fields, adds `Via`,
/// and lets the body stream through.
pub(crate) fn from_upstream(resp: Response<Body>, generation: &Generation) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let version = parts.version;
    forwarding::remove_hop_by_hop(&mut parts.headers);
    forwarding::add_via(&mut parts.headers, version, &generation.config.node.name);
    Response::from_parts(parts, body)
}

/// Runs last: metrics and the access log (written when the body ends).
fn finish(
    resp: Response<Body>,
    ctx: RequestCtx,
    conn: ConnInfo,
    shared: &Shared,
    generation: &Generation,
) -> Response<Body> {
    shared
        .metrics
        .record_request(resp.status(), ctx.start.elapsed());
    let record = generation.config.log.access_log.then(|| AccessRecord {
        path: ctx.path_text().to_string(),
        method: ctx.method,
        status: resp.status().as_u16(),
        client: conn.peer.to_string(),
        cache: ctx.cache,
        origin: ctx.origin.unwrap_or_else(|| "-".into()),
        start: ctx.start,
    });
    match record {
        Some(record) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, BodyExt::boxed(LoggedBody::new(body, Some(record))))
        }
        None => resp,
    }
}
