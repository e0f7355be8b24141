//! The typed `[control]` table: a node that joins a fleet over NATS
//! JetStream (see `crate::control`). Only what the node's own file says;
//! credentials stay in the environment and are read when the node connects.

use std::path::PathBuf;
use std::time::Duration;

/// How a node reaches its fleet's control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// NATS server URLs (`nats://HOST:PORT`), tried in turn.
    pub nats: Vec<String>,
    /// The fleet's name: the JetStream buckets it uses are named after it.
    pub fleet: String,
    /// Credentials, by environment variable name.
    pub auth: ControlAuth,
    /// The fleet's ed25519 public key (`brink fleet keygen` writes it): a
    /// generation whose signature it does not verify is refused.
    pub trust_key: PathBuf,
    /// Where the last applied generation and its plugins are kept, so a
    /// restart without NATS serves it.
    pub state_dir: PathBuf,
    /// `edge` or `shield`, shown in the fleet's registry.
    pub role: String,
    /// How often the node writes its registry entry.
    pub heartbeat: Duration,
}

/// NATS credentials, named by environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ControlAuth {
    /// None.
    #[default]
    None,
    /// A token from this variable.
    Token(String),
    /// A user and password from these variables.
    UserPassword {
        /// The variable holding the user name.
        user_env: String,
        /// The variable holding the password.
        password_env: String,
    },
}

/// The default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);

/// Whether `s` may name a fleet, node or region in NATS bucket and key names.
pub fn is_control_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
