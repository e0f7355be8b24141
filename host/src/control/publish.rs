//! `brink fleet deploy` and `rollback`: publish a signed generation and
//! wait for every targeted live node's answer.
//!
//! A deploy validates the file exactly as `brink check` does, uploads each
//! plugin component once (named by SHA-256; one already there is not sent
//! again), signs the fleet-wide tables with the next sequence number and
//! puts them under `all` or `region.R`. The nodes to wait for are the live
//! ones (registry entries) in the targeted regions when it publishes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures_util::StreamExt;

use super::ControlError;
use super::compose;
use super::connect::FleetBuckets;
use super::protocol::{Envelope, GenerationPayload, NodeRecord, Outcome, config_key, now_ms};
use super::registry;

/// One node's answer to a published generation.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The node.
    pub node: String,
    /// Its region.
    pub region: String,
    /// What it said (`None`: nothing within the wait).
    pub outcome: Option<Outcome>,
}

impl Answer {
    /// `NODE REGION applied N` / `refused: ...` / `no answer within ...`.
    pub fn line(&self, wait: Duration) -> String {
        let what = match &self.outcome {
            Some(o) => o.line(),
            None => format!("no answer within {}", humantime::format_duration(wait)),
        };
        format!("{} {} {what}", self.node, self.region)
    }
}

/// A published generation and the answers to it.
#[derive(Debug)]
pub struct Published {
    /// The generation.
    pub payload: GenerationPayload,
    /// Per targeted node, sorted.
    pub answers: Vec<Answer>,
    /// From publishing to the last answer.
    pub elapsed: Duration,
}

impl Published {
    /// Whether every targeted node applied it.
    pub fn all_applied(&self) -> bool {
        self.answers
            .iter()
            .all(|a| a.outcome.as_ref().is_some_and(|o| o.applied))
    }
}

/// Uploads the components a generation needs that the store lacks;
/// returns one line per component.
pub async fn upload(
    buckets: &FleetBuckets,
    blobs: &BTreeMap<String, (String, Vec<u8>)>,
) -> Result<Vec<String>, ControlError> {
    let mut lines = Vec::new();
    for (hash, (name, bytes)) in blobs {
        if buckets.plugins.info(hash).await.is_ok() {
            lines.push(format!("plugin {name} sha256:{hash} already uploaded"));
            continue;
        }
        buckets
            .plugins
            .put(hash.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| ControlError::Nats(format!("cannot upload {name}: {e}")))?;
        lines.push(format!(
            "plugin {name} sha256:{hash} uploaded ({} bytes)",
            bytes.len()
        ));
    }
    Ok(lines)
}

/// The deploy payload of `file` (not yet numbered), and its components.
pub async fn prepare(
    file: &Path,
    check: bool,
) -> Result<(String, BTreeMap<String, (String, Vec<u8>)>), ControlError> {
    if check {
        crate::node::reload::validate_file(file)
            .await
            .map_err(ControlError::Invalid)?;
    }
    let part = compose::fleet_part(file)?;
    Ok((part.config, part.blobs))
}

/// The sequence number after every one published in the fleet.
pub async fn next_seq(buckets: &FleetBuckets) -> Result<u64, ControlError> {
    let nats = |e: &dyn std::fmt::Display| ControlError::Nats(format!("config bucket: {e}"));
    let mut keys = buckets.config.keys().await.map_err(|e| nats(&e))?;
    let mut max = 0;
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| nats(&e))?;
        if let Some(bytes) = buckets.config.get(&key).await.map_err(|e| nats(&e))?
            && let Ok(p) = Envelope::from_bytes(&bytes).and_then(|e| e.peek())
        {
            max = max.max(p.seq);
        }
    }
    Ok(max + 1)
}

