//! Brink: a WebAssembly edge/CDN runtime.
//!
//! The library holds every part of an edge node; the `brink` binary is a thin
//! command line over it. See `README.md` for the request pipeline.

#![warn(missing_docs)]

pub(crate) mod access_log;
pub mod admin;
pub mod body;
pub use brink_cache as cache;

pub mod cli;
pub mod config;
pub mod control;
pub mod demo_origin;
pub(crate) mod error;
pub mod fleet;
pub(crate) mod forwarding;
pub(crate) mod logging;
pub(crate) mod metrics;
pub mod node;
pub mod normalize;
pub(crate) mod origin;
pub(crate) mod pem;
pub(crate) mod pipeline;
pub mod plugin;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod tls;
pub mod token;
