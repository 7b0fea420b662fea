//! The real `aliyun-emulator` binary on a free loopback port, with its admin API
//! (`/__emulator/...`, as used by tests/conformance/conftest.py).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::{bin_path, kill_and_reap, read_log, require_binary, spawn_logged, tail};

/// Every emulator URL started by this test process: operators started by the harness allow
/// exactly these as `spec.endpoint` (`ADO_ALLOWED_ENDPOINTS`), unless the test sets it itself.
static STARTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn register_url(url: &str) {
    let mut g = STARTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !g.iter().any(|u| u == url) {
        g.push(url.to_string());
    }
}

/// The URLs of every emulator this process started, comma-separated.
pub fn started_urls() -> String {
    STARTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .join(",")
}

/// A running emulator; SIGKILLed and reaped on drop.
pub struct Emulator {
    dir: TempDir,
    child: Option<Child>,
    url: String,
    log: PathBuf,
    http: reqwest::Client,
    exe: PathBuf,
    /// `127.0.0.1:0` at first, then the address it bound (restarts reuse it).
    listen: String,
    extra_args: Vec<String>,
}

impl Emulator {
    /// Writes `seed_yaml` to a tempfile and runs `aliyun-emulator --listen 127.0.0.1:0 --seed FILE
    /// EXTRA_ARGS...`; returns once it printed `listening on http://ADDR` (30 s at most).
    pub async fn start(seed_yaml: &str, extra_args: &[&str]) -> Emulator {
        super::ensure_crypto();
        let exe = bin_path("aliyun-emulator");
        require_binary(&exe, "aliyun-emulator", "ADO_BIN_DIR");
        let dir = tempfile::Builder::new()
            .prefix("ado-emulator.")
            .tempdir()
            .expect("create emulator tempdir");
        let seed = dir.path().join("seed.yaml");
        std::fs::write(&seed, seed_yaml).expect("write seed file");
        let log = dir.path().join("emulator.log");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .no_proxy()
            .build()
            .expect("build reqwest client");
        let mut emu = Emulator {
            dir,
            child: None,
            url: String::new(),
            log,
            http,
            exe,
            listen: "127.0.0.1:0".into(),
            extra_args: extra_args.iter().map(|s| (*s).to_string()).collect(),
        };
        emu.spawn().await;
        emu
    }

    /// Starts the process on `self.listen` and reads the address it printed.
    async fn spawn(&mut self) {
        let from = read_log(&self.log).len();
        let mut cmd = Command::new(&self.exe);
        cmd.args(["--listen", &self.listen, "--seed"])
            .arg(self.dir.path().join("seed.yaml"))
            .args(&self.extra_args);
        let mut child = spawn_logged(cmd, &self.log);
        let url = super::wait_for_log_token(
            &mut child,
            &self.log,
            from,
            "listening on ",
            Duration::from_secs(30),
            "aliyun-emulator",
        )
        .await;
        assert!(
            url.starts_with("http://"),
            "aliyun-emulator printed an unexpected address {url:?}"
        );
        let url = url.trim_end_matches('/').to_string();
        // A restart must come back on the same address (clients keep their endpoint).
        self.listen = url.trim_start_matches("http://").to_string();
        register_url(&url);
        self.url = url;
        self.child = Some(child);
    }

