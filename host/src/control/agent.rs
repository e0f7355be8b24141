//! A node's side of the control plane.
//!
//! At start ([`prepare`]) the node joins its own file with the last
//! generation it applied (kept in its state folder with the plugins it
//! needs, and verified again with the trust key) into the file it serves,
//! so a restart serves that generation whether NATS is there or not; with
//! no generation yet the node serves its own file, answering 503 with
//! `Retry-After` where it has no route.
//!
//! Then [`Agent::start`] connects in the background (reconnecting with
//! backoff) and, while connected, watches the fleet's config keys (`all`
//! and `region.R`), writes its registry entry every heartbeat, and applies
//! each newer generation: verify the signature, fetch and hash-check the
//! plugins, join, reload all or nothing (the file reload of
//! `crate::node::reload`), persist, report `applied N` or `refused: ERROR`
//! in its registry entry. A refused generation changes nothing.
//!
//! Purges come through the node's own durable consumer on the fleet's
//! purge stream (`purges`): the ones it missed are applied before its
//! first registry entry of a connected stretch, so a node never reports
//! itself connected with purges outstanding.

mod apply;
mod purges;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_nats::Client;
use async_nats::jetstream::kv::Operation;
use ed25519_dalek::VerifyingKey;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::ControlError;
use super::compose;
use super::connect::{self, FleetBuckets};
use super::keys;
use super::protocol::{GenerationPayload, NodeRecord, Outcome, config_key, now_ms};
use crate::config::{Config, ControlConfig};
use crate::node::reload::{Reloader, Trigger};

/// What [`prepare`] found and wrote.
#[derive(Debug)]
pub struct Prepared {
    /// The joined file the node serves (and reloads).
    pub effective: PathBuf,
    /// The generation it was joined with, if any.
    pub applied: Option<GenerationPayload>,
}

/// The joined file for node file `local`: `NAME.generation.toml` beside it,
/// so the node file's relative paths still resolve.
pub fn effective_path(local: &Path) -> PathBuf {
    let stem = local
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "node".into());
    local.with_file_name(format!("{stem}.generation.toml"))
}

/// Writes the file the node starts from: its own file joined with the
/// last generation it applied, if that is still there and still verifies.
pub fn prepare(local: &Path, control: &ControlConfig) -> Result<Prepared, ControlError> {
    let trust = keys::read_trust_key(&control.trust_key)?;
    let store = state::Store::new(&control.state_dir)?;
    let applied = store.load(&trust, &control.fleet);
    write_joined(local, applied.as_ref(), &store)?;
    Ok(Prepared {
        effective: effective_path(local),
        applied,
    })
}

/// Joins `local` with `generation` and writes the result; returns the
/// previous content of the joined file.
fn write_joined(
    local: &Path,
    generation: Option<&GenerationPayload>,
    store: &state::Store,
) -> Result<Option<String>, ControlError> {
    let text = std::fs::read_to_string(local)
        .map_err(|e| ControlError::Config(format!("cannot read {}: {e}", local.display())))?;
    let fleet = generation.map(|g| (g.seq, g.config.as_str()));
    let joined = compose::join(&text, fleet, &store.plugin_dir())?;
    let path = effective_path(local);
    let before = std::fs::read_to_string(&path).ok();
    state::write_atomic(&path, joined.as_bytes())?;
    Ok(before)
}

/// What the agent knows, behind its lock.
#[derive(Debug, Default)]
struct Known {
    applied: Option<GenerationPayload>,
    /// The highest sequence answered (applied or refused).
    answered: u64,
    last: Option<Outcome>,
}

/// A node's control-plane agent.
pub struct Agent {
    local: PathBuf,
    control: ControlConfig,
    name: String,
    region: String,
    trust: VerifyingKey,
    store: state::Store,
    reloader: Arc<Reloader>,
    known: tokio::sync::Mutex<Known>,
    purges: std::sync::Mutex<purges::PurgeState>,
    started: Instant,
    stop: CancellationToken,
}

impl Agent {
    /// Starts the agent of the node `reloader` drives, started from
    /// `prepared` (the file `local` with `config`'s `[control]`).
    pub fn start(
        local: &Path,
        config: &Config,
        prepared: Prepared,
        reloader: Arc<Reloader>,
    ) -> Result<Arc<Agent>, ControlError> {
        let control = config
            .control
            .clone()
            .ok_or_else(|| ControlError::Config("the node's file has no [control]".into()))?;
        let seq = prepared.applied.as_ref().map_or(0, |g| g.seq);
        let hash = prepared
            .applied
            .as_ref()
            .map(GenerationPayload::config_hash)
            .unwrap_or_default();
        reloader.shared().control.update(|s| {
            s.fleet = control.fleet.clone();
            s.nats = "disconnected";
            s.generation = seq;
            s.config_hash = hash;
        });
        let agent = Arc::new(Agent {
            local: local.to_path_buf(),
            trust: keys::read_trust_key(&control.trust_key)?,
            store: state::Store::new(&control.state_dir)?,
            name: config.node.name.clone(),
            region: config.node.region.clone(),
            control,
            reloader,
            known: tokio::sync::Mutex::new(Known {
                answered: seq,
                applied: prepared.applied,
                last: None,
            }),
            purges: Default::default(),
            started: Instant::now(),
            stop: CancellationToken::new(),
        });
        tokio::spawn(agent.clone().run());
        Ok(agent)
    }

