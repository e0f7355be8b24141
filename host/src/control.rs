//! The fleet control plane over NATS JetStream (issue 16): nodes on
//! separate machines join a fleet, receive signed config generations and
//! plugins, report what they did, and heartbeat into a registry.
//!
//! Built on NATS JetStream rather than a protocol of our own: its key-value
//! buckets give watches and TTL'd entries, its object store content-
//! addressed blobs, and its servers clustering and replication.
//!
//! - [`keys`]: the fleet's ed25519 key pair; every generation is signed.
//! - [`protocol`]: bucket names, the signed generation, node records.
//! - [`compose`]: the fleet-wide part of a deploy file, joined on a node
//!   with its own file.
//! - [`connect`]: connecting and opening the fleet's buckets.
//! - [`agent`]: a node's side: last good generation from disk, watch,
//!   verify, fetch, apply through the node's all-or-nothing reload,
//!   report, heartbeat, reconnect.
//! - [`publish`]: `brink fleet deploy` and `rollback`.
//! - [`purge`]: `brink fleet purge`: signed purges on a durable stream,
//!   acknowledged in the registry.
//! - [`registry`]: `brink fleet status`.
//!
//! Layer 6 (a service beside `fleet`): it drives a `node` through its
//! reloader; the node knows nothing of it beyond the status slot
//! ([`crate::state::ControlStatus`]) it shows in `/status`. The control
//! plane is never on the request path.

pub mod agent;
pub mod compose;
pub mod connect;
pub mod keys;
pub mod protocol;
pub mod publish;
pub mod purge;
pub mod registry;

/// A control-plane failure (of a command, or of a node's set-up).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A key file.
    #[error("{0}")]
    Key(String),
    /// A config file, or a generation's config.
    #[error("{0}")]
    Config(String),
    /// The deploy file does not pass `brink check`.
    #[error("{0}")]
    Invalid(crate::config::ConfigErrors),
    /// NATS or JetStream.
    #[error("{0}")]
    Nats(String),
    /// A file of the node's state folder.
    #[error("{0}")]
    State(String),
}
