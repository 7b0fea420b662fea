//! The Helm chart (`charts/account-deletion-operator`), checked with Helm's own Go SDK through
//! helm-python-sdk (`scripts/helm.py`; there is no helm binary) and a REAL kube-apiserver v1.20.2:
//!
//! - rendering with the defaults and with every `ci/*.yaml`: pod hardening, probes, env, the
//!   Role-per-namespace / ClusterRole switch, the PDB only above one replica, the CRD switch;
//! - the strict values schema rejects unknown keys and bad values;
//! - `helm lint --strict` is clean;
//! - the chart's CRD copy is byte-identical to `crds/`;
//! - install into the API server, then act as the chart's ServiceAccount (TokenRequest): what
//!   RBAC grants and denies, and the operator binary itself running with the Deployment's env
//!   as that ServiceAccount (ready, holds the Lease, writes status).
//!
//! Needs `$ADO_VENV` (default `~/.cache/account-deletion-operator/venv`, made by
//! `bash scripts/setup.sh`) and, for the cluster test, `$ETCD_BIN` / `$KUBE_APISERVER_BIN`.
//! Missing tools FAIL the test with a message; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use serde_json::{Value, json};
use support::{KubeCluster, Operator, wait_for};

const CHART_REL: &str = "charts/account-deletion-operator";
const CRD_FILE: &str = "accountdeletion.dev_accountdeletions.yaml";
const CLAIM_CRD_FILE: &str = "accountdeletion.dev_accountclaims.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join(CHART_REL)
}

/// The venv's python; panics (never skips) when the venv is missing.
fn python() -> PathBuf {
    let venv = std::env::var("ADO_VENV")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            Path::new(&home).join(".cache/account-deletion-operator/venv")
        });
    let py = venv.join("bin/python");
    assert!(
        py.is_file(),
        "{} not found: set ADO_VENV to the project venv (with helm-python-sdk), or run \
         `bash scripts/setup.sh`",
        py.display()
    );
    py
}

