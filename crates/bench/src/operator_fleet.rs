//! The fleet row run the way users run it, on the test kit's clusters: the operator image
//! installed with the Helm chart on a one-node Kubernetes cluster ([`KubeNode`]: etcd,
//! kube-apiserver, controller-manager, scheduler, containerd, kubelet; the pod with hostNetwork),
//! or with `--fleet-operator-process` the release binary ([`Operator`]) beside etcd +
//! kube-apiserver ([`KubeCluster`]), with one `AccountDeletion` object per member account. Each
//! object is planned (mode Plan), then approved by its plan hash and switched to mode Delete
//! ([`shapes::approval`]); the row times from the approval until every object reports phase
//! Deleted, and reads the operator's peak RSS and CPU from /proc (the container's process is a
//! host process).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use account_deletion_operator::crd::{AccountDeletion, Mode, Phase};
use ado_testkit::image::operator_image;
use ado_testkit::{Emulator, KubeCluster, KubeNode, Operator, deletion, helm, pods, procs};

use super::counts::{CallTotals, first_deletions, fleet_bound, object_counts};
use super::shapes::{self, Scenario, account_id, deletion_spec, display_name, seed};
use super::{Args, BoxErr, MGMT_KEY_ID, MGMT_KEY_SECRET, Row, floor, usage};

const NAMESPACE: &str = "bench";
/// The chart's release, its namespace and its Deployment.
const RELEASE: &str = "ado";
const RELEASE_NAMESPACE: &str = "ado-system";
const DEPLOYMENT: &str = "ado-account-deletion-operator";
/// The operator's program in its image (`/usr/local/bin/account-deletion-operator`).
const PROGRAM: &str = "account-deletion-operator";

/// How the operator runs.
enum Running {
    /// The release binary as a child process.
    Process(Operator),
    /// The Helm release's pod; `pid` is its container's process, seen from the host.
    Pod { pid: u32, logs: std::path::PathBuf },
}

impl Running {
    /// The host PID of the operator.
    fn pid(&self) -> u32 {
        match self {
            Running::Process(op) => op.pid(),
            Running::Pod { pid, .. } => *pid,
        }
    }

    /// An error when the operator has exited (the log to read is in the message).
    fn check(&mut self) -> Result<(), BoxErr> {
        let gone = match self {
            Running::Process(op) => {
                (!op.is_running()).then(|| format!("the operator exited; see {}", op.log_path().display()))
            }
            Running::Pod { pid, logs } => (!procs::alive(*pid)).then(|| {
                format!(
                    "the operator container (pid {pid}) exited; its logs are under {}",
                    logs.display()
                )
            }),
        };
        gone.map_or(Ok(()), |why| Err(why.into()))
    }
}

/// `helm install` of the chart on the node with the fleet's settings, then the rollout; the
/// operator container's host PID.
async fn install_pod(
    node: &KubeNode,
    emu: &Emulator,
    args: &Args,
    in_flight: usize,
) -> Result<Running, BoxErr> {
    let image = tokio::task::spawn_blocking(operator_image).await?;
    node.import_image(&image.archive);
    let values = json!({
        "image": {"repository": image.repository(), "tag": image.tag(), "pullPolicy": "Never"},
        "hostNetwork": true,
        "kubernetesApiOverride": {"host": "127.0.0.1", "port": node.api_port()},
        "metrics": {"port": ado_testkit::free_listen_port("127.0.0.1")},
        "watchNamespaces": [NAMESPACE],
        "logging": {"format": "json"},
        // Measured, not throttled: the chart's default limits (500m CPU) would cap the row.
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "concurrency": {"objects": in_flight, "perAccount": args.concurrency},
        "rateLimits": {"globalQps": args.fleet_global_qps, "accountQps": args.rate},
        "timing": {"pollSeconds": 1},
        "allowedEndpoints": [emu.url()],
        "extraArgs": args.fleet_operator_arg,
    });
    helm::install(node.kubeconfig(), RELEASE, RELEASE_NAMESPACE, &values);
    pods::wait_rollout(
        &node.client(),
        RELEASE_NAMESPACE,
        DEPLOYMENT,
        RELEASE,
        &image.reference,
        1,
        Duration::from_secs(300),
    )
    .await;
    let pids = node.container_pids_running(PROGRAM);
    let pid = *pids
        .first()
        .ok_or("the operator pod is ready but no container process runs the operator")?;
    eprintln!(
        "bench: operator pod Available (container pid {pid}, image {})",
        image.reference
    );
    Ok(Running::Pod {
        pid,
        logs: node.pod_logs_dir(0),
    })
}