    /// Kills the emulator and starts it again on the SAME address with the original seed file and
    /// args (state resets to the seed: an outage followed by recovery).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Like [`Self::start`] with a seed file from the repo (path relative to the crate root).
    pub async fn start_with_seed_file(rel_path: &str, extra_args: &[&str]) -> Emulator {
        let p = Path::new(crate::REPO_ROOT).join(rel_path);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        Emulator::start(&text, extra_args).await
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the endpoint for the operator / clients.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The emulator's stdout+stderr so far.
    pub fn logs(&self) -> String {
        read_log(&self.log)
    }

    /// The emulator's tempdir (seed file, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILLs the emulator (an Alibaba Cloud outage); the URL then refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_and_reap(&mut c);
        }
    }

    /// Any admin/raw request: returns (status, body bytes). Panics only on transport errors.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("valid HTTP method");
        let mut rb = self.http.request(m, format!("{}{path}", self.url));
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} on the emulator: {e}"));
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("read body of {method} {path}: {e}"));
        (status, bytes.to_vec())
    }

    /// GET `path`; (status, body as text).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let (st, b) = self.request("GET", path, None, None).await;
        (st, String::from_utf8_lossy(&b).into_owned())
    }

    async fn expect_json(&self, method: &str, path: &str, body: Option<Vec<u8>>, ct: Option<&str>) -> Value {
        let (st, b) = self.request(method, path, body, ct).await;
        assert!(
            (200..300).contains(&st),
            "{method} {path} -> {st}: {}",
            String::from_utf8_lossy(&b)
        );
        if b.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&b).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&b)
            )
        })
    }

    /// `GET /__emulator/accounts/{id}`: the account's full state; panics unless 200.
    pub async fn dump(&self, account_id: &str) -> Value {
        self.expect_json("GET", &format!("/__emulator/accounts/{account_id}"), None, None)
            .await
    }

    /// `ramObjects` of the account's dump: how many RAM objects are left.
    pub async fn ram_objects(&self, account_id: &str) -> u64 {
        let dump = self.dump(account_id).await;
        dump["ramObjects"]
            .as_u64()
            .unwrap_or_else(|| panic!("no ramObjects in the dump of {account_id}: {dump}"))
    }

    /// `ram.<kind>` of the account's dump (`users`: the user names left, `accessKeys`: a count...).
    pub async fn ram(&self, account_id: &str, kind: &str) -> Value {
        self.dump(account_id).await["ram"][kind].clone()
    }

    /// Like [`Self::dump`] but `None` on 404 (unknown account).
    pub async fn try_dump(&self, account_id: &str) -> Option<Value> {
        let path = format!("/__emulator/accounts/{account_id}");
        let (st, b) = self.request("GET", &path, None, None).await;
        match st {
            404 => None,
            200 => Some(serde_json::from_slice(&b).expect("dump is JSON")),
            _ => panic!("GET {path} -> {st}: {}", String::from_utf8_lossy(&b)),
        }
    }

    /// `GET /__emulator/calls`: the call counters / log.
    pub async fn calls(&self) -> Value {
        self.expect_json("GET", "/__emulator/calls", None, None).await
    }

    /// `DELETE /__emulator/calls`: every counter back to zero, and the clock of `firstMutationMs`
    /// restarts (to count one phase of a run alone).
    pub async fn reset_calls(&self) {
        self.expect_json("DELETE", "/__emulator/calls", None, None).await;
    }

    /// The emulator's process id (`None` while killed), to read its CPU time or memory in /proc.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `PUT /__emulator/faults` with a JSON body; returns the JSON answer (Null when empty).
    pub async fn put_faults(&self, faults: &Value) -> Value {
        let body = serde_json::to_vec(faults).expect("faults to JSON");
        self.expect_json("PUT", "/__emulator/faults", Some(body), Some("application/json"))
            .await
    }

    /// `PUT /__emulator/limits` with a JSON body (`{"qpsPerAccountAction": 5}`).
    pub async fn put_limits(&self, limits: &Value) -> Value {
        let body = serde_json::to_vec(limits).expect("limits to JSON");
        self.expect_json("PUT", "/__emulator/limits", Some(body), Some("application/json"))
            .await
    }

    /// `POST /__emulator/clock/advance?seconds=N`: moves the emulator clock (asynchronous
    /// deletion / pre-check / SLR tasks progress) without sleeping.
    pub async fn advance_clock(&self, secs: u64) -> Value {
        self.expect_json(
            "POST",
            &format!("/__emulator/clock/advance?seconds={secs}"),
            None,
            None,
        )
        .await
    }

    /// `PUT /__emulator/seed`: replaces the whole world with this seed (resets the clock).
    pub async fn put_seed(&self, yaml: &str) -> Value {
        self.expect_json(
            "PUT",
            "/__emulator/seed",
            Some(yaml.as_bytes().to_vec()),
            Some("application/yaml"),
        )
        .await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- aliyun-emulator log tail ({}):\n{}",
                self.log.display(),
                tail(&self.log, 40)
            );
        }
        self.kill();
    }
}
