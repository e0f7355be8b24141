//! HTTPS to origins: an in-test hyper + tokio-rustls origin whose certificate
//! is signed by a CA generated at test time, trusted through the pool's
//! `tls.ca_file`, with the SNI override; without the CA the edge refuses it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;
use brink_tests::{get, h1_client};
use http::{Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A CA and a server certificate for `origin.test` it signed, as PEM / DER.
struct TestPki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> TestPki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "brink test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_params = CertificateParams::new(vec!["origin.test".to_string()]).expect("params");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
    TestPki {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// Serves `hello over tls` over HTTPS (HTTP/1.1) and reports the SNI it got.
async fn tls_origin(pki: &TestPki) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
        .expect("server cert");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let sni = sni.clone();
                    async move {
                        let mut resp = Response::new(brink::body::full(format!(
                            "hello over tls: {}\n",
                            req.uri().path()
                        )));
                        resp.headers_mut()
                            .insert("x-tls-sni", sni.parse().expect("header"));
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

async fn edge(dir: &std::path::Path, backend: &str, tls: &str) -> Node {
    let toml = format!(
        r#"
[[listeners]]
address = "127.0.0.1:0"

[[pools]]
name = "secure"
backends = ["{backend}"]
connect_timeout = "2s"
{tls}

[[routes]]
pool = "secure"
"#
    );
    let config = Config::parse(&toml, "<https-origin>", dir)
        .unwrap_or_else(|e| panic!("config:\n{e}\n{toml}"));
    Node::start(config)
        .await
        .expect("node starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origin_signed_by_a_test_ca_is_trusted_through_ca_file() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).expect("write CA");
    let (addr, task) = tls_origin(&pki).await;
    let backend = format!("https://127.0.0.1:{}", addr.port());

    // The certificate names origin.test, not 127.0.0.1: SNI override plus the test CA.
    let node = edge(
        dir.path(),
        &backend,
        "[pools.tls]\nsni = \"origin.test\"\nca_file = \"ca.pem\"",
    )
    .await;
    let url = node.listeners()[0].url();
    let client = h1_client();
    for i in 0..3 {
        let reply = get(&client, &format!("{url}/catalog/{i}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.text(), format!("hello over tls: /catalog/{i}\n"));
        assert_eq!(reply.header("x-tls-sni"), Some("origin.test"));
    }
    // One TLS connection, reused.
    let pools = &node.shared().generation().pools;
    let b = &pools.get("secure").expect("pool").backends()[0];
    assert_eq!(b.conn_new.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(b.conn_reused.load(std::sync::atomic::Ordering::Relaxed), 2);
    node.shutdown().await;

    // Without the CA the origin's certificate is not trusted: 502, never a plain-text fallback.
    let node = edge(dir.path(), &backend, "[pools.tls]\nsni = \"origin.test\"").await;
    let url = node.listeners()[0].url();
    let reply = get(&client, &format!("{url}/catalog/1")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    node.shutdown().await;

    // With the CA but the wrong name (the URL's 127.0.0.1): refused too.
    let node = edge(dir.path(), &backend, "[pools.tls]\nca_file = \"ca.pem\"").await;
    let url = node.listeners()[0].url();
    let reply = get(&client, &format!("{url}/catalog/1")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    node.shutdown().await;
    task.abort();
}

#[test]
fn ca_file_must_hold_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").expect("write");
    let toml = r#"
[[listeners]]
address = "127.0.0.1:0"

[[pools]]
name = "secure"
backends = ["https://127.0.0.1:9443"]

[pools.tls]
ca_file = "empty.pem"

[[routes]]
pool = "secure"
"#;
    let err = Config::parse(toml, "c.toml", dir.path())
        .expect_err("an empty CA file is refused")
        .to_string();
    assert!(err.contains("pools[0].tls.ca_file"), "{err}");
    assert!(err.contains("no certificate"), "{err}");
}
