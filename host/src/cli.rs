//! The command line: `serve`, `check`, `origin`, `demo`, `loadtest`, `fleet`.

mod fleet;
mod loadtest;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigErrors};
use crate::demo_origin::{self, OriginOptions};
use crate::fleet::{Fleet, Member, Role};
use crate::node::{NodeError, ReloadOptions};

/// Brink: a WebAssembly edge/CDN runtime.
#[derive(Debug, Parser)]
#[command(name = "brink", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Default log filter (RUST_LOG overrides it), e.g. `info` or `brink=debug`.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an edge node from a config file, or in zero-config mode from --listen and --origin.
    Serve(ServeArgs),
    /// Validate a config file and exit: 0 with a summary, or 1 listing every error as FILE:LINE:COL: key: message.
    Check(CheckArgs),
    /// Run the built-in synthetic shop origin.
    Origin(OriginArgs),
    /// Run the demo described by config/demo.toml: built-in origins and an edge node on 127.0.0.1.
    Demo(DemoArgs),
    /// Load-test edges in one or more regions and report cache hit ratios against the ideal bound.
    Loadtest(LoadtestArgs),
    /// A fleet across machines over NATS JetStream: keygen, deploy, rollback, status.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
}

/// `brink loadtest`.
#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// An edge to drive, one per region: REGION=URL, e.g. us-east=http://127.0.0.1:8080 (repeat for more regions).
    #[arg(long = "target", value_name = "REGION=URL")]
    pub targets: Vec<brink_loadtest::RegionTarget>,
    /// A fleet config naming the regions' edges (arrives with the multi-region fleet).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An origin's /stats URL (or base URL), read before and after the run (repeatable).
    #[arg(long = "origin-stats", value_name = "URL")]
    pub origin_stats: Vec<String>,
    /// Run for this long, e.g. 30s, 2m (default 30s; a trace plays once).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Send this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Closed loop: this many virtual users, each waiting for its response (default 16).
    #[arg(long, conflicts_with = "rate")]
    pub concurrency: Option<usize>,
    /// Open loop: start this many requests per second whatever the responses do.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: most requests in flight; arrivals beyond are dropped and counted.
    #[arg(long, default_value_t = 256, requires = "rate")]
    pub max_in_flight: usize,
    /// Zipf exponent of product popularity.
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Number of products (ids 1..=N).
    #[arg(long, default_value_t = 1000)]
    pub catalog: u32,
    /// Request-kind weights, e.g. images=35,product_fragments=20,product_pages=20,recommendations=10,inventory=10,orders=5 (the default).
    #[arg(long, value_name = "KIND=W,...")]
    pub mix: Option<brink_loadtest::Mix>,
    /// RNG seed: the same seed gives the same request sequence per user.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Bearer token for personalised and API requests; repeat to give users different tiers (one segment per token).
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// Replay a trace instead: one path or URL per line, or a Common/Combined Log Format access log.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["zipf", "catalog", "mix"])]
    pub trace: Option<PathBuf>,
    /// Objects each edge's cache holds, for the ideal bound (default: 10% of the distinct cacheable keys).
    #[arg(long, value_name = "C")]
    pub cache_objects: Option<u64>,
    /// Per-request timeout (connect, head and body).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the report as one self-contained HTML page with charts to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// No progress bar (it is only shown when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// `brink serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The node's TOML config file.
    #[arg(long, short, conflicts_with_all = ["listen", "origin"])]
    pub config: Option<PathBuf>,
    /// Zero-config mode: address to listen on (HTTP), e.g. 127.0.0.1:8080.
    #[arg(long, requires = "origin")]
    pub listen: Option<SocketAddr>,
    /// Zero-config mode: an origin base URL, e.g. http://127.0.0.1:9000 (repeat for a pool).
    #[arg(long, requires = "listen")]
    pub origin: Vec<String>,
    /// Zero-config mode: also start the admin listener on this address.
    #[arg(long, requires = "listen")]
    pub admin: Option<SocketAddr>,
    /// Zero-config mode: read the admin token (`Authorization: Bearer TOKEN`,
    /// needed by `POST /purge` and `POST /reload`) from this environment
    /// variable; it must be set and non-empty.
    #[arg(long, value_name = "VAR", requires = "admin")]
    pub admin_token_env: Option<String>,
    /// Zero-config mode: health checks request this path and expect 200-399
    /// (default: `/`, where any answer below 500 passes).
    #[arg(long, requires = "listen")]
    pub health_path: Option<String>,
    /// Zero-config mode: a plain reverse proxy, without the cache.
    #[arg(long, requires = "listen")]
    pub no_cache: bool,
    /// Do not reload when the config file or a plugin it names changes on
    /// disk (SIGHUP and `POST /reload` on the admin listener still reload).
    #[arg(long, requires = "config")]
    pub no_watch: bool,
}

