//! A self-signed certificate made at test time, and client TLS trusting it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

/// The names every test certificate is valid for.
pub const CERT_NAMES: [&str; 2] = ["localhost", "shop.test"];

/// A self-signed certificate for `localhost` and `shop.test`, written as PEM
/// files (`cert.pem`, `key.pem`) into its own temp dir.
pub struct TestCert {
    dir: tempfile::TempDir,
    der: CertificateDer<'static>,
}

impl TestCert {
    /// Generates a fresh key pair and certificate.
    pub fn generate() -> TestCert {
        let names: Vec<String> = CERT_NAMES.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("generate certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).expect("write cert");
        std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem())
            .expect("write key");
        TestCert {
            dir,
            der: ck.cert.der().clone(),
        }
    }

    /// Directory holding `cert.pem` and `key.pem`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PEM certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The PEM private key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The TOML value of a listener's `tls` key for this certificate.
    pub fn tls_toml(&self) -> String {
        format!(
            "[{{ cert = {:?}, key = {:?} }}]",
            self.cert_path().display().to_string(),
            self.key_path().display().to_string()
        )
    }

    /// A client config (ring provider only) that trusts this certificate and
    /// offers these ALPN protocols.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("add test root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}
