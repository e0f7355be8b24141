//! `[node]`: the node's name, region and the request fields the edge owns.

use std::collections::HashSet;

use super::super::NodeSettings;
use super::super::raw::RawNode;
use super::Errs;

/// The node's identity; the defaults when the table is absent.
pub(super) fn validate(raw: Option<&RawNode>, errs: &mut Errs<'_>) -> NodeSettings {
    let Some(n) = raw else {
        return NodeSettings::default();
    };
    let mut seen = HashSet::new();
    if let Some(name) = &n.name {
        errs.name(name, "node.name", &mut seen, "node");
    }
    if let Some(region) = &n.region {
        errs.name(region, "node.region", &mut HashSet::new(), "region");
    }
    NodeSettings {
        name: n
            .name
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "brink".into()),
        region: n
            .region
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "local".into()),
        edge_owned_headers: errs.header_names(&n.edge_owned_headers, "node.edge_owned_headers"),
    }
}
