//! What travels over NATS, and where.
//!
//! Per fleet `F`, three JetStream resources:
//!
//! - KV `brink-F-config`: the signed generation. Key `all` for a fleet-wide
//!   deploy, `region.R` for one targeting region `R`. A node watches both
//!   of its keys and applies the higher sequence number, so a canary in one
//!   region is followed by the next fleet-wide deploy everywhere. History
//!   is kept for `brink fleet rollback`.
//! - Object store `brink-F-plugins`: plugin components named by their
//!   SHA-256, uploaded once.
//! - KV `brink-F-nodes` with a TTL: one entry per node, rewritten every
//!   heartbeat and right after each deploy's outcome. It is the registry
//!   (`brink fleet status`) and the outcome channel (`deploy` waits on it):
//!   a KV entry rather than a plain subject, so a command that starts
//!   watching after a node answered still sees the answer, and a node that
//!   stops heartbeating drops out of the fleet by itself. It is also where
//!   a node acknowledges purges, for the same reasons (see [`super::purge`]).
//! - Stream `brink-F-purge` (subject `brink.F.purge`): signed purges, each
//!   node reading them through its own durable consumer.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{self, GENERATION_CONTEXT};

/// How long a node's registry entry lives without a heartbeat.
pub const NODE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Generations kept per key (for rollback).
pub const HISTORY: i64 = 64;

/// The config bucket of fleet `fleet`.
pub fn config_bucket(fleet: &str) -> String {
    format!("brink-{fleet}-config")
}

/// The registry bucket of fleet `fleet`.
pub fn nodes_bucket(fleet: &str) -> String {
    format!("brink-{fleet}-nodes")
}

/// The plugin object store of fleet `fleet`.
pub fn plugins_bucket(fleet: &str) -> String {
    format!("brink-{fleet}-plugins")
}

/// The config key a deploy to `region` (or to all, `None`) writes.
pub fn config_key(region: Option<&str>) -> String {
    match region {
        None => "all".into(),
        Some(r) => format!("region.{r}"),
    }
}

/// One fleet generation: what a deploy publishes, signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GenerationPayload {
    /// The fleet it is for (a generation signed for one fleet is refused by another).
    pub fleet: String,
    /// Sequence number across the fleet; nodes apply only a higher one.
    pub seq: u64,
    /// Regions it targets; empty: every region.
    pub regions: Vec<String>,
    /// The fleet-wide tables as TOML; plugin components as `sha256:HEX`.
    pub config: String,
    /// Every plugin component it names: SHA-256 (hex) -> the file it came from.
    pub plugins: BTreeMap<String, String>,
    /// The file it was deployed from (for messages).
    pub source: String,
    /// When it was published, Unix milliseconds.
    pub published_ms: u64,
}

impl GenerationPayload {
    /// A short hash of what it configures (the same on every node).
    pub fn config_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.config.as_bytes());
        for hash in self.plugins.keys() {
            h.update(hash.as_bytes());
        }
        hex(&h.finalize())[..12].to_string()
    }

    /// Whether a node in `region` takes it.
    pub fn targets(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }
}

/// What is stored under a config key: the payload's JSON and its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The payload's JSON, base64.
    pub payload: String,
    /// ed25519 over [`GENERATION_CONTEXT`] and the payload bytes, base64;
    /// absent on an unsigned message (always refused).
    #[serde(default)]
    pub signature: Option<String>,
}

/// Why a node refused a generation (it reports the text).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// Not a generation at all.
    #[error("malformed generation: {0}")]
    Malformed(String),
    /// No signature.
    #[error(
        "unsigned generation {0}: refused (every generation must be signed with the fleet key)"
    )]
    Unsigned(u64),
    /// A signature the trust key does not verify.
    #[error("generation {0}: signature does not verify against the node's trust_key")]
    BadSignature(u64),
    /// Signed for another fleet.
    #[error("generation {seq} is for fleet \"{fleet}\"")]
    OtherFleet {
        /// Its sequence.
        seq: u64,
        /// The fleet it names.
        fleet: String,
    },
}

impl Envelope {
    /// Signs `payload` with the fleet key.
    pub fn seal(payload: &GenerationPayload, key: &SigningKey) -> Envelope {
        Envelope::seal_json(payload, GENERATION_CONTEXT, key)
    }

    /// Signs any message's JSON under `context` (a generation, a purge).
    pub fn seal_json<T: Serialize>(payload: &T, context: &[u8], key: &SigningKey) -> Envelope {
        let json = serde_json::to_vec(payload).expect("a payload serializes");
        Envelope {
            signature: Some(keys::sign(key, context, &json)),
            payload: STANDARD.encode(json),
        }
    }