/// Runs `python scripts/helm.py ARGS`; returns (success, stdout, stderr).
fn helm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(python())
        .arg(root().join("scripts/helm.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run scripts/helm.py");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template` output: template path -> its documents (and NOTES.txt as a string).
struct Rendered {
    files: serde_json::Map<String, Value>,
}

impl Rendered {
    /// Every Kubernetes object rendered (NOTES.txt excluded).
    fn objects(&self) -> Vec<&Value> {
        self.files
            .iter()
            .filter(|(k, _)| !k.ends_with("NOTES.txt"))
            .filter_map(|(_, v)| v.as_array())
            .flatten()
            .collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects().into_iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(all.len(), 1, "expected exactly one {kind}, got {}", all.len());
        all[0]
    }

    fn notes(&self) -> String {
        self.files
            .iter()
            .find(|(k, _)| k.ends_with("NOTES.txt"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// Renders release `ado` in `ado-system` with the values files then `values` on top.
fn try_render(values_files: &[&Path], values: &Value) -> Result<Rendered, String> {
    try_render_as("ado", "ado-system", values_files, values)
}

/// Renders release `release` in `namespace`.
fn try_render_as(
    release: &str,
    namespace: &str,
    values_files: &[&Path],
    values: &Value,
) -> Result<Rendered, String> {
    let chart = chart_dir();
    let vj = values.to_string();
    let mut args: Vec<String> = vec![
        "template".into(),
        release.into(),
        chart.display().to_string(),
        "--namespace".into(),
        namespace.into(),
        "--json".into(),
        "--values-json".into(),
        vj,
    ];
    for f in values_files {
        args.push("--values".into());
        args.push(f.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = helm(&refs);
    if !ok {
        return Err(format!("{err}{out}"));
    }
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("parse template JSON: {e}\n{out}"))?;
    match v {
        Value::Object(files) => Ok(Rendered { files }),
        other => Err(format!("unexpected template output {other}")),
    }
}

fn render(values_files: &[&Path], values: &Value) -> Rendered {
    try_render(values_files, values).unwrap_or_else(|e| panic!("helm template failed: {e}"))
}

fn ci_files() -> Vec<PathBuf> {
    let dir = chart_dir().join("ci");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected ci/*.yaml values files, found {files:?}"
    );
    files
}

fn env_of(container: &Value) -> Vec<(String, Value)> {
    container["env"]
        .as_array()
        .expect("container env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, e)| e["value"].as_str().map(str::to_string))
}

/// The invariants every rendering must keep, whatever the values.
fn assert_hardened_deployment(r: &Rendered, what: &str) {
    let d = r.one("Deployment");
    let pod = &d["spec"]["template"]["spec"];
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{what}: pod runAsNonRoot");
    assert_eq!(
        psc["seccompProfile"]["type"], "RuntimeDefault",
        "{what}: pod seccomp"
    );
    assert_eq!(pod["enableServiceLinks"], false, "{what}: enableServiceLinks");
    let cs = pod["containers"].as_array().expect("containers");
    assert_eq!(cs.len(), 1, "{what}: one container");
    let c = &cs[0];
    assert_eq!(c["args"][0], "run", "{what}: container args start with `run`");
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{what}: runAsNonRoot");
    assert_eq!(
        sc["readOnlyRootFilesystem"], true,
        "{what}: readOnlyRootFilesystem"
    );
    assert_eq!(
        sc["allowPrivilegeEscalation"], false,
        "{what}: allowPrivilegeEscalation"
    );
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}: drop ALL");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{what}: seccomp");
    assert!(
        sc["capabilities"]["add"].is_null(),
        "{what}: no added capabilities"
    );
    // Probes on the metrics port, which ADO_METRICS_ADDR binds.
    let port = &c["ports"][0];
    assert_eq!(port["name"], "metrics");
    let live = &c["livenessProbe"]["httpGet"];
    let ready = &c["readinessProbe"]["httpGet"];
    assert_eq!(
        (live["path"].as_str(), live["port"].as_str()),
        (Some("/healthz"), Some("metrics")),
        "{what}"
    );
    assert_eq!(
        (ready["path"].as_str(), ready["port"].as_str()),
        (Some("/readyz"), Some("metrics")),
        "{what}"
    );
    // All addresses, or with hostNetwork only the pod's IP (the node's), never every interface.
    let bind = if pod["hostNetwork"] == true {
        "$(POD_IP)"
    } else {
        "0.0.0.0"
    };
    assert_eq!(
        env_value(c, "ADO_METRICS_ADDR"),
        Some(format!("{bind}:{}", port["containerPort"])),
        "{what}: metrics address matches the container port"
    );
    assert!(
        c["resources"]["requests"]["memory"].is_string(),
        "{what}: resources"
    );
    assert!(c["resources"]["limits"]["memory"].is_string(), "{what}: limits");
    // Downward API.
    let env = env_of(c);
    for (name, path) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let e = env
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{what}: {name}"));
        assert_eq!(e.1["valueFrom"]["fieldRef"]["fieldPath"], path, "{what}: {name}");
    }
    // Every ADO_* variable the chart sets must be one `run` reads.
    let known = [
        "ADO_NAMESPACES",
        "ADO_SELECTOR",
        "ADO_PROTECTED_ACCOUNT_IDS",
        "ADO_ALLOWED_ENDPOINTS",
        "ADO_METRICS_ADDR",
        "ADO_LOG_FORMAT",
        "ADO_LOG_LEVEL",
        "ADO_CONCURRENCY",
        "ADO_GLOBAL_QPS",
        "ADO_ACCOUNT_CONCURRENCY",
        "ADO_ACCOUNT_QPS",
        "ADO_POLL_SECONDS",
        "ADO_RESYNC_SECONDS",
        "ADO_BLOCKED_RETRY_SECONDS",
        "ADO_ERROR_RETRY_SECONDS",
        "ADO_EMPTY_CONFIRM_SECONDS",
        "ADO_LEADER_ELECTION",
        "ADO_LEASE_NAME",
        "ADO_LEASE_NAMESPACE",
    ];
    let run_rs = std::fs::read_to_string(root().join("src/cli/run.rs")).expect("read src/cli/run.rs");
    for (name, _) in &env {
        if name.starts_with("ADO_") {
            assert!(known.contains(&name.as_str()), "{what}: unknown env {name}");
            assert!(
                run_rs.contains(&format!("env = \"{name}\"")),
                "{what}: src/cli/run.rs does not read {name}"
            );
        }
    }
    assert_eq!(
        pod["serviceAccountName"],
        r.one("ServiceAccount")["metadata"]["name"],
        "{what}: SA"
    );
}

/// Every RBAC rule of the release: no wildcards, no delete, Secrets only read (get, list, watch).
fn assert_least_privilege(r: &Rendered, what: &str) {
    for kind in ["Role", "ClusterRole"] {
        for role in r.of_kind(kind) {
            for rule in role["rules"].as_array().expect("rules") {
                let verbs: Vec<&str> = rule["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let resources: Vec<&str> = rule["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert!(
                    !verbs.contains(&"*") && !resources.contains(&"*"),
                    "{what}: wildcard in {rule}"
                );
                assert!(
                    !verbs
                        .iter()
                        .any(|v| ["deletecollection", "escalate", "bind", "impersonate"].contains(v)),
                    "{what}: dangerous verb in {rule}"
                );
                // The only objects the operator deletes are its own account claims.
                if verbs.contains(&"delete") {
                    assert_eq!(
                        resources,
                        ["accountclaims"],
                        "{what}: delete outside accountclaims: {rule}"
                    );
                }
                if resources.contains(&"accountdeletions") {
                    assert!(
                        verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
                        "{what}: AccountDeletion objects are only read: {rule}"
                    );
                }
                if resources.contains(&"secrets") {
                    assert_eq!(verbs, ["get", "list", "watch"], "{what}: secrets are only read");
                }
                if resources.contains(&"leases") {
                    assert_eq!(kind, "Role", "{what}: leases only in a namespaced Role");
                    if verbs != ["create"] {
                        assert!(
                            rule["resourceNames"].is_array(),
                            "{what}: lease rule without resourceNames: {rule}"
                        );
                    }
                }
            }
        }
    }
}

/// The account-claim ClusterRole exists whatever the scope, with exactly these rules.
fn assert_claim_rules(r: &Rendered) {
    let role = r
        .of_kind("ClusterRole")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "ado-account-deletion-operator-claims")
        .expect("the -claims ClusterRole");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": ["accountdeletion.dev"], "resources": ["accountclaims"],
             "verbs": ["get", "list", "watch", "create", "update", "delete"]},
            {"apiGroups": ["accountdeletion.dev"], "resources": ["accountdeletions"], "verbs": ["get"]},
        ])
    );
}

fn names(objs: &[&Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = objs
        .iter()
        .map(|o| {
            (
                o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn default_values_render_a_hardened_cluster_wide_operator() {
    let r = render(&[], &json!({}));
    assert_hardened_deployment(&r, "defaults");
    assert_least_privilege(&r, "defaults");
    let d = r.one("Deployment");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["metadata"]["name"], "ado-account-deletion-operator");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        env_value(c, "ADO_NAMESPACES"),
        None,
        "cluster-wide: no namespace list"
    );
    assert_eq!(env_value(c, "ADO_LEADER_ELECTION").as_deref(), Some("false"));
    assert_eq!(
        c["image"], "ghcr.io/account-deletion-operator/account-deletion-operator:0.1.0",
        "tag defaults to appVersion"
    );
    // Cluster-wide: the operator's ClusterRole and the account-claim ClusterRole, each bound; no
    // namespaced Role, no Lease Role (no election).
    assert_eq!(
        names(&r.of_kind("ClusterRole")),
        vec![
            (String::new(), "ado-account-deletion-operator".to_string()),
            (String::new(), "ado-account-deletion-operator-claims".to_string()),
        ]
    );
    assert_eq!(r.of_kind("ClusterRoleBinding").len(), 2);
    assert_claim_rules(&r);
    assert!(
        r.of_kind("Role").is_empty(),
        "no Role when cluster-wide without leader election"
    );
    for crb in r.of_kind("ClusterRoleBinding") {
        assert_eq!(crb["subjects"][0]["name"], "ado-account-deletion-operator");
        assert_eq!(crb["subjects"][0]["namespace"], "ado-system");
    }
    // No PDB at one replica; no ServiceMonitor unless asked; a metrics Service.
    assert!(
        r.of_kind("PodDisruptionBudget").is_empty(),
        "PDB must be absent at 1 replica"
    );
    assert!(r.of_kind("ServiceMonitor").is_empty(), "ServiceMonitor is opt-in");
    let svc = r.one("Service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    // Both CRDs with keep.
    let crds = r.of_kind("CustomResourceDefinition");
    let crd_names: Vec<&str> = crds
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        crd_names,
        [
            "accountdeletions.accountdeletion.dev",
            "accountclaims.accountdeletion.dev"
        ]
    );
    for crd in crds {
        assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
    }
    let notes = r.notes();
    assert!(
        notes.contains("Next steps") && notes.contains("ALL namespaces"),
        "NOTES.txt: {notes}"
    );
}

#[test]
fn every_ci_values_file_renders_and_keeps_the_invariants() {
    for f in ci_files() {
        let what = f.file_name().unwrap().to_string_lossy().into_owned();
        let r = render(&[&f], &json!({}));
        assert_hardened_deployment(&r, &what);
        assert_least_privilege(&r, &what);
        let replicas = r.one("Deployment")["spec"]["replicas"].as_i64().unwrap();
        assert_eq!(
            r.of_kind("PodDisruptionBudget").len(),
            usize::from(replicas > 1),
            "{what}: PDB iff replicas > 1"
        );
        let yamllint = Command::new("yamllint").args(["--strict"]).arg(&f).output();
        if let Ok(out) = yamllint {
            assert!(
                out.status.success(),
                "{what}: yamllint: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

#[test]
fn namespaced_values_give_one_role_per_namespace_and_no_cluster_role() {
    let r = render(&[&chart_dir().join("ci/namespaced-values.yaml")], &json!({}));
    // Only the account-claim ClusterRole (claims are cluster-scoped); nothing else cluster-wide.
    assert_eq!(
        r.of_kind("ClusterRole").len(),
        1,
        "namespaced: only the claims ClusterRole"
    );
    assert_eq!(r.of_kind("ClusterRoleBinding").len(), 1);
    assert_claim_rules(&r);
    let want = vec![
        ("team-a".to_string(), "ado-account-deletion-operator".to_string()),
        ("team-b".to_string(), "ado-account-deletion-operator".to_string()),
    ];
    assert_eq!(names(&r.of_kind("Role")), want);
    assert_eq!(names(&r.of_kind("RoleBinding")), want);
    for rb in r.of_kind("RoleBinding") {
        assert_eq!(rb["subjects"][0]["namespace"], "ado-system");
        assert_eq!(rb["roleRef"]["kind"], "Role");
    }
    let c = &r.one("Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_value(c, "ADO_NAMESPACES").as_deref(), Some("team-a,team-b"));
    assert_eq!(
        env_value(c, "ADO_SELECTOR").as_deref(),
        Some("accountdeletion.dev/fleet=payments")
    );
    assert_eq!(
        env_value(c, "ADO_PROTECTED_ACCOUNT_IDS").as_deref(),
        Some("1000000000000001,1000000000000002")
    );
    assert_eq!(
        env_value(c, "ADO_ALLOWED_ENDPOINTS").as_deref(),
        Some("https://ram-vpc.cn-hangzhou.aliyuncs.com,https://sts-vpc.cn-hangzhou.aliyuncs.com")
    );
    assert_eq!(env_value(c, "ADO_LOG_FORMAT").as_deref(), Some("text"));
    assert_eq!(env_value(c, "ADO_ACCOUNT_QPS").as_deref(), Some("5.5"));
    assert_eq!(env_value(c, "ADO_GLOBAL_QPS").as_deref(), Some("20"));
    assert_eq!(env_value(c, "ADO_CONCURRENCY").as_deref(), Some("2"));
    assert_eq!(env_value(c, "ADO_ACCOUNT_CONCURRENCY").as_deref(), Some("4"));
    let sa = r.one("ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["pod-identity.alibabacloud.com/role-name"],
        "account-deletion-operator"
    );
    assert!(r.notes().contains("team-a, team-b"));
}

#[test]
fn ha_values_render_lease_rbac_pdb_and_service_monitor() {
    let r = render(&[&chart_dir().join("ci/ha-values.yaml")], &json!({}));
    assert!(
        r.of_kind("CustomResourceDefinition").is_empty(),
        "crds.enabled=false"
    );
    let d = r.one("Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_value(c, "ADO_LEADER_ELECTION").as_deref(), Some("true"));
    assert_eq!(env_value(c, "ADO_LEASE_NAME").as_deref(), Some("ado-leader"));
    assert_eq!(env_value(c, "ADO_LEASE_NAMESPACE").as_deref(), Some("ado-system"));
    // Lease Role in the release namespace: create unrestricted, the rest on the one Lease.
    let roles = r.of_kind("Role");
    assert_eq!(roles.len(), 1);
    let lease_role = roles[0];
    assert_eq!(lease_role["metadata"]["namespace"], "ado-system");
    assert_eq!(
        lease_role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": ["ado-leader"], "verbs": ["get", "update"]}
        ])
    );
    let pdb = r.one("PodDisruptionBudget");
    let api = pdb["apiVersion"].as_str().unwrap();
    assert!(
        api == "policy/v1" || api == "policy/v1beta1",
        "PDB apiVersion {api}"
    );
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let sm = r.one("ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
}

/// YAML 1.1 reads `y`, `no`, `on` as booleans: every name and namespace must be quoted.
#[test]
fn yaml_boolean_like_names_stay_strings() {
    let r = try_render_as(
        "on",
        "y",
        &[],
        &json!({"fullnameOverride": "no", "watchNamespaces": ["n"], "leaderElection": {"enabled": true}}),
    )
    .unwrap_or_else(|e| panic!("render: {e}"));
    for o in r.objects() {
        let m = &o["metadata"];
        assert!(
            m["name"].is_string(),
            "name of {} is not a string: {m}",
            o["kind"]
        );
        if !m["namespace"].is_null() {
            assert!(
                m["namespace"].is_string(),
                "namespace of {} is not a string: {m}",
                o["kind"]
            );
        }
        for (k, v) in m["labels"].as_object().into_iter().flatten() {
            assert!(v.is_string(), "label {k} of {} is not a string", o["kind"]);
        }
        for subj in o["subjects"].as_array().into_iter().flatten() {
            assert_eq!(subj["namespace"], "y");
            assert_eq!(subj["name"], "no");
        }
    }
    assert_eq!(
        names(&r.of_kind("Role")),
        vec![
            ("n".into(), "no".into()),
            ("y".into(), "no-leader-election".into())
        ]
    );
}

#[test]
fn pdb_only_above_one_replica() {
    let le = json!({"leaderElection": {"enabled": true}});
    let mut one = le.clone();
    one["replicaCount"] = json!(1);
    assert!(
        render(&[], &one).of_kind("PodDisruptionBudget").is_empty(),
        "PDB at 1 replica"
    );
    let mut two = le.clone();
    two["replicaCount"] = json!(2);
    assert_eq!(
        render(&[], &two).of_kind("PodDisruptionBudget").len(),
        1,
        "no PDB at 2 replicas"
    );
    let mut off = two.clone();
    off["podDisruptionBudget"] = json!({"enabled": false});
    assert!(
        render(&[], &off).of_kind("PodDisruptionBudget").is_empty(),
        "PDB disabled"
    );
}

#[test]
fn crds_keep_false_and_crds_disabled() {
    let r = render(&[], &json!({"crds": {"enabled": true, "keep": false}}));
    let crds = r.of_kind("CustomResourceDefinition");
    assert_eq!(crds.len(), 2);
    for crd in crds {
        assert!(
            crd["metadata"]["annotations"].is_null(),
            "no keep annotation: {}",
            crd["metadata"]
        );
    }
    let r = render(&[], &json!({"crds": {"enabled": false}}));
    assert!(r.of_kind("CustomResourceDefinition").is_empty());
}

#[test]
fn strict_schema_rejects_unknown_keys_and_bad_values() {
    let bad = [
        json!({"bogus": true}),
        json!({"logging": {"format": "xml"}}),
        json!({"logging": {"lvl": "debug"}}),
        json!({"protectedAccountIds": ["123"]}),
        json!({"watchNamespaces": ["Team_A"]}),
        json!({"replicaCount": -1}),
        json!({"rateLimits": {"globalQps": -1}}),
        json!({"image": {"pullPolicy": "Sometimes"}}),
        // Two acting replicas would fight over the same accounts.
        json!({"replicaCount": 2}),
        json!({"serviceMonitor": {"enabled": true}, "metrics": {"service": {"enabled": false}}}),
    ];
    for v in bad {
        assert!(try_render(&[], &v).is_err(), "values {v} must be rejected");
    }
}

#[test]
fn helm_lint_strict_is_clean_for_defaults_and_every_ci_file() {
    let chart = chart_dir().display().to_string();
    let mut runs: Vec<Vec<String>> = vec![vec![]];
    for f in ci_files() {
        runs.push(vec!["--values".into(), f.display().to_string()]);
    }
    for extra in runs {
        let mut args: Vec<&str> = vec![
            "lint",
            &chart,
            "--strict",
            "--kube-version",
            "v1.20.2",
            "--namespace",
            "ado-system",
        ];
        args.extend(extra.iter().map(String::as_str));
        let (ok, out, err) = helm(&args);
        assert!(ok, "helm lint {extra:?} failed:\n{out}{err}");
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "helm lint {extra:?} reported findings:\n{out}"
        );
    }
    // And lint does fail on a broken value (so the check above can fail at all).
    let (ok, out, _) = helm(&["lint", &chart, "--strict", "--values-json", r#"{"bogus":1}"#]);
    assert!(!ok, "lint accepted an unknown value:\n{out}");
}

#[test]
fn chart_crd_copy_is_byte_identical_to_crds_dir() {
    let r = render(&[], &json!({}));
    for file in [CRD_FILE, CLAIM_CRD_FILE] {
        let want = std::fs::read(root().join("crds").join(file)).expect("read crds/");
        let got = std::fs::read(chart_dir().join("files").join(file)).expect("read chart files/");
        assert!(
            want == got,
            "{CHART_REL}/files/{file} differs from crds/{file}: run `cp crds/{file} {CHART_REL}/files/`"
        );
        // The rendered CRD is that file, only with labels and the keep annotation added.
        let from_file: Value =
            serde_saphyr::from_str(std::str::from_utf8(&want).unwrap()).expect("parse crds/ YAML");
        let mut rendered = r
            .of_kind("CustomResourceDefinition")
            .into_iter()
            .find(|c| c["metadata"]["name"] == from_file["metadata"]["name"])
            .unwrap_or_else(|| panic!("{file} is not rendered"))
            .clone();
        rendered["metadata"].as_object_mut().unwrap().remove("labels");
        rendered["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(
            rendered, from_file,
            "the rendered CRD must be the crds/{file} file"
        );
    }
}

// ------------------------------------------------------------------ real API server

fn pdb_v1beta1() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"),
        "poddisruptionbudgets",
    )
}

fn accountdeletions() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("accountdeletion.dev", "v1alpha1", "AccountDeletion"),
        "accountdeletions",
    )
}

fn status_code<T>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

fn secret(name: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        string_data: Some(
            [
                ("accessKeyId".to_string(), "LTAI5tHelmChartTest01".to_string()),
                ("accessKeySecret".to_string(), "not-a-real-secret".to_string()),
            ]
            .into(),
        ),
        ..Secret::default()
    }
}

fn account_deletion(name: &str, secret: &str) -> DynamicObject {
    let mut o = DynamicObject::new(name, &accountdeletions());
    o.data = json!({
        "spec": {
            "accountId": "2000000000000001",
            "accountDisplayName": "helm-chart-test",
            "mode": "Plan",
            "credentialsSecretRef": {"name": secret},
            // Nothing listens here: the operator must never get as far as calling it.
            "endpoint": "http://127.0.0.1:9"
        }
    });
    o
}

/// `helm install ado CHART -n ado-system` into `k` with `values` (Helm v4's default server-side
/// apply, as users get it); panics with Helm's message on failure.
fn helm_install(k: &KubeCluster, chart: &Path, values: &Value) {
    let chart = chart.display().to_string();
    let kubeconfig = k.kubeconfig().display().to_string();
    let vj = values.to_string();
    let (ok, out, err) = helm(&[
        "install",
        "ado",
        &chart,
        "--namespace",
        "ado-system",
        "--kubeconfig",
        &kubeconfig,
        "--values-json",
        &vj,
    ]);
    assert!(ok && out.contains("deployed"), "helm install failed:\n{out}{err}");
}

fn helm_uninstall(k: &KubeCluster) {
    let kubeconfig = k.kubeconfig().display().to_string();
    let (ok, out, err) = helm(&[
        "uninstall",
        "ado",
        "--namespace",
        "ado-system",
        "--kubeconfig",
        &kubeconfig,
    ]);
    assert!(ok, "helm uninstall failed:\n{out}{err}");
}

async fn wait_crd_established(crds: &Api<CustomResourceDefinition>) {
    wait_for(
        "CRD Established",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let crds = crds.clone();
            async move {
                let c = crds.get("accountdeletions.accountdeletion.dev").await.ok()?;
                c.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            }
        },
    )
    .await;
}

/// The chart with its defaults (CRD rendered from templates, cluster-wide RBAC) installs into the
/// v1.20.2 API server; uninstall removes the release but keeps the CRD (crds.keep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_install_serves_the_crd_and_uninstall_keeps_it() {
    let k = KubeCluster::start().await;
    let admin = k.client();
    let nulls = apiserver_turns_empty_strings_into_null(&k).await;
    let copy = tempfile::tempdir().expect("tempdir");
    let chart = if nulls {
        // Install the chart with the CRD as the test server can take it (see the probe).
        let dst = copy.path().join("account-deletion-operator");
        copy_dir(&chart_dir(), &dst);
        std::fs::write(dst.join("files").join(CRD_FILE), crd_for_this_server(true)).expect("write CRD copy");
        dst
    } else {
        chart_dir()
    };
    helm_install(&k, &chart, &json!({}));
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let crd = crds
        .get("accountdeletions.accountdeletion.dev")
        .await
        .expect("CRD installed");
    assert_eq!(
        crd.metadata
            .annotations
            .unwrap_or_default()
            .get("helm.sh/resource-policy")
            .map(String::as_str),
        Some("keep")
    );
    wait_crd_established(&crds).await;
    let name = "ado-account-deletion-operator";
    Api::<ClusterRole>::all(admin.clone())
        .get(name)
        .await
        .expect("ClusterRole when cluster-wide");
    Api::<Deployment>::namespaced(admin.clone(), "ado-system")
        .get(name)
        .await
        .expect("Deployment");
    assert_eq!(
        status_code(
            Api::<DynamicObject>::namespaced_with(admin.clone(), "ado-system", &pdb_v1beta1())
                .get(name)
                .await
        ),
        404,
        "no PDB at one replica"
    );
    helm_uninstall(&k);
    assert_eq!(
        status_code(Api::<ClusterRole>::all(admin.clone()).get(name).await),
        404,
        "ClusterRole removed"
    );
    crds.get("accountdeletions.accountdeletion.dev")
        .await
        .expect("CRD kept after uninstall");
}

/// Whether this API server turns an empty string in custom-resource JSON into null and then
/// rejects it ("Invalid value: \"null\": ... must be of type string"). The v1.20.2 build of
/// scripts/build-kubernetes.sh does, for a CRD schema `default: ""` and for a CR field `""`
/// alike (upstream accepts both). Probed with a throw-away CRD, so the chart tests work around
/// only that, loudly, and use the real files as soon as the server is fixed.
async fn apiserver_turns_empty_strings_into_null(k: &KubeCluster) -> bool {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "probes.emptystring.test"},
        "spec": {
            "group": "emptystring.test",
            "names": {"kind": "Probe", "plural": "probes"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string", "default": ""}}}}
            }}}]
        }
    }))
    .expect("probe CRD");
    let api: Api<CustomResourceDefinition> = Api::all(k.client());
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {
            let _ = api
                .delete("probes.emptystring.test", &DeleteParams::default())
                .await;
            false
        }
        Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains("\"null\"") => {
            eprintln!(
                "WARNING: this kube-apiserver rejects empty strings in custom resources as null \
                 ({}); upstream v1.20.2 accepts them. Installing the CRD without its `default: \"\"` \
                 lines and tolerating the operator's rejected status writes. Fix the server build \
                 (scripts/build-kubernetes.sh) and this workaround turns itself off.",
                s.message
            );
            true
        }
        Err(e) => panic!("probe CRD create: {e}"),
    }
}