/// `brink check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The TOML config file to validate.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// `brink origin`.
#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Number of products in the synthetic catalog.
    #[arg(long, default_value_t = 1000)]
    pub catalog: u32,
    /// Latency added to every catalog request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0.0 to 1.0) of catalog requests answered with an injected 503.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Make /healthz answer 503 from the start.
    #[arg(long)]
    pub fail_healthz: bool,
    /// Name reported in the x-origin header and JSON bodies.
    #[arg(long, default_value = "origin")]
    pub name: String,
}

/// `brink demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo config; defaults to config/demo.toml, or the copy built into the binary when that file is absent.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The config is invalid (every error is listed).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The node could not start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Something else on the way.
    #[error("{0}")]
    Other(String),
}

/// The demo config built into the binary, for runs outside the source tree.
pub const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let json = cli.log_format == LogFormat::Json;
    match cli.command {
        Command::Check(a) => Ok(check(&a.config).await),
        Command::Serve(a) => {
            let config = match (&a.config, &a.listen) {
                (Some(path), _) => Config::load(path)?,
                (None, Some(listen)) => {
                    let mut c = Config::zero_config(*listen, &a.origin)?;
                    if let Some(path) = &a.health_path {
                        c.set_health_path(path)?;
                    }
                    if a.no_cache {
                        for route in &mut c.routes {
                            route.cache.enabled = false;
                        }
                    }
                    if let Some(admin) = a.admin {
                        let token = match &a.admin_token_env {
                            Some(var) => Some(admin_token_from_env(var)?),
                            None => None,
                        };
                        c.admin = Some(crate::config::AdminConfig { addr: admin, token });
                    }
                    c
                }
                (None, None) => {
                    return Err(CliError::Other(
                        "give --config FILE, or --listen ADDR with --origin URL".into(),
                    ));
                }
            };
            crate::logging::init(json || config.log.json, &cli.log_level);
            if let (Some(path), Some(_)) = (&a.config, &config.control) {
                return fleet::serve_node(path, config).await;
            }
            let reload = ReloadOptions {
                file: a.config.clone(),
                watch: !a.no_watch,
            };
            serve(config, reload).await
        }
        Command::Origin(a) => {
            crate::logging::init(json, &cli.log_level);
            origin(a).await
        }
        Command::Demo(a) => {
            crate::logging::init(json, &cli.log_level);
            demo(a).await
        }
        Command::Loadtest(a) => loadtest::run_cli(a).await,
        Command::Fleet(c) => {
            // The NATS client's connection notices are not a command's output.
            crate::logging::init(json, &format!("{},async_nats=warn", cli.log_level));
            fleet::run(c).await
        }
    }
}

