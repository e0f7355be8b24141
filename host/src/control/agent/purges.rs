//! A node's side of fleet purges: its own durable consumer on the purge
//! stream (named after the node, so it survives the node's restarts and
//! NATS losses), replayed before the node reports itself connected, then
//! followed while connected.
//!
//! Each purge is verified with the trust key, applied to the node's cache
//! through `crate::admin::purge_target` (so it means what `POST /purge`
//! means), acknowledged in the node's registry entry, and only then acked
//! to JetStream: a node that dies in between gets it again (a purge is
//! idempotent). A refused purge is reported and acked too, never applied.
//!
//! If the stream no longer holds every purge after the last one this
//! process saw (it was away longer than the stream's maximum age), the
//! node cannot know what it missed and drops its whole cache first. The
//! cache lives in memory, so a restarted process starts empty and has
//! nothing older to miss; what matters is what happened while it ran.

use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, Message};

use super::super::ControlError;
use super::super::connect::FleetBuckets;
use super::super::protocol::now_ms;
use super::super::purge::{PURGE_MAX_AGE, PurgeAck, PurgePayload, purge_subject};
use super::Agent;
use crate::cache::PurgeTarget;

/// How long JetStream waits for a node's ack before delivering a purge
/// again (applying one takes well under a millisecond).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// What the node took from the purge stream so far.
#[derive(Debug, Default)]
pub(super) struct PurgeState {
    /// The last stream sequence it handled (0: none in this process).
    pub(super) seen: u64,
    /// Its ack of that purge, shown in its registry entry.
    pub(super) ack: Option<PurgeAck>,
}

/// The durable consumer name of node `name` (JetStream names take no `.`,
/// `*`, `>` or white space).
fn durable_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("node-{safe}")
}

impl Agent {
    /// Opens this node's consumer, drops the cache if history it needs is
    /// gone, and applies every purge waiting for it. Returns the message
    /// stream to follow.
    pub(super) async fn replay_purges(
        &self,
        buckets: &FleetBuckets,
    ) -> Result<pull::Stream, ControlError> {
        let nats = |e: &dyn std::fmt::Display| ControlError::Nats(format!("purge stream: {e}"));
        let first = buckets.purges.get_info().await.map_err(|e| nats(&e))?;
        self.check_history(first.state.first_sequence);
        let mut consumer: consumer::Consumer<pull::Config> = buckets
            .purges
            .get_or_create_consumer(
                &durable_name(&self.name),
                pull::Config {
                    durable_name: Some(durable_name(&self.name)),
                    filter_subject: purge_subject(&self.control.fleet),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    // A node gone for good leaves no consumer behind.
                    inactive_threshold: PURGE_MAX_AGE,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats(&e))?;
        let pending = consumer.info().await.map_err(|e| nats(&e))?.num_pending;
        let mut messages = consumer.messages().await.map_err(|e| nats(&e))?;
        for _ in 0..pending {
            let msg = next(&mut messages).await?;
            self.take_purge(&msg, buckets).await?;
        }
        if pending > 0 {
            tracing::info!(purges = pending, "replayed the purges this node missed");
        }
        Ok(messages)
    }

    /// Drops the whole cache if the stream starts after a purge this
    /// process has not seen (or the process ran longer than the stream
    /// keeps purges without ever reading it).
    fn check_history(&self, first_in_stream: u64) {
        let seen = self.purges.lock().expect("purge state").seen;
        let gone = if seen == 0 {
            self.started.elapsed() > PURGE_MAX_AGE && first_in_stream > 1
        } else {
            seen + 1 < first_in_stream
        };
        if gone {
            // An empty prefix matches every URL: the whole cache.
            let n = self
                .reloader
                .shared()
                .cache
                .purge(&PurgeTarget::Prefix(String::new()), false);
            tracing::warn!(
                dropped = n,
                "purges this node missed are gone from the stream (older than {}): cache dropped",
                humantime::format_duration(PURGE_MAX_AGE)
            );
        }
    }

    /// Verifies and applies one purge, reports it in the registry, then
    /// acks it to JetStream.
    pub(super) async fn take_purge(
        &self,
        msg: &Message,
        buckets: &FleetBuckets,
    ) -> Result<(), ControlError> {
        let seq = msg
            .info()
            .map_err(|e| ControlError::Nats(format!("purge message: {e}")))?
            .stream_sequence;
        let ack = self.apply_purge(seq, &msg.payload);
        {
            let mut state = self.purges.lock().expect("purge state");
            state.seen = state.seen.max(seq);
            state.ack = Some(ack);
        }
        self.beat(buckets).await?;
        msg.ack()
            .await
            .map_err(|e| ControlError::Nats(format!("purge ack: {e}")))
    }

    fn apply_purge(&self, seq: u64, bytes: &[u8]) -> PurgeAck {
        let opened = PurgePayload::open(bytes, &self.trust, &self.control.fleet).and_then(|p| {
            crate::admin::purge_target(&p.by, p.value.clone())
                .map(|t| (t, p.soft))
                .ok_or_else(|| format!("purge by \"{}\": use url, prefix or tag", p.by))
        });
        let (purged, error) = match opened {
            Ok((target, soft)) => {
                let n = self.reloader.shared().cache.purge(&target, soft);
                tracing::info!(?target, soft, purged = n, seq, "fleet purge");
                (n, None)
            }
            Err(e) => {
                tracing::error!("fleet purge {seq} refused: {e}");
                (0, Some(e))
            }
        };
        PurgeAck {
            seq,
            applied: error.is_none(),
            purged,
            error,
            at_ms: now_ms(),
        }
    }
}

/// The next purge message.
pub(super) async fn next(messages: &mut pull::Stream) -> Result<jetstream::Message, ControlError> {
    use futures_util::StreamExt;
    messages
        .next()
        .await
        .ok_or_else(|| ControlError::Nats("the purge consumer ended".into()))?
        .map_err(|e| ControlError::Nats(format!("purge consumer: {e}")))
}