/// crds/ as is, or (`strip_empty_defaults`) without its `default: ""` lines.
fn crd_for_this_server(strip_empty_defaults: bool) -> String {
    let text = std::fs::read_to_string(root().join("crds").join(CRD_FILE)).expect("read crds/");
    if !strip_empty_defaults {
        return text;
    }
    text.lines()
        .filter(|l| l.trim() != "default: \"\"")
        .map(|l| format!("{l}\n"))
        .collect()
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for e in std::fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        let e = e.expect("dir entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap_or_else(|err| panic!("copy {}: {err}", e.path().display()));
        }
    }
}

/// Installs with watchNamespaces [team-a], two replicas and leader election, then acts as the
/// chart's ServiceAccount (TokenRequest): exactly the granted rights, and the operator binary
/// runs with the Deployment's env as that ServiceAccount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_into_real_cluster_and_service_account_has_exactly_the_granted_rights() {
    let k = KubeCluster::start().await;
    let admin = k.client();
    for ns in ["team-a", "team-b", "ado-system"] {
        k.create_namespace(ns).await;
    }
    let nulls = apiserver_turns_empty_strings_into_null(&k).await;
    k.apply_crd_yaml(&crd_for_this_server(nulls)).await;
    k.apply_crd_yaml(&account_deletion_operator::crd::claim_crd_yaml().unwrap())
        .await;
    helm_install(
        &k,
        &chart_dir(),
        &json!({
            "crds": {"enabled": false},
            "watchNamespaces": ["team-a"],
            "allowedEndpoints": ["http://127.0.0.1:9"],
            "replicaCount": 2,
            "leaderElection": {"enabled": true},
            "logging": {"format": "text", "level": "info,account_deletion_operator=debug"},
            "timing": {"pollSeconds": 1, "errorRetrySeconds": 1, "blockedRetrySeconds": 1},
        }),
    );
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    wait_crd_established(&crds).await;
    let name = "ado-account-deletion-operator";
    let dep = Api::<Deployment>::namespaced(admin.clone(), "ado-system")
        .get(name)
        .await
        .expect("Deployment");
    assert_eq!(dep.spec.as_ref().and_then(|s| s.replicas), Some(2));
    Api::<ServiceAccount>::namespaced(admin.clone(), "ado-system")
        .get(name)
        .await
        .expect("ServiceAccount");
    Api::<Service>::namespaced(admin.clone(), "ado-system")
        .get(&format!("{name}-metrics"))
        .await
        .expect("metrics Service");
    Api::<Role>::namespaced(admin.clone(), "team-a")
        .get(name)
        .await
        .expect("Role in team-a");
    Api::<RoleBinding>::namespaced(admin.clone(), "team-a")
        .get(name)
        .await
        .expect("RoleBinding in team-a");
    Api::<Role>::namespaced(admin.clone(), "ado-system")
        .get(&format!("{name}-leader-election"))
        .await
        .expect("leader-election Role");
    assert_eq!(
        status_code(Api::<Role>::namespaced(admin.clone(), "team-b").get(name).await),
        404,
        "no Role in an unwatched namespace"
    );
    assert_eq!(
        status_code(Api::<ClusterRole>::all(admin.clone()).get(name).await),
        404,
        "no ClusterRole when watchNamespaces is set"
    );
    // 1.20 serves no policy/v1: the chart picked policy/v1beta1 from the cluster's capabilities.
    Api::<DynamicObject>::namespaced_with(admin.clone(), "ado-system", &pdb_v1beta1())
        .get(name)
        .await
        .expect("PodDisruptionBudget policy/v1beta1");

    // ---- objects the operator works on, created by the admin
    let pp = PostParams::default();
    for ns in ["team-a", "team-b"] {
        Api::<Secret>::namespaced(admin.clone(), ns)
            .create(&pp, &secret("rd-key"))
            .await
            .expect("Secret");
        Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &accountdeletions())
            .create(&pp, &account_deletion("probe", "rd-key"))
            .await
            .expect("AccountDeletion");
    }

    // ---- act as the chart's ServiceAccount
    let (sa_kubeconfig, token) = k.service_account_kubeconfig("ado-system", name).await;
    let sa: Client = k.client_for_token(&token);
    let secrets_a: Api<Secret> = Api::namespaced(sa.clone(), "team-a");
    let secrets_b: Api<Secret> = Api::namespaced(sa.clone(), "team-b");
    assert_eq!(
        status_code(secrets_a.get("rd-key").await),
        200,
        "get Secret in team-a"
    );
    assert_eq!(
        status_code(secrets_b.get("rd-key").await),
        403,
        "get Secret in team-b"
    );
    assert_eq!(
        status_code(secrets_a.list(&ListParams::default()).await),
        200,
        "list Secrets in team-a (the rotation watch)"
    );
    assert_eq!(
        status_code(secrets_b.list(&ListParams::default()).await),
        403,
        "list Secrets in team-b"
    );
    let ads_a: Api<DynamicObject> = Api::namespaced_with(sa.clone(), "team-a", &accountdeletions());
    let ads_b: Api<DynamicObject> = Api::namespaced_with(sa.clone(), "team-b", &accountdeletions());
    let ads_all: Api<DynamicObject> = Api::all_with(sa.clone(), &accountdeletions());
    assert_eq!(
        status_code(ads_a.list(&ListParams::default().limit(1)).await),
        200,
        "list AccountDeletions in team-a"
    );
    assert_eq!(
        status_code(ads_b.list(&ListParams::default()).await),
        403,
        "list in team-b"
    );
    assert_eq!(
        status_code(ads_all.list(&ListParams::default()).await),
        403,
        "list cluster-wide"
    );
    let status_patch = json!({"status": {"message": "written by the chart's ServiceAccount"}});
    assert_eq!(
        status_code(
            ads_a
                .patch_status("probe", &PatchParams::default(), &Patch::Merge(&status_patch))
                .await
        ),
        200,
        "patch AccountDeletion status in team-a"
    );
    assert_eq!(
        status_code(
            ads_b
                .patch_status("probe", &PatchParams::default(), &Patch::Merge(&status_patch))
                .await
        ),
        403,
        "patch status in team-b"
    );
    assert_eq!(
        status_code(
            ads_a
                .patch(
                    "probe",
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"spec": {"suspend": true}}))
                )
                .await
        ),
        403,
        "patch AccountDeletion spec"
    );
    assert_eq!(
        status_code(ads_a.delete("probe", &DeleteParams::default()).await),
        403,
        "delete AccountDeletion"
    );
    // Account claims are cluster-scoped: created, read and deleted by the operator whatever
    // namespaces it watches; AccountDeletion objects elsewhere are only read one by one (to tell
    // whether a claim's owner still exists), never listed.
    let claims_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("accountdeletion.dev", "v1alpha1", "AccountClaim"),
        "accountclaims",
    );
    let claims: Api<DynamicObject> = Api::all_with(sa.clone(), &claims_ar);
    let claim: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "accountdeletion.dev/v1alpha1", "kind": "AccountClaim",
        "metadata": {"name": "account-1234567890123456"},
        "spec": {"accountId": "1234567890123456",
                 "owner": {"namespace": "team-a", "name": "probe", "uid": "u", "since": "2026-01-01T00:00:00Z"}}
    }))
    .unwrap();
    assert_eq!(
        status_code(claims.create(&PostParams::default(), &claim).await),
        200,
        "create an AccountClaim"
    );
    assert_eq!(
        status_code(claims.get("account-1234567890123456").await),
        200,
        "get an AccountClaim"
    );
    assert_eq!(
        status_code(
            claims
                .delete("account-1234567890123456", &DeleteParams::default())
                .await
        ),
        200,
        "delete an AccountClaim"
    );
    assert_eq!(
        status_code(ads_b.get("anything").await),
        404,
        "get one AccountDeletion in another namespace (allowed, none there)"
    );
    let cms_a: Api<ConfigMap> = Api::namespaced(sa.clone(), "team-a");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("probe-audit".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    assert_eq!(
        status_code(cms_a.create(&pp, &cm).await),
        200,
        "create audit ConfigMap in team-a"
    );
    assert_eq!(status_code(cms_a.get("probe-audit").await), 200, "get ConfigMap");
    assert_eq!(
        status_code(cms_a.delete("probe-audit", &DeleteParams::default()).await),
        403,
        "delete ConfigMap"
    );
    assert_eq!(
        status_code(
            Api::<ConfigMap>::namespaced(sa.clone(), "team-b")
                .create(&pp, &cm)
                .await
        ),
        403,
        "ConfigMap in team-b"
    );
    assert_eq!(
        status_code(
            Api::<Secret>::namespaced(sa.clone(), "team-a")
                .create(&pp, &secret("x"))
                .await
        ),
        403,
        "create Secret"
    );
    let leases: Api<Lease> = Api::namespaced(sa.clone(), "ado-system");
    assert_eq!(
        status_code(leases.get("someone-elses-lease").await),
        403,
        "get another Lease"
    );
    assert_eq!(
        status_code(Api::<Lease>::namespaced(sa.clone(), "team-a").get(name).await),
        403,
        "Lease outside the release namespace"
    );

    // ---- the operator binary, with the Deployment's env, as the ServiceAccount
    let pod_env = dep
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .remove(0)
        .env
        .unwrap_or_default();
    let mut envs: Vec<(String, String)> = Vec::new();
    for e in pod_env {
        let v = match (
            e.value,
            e.value_from.and_then(|f| f.field_ref).map(|f| f.field_path),
        ) {
            (Some(v), _) => v,
            (None, Some(p)) if p == "metadata.name" => "ado-account-deletion-operator-0".into(),
            (None, Some(p)) if p == "metadata.namespace" => "ado-system".into(),
            other => panic!("unexpected env source {other:?} for {}", e.name),
        };
        envs.push((e.name, v));
    }
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    // Only the listen address differs from the pod (a free loopback port instead of :8080).
    let mut op = Operator::start(
        &sa_kubeconfig,
        &["run", "--metrics-addr", "127.0.0.1:0"],
        &env_refs,
    );
    let metrics = op.metrics_url().await;
    wait_for(
        "operator /readyz 200",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let url = format!("{metrics}/readyz");
            async move { (support::http_get(&url).await.0 == 200).then_some(()) }
        },
    )
    .await;
    let lease = wait_for(
        "Lease held by the operator",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let api: Api<Lease> = Api::namespaced(admin.clone(), "ado-system");
            async move {
                let l = api.get_opt(name).await.ok()??;
                l.spec
                    .as_ref()?
                    .holder_identity
                    .clone()
                    .filter(|h| h == "ado-account-deletion-operator-0")
            }
        },
    )
    .await;
    assert_eq!(lease, "ado-account-deletion-operator-0");
    // It reconciles team-a's objects: one whose Secret does not exist is blocked at once with
    // SecretNotFound (a 403 on the GET would say SecretForbidden), which takes a status patch and
    // an Event, both as the ServiceAccount. team-b's object is never seen.
    let ads_admin_a: Api<DynamicObject> = Api::namespaced_with(admin.clone(), "team-a", &accountdeletions());
    ads_admin_a
        .create(&pp, &account_deletion("nosecret", "missing-key"))
        .await
        .expect("AccountDeletion nosecret");
    if nulls {
        // The server rejects the operator's status (it holds empty strings) with 422: RBAC let the
        // PATCH through (a denial would be 403), which is all this test can show on such a server.
        op.wait_log("writing status of nosecret", Duration::from_secs(60))
            .await;
        let logs = op.logs();
        assert!(
            logs.contains("is invalid") && !logs.contains("code: 403"),
            "expected only the server's 422 on status writes:\n{logs}"
        );
    } else {
        let status = wait_for(
            "status.phase of nosecret written by the operator",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let api = ads_admin_a.clone();
                async move {
                    let o = api.get("nosecret").await.ok()?;
                    o.data["status"]["phase"]
                        .is_string()
                        .then(|| o.data["status"].clone())
                }
            },
        )
        .await;
        let st = status.to_string();
        assert!(
            st.contains("SecretNotFound"),
            "expected a SecretNotFound block: {st}"
        );
        assert!(
            !st.contains("SecretForbidden"),
            "RBAC denied the Secret read: {st}"
        );
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), "team-a");
        wait_for(
            "an Event about nosecret published as the ServiceAccount",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let events = events.clone();
                async move {
                    let list = events.list(&ListParams::default()).await.ok()?;
                    list.items
                        .into_iter()
                        .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("nosecret"))
                }
            },
        )
        .await;
    }
    let b = Api::<DynamicObject>::namespaced_with(admin.clone(), "team-b", &accountdeletions())
        .get("probe")
        .await
        .expect("team-b object");
    assert!(
        b.data["status"]["phase"].is_null(),
        "team-b is not watched: {}",
        b.data["status"]
    );
    let logs = op.logs();
    assert!(
        !logs.to_lowercase().contains("forbidden"),
        "the operator hit an RBAC denial:\n{logs}"
    );
    assert!(!logs.contains("not-a-real-secret"), "secret material in the logs");
    op.sigterm();
    op.wait_exit(Duration::from_secs(30)).await;

    // ---- uninstall: everything goes
    helm_uninstall(&k);
    assert_eq!(
        status_code(
            Api::<Deployment>::namespaced(admin.clone(), "ado-system")
                .get(name)
                .await
        ),
        404,
        "Deployment removed"
    );
    assert_eq!(
        status_code(Api::<Role>::namespaced(admin.clone(), "team-a").get(name).await),
        404,
        "Role removed"
    );
}
