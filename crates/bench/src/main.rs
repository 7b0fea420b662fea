//! `bench`: how long emptying a member account takes against the emulator, compared with the bound
//! the API's rate limit or latency allows and with a sequential script using the official SDK.
//!
//! `cargo run --release --bin bench -- --scenario S|M|L|XL|quota|fleet --regime latency|rate`; no
//! arguments runs every row. Each row generates a seed, starts the emulator on loopback (the test
//! kit's [`Emulator`]), and drives the operator's own pass (`controller::pass::run`: inventory,
//! plan, dependency-graph executor, rate limiter) in a child process (`bench --worker`), so its
//! peak RSS and CPU time are the operator's alone. The emulator's counters give the call numbers.
//! The Fleet/Operator row runs the operator itself on the kit's clusters (`operator_fleet`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures::FutureExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use ado_aliyun::client::{AliyunClient, DEFAULT_ACCESS_ROLE};
use ado_aliyun::credentials::Credentials;
use ado_aliyun::product::Product;
use ado_core::{Kind, PlanOptions};
use ado_testkit::Emulator;

use counts::{CallTotals, first_deletions, fleet_bound, object_counts, u};
use shapes::{Scenario, account_id, seed};
use table::Row;

mod counts;
mod floor;
mod operator_fleet;
mod shapes;
mod table;
mod usage;
mod worker;

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
    /// Accounts worked on at once in the fleet rows (the operator's --concurrency). Default: all
    /// of them, in both rows, so every account makes progress from the start and the global
    /// budget is shared fairly until the end.
    #[arg(long)]
    fleet_in_flight: Option<usize>,
    /// Run Fleet/Operator with the operator binary as a process beside etcd + kube-apiserver
    /// instead of as a pod (the image, the Helm chart) on a one-node cluster.
    #[arg(long)]
    fleet_operator_process: bool,
    /// Skip the Fleet/Rate row (the fleet's plans without Kubernetes) and run Fleet/Operator only.
    #[arg(long)]
    fleet_operator_only: bool,
    /// An extra argument for the Fleet/Operator operator (repeatable, e.g.
    /// `--fleet-operator-arg=--audit-chunk-bytes=8192`): the chart's `extraArgs`, or the process's.
    #[arg(long, allow_hyphen_values = true)]
    fleet_operator_arg: Vec<String>,
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
    /// Internal: drive the operator's pass over the first `--accounts` members and print JSON.
    #[arg(long, hide = true)]
    worker: bool,
    /// Internal (worker): emulator URL.
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    /// Internal (worker): how many members (`shapes::account_id(0..N)`).
    #[arg(long, hide = true, default_value_t = 1)]
    accounts: usize,
    /// Internal (worker): client-side per-account budget (0 = none).
    #[arg(long, hide = true, default_value_t = 0.0)]
    account_qps: f64,
    /// Internal (worker): client-side global budget (0 = none).
    #[arg(long, hide = true, default_value_t = 0.0)]
    global_qps: f64,
    /// Internal (worker): accounts worked on at once (0 = all).
    #[arg(long, hide = true, default_value_t = 0)]
    in_flight: usize,
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    ado_testkit::ensure_crypto();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = if args.worker {
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

/// A client signed in to `account` through its access role, with the management key, unpaced.
async fn member_client(emu: &Emulator, account: &str, session: &str) -> Result<AliyunClient, BoxErr> {
    let config =
        account_deletion_operator::controller::aliyun_directory::client_config(Some(emu.url()), None)?;
    let mgmt = AliyunClient::new(config, Credentials::new(MGMT_KEY_ID, MGMT_KEY_SECRET))?;
    Ok(mgmt.member(account, DEFAULT_ACCESS_ROLE, session).await?)
}

/// The longest chain of dependent calls in `account`'s plan, for the latency floor: an inventory
/// and a plan made by the parent before the run (read-only; before any fault is set and before the
/// counters are reset, so the row does not see them).
async fn dependency_depth(emu: &Emulator, account: &str) -> Result<usize, BoxErr> {
    let member = member_client(emu, account, "bench-depth").await?;
    let kinds: std::collections::BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    let inv = ado_core::discover(&member, &kinds, account).await?;
    Ok(floor::plan_depth(&ado_core::build(
        &inv,
        &PlanOptions::default(),
    )?))
}

/// Later looks at an emptied account: the cheap convergence check (`controller::converge`) and a
/// full inventory, each counted by the emulator. Returns the two call counts.
async fn convergence_calls(emu: &Emulator, account: &str) -> Result<(u64, u64), BoxErr> {
    use account_deletion_operator::controller::converge;
    let member = member_client(emu, account, "bench-converge").await?;
    let kinds: std::collections::BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    emu.reset_calls().await;
    let inv = ado_core::discover(&member, &kinds, account).await?;
    let full = u(&emu.calls().await, "total");
    let kept: BTreeMap<String, u64> = inv
        .counts()
        .into_iter()
        .map(|(k, n)| (k.as_str().to_string(), n as u64))
        .collect();
    let opts = PlanOptions::default();
    emu.reset_calls().await;
    let empty = converge::still_empty(&member, &kept, &opts, account).await?;
    let cheap = u(&emu.calls().await, "total");
    if !empty {
        return Err("the convergence check did not find the emptied account unchanged".into());
    }
    Ok((cheap, full))
}

/// Runs `bench --worker` on the emulator: it plans, says `{"planned":N}`, and waits for `go`;
/// meanwhile the emulator's counters are reset. Returns the worker's report, the emulator's
/// counters and its CPU seconds, both of the measured phase only.
async fn run_worker(emu: &Emulator, flags: &[(&str, String)]) -> Result<(Value, Value, f64), BoxErr> {
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("--worker").args(["--endpoint", emu.url()]);
    for (flag, value) in flags {
        cmd.arg(flag).arg(value);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().ok_or("no worker stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line).await?;
    let planned: Value = serde_json::from_str(&line)
        .map_err(|e| format!("the worker said {line:?} instead of its plans ({e})"))?;
    eprintln!("  worker: {planned}");
    emu.reset_calls().await;
    let emu_cpu0 = usage::cpu_seconds(emu.pid());
    let mut stdin = child.stdin.take().ok_or("no worker stdin")?;
    stdin.write_all(b"go\n").await?;
    stdin.flush().await?;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await?;
    let status = child.wait().await?;
    if !status.success() {
        return Err(format!("worker failed ({status})").into());
    }
    let w: Value = serde_json::from_str(&rest)?;
    let calls = emu.calls().await;
    Ok((w, calls, usage::cpu_seconds(emu.pid()) - emu_cpu0))
}

async fn run_row(args: &Args, scn: Scenario, regime: Regime) -> Result<(Row, Value), BoxErr> {
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
    let emu = Emulator::start(&seed(scn, n, false).to_string(), &[]).await;
    let quotas = if scn == Scenario::Quota {
        vec![parse_quota(&args.quota_list)?, parse_quota(&args.quota_delete)?]
    } else {
        Vec::new()
    };
    let accounts: Vec<String> = (0..n).map(account_id).collect();
    // Every account of a row has the same shape: the first one's depth stands for all.
    let depth = match regime {
        Regime::Latency => dependency_depth(&emu, &accounts[0]).await?,
        Regime::Rate => 0,
    };
    match regime {
        Regime::Latency => {
            emu.put_faults(&json!({"latencyMs": args.latency_ms})).await;
        }
        Regime::Rate => {
            let q: serde_json::Map<String, Value> = quotas
                .iter()
                .map(|(l, _, w)| (l.clone(), Value::String(w.clone())))
                .collect();
            emu.put_limits(&json!({"qpsPerAccount": rate, "quotas": q})).await;
        }
    }
    let before = object_counts(&emu, &accounts).await;
    let mut discovery_floor = 0;
    for a in &accounts {
        discovery_floor += floor::discovery_floor(&emu.dump(a).await);
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
    let t0 = Instant::now();
    let (w, calls, emu_cpu) = run_worker(
        &emu,
        &[
            ("--accounts", n.to_string()),
            ("--concurrency", args.concurrency.to_string()),
            ("--account-qps", account_qps.to_string()),
            ("--global-qps", global_qps.to_string()),
            ("--in-flight", in_flight.to_string()),
        ],
    )
    .await?;
    let outer_wall = t0.elapsed().as_secs_f64();
    let all_objects = before.saturating_sub(object_counts(&emu, &accounts).await);
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
async fn baseline(args: &Args, scn: Scenario) -> Result<(f64, String), BoxErr> {
    let tenth = matches!(scn, Scenario::M | Scenario::L | Scenario::Xl) && !args.baseline_full;
    // S is M/10 (same shape); L/10 and XL/10 have their own generators.
    let shape = if tenth && scn == Scenario::M {
        Scenario::S
    } else {
        scn
    };
    let emu = Emulator::start(&seed(shape, 1, tenth).to_string(), &[]).await;
    emu.put_faults(&json!({"latencyMs": args.latency_ms})).await;
    emu.reset_calls().await;
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
        .args(["--endpoint", emu.url()])
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
    let calls = emu.calls().await;
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
async fn emulator_throughput() -> Result<(f64, u64), BoxErr> {
    let emu = Emulator::start(&seed(Scenario::S, 1, false).to_string(), &[]).await;
    let member = member_client(&emu, &account_id(0), "bench-throughput").await?;
    emu.reset_calls().await;
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

/// The project's binaries next to this one, each built first when `cargo run --bin bench` did not
/// build it (cargo builds only the binary it runs); then the test kit starts them from there.
fn use_binaries(names: &[&str]) -> Result<(), BoxErr> {
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or("the bench binary has no directory")?;
    for name in names {
        if dir.join(name).exists() {
            continue;
        }
        eprintln!("bench: building {name} ...");
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.current_dir(ado_testkit::REPO_ROOT);
        cargo.args(["build", "--bin", name]);
        if dir.file_name().is_some_and(|d| d == "release") {
            cargo.arg("--release");
        }
        if !cargo.status()?.success() {
            return Err(format!("cargo build --bin {name} failed").into());
        }
    }
    ado_testkit::set_bin_dir(dir);
    Ok(())
}

/// `fut`, with a panic (the test kit panics on what it cannot do) as an error: one row fails, the
/// others still run.
async fn caught<T>(fut: impl Future<Output = Result<T, BoxErr>>) -> Result<T, BoxErr> {
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "panicked".into())
            .into()),
    }
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
    let mut binaries = vec!["aliyun-emulator"];
    if scenarios.contains(&Scenario::Fleet) && args.fleet_operator_process {
        binaries.push("account-deletion-operator");
    }
    use_binaries(&binaries)?;
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
    match caught(emulator_throughput()).await {
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
            let skip = scn == Scenario::Fleet && regime == Regime::Rate && args.fleet_operator_only;
            if skip {
                eprintln!("bench: {scn:?}/{regime:?} skipped (--fleet-operator-only)");
            } else {
                eprintln!("bench: running {scn:?}/{regime:?} ...");
            }
            let _ = std::io::stderr().flush();
            let result = if skip {
                None
            } else {
                Some(caught(run_row(args, scn, regime)).await)
            };
            match result {
                None => {}
                Some(Ok((row, _))) => {
                    if regime == Regime::Latency && scn != Scenario::Fleet && !args.no_baseline {
                        eprintln!("bench: running the SDK baseline for {scn:?} ...");
                        match caught(baseline(args, scn)).await {
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
                Some(Err(e)) => eprintln!("bench: {scn:?}/{regime:?} failed: {e}"),
            }
            if scn == Scenario::Fleet && regime == Regime::Rate {
                eprintln!(
                    "bench: running Fleet/Operator (the operator {}, AccountDeletion objects) ...",
                    if args.fleet_operator_process {
                        "as a process beside etcd + kube-apiserver"
                    } else {
                        "in a pod on a one-node cluster"
                    }
                );
                // Like Fleet/Rate: every account at once (operator --concurrency), unless asked.
                let in_flight = args
                    .fleet_in_flight
                    .unwrap_or(args.fleet_accounts)
                    .clamp(1, args.fleet_accounts.max(1));
                match caught(operator_fleet::run(args, in_flight)).await {
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
    Ok(())
}
