//! Glue between the SDK's types and the wit-bindgen generated ones. Used by
//! `export_plugin!`; not part of the public API.
#![allow(missing_docs, unsafe_code, reason = "wit-bindgen generated glue")]

pub use std::vec::Vec;

pub use wit_bindgen;

pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit/v0.2",
        pub_export_macro: true,
        export_macro_name: "__brink_export_bindings",
        runtime_path: "::brink_plugin_sdk::__private::wit_bindgen::rt",
    });
}

pub use bindings::__brink_export_bindings as export_bindings;
pub use bindings::brink::plugin::types::{
    EarlyResponse as WitEarlyResponse, HeaderOp as WitHeaderOp, RequestAction,
    RequestEdits as WitRequestEdits, ResponseEdits as WitResponseEdits,
};
pub use bindings::exports::brink::plugin::handler::{Guest, Hooks as WitHooks};

use crate::{Action, HeaderOp, Plugin, wire};

fn header_ops(ops: Vec<HeaderOp>) -> Vec<WitHeaderOp> {
    ops.into_iter()
        .map(|op| match op {
            HeaderOp::Set(n, v) => WitHeaderOp::Set((n, v)),
            HeaderOp::Append(n, v) => WitHeaderOp::Append((n, v)),
            HeaderOp::Remove(n) => WitHeaderOp::Remove(n),
        })
        .collect()
}

/// `handler.hooks` for plugin `P`.
pub fn hooks<P: Plugin>() -> WitHooks {
    let mut hooks = WitHooks::empty();
    if P::HOOKS.on_request {
        hooks |= WitHooks::ON_REQUEST;
    }
    if P::HOOKS.on_response {
        hooks |= WitHooks::ON_RESPONSE;
    }
    hooks
}

/// `handler.on-request` for plugin `P`.
pub fn on_request<P: Plugin>(head: Vec<u8>) -> RequestAction {
    let (req, client) = wire::on_request(&head);
    match P::on_request(&req, &client) {
        Action::Continue(e) => RequestAction::Continue(WitRequestEdits {
            headers: header_ops(e.headers),
            path: e.path,
            query: e.query,
            pool: e.pool,
            cache_variant: e.cache_variant,
            ttl_override: e.ttl,
        }),
        Action::Respond(r) => RequestAction::Respond(WitEarlyResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
    }
}

/// `handler.on-response` for plugin `P`.
pub fn on_response<P: Plugin>(head: Vec<u8>, body: Option<Vec<u8>>) -> WitResponseEdits {
    let (req, resp) = wire::on_response(&head);
    let edits = P::on_response(&req, &resp, body.as_deref());
    WitResponseEdits {
        headers: header_ops(edits.headers),
        body: edits.body,
    }
}
