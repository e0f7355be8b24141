//! `brink loadtest`: the command line's reading of its arguments into
//! [`LoadtestOptions`], and the run that prints and writes its report. The
//! load tester itself (the `brink-loadtest` crate) takes plain options and
//! knows nothing of the command line.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{CliError, LoadtestArgs, demo_token};
use brink_loadtest::{
    DEFAULT_CONCURRENCY, DEFAULT_DURATION, Load, LoadtestError, LoadtestOptions, RegionTarget,
    Stop, Workload, html, run, table, trace,
};

/// The options `brink loadtest` ARGS describe.
pub fn options_from_args(a: &LoadtestArgs) -> Result<LoadtestOptions, LoadtestError> {
    if a.config.is_some() && !a.targets.is_empty() {
        return Err(LoadtestError::Invalid(
            "give either --config (start the fleet it describes) or --target, not both".into(),
        ));
    }
    let workload = match &a.trace {
        Some(path) => Workload::Trace {
            path: path.clone(),
            trace: trace::load(path)?,
        },
        None => Workload::Zipf {
            s: a.zipf,
            catalog: a.catalog,
            mix: a.mix.clone().unwrap_or_default(),
        },
    };
    let stop = match (a.requests, a.duration, &workload) {
        (Some(n), _, _) => Stop::Requests(n),
        (None, Some(d), _) => Stop::Duration(d),
        (None, None, Workload::Trace { trace, .. }) => Stop::Requests(trace.entries.len() as u64),
        (None, None, Workload::Zipf { .. }) => Stop::Duration(DEFAULT_DURATION),
    };
    let load = match a.rate {
        Some(rate) => Load::Open {
            rate,
            max_in_flight: a.max_in_flight,
        },
        None => Load::Closed {
            concurrency: a.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        },
    };
    Ok(LoadtestOptions {
        targets: a.targets.clone(),
        origin_stats: a.origin_stats.clone(),
        workload,
        load,
        stop,
        seed: a.seed,
        tokens: a.tokens.clone(),
        timeout: a.timeout,
        cache_objects: a.cache_objects,
        progress: !a.no_progress,
    })
}

/// `brink loadtest`: runs, prints the table on stdout, writes `--json` and `--html`.
pub async fn run_cli(a: LoadtestArgs) -> Result<ExitCode, CliError> {
    let fail = |e: LoadtestError| CliError::Other(e.to_string());
    let mut opts = options_from_args(&a).map_err(fail)?;
    // With --config, start the fleet the file describes in this process,
    // drive its edges, and read its built-in origins' counters.
    let fleet = match &a.config {
        Some(path) => {
            let config = crate::config::Config::load(path)?;
            if opts.tokens.is_empty()
                && let Some(t) = demo_token(&config)
            {
                opts.tokens.push(t);
            }
            let fleet = crate::fleet::Fleet::start(config).await?;
            opts.targets = fleet
                .members
                .iter()
                .filter(|m| m.role == crate::fleet::Role::Edge)
                .map(|m| RegionTarget {
                    region: m.region.clone(),
                    url: m.url(),
                })
                .collect();
            opts.origin_stats = fleet
                .origin_handles()
                .iter()
                .map(|o| format!("{}/stats", o.url()))
                .collect();
            Some(fleet)
        }
        None => None,
    };
    let result = run(opts).await;
    if let Some(fleet) = fleet {
        fleet.shutdown().await;
    }
    let report = result.map_err(fail)?;
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(table::to_text(&report).as_bytes());
        let _ = out.flush();
    }
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        write_file(path, &text).map_err(fail)?;
    }
    if let Some(path) = &a.html {
        write_file(path, &html::to_html(&report)).map_err(fail)?;
    }
    if report.responses == 0 {
        return Err(CliError::Other(format!(
            "no request got a response ({} connect errors, {} timeouts, {} other failures)",
            report.errors.connect, report.errors.timeout, report.errors.other
        )));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, text: &str) -> Result<(), LoadtestError> {
    std::fs::write(path, text).map_err(|source| LoadtestError::Write {
        path: path.display().to_string(),
        source,
    })
}
