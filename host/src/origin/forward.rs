//! One request to the origins: pick a backend, send, and on failure retry on
//! another backend when the retry policy and budget allow; fail over to the
//! pool's backups, then its fallback pool(s), then the route's fallback pool,
//! when no primary is available; 503 (`EdgeError::Unavailable`) when nothing is.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Request, Response};

use super::backend::Backend;
use super::balance::Affinity;
use super::retry::{Replay, is_idempotent};
use super::{Pool, Pools};
use crate::body::Body;
use crate::error::{EdgeError, OriginFailure};

/// A response from an origin, with where it came from.
#[derive(Debug)]
pub struct Forwarded {
    /// The response; its body streams from the origin.
    pub response: Response<Body>,
    /// The backend that answered.
    pub backend: Arc<Backend>,
}

/// Most pools followed through `fallback` links.
const MAX_CHAIN: usize = 8;

/// The pools to try, in order: `first`, its fallback chain, then the route's fallback chain.
fn chain(pools: &Pools, first: &Arc<Pool>, route_fallback: Option<&str>) -> Vec<Arc<Pool>> {
    let mut out: Vec<Arc<Pool>> = Vec::new();
    let push_chain = |start: Option<Arc<Pool>>, out: &mut Vec<Arc<Pool>>| {
        let mut next = start;
        while let Some(p) = next {
            if out.len() >= MAX_CHAIN || out.iter().any(|q| Arc::ptr_eq(q, &p)) {
                break;
            }
            next = p
                .config()
                .fallback
                .as_deref()
                .and_then(|n| pools.get(n).cloned());
            out.push(p);
        }
    };
    push_chain(Some(first.clone()), &mut out);
    push_chain(route_fallback.and_then(|n| pools.get(n).cloned()), &mut out);
    out
}

/// A backend to try next: the first pool in `chain` with an available
/// primary, else backup, backend not tried yet.
fn pick(
    chain: &[Arc<Pool>],
    tried: &[Arc<Backend>],
    affinity: &Affinity,
) -> Option<(Arc<Pool>, Arc<Backend>)> {
    chain.iter().find_map(|pool| {
        pool.pick(false, tried, affinity)
            .or_else(|| pool.pick(true, tried, affinity))
            .map(|b| (pool.clone(), b))
    })
}

/// Whether the outcome `last` may be retried.
fn retryable(last: &Result<Forwarded, EdgeError>, idempotent: bool, replay: &Replay) -> bool {
    match last {
        // A 5xx answer, a timeout or a broken exchange: the origin may have acted.
        Ok(_)
        | Err(EdgeError::Origin {
            kind: OriginFailure::Timeout | OriginFailure::Protocol,
            ..
        }) => idempotent && replay.replayable(),
        // Nothing was sent: safe for any method whose body was not read.
        Err(EdgeError::Origin {
            kind: OriginFailure::Connect,
            ..
        }) => !replay.started(),
        Err(_) => false,
    }
}

/// Sends `req` (URI: path and query only) to `pool`, with retries and
/// failover. A 5xx answer comes back as a response once no retry is left.
pub async fn forward(
    pools: &Pools,
    pool: &Arc<Pool>,
    route_fallback: Option<&str>,
    req: Request<Body>,
    affinity: &Affinity,
) -> Result<Forwarded, EdgeError> {
    let chain = chain(pools, pool, route_fallback);
    let (parts, body) = req.into_parts();
    let idempotent = is_idempotent(&parts.method);
    let replay = Replay::prepare(body, idempotent)
        .await
        .map_err(|e| client_body_error(&*e))?;
    let config = pool.config();
    let max_attempts = config.retry.attempts.max(1);
    let deadline = config
        .total_timeout
        .map(|t| tokio::time::Instant::now() + t);
    pool.budget.deposit();
    let mut parts = Some(parts);
    let mut tried: Vec<Arc<Backend>> = Vec::new();
    let mut last: Option<Result<Forwarded, EdgeError>> = None;
    for attempt in 1..=max_attempts {
        if let Some(l) = &last
            && (!retryable(l, idempotent, &replay)
                || deadline.is_some_and(|d| tokio::time::Instant::now() >= d))
        {
            break;
        }
        let Some((target, backend)) = pick(&chain, &tried, affinity) else {
            if last.is_none() {
                pool.stats.unavailable.fetch_add(1, Ordering::Relaxed);
                return Err(EdgeError::Unavailable {
                    pool: pool.name().to_string(),
                });
            }
            break;
        };
        if attempt > 1 {
            if !pool.budget.withdraw() {
                pool.stats.retries_denied.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(pool = pool.name(), "retry budget spent: not retrying");
                break;
            }
            pool.stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(Err(e)) = &last {
                tracing::debug!(pool = pool.name(), backend = %backend.uri, attempt, "retrying after: {e}");
            }
        }
        if backend.backup || !Arc::ptr_eq(&target, pool) {
            pool.stats.failovers.fetch_add(1, Ordering::Relaxed);
        }
        tried.push(backend.clone());
        let this_parts = if attempt == max_attempts {
            parts.take()
        } else {
            parts.clone()
        }
        .ok_or_else(|| EdgeError::Internal("request parts used up".into()))?;
        let req = Request::from_parts(this_parts, replay.body());
        let outcome = target.send(&backend, req, deadline).await;
        match outcome.map(|response| Forwarded { response, backend }) {
            Ok(f) if !f.response.status().is_server_error() => return Ok(f),
            Err(e @ (EdgeError::Client { .. } | EdgeError::Internal(_))) => return Err(e),
            other => last = Some(other),
        }
    }
    last.unwrap_or_else(|| {
        Err(EdgeError::Unavailable {
            pool: pool.name().to_string(),
        })
    })
}

fn client_body_error(e: &(dyn std::error::Error + 'static)) -> EdgeError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            return EdgeError::client(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            );
        }
        cur = err.source();
    }
    EdgeError::client(http::StatusCode::BAD_REQUEST, "request body incomplete")
}
