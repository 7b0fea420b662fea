//! Where the Fleet/Operator row runs the operator, as users run it: the image
//! (`scripts/build-image.sh`) installed with the Helm chart on a one-node cluster
//! (`scripts/node-up.sh`, stopped by `scripts/node-down.sh`); or, with `--fleet-operator-process`,
//! the release binary as a process beside etcd + kube-apiserver (`scripts/kube-up.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use serde_json::{Value, json};

use super::BoxErr;

fn root() -> &'static Path {
    Path::new(ado_testkit::REPO_ROOT)
}

/// `KEY=VALUE` lines of a script's stdout.
fn vars_of(stdout: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn script(name: &str, args: &[&str]) -> Result<BTreeMap<String, String>, BoxErr> {
    let out = Command::new("bash")
        .arg(root().join("scripts").join(name))
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("scripts/{name} failed ({})", out.status).into());
    }
    Ok(vars_of(&out.stdout))
}

/// etcd + kube-apiserver (and with `node`, the whole one-node cluster); stopped on drop.
pub struct Cluster {
    dir: String,
    url: String,
    token: String,
    /// `KUBE_API_PORT` and `CONTAINERD_ADDRESS` of scripts/node-up.sh (node clusters only).
    node: Option<(u16, String)>,
    /// A port free for the pod to bind later (`FREE_LISTEN_PORT`, node clusters only).
    free_port: Option<u16>,
}

impl Cluster {
    /// `scripts/kube-up.sh`.
    pub fn api_server_only() -> Result<Cluster, BoxErr> {
        Cluster::from_vars(&script("kube-up.sh", &[])?, false)
    }

    /// `scripts/node-up.sh IMAGE_ARCHIVE`.
    pub fn one_node(image_archive: &Path) -> Result<Cluster, BoxErr> {
        let archive = image_archive.to_string_lossy();
        Cluster::from_vars(&script("node-up.sh", &[archive.as_ref()])?, true)
    }

    fn from_vars(vars: &BTreeMap<String, String>, node: bool) -> Result<Cluster, BoxErr> {
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .ok_or_else(|| format!("the cluster script printed no {k}"))
        };
        let node = if node {
            Some((get("KUBE_API_PORT")?.parse()?, get("CONTAINERD_ADDRESS")?))
        } else {
            None
        };
        let free_port = vars.get("FREE_LISTEN_PORT").and_then(|p| p.parse().ok());
        Ok(Cluster {
            free_port,
            dir: get("KUBE_DIR")?,
            url: get("KUBE_API_URL")?,
            token: get("KUBE_TOKEN")?,
            node,
        })
    }

    /// An admin client.
    pub fn client(&self) -> Result<Client, BoxErr> {
        let mut cfg = kube::Config::new(self.url.parse()?);
        cfg.accept_invalid_certs = true;
        cfg.auth_info = serde_json::from_value(json!({ "token": self.token }))?;
        Ok(Client::try_from(cfg)?)
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        Path::new(&self.dir).join("kubeconfig")
    }

    /// The node's pod logs (`kubectl logs` reads the same files).
    pub fn pod_logs(&self) -> PathBuf {
        Path::new(&self.dir).join("node/pod-logs")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let down = if self.node.is_some() {
            "node-down.sh"
        } else {
            "kube-down.sh"
        };
        let _ = Command::new("bash")
            .arg(root().join("scripts").join(down))
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
    }
}

/// The operator image: `$ADO_IMAGE` / `$ADO_IMAGE_ARCHIVE` when set (scripts/test.sh), else built
/// with scripts/build-image.sh into `dir`.
pub fn operator_image(dir: &Path) -> Result<(String, PathBuf), BoxErr> {
    if let (Ok(r), Ok(a)) = (std::env::var("ADO_IMAGE"), std::env::var("ADO_IMAGE_ARCHIVE"))
        && !r.is_empty()
        && Path::new(&a).is_file()
    {
        return Ok((r, PathBuf::from(a)));
    }
    eprintln!("bench: building the operator image (scripts/build-image.sh) ...");
    let archive = dir.join("operator-image.tar");
    let archive_s = archive.to_string_lossy().into_owned();
    let vars = script("build-image.sh", &["--archive", &archive_s])?;
    let reference = vars
        .get("ADO_IMAGE")
        .cloned()
        .ok_or("scripts/build-image.sh printed no ADO_IMAGE")?;
    Ok((reference, archive))
}

