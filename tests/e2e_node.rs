//! The operator run the way users run it: the locally built image (scripts/build-image.sh)
//! installed with real Helm into a real cluster with real nodes (tests/support/node.rs: etcd,
//! kube-apiserver, controller-manager, scheduler, containerd + runc, kubelet v1.20.2), the
//! operator INSIDE a pod with in-cluster config and the chart's ServiceAccount, against the
//! emulator on the host's loopback (the pods use hostNetwork; no traffic leaves 127.0.0.0/8).
//!
//! - install: Deployment Available, the pod non-root on a read-only root filesystem, `kubectl logs`
//!   works, Plan -> approved -> Deleted; then the audit record outlives its deleted object unless
//!   the object opted out (garbage collection runs here);
//! - upgrade to another image tag with changed values in the middle of a purge;
//! - two replicas with leader election on two nodes, the leader force-deleted mid-purge;
//! - uninstall mid-purge keeps the CRD and the object and touches nothing; a re-install finishes.
//!
//! "Middle of a purge" is made real with the emulator's latency injection on the RAM delete calls.
//! Every wait is on a condition with a generous timeout; no timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::time::{Duration, Instant};

use account_deletion_operator::crd::{AccountDeletion, AccountDeletionStatus, Mode, Phase};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use support::calls::by_action;
use support::deletion::{self, pre_check_complete};
use support::image::{OperatorImage, operator_image};
use support::pods::{lease_holder, metric_sum, metrics_of, release_pods, wait_rollout};
use support::wait::assert_deletion_success;
use support::{Emulator, KubeNode, helm, wait_for, wait_status};

const RELEASE: &str = "ado";
const OP_NS: &str = "ado-system";
const DEPLOYMENT: &str = "ado-account-deletion-operator";
const NS: &str = "accounts";
const KEY_ID: &str = "LTAI5tNodeMgmtKey000001";
const KEY_SECRET: &str = "node-management-secret-0001";
const MGMT: &str = "1000000000000001";
const MEMBER: &str = "3300000000000001";
const MEMBER_2: &str = "3300000000000002";

/// At most two clusters at once in this process (each is etcd, an API server, controller-manager,
/// scheduler, containerd and kubelet): enough parallelism for a 2-core machine.
static SLOTS: Semaphore = Semaphore::const_new(2);

/// THE Helm values of these tests (one place; add keys here). `extra` is merged on top. The
/// emulator is the one endpoint the operator may send signed requests to.
fn values(
    k: &KubeNode,
    image: &OperatorImage,
    tag: &str,
    emulator_url: &str,
    metrics_port: u16,
    extra: Value,
) -> Value {
    let mut v = json!({
        "allowedEndpoints": [emulator_url],
        "image": {"repository": image.repository(), "tag": tag, "pullPolicy": "Never"},
        // No pod network on the test node: the node's network namespace, and the API server on
        // the host's loopback instead of the `kubernetes` Service's ClusterIP.
        "hostNetwork": true,
        "kubernetesApiOverride": {"host": "127.0.0.1", "port": k.api_port()},
        "metrics": {"port": metrics_port},
        "watchNamespaces": [NS],
        "logging": {"format": "text", "level": "info,account_deletion_operator=debug"},
        "timing": {"pollSeconds": 1, "errorRetrySeconds": 1, "blockedRetrySeconds": 2, "emptyConfirmSeconds": 1},
        "concurrency": {"perAccount": 1},
        "terminationGracePeriodSeconds": 15,
    });
    deletion::merge(&mut v, extra);
    v
}

