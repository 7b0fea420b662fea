//! Running the operator like an operations team does, on a real etcd + kube-apiserver v1.20.2 with
//! the real emulator: `/metrics` passes `promtool check metrics` and agrees with the emulator's own
//! call counters; `/readyz` says why it is not ready while the CRD is missing; two replicas with
//! leader election never both call Alibaba Cloud, and the survivor finishes after the leader dies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use account_deletion_operator::crd::{AccountDeletion, Mode, Phase};
use kube::api::Api;
use serde_json::json;

use support::metrics::counter_sums;
use support::operator::{DEBUG_LOG, quick_env};
use support::{
    Emulator, KubeCluster, Operator, calls, deletion, http_get, wait_deleted, wait_for, wait_phase,
};

const NS: &str = "ops";
const KEY_ID: &str = "LTAI5tOpsMgmtKey0000001";
const KEY_SECRET: &str = "ops-management-secret-0001";
const MEMBER: &str = "3100000000000001";

fn seed(deleting_seconds: u64) -> String {
    format!(
        r#"
resourceDirectory: {{ id: rd-Ops001, rootFolderId: r-Ops001, managementAccountId: "1000000000000001" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "1000000000000001" }}
accounts:
  - accountId: "{MEMBER}"
    displayName: ops-member
    ram:
      users:
        - {{ name: alice, accessKeys: [{{}}], loginProfile: true, mfaDevice: alice-mfa, groups: [admins],
            policies: [{{ name: app-policy, type: Custom }}] }}
      groups: [{{ name: admins }}]
      roles: [{{ name: app-role, policies: [{{ name: ReadOnlyAccess, type: System }}] }}]
      serviceLinkedRoles: [{{ name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: 1 }}]
      policies: [{{ name: app-policy, versions: 2 }}]
      virtualMfaDevices: [{{ name: alice-mfa }}]
      samlProviders: [{{ name: okta }}]
      generate: {{ users: 20, accessKeysPerUser: 1, loginProfiles: true, groups: 3, groupsPerUser: 1, policies: 5,
                  policiesPerPrincipal: 1, roles: 5 }}
    deletion: {{ checkSeconds: 1, deletingSeconds: {deleting_seconds} }}
"#
    )
}

async fn create_deletion(k: &KubeCluster, endpoint: &str) -> Api<AccountDeletion> {
    let spec = deletion::spec(MEMBER, "ops-member", Mode::Delete, endpoint, json!({}));
    deletion::create(k, NS, "ops-member", spec).await
}

fn operator_envs() -> Vec<(&'static str, &'static str)> {
    quick_env(&[DEBUG_LOG])
}

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt package prometheus, installed by scripts/setup.sh)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), msg)
}

#[tokio::test]
async fn metrics_pass_promtool_and_match_the_emulator_call_counters() {
    let k = KubeCluster::start_with_credentials(&[NS], KEY_ID, KEY_SECRET).await;
    let emu = Emulator::start(&seed(1), &[]).await;
    let mut op = Operator::watching(k.kubeconfig(), NS, &operator_envs());
    let metrics = op.metrics_url().await;
    let api = create_deletion(&k, emu.url()).await;
    wait_deleted(&api, "ops-member", 120).await;

    // The phase gauge is updated right after the status write: wait for it to say Deleted.
    let text = wait_for(
        "ado_accounts{phase=\"Deleted\"} 1",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let url = format!("{metrics}/metrics");
            async move {
                let (code, text) = http_get(&url).await;
                (code == 200 && text.contains("ado_accounts{phase=\"Deleted\"} 1")).then_some(text)
            }
        },
    )
    .await;
    let (ok, msg) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{msg}\n{text}");
    assert!(msg.trim().is_empty(), "promtool has remarks: {msg}");

    // Every successful call the emulator answered is in ado_alibaba_calls_total, and vice versa.
    let ours = counter_sums(&text, "ado_alibaba_calls_total", |l| {
        let key = format!("{}:{}", l.get("product")?, l.get("action")?);
        (l.get("code")? == "OK").then_some(key)
    });
    let calls = emu.calls().await;
    let theirs: BTreeMap<String, f64> = calls::ok_by_label(&calls)
        .into_iter()
        .map(|(label, n)| (label, n as f64))
        .collect();
    assert_eq!(ours, theirs, "operator metrics vs emulator counters");
    assert_eq!(theirs.get("resourcemanager:DeleteAccount"), Some(&1.0));

    let deleted = counter_sums(&text, "ado_resources_deleted_total", |l| l.get("kind").cloned());
    assert!(
        deleted.get("users").copied().unwrap_or(0.0) >= 21.0,
        "{deleted:?}"
    );
    let phases = counter_sums(&text, "ado_accounts", |l| l.get("phase").cloned());
    assert_eq!(phases.get("Deleted"), Some(&1.0), "{phases:?}");
    for needle in [KEY_SECRET, "CAIS"] {
        assert!(!text.contains(needle), "/metrics leaks {needle}");
    }
}

