//! HTTP clients for tests: HTTP/1.1, h2c (prior knowledge) and HTTPS with ALPN.

use std::net::SocketAddr;

use brink::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls::TestCert;
use crate::{EXCHANGE_TIMEOUT, within};

/// A pooled client over plain TCP.
pub type HttpClient = Client<HttpConnector, Body>;

/// An HTTP/1.1 client.
pub fn h1_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 client over cleartext TCP with prior knowledge (h2c).
pub fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A whole response: head and collected body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Protocol version of the response.
    pub version: Version,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// Collects `resp`'s body (bounded by [`EXCHANGE_TIMEOUT`]).
    pub async fn collect(resp: http::Response<Incoming>) -> Reply {
        let (parts, body) = resp.into_parts();
        let body = within(
            EXCHANGE_TIMEOUT,
            "reading the response body",
            body.collect(),
        )
        .await
        .expect("response body")
        .to_bytes();
        Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// One header's value as text (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `req` and collects the reply, within [`EXCHANGE_TIMEOUT`].
pub async fn send(client: &HttpClient, req: Request<Body>) -> Reply {
    let what = format!("{} {}", req.method(), req.uri());
    let resp = within(EXCHANGE_TIMEOUT, &what, client.request(req))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    Reply::collect(resp).await
}

/// `GET url`.
pub async fn get(client: &HttpClient, url: &str) -> Reply {
    let req = Request::get(url)
        .body(brink::body::empty())
        .expect("request");
    send(client, req).await
}

/// The sending half of one client connection, by negotiated protocol.
enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Body>),
    H2(hyper::client::conn::http2::SendRequest<Body>),
}

/// One HTTPS connection; the protocol follows the ALPN outcome (`h2` or HTTP/1.1).
pub struct HttpsConn {
    alpn: Option<Vec<u8>>,
    authority: String,
    sender: Sender,
}

impl HttpsConn {
    /// Connects to `addr`, sends `server_name` as SNI and offers `alpn`
    /// (e.g. `&[b"h2", b"http/1.1"]`), trusting only `cert`.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        cert: &TestCert,
        alpn: &[&[u8]],
    ) -> HttpsConn {
        let connector = TlsConnector::from(cert.client_config(alpn));
        let name = rustls_pki_types::ServerName::try_from(server_name.to_string())
            .expect("valid server name");
        let tls = within(EXCHANGE_TIMEOUT, "TLS connect", async {
            let tcp = TcpStream::connect(addr).await.expect("TCP connect");
            connector.connect(name, tcp).await.expect("TLS handshake")
        })
        .await;
        let alpn = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
        let io = TokioIo::new(tls);
        let sender = if alpn.as_deref() == Some(b"h2") {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
            tokio::spawn(conn);
            Sender::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("http/1.1 handshake");
            tokio::spawn(conn);
            Sender::H1(send)
        };
        HttpsConn {
            alpn,
            authority: format!("{server_name}:{}", addr.port()),
            sender,
        }
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Sends a request for `path_and_query` (the URI and `Host` are filled in).
    pub async fn send(&mut self, mut req: Request<Body>) -> Reply {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let what = format!("{} https://{}{pq}", req.method(), self.authority);
        let resp = match &mut self.sender {
            Sender::H2(s) => {
                *req.uri_mut() = format!("https://{}{pq}", self.authority)
                    .parse()
                    .expect("URI");
                within(EXCHANGE_TIMEOUT, &what, s.send_request(req)).await
            }
            Sender::H1(s) => {
                *req.uri_mut() = pq.parse().expect("URI");
                if !req.headers().contains_key(http::header::HOST) {
                    let host = http::HeaderValue::from_str(&self.authority).expect("host");
                    req.headers_mut().insert(http::header::HOST, host);
                }
                within(EXCHANGE_TIMEOUT, "connection ready", s.ready())
                    .await
                    .expect("connection ready");
                within(EXCHANGE_TIMEOUT, &what, s.send_request(req)).await
            }
        };
        let resp = resp.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        Reply::collect(resp).await
    }
}
