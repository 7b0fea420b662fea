//! Chart values for clusters without a pod network (`hostNetwork`, `kubernetesApiOverride`,
//! `metrics.bindAddress`, `strategy`) and the opt-in PrometheusRule, whose alerts are unit-tested
//! with `promtool test rules` (Debian's prometheus package) against tests/alerts/rules-test.yaml.
//! Rendering uses real Helm (helm-python-sdk, `scripts/helm.py`); the end-to-end proof of these
//! values with pods is tests/e2e_node.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::helm::{chart_dir, one, render, try_render};

fn container(objects: &[Value]) -> &Value {
    &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn env_names(c: &Value) -> Vec<String> {
    c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn env(c: &Value, name: &str) -> Option<Value> {
    c["env"].as_array()?.iter().find(|e| e["name"] == name).cloned()
}

fn ci_values(file: &str) -> Value {
    let text = std::fs::read_to_string(chart_dir().join("ci").join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse ci/{file}: {e}"))
}

#[test]
fn host_network_puts_the_pod_on_the_node_network_and_the_client_on_the_override() {
    let objects = render("ado", "ado-system", &ci_values("host-network-values.yaml"));
    let d = one(&objects, "Deployment");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(
        pod["dnsPolicy"], "ClusterFirstWithHostNet",
        "cluster DNS still works from the host network"
    );
    let c = container(&objects);
    assert_eq!(c["ports"][0]["containerPort"], 18080);
    // Bound to the pod's IP (the node's), which the downward API must define BEFORE the variable
    // that references it (Kubernetes expands $(VAR) only from earlier entries).
    let names = env_names(c);
    let pod_ip = names.iter().position(|n| n == "POD_IP").expect("POD_IP env");
    let addr = names.iter().position(|n| n == "ADO_METRICS_ADDR").unwrap();
    assert!(pod_ip < addr, "POD_IP before ADO_METRICS_ADDR: {names:?}");
    assert_eq!(
        env(c, "POD_IP").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
    assert_eq!(env(c, "ADO_METRICS_ADDR").unwrap()["value"], "$(POD_IP):18080");
    assert_eq!(env(c, "KUBERNETES_SERVICE_HOST").unwrap()["value"], "127.0.0.1");
    assert_eq!(env(c, "KUBERNETES_SERVICE_PORT").unwrap()["value"], "6443");
    // One pod at a time: a surge pod could not bind the host port on the same node.
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    // Probes still use the named port (the kubelet connects to the pod IP, the node's).
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
}

#[test]
fn defaults_keep_the_pod_network_and_the_injected_service_address() {
    let objects = render("ado", "ado-system", &json!({}));
    let d = one(&objects, "Deployment");
    let pod = &d["spec"]["template"]["spec"];
    assert!(
        pod["hostNetwork"].is_null() && pod["dnsPolicy"].is_null(),
        "{pod:#}"
    );
    assert!(d["spec"]["strategy"].is_null(), "Kubernetes' default strategy");
    let c = container(&objects);
    for name in ["POD_IP", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"] {
        assert!(env(c, name).is_none(), "{name} not set by default");
    }
    assert_eq!(env(c, "ADO_METRICS_ADDR").unwrap()["value"], "0.0.0.0:8080");
}

#[test]
fn explicit_strategy_and_bind_address_win_over_the_host_network_defaults() {
    let objects = render(
        "ado",
        "ado-system",
        &json!({"hostNetwork": true, "metrics": {"bindAddress": "[::]"}, "strategy": {"type": "Recreate"}}),
    );
    assert_eq!(
        one(&objects, "Deployment")["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
    let c = container(&objects);
    assert_eq!(env(c, "ADO_METRICS_ADDR").unwrap()["value"], "[::]:8080");
    assert!(env(c, "POD_IP").is_none(), "no unused POD_IP");
}

#[test]
fn an_api_override_needs_a_port_and_only_known_keys() {
    let err = try_render(
        "ado",
        "ado-system",
        &json!({"kubernetesApiOverride": {"host": "127.0.0.1"}}),
    )
    .expect_err("host without port must be refused");
    assert!(err.contains("kubernetesApiOverride.port"), "{err}");
    let err = try_render(
        "ado",
        "ado-system",
        &json!({"kubernetesApiOverride": {"host": "127.0.0.1", "port": 6443, "insecure": true}}),
    )
    .expect_err("unknown key must be refused by the schema");
    assert!(err.contains("insecure"), "{err}");
    for bad in [
        json!({"hostNetwork": "yes"}),
        json!({"prometheusRule": {"throttledRatio": 2}}),
    ] {
        assert!(try_render("ado", "ado-system", &bad).is_err(), "{bad} accepted");
    }
}

fn rules(values: &Value) -> Option<Value> {
    let objects = render("ado", "ado-system", values);
    let all: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "PrometheusRule").collect();
    assert!(all.len() <= 1);
    all.first().map(|r| r["spec"].clone())
}

fn alert_names(spec: &Value) -> Vec<String> {
    spec["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect()
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool not found: install Debian's prometheus package (bash scripts/setup.sh does)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn prometheus_rule_is_opt_in() {
    assert!(rules(&json!({})).is_none(), "no PrometheusRule by default");
    let spec = rules(&json!({"prometheusRule": {"enabled": true}})).unwrap();
    let names = alert_names(&spec);
    assert!(
        !names.contains(&"AccountDeletionOperatorNoLeader".to_string()),
        "no leader alert without leader election: {names:?}"
    );
    let spec = rules(&json!({"prometheusRule": {"enabled": true, "selector": "job=\"ops\""}})).unwrap();
    for r in spec["groups"][0]["rules"].as_array().unwrap() {
        let expr = r["expr"].as_str().unwrap();
        assert!(
            expr.contains("job=\"ops\"") && !expr.contains("-metrics"),
            "{expr}"
        );
    }
}

#[test]
fn prometheus_rule_alerts_pass_promtool_unit_tests() {
    let spec = rules(&json!({
        "prometheusRule": {"enabled": true, "alertLabels": {"team": "platform"}},
        "leaderElection": {"enabled": true},
    }))
    .unwrap();
    assert_eq!(
        alert_names(&spec),
        [
            "AccountDeletionStalled",
            "AccountDeletionErrorsRepeated",
            "AlibabaCloudThrottlingSustained",
            "AccountDeletionOperatorNoLeader",
            "AccountDeletionOperatorDown"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    // The whole rule file (annotation templates included) must be valid...
    std::fs::write(dir.path().join("full.yaml"), spec.to_string()).unwrap();
    let checked = promtool(&["check", "rules", "full.yaml"], dir.path());
    assert!(checked.contains("SUCCESS: 5 rules found"), "{checked}");
    // ... and the expressions, `for` durations and labels behave as the cases say. Annotations are
    // left out there: promtool would compare their full rendered text.
    let mut stripped = spec.clone();
    for r in stripped["groups"][0]["rules"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("annotations");
        assert_eq!(r["labels"]["team"], "platform", "alertLabels on every alert");
        r["labels"].as_object_mut().unwrap().remove("team");
    }
    std::fs::write(dir.path().join("rules.yaml"), stripped.to_string()).unwrap();
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alerts/rules-test.yaml");
    std::fs::copy(&cases, dir.path().join("rules-test.yaml")).unwrap();
    let out = promtool(&["test", "rules", "rules-test.yaml"], dir.path());
    assert!(out.contains("SUCCESS"), "{out}");
}
