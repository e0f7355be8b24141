//! Fleet purges (`brink fleet purge`): a signed message on a JetStream
//! stream, applied by every node to its cache exactly as `POST /purge`
//! would, and acknowledged in the node's registry entry.
//!
//! - The stream `brink-F-purge` keeps purges with *limits* retention and a
//!   maximum age of [`PURGE_MAX_AGE`] (a day): long enough for a node that
//!   lost NATS or was restarted to replay what it missed through its own
//!   durable consumer, short enough that the stream stays small. A node
//!   whose consumer fell further behind than that drops its whole cache
//!   (`agent/purges.rs`).
//! - A purge is signed with the fleet key under its own context
//!   ([`super::keys::PURGE_CONTEXT`]), so a generation's signature can never
//!   pass for a purge, and write access to NATS alone cannot purge caches.
//! - The acknowledgement is the node's registry entry ([`PurgeAck`] in
//!   [`super::protocol::NodeRecord`]), written right after the purge is
//!   applied, not a reply subject: the command that waits sees an ack that
//!   came before it started watching, a node that died drops out of the
//!   wait by its entry's TTL, and `brink fleet status` shows every node's
//!   last purge. Nodes take purges in stream order, so an ack of stream
//!   sequence N also acknowledges every purge before N.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use ed25519_dalek::{SigningKey, VerifyingKey};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::ControlError;
use super::connect::FleetBuckets;
use super::keys::PURGE_CONTEXT;
use super::protocol::{Envelope, NodeRecord, Refusal};
use super::registry;

/// How long the purge stream keeps a purge.
pub const PURGE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The purge stream of fleet `fleet`.
pub fn purge_stream(fleet: &str) -> String {
    format!("brink-{fleet}-purge")
}

/// The subject purges of fleet `fleet` are published on.
pub fn purge_subject(fleet: &str) -> String {
    format!("brink.{fleet}.purge")
}

/// The stream's settings (the same from whoever creates it first).
pub fn stream_config(fleet: &str) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: purge_stream(fleet),
        subjects: vec![purge_subject(fleet)],
        retention: jetstream::stream::RetentionPolicy::Limits,
        max_age: PURGE_MAX_AGE,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    }
}

/// One purge, as signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurgePayload {
    /// The fleet it is for.
    pub fleet: String,
    /// `url`, `prefix` or `tag`: the parameter of `POST /purge` it stands for.
    pub by: String,
    /// The parameter's value, as given (read on the node as `POST /purge` reads it).
    pub value: String,
    /// Mark stale instead of removing.
    pub soft: bool,
    /// When it was published, Unix milliseconds.
    pub published_ms: u64,
}

impl PurgePayload {
    /// Signs it.
    pub fn seal(&self, key: &SigningKey) -> Envelope {
        Envelope::seal_json(self, PURGE_CONTEXT, key)
    }

    /// The purge in `bytes`, if `trust` signed it for `fleet`; else why not.
    pub fn open(bytes: &[u8], trust: &VerifyingKey, fleet: &str) -> Result<PurgePayload, String> {
        let envelope = Envelope::from_bytes(bytes).map_err(|e| malformed(&e))?;
        let payload: PurgePayload = envelope.peek_json().map_err(|e| malformed(&e))?;
        match envelope.signed_by(trust, PURGE_CONTEXT) {
            None => Err(format!(
                "unsigned purge ({} {}): refused (every purge must be signed with the fleet key)",
                payload.by, payload.value
            )),
            Some(false) => Err(format!(
                "purge ({} {}): signature does not verify against the node's trust_key",
                payload.by, payload.value
            )),
            Some(true) if payload.fleet != fleet => {
                Err(format!("purge is for fleet \"{}\"", payload.fleet))
            }
            Some(true) => Ok(payload),
        }
    }
}

fn malformed(e: &Refusal) -> String {
    format!("malformed purge: {e}")
}

/// A node's answer to one purge (stream sequence `seq`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurgeAck {
    /// The purge's stream sequence.
    pub seq: u64,
    /// Whether it was applied (false: refused, and why).
    pub applied: bool,
    /// Cache objects it removed or marked stale.
    #[serde(default)]
    pub purged: usize,
    /// Why it was refused.
    #[serde(default)]
    pub error: Option<String>,
    /// When the node acknowledged it, Unix milliseconds.
    pub at_ms: u64,
}

impl PurgeAck {
    /// `acked purge N (M objects)` or `refused purge N: ERROR`.
    pub fn line(&self) -> String {
        match &self.error {
            None => format!("acked purge {} ({} object(s))", self.seq, self.purged),
            Some(e) => format!("refused purge {}: {e}", self.seq),
        }
    }
}

/// One live node's answer to a published purge.
#[derive(Debug, Clone)]
pub struct PurgeAnswer {
    /// The node.
    pub node: String,
    /// Its region.
    pub region: String,
    /// Its ack of this purge or a later one (`None`: nothing within the wait).
    pub ack: Option<PurgeAck>,
    /// From publishing to its ack, as the command saw it.
    pub after: Option<Duration>,
}

impl PurgeAnswer {
    /// Whether the node applied the purge (its ack names it, or a later one).
    pub fn acked(&self, seq: u64) -> bool {
        self.ack
            .as_ref()
            .is_some_and(|a| a.seq > seq || (a.seq == seq && a.applied))
    }

    /// `NODE REGION acked purge N (...) in T ms` / `refused ...` / `no ack`.
    pub fn line(&self, seq: u64, wait: Duration) -> String {
        let what = match (&self.ack, self.after) {
            (Some(a), Some(t)) if a.seq > seq => {
                format!("acked (through purge {}) in {} ms", a.seq, t.as_millis())
            }
            (Some(a), Some(t)) if a.applied => format!("{} in {} ms", a.line(), t.as_millis()),
            (Some(a), _) => a.line(),
            _ => format!("no ack within {}", humantime::format_duration(wait)),
        };
        format!("{} {} {what}", self.node, self.region)
    }
}

