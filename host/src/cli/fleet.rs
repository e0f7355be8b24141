//! `brink fleet ...` (keygen, deploy, rollback, purge, status) and `brink serve`
//! for a node whose file has `[control]`: the command-line side of the
//! NATS control plane in `crate::control`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, reload_signal, say, shutdown_signal};
use crate::admin::AdminHandler;
use crate::config::{Config, ControlAuth};
use crate::control::connect::{self, FleetBuckets};
use crate::control::protocol::{GenerationPayload, now_ms};
use crate::control::purge::{self, PurgePayload};
use crate::control::{ControlError, agent, keys, publish, registry};
use crate::node::{Node, ReloadOptions};

/// `brink fleet`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Write a new fleet key pair: DIR/fleet.key (private, mode 0600) and DIR/fleet.pub (for nodes' trust_key).
    Keygen(KeygenArgs),
    /// Validate a config like `brink check`, upload its plugins, publish it signed, and wait for every live node's answer.
    Deploy(DeployArgs),
    /// Republish the generation before the current one (signed anew, with the next sequence number).
    Rollback(RollbackArgs),
    /// Purge every live node's cache (signed, on the fleet's purge stream) and wait for every ack.
    Purge(PurgeArgs),
    /// List the fleet's live nodes: region, role, generation, config hash, heartbeat.
    Status(StatusArgs),
}

/// `brink fleet keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder for fleet.key and fleet.pub (existing files are never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// How a command reaches a fleet.
#[derive(Debug, Args)]
pub struct FleetConn {
    /// NATS server URL (credentials may be in it: nats://USER:PASS@HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The fleet's name.
    #[arg(long)]
    pub fleet: String,
    /// Read a NATS token from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
}

/// `brink fleet deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    conn: FleetConn,
    /// The fleet's private key (fleet.key).
    #[arg(long)]
    key: PathBuf,
    /// The config to deploy; its fleet-wide tables (limits, origins, pools, routes, plugins, cache) are published.
    #[arg(long)]
    config: PathBuf,
    /// Only nodes of this region (repeat for more): a canary.
    #[arg(long = "region", value_name = "R")]
    regions: Vec<String>,
    /// How long to wait for the nodes' answers.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    wait: Duration,
    /// Publish without validating here first (tests the nodes' own validation).
    #[arg(long, hide = true)]
    no_check: bool,
}

/// `brink fleet rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    conn: FleetConn,
    /// The fleet's private key (fleet.key).
    #[arg(long)]
    key: PathBuf,
    /// Roll back this region's canary key instead of the fleet-wide one.
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// How long to wait for the nodes' answers.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    wait: Duration,
}

/// `brink fleet purge`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["url", "prefix", "tag"])))]
pub struct PurgeArgs {
    #[command(flatten)]
    conn: FleetConn,
    /// The fleet's private key (fleet.key).
    #[arg(long)]
    key: PathBuf,
    /// One URL: `/path?query` (any host) or `http://host/path?query` (that host only), as `POST /purge?url=`.
    #[arg(long, value_name = "U")]
    url: Option<String>,
    /// Every URL starting with this: a path prefix (any host) or `http://host/...`, as `POST /purge?prefix=`.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    /// Every object tagged with this surrogate key, as `POST /purge?tag=`.
    #[arg(long, value_name = "T")]
    tag: Option<String>,
    /// Mark stale (served only after revalidation) instead of removing.
    #[arg(long)]
    soft: bool,
    /// How long to wait for the nodes' acks.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    wait: Duration,
}

/// `brink fleet status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: FleetConn,
    /// Print JSON (one array of node records) instead of a table.
    #[arg(long)]
    json: bool,
}

impl From<ControlError> for CliError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Invalid(errors) => CliError::Config(errors),
            other => CliError::Other(other.to_string()),
        }
    }
}

