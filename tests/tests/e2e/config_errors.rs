//! Bad configs are reported by their exact message (Spin-style UI tests):
//! each `ui/invalid/NAME.toml` has `ui/invalid/NAME.err` holding the exact
//! stderr of `brink check --config ui/invalid/NAME.toml` run from this crate's
//! directory. `BLESS=1 cargo test -p brink-tests --test e2e config_errors::`
//! rewrites the `.err` files; read the diff before committing it.

use std::path::{Path, PathBuf};
use std::process::Command;

use brink_tests::brink_bin;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<PathBuf> {
    let dir = crate_dir().join("ui/invalid");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// Runs `brink check` on `rel` (relative to this crate) and returns (exit code, stdout, stderr).
fn check(rel: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(brink_bin())
        .arg("check")
        .arg("--config")
        .arg(rel)
        .current_dir(crate_dir())
        .env_remove("RUST_LOG")
        .output()
        .expect("run brink check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_configs_report_exact_errors() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(
        cases.len() >= 9,
        "expected the ui/invalid cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for path in &cases {
        let rel = path.strip_prefix(crate_dir()).expect("inside the crate");
        let (code, stdout, stderr) = check(rel);
        let err_file = path.with_extension("err");
        if code != Some(1) {
            failures.push(format!(
                "{}: exit {code:?}, stdout: {stdout}",
                rel.display()
            ));
            continue;
        }
        if bless {
            std::fs::write(&err_file, &stderr).expect("write .err");
            continue;
        }
        let expected = std::fs::read_to_string(&err_file).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with BLESS=1 to create it)",
                err_file.display()
            )
        });
        if expected != stderr {
            failures.push(format!(
                "{}:\n--- expected ({}) ---\n{expected}--- actual ---\n{stderr}",
                rel.display(),
                err_file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_names_file_line_column_and_key() {
    for path in cases() {
        let rel = path.strip_prefix(crate_dir()).expect("inside the crate");
        let (_, _, stderr) = check(rel);
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(lines.len() >= 2, "{stderr}");
        let prefix = format!("{}:", rel.display());
        for line in &lines[..lines.len() - 1] {
            let rest = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("does not start with the file name: {line}"));
            let mut parts = rest.splitn(3, ':');
            let l: usize = parts
                .next()
                .and_then(|s| s.parse().ok())
                .expect("line number");
            let c: usize = parts.next().and_then(|s| s.parse().ok()).expect("column");
            assert!(l >= 1 && c >= 1, "{line}");
            // Every case's errors are about a key (syntax errors excepted).
            let msg = parts.next().expect("message").trim_start();
            if !path.ends_with("syntax_error.toml") {
                assert!(msg.contains(": "), "no key path in: {line}");
            }
        }
        let last = lines[lines.len() - 1];
        assert!(
            last.starts_with(&prefix) && last.ends_with("error(s)"),
            "{last}"
        );
    }
}
