//! Native test support: the state the [`crate::host`] functions read when the
//! plugin is not running as a component (every target but `wasm32`).
//!
//! The state is per thread, and the Rust test harness runs each test on its
//! own thread, so tests do not see each other's settings. Call [`reset`] (or
//! [`with_config`]) first anyway when a thread runs more than one scenario.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::host::Level;

#[derive(Default)]
struct State {
    config: HashMap<String, String>,
    client_ip: Option<String>,
    node_name: Option<String>,
    node_region: Option<String>,
    now_ms: Option<u64>,
    logs: Vec<(Level, String)>,
    /// Changes with every change of `config` (see `config::Memo`).
    generation: u64,
}

/// Source of config generations, unique across threads and resets.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Clears every setting and recorded log line on this thread.
pub fn reset() {
    STATE.with(|s| {
        *s.borrow_mut() = State {
            generation: next_generation(),
            ..State::default()
        }
    });
}

/// Resets this thread's state, then sets these config values.
pub fn with_config(values: &[(&str, &str)]) {
    reset();
    for (k, v) in values {
        set_config(k, v);
    }
}

/// Sets a config value (the text [`crate::host::config`] returns for `key`).
pub fn set_config(key: &str, value: &str) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.config.get(key).map(String::as_str) != Some(value) {
            s.config.insert(key.to_owned(), value.to_owned());
            s.generation = next_generation();
        }
    });
}

/// Unsets a config value.
pub fn remove_config(key: &str) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.config.remove(key);
        s.generation = next_generation();
    });
}

/// Sets what [`crate::host::client_ip`] returns.
pub fn set_client_ip(ip: &str) {
    STATE.with(|s| s.borrow_mut().client_ip = Some(ip.to_owned()));
}

/// Sets what [`crate::host::node_name`] returns.
pub fn set_node_name(name: &str) {
    STATE.with(|s| s.borrow_mut().node_name = Some(name.to_owned()));
}

/// Sets what [`crate::host::node_region`] returns.
pub fn set_node_region(region: &str) {
    STATE.with(|s| s.borrow_mut().node_region = Some(region.to_owned()));
}

/// Freezes the test clock at this many milliseconds since the Unix epoch.
pub fn set_now_ms(ms: u64) {
    STATE.with(|s| s.borrow_mut().now_ms = Some(ms));
}

/// Moves the frozen test clock forward (freezing it at the system time first
/// if it was not set).
pub fn advance_ms(ms: u64) {
    let now = now_ms();
    set_now_ms(now + ms);
}

/// The lines logged on this thread so far.
pub fn logs() -> Vec<(Level, String)> {
    STATE.with(|s| s.borrow().logs.clone())
}

/// Returns and forgets the lines logged on this thread so far.
pub fn take_logs() -> Vec<(Level, String)> {
    STATE.with(|s| std::mem::take(&mut s.borrow_mut().logs))
}

pub(crate) fn record_log(level: Level, message: &str) {
    STATE.with(|s| s.borrow_mut().logs.push((level, message.to_owned())));
}

pub(crate) fn config(key: &str) -> Option<String> {
    STATE.with(|s| s.borrow().config.get(key).cloned())
}

pub(crate) fn generation() -> u64 {
    STATE.with(|s| s.borrow().generation)
}

pub(crate) fn client_ip() -> String {
    STATE.with(|s| s.borrow().client_ip.clone().unwrap_or_default())
}

pub(crate) fn node_name() -> String {
    STATE.with(|s| {
        s.borrow()
            .node_name
            .clone()
            .unwrap_or_else(|| "test-node".to_owned())
    })
}

pub(crate) fn node_region() -> String {
    STATE.with(|s| {
        s.borrow()
            .node_region
            .clone()
            .unwrap_or_else(|| "test-region".to_owned())
    })
}

pub(crate) fn now_ms() -> u64 {
    STATE.with(|s| s.borrow().now_ms).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::host;

    #[test]
    fn host_functions_read_test_state() {
        with_config(&[("secret", "s3")]);
        assert_eq!(host::config("secret").as_deref(), Some("s3"));
        assert_eq!(host::config("other"), None);
        remove_config("secret");
        assert_eq!(host::config("secret"), None);
        assert_eq!(host::client_ip(), "");
        assert_eq!(host::node_name(), "test-node");
        assert_eq!(host::node_region(), "test-region");
        set_client_ip("10.0.0.1");
        set_node_name("n1");
        set_node_region("eu-west");
        assert_eq!(
            (host::client_ip(), host::node_name(), host::node_region()),
            ("10.0.0.1".into(), "n1".into(), "eu-west".into())
        );
        set_now_ms(1_000);
        advance_ms(500);
        assert_eq!(host::now_ms(), 1_500);
        host::log(Level::Warn, "careful");
        assert_eq!(logs(), [(Level::Warn, "careful".to_owned())]);
        assert_eq!(take_logs().len(), 1);
        assert!(logs().is_empty());
        reset();
        assert!(host::now_ms() > 1_500);
    }
}