/// Signs and puts `payload` under its keys, then waits up to `wait` for
/// the live nodes of its regions.
pub async fn publish(
    buckets: &FleetBuckets,
    payload: GenerationPayload,
    key: &SigningKey,
    wait: Duration,
) -> Result<Published, ControlError> {
    let targets: Vec<NodeRecord> = registry::nodes(buckets)
        .await?
        .into_iter()
        .filter(|n| payload.targets(&n.region))
        .collect();
    let envelope = Envelope::seal(&payload, key);
    put(buckets, &payload, envelope.to_bytes()).await?;
    let started = Instant::now();
    let answers = wait_for(buckets, &targets, payload.seq, wait).await?;
    Ok(Published {
        payload,
        answers,
        elapsed: started.elapsed(),
    })
}

/// Puts stored bytes under the payload's keys (`all`, or each region's).
pub async fn put(
    buckets: &FleetBuckets,
    payload: &GenerationPayload,
    bytes: Vec<u8>,
) -> Result<(), ControlError> {
    let keys: Vec<String> = if payload.regions.is_empty() {
        vec![config_key(None)]
    } else {
        payload
            .regions
            .iter()
            .map(|r| config_key(Some(r)))
            .collect()
    };
    for k in keys {
        buckets
            .config
            .put(&k, bytes.clone().into())
            .await
            .map_err(|e| ControlError::Nats(format!("cannot publish under {k}: {e}")))?;
    }
    Ok(())
}

/// Watches the registry until every target answered `seq` (or `wait` ends).
async fn wait_for(
    buckets: &FleetBuckets,
    targets: &[NodeRecord],
    seq: u64,
    wait: Duration,
) -> Result<Vec<Answer>, ControlError> {
    let mut answers: BTreeMap<String, Answer> = targets
        .iter()
        .map(|n| {
            let a = Answer {
                node: n.name.clone(),
                region: n.region.clone(),
                outcome: None,
            };
            (n.name.clone(), a)
        })
        .collect();
    let mut watch = buckets
        .nodes
        .watch_with_history(">")
        .await
        .map_err(|e| ControlError::Nats(format!("cannot watch the node registry: {e}")))?;
    let deadline = tokio::time::Instant::now() + wait;
    while answers.values().any(|a| a.outcome.is_none()) {
        let Ok(Some(Ok(entry))) = tokio::time::timeout_at(deadline, watch.next()).await else {
            break;
        };
        let Ok(record) = serde_json::from_slice::<NodeRecord>(&entry.value) else {
            continue;
        };
        if let Some(a) = answers.get_mut(&record.name)
            && let Some(o) = record.last.filter(|o| o.seq >= seq)
        {
            a.outcome = Some(o);
        }
    }
    let mut out: Vec<Answer> = answers.into_values().collect();
    out.sort_by(|a, b| (&a.region, &a.node).cmp(&(&b.region, &b.node)));
    Ok(out)
}

/// The generation before the current one under `region`'s key (or `all`),
/// verified with `key`'s public half, renumbered as `seq`.
pub async fn previous(
    buckets: &FleetBuckets,
    region: Option<&str>,
    fleet: &str,
    key: &SigningKey,
    seq: u64,
) -> Result<GenerationPayload, ControlError> {
    let k = config_key(region);
    let mut history = buckets
        .config
        .history(&k)
        .await
        .map_err(|e| ControlError::Nats(format!("history of {k}: {e}")))?;
    let mut values = Vec::new();
    while let Some(entry) = history.next().await {
        let entry = entry.map_err(|e| ControlError::Nats(format!("history of {k}: {e}")))?;
        values.push(entry.value);
    }
    let Some(prev) = values.len().checked_sub(2).map(|i| &values[i]) else {
        return Err(ControlError::Config(format!(
            "nothing to roll back to: {k} holds {} generation(s)",
            values.len()
        )));
    };
    let mut payload = Envelope::from_bytes(prev)
        .and_then(|e| e.open(&key.verifying_key(), fleet))
        .map_err(|e| ControlError::Config(format!("the previous generation: {e}")))?;
    payload.seq = seq;
    payload.published_ms = now_ms();
    Ok(payload)
}