/// The admin token of `--admin-token-env VAR`: the variable's value, which
/// must be set, valid Unicode and non-empty.
fn admin_token_from_env(var: &str) -> Result<String, CliError> {
    match std::env::var(var) {
        Ok(token) if !token.is_empty() => Ok(token),
        Ok(_) => Err(CliError::Other(format!(
            "--admin-token-env: environment variable {var} is empty"
        ))),
        Err(std::env::VarError::NotPresent) => Err(CliError::Other(format!(
            "--admin-token-env: environment variable {var} is not set"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::Other(format!(
            "--admin-token-env: environment variable {var} is not valid Unicode"
        ))),
    }
}

/// `brink check`: validates the file and compiles its plugins through
/// [`crate::node::reload::validate_file`], the path every reload takes.
async fn check(path: &Path) -> ExitCode {
    match crate::node::reload::validate_file(path).await {
        Ok(c) => {
            println!("{}", c.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            ExitCode::FAILURE
        }
    }
}

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

async fn serve(config: Config, reload: ReloadOptions) -> Result<ExitCode, CliError> {
    let stop = shutdown_signal();
    let mut hup = reload_signal();
    let fleet = Fleet::start_with(config, reload).await?;
    match fleet.members.as_slice() {
        [single] => {
            let reloader = single.node.reloader().clone();
            tokio::spawn(async move {
                while hup.recv().await {
                    tracing::info!("SIGHUP: reloading the config");
                    let _ = reloader.reload(crate::node::reload::Trigger::Signal).await;
                }
            });
        }
        _ => {
            tokio::spawn(async move {
                while hup.recv().await {
                    tracing::warn!(
                        "SIGHUP ignored: the nodes of a fleet ([[fleet.nodes]]) are not hot-reloaded; restart instead"
                    );
                }
            });
        }
    }
    for o in fleet.origin_handles() {
        say(format!("origin {} {}", o.name(), o.url()));
    }
    let many = fleet.members.len() > 1;
    for m in &fleet.members {
        for l in m.node.listeners() {
            if many {
                say(format!(
                    "{} {} {} {}",
                    m.role.label(),
                    m.region,
                    m.name,
                    l.url()
                ));
            }
            say(format!("listening {}", l.url()));
        }
        if let Some(a) = m.node.admin_addr() {
            say(format!("admin http://{a}"));
        }
    }
    stop.await;
    tracing::info!("shutting down: draining in-flight requests");
    fleet.shutdown().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn origin(a: OriginArgs) -> Result<ExitCode, CliError> {
    if !(0.0..=1.0).contains(&a.fail_rate) {
        return Err(CliError::Other(
            "--fail-rate must be between 0.0 and 1.0".into(),
        ));
    }
    let opts = OriginOptions {
        name: a.name,
        catalog: a.catalog.max(1),
        latency: Duration::from_millis(a.latency_ms),
        fail_rate: a.fail_rate,
        fail_healthz: a.fail_healthz,
    };
    let stop = shutdown_signal();
    let handle = demo_origin::start(a.listen, opts)
        .await
        .map_err(|source| NodeError::Bind {
            addr: a.listen,
            source,
        })?;
    say(format!("listening {}", handle.url()));
    stop.await;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn demo(a: DemoArgs) -> Result<ExitCode, CliError> {
    let default = PathBuf::from("config/demo.toml");
    let config = match &a.config {
        Some(p) => Config::load(p)?,
        None if default.is_file() => Config::load(&default)?,
        None => Config::parse(DEMO_TOML, "<built-in demo.toml>", Path::new("."))?,
    };
    let token = demo_token(&config);
    let stop = shutdown_signal();
    let fleet = Fleet::start(config).await?;
    for o in fleet.origin_handles() {
        say(format!("origin {} {}", o.name(), o.url()));
    }
    for m in fleet.members.iter().filter(|m| m.role == Role::Shield) {
        say(format!("shield {} {} ({})", m.region, m.url(), m.name));
    }
    for m in fleet.members.iter().filter(|m| m.role == Role::Edge) {
        say(format!("edge {} {}", m.region, m.url()));
    }
    for m in &fleet.members {
        if let Some(admin) = m.node.admin_addr() {
            say(format!("admin {} http://{admin}", m.name));
        }
    }
    if let Some(t) = &token {
        say(format!("token Authorization: Bearer {t}"));
    }
    let auth = token
        .as_ref()
        .map(|t| format!("-H 'Authorization: Bearer {t}' "))
        .unwrap_or_default();
    let edges: Vec<&Member> = fleet
        .members
        .iter()
        .filter(|m| m.role == Role::Edge)
        .collect();
    let edge = edges
        .first()
        .map(|m| m.url())
        .ok_or_else(|| CliError::Other("the demo config has no edge node".into()))?;
    say("");
    say("try:");
    say(format!(
        "  curl -i {edge}/products/42            # miss, then run it again: hit"
    ));
    if let Some(other) = edges.get(1) {
        say(format!(
            "  curl -i {}/products/42            # another region: its edge misses, the shield hits",
            other.url()
        ));
    }
    say(format!(
        "  curl -s -o /dev/null -w '%{{http_code}} %{{size_download}}\\n' {edge}/images/7.jpg"
    ));
    say(format!(
        "  curl -i {edge}/fragments/recommendations          # 401 without a token"
    ));
    say(format!("  curl -i {auth}{edge}/fragments/recommendations"));
    say(format!(
        "  curl -i -X POST {auth}-d '{{\"sku\":42}}' {edge}/api/orders"
    ));
    if let Some(admin) = fleet.members.iter().find_map(|m| m.node.admin_addr()) {
        say(format!("  curl -s http://{admin}/status"));
        say(format!("  curl -s http://{admin}/metrics"));
    }
    say("Ctrl-C stops everything.");
    stop.await;
    fleet.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// A day-long demo JWT for the config's built-in auth plugin, if it has one.
pub fn demo_token(config: &Config) -> Option<String> {
    let auth = config
        .plugins
        .iter()
        .find(|p| p.source == crate::config::PluginSource::Builtin("auth".into()))?;
    let get = |k: &str| {
        auth.config
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let secret = get("secret")?;
    let mut claims = serde_json::json!({
        "sub": "demo-user",
        "tier": "gold",
        "iat": crate::token::now_secs(),
        "exp": crate::token::now_secs() + 24 * 3600,
    });
    if let Some(iss) = get("issuer") {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = get("audience") {
        claims["aud"] = aud.into();
    }
    Some(crate::token::sign_hs256(&claims, &secret))
}

/// `SIGHUP`, which asks `brink serve` to reload its config.
pub struct ReloadSignal {
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl ReloadSignal {
    /// Waits for the next `SIGHUP`; `false` when none can arrive.
    pub async fn recv(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(hup) = &mut self.hup {
            return hup.recv().await.is_some();
        }
        std::future::pending::<()>().await;
        false
    }
}

/// Installs the `SIGHUP` handler now (call it before announcing readiness:
/// a `SIGHUP` sent right after the `listening` line then reloads instead of
/// killing the process, the signal's default action).
pub fn reload_signal() -> ReloadSignal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        ReloadSignal {
            hup: signal(SignalKind::hangup()).ok(),
        }
    }
    #[cfg(not(unix))]
    {
        ReloadSignal {}
    }
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled, so call it before
/// announcing readiness: a signal sent right after the `listening` line is
/// then a graceful shutdown, not a kill.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_env_must_be_set() {
        let var = "BRINK_TEST_ADMIN_TOKEN_NEVER_SET_8d1f";
        let err = admin_token_from_env(var).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("--admin-token-env: environment variable {var} is not set")
        );
        // PATH is set and non-empty wherever tests run.
        assert!(admin_token_from_env("PATH").is_ok_and(|t| !t.is_empty()));
    }

    #[test]
    fn admin_token_env_needs_zero_config_admin() {
        let parse = |args: &[&str]| Cli::try_parse_from(["brink", "serve"].iter().chain(args));
        assert!(parse(&["--listen", "127.0.0.1:0", "--origin", "http://127.0.0.1:1"]).is_ok());
        let ok = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "http://127.0.0.1:1",
            "--admin",
            "127.0.0.1:0",
            "--admin-token-env",
            "T",
        ])
        .expect("zero-config with admin token");
        let Command::Serve(a) = ok.command else {
            panic!("serve")
        };
        assert_eq!(a.admin_token_env.as_deref(), Some("T"));
        let no_admin = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "http://127.0.0.1:1",
            "--admin-token-env",
            "T",
        ]);
        assert!(no_admin.is_err(), "--admin-token-env without --admin");
    }
}
