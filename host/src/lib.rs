//! Brink: a WebAssembly edge/CDN runtime.
//!
//! The library holds every part of an edge node; the `brink` binary is a thin
//! command line over it. See `README.md` for the request pipeline.

#![warn(missing_docs)]

pub mod access_log;
pub mod admin;
pub mod body;
pub use brink_cache as cache;

pub mod cli;
pub mod config;
pub mod demo_origin;
pub mod error;
pub mod fleet;
pub mod forwarding;
pub mod loadtest;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod normalize;
pub mod origin;
pub mod pem;
pub mod pipeline;
pub mod plugin;
pub mod server;
pub mod state;
pub mod tls;
pub mod token;