/// A published purge and the live nodes' answers.
#[derive(Debug)]
pub struct PurgeSent {
    /// Its stream sequence.
    pub seq: u64,
    /// One per node live when it was published, sorted by region and name.
    pub answers: Vec<PurgeAnswer>,
    /// From publishing to the last ack.
    pub elapsed: Duration,
}

impl PurgeSent {
    /// Whether every live node applied it.
    pub fn all_acked(&self) -> bool {
        self.answers.iter().all(|a| a.acked(self.seq))
    }
}

/// Publishes the signed `envelope` on the purge stream and waits up to
/// `wait` for every node live at that moment to acknowledge it.
pub async fn send(
    buckets: &FleetBuckets,
    envelope: &Envelope,
    wait: Duration,
) -> Result<PurgeSent, ControlError> {
    let targets = registry::nodes(buckets).await?;
    let mut watch = buckets
        .nodes
        .watch(">")
        .await
        .map_err(|e| ControlError::Nats(format!("cannot watch the node registry: {e}")))?;
    let started = Instant::now();
    let seq = publish(buckets, envelope).await?;
    let mut answers: BTreeMap<String, PurgeAnswer> = targets
        .iter()
        .map(|n: &NodeRecord| {
            let a = PurgeAnswer {
                node: n.name.clone(),
                region: n.region.clone(),
                ack: None,
                after: None,
            };
            (n.name.clone(), a)
        })
        .collect();
    // An ack written between the registry read and the watch: read again.
    for n in registry::nodes(buckets).await? {
        note(&mut answers, n, seq, started);
    }
    let deadline = tokio::time::Instant::now() + wait;
    while answers.values().any(|a| a.ack.is_none()) {
        let Ok(Some(Ok(entry))) = tokio::time::timeout_at(deadline, watch.next()).await else {
            break;
        };
        if let Ok(record) = serde_json::from_slice::<NodeRecord>(&entry.value) {
            note(&mut answers, record, seq, started);
        }
    }
    let elapsed = answers
        .values()
        .filter_map(|a| a.after)
        .max()
        .unwrap_or(started.elapsed());
    let mut answers: Vec<PurgeAnswer> = answers.into_values().collect();
    answers.sort_by(|a, b| (&a.region, &a.node).cmp(&(&b.region, &b.node)));
    Ok(PurgeSent {
        seq,
        answers,
        elapsed,
    })
}

/// Publishes stored bytes on the purge stream; the stream sequence.
pub async fn publish(buckets: &FleetBuckets, envelope: &Envelope) -> Result<u64, ControlError> {
    let subject = purge_subject(&buckets.fleet);
    let ack = buckets
        .js
        .publish(subject.clone(), envelope.to_bytes().into())
        .await
        .map_err(|e| ControlError::Nats(format!("cannot publish on {subject}: {e}")))?
        .await
        .map_err(|e| ControlError::Nats(format!("{subject}: no ack from JetStream: {e}")))?;
    Ok(ack.sequence)
}

fn note(answers: &mut BTreeMap<String, PurgeAnswer>, n: NodeRecord, seq: u64, started: Instant) {
    if let Some(a) = answers.get_mut(&n.name)
        && a.ack.is_none()
        && let Some(ack) = n.purge.filter(|p| p.seq >= seq)
    {
        a.ack = Some(ack);
        a.after = Some(started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge() -> PurgePayload {
        PurgePayload {
            fleet: "shop".into(),
            by: "url".into(),
            value: "/a".into(),
            soft: false,
            published_ms: 1,
        }
    }

    #[test]
    fn only_a_purge_signed_by_the_fleet_key_for_this_fleet_opens() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let trust = key.verifying_key();
        let bytes = purge().seal(&key).to_bytes();
        assert_eq!(PurgePayload::open(&bytes, &trust, "shop").unwrap(), purge());
        let other = purge().seal(&SigningKey::from_bytes(&[2; 32])).to_bytes();
        let e = PurgePayload::open(&other, &trust, "shop").unwrap_err();
        assert!(e.contains("signature does not verify"), "{e}");
        let unsigned = Envelope {
            signature: None,
            ..purge().seal(&key)
        };
        let e = PurgePayload::open(&unsigned.to_bytes(), &trust, "shop").unwrap_err();
        assert!(e.contains("unsigned purge"), "{e}");
        assert!(PurgePayload::open(&bytes, &trust, "other").is_err());
        // A generation's signature does not pass for a purge's.
        let as_generation = Envelope {
            signature: Some(super::super::keys::sign(
                &key,
                super::super::keys::GENERATION_CONTEXT,
                &serde_json::to_vec(&purge()).unwrap(),
            )),
            ..purge().seal(&key)
        };
        assert!(PurgePayload::open(&as_generation.to_bytes(), &trust, "shop").is_err());
    }

    #[test]
    fn a_later_ack_acknowledges_every_purge_before_it() {
        let ack = |seq, applied| PurgeAnswer {
            node: "n".into(),
            region: "r".into(),
            ack: Some(PurgeAck {
                seq,
                applied,
                purged: 0,
                error: None,
                at_ms: 0,
            }),
            after: Some(Duration::from_millis(3)),
        };
        assert!(ack(5, true).acked(5));
        assert!(ack(6, false).acked(5));
        assert!(!ack(5, false).acked(5));
        assert!(
            ack(6, true)
                .line(5, Duration::ZERO)
                .contains("through purge 6")
        );
    }
}