/// The operator binary with the fleet's settings, beside the API server.
fn start_process(k: &KubeCluster, args: &Args, in_flight: usize) -> Running {
    let (in_flight, qps, rate, conc) = (
        in_flight.to_string(),
        args.fleet_global_qps.to_string(),
        args.rate.to_string(),
        args.concurrency.to_string(),
    );
    let mut argv: Vec<&str> = vec![
        "--concurrency",
        &in_flight,
        "--global-qps",
        &qps,
        "--account-qps",
        &rate,
        "--account-concurrency",
        &conc,
        "--poll-seconds",
        "1",
        "--log-format",
        "json",
    ];
    argv.extend(args.fleet_operator_arg.iter().map(String::as_str));
    // The emulator this process started is the one allowed endpoint (the kit's default).
    Running::Process(Operator::watching_with(k.kubeconfig(), NAMESPACE, &argv, &[]))
}

/// Runs the fleet through the operator and returns its row.
pub async fn run(args: &Args, in_flight: usize) -> Result<Row, BoxErr> {
    let n = args.fleet_accounts;
    let emu = Emulator::start(&seed(Scenario::Fleet, n, false).to_string(), &[]).await;
    emu.put_limits(&json!({"qpsPerAccount": args.rate})).await;
    let as_pod = !args.fleet_operator_process;
    // One of the two clusters; the operator is stopped before it (declared later, dropped first).
    let node: KubeNode;
    let cluster: KubeCluster;
    let (k, mut op): (&KubeCluster, Running) = if as_pod {
        node = KubeNode::start().await;
        node.create_namespace(NAMESPACE).await;
        node.create_credentials_secret(NAMESPACE, "mgmt", MGMT_KEY_ID, MGMT_KEY_SECRET)
            .await;
        let op = install_pod(&node, &emu, args, in_flight).await?;
        // The chart installs the CRDs: served before the first object.
        node.wait_crd_established("accountdeletions.accountdeletion.dev")
            .await;
        (&node, op)
    } else {
        // Both CRDs (AccountDeletion, AccountClaim), the namespace and the Secret `mgmt`.
        cluster = KubeCluster::start_with_credentials(&[NAMESPACE], MGMT_KEY_ID, MGMT_KEY_SECRET).await;
        let op = start_process(&cluster, args, in_flight);
        (&cluster, op)
    };
    let pid = op.pid();

    for i in 0..n {
        deletion::create(
            k,
            NAMESPACE,
            &display_name(i),
            deletion_spec(i, emu.url(), Mode::Plan),
        )
        .await;
    }

    // Plans: every object Planned with its pre-check complete.
    eprintln!("bench: {n} AccountDeletion objects created; waiting for their plans ...");
    let api = k.deletions(NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(1800);
    let planned = loop {
        op.check()?;
        let list = api.list(&ListParams::default()).await?.items;
        let ready = list
            .iter()
            .filter(|o| o.status.as_ref().is_some_and(shapes::planned))
            .count();
        if ready == n {
            break list;
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready} of {n} objects planned after 30 min").into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // Approve every plan and switch to mode Delete; time from here.
    let accounts: Vec<String> = (0..n).map(account_id).collect();
    let before = object_counts(&emu, &accounts).await;
    let mut discovery_floor = 0;
    for a in &accounts {
        discovery_floor += floor::discovery_floor(&emu.dump(a).await);
    }
    emu.reset_calls().await;
    let emu_cpu0 = usage::cpu_seconds(emu.pid());
    let t0 = Instant::now();
    for o in &planned {
        let patch = o
            .status
            .as_ref()
            .and_then(shapes::approval)
            .ok_or("no plan to approve")?;
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
        op.check()?;
        let list: Vec<AccountDeletion> = api.list(&ListParams::default()).await?.items;
        deleted_objects = 0;
        for o in &list {
            let name = o.metadata.name.clone().unwrap_or_default();
            let st = o.status.as_ref();
            deleted_objects += st.map_or(0, |s| s.deleted.values().sum::<u64>());
            match st.and_then(|s| s.phase) {
                Some(Phase::Deleted) => {
                    finished.entry(name).or_insert_with(|| t0.elapsed().as_secs_f64());
                }
                Some(p @ (Phase::Blocked | Phase::Failed)) => {
                    let msg = st.and_then(|s| s.message.clone()).unwrap_or_default();
                    stuck.insert(name, format!("{p:?}: {msg}"));
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
    let rss_kib = usage::peak_rss_kib(pid);
    let cpu = usage::cpu_seconds(Some(pid));
    let emu_cpu = usage::cpu_seconds(emu.pid()) - emu_cpu0;
    drop(op);
    let calls = emu.calls().await;
    let after = object_counts(&emu, &accounts).await;
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
    let how = if as_pod {
        "the operator in a pod (the kit's image, Helm chart, one node)"
    } else {
        "the operator binary as a process"
    };
    let mut extra = format!(
        "{how}; {:.0} calls/s achieved; emulator CPU {emu_cpu:.1}s; {n} AccountDeletion objects, operator --concurrency {in_flight}; \
         {} Deleted; first {first:.1}s, last {last:.1}s after approval, spread {:.1}s",
        total as f64 / wall.max(1e-9),
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
