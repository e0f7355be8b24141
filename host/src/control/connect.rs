//! Connecting to NATS and opening a fleet's JetStream resources. Buckets
//! are created on first use with the same settings by whoever comes first
//! (a node or a command); JetStream answers an identical create with the
//! existing bucket, so nodes and commands need no set-up step.

use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use async_nats::{Client, ConnectOptions};

use super::ControlError;
use super::protocol::{HISTORY, NODE_TTL, config_bucket, nodes_bucket, plugins_bucket};
use crate::config::ControlAuth;

/// A fleet's JetStream resources.
#[derive(Clone)]
pub struct FleetBuckets {
    /// Signed generations.
    pub config: kv::Store,
    /// Node registry and outcomes, with a TTL.
    pub nodes: kv::Store,
    /// Plugin components by SHA-256.
    pub plugins: object_store::ObjectStore,
    /// Signed purges (limits retention, a day's history).
    pub purges: jetstream::stream::Stream,
    /// The JetStream context they are in (to publish purges).
    pub js: jetstream::Context,
    /// The fleet's name.
    pub fleet: String,
}

/// Reconnect delay after `attempts` failures: 250 ms doubling up to 4 s.
pub fn backoff(attempts: usize) -> Duration {
    let ms = 250u64.saturating_mul(1 << attempts.min(4));
    Duration::from_millis(ms.min(4000))
}

/// Connect options with the credentials `auth` names, read from the
/// environment now.
pub fn options(auth: &ControlAuth) -> Result<ConnectOptions, ControlError> {
    let env = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ControlError::Nats(format!("environment variable {var} is not set or empty"))
            })
    };
    let opts = ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .reconnect_delay_callback(backoff);
    Ok(match auth {
        ControlAuth::None => opts,
        ControlAuth::Token(var) => opts.token(env(var)?),
        ControlAuth::UserPassword {
            user_env,
            password_env,
        } => opts.user_and_password(env(user_env)?, env(password_env)?),
    })
}

/// Connects now (a command: fails if NATS cannot be reached).
pub async fn connect_now(urls: &[String], auth: &ControlAuth) -> Result<Client, ControlError> {
    options(auth)?
        .connect(urls.join(","))
        .await
        .map_err(|e| ControlError::Nats(format!("cannot connect to {}: {e}", urls.join(","))))
}

/// Opens (creating if needed) the fleet's buckets.
pub async fn open(client: &Client, fleet: &str) -> Result<FleetBuckets, ControlError> {
    let js = jetstream::new(client.clone());
    let nats = |what: &str, e: &dyn std::fmt::Display| {
        ControlError::Nats(format!("cannot open the fleet's {what}: {e}"))
    };
    let config = kv_bucket(
        &js,
        kv::Config {
            bucket: config_bucket(fleet),
            history: HISTORY,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| nats("config bucket", &e))?;
    let nodes = kv_bucket(
        &js,
        kv::Config {
            bucket: nodes_bucket(fleet),
            history: 1,
            max_age: NODE_TTL,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| nats("node registry", &e))?;
    let plugins = match js
        .create_object_store(object_store::Config {
            bucket: plugins_bucket(fleet),
            ..Default::default()
        })
        .await
    {
        Ok(s) => s,
        Err(_) => js
            .get_object_store(plugins_bucket(fleet))
            .await
            .map_err(|e| nats("plugin store", &e))?,
    };
    let purges = js
        .get_or_create_stream(super::purge::stream_config(fleet))
        .await
        .map_err(|e| nats("purge stream", &e))?;
    Ok(FleetBuckets {
        config,
        nodes,
        plugins,
        purges,
        js,
        fleet: fleet.to_string(),
    })
}

async fn kv_bucket(
    js: &jetstream::Context,
    config: kv::Config,
) -> Result<kv::Store, Box<dyn std::error::Error + Send + Sync>> {
    let name = config.bucket.clone();
    match js.create_key_value(config).await {
        Ok(s) => Ok(s),
        Err(_) => Ok(js.get_key_value(name).await?),
    }
}
