//! The fleet's node registry as commands read it: every live entry of
//! `brink-F-nodes` (an entry expires [`super::protocol::NODE_TTL`] after
//! its node's last heartbeat).

use futures_util::StreamExt;

use super::ControlError;
use super::connect::FleetBuckets;
use super::protocol::{NodeRecord, now_ms};

/// Every live node, sorted by region and name.
pub async fn nodes(buckets: &FleetBuckets) -> Result<Vec<NodeRecord>, ControlError> {
    let nats = |e: &dyn std::fmt::Display| ControlError::Nats(format!("node registry: {e}"));
    let mut keys = buckets.nodes.keys().await.map_err(|e| nats(&e))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| nats(&e))?;
        let Some(bytes) = buckets.nodes.get(&key).await.map_err(|e| nats(&e))? else {
            continue;
        };
        match serde_json::from_slice::<NodeRecord>(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!("node registry entry {key} is not a node record: {e}"),
        }
    }
    out.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    Ok(out)
}

/// The status table: one line per node.
pub fn table(nodes: &[NodeRecord]) -> String {
    let mut out = format!(
        "{:<16} {:<12} {:<7} {:>10} {:<13} {:<10} {:>9}  LAST\n",
        "NODE", "REGION", "ROLE", "GENERATION", "CONFIG", "NATS", "HEARTBEAT"
    );
    let now = now_ms();
    for n in nodes {
        let ago = now.saturating_sub(n.at_ms) as f64 / 1000.0;
        out.push_str(&format!(
            "{:<16} {:<12} {:<7} {:>10} {:<13} {:<10} {:>8.1}s  {}\n",
            n.name,
            n.region,
            n.role,
            n.generation,
            if n.config_hash.is_empty() {
                "-"
            } else {
                &n.config_hash
            },
            if n.connected {
                "connected"
            } else {
                "disconnected"
            },
            ago,
            n.last.as_ref().map_or("-".to_string(), |o| o.line()),
        ));
    }
    out
}
