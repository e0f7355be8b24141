//! The Brink plugin SDK.
//!
//! A Brink plugin is a WebAssembly component built for `wasm32-wasip2` that
//! implements the `brink:plugin@0.2.0` world (see `wit/v0.2/plugin.wit`). With
//! this crate a plugin author writes one [`Plugin`] impl and one
//! [`export_plugin!`]:
//!
//! ```
//! use brink_plugin_sdk::{Action, Client, EarlyResponse, Edits, Hooks, Plugin, Request};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     // Only `on_request` does something: the host never calls `on_response`.
//!     const HOOKS: Hooks = Hooks::ON_REQUEST;
//!
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
//! The host passes the request head, the client facts and the response head
//! as one byte buffer; [`Request`], [`Client`] and [`Response`] borrow from it
//! (their accessors return `&str` into the buffer, nothing is copied). The
//! edits a plugin returns are plain Rust values; the conversion to the
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
pub mod wire;

pub use host::Level;
pub use types::{
    Action, Client, EarlyResponse, Edits, Fields, FieldsIter, HeaderOp, Request, RequestEdits,
    Response, ResponseEdits, cookie_pairs, is_valid_header_name, is_valid_header_value,
    percent_decode, query_pairs,
};

/// Which of the [`Plugin`] functions the host calls. A plugin declares them
/// with [`Plugin::HOOKS`]; the host asks once, when it loads the plugin, and
/// never calls a hook left out (an `on_response` that only returns the
/// default costs a call per response for nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hooks {
    /// The host calls [`Plugin::on_request`].
    pub on_request: bool,
    /// The host calls [`Plugin::on_response`].
    pub on_response: bool,
}

impl Hooks {
    /// Both hooks (the default).
    pub const ALL: Hooks = Hooks {
        on_request: true,
        on_response: true,
    };
    /// Only [`Plugin::on_request`].
    pub const ON_REQUEST: Hooks = Hooks {
        on_request: true,
        on_response: false,
    };
    /// Only [`Plugin::on_response`].
    pub const ON_RESPONSE: Hooks = Hooks {
        on_request: false,
        on_response: true,
    };
}

/// What a plugin implements: the two phases of the `handler` interface.
///
/// Both functions have defaults that change nothing, so a plugin implements
/// only the phases it needs. They take no `self`: a plugin keeps any state it
/// needs across calls of a warm instance in statics (an instance is used by one
/// request at a time, and may be thrown away at any point).
pub trait Plugin {
    /// The hooks the host calls: every one by default. A plugin that
    /// implements only one of the two says so (`Hooks::ON_REQUEST` or
    /// `Hooks::ON_RESPONSE`), and the host skips the other.
    const HOOKS: Hooks = Hooks::ALL;

    /// Runs once per request, before the cache lookup, in route order. `req`
    /// is the request as edited by the plugins before this one.
    ///
    /// Returns [`Action::Continue`] with the edits to apply, or
    /// [`Action::Respond`] to end the request with a response of its own.
    /// The default continues without edits.
    fn on_request(req: &Request<'_>, client: &Client<'_>) -> Action {
        let _ = (req, client);
        Action::Continue(Edits::default())
    }

    /// Runs once per response, before it is sent to the client. `body` is
    /// given only for small text responses under the plugin's configured
    /// limit; only then may the returned edits replace the body.
    ///
    /// The default changes nothing.
    fn on_response(req: &Request<'_>, resp: &Response<'_>, body: Option<&[u8]>) -> ResponseEdits {
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
                fn declared_hooks() -> $crate::__private::WitHooks {
                    $crate::__private::hooks::<$plugin>()
                }

                fn on_request(
                    head: $crate::__private::Vec<u8>,
                ) -> $crate::__private::RequestAction {
                    $crate::__private::on_request::<$plugin>(head)
                }

                fn on_response(
                    head: $crate::__private::Vec<u8>,
                    body: ::core::option::Option<$crate::__private::Vec<u8>>,
                ) -> $crate::__private::WitResponseEdits {
                    $crate::__private::on_response::<$plugin>(head, body)
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
