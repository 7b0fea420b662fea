//! `bench`: how long emptying a member account takes against the emulator, compared with the bound
//! the API's rate limit or latency allows and with a sequential script using the official SDK.
//!
//! `cargo run --release --bin bench -- --scenario S|M|L|XL|quota|fleet --regime latency|rate`; no
//! arguments runs every row. Each row generates a seed, starts the emulator on loopback, and runs the
//! operator's own deletion code (inventory, plan, dependency-graph executor, rate limiter: what
//! `controller::pass` runs) in a child process (`bench --worker`), so its peak RSS and CPU time are
//! the operator's alone. The emulator's counters give the call numbers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use ado_aliyun::client::{AliyunClient, DEFAULT_ACCESS_ROLE};
use ado_aliyun::credentials::Credentials;
use ado_aliyun::product::Product;
use ado_core::{Kind, PlanOptions};

use shapes::{Scenario, account_id, seed};
use table::Row;

mod fleet_cluster;
mod floor;
mod operator_fleet;
mod shapes;
mod table;
mod worker;

use worker::proc_cpu_seconds;

const MGMT_ACCOUNT: &str = "1000000000000001";
const MGMT_KEY_ID: &str = "LTAI5tBenchMgmtKey000001";
const MGMT_KEY_SECRET: &str = "bench-secret-not-a-real-one";

