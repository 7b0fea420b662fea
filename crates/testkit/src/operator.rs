//! The real `account-deletion-operator` binary run outside the cluster with a kubeconfig.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use tempfile::TempDir;

use super::{bin_path, kill_and_reap, read_log, require_binary, spawn_logged, tail};

/// `ADO_LOG_LEVEL` for the operator's own debug lines.
pub const DEBUG_LOG: (&str, &str) = ("ADO_LOG_LEVEL", "info,account_deletion_operator=debug");

/// The env of an operator that does not keep a test waiting: a poll, an error retry and the
/// second look at an empty RAM after 1 s each; then `extra` (later entries win).
pub fn quick_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("ADO_POLL_SECONDS", "1"),
        ("ADO_EMPTY_CONFIRM_SECONDS", "1"),
        ("ADO_ERROR_RETRY_SECONDS", "1"),
    ];
    env.extend_from_slice(extra);
    env
}

/// A running operator process; SIGKILLed and reaped on drop.
pub struct Operator {
    dir: TempDir,
    child: Child,
    pid: u32,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Operator {
    /// Runs `account-deletion-operator ARGS...` with `KUBECONFIG=kubeconfig` plus `envs`, stdout and
    /// stderr into one log file. `ADO_ALLOWED_ENDPOINTS` lists the emulators started so far (an
    /// entry in `envs` overrides it). Does not wait for anything; see [`Self::metrics_url`] and
    /// [`Self::wait_log`].
    pub fn start(kubeconfig: &Path, args: &[&str], envs: &[(&str, &str)]) -> Operator {
        let exe = bin_path("account-deletion-operator");
        require_binary(&exe, "account-deletion-operator", "ADO_BIN_DIR");
        let dir = tempfile::Builder::new()
            .prefix("ado-operator.")
            .tempdir()
            .expect("create operator tempdir");
        let log = dir.path().join("operator.log");
        let mut cmd = Command::new(&exe);
        cmd.args(args)
            .env("KUBECONFIG", kubeconfig)
            // Never fall back to an in-cluster config, never proxy loopback traffic.
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .current_dir(dir.path());
        // The emulators of this test are the endpoints its objects name.
        cmd.env("ADO_ALLOWED_ENDPOINTS", super::emulator::started_urls());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = spawn_logged(cmd, &log);
        let pid = child.id();
        Operator {
            dir,
            child,
            pid,
            log,
            exit: None,
        }
    }

    /// `account-deletion-operator run --namespaces NAMESPACES --metrics-addr 127.0.0.1:0` (see
    /// [`Self::start`]), e.g. with [`quick_env`].
    pub fn watching(kubeconfig: &Path, namespaces: &str, envs: &[(&str, &str)]) -> Operator {
        Operator::watching_with(kubeconfig, namespaces, &[], envs)
    }

    /// [`Self::watching`] with more command-line flags (`--leader-election`, ...).
    pub fn watching_with(
        kubeconfig: &Path,
        namespaces: &str,
        flags: &[&str],
        envs: &[(&str, &str)],
    ) -> Operator {
        let mut args = vec!["run", "--namespaces", namespaces, "--metrics-addr", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        Operator::start(kubeconfig, &args, envs)
    }

    /// stdout+stderr so far.
    pub fn logs(&self) -> String {
        read_log(&self.log)
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is still running (reaps it when it exited).
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(st)) = self.child.try_wait()
        {
            self.exit = Some(st);
        }
        self.exit
    }

    /// SIGKILL (a crash) and reap.
    pub fn kill9(&mut self) {
        if self.poll_exit().is_none() {
            kill_and_reap(&mut self.child);
            self.exit = self.child.try_wait().ok().flatten();
        }
    }

    /// SIGTERM (graceful shutdown); use [`Self::wait_exit`] to see how it ended.
    pub fn sigterm(&mut self) {
        if self.poll_exit().is_none() {
            super::send_sigterm(self.pid);
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` when it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(st) = self.poll_exit() {
                return Some(st);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://ADDR` of the metrics server, read from the `metrics listening on http://ADDR` log
    /// line (start with `--metrics-addr 127.0.0.1:0`); panics after 30 s or if the process exits.
    pub async fn metrics_url(&mut self) -> String {
        let tok = super::wait_for_log_token(
            &mut self.child,
            &self.log,
            0,
            "metrics listening on ",
            Duration::from_secs(30),
            "account-deletion-operator",
        )
        .await;
        tok.trim_end_matches('/').to_string()
    }

    /// Waits until the log contains `needle`; panics with the log tail after `timeout`.
    pub async fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.logs().contains(needle) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "operator log has no {needle:?} after {timeout:?} (running: {}); tail:\n{}",
                    self.is_running(),
                    tail(&self.log, 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process' working directory (a tempdir).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- account-deletion-operator log tail ({}):\n{}",
                self.log.display(),
                tail(&self.log, 60)
            );
        }
        kill_and_reap(&mut self.child);
    }
}
