//! Glue between the SDK's types and the wit-bindgen generated ones. Used by
//! `export_plugin!`; not part of the public API.
#![allow(missing_docs, unsafe_code, reason = "wit-bindgen generated glue")]

pub use std::vec::Vec;

pub use wit_bindgen;

pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__brink_export_bindings",
        runtime_path: "::brink_plugin_sdk::__private::wit_bindgen::rt",
    });
}

pub use bindings::__brink_export_bindings as export_bindings;
pub use bindings::brink::plugin::types::{
    ClientInfo, EarlyResponse as WitEarlyResponse, HeaderOp as WitHeaderOp, RequestAction,
    RequestEdits as WitRequestEdits, RequestHead, ResponseEdits as WitResponseEdits, ResponseHead,
};
pub use bindings::exports::brink::plugin::handler::Guest;

use crate::{Action, Client, HeaderOp, Plugin, Request, Response};

fn request(r: RequestHead) -> Request {
    Request {
        method: r.method,
        scheme: r.scheme,
        host: r.host,
        path: r.path,
        query: r.query,
        headers: r.headers,
    }
}

fn header_ops(ops: Vec<HeaderOp>) -> Vec<WitHeaderOp> {
    ops.into_iter()
        .map(|op| match op {
            HeaderOp::Set(n, v) => WitHeaderOp::Set((n, v)),
            HeaderOp::Append(n, v) => WitHeaderOp::Append((n, v)),
            HeaderOp::Remove(n) => WitHeaderOp::Remove(n),
        })
        .collect()
}

/// `handler.on-request` for plugin `P`.
pub fn on_request<P: Plugin>(req: RequestHead, client: ClientInfo) -> RequestAction {
    let req = request(req);
    let client = Client {
        ip: client.ip,
        region: client.region,
    };
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
pub fn on_response<P: Plugin>(
    req: RequestHead,
    resp: ResponseHead,
    body: Option<Vec<u8>>,
) -> WitResponseEdits {
    let req = request(req);
    let resp = Response {
        status: resp.status,
        headers: resp.headers,
    };
    let edits = P::on_response(&req, &resp, body.as_deref());
    WitResponseEdits {
        headers: header_ops(edits.headers),
        body: edits.body,
    }
}