#[tokio::test]
async fn readiness_waits_for_the_crd_and_says_why() {
    let k = KubeCluster::start().await;
    k.create_namespace(NS).await;
    let mut op = Operator::watching(k.kubeconfig(), NS, &operator_envs());
    let metrics = op.metrics_url().await;
    let (live, _) = http_get(&format!("{metrics}/healthz")).await;
    assert_eq!(live, 200, "liveness does not depend on the CRD");
    let (code, body) = wait_for(
        "readyz answers",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let url = format!("{metrics}/readyz");
            async move {
                let r = http_get(&url).await;
                // "starting" first; then the reason the CRD check found.
                (r.0 == 200 || r.1.contains("accountdeletion")).then_some(r)
            }
        },
    )
    .await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("accountdeletions.accountdeletion.dev"),
        "readyz should name the missing CRD: {body}"
    );
    assert!(op.is_running(), "no crash loop without the CRD");

    k.install_project_crds().await;
    wait_for(
        "readyz 200 after the CRD appears",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let url = format!("{metrics}/readyz");
            async move { (http_get(&url).await.0 == 200).then_some(()) }
        },
    )
    .await;
}

fn alibaba_calls(text: &str) -> f64 {
    counter_sums(text, "ado_alibaba_calls_total", |_| Some(String::new()))
        .values()
        .sum()
}

#[tokio::test]
async fn only_the_leader_calls_alibaba_and_the_survivor_finishes() {
    let k = KubeCluster::start_with_credentials(&[NS], KEY_ID, KEY_SECRET).await;
    // The deletion stays in Deleting until the test advances the emulator clock (by less than the
    // 15-minute signature window, so the operator's requests stay valid).
    let emu = Emulator::start(&seed(600), &[]).await;
    let start = |id: &str| {
        let mut env = operator_envs();
        env.push(("POD_NAME", if id == "a" { "replica-a" } else { "replica-b" }));
        env.push(("POD_NAMESPACE", NS));
        Operator::watching_with(k.kubeconfig(), NS, &["--leader-election"], &env)
    };
    let mut a = start("a");
    let ma = a.metrics_url().await;
    let mut b = start("b");
    let mb = b.metrics_url().await;
    let api = create_deletion(&k, emu.url()).await;
    wait_phase(&api, "ops-member", Phase::Deleting, 120).await;

    let scrape = |url: String| async move { http_get(&format!("{url}/metrics")).await.1 };
    let (ta, tb) = (scrape(ma.clone()).await, scrape(mb.clone()).await);
    let (ca, cb) = (alibaba_calls(&ta), alibaba_calls(&tb));
    assert!(
        (ca > 0.0) != (cb > 0.0),
        "exactly one replica calls Alibaba Cloud: a={ca} b={cb}"
    );
    let leader_is_a = ca > 0.0;
    assert!(
        ta.contains(&format!("ado_leader {}", u8::from(leader_is_a))),
        "{ta}"
    );
    assert!(
        tb.contains(&format!("ado_leader {}", u8::from(!leader_is_a))),
        "{tb}"
    );

    // The leader dies without releasing the lease; the deletion finishes meanwhile.
    let (survivor, survivor_metrics) = if leader_is_a {
        a.kill9();
        (&mut b, mb)
    } else {
        b.kill9();
        (&mut a, ma)
    };
    emu.advance_clock(660).await;
    wait_deleted(&api, "ops-member", 120).await;
    let t = scrape(survivor_metrics).await;
    assert!(alibaba_calls(&t) > 0.0, "the survivor took over");
    assert!(t.contains("ado_leader 1"), "{t}");
    let calls = emu.calls().await;
    assert_eq!(
        calls::by_action(&calls, "resourcemanager:DeleteAccount"),
        1,
        "DeleteAccount exactly once: {calls:#}"
    );

    // A graceful stop releases the lease promptly.
    survivor.sigterm();
    assert!(
        survivor.wait_exit(Duration::from_secs(30)).await.is_some(),
        "SIGTERM stops the operator"
    );
}
