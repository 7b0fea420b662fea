//! The fleet row run the way users run it: the operator image installed with the Helm chart on a
//! one-node Kubernetes cluster (`scripts/node-up.sh`: etcd, kube-apiserver, controller-manager,
//! scheduler, containerd, kubelet; the pod with hostNetwork), or with `--fleet-operator-process`
//! the release binary beside etcd + kube-apiserver (`scripts/kube-up.sh`), with one
//! `AccountDeletion` object per member account. Each object is planned (mode Plan), then approved
//! by its plan hash and switched to mode Delete; the row times from the approval until every
//! object reports phase Deleted, and reads the operator's peak RSS and CPU from /proc (the
//! container's process is a host process).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt};
use serde_json::json;

use account_deletion_operator::crd::AccountDeletion;

use super::fleet_cluster::{self, Cluster, Operator};
use super::{
    Args, BoxErr, CallTotals, Emulator, MGMT_KEY_ID, MGMT_KEY_SECRET, Row, Scenario, account_id,
    first_deletions, fleet_bound, proc_cpu_seconds, seed,
};

const NAMESPACE: &str = "bench";
const SECRET: &str = "rd-management-key";

/// The operator binary next to this one, built first when `cargo run --bin bench` did not build
/// it (cargo builds only the binary it runs).
fn operator_binary() -> Result<PathBuf, BoxErr> {
    let me = std::env::current_exe()?;
    let exe = me.with_file_name("account-deletion-operator");
    if !exe.exists() {
        eprintln!("bench: building the operator binary ...");
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.current_dir(ado_testkit::REPO_ROOT);
        cargo.args(["build", "--bin", "account-deletion-operator"]);
        if me
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release")
        {
            cargo.arg("--release");
        }
        if !cargo.status()?.success() {
            return Err("cargo build --bin account-deletion-operator failed".into());
        }
    }
    Ok(exe)
}

/// `VmHWM` of a process in KiB (0 when unreadable).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn phase(o: &AccountDeletion) -> Option<String> {
    o.status.as_ref().and_then(|s| s.phase).map(|p| format!("{p:?}"))
}