/// How the operator runs.
pub enum Operator {
    /// The release binary as a child process.
    Process(Child),
    /// The Helm release's pod; `pid` is its container's process, seen from the host.
    Pod {
        /// Host PID of the operator container's process.
        pid: u32,
    },
}

impl Operator {
    /// The process id (host PID).
    pub fn pid(&self) -> u32 {
        match self {
            Operator::Process(c) => c.id(),
            Operator::Pod { pid } => *pid,
        }
    }

    /// An error when the operator has exited (the log to read is in the message).
    pub fn check_running(&mut self, dir: &Path, cluster: &Cluster) -> Result<(), BoxErr> {
        match self {
            Operator::Process(c) => {
                if let Some(code) = c.try_wait()? {
                    let log = dir.join("operator.log");
                    return Err(format!("the operator exited ({code}); see {}", log.display()).into());
                }
            }
            Operator::Pod { pid } => {
                let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let alive = state
                    .rsplit_once(") ")
                    .is_some_and(|(_, rest)| !rest.starts_with('Z'));
                if !alive {
                    return Err(format!(
                        "the operator container (pid {pid}) exited; its logs are under {}",
                        cluster.pod_logs().display()
                    )
                    .into());
                }
            }
        }
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // The pod is stopped with the node (scripts/node-down.sh).
        if let Operator::Process(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every process as (pid, ppid, argv).
fn processes() -> Vec<(u32, u32, Vec<String>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(") ")?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let argv = std::fs::read(e.path().join("cmdline")).ok()?;
            let argv = argv
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, ppid, argv))
        })
        .collect()
}

/// The host PID of the operator container on the node whose containerd listens on `address`:
/// a child of one of that containerd's shims running `/usr/local/bin/account-deletion-operator`.
fn operator_pid(address: &str) -> Option<u32> {
    let procs = processes();
    let shims: Vec<u32> = procs
        .iter()
        .filter(|(_, _, a)| {
            a.first().is_some_and(|p| p.contains("containerd-shim"))
                && a.windows(2).any(|w| w[0] == "-address" && w[1] == address)
        })
        .map(|(p, _, _)| *p)
        .collect();
    procs
        .iter()
        .find(|(_, ppid, a)| {
            shims.contains(ppid)
                && a.first()
                    .is_some_and(|p| p == "/usr/local/bin/account-deletion-operator")
        })
        .map(|(p, _, _)| *p)
}

/// `helm install` of the chart into `cluster` (one node) with the fleet's settings, then waits for
/// the Deployment to be Available; the operator container's host PID.
pub async fn install_pod(
    cluster: &Cluster,
    image: &str,
    namespace: &str,
    tuning: &Value,
) -> Result<Operator, BoxErr> {
    let (api_port, address) = cluster.node.clone().ok_or("not a node cluster")?;
    let (repository, tag) = image.rsplit_once(':').ok_or("image reference without a tag")?;
    let metrics_port: u16 = cluster
        .free_port
        .ok_or("scripts/node-up.sh printed no FREE_LISTEN_PORT")?;
    let mut values = json!({
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "hostNetwork": true,
        "kubernetesApiOverride": {"host": "127.0.0.1", "port": api_port},
        "metrics": {"port": metrics_port},
        "watchNamespaces": [namespace],
        "logging": {"format": "json"},
        // Measured, not throttled: the chart's default limits (500m CPU) would cap the row.
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
    });
    if let (Some(v), Some(t)) = (values.as_object_mut(), tuning.as_object()) {
        v.extend(t.clone());
    }
    let venv = std::env::var("ADO_VENV").map(PathBuf::from).unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        Path::new(&home).join(".cache/account-deletion-operator/venv")
    });
    let out = Command::new(venv.join("bin/python"))
        .arg(root().join("scripts/helm.py"))
        .args(["install", "ado"])
        .arg(root().join("charts/account-deletion-operator"))
        .args(["--namespace", "ado-system", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .args(["--values-json", &values.to_string()])
        .output()
        .map_err(|e| format!("{}: {e} (run scripts/setup.sh for the venv)", venv.display()))?;
    if !out.status.success() {
        return Err(format!(
            "helm install failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let deployments: Api<Deployment> = Api::namespaced(cluster.client()?, "ado-system");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let d = deployments.get("ado-account-deletion-operator").await?;
        let available = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
        if available >= 1
            && let Some(pid) = operator_pid(&address)
        {
            eprintln!("bench: operator pod Available (container pid {pid}, image {image})");
            return Ok(Operator::Pod { pid });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the operator Deployment is not Available after 300 s; pod logs under {}",
                cluster.pod_logs().display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
