//! Real Helm (v4, Helm's Go SDK through helm-python-sdk; there is no helm binary) for tests:
//! `scripts/helm.py` run with the project venv (`$ADO_VENV`, made by `bash scripts/setup.sh`).
//! A missing venv FAILS the test with a message; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The chart directory of this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(crate::REPO_ROOT).join("charts/account-deletion-operator")
}

/// The venv's python; panics (never skips) when the venv is missing.
pub fn python() -> PathBuf {
    let venv = std::env::var("ADO_VENV")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| super::cache_dir().join("venv"));
    let py = venv.join("bin/python");
    assert!(
        py.is_file(),
        "{} not found: set ADO_VENV to the project venv (with helm-python-sdk), or run \
         `bash scripts/setup.sh`",
        py.display()
    );
    py
}

/// Runs `python scripts/helm.py ARGS`; (success, stdout, stderr).
pub fn helm(args: &[&str]) -> (bool, String, String) {
    let root = Path::new(crate::REPO_ROOT);
    let out = Command::new(python())
        .arg(root.join("scripts/helm.py"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("run scripts/helm.py");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template` output: template path -> its documents (and NOTES.txt as a string).
pub struct Rendered {
    files: serde_json::Map<String, Value>,
}

impl Rendered {
    /// Every Kubernetes object rendered (NOTES.txt excluded).
    pub fn objects(&self) -> Vec<&Value> {
        self.files
            .iter()
            .filter(|(k, _)| !k.ends_with("NOTES.txt"))
            .filter_map(|(_, v)| v.as_array())
            .flatten()
            .collect()
    }

    /// The rendered objects of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects().into_iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The one rendered object of `kind`; panics unless there is exactly one.
    pub fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(all.len(), 1, "expected exactly one {kind}, got {}", all.len());
        all[0]
    }

    /// The rendered NOTES.txt.
    pub fn notes(&self) -> String {
        self.files
            .iter()
            .find(|(k, _)| k.ends_with("NOTES.txt"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// `helm template RELEASE CHART -n NS` with the `values_files`, then `values` on top; Helm's
/// error message when it fails.
pub fn template(
    release: &str,
    namespace: &str,
    values_files: &[&Path],
    values: &Value,
) -> Result<Rendered, String> {
    let chart = chart_dir().display().to_string();
    let vj = values.to_string();
    let mut args: Vec<String> = [
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--json",
        "--values-json",
        &vj,
    ]
    .map(str::to_string)
    .to_vec();
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

/// The chart's `ci/*.yaml` values files, sorted (at least three).
pub fn ci_files() -> Vec<PathBuf> {
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

/// `helm template RELEASE CHART -n NS` with `values`: every rendered object (NOTES.txt left out),
/// or Helm's error message.
pub fn try_render(release: &str, namespace: &str, values: &Value) -> Result<Vec<Value>, String> {
    let r = template(release, namespace, &[], values)?;
    Ok(r.objects().into_iter().cloned().collect())
}

/// [`try_render`], panicking with Helm's message.
pub fn render(release: &str, namespace: &str, values: &Value) -> Vec<Value> {
    try_render(release, namespace, values).unwrap_or_else(|e| panic!("helm template failed: {e}"))
}

/// The one rendered object of `kind`; panics unless there is exactly one.
pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let all: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(all.len(), 1, "expected exactly one {kind}, got {}", all.len());
    all[0]
}

fn release_command(
    command: &str,
    chart: &Path,
    kubeconfig: &Path,
    release: &str,
    namespace: &str,
    values: &Value,
) {
    let chart = chart.display().to_string();
    let kubeconfig = kubeconfig.display().to_string();
    let vj = values.to_string();
    let (ok, out, err) = helm(&[
        command,
        release,
        &chart,
        "--namespace",
        namespace,
        "--kubeconfig",
        &kubeconfig,
        "--values-json",
        &vj,
    ]);
    assert!(
        ok && out.contains("deployed"),
        "helm {command} {release} -n {namespace} failed:\n{out}{err}"
    );
}

/// `helm install RELEASE charts/account-deletion-operator -n NS --create-namespace` with `values`.
pub fn install(kubeconfig: &Path, release: &str, namespace: &str, values: &Value) {
    install_chart(&chart_dir(), kubeconfig, release, namespace, values);
}

/// [`install`] of the chart in directory `chart` (e.g. a patched copy).
pub fn install_chart(chart: &Path, kubeconfig: &Path, release: &str, namespace: &str, values: &Value) {
    release_command("install", chart, kubeconfig, release, namespace, values);
}

/// `helm upgrade RELEASE charts/account-deletion-operator -n NS` with exactly `values`.
pub fn upgrade(kubeconfig: &Path, release: &str, namespace: &str, values: &Value) {
    release_command("upgrade", &chart_dir(), kubeconfig, release, namespace, values);
}

/// `helm uninstall RELEASE -n NS`.
pub fn uninstall(kubeconfig: &Path, release: &str, namespace: &str) {
    let kubeconfig = kubeconfig.display().to_string();
    let (ok, out, err) = helm(&[
        "uninstall",
        release,
        "--namespace",
        namespace,
        "--kubeconfig",
        &kubeconfig,
    ]);
    assert!(ok, "helm uninstall {release} -n {namespace} failed:\n{out}{err}");
}