    /// Stops the agent (node shutdown).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Re-joins the node's own file with the generation it serves and
    /// reloads (`SIGHUP`: the node's own file changed).
    pub async fn rejoin(&self) -> Result<(), ControlError> {
        let known = self.known.lock().await;
        write_joined(&self.local, known.applied.as_ref(), &self.store)?;
        self.reloader
            .reload(Trigger::Signal)
            .await
            .map(|_| ())
            .map_err(|e| ControlError::Config(e.to_string()))
    }

    async fn run(self: Arc<Self>) {
        let client = match self.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("control plane: {e}; serving the last good config only");
                return;
            }
        };
        let mut attempts = 0;
        loop {
            let result = tokio::select! {
                _ = self.stop.cancelled() => break,
                r = self.session(&client) => r,
            };
            if let Err(e) = result {
                tracing::warn!("control plane: {e}; retrying");
            }
            attempts += 1;
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = tokio::time::sleep(connect::backoff(attempts)) => {}
            }
        }
    }

    /// A client that connects (and reconnects) in the background; its
    /// state shows in `/status`.
    async fn connect(&self) -> Result<Client, ControlError> {
        let shared = self.reloader.shared().clone();
        let opts = connect::options(&self.control.auth)?
            .retry_on_initial_connect()
            .max_reconnects(None)
            .name(format!("brink {}", self.name))
            .event_callback(move |event| {
                let shared = shared.clone();
                async move {
                    let nats = match event {
                        async_nats::Event::Connected => "connected",
                        async_nats::Event::Disconnected => "disconnected",
                        _ => return,
                    };
                    tracing::info!("control plane: NATS {nats}");
                    shared.control.update(|s| s.nats = nats);
                }
            });
        opts.connect(self.control.nats.join(","))
            .await
            .map_err(|e| ControlError::Nats(e.to_string()))
    }

    /// One connected stretch: replay missed purges, watch the config keys
    /// and the purge stream, heartbeat, apply.
    async fn session(&self, client: &Client) -> Result<(), ControlError> {
        let buckets = connect::open(client, &self.control.fleet).await?;
        let mine = [config_key(None), config_key(Some(&self.region))];
        let mut watch = buckets
            .config
            .watch_with_history(">")
            .await
            .map_err(|e| ControlError::Nats(format!("cannot watch the fleet config: {e}")))?;
        let mut purges = self.replay_purges(&buckets).await?;
        self.beat(&buckets).await?;
        let mut tick = tokio::time::interval(self.control.heartbeat);
        loop {
            tokio::select! {
                entry = watch.next() => {
                    let entry = entry
                        .ok_or_else(|| ControlError::Nats("the config watch ended".into()))?
                        .map_err(|e| ControlError::Nats(format!("config watch: {e}")))?;
                    if entry.operation == Operation::Put && mine.contains(&entry.key) {
                        self.consider(&entry.value, &buckets).await;
                        self.beat(&buckets).await?;
                    }
                }
                msg = purges::next(&mut purges) => self.take_purge(&msg?, &buckets).await?,
                _ = tick.tick() => self.beat(&buckets).await?,
            }
        }
    }

    /// Writes this node's registry entry.
    async fn beat(&self, buckets: &FleetBuckets) -> Result<(), ControlError> {
        let known = self.known.lock().await;
        let record = NodeRecord {
            name: self.name.clone(),
            region: self.region.clone(),
            role: self.control.role.clone(),
            generation: known.applied.as_ref().map_or(0, |g| g.seq),
            config_hash: known
                .applied
                .as_ref()
                .map(GenerationPayload::config_hash)
                .unwrap_or_default(),
            connected: true,
            at_ms: now_ms(),
            listeners: self.reloader.listeners().iter().map(|l| l.url()).collect(),
            last: known.last.clone(),
            purge: self.purges.lock().expect("purge state").ack.clone(),
        };
        drop(known);
        let bytes = serde_json::to_vec(&record).expect("a record serializes");
        buckets
            .nodes
            .put(&self.name, bytes.into())
            .await
            .map_err(|e| ControlError::Nats(format!("heartbeat: {e}")))?;
        Ok(())
    }
}
