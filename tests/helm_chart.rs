//! The Helm chart (`charts/account-deletion-operator`) rendered and linted with Helm's own Go SDK
//! through helm-python-sdk (`scripts/helm.py`; there is no helm binary):
//!
//! - rendering with the defaults and with every `ci/*.yaml`: pod hardening, probes, env, the
//!   Role-per-namespace / ClusterRole switch, the PDB only above one replica, the CRD switch;
//! - the strict values schema rejects unknown keys and bad values;
//! - `helm lint --strict` is clean;
//! - the chart's CRD copy is byte-identical to `crds/`.
//!
//! The chart installed into a real kube-apiserver, and what its RBAC grants there, is
//! tests/helm_chart_install.rs; values for clusters without a pod network are
//! tests/helm_chart_extras.rs.
//!
//! Needs `$ADO_VENV` (default `~/.cache/account-deletion-operator/venv`, made by
//! `bash scripts/setup.sh`). Missing tools FAIL the test with a message; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::helm::{Rendered, chart_dir, ci_files, helm, template};

const CHART_REL: &str = "charts/account-deletion-operator";
const CRD_FILE: &str = "accountdeletion.dev_accountdeletions.yaml";
const CLAIM_CRD_FILE: &str = "accountdeletion.dev_accountclaims.yaml";

fn root() -> PathBuf {
    PathBuf::from(support::REPO_ROOT)
}

/// Renders release `ado` in `ado-system` with the values files then `values` on top.
fn try_render(values_files: &[&Path], values: &Value) -> Result<Rendered, String> {
    template("ado", "ado-system", values_files, values)
}

fn render(values_files: &[&Path], values: &Value) -> Rendered {
    try_render(values_files, values).unwrap_or_else(|e| panic!("helm template failed: {e}"))
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
    let r = template(
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
