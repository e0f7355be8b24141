//! The raw `[control]` table: how a node joins a fleet over NATS JetStream.
//! Kept apart from the other tables so the control plane's keys live with
//! the control plane's validation (`validate/control.rs`).

use serde::Deserialize;
use toml::Spanned;

/// `[control]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    pub nats: Spanned<RawUrls>,
    pub fleet: Spanned<String>,
    pub token_env: Option<Spanned<String>>,
    pub user_env: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub trust_key: Spanned<String>,
    pub state_dir: Option<Spanned<String>>,
    pub role: Option<Spanned<String>>,
    pub heartbeat: Option<Spanned<String>>,
}

/// `nats = "nats://..."` or `nats = ["nats://a", "nats://b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawUrls {
    One(String),
    Many(Vec<String>),
}
