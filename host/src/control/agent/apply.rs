//! Applying one generation on a node: verify, fetch plugins, join, reload,
//! persist, and record the outcome. Every refusal names its reason; a
//! located config error keeps its `FILE:LINE:COL: key: message` form.

use tokio::io::AsyncReadExt;

use super::super::ControlError;
use super::super::compose;
use super::super::connect::FleetBuckets;
use super::super::protocol::{Envelope, GenerationPayload, Outcome, sha256_hex};
use super::{Agent, write_joined};
use crate::node::reload::Trigger;

/// Why a generation was not applied: refused for good, or to try again.
enum Failure {
    Refused(String),
    Transient(ControlError),
}

impl Agent {
    /// Handles one value of a config key.
    pub(super) async fn consider(&self, value: &[u8], buckets: &FleetBuckets) {
        let mut known = self.known.lock().await;
        let envelope = match Envelope::from_bytes(value) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("fleet generation refused: {e}");
                return;
            }
        };
        let seq = envelope.peek().map_or(0, |p| p.seq);
        if seq <= known.answered {
            return;
        }
        let outcome = match self.try_apply(&envelope, value, buckets).await {
            Ok(payload) => {
                let hash = payload.config_hash();
                self.reloader.shared().control.update(|s| {
                    s.generation = seq;
                    s.config_hash = hash;
                });
                known.applied = Some(payload);
                tracing::info!(generation = seq, "fleet generation applied");
                Outcome {
                    seq,
                    applied: true,
                    error: None,
                }
            }
            Err(Failure::Refused(error)) => {
                tracing::error!(
                    "fleet generation {seq} refused, still serving {}: {error}",
                    known.applied.as_ref().map_or(0, |g| g.seq)
                );
                Outcome {
                    seq,
                    applied: false,
                    error: Some(error),
                }
            }
            Err(Failure::Transient(e)) => {
                tracing::warn!("fleet generation {seq} not applied yet: {e}");
                return;
            }
        };
        let line = outcome.line();
        self.reloader
            .shared()
            .control
            .update(|s| s.last = Some(line));
        known.answered = seq;
        known.last = Some(outcome);
    }

    async fn try_apply(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        buckets: &FleetBuckets,
    ) -> Result<GenerationPayload, Failure> {
        let payload = envelope
            .open(&self.trust, &self.control.fleet)
            .map_err(|e| Failure::Refused(e.to_string()))?;
        if !payload.targets(&self.region) {
            return Err(Failure::Refused(format!(
                "generation {} does not target region {}",
                payload.seq, self.region
            )));
        }
        let named =
            compose::wasm_hashes(&payload.config).map_err(|e| Failure::Refused(e.to_string()))?;
        if let Some(h) = named.iter().find(|h| !payload.plugins.contains_key(*h)) {
            return Err(Failure::Refused(format!(
                "generation {} names plugin sha256:{h} it does not list",
                payload.seq
            )));
        }
        for hash in payload.plugins.keys() {
            self.fetch_plugin(hash, buckets).await?;
        }
        let before = write_joined(&self.local, Some(&payload), &self.store)
            .map_err(|e| Failure::Refused(e.to_string()))?;
        if let Err(e) = self.reloader.reload(Trigger::Fleet).await {
            // Put back the file the node serves, so a later reload
            // (SIGHUP) reads the last good one.
            if let Some(text) = before {
                let _ = super::state::write_atomic(
                    &super::effective_path(&self.local),
                    text.as_bytes(),
                );
            }
            return Err(Failure::Refused(e.to_string().replace('\n', "; ")));
        }
        if let Err(e) = self.store.save(raw) {
            tracing::warn!("generation {} applied but not kept: {e}", payload.seq);
        }
        Ok(payload)
    }

    /// Makes sure the component with `hash` is in the state folder:
    /// fetched from the object store and checked against its hash.
    async fn fetch_plugin(&self, hash: &str, buckets: &FleetBuckets) -> Result<(), Failure> {
        if self.store.has_plugin(hash) {
            return Ok(());
        }
        let mut object = buckets.plugins.get(hash).await.map_err(|e| {
            Failure::Transient(ControlError::Nats(format!("plugin sha256:{hash}: {e}")))
        })?;
        let mut bytes = Vec::new();
        object.read_to_end(&mut bytes).await.map_err(|e| {
            Failure::Transient(ControlError::Nats(format!("plugin sha256:{hash}: {e}")))
        })?;
        if sha256_hex(&bytes) != hash {
            return Err(Failure::Refused(format!(
                "plugin sha256:{hash}: the object store's copy does not match its hash"
            )));
        }
        self.store
            .put_plugin(hash, &bytes)
            .map_err(|e| Failure::Refused(e.to_string()))
    }
}
