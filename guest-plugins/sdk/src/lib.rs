//! The Brink plugin SDK.
//!
//! A Brink plugin is a WebAssembly component built for `wasm32-wasip2` that
//! implements the `brink:plugin@0.1.0` world (see `wit/plugin.wit`). With this
//! crate a plugin author writes one [`Plugin`] impl and one [`export_plugin!`]:
//!
//! ```
//! use brink_plugin_sdk::{Action, Client, EarlyResponse, Edits, Plugin, Request};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn on_request(req: &Request, _client: &Client) -> Action {
//!         if req.header("x-block").is_some() {
//!             return Action::Respond(EarlyResponse::new(403).body("blocked\n"));
//!         }
//!         Action::Continue(Edits::new().set_header("x-hello", "1"))
//!     }
//! }
//!
//! brink_plugin_sdk::export_plugin!(Hello);
//! ```
//!
//! The SDK's types are plain Rust values; the conversion from and to the
//! wit-bindgen types happens inside the SDK, and the wit-bindgen glue is only
//! compiled for `wasm32`. On every other target the [`host`] functions read
//! from a per-thread test state that [`testing`] sets, so plugin logic is
//! unit-tested natively with `cargo test`.

#![warn(missing_docs)]

// Lets the wit-bindgen glue name this crate by its public path, which is also
// valid inside the plugin crates that expand `export_plugin!`.
extern crate self as brink_plugin_sdk;

pub mod config;
pub mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

pub use host::Level;
pub use types::{
    Action, Client, EarlyResponse, Edits, HeaderOp, Request, RequestEdits, Response, ResponseEdits,
    cookie_pairs, is_valid_header_name, is_valid_header_value, percent_decode, query_pairs,
};

/// What a plugin implements: the two phases of the `handler` interface.
///
/// Both functions have defaults that change nothing, so a plugin implements
/// only the phases it needs. They take no `self`: a plugin keeps any state it
/// needs across calls of a warm instance in statics (an instance is used by one
/// request at a time, and may be thrown away at any point).
pub trait Plugin {
    /// Runs once per request, before the cache lookup, in route order. `req`
    /// is the request as edited by the plugins before this one.
    ///
    /// Returns [`Action::Continue`] with the edits to apply, or
    /// [`Action::Respond`] to end the request with a response of its own.
    /// The default continues without edits.
    fn on_request(req: &Request, client: &Client) -> Action {
        let _ = (req, client);
        Action::Continue(Edits::default())
    }

    /// Runs once per response, before it is sent to the client. `body` is
    /// given only for small text responses under the plugin's configured
    /// limit; only then may the returned edits replace the body.
    ///
    /// The default changes nothing.
    fn on_response(req: &Request, resp: &Response, body: Option<&[u8]>) -> ResponseEdits {
        let _ = (req, resp, body);
        ResponseEdits::default()
    }
}

/// Exports a [`Plugin`] implementation as the component's `handler`.
///
/// Use it exactly once per plugin crate, at the crate root, with the type
/// that implements [`Plugin`]: `brink_plugin_sdk::export_plugin!(MyPlugin);`.
/// On `wasm32` it emits the component exports; on other targets it only checks
/// that the type implements [`Plugin`] (so native `cargo test` builds link).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "wit-bindgen export glue")]
        const _: () = {
            struct __BrinkPluginExport;

            impl $crate::__private::Guest for __BrinkPluginExport {
                fn on_request(
                    req: $crate::__private::RequestHead,
                    client: $crate::__private::ClientInfo,
                ) -> $crate::__private::RequestAction {
                    $crate::__private::on_request::<$plugin>(req, client)
                }

                fn on_response(
                    req: $crate::__private::RequestHead,
                    resp: $crate::__private::ResponseHead,
                    body: ::core::option::Option<$crate::__private::Vec<u8>>,
                ) -> $crate::__private::WitResponseEdits {
                    $crate::__private::on_response::<$plugin>(req, resp, body)
                }
            }

            $crate::__private::export_bindings!(__BrinkPluginExport with_types_in $crate::__private::bindings);
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn __brink_assert_plugin<P: $crate::Plugin>() {}
            let _ = __brink_assert_plugin::<$plugin>;
        };
    };
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;
