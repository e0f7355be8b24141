//! The load generator's HTTP/1.1 client: hyper-util's pooled client with keep-alive.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, USER_AGENT};
use http::{HeaderValue, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use super::status::{Classification, classify};
use super::workload::Request;

/// Why a request got no complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The TCP connection could not be made.
    Connect,
    /// No complete response within the per-request timeout.
    Timeout,
    /// The exchange broke after connecting (reset, malformed response, ...).
    Other,
}

/// A complete response.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// What its `Cache-Status` says.
    pub cache: Classification,
    /// Body bytes received.
    pub bytes: u64,
}

/// A pooled keep-alive HTTP/1.1 client with a per-request timeout.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client whose exchanges (connect, head and body) each get `timeout`,
    /// keeping up to `idle_per_host` idle connections per target.
    pub fn new(timeout: Duration, idle_per_host: usize) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(idle_per_host.max(1))
            .build(connector);
        HttpClient { client, timeout }
    }

    /// Sends `req` to `base` (`http://HOST:PORT`, no trailing slash) and reads
    /// the whole body.
    pub async fn send(&self, base: &str, req: &Request) -> Result<Answer, Failure> {
        let uri: Uri = format!("{base}{}", req.path)
            .parse()
            .map_err(|_| Failure::Other)?;
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(uri)
            .header(USER_AGENT, HeaderValue::from_static("brink-loadtest"));
        if let Some(t) = &req.token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(c) = &req.cookie {
            builder = builder.header(COOKIE, c.as_str());
        }
        let body = match &req.body {
            Some(b) => {
                builder =
                    builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(b.clone())
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(|_| Failure::Other)?;
        let exchange = async {
            let resp = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    Failure::Connect
                } else {
                    Failure::Other
                }
            })?;
            let status = resp.status().as_u16();
            let cache = classify(
                resp.headers()
                    .get_all("cache-status")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let mut body = resp.into_body();
            let mut bytes = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Failure::Other)?;
                if let Some(d) = frame.data_ref() {
                    bytes += d.len() as u64;
                }
            }
            Ok(Answer {
                status,
                cache,
                bytes,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// GETs `url` and parses its JSON body (used for the origins' `/stats`).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let request = http::Request::get(uri)
            .header(USER_AGENT, HeaderValue::from_static("brink-loadtest"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        let fetch = async {
            let resp = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{url}: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("{url}: status {status}"));
            }
            serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .map_err(|_| format!("{url}: timed out"))?
    }
}

/// Checks a target base URL: `http://HOST:PORT` with an optional path prefix;
/// returns it without a trailing slash.
pub fn check_base_url(url: &str) -> Result<String, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{url:?}: only http:// targets are supported (HTTP/1.1 with keep-alive)"
        ));
    }
    if uri.authority().is_none() {
        return Err(format!("{url:?} has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("{url:?}: a target cannot have a query"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/shop").unwrap(),
            "http://127.0.0.1:8080/shop"
        );
        assert!(check_base_url("https://127.0.0.1:8443").is_err());
        assert!(check_base_url("127.0.0.1:8080").is_err());
        assert!(check_base_url("http://127.0.0.1:1/?a=b").is_err());
    }
}
