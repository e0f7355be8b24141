//! The admin listener: `/healthz`, `/metrics`, `/status`, `POST /purge`,
//! `POST /reload`. Anything that changes state requires
//! `Authorization: Bearer <admin.token>` (the token of the current config
//! generation, so a reload can rotate it).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::body::{Body, full, json_response, text_response};
use crate::cache::PurgeTarget;
use crate::node::reload::{ReloadError, Reloader, Trigger};
use crate::server::Handler;
use crate::state::Shared;

/// Serves admin requests.
#[derive(Clone)]
pub struct AdminHandler {
    /// Node state.
    pub shared: Arc<Shared>,
    /// Applies `POST /reload`.
    pub reloader: Arc<Reloader>,
}

impl Handler for AdminHandler {
    type Direct = std::convert::Infallible;

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
    /// The admin API of the node whose state and reloader these are; what
    /// [`crate::node::Node::with_admin`] takes to serve the node's admin
    /// listener.
    pub fn new(shared: Arc<Shared>, reloader: Arc<Reloader>) -> AdminHandler {
        AdminHandler { shared, reloader }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text_response(StatusCode::OK, "ok"),
            (&Method::GET, "/metrics") => {
                let text = self.shared.metrics.encode();
                let mut resp = Response::new(full(text));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                resp
            }
            (&Method::GET, "/status") => json_response(StatusCode::OK, &self.status().await),
            (&Method::POST, "/reload") => {
                if !self.authorized(&req) {
                    return unauthorized();
                }
                self.reload().await
            }
            (&Method::POST, "/purge") => {
                if !self.authorized(&req) {
                    return unauthorized();
                }
                self.purge(req.uri().query().unwrap_or("")).await
            }
            (_, "/healthz" | "/metrics" | "/status" | "/purge" | "/reload") => {
                text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => text_response(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// `POST /purge?url=U | prefix=P | tag=K [&soft=1]`: hard purge removes,
    /// soft purge marks stale (served only after revalidation).
    async fn purge(&self, query: &str) -> Response<Body> {
        let mut target = None;
        let mut soft = false;
        for (k, v) in form_pairs(query) {
            if k == "soft" {
                soft = matches!(v.as_str(), "1" | "true" | "yes");
            } else if let Some(t) = purge_target(&k, v) {
                target = Some(t);
            }
        }
        let Some(target) = target else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "give url=, prefix= or tag= (and soft=1 for a soft purge)",
            );
        };
        let n = self.shared.cache.purge(&target, soft);
        tracing::info!(?target, soft, purged = n, "purge");
        json_response(
            StatusCode::OK,
            &json!({ "purged": n, "soft": soft, "target": format!("{target:?}") }),
        )
    }

    /// `POST /reload`: re-reads the config file and applies it, all or
    /// nothing. 200 with the new generation; 422 with the located errors
    /// when the new config is refused (the node keeps the old one); 409 when
    /// this node cannot reload.
    async fn reload(&self) -> Response<Body> {
        match self.reloader.reload(Trigger::Admin).await {
            Ok(r) => json_response(
                StatusCode::OK,
                &json!({
                    "reloaded": true,
                    "generation": r.generation,
                    "duration_ms": r.duration.as_secs_f64() * 1000.0,
                }),
            ),
            Err(e) => {
                let status = match e {
                    ReloadError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    ReloadError::Unsupported(_) => StatusCode::CONFLICT,
                };
                json_response(
                    status,
                    &json!({
                        "reloaded": false,
                        "generation": self.shared.generation().id,
                        "error": e.to_string(),
                    }),
                )
            }
        }
    }

    /// Whether `req` carries the admin token (constant-time comparison).
    pub fn authorized<B>(&self, req: &Request<B>) -> bool {
        let generation = self.shared.generation();
        let Some(token) = generation
            .config
            .admin
            .as_ref()
            .and_then(|a| a.token.as_ref())
        else {
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

    async fn status(&self) -> serde_json::Value {
        let reloadable = self.reloader.file().await.is_some();
        let g = self.shared.generation();
        let pools: Vec<_> = g
            .pools
            .all()
            .into_iter()
            .map(|p| crate::origin::status_json(p))
            .collect();
        let plugins: Vec<_> = g
            .plugins
            .all()
            .into_iter()
            .map(|p| {
                let mut entry = json!({
                    "name": p.name(),
                    "abi": p.abi(),
                    "hooks": p.hook_names(),
                    "calls": p.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                    "instantiations": p.stats.instantiations.load(std::sync::atomic::Ordering::Relaxed),
                    "failures": plugin_failures(p),
                    "last_error": p.stats.last_error(),
                });
                if let Some(c) = g.plugins.canary(p.name()) {
                    entry["canary"] = json!({
                        "percent": c.percent,
                        "calls": c.plugin.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                        "instantiations": c.plugin.stats.instantiations.load(std::sync::atomic::Ordering::Relaxed),
                        "failures": plugin_failures(&c.plugin),
                        "last_error": c.plugin.stats.last_error(),
                    });
                }
                entry
            })
            .collect();
        json!({
            "node": g.config.node.name,
            "region": g.config.node.region,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.shared.started.elapsed().as_secs(),
            "config": self.shared.config_status.json(&g.config.source, g.id, reloadable),
            "control": self.shared.control.json(),
            "listeners": self
                .reloader
                .listeners()
                .iter()
                .map(|l| l.url())
                .collect::<Vec<_>>(),
            "pools": pools,
            "plugins": plugins,
            "cache": {
                "entries": self.shared.cache.entry_count(),
                "bytes": self.shared.cache.weighted_size(),
                "capacity_bytes": self.shared.cache.capacity_bytes(),
            },
        })
    }
}

/// A plugin version's failure counts by kind.
fn plugin_failures(p: &crate::plugin::LoadedPlugin) -> serde_json::Value {
    crate::plugin::FailureKind::ALL
        .iter()
        .map(|k| {
            let n = p.stats.failures[*k as usize].load(std::sync::atomic::Ordering::Relaxed);
            (k.label().to_string(), serde_json::Value::from(n))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn unauthorized() -> Response<Body> {
    let mut resp = text_response(StatusCode::UNAUTHORIZED, "admin token required");
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"brink-admin\""),
    );
    resp
}

/// `a=1&b=x%2Fy` as decoded pairs.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The purge target of one `POST /purge` parameter (`url`, `prefix`,
/// `tag` or its alias `key`), read as the admin API reads it; `None` for
/// any other name. The fleet's purges (`crate::control::purge`) go through
/// here too, so a purge means the same on every path.
pub fn purge_target(name: &str, value: String) -> Option<PurgeTarget> {
    match name {
        "url" => Some(PurgeTarget::Url(purge_url(value, false))),
        "prefix" => Some(PurgeTarget::Prefix(purge_url(value, true))),
        "tag" | "key" => Some(PurgeTarget::Tag(value)),
        _ => None,
    }
}

/// A purge URL read as requests are (see `pipeline::ingress`): the host
/// lower case without the scheme's default port, the path normalised (for
/// a prefix, only the authority: a prefix need not be a whole path). Text
/// that does not parse is taken as given.
fn purge_url(v: String, prefix: bool) -> String {
    use crate::normalize::{self, PathRules};
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            (s.to_ascii_lowercase(), r)
        }
        _ => ("".into(), v.as_str()),
    };
    let (authority, target) = if scheme.is_empty() {
        (None, rest)
    } else {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        (Some(&rest[..end]), &rest[end..])
    };
    let authority = match authority {
        Some(a) => match normalize::parse_authority(a.as_bytes(), normalize::default_port(&scheme))
        {
            Ok(a) => Some(a.text()),
            Err(_) => return v,
        },
        None => None,
    };
    let target = if prefix {
        target.to_string()
    } else {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = if path.is_empty() && authority.is_some() {
            "/"
        } else {
            path
        };
        match normalize::normalize_path(path, PathRules::BEFORE_ROUTE) {
            Ok(p) => match query {
                Some(q) => format!("{p}?{q}"),
                None => p.into_owned(),
            },
            Err(_) => return v,
        }
    };
    match authority {
        Some(a) => format!("{scheme}://{a}{target}"),
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::{form_pairs, purge_url};

    #[test]
    fn decodes_purge_queries() {
        let p = form_pairs("url=http%3A%2F%2Fshop.test%2Fp%3Fa%3D1&soft=1&x");
        assert_eq!(p[0], ("url".into(), "http://shop.test/p?a=1".into()));
        assert_eq!(p[1], ("soft".into(), "1".into()));
        assert_eq!(p[2], ("x".into(), "".into()));
        assert_eq!(form_pairs("tag=a%2")[0].1, "a%2");
    }

    #[test]
    fn purge_urls_are_read_as_requests_are() {
        let u = |s: &str| purge_url(s.to_string(), false);
        assert_eq!(
            u("HTTP://Shop.Example:80/a/./b?x=1"),
            "http://shop.example/a/b?x=1"
        );
        assert_eq!(u("https://shop.example:443"), "https://shop.example/");
        assert_eq!(
            u("http://shop.example:8080/%61"),
            "http://shop.example:8080/a"
        );
        assert_eq!(u("/a/../b"), "/b");
        assert_eq!(u("/a%zz"), "/a%zz");
        assert_eq!(
            purge_url("http://SHOP.example:80/im".into(), true),
            "http://shop.example/im"
        );
    }
}
