//! The admin listener: `/healthz`, `/metrics`, `/status`. Anything that
//! changes state requires `Authorization: Bearer <admin.token>`.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::body::{Body, full, json_response, text_response};
use crate::server::Handler;
use crate::state::Shared;

/// Serves admin requests.
#[derive(Clone)]
pub struct AdminHandler {
    /// Node state.
    pub shared: Arc<Shared>,
    /// Token required for state-changing endpoints.
    pub token: Option<Arc<str>>,
}

impl Handler for AdminHandler {
    fn call(
        &self,
        req: Request<Incoming>,
        _peer: SocketAddr,
        _scheme: &'static str,
    ) -> impl Future<Output = Response<Body>> + Send + 'static + use<> {
        let this = self.clone();
        async move { this.handle(req).await }
    }
}

impl AdminHandler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text_response(StatusCode::OK, "ok"),
            (&Method::GET, "/metrics") => {
                let text = self.shared.metrics.encode();
                let mut text = text.strip_suffix("# EOF\n").unwrap_or(&text).to_string();
                crate::plugin::encode_metrics(&self.shared.generation().plugins, &mut text);
                text.push_str("# EOF\n");
                let mut resp = Response::new(full(text));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                resp
            }
            (&Method::GET, "/status") => json_response(StatusCode::OK, &self.status()),
            (_, "/healthz" | "/metrics" | "/status") => {
                text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => text_response(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// Whether `req` carries the admin token (constant-time comparison).
    pub fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let given = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn status(&self) -> serde_json::Value {
        let g = self.shared.generation();
        let pools: Vec<_> = g
            .pools
            .all()
            .into_iter()
            .map(|p| {
                let backends: Vec<_> = p
                    .backends()
                    .iter()
                    .map(|b| {
                        json!({
                            "url": b.uri.to_string(),
                            "requests": b.requests.load(std::sync::atomic::Ordering::Relaxed),
                            "failures": b.failures.load(std::sync::atomic::Ordering::Relaxed),
                        })
                    })
                    .collect();
                json!({ "name": p.name(), "backends": backends })
            })
            .collect();
        let plugins: Vec<_> = g
            .plugins
            .all()
            .into_iter()
            .map(|p| {
                let failures: serde_json::Map<String, serde_json::Value> =
                    crate::plugin::FailureKind::ALL
                        .iter()
                        .map(|k| {
                            let n = p.stats.failures[*k as usize].load(std::sync::atomic::Ordering::Relaxed);
                            (k.label().to_string(), n.into())
                        })
                        .collect();
                json!({
                    "name": p.name(),
                    "calls": p.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                    "instantiations": p.stats.instantiations.load(std::sync::atomic::Ordering::Relaxed),
                    "failures": failures,
                    "last_error": p.stats.last_error(),
                })
            })
            .collect();
        json!({
            "node": g.config.node.name,
            "region": g.config.node.region,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.shared.started.elapsed().as_secs(),
            "config": { "source": g.config.source, "generation": g.id },
            "pools": pools,
            "plugins": plugins,
        })
    }
}
