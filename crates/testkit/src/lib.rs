//! Shared harness for end-to-end tests: starts REAL processes (etcd + kube-apiserver v1.20.2, the
//! `aliyun-emulator` and the `account-deletion-operator` binaries) on free loopback ports and stops
//! them (by PID) when the handle is dropped, also when the test panics.
//!
//! Use from an integration test with `use ado_testkit as support;` and e.g. `use support::{KubeCluster,
//! Emulator, Operator, wait_for};`.
//!
//! Missing binaries make the test FAIL with a message naming the env var and `bash scripts/setup.sh`;
//! nothing here skips.
//!
//! ```text
//! let mut k = KubeCluster::start().await;            // $ETCD_BIN, $KUBE_APISERVER_BIN
//! k.client(); k.url(); k.kubeconfig(); k.dir();      // admin (system:masters)
//! k.install_project_crds().await;                    // crds/*.yaml, waits Established
//! let k = KubeCluster::start_with_credentials(&["ns"], KEY_ID, KEY_SECRET).await; // + CRDs, Secret mgmt
//! let (kubeconfig, token) = k.service_account_kubeconfig("ns", "sa").await; // TokenRequest API
//! k.restart_apiserver().await; k.restart_etcd().await; // or stop_*/start_* for outage windows
//! let emu = Emulator::start(seed_yaml, &[]).await;   // $ADO_BIN_DIR or the cargo-built binary
//! support::set_bin_dir("target/release");            // a binary of its own (the bench) names it
//! emu.dump("2000000000000001").await; emu.advance_clock(60).await; emu.calls().await;
//! emu.reset_calls().await; emu.pid();                // counters from zero; the process (CPU, RSS)
//! calls::by_action(&emu.calls().await, "resourcemanager:DeleteAccount"); // calls::mutating, codes...
//! let node = KubeNode::start().await;               // + controller-manager, scheduler, containerd, kubelet
//! node.import_image(&support::image::operator_image().archive); node.api_port(); // pods: hostNetwork
//! node.container_pids_running("account-deletion-operator"); // host pids of a pod's process
//! let mut op = Operator::start(k.kubeconfig(), &["run", "--namespaces", "ns",
//!     "--metrics-addr", "127.0.0.1:0"], &[("ADO_LOG_LEVEL", "debug")]);
//! let op = Operator::watching(k.kubeconfig(), "ns", &operator::quick_env(&[operator::DEBUG_LOG]));
//! let api = deletion::create(&k, "ns", "name", deletion::spec(ID, "display", Mode::Plan, emu.url(), json!({}))).await;
//! let st = wait_phase(&api, "name", Phase::Planned, 60).await;   // typed AccountDeletionStatus
//! let st = wait_status(&api, "name", "Ready", 60, |s| deletion::truth(s, "Ready") == Some(Truth::True)).await;
//! let metrics = op.metrics_url().await; op.sigterm(); op.wait_exit(secs(30)).await;
//! let v = wait_for("phase Completed", secs(60), millis(200), || async { /* Option or Result */ }).await;
//! ```
#![allow(dead_code, unused_imports)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The repository root (crds, chart, scripts, tests/ data), whatever crate the kit is used from.
pub const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub mod calls;
pub mod cluster;
pub mod deletion;
pub mod emulator;
pub mod fake;
pub mod faults;
pub mod helm;
pub mod image;
pub mod metrics;
pub mod node;
pub mod operator;
pub mod pods;
pub mod procs;
pub mod wait;

pub use cluster::KubeCluster;
pub use emulator::Emulator;
pub use node::KubeNode;
pub use operator::Operator;
pub use wait::{Check, wait_deleted, wait_for, wait_phase, wait_status};

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The cache of scripts/setup.sh: `$ADO_CACHE`, default ~/.cache/account-deletion-operator.
pub fn cache_dir() -> PathBuf {
    match std::env::var("ADO_CACHE") {
        Ok(c) if !c.is_empty() => PathBuf::from(c),
        _ => {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            Path::new(&home).join(".cache/account-deletion-operator")
        }
    }
}

/// Installs the ring rustls provider once: reqwest is built with `rustls-no-provider`, so without a
/// process default its client builder fails.
pub fn ensure_crypto() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `n` distinct free loopback ports. All listeners are held until every port is chosen, so the
/// kernel cannot hand out the same port twice in one call.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr of probe listener").port())
        .collect()
}

