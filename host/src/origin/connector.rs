//! Connections to origins: TCP (nodelay, keep-alive probes) and, for
//! `https://` backends, TLS through rustls with the ring provider, with an
//! optional SNI override and extra CA certificates. Every connection carries
//! a [`ConnTag`] (its birth time and use count) that hyper copies into each
//! response, which is how the pool tells new from reused connections and
//! retires connections past their maximum lifetime.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::ServerName;

use crate::pem::load_ca_file;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::body::BoxError;
use crate::config::OriginTlsConfig;

/// Birth time and use count of one origin connection.
#[derive(Debug, Clone)]
pub struct ConnTag {
    /// When the connection was established.
    pub created: Instant,
    /// Responses received on it so far.
    pub uses: Arc<AtomicU64>,
}

/// The rustls client config for a pool's `https://` backends: the public web
/// roots plus `ca_file`, HTTP/1.1 by ALPN.
pub fn client_tls(config: &OriginTlsConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_file {
        for cert in load_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Connects to a pool's backends; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: TlsConnector,
    sni: Option<ServerName<'static>>,
    timeout: Duration,
    opened: Arc<AtomicU64>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("timeout", &self.timeout)
            .field("opened", &self.opened.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector with this connect timeout (TCP and TLS together) and TLS settings.
    pub fn new(timeout: Duration, tls: &OriginTlsConfig) -> Result<Connector, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let sni = match &tls.sni {
            Some(s) => {
                Some(ServerName::try_from(s.clone()).map_err(|e| format!("invalid SNI {s}: {e}"))?)
            }
            None => None,
        };
        Ok(Connector {
            http,
            tls: TlsConnector::from(client_tls(tls)?),
            sni,
            timeout,
            opened: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    async fn connect(self, uri: http::Uri) -> Result<Stream, BoxError> {
        use tower_service::Service;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let mut http = self.http.clone();
        let fut = async move {
            let tcp = http.call(uri).await?.into_inner();
            let io = if https {
                let name = match &self.sni {
                    Some(n) => n.clone(),
                    None => ServerName::try_from(host)?,
                };
                let tls = self.tls.connect(name, tcp).await?;
                Io::Tls(Box::new(TokioIo::new(tls)))
            } else {
                Io::Plain(TokioIo::new(tcp))
            };
            Ok::<_, BoxError>(io)
        };
        let io = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("connect timed out after {:?}", self.timeout))??;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Stream {
            io,
            tag: ConnTag {
                created: Instant::now(),
                uses: Arc::new(AtomicU64::new(0)),
            },
        })
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

enum Io {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

/// One origin connection, plain or TLS.
pub struct Stream {
    io: Io,
    tag: ConnTag,
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.tag.clone())
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
}
