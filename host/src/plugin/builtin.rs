//! The sample plugins, compiled by the build script and embedded in the
//! binary, so `wasm = "builtin:auth"` works wherever the binary runs.

/// Where the build script put the guest components (sample plugins and test fixtures).
pub const GUEST_DIR: &str = env!("BRINK_GUEST_DIR");

const AUTH: &[u8] = include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_auth.wasm"));
const ROUTER: &[u8] = include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_router.wasm"));
const PERSONALIZE: &[u8] =
    include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_personalize.wasm"));

pub use crate::config::BUILTIN_PLUGINS;

/// The component bytes of a built-in plugin.
pub fn builtin_wasm(name: &str) -> Option<&'static [u8]> {
    match name {
        "auth" => Some(AUTH),
        "router" => Some(ROUTER),
        "personalize" => Some(PERSONALIZE),
        _ => None,
    }
}
