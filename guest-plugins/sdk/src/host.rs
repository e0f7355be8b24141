//! The functions the host offers to plugins (the WIT `host` interface).
//!
//! On `wasm32` these call the component's imports. On other targets they read
//! the per-thread test state set with [`crate::testing`], so plugin logic can
//! be unit-tested natively.

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// A failure.
    Error,
}

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::brink::plugin::host as imp;

/// Writes a line to the edge node's log, tagged with the plugin's name.
/// Natively the line is recorded; read it with [`crate::testing::logs`].
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            Level::Trace => imp::Level::Trace,
            Level::Debug => imp::Level::Debug,
            Level::Info => imp::Level::Info,
            Level::Warn => imp::Level::Warn,
            Level::Error => imp::Level::Error,
        };
        imp::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::record_log(level, message);
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// Config values asked of the host so far. A plugin reads a handful of
    /// keys, so a list beats a hash map (and needs no random hash seed).
    static CONFIG_MEMO: std::cell::RefCell<Vec<(String, Option<String>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A value from this plugin's own config table, rendered as text: strings as
/// they are, other values (numbers, booleans, arrays, tables) as TOML. `None`
/// when the key is not set. See [`crate::config`] for parsing helpers, and
/// [`crate::config::Memo`] to parse a value once per instance.
/// Natively: the value set with [`crate::testing::set_config`].
///
/// A plugin's config is fixed for the life of its instance (a reload makes
/// new instances), so on wasm each key is asked of the host once and then
/// answered from a per-instance memo: warm instances pay no host call for it.
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return CONFIG_MEMO.with(|memo| {
        if let Some((_, v)) = memo.borrow().iter().find(|(k, _)| k == key) {
            return v.clone();
        }
        let v = imp::config_get(key);
        memo.borrow_mut().push((key.to_owned(), v.clone()));
        v
    });
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::config(key);
}

/// The IP address of the client of the current request, or `""` outside a
/// request. Natively: [`crate::testing::set_client_ip`], default `""`.
pub fn client_ip() -> String {
    #[cfg(target_arch = "wasm32")]
    return imp::client_ip();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::client_ip();
}

/// The name of the edge node running the plugin.
/// Natively: [`crate::testing::set_node_name`], default `"test-node"`.
pub fn node_name() -> String {
    #[cfg(target_arch = "wasm32")]
    return imp::node_name();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::node_name();
}

/// The region of the edge node running the plugin.
/// Natively: [`crate::testing::set_node_region`], default `"test-region"`.
pub fn node_region() -> String {
    #[cfg(target_arch = "wasm32")]
    return imp::node_region();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::node_region();
}

/// Wall-clock time in milliseconds since the Unix epoch. Natively: the test
/// clock set with [`crate::testing::set_now_ms`], else the system clock.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return imp::now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::now_ms();
}