fn seed(users: usize) -> String {
    let member = |id: &str, name: &str| {
        format!(
            r#"
  - accountId: "{id}"
    displayName: {name}
    ram:
      users:
        - {{ name: alice, accessKeys: [{{}}], loginProfile: true, groups: [admins],
            policies: [{{ name: app-policy, type: Custom }}] }}
      groups: [{{ name: admins }}]
      roles: [{{ name: app-role, policies: [{{ name: ReadOnlyAccess, type: System }}] }}]
      policies: [{{ name: app-policy, versions: 2 }}]
      generate: {{ users: {users}, accessKeysPerUser: 1, groups: 2, groupsPerUser: 1, roles: 2 }}
    deletion: {{ checkSeconds: 1, deletingSeconds: 1 }}"#
        )
    };
    format!(
        r#"
resourceDirectory: {{ id: rd-Node001, rootFolderId: r-Node001, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:{}{}
"#,
        member(MEMBER, "node-member-1"),
        member(MEMBER_2, "node-member-2")
    )
}

/// A node cluster (`nodes` nodes) with the operator image imported, the watched namespace and the
/// credentials Secret, plus the emulator; holds a slot of [`SLOTS`]. The instant is when the slot
/// was obtained (scenario wall times start there, after the image is built).
async fn setup(
    nodes: usize,
    users: usize,
) -> (
    tokio::sync::SemaphorePermit<'static>,
    Instant,
    KubeNode,
    Emulator,
    &'static OperatorImage,
) {
    let image = tokio::task::spawn_blocking(operator_image)
        .await
        .expect("build the image");
    let permit = SLOTS.acquire().await.expect("semaphore");
    let t0 = Instant::now();
    let k = KubeNode::start_nodes(nodes).await;
    k.import_image(&image.archive);
    k.create_namespace(NS).await;
    k.create_credentials_secret(NS, "mgmt", KEY_ID, KEY_SECRET).await;
    let emu = Emulator::start(&seed(users), &[]).await;
    (permit, t0, k, emu, image)
}

async fn create_plan(
    k: &KubeNode,
    name: &str,
    member: &str,
    display: &str,
    emu: &Emulator,
    spec: Value,
) -> Api<AccountDeletion> {
    deletion::create(
        k,
        NS,
        name,
        deletion::spec(member, display, Mode::Plan, emu.url(), spec),
    )
    .await
}

/// [`wait_status`] of `name`, saying how long it took.
async fn status_when(
    k: &KubeNode,
    name: &str,
    what: &str,
    secs: u64,
    pred: impl Fn(&AccountDeletionStatus) -> bool,
) -> AccountDeletionStatus {
    let started = Instant::now();
    let seen = wait_status(&k.deletions(NS), name, what, secs, pred).await;
    eprintln!("{name}: {what} after {:.1} s", started.elapsed().as_secs_f64());
    seen
}

/// Waits for `name` in phase Deleted and a successful deletion.
async fn wait_deleted(k: &KubeNode, name: &str, what: &str) {
    let st = status_when(k, name, what, 300, |st| st.phase == Some(Phase::Deleted)).await;
    assert_deletion_success(&st);
}

/// Waits for a finished plan of `name`.
async fn wait_planned(k: &KubeNode, name: &str) -> AccountDeletionStatus {
    status_when(k, name, "Planned with a finished pre-check", 180, |st| {
        st.phase == Some(Phase::Planned) && pre_check_complete(st)
    })
    .await
}

/// Waits for a finished plan and approves it in mode Delete; the plan's action count.
async fn approve(k: &KubeNode, name: &str) -> u64 {
    let st = wait_planned(k, name).await;
    let plan = st.plan.expect("a plan");
    let patch = json!({"spec": {"mode": "Delete", "approvedPlanHash": plan.hash}});
    k.deletions(NS)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    plan.actions
}

/// Slows every RAM/IMS delete call of the emulator to `ms` (0 = full speed).
async fn delete_latency(emu: &Emulator, ms: u64) {
    emu.put_faults(
        &json!({"latencyMs": ms, "actions": ["ram:Delete*", "ram:Detach*", "ram:Remove*", "ims:Delete*"]}),
    )
    .await;
}

/// Waits until the purge of `member` is under way: fewer RAM objects than `before`, some left.
async fn wait_mid_purge(emu: &Emulator, member: &str, before: u64) -> u64 {
    wait_for(
        "the purge under way (some RAM objects deleted, some left)",
        Duration::from_secs(240),
        Duration::from_millis(300),
        || async move {
            let n = emu.ram_objects(member).await;
            if n < before && n > 3 {
                Ok(n)
            } else {
                Err(format!("{n} RAM objects of {before}"))
            }
        },
    )
    .await
}

/// Pids of the operator's container processes on the node(s) (from the containerd shims' trees).
fn operator_processes(k: &KubeNode) -> Vec<u32> {
    k.container_pids_running("account-deletion-operator")
}

fn proc_status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

async fn rollout(k: &KubeNode, image: &str, replicas: i32) -> Vec<Pod> {
    let started = Instant::now();
    let pods = wait_rollout(
        &k.client(),
        OP_NS,
        DEPLOYMENT,
        RELEASE,
        image,
        replicas,
        Duration::from_secs(300),
    )
    .await;
    eprintln!(
        "rollout of {image} ({replicas} pod(s)) complete after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pods
}

async fn fail_context(k: &KubeNode) -> String {
    format!("{}\n{}", k.describe_pods(OP_NS).await, k.describe_pods(NS).await)
}

// ------------------------------------------------------------------ (a) install to Deleted
#[tokio::test]
async fn helm_install_runs_the_image_in_a_pod_that_deletes_the_account() {
    let (_slot, t0, k, emu, image) = setup(1, 3).await;
    let port = support::free_listen_port("127.0.0.1");
    helm::install(
        k.kubeconfig(),
        RELEASE,
        OP_NS,
        &values(&k, image, image.tag(), emu.url(), port, json!({})),
    );
    let pods = rollout(&k, &image.reference, 1).await;
    let pod = &pods[0];
    let pod_name = pod.metadata.name.clone().unwrap();
    let spec = pod.spec.clone().unwrap();
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some(DEPLOYMENT),
        "the chart's ServiceAccount"
    );
    assert_eq!(spec.host_network, Some(true));

    // The process itself, seen from the host: UID/GID 65532, read-only root, in-cluster config.
    let pids = operator_processes(&k);
    assert_eq!(
        pids.len(),
        1,
        "one operator process: {pids:?}\n{}",
        fail_context(&k).await
    );
    let pid = pids[0];
    assert_eq!(
        proc_status_field(pid, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65532"; 4]
    );
    assert_eq!(
        proc_status_field(pid, "Gid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65532"; 4]
    );
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("root mount");
    assert!(
        root.split(' ').nth(5).unwrap().split(',').any(|o| o == "ro"),
        "root filesystem read-only: {root}"
    );
    let environ =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap()).replace('\0', "\n");
    assert!(
        environ.lines().any(|l| l == "KUBERNETES_SERVICE_HOST=127.0.0.1"),
        "{environ}"
    );
    assert!(
        !environ.contains("KUBECONFIG"),
        "no kubeconfig anywhere: {environ}"
    );
    // `kubectl logs` (API server -> kubelet on 127.0.0.1).
    let log = k
        .pod_log(OP_NS, &pod_name)
        .await
        .expect("pod logs through the API server");
    assert!(
        log.contains("controller started"),
        "operator log through the kubelet:\n{log}"
    );
    let metrics = metrics_of(pod, port).await;
    assert!(metrics.contains("ado_leader"), "{metrics}");

    // Plan -> approved -> Deleted; a second object opts out of keeping its audit record.
    create_plan(&k, "legacy", MEMBER, "node-member-1", &emu, json!({})).await;
    create_plan(
        &k,
        "scratch",
        MEMBER_2,
        "node-member-2",
        &emu,
        json!({"audit": {"deleteWithObject": true}}),
    )
    .await;
    for name in ["legacy", "scratch"] {
        wait_planned(&k, name).await;
    }
    let plan_calls = emu.calls().await;
    assert_eq!(
        plan_calls["totals"]["mutating"], 0,
        "mode Plan mutates nothing: {plan_calls:#}"
    );
    assert!(
        plan_calls["total"].as_u64().unwrap() > 0,
        "the pod reached the emulator: {plan_calls:#}"
    );
    approve(&k, "legacy").await;
    approve(&k, "scratch").await;
    for name in ["legacy", "scratch"] {
        wait_deleted(&k, name, "phase Deleted").await;
    }
    let calls = emu.calls().await;
    assert_eq!(
        by_action(&calls, "resourcemanager:DeleteAccount"),
        2,
        "DeleteAccount once per account: {calls:#}"
    );
    for m in [MEMBER, MEMBER_2] {
        assert_eq!(emu.dump(m).await["status"], "Deleted");
    }

    // Garbage collection: the audit record outlives its object; the opted-out one goes with it.
    let cms: Api<ConfigMap> = Api::namespaced(k.client(), NS);
    let audit = cms.get("legacy-audit").await.expect("legacy-audit");
    assert!(
        audit.metadata.owner_references.unwrap_or_default().is_empty(),
        "the kept record has no owner"
    );
    let scratch_audit = cms.get("scratch-audit").await.expect("scratch-audit");
    assert_eq!(
        scratch_audit.metadata.owner_references.unwrap_or_default().len(),
        1,
        "opted out: owned"
    );
    // A canary owned by "legacy" shows when the garbage collector has processed its deletion.
    let acd = k.deletions(NS);
    let legacy = acd.get("legacy").await.unwrap();
    let canary: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "legacy-gc-canary", "ownerReferences": [{
            "apiVersion": "accountdeletion.dev/v1alpha1", "kind": "AccountDeletion",
            "name": "legacy", "uid": legacy.metadata.uid.clone().unwrap()}]}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &canary).await.unwrap();
    for name in ["legacy", "scratch"] {
        acd.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for gone in ["legacy-gc-canary", "scratch-audit"] {
        wait_for(
            &format!("ConfigMap {gone} garbage-collected"),
            Duration::from_secs(120),
            Duration::from_millis(500),
            || {
                let cms = cms.clone();
                async move {
                    cms.get_opt(gone)
                        .await
                        .ok()
                        .and_then(|c| c.is_none().then_some(()))
                }
            },
        )
        .await;
    }
    let kept = cms
        .get("legacy-audit")
        .await
        .expect("the audit record outlives its AccountDeletion");
    let log = kept
        .data
        .unwrap_or_default()
        .remove("audit.log")
        .unwrap_or_default();
    assert!(
        log.lines().any(|l| l.split(' ').nth(1) == Some("DeleteAccount")),
        "{log}"
    );
    eprintln!("scenario install: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------ (b) upgrade mid-purge
#[tokio::test]
async fn helm_upgrade_to_another_tag_mid_purge_finishes_with_one_delete_account() {
    let (_slot, t0, k, emu, image) = setup(1, 30).await;
    let port = support::free_listen_port("127.0.0.1");
    helm::install(
        k.kubeconfig(),
        RELEASE,
        OP_NS,
        &values(&k, image, image.tag(), emu.url(), port, json!({})),
    );
    rollout(&k, &image.reference, 1).await;
    create_plan(&k, "legacy", MEMBER, "node-member-1", &emu, json!({})).await;
    let before = emu.ram_objects(MEMBER).await;
    delete_latency(&emu, 1500).await;
    approve(&k, "legacy").await;
    let at_upgrade = wait_mid_purge(&emu, MEMBER, before).await;

    // Same image, another tag; and changed values.
    let tag = format!("{}-upgrade", image.tag());
    let new_ref = format!("{}:{tag}", image.repository());
    k.tag_image(&image.reference, &new_ref);
    let changed = json!({"concurrency": {"perAccount": 2}, "timing": {"pollSeconds": 2}, "logging": {"level": "debug"}});
    helm::upgrade(
        k.kubeconfig(),
        RELEASE,
        OP_NS,
        &values(&k, image, &tag, emu.url(), port, changed),
    );
    let pods = rollout(&k, &new_ref, 1).await;
    let c = &pods[0].spec.as_ref().unwrap().containers[0];
    let env = |n: &str| {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == n)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        env("ADO_ACCOUNT_CONCURRENCY").as_deref(),
        Some("2"),
        "the new values are rolled out"
    );
    assert_eq!(env("ADO_POLL_SECONDS").as_deref(), Some("2"));
    let left = emu.ram_objects(MEMBER).await;
    assert!(
        left > 0,
        "still mid-purge after the rollout ({left} left of {at_upgrade} at the upgrade)"
    );

    delete_latency(&emu, 0).await;
    wait_deleted(&k, "legacy", "phase Deleted").await;
    let calls = emu.calls().await;
    assert_eq!(
        by_action(&calls, "resourcemanager:DeleteAccount"),
        1,
        "DeleteAccount exactly once: {calls:#}"
    );
    // The new pod finished the job: it made the DeleteAccount call.
    let m = metrics_of(&pods[0], port).await;
    assert_eq!(
        metric_sum(&m, "ado_alibaba_calls_total", &[r#"action="DeleteAccount""#]),
        1.0,
        "{m}"
    );
    eprintln!("scenario upgrade: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------ (c) leader election
#[tokio::test]
async fn two_replicas_only_the_leader_calls_alibaba_and_another_pod_takes_over() {
    let (_slot, t0, k, emu, image) = setup(2, 30).await;
    let port = support::free_listen_port("127.0.0.1");
    let extra = json!({"replicaCount": 2, "leaderElection": {"enabled": true}});
    helm::install(
        k.kubeconfig(),
        RELEASE,
        OP_NS,
        &values(&k, image, image.tag(), emu.url(), port, extra),
    );
    let pods = rollout(&k, &image.reference, 2).await;
    let nodes: std::collections::BTreeSet<_> = pods
        .iter()
        .map(|p| p.spec.clone().unwrap().node_name.unwrap())
        .collect();
    assert_eq!(nodes.len(), 2, "one replica per node (host port): {nodes:?}");
    let holder = wait_for(
        "a leader",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async { lease_holder(&k.client(), OP_NS, DEPLOYMENT).await },
    )
    .await;
    let leader = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(holder.as_str()))
        .expect("leader is a pod");
    let standby = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() != Some(holder.as_str()))
        .unwrap();

    create_plan(&k, "legacy", MEMBER, "node-member-1", &emu, json!({})).await;
    let before = emu.ram_objects(MEMBER).await;
    delete_latency(&emu, 1500).await;
    approve(&k, "legacy").await;
    wait_mid_purge(&emu, MEMBER, before).await;
    let (lm, sm) = (metrics_of(leader, port).await, metrics_of(standby, port).await);
    assert_eq!(metric_sum(&lm, "ado_leader", &[]), 1.0, "{lm}");
    assert!(
        metric_sum(&lm, "ado_alibaba_calls_total", &[]) > 0.0,
        "the leader calls Alibaba: {lm}"
    );
    assert_eq!(metric_sum(&sm, "ado_leader", &[]), 0.0, "{sm}");
    assert_eq!(
        metric_sum(&sm, "ado_alibaba_calls_total", &[]),
        0.0,
        "the standby never calls Alibaba: {sm}"
    );

    // kubectl delete pod LEADER --grace-period=0 --force
    let pods_api: Api<Pod> = Api::namespaced(k.client(), OP_NS);
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods_api.delete(&holder, &force).await.unwrap();
    let standby_name = standby.metadata.name.clone().unwrap();
    // Failover: the old leader's kubelet stops its container (SIGTERM: it releases the Lease; or
    // the Lease expires). A running pod other than the deleted one takes it: the standby, or the
    // Deployment's replacement pod when that one asks first (both are correct leader election).
    let deadline = Instant::now() + Duration::from_secs(180);
    let new_leader = loop {
        let h = lease_holder(&k.client(), OP_NS, DEPLOYMENT).await;
        if let Some(h) = h.filter(|h| *h != holder)
            && release_pods(&k.client(), OP_NS, RELEASE)
                .await
                .iter()
                .any(|p| p.metadata.name.as_deref() == Some(h.as_str()) && support::pods::is_ready(p))
        {
            break h;
        }
        if Instant::now() > deadline {
            let lease: Api<Lease> = Api::namespaced(k.client(), OP_NS);
            let kubelet_lines: Vec<String> = (0..2)
                .flat_map(|i| {
                    k.kubelet_log(i)
                        .lines()
                        .filter(|l| l.contains(&holder))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect();
            panic!(
                "no other pod took the Lease within 180 s of force-deleting {holder}; lease {:?}; \
                 operator processes {:?}\n{}\nkubelet lines about {holder}:\n{}",
                lease.get(DEPLOYMENT).await.ok().and_then(|l| l.spec),
                operator_processes(&k),
                fail_context(&k).await,
                kubelet_lines.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "{new_leader} took over the Lease ({})",
        if new_leader == standby_name {
            "the standby"
        } else {
            "the replacement pod"
        }
    );
    delete_latency(&emu, 0).await;
    wait_deleted(&k, "legacy", "phase Deleted").await;
    let calls = emu.calls().await;
    assert_eq!(
        by_action(&calls, "resourcemanager:DeleteAccount"),
        1,
        "DeleteAccount exactly once: {calls:#}"
    );
    // Both pods of the Deployment: the new leader made the DeleteAccount call, the other one (the
    // standby that never led, or the replacement) never called Alibaba at all.
    let pods = rollout(&k, &image.reference, 2).await;
    assert!(
        pods.iter()
            .all(|p| p.metadata.name.as_deref() != Some(holder.as_str()))
    );
    for p in &pods {
        let m = metrics_of(p, port).await;
        let name = p.metadata.name.clone().unwrap();
        if name == new_leader {
            assert_eq!(
                metric_sum(&m, "ado_alibaba_calls_total", &[r#"action="DeleteAccount""#]),
                1.0,
                "the new leader finished: {m}"
            );
        } else {
            assert_eq!(
                metric_sum(&m, "ado_alibaba_calls_total", &[]),
                0.0,
                "{name} never led and never called Alibaba: {m}"
            );
            assert_eq!(metric_sum(&m, "ado_leader", &[]), 0.0, "{m}");
        }
    }
    eprintln!("scenario leader election: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------ (d) uninstall, re-install
#[tokio::test]
async fn helm_uninstall_mid_purge_keeps_crd_and_object_and_reinstall_finishes() {
    let (_slot, t0, k, emu, image) = setup(1, 30).await;
    let port = support::free_listen_port("127.0.0.1");
    let vals = values(&k, image, image.tag(), emu.url(), port, json!({}));
    helm::install(k.kubeconfig(), RELEASE, OP_NS, &vals);
    rollout(&k, &image.reference, 1).await;
    let api = create_plan(&k, "legacy", MEMBER, "node-member-1", &emu, json!({})).await;
    let before = emu.ram_objects(MEMBER).await;
    delete_latency(&emu, 1500).await;
    approve(&k, "legacy").await;
    wait_mid_purge(&emu, MEMBER, before).await;
    let generation = api.get("legacy").await.unwrap().metadata.generation;

    helm::uninstall(k.kubeconfig(), RELEASE, OP_NS);
    wait_for(
        "the operator's pod and process gone",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let pods = release_pods(&k.client(), OP_NS, RELEASE).await.len();
            let procs = operator_processes(&k);
            if pods == 0 && procs.is_empty() {
                Ok(())
            } else {
                Err(format!("{pods} pod(s), processes {procs:?}"))
            }
        },
    )
    .await;
    let crds: Api<CustomResourceDefinition> = Api::all(k.client());
    crds.get("accountdeletions.accountdeletion.dev")
        .await
        .expect("the CRD stays (helm.sh/resource-policy: keep)");
    let obj = api.get("legacy").await.expect("the AccountDeletion stays");
    assert_eq!(obj.metadata.generation, generation);
    // Nothing touches Alibaba any more.
    let (calls, objects) = (emu.calls().await["total"].clone(), emu.ram_objects(MEMBER).await);
    assert!(objects > 0, "uninstalled mid-purge");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(emu.calls().await["total"], calls, "no call after uninstall");
    assert_eq!(emu.ram_objects(MEMBER).await, objects);

    delete_latency(&emu, 0).await;
    helm::install(k.kubeconfig(), RELEASE, OP_NS, &vals);
    rollout(&k, &image.reference, 1).await;
    wait_deleted(&k, "legacy", "phase Deleted after the re-install").await;
    assert_eq!(
        api.get("legacy").await.unwrap().metadata.generation,
        generation,
        "no new approval needed"
    );
    let calls = emu.calls().await;
    assert_eq!(
        by_action(&calls, "resourcemanager:DeleteAccount"),
        1,
        "DeleteAccount exactly once: {calls:#}"
    );
    eprintln!(
        "scenario uninstall/re-install: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
