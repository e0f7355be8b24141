//! The `brink` command line: help for every subcommand, `brink check` on every
//! example config (exit 0 with a summary) and on a bad file (exit 1).
//!
//! This file also makes `cargo test --workspace` build the `brink` binary,
//! which the end-to-end tests in `tests/` run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BRINK: &str = env!("CARGO_BIN_EXE_brink");

fn brink(args: &[&str]) -> Output {
    Command::new(BRINK)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run brink")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_works_for_every_subcommand() {
    let out = brink(&["--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    let subcommands = ["serve", "check", "origin", "demo"];
    for sub in subcommands {
        assert!(
            help.contains(sub),
            "`brink --help` does not list {sub}:\n{help}"
        );
        let out = brink(&[sub, "--help"]);
        assert!(
            out.status.success(),
            "brink {sub} --help: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Usage:"), "brink {sub} --help");
    }
    let out = brink(&["--version"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

fn example_configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn check_accepts_every_example_config() {
    let configs = example_configs();
    assert!(!configs.is_empty(), "no config/*.toml found");
    for path in configs {
        let p = path.display().to_string();
        let out = brink(&["check", "--config", &p]);
        assert!(
            out.status.success(),
            "brink check --config {p} failed:\n{}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        let summary = stdout.lines().next().unwrap_or("");
        assert!(
            (summary.starts_with(&format!("{p}: ok: node ")) && summary.contains("listener(s)"))
                || summary.starts_with(&format!("{p}: ok: fleet of ")),
            "summary line of {p}: {stdout}"
        );
    }
}

#[test]
fn check_rejects_a_bad_file_with_exit_1() {
    let dir = std::env::temp_dir().join(format!("brink-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[listeners]]\naddress = \"nowhere\"\n").expect("write");
    let p = bad.display().to_string();
    let out = brink(&["check", "--config", &p]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{p}:2:11: listeners[0].address: invalid socket address"
        )),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("error(s)"), "{stderr}");

    let out = brink(&["check", "--config", "/nonexistent/brink.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read file"));
}
