//! `[control]`: NATS URLs, the fleet name, credentials by environment
//! variable, the trust key (read and checked here, so a bad path or key is a
//! located error like any other), the state folder, role and heartbeat.

use std::path::Path;

use base64::Engine;

use super::super::control::{ControlAuth, ControlConfig, DEFAULT_HEARTBEAT, is_control_name};
use super::super::raw::{RawConfig, RawControl, RawUrls};
use super::Errs;

pub(super) fn validate(
    raw: &RawConfig,
    file: &str,
    base: &Path,
    errs: &mut Errs<'_>,
) -> Option<ControlConfig> {
    let c = raw.control.as_ref()?;
    check_node_names(raw, c, errs);
    if raw.fleet.as_ref().is_some_and(|f| !f.nodes.is_empty()) {
        errs.at(
            &c.fleet,
            "control.fleet",
            "a node in a NATS fleet cannot also run [[fleet.nodes]]",
        );
    }
    let nats = urls(c, errs);
    if !is_control_name(c.fleet.get_ref()) {
        errs.at(
            &c.fleet,
            "control.fleet",
            format!(
                "invalid fleet name \"{}\": use letters, digits, '-' or '_' (at most 64)",
                c.fleet.get_ref()
            ),
        );
    }
    let auth = auth(c, errs);
    let trust_key = base.join(c.trust_key.get_ref());
    check_trust_key(c, &trust_key, errs);
    let state_dir = match &c.state_dir {
        Some(d) => base.join(d.get_ref()),
        None => {
            let stem = Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "node".into());
            base.join(format!("{stem}.state"))
        }
    };
    let role = match &c.role {
        None => "edge".to_string(),
        Some(r) if matches!(r.get_ref().as_str(), "edge" | "shield") => r.get_ref().clone(),
        Some(r) => {
            errs.at(
                r,
                "control.role",
                format!(
                    "unknown role \"{}\": expected \"edge\" or \"shield\"",
                    r.get_ref()
                ),
            );
            "edge".into()
        }
    };
    let heartbeat = errs.duration(&c.heartbeat, "control.heartbeat", DEFAULT_HEARTBEAT);
    Some(ControlConfig {
        nats,
        fleet: c.fleet.get_ref().clone(),
        auth,
        trust_key,
        state_dir,
        role,
        heartbeat,
    })
}

/// A fleet member needs a name and region that can be NATS keys.
fn check_node_names(raw: &RawConfig, c: &RawControl, errs: &mut Errs<'_>) {
    let node = raw.node.as_ref();
    match node.and_then(|n| n.name.as_ref()) {
        None => errs.at(
            &c.fleet,
            "control",
            "a node in a fleet needs its own [node] name (the fleet's registry is keyed by it)",
        ),
        Some(n) if !is_control_name(n.get_ref()) => errs.at(
            n,
            "node.name",
            format!(
                "invalid name \"{}\" for a node in a fleet: use letters, digits, '-' or '_'",
                n.get_ref()
            ),
        ),
        Some(_) => {}
    }
    if let Some(r) = node.and_then(|n| n.region.as_ref())
        && !is_control_name(r.get_ref())
    {
        errs.at(
            r,
            "node.region",
            format!(
                "invalid region \"{}\" for a node in a fleet: use letters, digits, '-' or '_'",
                r.get_ref()
            ),
        );
    }
}

fn urls(c: &RawControl, errs: &mut Errs<'_>) -> Vec<String> {
    let list = match c.nats.get_ref() {
        RawUrls::One(u) => vec![u.clone()],
        RawUrls::Many(v) => v.clone(),
    };
    if list.is_empty() {
        errs.at(&c.nats, "control.nats", "at least one NATS URL is required");
    }
    for (i, u) in list.iter().enumerate() {
        let ok = u
            .parse::<http::Uri>()
            .ok()
            .filter(|uri| matches!(uri.scheme_str(), Some("nats" | "tls")))
            .is_some_and(|uri| uri.host().is_some() && uri.port().is_some());
        if !ok {
            let key = match c.nats.get_ref() {
                RawUrls::One(_) => "control.nats".to_string(),
                RawUrls::Many(_) => format!("control.nats[{i}]"),
            };
            errs.at(
                &c.nats,
                &key,
                format!("invalid NATS URL \"{u}\": expected nats://HOST:PORT or tls://HOST:PORT"),
            );
        }
    }
    list
}

fn auth(c: &RawControl, errs: &mut Errs<'_>) -> ControlAuth {
    match (&c.token_env, &c.user_env, &c.password_env) {
        (None, None, None) => ControlAuth::None,
        (Some(t), None, None) => ControlAuth::Token(t.get_ref().clone()),
        (None, Some(u), Some(p)) => ControlAuth::UserPassword {
            user_env: u.get_ref().clone(),
            password_env: p.get_ref().clone(),
        },
        (Some(t), _, _) => {
            errs.at(
                t,
                "control.token_env",
                "give token_env or user_env with password_env, not both",
            );
            ControlAuth::None
        }
        (None, Some(u), None) => {
            errs.at(u, "control.user_env", "user_env needs password_env");
            ControlAuth::None
        }
        (None, None, Some(p)) => {
            errs.at(p, "control.password_env", "password_env needs user_env");
            ControlAuth::None
        }
    }
}

/// The key file holds one base64 line: a 32-byte ed25519 public key.
fn check_trust_key(c: &RawControl, path: &Path, errs: &mut Errs<'_>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errs.at(
                &c.trust_key,
                "control.trust_key",
                format!("cannot read {}: {e}", path.display()),
            );
            return;
        }
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(text.trim());
    if !decoded.is_ok_and(|k| k.len() == 32) {
        errs.at(
            &c.trust_key,
            "control.trust_key",
            format!(
                "{} is not a fleet public key (one base64 line of 32 bytes, as `brink fleet keygen` writes)",
                path.display()
            ),
        );
    }
}