/// What bounds the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Regime {
    /// Injected latency per call, no rate limit.
    Latency,
    /// A per-account rate limit, no latency.
    Rate,
}

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Benchmark of the account-deletion-operator against the emulator"
)]
struct Args {
    /// One scenario (default: all).
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// One regime (default: both).
    #[arg(long, value_enum)]
    regime: Option<Regime>,
    /// Injected latency per call in the latency regime, ms.
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Per-account limit of the emulator in the rate regime, requests/s.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Per-account limit of the XL rows' rate regime, requests/s (at 50/s XL alone takes ~25 min).
    #[arg(long, default_value_t = 200)]
    xl_rate: u32,
    /// The Quota row's hot listing and its own quota (`product:Action=count/seconds`).
    #[arg(long, default_value = "ram:ListAccessKeys=10/1s")]
    quota_list: String,
    /// The Quota row's hot delete and its own quota.
    #[arg(long, default_value = "ram:DeleteAccessKey=20/1s")]
    quota_delete: String,
    /// Calls in flight per account (the operator's --account-concurrency).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Accounts in the fleet row.
    #[arg(long, default_value_t = 100)]
    fleet_accounts: usize,
    /// Global budget of the fleet row, requests/s (the operator's --global-qps).
    #[arg(long, default_value_t = 2000.0)]
    fleet_global_qps: f64,
    /// Accounts worked on at once in the fleet rows (the operator's --concurrency). Default for
    /// Fleet/Rate: all of them, so every account makes progress from the start and the global
    /// budget is shared fairly until the end; for Fleet/Operator: global budget / per-account
    /// limit (2000/50 = 40), the operator's own guidance.
    #[arg(long)]
    fleet_in_flight: Option<usize>,
    /// Run Fleet/Operator with the operator binary as a process beside etcd + kube-apiserver
    /// instead of as a pod (the image, the Helm chart) on a one-node cluster.
    #[arg(long)]
    fleet_operator_process: bool,
    /// Skip the sequential SDK baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Run the baseline on the full M and L seeds (default: on M/10 and L/10, same shape, times 10:
    /// the sequential script's time is linear in the number of objects).
    #[arg(long)]
    baseline_full: bool,
    /// Also print the emulator's calls by action for every row.
    #[arg(long)]
    show_calls: bool,
    /// Python interpreter with the Alibaba SDK.
    #[arg(long, env = "BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Internal: run the operator's deletion code on these accounts and print JSON.
    #[arg(long, hide = true)]
    worker: bool,
    /// Internal (worker): emulator URL.
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    /// Internal (worker): member account ids, comma-separated.
    #[arg(long, hide = true, value_delimiter = ',')]
    accounts: Vec<String>,
    /// Internal (worker): client-side per-account budget (0 = none).
    #[arg(long, hide = true, default_value_t = 0.0)]
    account_qps: f64,
    /// Internal (worker): client-side global budget (0 = none).
    #[arg(long, hide = true, default_value_t = 0.0)]
    global_qps: f64,
    /// Internal (worker): accounts worked on at once (0 = all).
    #[arg(long, hide = true, default_value_t = 0)]
    in_flight: usize,
    /// Internal: serve the emulator in this process (when target/release/aliyun-emulator is absent).
    #[arg(long, hide = true)]
    serve_emulator: Option<PathBuf>,
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = if let Some(seed) = &args.serve_emulator {
        rt.block_on(serve_emulator(seed))
    } else if args.worker {
        rt.block_on(worker::worker(&args))
    } else {
        rt.block_on(orchestrate(&args))
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_emulator(seed: &Path) -> Result<(), BoxErr> {
    use ado_emulator::server::{Opts, serve};
    let opts = Opts::parse_from([
        "aliyun-emulator",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        &seed.display().to_string(),
    ]);
    serve(opts).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------- orchestrator

struct Emulator {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Emulator {
    async fn start(seed_path: &Path) -> Result<Emulator, BoxErr> {
        let exe = std::env::current_exe()?;
        let emu = exe.with_file_name("aliyun-emulator");
        let mut cmd = if emu.exists() {
            let mut c = Command::new(emu);
            c.args(["--listen", "127.0.0.1:0", "--seed"]).arg(seed_path);
            c
        } else {
            let mut c = Command::new(exe);
            c.arg("--serve-emulator").arg(seed_path);
            c
        };
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let out = child.stdout.take().ok_or("no emulator stdout")?;
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("emulator said {line:?}"))?
            .to_string();
        Ok(Emulator {
            child,
            url,
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }

    async fn put(&self, path: &str, body: Value) -> Result<(), BoxErr> {
        let r = self
            .http
            .put(format!("{}/__emulator/{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(format!("PUT {path}: {} {}", r.status(), r.text().await?).into());
        }
        Ok(())
    }

    async fn calls(&self) -> Result<Value, BoxErr> {
        let r = self
            .http
            .get(format!("{}/__emulator/calls", self.url))
            .send()
            .await?;
        Ok(serde_json::from_str(&r.text().await?)?)
    }

    /// Objects in these accounts as the emulator's dump counts them (see `Row::all_objects`).
    async fn object_counts(&self, accounts: &[String]) -> Result<u64, BoxErr> {
        let mut sum = 0u64;
        for a in accounts {
            let url = format!("{}/__emulator/accounts/{a}", self.url);
            let r = self.http.get(url).send().await?.error_for_status()?;
            let v: Value = serde_json::from_str(&r.text().await?)?;
            let ram = v.get("ram").unwrap_or(&v);
            let len = |k: &str| ram.get(k).and_then(Value::as_array).map_or(0, |x| x.len() as u64);
            sum += [
                "users",
                "groups",
                "roles",
                "serviceLinkedRoles",
                "policies",
                "virtualMfaDevices",
                "samlProviders",
                "oidcProviders",
            ]
            .iter()
            .map(|k| len(k))
            .sum::<u64>();
            sum += u(ram, "accessKeys") + u(ram, "loginProfiles");
            sum += u(ram, "policyVersions").saturating_sub(len("policies"));
        }
        Ok(sum)
    }

    /// `GET /__emulator/accounts/{id}`.
    async fn dump(&self, account: &str) -> Result<Value, BoxErr> {
        let url = format!("{}/__emulator/accounts/{account}", self.url);
        let r = self.http.get(url).send().await?.error_for_status()?;
        Ok(serde_json::from_str(&r.text().await?)?)
    }

    async fn reset_calls(&self) -> Result<(), BoxErr> {
        self.http
            .delete(format!("{}/__emulator/calls", self.url))
            .send()
            .await?;
        Ok(())
    }
}

impl Emulator {
    /// CPU seconds (user + system) the emulator process used so far.
    fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a row reports from the emulator's counters (`GET /__emulator/calls`).
struct CallTotals {
    total: u64,
    mutating: u64,
    discovery: u64,
    throttled_pct: f64,
}

impl CallTotals {
    fn of(calls: &Value) -> CallTotals {
        let totals = calls.get("totals").cloned().unwrap_or(Value::Null);
        let total = u(calls, "total");
        let throttled: u64 = calls
            .get("byCode")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("Throttling"))
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        CallTotals {
            total,
            mutating: u(&totals, "mutating"),
            discovery: u(&totals, "read"),
            throttled_pct: if total > 0 {
                100.0 * throttled as f64 / total as f64
            } else {
                0.0
            },
        }
    }
}

/// A rate-bound fleet is bound by the global budget (all calls) or, when that is the looser one,
/// by each account's own limit (as for one account: its calls over the limit).
fn fleet_bound(total: u64, accounts: usize, global_qps: f64, rate: u32) -> (f64, String) {
    let global = total as f64 / global_qps;
    let per_account = total as f64 / accounts.max(1) as f64 / f64::from(rate.max(1));
    if global >= per_account {
        (global, format!("all calls/{global_qps:.0}/s"))
    } else {
        (per_account, format!("all/acct/{rate}/s"))
    }
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// `product:Action=count/seconds` → (label, calls per second).
fn parse_quota(spec: &str) -> Result<(String, f64, String), BoxErr> {
    let (label, q) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?}: write it as ram:DeleteUser=20/1s"))?;
    let (count, window) = q
        .split_once('/')
        .ok_or_else(|| format!("{spec:?}: no /seconds"))?;
    let count: f64 = count.trim().parse()?;
    let secs: f64 = window.trim().trim_end_matches('s').trim().parse()?;
    Ok((label.trim().to_string(), count / secs, q.trim().to_string()))
}

/// The first successful mutating call of each account, seconds after the counters were reset:
/// (earliest, latest) over the accounts that made one.
fn first_deletions(calls: &Value) -> Option<(f64, f64, usize)> {
    let m = calls.get("firstMutationMs")?.as_object()?;
    let secs: Vec<f64> = m
        .values()
        .filter_map(Value::as_u64)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    let lo = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = secs.iter().copied().fold(0.0, f64::max);
    (!secs.is_empty()).then_some((lo, hi, secs.len()))
}

/// Later looks at an emptied account: the cheap convergence check (`controller::converge`) and a
/// full inventory, each counted by the emulator. Returns the two call counts.
async fn convergence_calls(emu: &Emulator, account: &str) -> Result<(u64, u64), BoxErr> {
    use account_deletion_operator::controller::converge;
    let config =
        account_deletion_operator::controller::aliyun_directory::client_config(Some(&emu.url), None)?;
    let mgmt = AliyunClient::new(config, Credentials::new(MGMT_KEY_ID, MGMT_KEY_SECRET))?;
    let member = mgmt
        .member(account, DEFAULT_ACCESS_ROLE, "bench-converge")
        .await?;
    let kinds: std::collections::BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    emu.reset_calls().await?;
    let inv = ado_core::discover(&member, &kinds, account).await?;
    let full = u(&emu.calls().await?, "total");
    let kept: BTreeMap<String, u64> = inv
        .counts()
        .into_iter()
        .map(|(k, n)| (k.as_str().to_string(), n as u64))
        .collect();
    let opts = PlanOptions::default();
    emu.reset_calls().await?;
    let empty = converge::still_empty(&member, &kept, &opts, account).await?;
    let cheap = u(&emu.calls().await?, "total");
    if !empty {
        return Err("the convergence check did not find the emptied account unchanged".into());
    }
    Ok((cheap, full))
}

async fn run_row(args: &Args, scn: Scenario, regime: Regime, dir: &Path) -> Result<(Row, Value), BoxErr> {
    let n = if scn == Scenario::Fleet {
        args.fleet_accounts
    } else {
        1
    };
    let rate = if scn == Scenario::Xl {
        args.xl_rate
    } else {
        args.rate
    };
    let seed_path = dir.join(format!("seed-{scn:?}-{regime:?}.yaml"));
    std::fs::write(&seed_path, seed(scn, n, false).to_string())?;
    let emu = Emulator::start(&seed_path).await?;
    let quotas = if scn == Scenario::Quota {
        vec![parse_quota(&args.quota_list)?, parse_quota(&args.quota_delete)?]
    } else {
        Vec::new()
    };
    match regime {
        Regime::Latency => emu.put("faults", json!({"latencyMs": args.latency_ms})).await?,
        Regime::Rate => {
            let q: serde_json::Map<String, Value> = quotas
                .iter()
                .map(|(l, _, w)| (l.clone(), Value::String(w.clone())))
                .collect();
            emu.put("limits", json!({"qpsPerAccount": rate, "quotas": q}))
                .await?;
        }
    }
    emu.reset_calls().await?;
    let accounts: Vec<String> = (0..n).map(account_id).collect();
    let before = emu.object_counts(&accounts).await?;
    let mut discovery_floor = 0;
    for a in &accounts {
        discovery_floor += floor::discovery_floor(&emu.dump(a).await?);
    }
    let (account_qps, global_qps) = match (scn, regime) {
        (Scenario::Fleet, Regime::Rate) => (f64::from(rate), args.fleet_global_qps),
        (Scenario::Fleet, Regime::Latency) => (0.0, args.fleet_global_qps),
        (_, Regime::Rate) => (f64::from(rate), 0.0),
        (_, Regime::Latency) => (0.0, 0.0),
    };
    let in_flight = match scn {
        Scenario::Fleet => args.fleet_in_flight.unwrap_or(n),
        _ => 1,
    }
    .clamp(1, n.max(1));
    emu.reset_calls().await?;
    let t0 = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .arg("--worker")
        .args(["--endpoint", &emu.url])
        .args(["--accounts", &accounts.join(",")])
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--account-qps", &account_qps.to_string()])
        .args(["--global-qps", &global_qps.to_string()])
        .args(["--in-flight", &in_flight.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    let outer_wall = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("worker failed ({})", out.status).into());
    }
    let w: Value = serde_json::from_slice(&out.stdout)?;
    let calls = emu.calls().await?;
    let all_objects = before.saturating_sub(emu.object_counts(&accounts).await?);
    let emu_cpu = emu.cpu_seconds();
    if args.show_calls {
        eprintln!(
            "  {scn:?}/{regime:?} calls by action: {}",
            calls.get("byAction").cloned().unwrap_or(Value::Null)
        );
    }
    let CallTotals {
        total,
        mutating,
        discovery,
        throttled_pct,
    } = CallTotals::of(&calls);
    let accs = w
        .get("accounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let objects: u64 = accs.iter().map(|a| u(a, "deleted")).sum();
    let failures: u64 = accs.iter().map(|a| u(a, "failureCount")).sum();
    let depth = accs.iter().map(|a| u(a, "depth")).max().unwrap_or(0);
    let not_empty = accs
        .iter()
        .filter(|a| !a.get("empty").and_then(Value::as_bool).unwrap_or(false))
        .count();
    for a in accs
        .iter()
        .filter(|a| u(a, "failureCount") > 0 || a.get("error").is_some())
        .take(3)
    {
        eprintln!("  {scn:?}/{regime:?} account problems: {a}");
    }
    let wall = w.get("wallSeconds").and_then(Value::as_f64).unwrap_or(outer_wall);
    let lat = args.latency_ms as f64 / 1000.0;
    let by_action = |label: &str| calls.get("byAction").map_or(0, |m| u(m, label));
    let (floor, floor_note) = match (scn, regime) {
        (Scenario::Fleet, Regime::Rate) if global_qps > 0.0 => fleet_bound(total, n, global_qps, rate),
        (Scenario::Fleet, Regime::Latency) if global_qps > 0.0 => {
            let global = total as f64 / global_qps;
            let per_account = depth as f64 * lat;
            if global >= per_account {
                (global, format!("all calls/{global_qps:.0}/s"))
            } else {
                (per_account, format!("depth {depth}x{}ms", args.latency_ms))
            }
        }
        (Scenario::Quota, Regime::Rate) => {
            // Discovery, then deletion: in each, the account's limit over all its calls or a
            // hot operation over its own quota, whichever takes longer.
            let r = f64::from(rate);
            let phase = |calls: u64, hot: &(String, f64, String)| {
                (calls as f64 / r).max(by_action(&hot.0) as f64 / hot.1)
            };
            let f = phase(discovery, &quotas[0]) + phase(total - discovery, &quotas[1]);
            (f, format!("phases: max(all/{rate}, hot/quota)"))
        }
        (_, Regime::Rate) => (
            total as f64 / f64::from(rate) / n as f64,
            format!("all calls/{rate}/s"),
        ),
        (_, Regime::Latency) => {
            let conc = args.concurrency.max(1) as f64;
            let by_calls = total as f64 * lat / conc;
            let by_depth = depth as f64 * lat;
            if by_calls >= by_depth {
                (
                    by_calls,
                    format!("calls x{}ms/{}", args.latency_ms, args.concurrency),
                )
            } else {
                (by_depth, format!("depth {depth}x{}ms", args.latency_ms))
            }
        }
    };
    let mut extra = String::new();
    extra.push_str(&format!(
        "{:.0} calls/s achieved; emulator CPU {emu_cpu:.1}s ({:.0} % of one core); ",
        total as f64 / wall.max(1e-9),
        100.0 * emu_cpu / wall.max(1e-9)
    ));
    if not_empty > 0 {
        extra.push_str(&format!("{not_empty} account(s) NOT empty; "));
    }
    if n == 1
        && let Some(p) = accs
            .first()
            .and_then(|a| a.get("phases"))
            .and_then(Value::as_array)
    {
        let p: Vec<&str> = p.iter().filter_map(Value::as_str).collect();
        extra.push_str(&format!("{}; ", p.join("; ")));
    }
    for (label, qps, written) in &quotas {
        let throttled = calls.get("calls").and_then(Value::as_array).map_or(0, |c| {
            c.iter()
                .filter(|x| {
                    format!(
                        "{}:{}",
                        x["product"].as_str().unwrap_or(""),
                        x["action"].as_str().unwrap_or("")
                    ) == *label
                        && x["code"].as_str().is_some_and(|c| c.starts_with("Throttling"))
                })
                .map(|x| u(x, "count"))
                .sum::<u64>()
        });
        extra.push_str(&format!(
            "{label} quota {written}: {} calls, {throttled} throttled, alone {:.0}s; ",
            by_action(label),
            by_action(label) as f64 / qps
        ));
    }
    if scn == Scenario::Fleet {
        let finishes: Vec<f64> = accs
            .iter()
            .filter_map(|a| a.get("finishedSeconds").and_then(Value::as_f64))
            .collect();
        let first = finishes.iter().copied().fold(f64::INFINITY, f64::min);
        let last = finishes.iter().copied().fold(0.0, f64::max);
        extra.push_str(&format!(
            "{n} accounts, {in_flight} at once; first done {first:.1}s, last {last:.1}s; "
        ));
        if let Some((lo, hi, k)) = first_deletions(&calls) {
            extra.push_str(&format!(
                "first deletion of each account between {lo:.1}s and {hi:.1}s ({k} accounts); "
            ));
        }
    }
    if scn == Scenario::L && regime == Regime::Latency {
        match convergence_calls(&emu, &accounts[0]).await {
            Ok((cheap, full)) => extra.push_str(&format!(
                "each later look at the empty account: convergence check {cheap} calls instead of a full inventory's {full} ({} saved); ",
                full.saturating_sub(cheap)
            )),
            Err(e) => extra.push_str(&format!("convergence check: {e}; ")),
        }
    }
    let row = Row {
        name: format!("{}/{regime:?}", scn.label()),
        objects,
        all_objects,
        total,
        mutating,
        discovery,
        wall,
        floor,
        floor_note,
        discovery_floor,
        throttled_pct,
        rss_mib: u(&w, "peakRssKib") as f64 / 1024.0,
        cpu: w.get("cpuSeconds").and_then(Value::as_f64).unwrap_or(0.0),
        failures,
        extra,
    };
    Ok((row, calls))
}

/// The official-SDK sequential script on the same seed shape; its wall time (scaled when run on
/// L/10) and what it did.
async fn baseline(args: &Args, scn: Scenario, dir: &Path) -> Result<(f64, String), BoxErr> {
    let tenth = matches!(scn, Scenario::M | Scenario::L | Scenario::Xl) && !args.baseline_full;
    let seed_path = dir.join(format!("seed-baseline-{scn:?}.yaml"));
    // S is M/10 (same shape); L/10 and XL/10 have their own generators.
    let shape = if tenth && scn == Scenario::M {
        Scenario::S
    } else {
        scn
    };
    std::fs::write(&seed_path, seed(shape, 1, tenth).to_string())?;
    let emu = Emulator::start(&seed_path).await?;
    emu.put("faults", json!({"latencyMs": args.latency_ms})).await?;
    emu.reset_calls().await?;
    let python = match &args.python {
        Some(p) => p.clone(),
        None => {
            let home = std::env::var("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/account-deletion-operator/venv/bin/python")
        }
    };
    let script = Path::new(ado_testkit::REPO_ROOT).join("scripts/bench_baseline.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--endpoint", &emu.url])
        .args(["--account", &account_id(0)])
        .args(["--key-id", MGMT_KEY_ID])
        .env("BENCH_KEY_SECRET", MGMT_KEY_SECRET)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e} (set --python or BENCH_PYTHON)", python.display()))?;
    if !out.status.success() {
        return Err(format!("baseline script failed ({})", out.status).into());
    }
    let r: Value = serde_json::from_slice(&out.stdout)?;
    let calls = emu.calls().await?;
    let secs = r.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
    let objects = u(&r, "objects");
    let note = format!(
        "{objects} objects, {} calls, {secs:.1}s{}",
        u(&calls, "total"),
        if tenth {
            format!(" on {scn:?}/10 (same shape), x10")
        } else {
            String::new()
        }
    );
    Ok((if tenth { secs * 10.0 } else { secs }, note))
}

/// Requests/s the emulator answers on loopback with faults off: `conc` tasks calling ListUsers.
async fn emulator_throughput(dir: &Path) -> Result<(f64, u64), BoxErr> {
    let seed_path = dir.join("seed-throughput.yaml");
    std::fs::write(&seed_path, seed(Scenario::S, 1, false).to_string())?;
    let emu = Emulator::start(&seed_path).await?;
    let config =
        account_deletion_operator::controller::aliyun_directory::client_config(Some(&emu.url), None)?;
    let mgmt = AliyunClient::new(config, Credentials::new(MGMT_KEY_ID, MGMT_KEY_SECRET))?;
    let member = mgmt
        .member(&account_id(0), DEFAULT_ACCESS_ROLE, "bench-throughput")
        .await?;
    emu.reset_calls().await?;
    let conc = 64;
    let dur = Duration::from_secs(5);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let m = member.clone();
            tokio::spawn(async move {
                let mut ok = 0u64;
                while t0.elapsed() < dur {
                    let params = vec![("MaxItems".to_string(), "10".to_string())];
                    if m.call::<Value>(Product::Ram, "ListUsers", &params).await.is_ok() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((ok as f64 / secs, conc))
}

async fn orchestrate(args: &Args) -> Result<(), BoxErr> {
    let scenarios: Vec<Scenario> = match args.scenario {
        Some(s) => vec![s],
        None => vec![
            Scenario::S,
            Scenario::M,
            Scenario::L,
            Scenario::Xl,
            Scenario::Quota,
            Scenario::Fleet,
        ],
    };
    let regimes: Vec<Regime> = match args.regime {
        Some(r) => vec![r],
        None => vec![Regime::Latency, Regime::Rate],
    };
    let dir = std::env::temp_dir().join(format!("ado-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "bench: latency {} ms, per-account limit {}/s (XL {}/s), operator concurrency {} per account, fleet {} x M under a global {}/s; Quota: L with {} and {}",
        args.latency_ms,
        args.rate,
        args.xl_rate,
        args.concurrency,
        args.fleet_accounts,
        args.fleet_global_qps,
        args.quota_list,
        args.quota_delete
    );
    match emulator_throughput(&dir).await {
        Ok((rps, conc)) => println!(
            "emulator throughput (loopback, faults off, {conc} concurrent ListUsers, 5 s): {rps:.0} requests/s"
        ),
        Err(e) => println!("emulator throughput: failed: {e}"),
    }
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for &scn in &scenarios {
        for &regime in &regimes {
            // The fleet row is about the shared global budget: by default it runs in the rate
            // regime only (ask for `--scenario fleet --regime latency` explicitly).
            if scn == Scenario::Fleet && regime == Regime::Latency && args.regime.is_none() {
                continue;
            }
            // Quotas are rate limits: the Quota row has no latency regime.
            if scn == Scenario::Quota && regime == Regime::Latency {
                continue;
            }
            eprintln!("bench: running {scn:?}/{regime:?} ...");
            let _ = std::io::stderr().flush();
            match run_row(args, scn, regime, &dir).await {
                Ok((row, _)) => {
                    if regime == Regime::Latency && scn != Scenario::Fleet && !args.no_baseline {
                        eprintln!("bench: running the SDK baseline for {scn:?} ...");
                        match baseline(args, scn, &dir).await {
                            Ok((secs, note)) => ratios.push(format!(
                                "{scn:?}: sequential SDK script {secs:.1}s ({note}) vs operator {:.2}s: {:.1}x faster",
                                row.wall,
                                secs / row.wall.max(1e-9)
                            )),
                            Err(e) => ratios.push(format!("{scn:?}: baseline failed: {e}")),
                        }
                    }
                    rows.push(row);
                }
                Err(e) => eprintln!("bench: {scn:?}/{regime:?} failed: {e}"),
            }
            if scn == Scenario::Fleet && regime == Regime::Rate {
                eprintln!(
                    "bench: running Fleet/Operator (the operator in a pod on a one-node cluster, AccountDeletion objects) ..."
                );
                // The operator process pays per object in flight (status and audit writes through
                // the API server, a pass's state): by default it works on as many objects as the
                // global budget can feed at the per-account limit (2000/50 = 40).
                let in_flight = args
                    .fleet_in_flight
                    .unwrap_or_else(|| (args.fleet_global_qps / f64::from(args.rate.max(1))).ceil() as usize)
                    .clamp(1, args.fleet_accounts.max(1));
                match operator_fleet::run(args, &dir, in_flight).await {
                    Ok(row) => rows.push(row),
                    Err(e) => eprintln!("bench: Fleet/Operator failed: {e}"),
                }
            }
        }
    }
    table::print(&rows);
    if !ratios.is_empty() {
        println!("\nBaseline (official Python SDK, sequential, latency regime):");
        for r in &ratios {
            println!("  {r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
