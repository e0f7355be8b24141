//! From the raw mirror to typed config, collecting every error with its location.

mod control;
mod fleet;
mod pools;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, ConfigErrors};
use super::raw::*;
use super::*;

/// Parses TOML into the raw mirror; a syntax error or an unknown or mistyped
/// key is reported with the key path serde was at.
pub(super) fn deserialize(text: &str, file: &str) -> Result<RawConfig, ConfigErrors> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| toml_error(file, text, &e, ""))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // `toml::Spanned` deserializes through a private field; keep it out of key paths.
        let path = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let mut key = if path == "." { String::new() } else { path };
        // For an unknown field, name the field itself in the key path.
        if let Some(field) = unknown_field(inner.message())
            && !key.ends_with(&field)
        {
            key = if key.is_empty() {
                field
            } else {
                format!("{key}.{field}")
            };
        }
        toml_error(file, text, &inner, &key)
    })
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn toml_error(file: &str, text: &str, e: &toml::de::Error, key: &str) -> ConfigErrors {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let message = e.message().trim().replace('\n', " ");
    ConfigErrors::single(ConfigError::at(file, text, offset, key, message))
}

/// Collects errors while validating.
pub(super) struct Errs<'a> {
    file: &'a str,
    text: &'a str,
    list: Vec<ConfigError>,
}

impl Errs<'_> {
    pub(super) fn at<T>(&mut self, value: &Spanned<T>, key: &str, message: impl Into<String>) {
        let e = ConfigError::at(self.file, self.text, value.span().start, key, message);
        self.list.push(e);
    }

    /// A list of request field names, lower case; each invalid one is an
    /// error at its place.
    fn header_names(&mut self, names: &[Spanned<String>], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (j, n) in names.iter().enumerate() {
            match http::HeaderName::from_bytes(n.get_ref().as_bytes()) {
                Ok(h) => out.push(h.as_str().to_string()),
                Err(_) => self.at(
                    n,
                    &format!("{key}[{j}]"),
                    format!("invalid header name \"{}\"", n.get_ref()),
                ),
            }
        }
        out
    }

    fn top(&mut self, key: &str, message: impl Into<String>) {
        self.list
            .push(ConfigError::new(self.file, 1, 1, key, message.into()));
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, key: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.at(v, key, "must be greater than zero");
                default
            }
            Err(e) => {
                self.at(
                    v,
                    key,
                    format!(
                        "invalid duration \"{}\": {e} (use e.g. \"500ms\", \"10s\", \"2m\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn duration_or_zero(&mut self, v: &Option<Spanned<String>>, key: &str) -> Duration {
        let Some(v) = v else { return Duration::ZERO };
        if v.get_ref().trim() == "0" || v.get_ref().trim() == "0s" {
            return Duration::ZERO;
        }
        self.duration(&Some(v.clone()), key, Duration::ZERO)
    }

    pub(super) fn addr(&mut self, v: &Spanned<String>, key: &str) -> Option<SocketAddr> {
        match v.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.at(
                    v,
                    key,
                    format!(
                        "invalid socket address \"{}\": expected IP:PORT, e.g. \"127.0.0.1:8080\"",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn name(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        seen: &mut HashSet<String>,
        what: &str,
    ) {
        let n = v.get_ref();
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            self.at(
                v,
                key,
                format!("invalid {what} name \"{n}\": use letters, digits, '-', '_' or '.'"),
            );
        } else if !seen.insert(n.clone()) {
            self.at(v, key, format!("duplicate {what} name \"{n}\""));
        }
    }
}

/// Parses an origin base URL: `http://host:port` or `https://host:port`, no path.
pub(super) fn parse_backend_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("invalid origin URL \"{s}\": {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "invalid origin URL \"{s}\": expected http://HOST:PORT or origin:NAME"
            ));
        }
    }
    if uri.host().is_none() {
        return Err(format!("invalid origin URL \"{s}\": no host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "invalid origin URL \"{s}\": a backend is a scheme, host and port, without a path"
        ));
    }
    Ok(uri)
}

pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    file: &str,
    base: &Path,
) -> Result<Config, ConfigErrors> {
    let mut errs = Errs {
        file,
        text,
        list: Vec::new(),
    };

    let node = match &raw.node {
        None => NodeSettings::default(),
        Some(n) => {
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
                edge_owned_headers: errs
                    .header_names(&n.edge_owned_headers, "node.edge_owned_headers"),
            }
        }
    };

    let fleet_nodes = raw.fleet.as_ref().map_or(0, |f| f.nodes.len());
    if raw.listeners.is_empty() && fleet_nodes == 0 {
        errs.top(
            "listeners",
            "at least one [[listeners]] entry (or [[fleet.nodes]] entry) is required",
        );
    }
    let mut listeners = Vec::new();
    let mut bound = HashSet::new();
    for (i, l) in raw.listeners.iter().enumerate() {
        let key = format!("listeners[{i}].address");
        let Some(addr) = errs.addr(&l.address, &key) else {
            continue;
        };
        if addr.port() != 0 && !bound.insert(addr) {
            errs.at(
                &l.address,
                &key,
                format!("duplicate listener address {addr}"),
            );
        }
        let mut tls = Vec::new();
        for (j, c) in l.tls.iter().enumerate() {
            let cert = base.join(c.cert.get_ref());
            let keyp = base.join(c.key.get_ref());
            let mut ok = true;
            for (v, path, name) in [(&c.cert, &cert, "cert"), (&c.key, &keyp, "key")] {
                if !path.is_file() {
                    errs.at(
                        v,
                        &format!("listeners[{i}].tls[{j}].{name}"),
                        format!("file not found: {}", path.display()),
                    );
                    ok = false;
                }
            }
            if ok && let Err(e) = crate::pem::load_certified_key(&cert, &keyp) {
                errs.at(&c.cert, &format!("listeners[{i}].tls[{j}]"), e.to_string());
            }
            tls.push(CertificateConfig { cert, key: keyp });
        }
        listeners.push(ListenerConfig { addr, tls });
    }

    let admin = raw.admin.as_ref().map(|a| {
        let addr = a
            .address
            .as_ref()
            .and_then(|v| errs.addr(v, "admin.address"))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9901)));
        if let (Some(_), Some(env)) = (&a.token, &a.token_env) {
            errs.at(
                env,
                "admin.token_env",
                "give either admin.token or admin.token_env, not both",
            );
        }
        let token = match (&a.token, &a.token_env) {
            (Some(t), _) => {
                if t.get_ref().len() < 8 {
                    errs.at(t, "admin.token", "token must be at least 8 characters");
                }
                Some(t.get_ref().clone())
            }
            (None, Some(env)) => match std::env::var(env.get_ref()) {
                Ok(v) if !v.is_empty() => Some(v),
                _ => {
                    errs.at(
                        env,
                        "admin.token_env",
                        format!("environment variable {} is not set", env.get_ref()),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        AdminConfig { addr, token }
    });

    let d = Limits::default();
    let limits = match &raw.limits {
        None => d,
        Some(l) => {
            let max_header_bytes = match &l.max_header_bytes {
                Some(v) if !(1024..=1024 * 1024).contains(v.get_ref()) => {
                    errs.at(
                        v,
                        "limits.max_header_bytes",
                        "must be between 1024 and 1048576",
                    );
                    d.max_header_bytes
                }
                Some(v) => *v.get_ref() as usize,
                None => d.max_header_bytes,
            };
            Limits {
                max_header_bytes,
                max_body_bytes: l
                    .max_body_bytes
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .unwrap_or(d.max_body_bytes),
                header_read_timeout: errs.duration(
                    &l.header_read_timeout,
                    "limits.header_read_timeout",
                    d.header_read_timeout,
                ),
                idle_timeout: errs.duration(&l.idle_timeout, "limits.idle_timeout", d.idle_timeout),
                tls_handshake_timeout: errs.duration(
                    &l.tls_handshake_timeout,
                    "limits.tls_handshake_timeout",
                    d.tls_handshake_timeout,
                ),
                shutdown_grace: errs.duration(
                    &l.shutdown_grace,
                    "limits.shutdown_grace",
                    d.shutdown_grace,
                ),
            }
        }
    };

    let log = match &raw.log {
        None => LogConfig::default(),
        Some(l) => {
            let json = match &l.format {
                None => false,
                Some(f) => match f.get_ref().as_str() {
                    "text" => false,
                    "json" => true,
                    other => {
                        errs.at(
                            f,
                            "log.format",
                            format!(
                                "unknown log format \"{other}\": expected \"text\" or \"json\""
                            ),
                        );
                        false
                    }
                },
            };
            LogConfig {
                json,
                access_log: l.access_log.unwrap_or(true),
            }
        }
    };

    let mut origins = Vec::new();
    let mut origin_names = HashSet::new();
    for (i, o) in raw.origins.iter().enumerate() {
        errs.name(
            &o.name,
            &format!("origins[{i}].name"),
            &mut origin_names,
            "origin",
        );
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

    let (pools, pool_names) = pools::validate_pools(&raw.pools, &mut errs, &origin_names, base);

    let plugins = validate_plugins(&raw.plugins, &mut errs, base);
    let plugin_names: HashSet<&str> = plugins.iter().map(|p| p.name.as_str()).collect();

    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let mut seen = HashSet::new();
        for (j, name) in r.plugins.iter().enumerate() {
            let key = format!("routes[{i}].plugins[{j}]");
            if !plugin_names.contains(name.get_ref().as_str()) {
                errs.at(name, &key, format!("unknown plugin \"{}\"", name.get_ref()));
            } else if !seen.insert(name.get_ref().clone()) {
                errs.at(
                    name,
                    &key,
                    format!("plugin \"{}\" is listed twice", name.get_ref()),
                );
            }
        }
        let prefix = r
            .path_prefix
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_else(|| "/".into());
        if let Some(p) = &r.path_prefix
            && !p.get_ref().starts_with('/')
        {
            errs.at(
                p,
                &format!("routes[{i}].path_prefix"),
                "a path prefix must start with '/'",
            );
        }
        if !pool_names.contains(r.pool.get_ref()) {
            errs.at(
                &r.pool,
                &format!("routes[{i}].pool"),
                format!("unknown pool \"{}\"", r.pool.get_ref()),
            );
        }
        if let Some(f) = &r.fallback
            && !pool_names.contains(f.get_ref())
        {
            errs.at(
                f,
                &format!("routes[{i}].fallback"),
                format!("unknown pool \"{}\"", f.get_ref()),
            );
        }
        routes.push(RouteConfig {
            host: r.host.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
            path_prefix: prefix,
            pool: r.pool.get_ref().clone(),
            plugins: r.plugins.iter().map(|p| p.get_ref().clone()).collect(),
            cache: route_cache(r.cache.as_ref(), &mut errs, i),
            fallback: r.fallback.as_ref().map(|f| f.get_ref().clone()),
            merge_slashes: r.merge_slashes.unwrap_or(false),
            escaped_slashes: match r
                .escaped_slashes
                .as_ref()
                .map(|v| (v, v.get_ref().as_str()))
            {
                None | Some((_, "reject")) => EscapedSlashes::Reject,
                Some((_, "keep")) => EscapedSlashes::Keep,
                Some((v, other)) => {
                    errs.at(
                        v,
                        &format!("routes[{i}].escaped_slashes"),
                        format!("unknown action \"{other}\": expected \"reject\" or \"keep\""),
                    );
                    EscapedSlashes::Reject
                }
            },
            forward_overrides: match r
                .override_headers
                .as_ref()
                .map(|v| (v, v.get_ref().as_str()))
            {
                None | Some((_, "drop")) => false,
                Some((_, "forward")) => true,
                Some((v, other)) => {
                    errs.at(
                        v,
                        &format!("routes[{i}].override_headers"),
                        format!("unknown action \"{other}\": expected \"drop\" or \"forward\""),
                    );
                    false
                }
            },
        });
    }
    if raw.routes.is_empty() && !raw.pools.is_empty() {
        errs.top("routes", "at least one [[routes]] entry is required");
    }

    let cache = cache_config(raw.cache.as_ref(), &mut errs);
    let fleet = fleet::validate(raw.fleet.as_ref(), &mut errs);
    let control = control::validate(&raw, file, base, &mut errs);

    if !errs.list.is_empty() {
        errs.list.sort_by_key(|e| (e.line, e.col));
        return Err(ConfigErrors(errs.list));
    }
    Ok(Config {
        source: file.to_string(),
        node,
        listeners,
        admin,
        limits,
        log,
        origins,
        pools,
        routes,
        plugins,
        cache,
        fleet,
        control,
    })
}

fn cache_config(raw: Option<&RawCache>, errs: &mut Errs<'_>) -> CacheConfig {
    let d = CacheConfig::default();
    let Some(c) = raw else { return d };
    let capacity_bytes = match &c.capacity_bytes {
        Some(v) if *v.get_ref() < 1024 * 1024 => {
            errs.at(
                v,
                "cache.capacity_bytes",
                "must be at least 1048576 (1 MiB)",
            );
            d.capacity_bytes
        }
        Some(v) => *v.get_ref(),
        None => d.capacity_bytes,
    };
    let max_object_bytes = match &c.max_object_bytes {
        Some(v) if *v.get_ref() > capacity_bytes => {
            errs.at(
                v,
                "cache.max_object_bytes",
                "must not be larger than cache.capacity_bytes",
            );
            d.max_object_bytes.min(capacity_bytes)
        }
        Some(v) => *v.get_ref(),
        None => d.max_object_bytes.min(capacity_bytes),
    };
    CacheConfig {
        capacity_bytes,
        max_object_bytes,
        stale_while_revalidate: errs
            .duration_or_zero(&c.stale_while_revalidate, "cache.stale_while_revalidate"),
        stale_if_error: errs.duration_or_zero(&c.stale_if_error, "cache.stale_if_error"),
        debug_key: c.debug_key.unwrap_or(false),
    }
}

fn route_cache(raw: Option<&RawRouteCache>, errs: &mut Errs<'_>, i: usize) -> RouteCache {
    let d = RouteCache::default();
    let Some(c) = raw else { return d };
    let query = match c.query.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "keep")) => QueryKey::Keep,
        Some((_, "sort")) => QueryKey::Sort,
        Some((_, "ignore")) => QueryKey::Ignore,
        Some((v, other)) => {
            errs.at(
                v,
                &format!("routes[{i}].cache.query"),
                format!(
                    "unknown query mode \"{other}\": expected \"keep\", \"sort\" or \"ignore\""
                ),
            );
            QueryKey::Keep
        }
    };
    if let Some(s) = &c.statuses
        && let Some(bad) = s.get_ref().iter().find(|c| !(200..=599).contains(*c))
    {
        errs.at(
            s,
            &format!("routes[{i}].cache.statuses"),
            format!("invalid status {bad}"),
        );
    }
    RouteCache {
        enabled: c.enabled.unwrap_or(true),
        force_ttl: c.force_ttl.as_ref().map(|_| {
            errs.duration(
                &c.force_ttl,
                &format!("routes[{i}].cache.force_ttl"),
                Duration::from_secs(60),
            )
        }),
        statuses: c.statuses.as_ref().map(|s| s.get_ref().clone()),
        query,
        allow_set_cookie: c.allow_set_cookie.unwrap_or(false),
    }
}