/// Runs `brink fleet ...`.
pub async fn run(command: FleetCommand) -> Result<ExitCode, CliError> {
    match command {
        FleetCommand::Keygen(a) => {
            let (private, public) = keys::keygen(&a.out)?;
            say(format!(
                "private key {} (keep it secret)",
                private.display()
            ));
            say(format!(
                "public key {} (trust_key on every node)",
                public.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        FleetCommand::Deploy(a) => deploy(a).await,
        FleetCommand::Rollback(a) => rollback(a).await,
        FleetCommand::Purge(a) => purge(a).await,
        FleetCommand::Status(a) => {
            let buckets = open(&a.conn).await?;
            let nodes = registry::nodes(&buckets).await?;
            if a.json {
                say(serde_json::to_string_pretty(&nodes).unwrap_or_default());
            } else if nodes.is_empty() {
                say(format!("fleet {}: no live node", a.conn.fleet));
            } else {
                print!("{}", registry::table(&nodes));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(conn: &FleetConn) -> Result<FleetBuckets, CliError> {
    if !crate::config::is_control_name(&conn.fleet) {
        return Err(CliError::Other(format!(
            "--fleet \"{}\": use letters, digits, '-' or '_'",
            conn.fleet
        )));
    }
    let auth = conn
        .token_env
        .clone()
        .map_or(ControlAuth::None, ControlAuth::Token);
    let client = connect::connect_now(std::slice::from_ref(&conn.nats), &auth).await?;
    Ok(connect::open(&client, &conn.fleet).await?)
}

async fn deploy(a: DeployArgs) -> Result<ExitCode, CliError> {
    if let Some(r) = a
        .regions
        .iter()
        .find(|r| !crate::config::is_control_name(r))
    {
        return Err(CliError::Other(format!(
            "--region \"{r}\": use letters, digits, '-' or '_'"
        )));
    }
    let key = keys::read_signing_key(&a.key)?;
    let (config, blobs) = publish::prepare(&a.config, !a.no_check).await?;
    let buckets = open(&a.conn).await?;
    for line in publish::upload(&buckets, &blobs).await? {
        say(line);
    }
    let payload = GenerationPayload {
        fleet: a.conn.fleet.clone(),
        seq: publish::next_seq(&buckets).await?,
        regions: a.regions.clone(),
        config,
        plugins: blobs.into_iter().map(|(h, (name, _))| (h, name)).collect(),
        source: a.config.display().to_string(),
        published_ms: now_ms(),
    };
    finish(&buckets, payload, &key, a.wait).await
}

async fn rollback(a: RollbackArgs) -> Result<ExitCode, CliError> {
    let key = keys::read_signing_key(&a.key)?;
    let buckets = open(&a.conn).await?;
    let seq = publish::next_seq(&buckets).await?;
    let payload =
        publish::previous(&buckets, a.region.as_deref(), &a.conn.fleet, &key, seq).await?;
    say(format!(
        "rolling back to the config of {} (config {})",
        payload.source,
        payload.config_hash()
    ));
    finish(&buckets, payload, &key, a.wait).await
}

async fn purge(a: PurgeArgs) -> Result<ExitCode, CliError> {
    let key = keys::read_signing_key(&a.key)?;
    let (by, value) = match (a.url, a.prefix, a.tag) {
        (Some(u), _, _) => ("url", u),
        (_, Some(p), _) => ("prefix", p),
        (_, _, Some(t)) => ("tag", t),
        _ => unreachable!("clap requires one of --url, --prefix, --tag"),
    };
    let payload = PurgePayload {
        fleet: a.conn.fleet.clone(),
        by: by.into(),
        value,
        soft: a.soft,
        published_ms: now_ms(),
    };
    let buckets = open(&a.conn).await?;
    let sent = purge::send(&buckets, &payload.seal(&key), a.wait).await?;
    say(format!(
        "published purge {} ({}{} {}): {} live node(s)",
        sent.seq,
        if a.soft { "soft, " } else { "" },
        payload.by,
        payload.value,
        sent.answers.len()
    ));
    for answer in &sent.answers {
        say(answer.line(sent.seq, a.wait));
    }
    if sent.all_acked() {
        say(format!("all acked in {} ms", sent.elapsed.as_millis()));
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Publishes, prints one line per targeted node, exits 0 if all applied.
async fn finish(
    buckets: &FleetBuckets,
    payload: GenerationPayload,
    key: &ed25519_dalek::SigningKey,
    wait: Duration,
) -> Result<ExitCode, CliError> {
    let target = if payload.regions.is_empty() {
        "every region".to_string()
    } else {
        format!("region(s) {}", payload.regions.join(", "))
    };
    let published = publish::publish(buckets, payload, key, wait).await?;
    say(format!(
        "published generation {} (config {}) to {target}: {} live node(s)",
        published.payload.seq,
        published.payload.config_hash(),
        published.answers.len()
    ));
    for answer in &published.answers {
        say(answer.line(wait));
    }
    if published.all_applied() {
        say(format!(
            "all applied in {} ms",
            published.elapsed.as_millis()
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// `brink serve --config FILE` for a file with `[control]`: the node
/// serves its own file joined with the last generation it kept, and
/// applies new ones from NATS.
pub async fn serve_node(local: &Path, config: Config) -> Result<ExitCode, CliError> {
    let control = config
        .control
        .clone()
        .ok_or_else(|| CliError::Other("no [control] table".into()))?;
    let stop = shutdown_signal();
    let mut hup = reload_signal();
    let prepared = agent::prepare(local, &control)?;
    let (node, prepared) = match start(&prepared.effective).await {
        Ok(n) => (n, prepared),
        Err(e) if prepared.applied.is_some() => {
            tracing::error!("the kept fleet generation does not start ({e}); starting without it");
            let text = std::fs::read_to_string(local)
                .map_err(|e| CliError::Other(format!("{}: {e}", local.display())))?;
            std::fs::write(&prepared.effective, text)
                .map_err(|e| CliError::Other(format!("{}: {e}", prepared.effective.display())))?;
            let fresh = agent::Prepared {
                effective: prepared.effective.clone(),
                applied: None,
            };
            (start(&fresh.effective).await?, fresh)
        }
        Err(e) => return Err(e),
    };
    let agent = agent::Agent::start(local, &config, prepared, node.reloader().clone())?;
    tokio::spawn({
        let agent = agent.clone();
        async move {
            while hup.recv().await {
                tracing::info!("SIGHUP: joining the node's file with its fleet generation again");
                if let Err(e) = agent.rejoin().await {
                    tracing::error!("SIGHUP reload refused: {e}");
                }
            }
        }
    });
    announce(&node);
    stop.await;
    agent.stop();
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn start(effective: &Path) -> Result<Node, CliError> {
    let config = Config::load(effective)?;
    let reload = ReloadOptions {
        file: Some(effective.to_path_buf()),
        watch: false,
    };
    Ok(Node::start_with(config, reload)
        .await?
        .with_admin(AdminHandler::new)
        .await?)
}

fn announce(node: &Node) {
    for l in node.listeners() {
        say(format!("listening {}", l.url()));
    }
    if let Some(a) = node.admin_addr() {
        say(format!("admin http://{a}"));
    }
}