/// A free TCP port on `ip` for a server that binds it LATER (a kubelet, a hostNetwork pod's
/// metrics port), chosen below the kernel's ephemeral range (`ip_local_port_range`): a port from
/// that range can meanwhile become the local port of any outgoing connection, and the server's
/// bind then fails.
pub fn free_listen_port(ip: &str) -> u16 {
    use rand::Rng;
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_low.max(12_000));
    let mut rng = rand::rng();
    for _ in 0..500 {
        let port = rng.random_range(lo..hi);
        // Free on every address too (a wildcard listener would collide), e.g. 127.0.0.2.
        if TcpListener::bind((ip, port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip} in {lo}..{hi} after 500 tries");
}

/// Set by [`set_bin_dir`]: where this process finds the project's binaries.
static BIN_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Points [`bin_path`] at `dir` for the rest of this process, over `$ADO_BIN_DIR` (the kit can
/// only guess the directory from a test binary's `target/<profile>/deps/` location; a binary of
/// its own, like the benchmark in `target/release/`, names it). The first call wins.
pub fn set_bin_dir(dir: impl Into<PathBuf>) {
    let _ = BIN_DIR.set(dir.into());
}

/// Directory of the project's binaries: the one [`set_bin_dir`] named, else `$ADO_BIN_DIR` when
/// set, else the directory of the test binary that runs (`target/<profile>/`: build them first
/// with `cargo build --bins`, as `scripts/test.sh` does).
pub fn bin_path(name: &str) -> PathBuf {
    if let Some(dir) = BIN_DIR.get() {
        return dir.join(name);
    }
    if let Ok(dir) = std::env::var("ADO_BIN_DIR")
        && !dir.is_empty()
    {
        return Path::new(&dir).join(name);
    }
    // target/<profile>/deps/<test> → target/<profile>/<name>
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .unwrap_or_else(|| Path::new(REPO_ROOT).join("target/debug").join(name))
}

/// Panics unless `path` is an existing file, naming the variable that overrides it.
pub fn require_binary(path: &Path, what: &str, env_var: &str) {
    if !path.is_file() {
        panic!(
            "{what} not found at {}: set {env_var} to its path, or run `bash scripts/setup.sh` \
             (installs etcd and builds the cached kube-apiserver v1.20.2); for project binaries run \
             `cargo build --bins`",
            path.display()
        );
    }
}

/// `setpriv` (util-linux) when present: used to give children `PDEATHSIG=KILL`, so they die with the
/// test even when the test process itself is SIGKILLed (e.g. by a timeout) and Drop never runs.
fn setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`, so output survives restarts
/// and can be read back while the process runs.
///
/// The child gets `PDEATHSIG=KILL` through `setpriv` (which execs, so the PID is the program's):
/// it dies when the THREAD that spawned it exits. So keep each handle inside one test (sharing one
/// through a `static` across tests does not work anyway: kube clients are tied to the test's
/// runtime).
pub fn spawn_logged(cmd: Command, log: &Path) -> Child {
    let mut cmd = match setpriv() {
        Some(sp) => {
            let mut w = Command::new(sp);
            w.args(["--pdeathsig", "KILL", "--"])
                .arg(cmd.get_program())
                .args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => w.env(k, v),
                    None => w.env_remove(k),
                };
            }
            if let Some(d) = cmd.get_current_dir() {
                w.current_dir(d);
            }
            w
        }
        None => cmd,
    };
    let out: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open log {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file handle");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()))
}

/// Whole file as text (lossy); empty when it does not exist yet.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Last `n` lines of a log, for panic messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = read_log(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// SIGKILLs and reaps a child (no zombie); a no-op when it already exited.
pub fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Sends SIGTERM through `kill(1)` (the crate forbids unsafe code, so no libc call).
pub fn send_sigterm(pid: u32) {
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill -TERM");
    assert!(st.success(), "kill -TERM {pid} failed: {st}");
}

/// Polls `log` (from byte offset `from`, so an appended log of a restarted process is not misread)
/// for the first `needle` followed by a non-space token (e.g. the address after `listening on `),
/// failing when `child` exits or `timeout` passes.
pub async fn wait_for_log_token(
    child: &mut Child,
    log: &Path,
    from: usize,
    needle: &str,
    timeout: Duration,
    what: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let full = read_log(log);
        let text = full.get(from..).unwrap_or("");
        if let Some(i) = text.find(needle) {
            let rest = &text[i + needle.len()..];
            let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            if !token.is_empty() {
                return token;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{what} exited ({st}) before printing {needle:?}; log {}:\n{}",
                log.display(),
                tail(log, 60)
            );
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{what} did not print {needle:?} within {timeout:?}; log {}:\n{}",
                log.display(),
                tail(log, 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Plain GET of an absolute URL (metrics, healthz, emulator); (status, body). Panics on transport
/// errors.
pub async fn http_get(url: &str) -> (u16, String) {
    ensure_crypto();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("build reqwest client");
    let resp = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("read body of GET {url}: {e}"));
    (status, body)
}
