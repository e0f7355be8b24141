//! `[[fleet.nodes]]`: names, addresses, and parents that never form a loop
//! (a loop would forward a miss round the fleet forever).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use super::super::FleetNode;
use super::super::raw::RawFleet;
use super::Errs;

pub(super) fn validate(raw: Option<&RawFleet>, errs: &mut Errs<'_>) -> Vec<FleetNode> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let mut names = HashSet::new();
    let mut nodes = Vec::new();
    for (i, n) in raw.nodes.iter().enumerate() {
        let key = |k: &str| format!("fleet.nodes[{i}].{k}");
        errs.name(&n.name, &key("name"), &mut names, "fleet node");
        errs.name(&n.region, &key("region"), &mut HashSet::new(), "region");
        let listen = match &n.listen {
            Some(v) => errs
                .addr(v, &key("listen"))
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let admin = n.admin.as_ref().and_then(|v| errs.addr(v, &key("admin")));
        if let Some(p) = &n.parent
            && p.get_ref() == n.name.get_ref()
        {
            errs.at(p, &key("parent"), "a node cannot be its own parent");
        }
        nodes.push(FleetNode {
            name: n.name.get_ref().clone(),
            region: n.region.get_ref().clone(),
            listen,
            admin,
            parent: n.parent.as_ref().map(|p| p.get_ref().clone()),
            plugins: n.plugins.unwrap_or(true),
        });
    }
    let parents: HashMap<&str, &str> = nodes
        .iter()
        .filter_map(|n| n.parent.as_deref().map(|p| (n.name.as_str(), p)))
        .collect();
    for (i, n) in raw.nodes.iter().enumerate() {
        let Some(parent) = &n.parent else { continue };
        let key = format!("fleet.nodes[{i}].parent");
        if !names.contains(parent.get_ref()) {
            errs.at(
                parent,
                &key,
                format!("unknown fleet node \"{}\"", parent.get_ref()),
            );
            continue;
        }
        // Follow the chain of parents; coming back to this node is a loop.
        let start = n.name.get_ref().as_str();
        let mut chain = vec![start];
        let mut cur = parent.get_ref().as_str();
        loop {
            let next = cur;
            chain.push(next);
            if next == start {
                errs.at(
                    parent,
                    &key,
                    format!("forwarding loop: {}", chain.join(" -> ")),
                );
                break;
            }
            match parents.get(next) {
                Some(p) if chain.len() <= nodes.len() + 1 => cur = p,
                _ => break,
            }
        }
    }
    nodes
}
