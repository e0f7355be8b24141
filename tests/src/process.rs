//! The real `brink` binary as a child process.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{START_TIMEOUT, brink_bin};

/// A running `brink` process; killed when dropped (its stderr is printed then
/// if the test is panicking).
pub struct BrinkProcess {
    child: Mutex<Child>,
    pid: u32,
    listening: Vec<String>,
    admin: Option<String>,
    origins: Vec<(String, String)>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    dir: Option<tempfile::TempDir>,
}

/// What start-up lines to wait for.
#[derive(Debug, Clone, Copy)]
struct Expect {
    listeners: usize,
    admin: bool,
}

impl BrinkProcess {
    /// `brink serve --config FILE` with `toml` written to a fresh temp dir
    /// (relative paths in it resolve against that dir; see [`BrinkProcess::serve_in`]).
    /// Waits for one `listening` line per `[[listeners]]` and for the
    /// `admin` line when the config has an `[admin]` table.
    pub fn serve(toml: &str) -> BrinkProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        BrinkProcess::serve_in(dir, toml)
    }

    /// Like [`BrinkProcess::serve`], writing `config.toml` into `dir`
    /// (which may already hold certificates the config names).
    pub fn serve_in(dir: tempfile::TempDir, toml: &str) -> BrinkProcess {
        BrinkProcess::serve_in_with(dir, toml, &[])
    }

    /// Like [`BrinkProcess::serve_in`], with extra `serve` flags (e.g. `--no-watch`).
    pub fn serve_in_with(dir: tempfile::TempDir, toml: &str, extra: &[&str]) -> BrinkProcess {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).expect("write config");
        let expect = Expect {
            listeners: toml.matches("[[listeners]]").count().max(1),
            admin: toml.lines().any(|l| l.trim() == "[admin]"),
        };
        let mut args = vec![
            "serve".to_string(),
            "--config".into(),
            path.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut p = BrinkProcess::start(&args, expect, dir.path());
        p.dir = Some(dir);
        p
    }

    /// `brink serve --listen 127.0.0.1:0 --origin URL...` (zero-config mode).
    pub fn serve_zero_config(origins: &[&str], admin: bool) -> BrinkProcess {
        let admin_flags: &[&str] = if admin {
            &["--admin", "127.0.0.1:0"]
        } else {
            &[]
        };
        BrinkProcess::serve_zero_config_with(origins, admin_flags, &[])
    }

    /// `brink serve --listen 127.0.0.1:0 --origin URL... EXTRA...` with `env`
    /// set on the child; waits for the `admin` line too when `extra` has
    /// `--admin`.
    pub fn serve_zero_config_with(
        origins: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> BrinkProcess {
        let args = zero_config_args(origins, extra);
        let expect = Expect {
            listeners: 1,
            admin: extra.contains(&"--admin"),
        };
        BrinkProcess::start_with_env(&args, expect, Path::new("."), env)
    }

    /// Runs `brink serve --listen 127.0.0.1:0 --origin URL... EXTRA...`
    /// with `env` set and every variable of `unset` removed, expecting it to
    /// exit by itself (a start-up error) within `timeout`: its status,
    /// stdout and stderr. Panics (after killing it) if it is still running.
    pub fn zero_config_exit(
        origins: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
        unset: &[&str],
        timeout: Duration,
    ) -> (ExitStatus, String, String) {
        let bin = brink_bin();
        let mut cmd = Command::new(&bin);
        cmd.args(zero_config_args(origins, extra))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in unset {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        let deadline = Instant::now() + timeout;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "brink did not exit within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `brink origin --listen 127.0.0.1:0 EXTRA...`.
    pub fn origin(extra: &[&str]) -> BrinkProcess {
        let mut args = vec![
            "origin".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        BrinkProcess::start(
            &args,
            Expect {
                listeners: 1,
                admin: false,
            },
            Path::new("."),
        )
    }

    fn start(args: &[String], expect: Expect, cwd: &Path) -> BrinkProcess {
        BrinkProcess::start_with_env(args, expect, cwd, &[])
    }

    fn start_with_env(
        args: &[String],
        expect: Expect,
        cwd: &Path,
        env: &[(&str, &str)],
    ) -> BrinkProcess {
        let bin = brink_bin();
        let mut child = Command::new(&bin)
            .args(args)
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        let pid = child.id();

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        // Stdout is read to the end in a thread (so the pipe never fills);
        // lines are also sent here until start-up is complete.
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out_pipe = child.stdout.take().expect("stdout piped");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line.clone());
                let _ = tx.send(line);
            }
        });

        let mut p = BrinkProcess {
            child: Mutex::new(child),
            pid,
            listening: Vec::new(),
            admin: None,
            origins: Vec::new(),
            stdout,
            stderr,
            dir: None,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while p.listening.len() < expect.listeners || (expect.admin && p.admin.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => p.take_line(&line),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "brink {args:?} printed no listening line within {START_TIMEOUT:?}\n{}",
                    p.diagnostics()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = p.wait_exit(Duration::from_secs(5));
                    panic!(
                        "brink {args:?} exited ({status}) before it was ready\n{}",
                        p.diagnostics()
                    );
                }
            }
        }
        p
    }

    fn take_line(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("listening"), Some(url), None) => self.listening.push(url.to_string()),
            (Some("admin"), Some(url), None) => self.admin = Some(url.to_string()),
            (Some("origin"), Some(name), Some(url)) => {
                self.origins.push((name.to_string(), url.to_string()))
            }
            _ => {}
        }
    }

    /// The first listener's URL (`http://127.0.0.1:PORT` or `https://...`).
    pub fn url(&self) -> &str {
        &self.listening[0]
    }

    /// Every listener's URL, in config order.
    pub fn urls(&self) -> &[String] {
        &self.listening
    }

    /// The admin URL, when the process has an admin listener.
    pub fn admin_url(&self) -> &str {
        self.admin
            .as_deref()
            .expect("this process has no admin listener")
    }

    /// Built-in origins it started, as (name, URL).
    pub fn builtin_origins(&self) -> &[(String, String)] {
        &self.origins
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temp dir holding its config, if it was started from one.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_path_buf())
    }

    /// Everything it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout().join("\n"),
            self.stderr()
        )
    }

    /// Sends SIGTERM (through `kill -TERM PID`, no unsafe code).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.pid);
    }

    /// The exit status, if it has exited.
    pub fn try_exit(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().expect("try_wait")
    }

    /// Waits (blocking) for the process to exit; panics after `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "brink (pid {}) did not exit within {timeout:?}\n{}",
                    self.pid,
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`BrinkProcess::wait_exit`] without blocking the async runtime.
    pub async fn wait_exit_async(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "brink (pid {}) did not exit within {timeout:?}\n{}",
                    self.pid,
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `serve --listen 127.0.0.1:0 --origin URL... EXTRA...`.
fn zero_config_args(origins: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    for o in origins {
        args.push("--origin".into());
        args.push((*o).to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

impl Drop for BrinkProcess {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(child);
        if std::thread::panicking() {
            eprintln!("brink (pid {}) output:\n{}", self.pid, self.diagnostics());
        }
    }
}
