//! Splitting and joining config files. A deploy file is an ordinary node
//! config (so `brink check` validates it); its fleet-wide tables
//! ([`FLEET_TABLES`]) are what a generation carries, with each plugin
//! component replaced by `sha256:HEX`. A node joins its own file (identity,
//! listeners, admin, `[control]`, log) with a generation's tables into the
//! file it serves, with each `sha256:HEX` pointing at the verified copy in
//! its state folder. The join is TOML to TOML, so the node validates and
//! applies it through the same path as any config file, errors located in
//! the joined file.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::ControlError;
use super::protocol::sha256_hex;

/// The tables a fleet generation sets; everything else is the node's own.
pub const FLEET_TABLES: &[&str] = &["limits", "origins", "pools", "routes", "plugins", "cache"];

/// Prefix of a plugin component named by content.
const SHA_PREFIX: &str = "sha256:";

/// The fleet-wide part of a deploy file.
#[derive(Debug)]
pub struct FleetPart {
    /// The fleet tables as TOML.
    pub config: String,
    /// Each plugin component: SHA-256 hex -> (file name, bytes).
    pub blobs: BTreeMap<String, (String, Vec<u8>)>,
}

fn parse(text: &str, what: &str) -> Result<Table, ControlError> {
    text.parse::<Table>()
        .map_err(|e| ControlError::Config(format!("{what}: {e}")))
}

/// Reads the fleet tables of `file`, replacing plugin file paths by their
/// content hash (built-in plugins stay as they are).
pub fn fleet_part(file: &Path) -> Result<FleetPart, ControlError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ControlError::Config(format!("cannot read {}: {e}", file.display())))?;
    let mut table = parse(&text, &file.display().to_string())?;
    table.retain(|k, _| FLEET_TABLES.contains(&k));
    let base = file.parent().unwrap_or(Path::new("."));
    let mut blobs = BTreeMap::new();
    for_each_wasm(&mut table, |wasm| {
        if wasm.starts_with("builtin:") {
            return Ok(());
        }
        let path = base.join(wasm.as_str());
        let bytes = std::fs::read(&path)
            .map_err(|e| ControlError::Config(format!("cannot read {}: {e}", path.display())))?;
        let hash = sha256_hex(&bytes);
        blobs.insert(hash.clone(), (wasm.clone(), bytes));
        *wasm = format!("{SHA_PREFIX}{hash}");
        Ok(())
    })?;
    Ok(FleetPart {
        config: toml::to_string(&table).map_err(|e| ControlError::Config(e.to_string()))?,
        blobs,
    })
}

/// The plugin hashes a generation's config names.
pub fn wasm_hashes(config: &str) -> Result<Vec<String>, ControlError> {
    let mut table = parse(config, "generation config")?;
    let mut out = Vec::new();
    for_each_wasm(&mut table, |wasm| {
        if let Some(h) = wasm.strip_prefix(SHA_PREFIX) {
            out.push(h.to_string());
        }
        Ok(())
    })?;
    Ok(out)
}

/// The node's own file joined with a generation's tables (`None`: the
/// node's file alone); `sha256:HEX` becomes `plugin_dir/HEX.wasm`.
pub fn join(
    local: &str,
    fleet: Option<(u64, &str)>,
    plugin_dir: &Path,
) -> Result<String, ControlError> {
    let mut table = parse(local, "node config")?;
    let header = match fleet {
        None => "# Written by brink: this node's file; no fleet generation yet.\n".to_string(),
        Some((seq, config)) => {
            let mut part = parse(config, "generation config")?;
            for_each_wasm(&mut part, |wasm| {
                if let Some(h) = wasm.strip_prefix(SHA_PREFIX) {
                    *wasm = plugin_dir.join(format!("{h}.wasm")).display().to_string();
                }
                Ok(())
            })?;
            table.retain(|k, _| !FLEET_TABLES.contains(&k));
            table.extend(part);
            format!(
                "# Written by brink: this node's file joined with fleet generation {seq}.\n# Edit the node's own file instead; this one is rewritten.\n"
            )
        }
    };
    let body = toml::to_string(&table).map_err(|e| ControlError::Config(e.to_string()))?;
    Ok(format!("{header}{body}"))
}

/// Calls `f` on every `[[plugins]] wasm` and `[plugins.canary] wasm`.
fn for_each_wasm(
    table: &mut Table,
    mut f: impl FnMut(&mut String) -> Result<(), ControlError>,
) -> Result<(), ControlError> {
    let Some(Value::Array(plugins)) = table.get_mut("plugins") else {
        return Ok(());
    };
    for p in plugins.iter_mut().filter_map(Value::as_table_mut) {
        if let Some(Value::String(w)) = p.get_mut("wasm") {
            f(w)?;
        }
        if let Some(Value::Table(c)) = p.get_mut("canary")
            && let Some(Value::String(w)) = c.get_mut("wasm")
        {
            f(w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_replaces_the_fleet_tables_and_keeps_the_nodes_own() {
        let local = "[node]\nname = \"a\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[[routes]]\npool = \"old\"\n";
        let fleet = "[[pools]]\nname = \"p\"\nbackends = [\"http://127.0.0.1:1\"]\n[[routes]]\npool = \"p\"\n[[plugins]]\nname = \"x\"\nwasm = \"sha256:ab\"\n";
        let joined = join(local, Some((3, fleet)), Path::new("/s/plugins")).unwrap();
        let t: Table = joined.parse().unwrap();
        assert_eq!(t["node"]["name"].as_str(), Some("a"));
        assert_eq!(t["routes"][0]["pool"].as_str(), Some("p"));
        assert_eq!(t["plugins"][0]["wasm"].as_str(), Some("/s/plugins/ab.wasm"));
        assert_eq!(wasm_hashes(fleet).unwrap(), vec!["ab".to_string()]);
        assert!(joined.starts_with("# Written by brink"));
        let alone: Table = join(local, None, Path::new("/s")).unwrap().parse().unwrap();
        assert_eq!(alone["routes"][0]["pool"].as_str(), Some("old"));
    }
}
