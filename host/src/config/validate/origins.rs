//! `[[origins]]`: the built-in shop origins a node starts, by name (pools
//! refer to them as `origin:NAME`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::super::BuiltinOriginConfig;
use super::super::raw::RawBuiltinOrigin;
use super::Errs;

/// Every built-in origin, with the set of their names.
pub(super) fn validate(
    raw: &[RawBuiltinOrigin],
    errs: &mut Errs<'_>,
) -> (Vec<BuiltinOriginConfig>, HashSet<String>) {
    let mut origins = Vec::new();
    let mut names = HashSet::new();
    for (i, o) in raw.iter().enumerate() {
        errs.name(&o.name, &format!("origins[{i}].name"), &mut names, "origin");
        let addr = match &o.address {
            Some(v) => errs
                .addr(v, &format!("origins[{i}].address"))
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let fail_rate = match &o.fail_rate {
            Some(v) if !(0.0..=1.0).contains(v.get_ref()) => {
                errs.at(
                    v,
                    &format!("origins[{i}].fail_rate"),
                    "must be between 0.0 and 1.0",
                );
                0.0
            }
            Some(v) => *v.get_ref(),
            None => 0.0,
        };
        origins.push(BuiltinOriginConfig {
            name: o.name.get_ref().clone(),
            addr,
            catalog: o.catalog.unwrap_or(1000).max(1),
            latency: Duration::from_millis(o.latency_ms.unwrap_or(0)),
            fail_rate,
        });
    }
    (origins, names)
}
