//! `[[listeners]]`: addresses (none twice) and each HTTPS listener's
//! certificates, read through the `pem` leaf so that a bad certificate is a
//! config error at its place rather than a failure when the node binds.

use std::collections::HashSet;
use std::path::Path;

use super::super::raw::RawListener;
use super::super::{CertificateConfig, ListenerConfig};
use super::Errs;

/// Every listener with a valid address. A file needs at least one listener
/// unless it describes a fleet (`fleet_nodes` > 0), whose nodes have their own.
pub(super) fn validate(
    raw: &[RawListener],
    fleet_nodes: usize,
    errs: &mut Errs<'_>,
    base: &Path,
) -> Vec<ListenerConfig> {
    if raw.is_empty() && fleet_nodes == 0 {
        errs.top(
            "listeners",
            "at least one [[listeners]] entry (or [[fleet.nodes]] entry) is required",
        );
    }
    let mut listeners = Vec::new();
    let mut bound = HashSet::new();
    for (i, l) in raw.iter().enumerate() {
        let key = format!("listeners[{i}].address");
        let Some(addr) = errs.addr(&l.address, &key) else {
            continue;
        };
        if addr.port() != 0 && !bound.insert(addr) {
            errs.at(
                &l.address,
                &key,
                format!("duplicate listener address {addr}"),
            );
        }
        let tls = l
            .tls
            .iter()
            .enumerate()
            .map(|(j, c)| certificate(c, &format!("listeners[{i}].tls[{j}]"), errs, base))
            .collect();
        listeners.push(ListenerConfig { addr, tls });
    }
    listeners
}

/// One certificate and key, both files present and loadable together.
fn certificate(
    c: &super::super::raw::RawCertificate,
    key: &str,
    errs: &mut Errs<'_>,
    base: &Path,
) -> CertificateConfig {
    let cert = base.join(c.cert.get_ref());
    let keyp = base.join(c.key.get_ref());
    let mut ok = true;
    for (v, path, name) in [(&c.cert, &cert, "cert"), (&c.key, &keyp, "key")] {
        if !path.is_file() {
            errs.at(
                v,
                &format!("{key}.{name}"),
                format!("file not found: {}", path.display()),
            );
            ok = false;
        }
    }
    if ok && let Err(e) = crate::pem::load_certified_key(&cert, &keyp) {
        errs.at(&c.cert, key, e.to_string());
    }
    CertificateConfig { cert, key: keyp }
}
