//! What `/status` and `/metrics` say about config reloads.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::DescriptorEncoder;
use serde_json::json;

use crate::metrics::scrape;

/// The outcome of one reload attempt.
#[derive(Debug, Clone)]
pub struct LastReload {
    /// Whether it was applied.
    pub ok: bool,
    /// When it finished (an applied one: just before its swap).
    pub at: SystemTime,
    /// The located error(s) of a refused reload.
    pub error: Option<String>,
    /// How long it took (reading, validating, compiling, swapping).
    pub duration: Duration,
    /// What started it.
    pub trigger: Trigger,
}

/// Reload counters and the last attempt, shared by the admin endpoints.
#[derive(Debug)]
pub struct ConfigStatus {
    loaded_at: SystemTime,
    ok: AtomicU64,
    errors: AtomicU64,
    last: Mutex<Option<LastReload>>,
}

impl Default for ConfigStatus {
    fn default() -> Self {
        ConfigStatus {
            loaded_at: SystemTime::now(),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl ConfigStatus {
    /// Records an attempt.
    pub fn record(&self, last: LastReload) {
        if last.ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }

    /// The last attempt, if any.
    pub fn last(&self) -> Option<LastReload> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `(ok, error)` counts.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }

    /// The `config` object of `/status`.
    pub fn json(&self, source: &str, generation: u64, reloadable: bool) -> serde_json::Value {
        let last = self.last().map(|l| {
            json!({
                "ok": l.ok,
                "at": humantime::format_rfc3339_millis(l.at).to_string(),
                "error": l.error,
                "duration_ms": l.duration.as_secs_f64() * 1000.0,
                "trigger": l.trigger.label(),
            })
        });
        let (ok, errors) = self.counts();
        json!({
            "source": source,
            "generation": generation,
            "reloadable": reloadable,
            "loaded_at": humantime::format_rfc3339_millis(self.loaded_at).to_string(),
            "reloads": { "ok": ok, "error": errors },
            "last_reload": last,
        })
    }

    /// Writes the reload families (`brink_config_*`) for a scrape; the
    /// values are the ones `/status` shows.
    pub fn encode_metrics(&self, generation: u64, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let (ok, errors) = self.counts();
        let last = self.last();
        let at = last.as_ref().map_or(self.loaded_at, |l| l.at);
        let success = last.as_ref().is_none_or(|l| l.ok);
        scrape::gauge(
            encoder,
            "config_generation",
            "Config generation serving new requests (1 at start, +1 per applied reload).",
            scrape::level(generation),
        )?;
        scrape::counters(
            encoder,
            "config_reloads",
            "Config reloads, by result.",
            [([("result", "ok")], ok), ([("result", "error")], errors)],
        )?;
        scrape::gauge(
            encoder,
            "config_last_reload_timestamp_seconds",
            "When the last reload attempt finished (the start time before any).",
            // Milliseconds, as `/status` gives them.
            (unix_secs(at) * 1000.0).round() / 1000.0,
        )?;
        scrape::gauge(
            encoder,
            "config_last_reload_success",
            "Whether the last reload attempt was applied (1) or refused (0).",
            i64::from(success),
        )
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The config file or a plugin file changed on disk.
    File,
    /// `SIGHUP`.
    Signal,
    /// `POST /reload` on the admin listener.
    Admin,
    /// A direct call ([`crate::node::Node::reload`]).
    Api,
    /// A generation from the fleet's control plane (NATS).
    Fleet,
}

impl Trigger {
    /// Label for logs and `/status`.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::File => "file",
            Trigger::Signal => "sighup",
            Trigger::Admin => "admin",
            Trigger::Api => "api",
            Trigger::Fleet => "fleet",
        }
    }
}
