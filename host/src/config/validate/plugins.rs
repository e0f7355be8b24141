//! `[[plugins]]`: names, the component (a built-in or a file), instance
//! mode, error policy, resource limits and the canary. Components are not
//! compiled here (that needs the plugin engine, a layer above config): a
//! reload or `brink check` compiles what validation accepted.

use std::collections::HashSet;
use std::path::Path;

use toml::Spanned;

use super::super::error::line_col;
use super::super::raw::{RawCanary, RawPlugin};
use super::super::{
    BUILTIN_PLUGINS, CanaryConfig, DEFAULT_MAX_REUSE, DEFAULT_PLUGIN_MEMORY,
    DEFAULT_PLUGIN_TIMEOUT, InstanceMode, MAX_PLUGIN_MEMORY, OnError, PluginConfig, PluginSource,
};
use super::Errs;

/// Every plugin, in order (a route names them).
pub(super) fn validate(raw: &[RawPlugin], errs: &mut Errs<'_>, base: &Path) -> Vec<PluginConfig> {
    let mut names = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, p)| plugin(p, i, &mut names, errs, base))
        .collect()
}

fn plugin(
    p: &RawPlugin,
    i: usize,
    names: &mut HashSet<String>,
    errs: &mut Errs<'_>,
    base: &Path,
) -> PluginConfig {
    let key = |k: &str| format!("plugins[{i}].{k}");
    errs.name(&p.name, &key("name"), names, "plugin");
    let source = source(&p.wasm, &key("wasm"), errs, base);
    let instance = instance_mode(p, &key("instance"), errs);
    let on_error = on_error(p, &key("on_error"), errs);
    let max_memory = match &p.max_memory_bytes {
        Some(v) if *v.get_ref() < 1024 * 1024 || *v.get_ref() > MAX_PLUGIN_MEMORY as u64 => {
            errs.at(
                v,
                &key("max_memory_bytes"),
                "must be between 1 MiB and 1 GiB",
            );
            DEFAULT_PLUGIN_MEMORY
        }
        Some(v) => *v.get_ref() as usize,
        None => DEFAULT_PLUGIN_MEMORY,
    };
    let max_reuse = match &p.max_reuse {
        Some(v) if *v.get_ref() == 0 => {
            errs.at(v, &key("max_reuse"), "must be at least 1");
            DEFAULT_MAX_REUSE
        }
        Some(v) => *v.get_ref(),
        None => DEFAULT_MAX_REUSE,
    };
    let location = line_col(errs.text, p.wasm.span().start);
    let canary = p.canary.as_ref().map(|c| canary(c, i, errs, base));
    PluginConfig {
        name: p.name.get_ref().clone(),
        source,
        instance,
        max_reuse,
        timeout: errs.duration(&p.timeout, &key("timeout"), DEFAULT_PLUGIN_TIMEOUT),
        max_memory,
        fuel: p.fuel.as_ref().map(|f| *f.get_ref()),
        on_error,
        response_body_limit: p
            .response_body_limit
            .as_ref()
            .map(|v| *v.get_ref() as usize)
            .unwrap_or(0),
        config: p.config.clone(),
        index: i,
        location,
        canary,
        owns_headers: errs.header_names(&p.owns_headers, &key("owns_headers")),
    }
}

/// A `wasm` value: `builtin:NAME` or a component file relative to `base`.
fn source(wasm: &Spanned<String>, key: &str, errs: &mut Errs<'_>, base: &Path) -> PluginSource {
    match wasm.get_ref().strip_prefix("builtin:") {
        Some(b) => {
            if !BUILTIN_PLUGINS.contains(&b) {
                errs.at(
                    wasm,
                    key,
                    format!(
                        "unknown built-in plugin \"{b}\" (built in: {})",
                        BUILTIN_PLUGINS.join(", ")
                    ),
                );
            }
            PluginSource::Builtin(b.to_string())
        }
        None => {
            let path = base.join(wasm.get_ref());
            if !path.is_file() {
                errs.at(wasm, key, format!("file not found: {}", path.display()));
            }
            PluginSource::File(path)
        }
    }
}

fn instance_mode(p: &RawPlugin, key: &str, errs: &mut Errs<'_>) -> InstanceMode {
    match p.instance.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "reuse")) => InstanceMode::Reuse,
        Some((_, "per-request")) => InstanceMode::PerRequest,
        Some((v, other)) => {
            errs.at(
                v,
                key,
                format!("unknown instance mode \"{other}\": expected \"reuse\" or \"per-request\""),
            );
            InstanceMode::Reuse
        }
    }
}

fn on_error(p: &RawPlugin, key: &str, errs: &mut Errs<'_>) -> OnError {
    match p.on_error.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "fail_closed")) => OnError::FailClosed,
        Some((_, "fail_open")) => OnError::FailOpen,
        Some((v, other)) => {
            errs.at(
                v,
                key,
                format!("unknown policy \"{other}\": expected \"fail_closed\" or \"fail_open\""),
            );
            OnError::FailClosed
        }
    }
}

/// `[plugins.canary]`: another component for a share of the requests.
fn canary(c: &RawCanary, i: usize, errs: &mut Errs<'_>, base: &Path) -> CanaryConfig {
    let source = source(&c.wasm, &format!("plugins[{i}].canary.wasm"), errs, base);
    let percent = *c.percent.get_ref();
    if !(0.0..=100.0).contains(&percent) {
        errs.at(
            &c.percent,
            &format!("plugins[{i}].canary.percent"),
            "must be between 0 and 100",
        );
    }
    CanaryConfig {
        source,
        percent: percent.clamp(0.0, 100.0),
        config: c.config.clone(),
        location: line_col(errs.text, c.wasm.span().start),
    }
}
