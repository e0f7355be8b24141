//! The sample plugins embedded in the binary, so `wasm = "builtin:auth"`
//! works wherever the binary runs. The bytes come from the
//! `brink-builtin-plugins` crate, whose build script compiles the guests:
//! a guest edit then rebuilds that tiny crate, not this one.

/// Where the build script put the guest components (sample plugins and test fixtures).
pub const GUEST_DIR: &str = brink_builtin_plugins::GUEST_DIR;

pub use crate::config::BUILTIN_PLUGINS;

/// The component bytes of a built-in plugin.
pub fn builtin_wasm(name: &str) -> Option<&'static [u8]> {
    brink_builtin_plugins::wasm(name)
}