    /// The payload, unverified: only for reading a sequence number or for
    /// reporting what was refused.
    pub fn peek(&self) -> Result<GenerationPayload, Refusal> {
        self.peek_json()
    }

    /// Any message's payload, unverified.
    pub fn peek_json<T: DeserializeOwned>(&self) -> Result<T, Refusal> {
        let bytes = STANDARD
            .decode(&self.payload)
            .map_err(|e| Refusal::Malformed(format!("payload is not base64: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| Refusal::Malformed(e.to_string()))
    }

    /// Whether the payload carries a signature by `trust` under `context`:
    /// `None` when it carries none at all.
    pub fn signed_by(&self, trust: &VerifyingKey, context: &[u8]) -> Option<bool> {
        let sig = self.signature.as_ref()?;
        let bytes = STANDARD.decode(&self.payload).unwrap_or_default();
        Some(keys::verify(trust, context, &bytes, sig))
    }

    /// The payload, if `trust` signed it for `fleet`.
    pub fn open(&self, trust: &VerifyingKey, fleet: &str) -> Result<GenerationPayload, Refusal> {
        let payload = self.peek()?;
        match self.signed_by(trust, GENERATION_CONTEXT) {
            None => return Err(Refusal::Unsigned(payload.seq)),
            Some(false) => return Err(Refusal::BadSignature(payload.seq)),
            Some(true) => {}
        }
        if payload.fleet != fleet {
            return Err(Refusal::OtherFleet {
                seq: payload.seq,
                fleet: payload.fleet,
            });
        }
        Ok(payload)
    }

    /// Parses stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, Refusal> {
        serde_json::from_slice(bytes).map_err(|e| Refusal::Malformed(e.to_string()))
    }

    /// The bytes stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }
}

/// A node's answer to one generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// The generation's sequence number.
    pub seq: u64,
    /// Whether it now serves it.
    pub applied: bool,
    /// Why not (the located error).
    #[serde(default)]
    pub error: Option<String>,
}

impl Outcome {
    /// `applied N` or `refused: ERROR`.
    pub fn line(&self) -> String {
        if self.applied {
            format!("applied {}", self.seq)
        } else {
            format!(
                "refused: {}",
                self.error.as_deref().unwrap_or("(no reason given)")
            )
        }
    }
}

/// A node's registry entry (KV `brink-F-nodes`, key = node name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeRecord {
    /// Node name.
    pub name: String,
    /// Region.
    pub region: String,
    /// `edge` or `shield`.
    pub role: String,
    /// The fleet generation it serves (0: none yet).
    pub generation: u64,
    /// Short hash of that generation's config.
    pub config_hash: String,
    /// Whether it is connected to NATS (an entry is written only while it is).
    pub connected: bool,
    /// When this entry was written, Unix milliseconds.
    pub at_ms: u64,
    /// Its client listeners.
    #[serde(default)]
    pub listeners: Vec<String>,
    /// Its answer to the last generation it saw.
    #[serde(default)]
    pub last: Option<Outcome>,
    /// Its acknowledgement of the last purge it took from the purge stream.
    #[serde(default)]
    pub purge: Option<super::purge::PurgeAck>,
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> GenerationPayload {
        GenerationPayload {
            fleet: "shop".into(),
            seq: 7,
            regions: vec![],
            config: "[[pools]]\n".into(),
            plugins: BTreeMap::new(),
            source: "fleet.toml".into(),
            published_ms: 1,
        }
    }

    #[test]
    fn only_a_signature_by_the_trusted_key_for_this_fleet_opens() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let trust = key.verifying_key();
        let sealed = Envelope::seal(&payload(), &key);
        assert_eq!(sealed.open(&trust, "shop").unwrap(), payload());
        let round = Envelope::from_bytes(&sealed.to_bytes()).unwrap();
        assert_eq!(round.open(&trust, "shop").unwrap().seq, 7);
        assert_eq!(
            Envelope::seal(&payload(), &other).open(&trust, "shop"),
            Err(Refusal::BadSignature(7))
        );
        let unsigned = Envelope {
            signature: None,
            ..sealed.clone()
        };
        assert_eq!(unsigned.open(&trust, "shop"), Err(Refusal::Unsigned(7)));
        assert!(matches!(
            sealed.open(&trust, "other"),
            Err(Refusal::OtherFleet { .. })
        ));
        // A payload changed after signing no longer verifies.
        let mut p = payload();
        p.config.push_str("# changed\n");
        let tampered = Envelope {
            payload: STANDARD.encode(serde_json::to_vec(&p).unwrap()),
            ..sealed
        };
        assert_eq!(tampered.open(&trust, "shop"), Err(Refusal::BadSignature(7)));
    }
}
