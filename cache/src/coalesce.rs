//! Request coalescing: N concurrent misses for one key make one origin
//! request. The first caller leads; the others wait on a watch channel and
//! are woken at once when the leader finishes. A leader that fails or is
//! dropped wakes its waiters with `Failed`, never leaving them hanging, and
//! a waiter stops waiting after a time limit of its own (a leader stuck on a
//! stalled origin holds it no longer than that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::Entry;

/// How a fill ended.
#[derive(Debug, Clone)]
pub enum FillOutcome {
    /// The response was stored: waiters serve it.
    Stored(Arc<Entry>),
    /// The response may not be shared: waiters go to the origin themselves.
    Uncacheable,
    /// The response answered the leader's own request and says nothing
    /// about the others' (it was not stored because of that request's
    /// credentials or directives): waiters fill again, coalescing among
    /// themselves.
    LeaderOnly,
    /// The leader failed: waiters try again on their own.
    Failed,
}

type Slot = watch::Sender<Option<FillOutcome>>;

/// The fills in progress.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    map: Arc<Mutex<HashMap<String, Slot>>>,
}

/// The caller's role in a fill.
pub enum Join {
    /// Fetch from the origin, then call [`LeaderGuard::finish`].
    Leader(LeaderGuard),
    /// Wait for the leader's outcome.
    Waiter(watch::Receiver<Option<FillOutcome>>),
}

/// Held by the leader; dropping it without finishing reports `Failed`.
pub struct LeaderGuard {
    key: String,
    map: Arc<Mutex<HashMap<String, Slot>>>,
    sender: Option<Slot>,
}

impl Inflight {
    /// Leads the fill of `key`, or joins the one in progress.
    pub fn join(&self, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(key) {
            return Join::Waiter(tx.subscribe());
        }
        let (tx, _rx) = watch::channel(None);
        map.insert(key.to_string(), tx.clone());
        Join::Leader(LeaderGuard {
            key: key.to_string(),
            map: self.map.clone(),
            sender: Some(tx),
        })
    }
}

impl LeaderGuard {
    /// Publishes the outcome and wakes every waiter.
    pub fn finish(mut self, outcome: FillOutcome) {
        self.publish(outcome);
    }

    fn publish(&mut self, outcome: FillOutcome) {
        if let Some(tx) = self.sender.take() {
            self.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.key);
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        self.publish(FillOutcome::Failed);
    }
}

/// Waits for the leader, at most `limit` (`None` past it); a leader gone
/// without a word counts as `Failed`.
pub async fn wait(
    mut rx: watch::Receiver<Option<FillOutcome>>,
    limit: Duration,
) -> Option<FillOutcome> {
    let outcome = async {
        match rx.wait_for(|v| v.is_some()).await {
            Ok(v) => v.clone().unwrap_or(FillOutcome::Failed),
            Err(_) => FillOutcome::Failed,
        }
    };
    tokio::time::timeout(limit, outcome).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_woken_and_a_dropped_leader_fails_them() {
        let inflight = Inflight::default();
        let Join::Leader(leader) = inflight.join("k") else {
            panic!("first caller leads")
        };
        let Join::Waiter(w1) = inflight.join("k") else {
            panic!("second waits")
        };
        let Join::Waiter(w2) = inflight.join("k") else {
            panic!("third waits")
        };
        let t1 = tokio::spawn(wait(w1, LONG));
        let t2 = tokio::spawn(wait(w2, LONG));
        leader.finish(FillOutcome::Uncacheable);
        assert!(matches!(t1.await.unwrap(), Some(FillOutcome::Uncacheable)));
        assert!(matches!(t2.await.unwrap(), Some(FillOutcome::Uncacheable)));

        let Join::Leader(leader) = inflight.join("k") else {
            panic!("a new fill starts after the last finished")
        };
        let Join::Waiter(w) = inflight.join("k") else {
            panic!("waits")
        };
        drop(leader);
        assert!(matches!(wait(w, LONG).await, Some(FillOutcome::Failed)));
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_waiter_gives_up_after_its_limit_and_the_fill_goes_on() {
        let inflight = Inflight::default();
        let Join::Leader(leader) = inflight.join("k") else {
            panic!("first caller leads")
        };
        let Join::Waiter(w) = inflight.join("k") else {
            panic!("second waits")
        };
        // The leader does not finish while the waiter waits.
        assert!(wait(w, Duration::from_millis(50)).await.is_none());
        // The fill is still the leader's: a later caller waits on it.
        let Join::Waiter(w) = inflight.join("k") else {
            panic!("the fill goes on")
        };
        leader.finish(FillOutcome::Uncacheable);
        assert!(matches!(
            wait(w, LONG).await,
            Some(FillOutcome::Uncacheable)
        ));
    }
}