/// A `wasm` value: `builtin:NAME` or a component file relative to `base`.
fn plugin_source(
    wasm: &Spanned<String>,
    key: &str,
    errs: &mut Errs<'_>,
    base: &Path,
) -> PluginSource {
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

fn validate_plugins(raw: &[RawPlugin], errs: &mut Errs<'_>, base: &Path) -> Vec<PluginConfig> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let key = |k: &str| format!("plugins[{i}].{k}");
        errs.name(&p.name, &key("name"), &mut names, "plugin");
        let source = plugin_source(&p.wasm, &key("wasm"), errs, base);
        let instance = match p.instance.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "reuse")) => InstanceMode::Reuse,
            Some((_, "per-request")) => InstanceMode::PerRequest,
            Some((v, other)) => {
                errs.at(
                    v,
                    &key("instance"),
                    format!(
                        "unknown instance mode \"{other}\": expected \"reuse\" or \"per-request\""
                    ),
                );
                InstanceMode::Reuse
            }
        };
        let on_error = match p.on_error.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "fail_closed")) => OnError::FailClosed,
            Some((_, "fail_open")) => OnError::FailOpen,
            Some((v, other)) => {
                errs.at(
                    v,
                    &key("on_error"),
                    format!(
                        "unknown policy \"{other}\": expected \"fail_closed\" or \"fail_open\""
                    ),
                );
                OnError::FailClosed
            }
        };
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
        let (line, col) = super::error::line_col(errs.text, p.wasm.span().start);
        let canary = p.canary.as_ref().map(|c| {
            let source = plugin_source(&c.wasm, &key("canary.wasm"), errs, base);
            let percent = *c.percent.get_ref();
            if !(0.0..=100.0).contains(&percent) {
                errs.at(
                    &c.percent,
                    &key("canary.percent"),
                    "must be between 0 and 100",
                );
            }
            CanaryConfig {
                source,
                percent: percent.clamp(0.0, 100.0),
                config: c.config.clone(),
                location: super::error::line_col(errs.text, c.wasm.span().start),
            }
        });
        out.push(PluginConfig {
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
            location: (line, col),
            canary,
            owns_headers: errs.header_names(&p.owns_headers, &key("owns_headers")),
        });
    }
    out
}