/// Runs the fleet through the operator and returns its row.
pub async fn run(args: &Args, dir: &Path, in_flight: usize) -> Result<Row, BoxErr> {
    let n = args.fleet_accounts;
    let seed_path = dir.join("seed-fleet-operator.yaml");
    std::fs::write(&seed_path, seed(Scenario::Fleet, n, false).to_string())?;
    let emu = Emulator::start(&seed_path).await?;
    emu.put("limits", json!({"qpsPerAccount": args.rate})).await?;
    let as_pod = !args.fleet_operator_process;
    let image = if as_pod {
        Some(fleet_cluster::operator_image(dir)?)
    } else {
        None
    };
    let cluster = match &image {
        Some((_, archive)) => Cluster::one_node(archive)?,
        None => Cluster::api_server_only()?,
    };
    let client = cluster.client()?;

    if !as_pod {
        // The chart installs the CRD in the pod variant.
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &AccountDeletion::crd())
            .await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": SECRET},
                "stringData": {"accessKeyId": MGMT_KEY_ID, "accessKeySecret": MGMT_KEY_SECRET}
            }))?,
        )
        .await?;

    let mut op = match &image {
        Some((reference, _)) => {
            let tuning = json!({
                "concurrency": {"objects": in_flight, "perAccount": args.concurrency},
                "rateLimits": {"globalQps": args.fleet_global_qps, "accountQps": args.rate},
                "timing": {"pollSeconds": 1},
                "allowedEndpoints": [emu.url],
            });
            fleet_cluster::install_pod(&cluster, reference, NAMESPACE, &tuning).await?
        }
        None => {
            let exe = operator_binary()?;
            let log = std::fs::File::create(dir.join("operator.log"))?;
            Operator::Process(
                Command::new(&exe)
                    .env("KUBECONFIG", cluster.kubeconfig())
                    .args(["run", "--namespaces", NAMESPACE, "--metrics-addr", "127.0.0.1:0"])
                    .args(["--concurrency", &in_flight.to_string()])
                    .args(["--global-qps", &args.fleet_global_qps.to_string()])
                    .args(["--account-qps", &args.rate.to_string()])
                    .args(["--account-concurrency", &args.concurrency.to_string()])
                    .args(["--poll-seconds", "1", "--log-format", "json"])
                    .args(["--allowed-endpoints", &emu.url])
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("{}: {e} (cargo build --release first)", exe.display()))?,
            )
        }
    };
    let pid = op.pid();

    // The CRD may take a moment to be served: retry the first create.
    let api: Api<AccountDeletion> = Api::namespaced(client.clone(), NAMESPACE);
    for i in 0..n {
        let obj: AccountDeletion = serde_json::from_value(json!({
            "apiVersion": "accountdeletion.dev/v1alpha1", "kind": "AccountDeletion",
            "metadata": {"name": format!("bench-{i}")},
            "spec": {"accountId": account_id(i), "accountDisplayName": format!("bench-{i}"), "mode": "Plan",
                     "credentialsSecretRef": {"name": SECRET}, "endpoint": emu.url}
        }))?;
        let mut tries = 0;
        while let Err(e) = api.create(&PostParams::default(), &obj).await {
            tries += 1;
            if tries > 50 {
                return Err(format!("creating bench-{i}: {e}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Plans: every object Planned with its pre-check complete.
    eprintln!("bench: {n} AccountDeletion objects created; waiting for their plans ...");
    let deadline = Instant::now() + Duration::from_secs(1800);
    let planned = loop {
        op.check_running(dir, &cluster)?;
        let list = api.list(&ListParams::default()).await?.items;
        let ready: Vec<&AccountDeletion> = list
            .iter()
            .filter(|o| {
                o.status.as_ref().is_some_and(|s| {
                    phase(o).as_deref() == Some("Planned")
                        && s.plan.as_ref().is_some_and(|p| !p.hash.is_empty())
                        && s.deletion_check
                            .as_ref()
                            .is_some_and(|c| c.status == "PreCheckComplete")
                })
            })
            .collect();
        if ready.len() == n {
            break list;
        }
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} objects planned after 30 min", ready.len()).into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // Approve every plan and switch to mode Delete; time from here.
    let before = emu
        .object_counts(&(0..n).map(account_id).collect::<Vec<_>>())
        .await?;
    let mut discovery_floor = 0;
    for a in (0..n).map(account_id) {
        discovery_floor += super::floor::discovery_floor(&emu.dump(&a).await?);
    }
    emu.reset_calls().await?;
    let t0 = Instant::now();
    for o in &planned {
        let st = o.status.as_ref().ok_or("no status")?;
        let hash = st.plan.as_ref().map(|p| p.hash.clone()).unwrap_or_default();
        let waive: Vec<String> = st
            .deletion_check
            .as_ref()
            .map(|c| c.abandonable.iter().map(|a| a.check_id.clone()).collect())
            .unwrap_or_default();
        let patch = json!({"spec": {"mode": "Delete", "approvedPlanHash": hash,
                                     "deletion": {"abandonableCheckIds": waive}}});
        let name = o.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    eprintln!("bench: plans approved; waiting for phase Deleted ...");

    let mut finished: BTreeMap<String, f64> = BTreeMap::new();
    let mut stuck: BTreeMap<String, String> = BTreeMap::new();
    let mut deleted_objects;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        op.check_running(dir, &cluster)?;
        let list = api.list(&ListParams::default()).await?.items;
        deleted_objects = 0;
        for o in &list {
            let name = o.metadata.name.clone().unwrap_or_default();
            let st = o.status.as_ref();
            deleted_objects += st.map_or(0, |s| s.deleted.values().sum::<u64>());
            match phase(o).as_deref() {
                Some("Deleted") => {
                    finished.entry(name).or_insert_with(|| t0.elapsed().as_secs_f64());
                }
                Some(p @ ("Blocked" | "Failed")) => {
                    let msg = st.and_then(|s| s.message.clone()).unwrap_or_default();
                    stuck.insert(name, format!("{p}: {msg}"));
                }
                _ => {
                    stuck.remove(&name);
                }
            }
        }
        if finished.len() == n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let rss_kib = peak_rss_kib(pid);
    let cpu = proc_cpu_seconds(&format!("/proc/{pid}/stat"));
    drop(op);
    let calls = emu.calls().await?;
    let after = emu
        .object_counts(&(0..n).map(account_id).collect::<Vec<_>>())
        .await?;
    for (name, why) in stuck.iter().take(3) {
        eprintln!("  Fleet/Operator {name}: {why}");
    }

    let CallTotals {
        total,
        mutating,
        discovery,
        throttled_pct,
    } = CallTotals::of(&calls);
    let (floor, floor_note) = fleet_bound(total, n, args.fleet_global_qps, args.rate);
    let first = finished.values().copied().fold(f64::INFINITY, f64::min);
    let last = finished.values().copied().fold(0.0, f64::max);
    let how = match &image {
        Some((reference, _)) => format!("the operator in a pod ({reference}, Helm chart, one node)"),
        None => "the operator binary as a process".to_string(),
    };
    let mut extra = format!(
        "{how}; {:.0} calls/s achieved; emulator CPU {:.1}s; {n} AccountDeletion objects, operator --concurrency {in_flight}; \
         {} Deleted; first {first:.1}s, last {last:.1}s after approval, spread {:.1}s",
        total as f64 / wall.max(1e-9),
        emu.cpu_seconds(),
        finished.len(),
        last - first
    );
    if let Some((lo, hi, k)) = first_deletions(&calls) {
        extra.push_str(&format!(
            "; first deletion of each account between {lo:.1}s and {hi:.1}s after approval ({k} accounts)"
        ));
    }
    if finished.len() < n {
        extra.push_str(&format!("; {} NOT Deleted", n - finished.len()));
    }
    Ok(Row {
        name: if as_pod {
            "Fleet/Operator"
        } else {
            "Fleet/Operator (process)"
        }
        .into(),
        objects: deleted_objects,
        all_objects: before.saturating_sub(after),
        total,
        mutating,
        discovery,
        wall,
        floor,
        floor_note,
        discovery_floor,
        throttled_pct,
        rss_mib: rss_kib as f64 / 1024.0,
        cpu,
        failures: (n - finished.len()) as u64,
        extra,
    })
}
