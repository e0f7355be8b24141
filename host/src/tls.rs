//! TLS for client listeners: rustls with the ring provider only (enabling two
//! providers panics at run time), several certificates chosen by SNI, ALPN
//! `h2` and `http/1.1`.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::ServerName;

use crate::config::CertificateConfig;
pub use crate::pem::{TlsError, load_certified_key};

/// The one crypto provider this process uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Picks the certificate whose names match the client's SNI, else the first.
struct SniResolver {
    certs: Vec<Arc<CertifiedKey>>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SniResolver({} certificates)", self.certs.len())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name()
            && let Ok(server_name) = ServerName::try_from(name)
        {
            for ck in &self.certs {
                let Some(ee) = ck.cert.first() else { continue };
                if let Ok(cert) = webpki::EndEntityCert::try_from(ee)
                    && cert.verify_is_valid_for_subject_name(&server_name).is_ok()
                {
                    return Some(ck.clone());
                }
            }
        }
        self.certs.first().cloned()
    }
}

/// Builds the rustls server config for one HTTPS listener.
pub fn server_config(certs: &[CertificateConfig]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut keys = Vec::new();
    for c in certs {
        keys.push(Arc::new(load_certified_key(&c.cert, &c.key)?));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certs: keys }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
