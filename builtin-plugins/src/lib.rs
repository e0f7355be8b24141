//! The sample plugins' component bytes, built from `guest-plugins/` by this
//! crate's build script and embedded with `include_bytes!`.
//!
//! Why a crate of its own: the guest build and the embedded bytes used to
//! live in the `brink` crate (its build script), so a guest edit re-ran the
//! host's build script and recompiled the host crate from its changed
//! inputs. Here a guest edit rebuilds this tiny crate; the host depends
//! only on [`wasm`]'s signature, so its incremental rebuild reuses its
//! compiled code and the new bytes arrive at link time.
//!
//! The bytes are `static`s behind a function, not `const`s: a `const`'s
//! value would be copied into every crate that uses it.

#![warn(missing_docs)]

/// Where the build script put the guest components: the sample plugins
/// (`brink_auth.wasm`, ...) and the test fixtures (`fx_*.wasm`).
pub const GUEST_DIR: &str = env!("BRINK_GUEST_DIR");

static AUTH: &[u8] = include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_auth.wasm"));
static ROUTER: &[u8] = include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_router.wasm"));
static PERSONALIZE: &[u8] =
    include_bytes!(concat!(env!("BRINK_GUEST_DIR"), "/brink_personalize.wasm"));

/// The component bytes of the built-in plugin `name` (`auth`, `router`,
/// `personalize`); `None` for any other name.
pub fn wasm(name: &str) -> Option<&'static [u8]> {
    match name {
        "auth" => Some(AUTH),
        "router" => Some(ROUTER),
        "personalize" => Some(PERSONALIZE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_component() {
        for name in ["auth", "router", "personalize"] {
            let bytes = wasm(name).expect(name);
            assert_eq!(&bytes[..4], b"\0asm", "{name}");
        }
        assert!(wasm("nope").is_none());
        assert!(
            std::path::Path::new(GUEST_DIR)
                .join("fx_echo.wasm")
                .is_file()
        );
    }
}
