//! `[admin]`: the admin listener's address and its token, given inline or
//! named by an environment variable (one or the other).

use std::net::SocketAddr;

use super::super::AdminConfig;
use super::super::raw::RawAdmin;
use super::Errs;

/// The admin listener, if the table is there.
pub(super) fn validate(raw: Option<&RawAdmin>, errs: &mut Errs<'_>) -> Option<AdminConfig> {
    let a = raw?;
    let addr = a
        .address
        .as_ref()
        .and_then(|v| errs.addr(v, "admin.address"))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9901)));
    if let (Some(_), Some(env)) = (&a.token, &a.token_env) {
        errs.at(
            env,
            "admin.token_env",
            "give either admin.token or admin.token_env, not both",
        );
    }
    let token = match (&a.token, &a.token_env) {
        (Some(t), _) => {
            if t.get_ref().len() < 8 {
                errs.at(t, "admin.token", "token must be at least 8 characters");
            }
            Some(t.get_ref().clone())
        }
        (None, Some(env)) => match std::env::var(env.get_ref()) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                errs.at(
                    env,
                    "admin.token_env",
                    format!("environment variable {} is not set", env.get_ref()),
                );
                None
            }
        },
        (None, None) => None,
    };
    Some(AdminConfig { addr, token })
}
