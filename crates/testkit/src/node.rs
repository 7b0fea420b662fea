//! A whole Kubernetes v1.20.2 cluster on loopback with real nodes, as `scripts/node-up.sh` starts
//! it (flags and pitfalls: ../shared/docs/test-infrastructure.md §1b): the etcd + kube-apiserver of
//! [`KubeCluster`], kube-controller-manager (ServiceAccount tokens, Deployments, garbage
//! collection), kube-scheduler and, per node, a private containerd + runc and a kubelet.
//!
//! - Node `i` (from 0) is named and addressed `127.0.0.<i+1>`: its InternalIP is that loopback
//!   address, so `kubectl logs`/`exec`, probes and the pod IP of hostNetwork pods stay on loopback.
//!   Pods must use `hostNetwork: true` (there is no pod network; CNI has only the loopback plugin)
//!   and reach the API server at `KUBERNETES_SERVICE_HOST=127.0.0.1`, `KUBERNETES_SERVICE_PORT=`
//!   [`KubeNode::api_port`], TLS verified against the ServiceAccount's `ca.crt` (the API server's
//!   self-signed certificate, which the controller-manager distributes). Pods get a resolv.conf
//!   naming 127.0.0.1 only.
//! - containerd and the kubelet of a node share a private mount namespace in which the node's own
//!   directories are bind-mounted over /var/log/pods and /var/log/containers (the kubelet has no
//!   flag for them, and each kubelet deletes the log directories of pods it does not know). Pod
//!   logs are therefore under `<node dir>/pod-logs` on the host ([`KubeNode::pod_logs_dir`]).
//! - Images come from docker-archives (`buildah push IMG docker-archive:FILE:IMG`) imported with
//!   `ctr -n k8s.io images import`; nothing is ever pulled. The pause image is built from the
//!   cached static `pause` binary (`scripts/pause-image.sh`).
//! - Drop stops everything by PID, also when the test panics: the kubelets, then every container
//!   process and shim of each node's containerd (found by its socket address), containerd, the
//!   scheduler, the controller-manager, then the API server and etcd. Start first kills what a
//!   SIGKILLed earlier test left ([`super::procs::reap_orphaned_nodes`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node as KNode, Pod};
use kube::api::{Api, ListParams, LogParams};

use super::cluster::KubeCluster;
use super::{kill_and_reap, procs, require_binary, spawn_logged, tail};

/// How long all nodes may take to report Ready (about 20 s is usual once the binaries are cached;
/// the target is 60 s, this bound is generous for a loaded 2-core machine).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The containerd configuration template shared with scripts/node-up.sh.
const CONTAINERD_TOML: &str = include_str!("../../../scripts/node/containerd.toml");
const CNI_CONFLIST: &str = include_str!("../../../scripts/node/cni-loopback.conflist");

/// The cache directory of scripts/setup.sh (`$ADO_CACHE`, default ~/.cache/account-deletion-operator).
fn kube_bin_dir() -> PathBuf {
    match std::env::var("KUBE_BIN_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => super::cache_dir().join("kubernetes-v1.20.2-r3"),
    }
}

/// `program` on PATH; panics naming the Debian package otherwise.
fn on_path(program: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{program} not found on PATH: install Debian's {package} (bash scripts/setup.sh does)")
    })
}

/// Runs `ctr --address SOCK ARGS`; stdout, or an error with stderr.
fn ctr(sock: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ctr")
        .arg("--address")
        .arg(sock)
        .args(args)
        .output()
        .map_err(|e| format!("run ctr {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ctr {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `scripts/pause-image.sh`: (image reference, docker-archive), built once and cached.
fn pause_image() -> (String, PathBuf) {
    let root = Path::new(crate::REPO_ROOT);
    let out = Command::new("bash")
        .arg(root.join("scripts/pause-image.sh"))
        .output()
        .expect("run scripts/pause-image.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/pause-image.sh failed ({}):\n{}{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let var = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("scripts/pause-image.sh printed no {k}=: {stdout}"))
    };
    (var("PAUSE_IMAGE"), PathBuf::from(var("PAUSE_IMAGE_ARCHIVE")))
}

/// The lines of a Go/klog log that say why the process died (klog `F` lines, `panic:`,
/// `fatal error:`): a klog fatal is followed by every goroutine's stack, so the tail alone hides it.
fn fatal_lines(log: &Path) -> String {
    super::read_log(log)
        .lines()
        .filter(|l| {
            l.starts_with('F') && l.get(1..5).is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
                || l.starts_with("panic:")
                || l.starts_with("fatal error:")
        })
        .take(10)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One node: its containerd and kubelet.
struct Node {
    name: String,
    dir: PathBuf,
    sock: PathBuf,
    containerd: Option<Child>,
    kubelet: Option<Child>,
}

impl Node {
    fn log(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{what}.log"))
    }
}

/// A running cluster with `n` nodes; everything is stopped on drop.
pub struct KubeNode {
    nodes: Vec<Node>,
    controller_manager: Option<Child>,
    scheduler: Option<Child>,
    started_in: Duration,
    // Dropped last: the API server and etcd outlive the nodes.
    cluster: KubeCluster,
}

impl std::ops::Deref for KubeNode {
    type Target = KubeCluster;
    fn deref(&self) -> &KubeCluster {
        &self.cluster
    }
}

impl KubeNode {
    /// A one-node cluster (node `127.0.0.1`); returns once the node is Ready.
    pub async fn start() -> KubeNode {
        KubeNode::start_nodes(1).await
    }

    /// A cluster with `n` nodes (`127.0.0.1` ... `127.0.0.<n>`), each with its own containerd and
    /// kubelet; returns once every node is Ready. Panics (never skips) when a binary is missing.
    pub async fn start_nodes(n: usize) -> KubeNode {
        assert!((1..=9).contains(&n), "1 to 9 nodes, not {n}");
        procs::reap_orphaned_nodes();
        let bins = kube_bin_dir();
        for b in ["kube-controller-manager", "kube-scheduler", "kubelet"] {
            require_binary(&bins.join(b), b, "KUBE_BIN_DIR");
        }
        on_path("containerd", "containerd");
        on_path("ctr", "containerd");
        on_path("containerd-shim-runc-v2", "containerd");
        on_path("runc", "runc");
        on_path("unshare", "util-linux");
        on_path("nsenter", "util-linux");
        assert!(
            Path::new("/usr/lib/cni/loopback").is_file(),
            "/usr/lib/cni/loopback missing: install Debian's containernetworking-plugins (bash scripts/setup.sh does)"
        );
        let (pause, pause_archive) = pause_image();

        let t0 = Instant::now();
        let cluster = KubeCluster::start().await;
        let d = cluster.dir().to_path_buf();
        let kubeconfig = cluster.kubeconfig().to_path_buf();
        let mut cm = Command::new(bins.join("kube-controller-manager"));
        cm.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!(
                "--service-account-private-key-file={}",
                d.join("sa.key").display()
            ))
            .arg(format!(
                "--root-ca-file={}",
                d.join("certs/apiserver.crt").display()
            ))
            .args(["--leader-elect=false", "--port=0", "--secure-port=0"])
            // Nothing that allocates or routes addresses: there is no pod network.
            .arg("--controllers=*,-nodeipam,-service,-route,-cloud-node-lifecycle");
        let controller_manager = Some(spawn_logged(cm, &d.join("controller-manager.log")));
        let mut sc = Command::new(bins.join("kube-scheduler"));
        sc.arg(format!("--kubeconfig={}", kubeconfig.display())).args([
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
        ]);
        let scheduler = Some(spawn_logged(sc, &d.join("scheduler.log")));

        let mut k = KubeNode {
            nodes: Vec::new(),
            controller_manager,
            scheduler,
            started_in: Duration::ZERO,
            cluster,
        };
        for i in 0..n {
            let node = k.spawn_containerd(i, &pause);
            k.nodes.push(node);
        }
        for i in 0..n {
            k.wait_containerd(i).await;
            let sock = k.nodes[i].sock.clone();
            ctr(
                &sock,
                &[
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    &pause_archive.to_string_lossy(),
                ],
            )
            .unwrap_or_else(|e| panic!("import the pause image into node {i}: {e}"));
            k.spawn_kubelet(i, &bins, &pause);
        }
        k.wait_nodes_ready().await;
        k.started_in = t0.elapsed();
        eprintln!(
            "test node harness: {n} node(s) Ready {:.1} s after start (dir {})",
            k.started_in.as_secs_f64(),
            k.cluster.dir().display()
        );
        k
    }

    fn spawn_containerd(&self, i: usize, pause: &str) -> Node {
        let name = format!("127.0.0.{}", i + 1);
        let dir = self.cluster.dir().join(format!("node-{}", i + 1));
        let cdir = dir.join("containerd");
        for sub in ["cni", "root", "state", "runc"] {
            std::fs::create_dir_all(cdir.join(sub)).expect("create containerd dirs");
        }
        for sub in [
            "pod-logs",
            "container-logs",
            "kubelet",
            "kubelet-certs",
            "volume-plugins",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("create node dirs");
        }
        let config = cdir.join("config.toml");
        std::fs::write(
            &config,
            CONTAINERD_TOML
                .replace("@DIR@", &cdir.to_string_lossy())
                .replace("@PAUSE_IMAGE@", pause),
        )
        .expect("write containerd config");
        std::fs::write(cdir.join("cni/10-loopback.conflist"), CNI_CONFLIST).expect("write CNI config");
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("write resolv.conf");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(
                "mkdir -p /var/log/pods /var/log/containers && mount --bind \"$1\" /var/log/pods \
                 && mount --bind \"$2\" /var/log/containers && exec containerd --config \"$3\"",
            )
            .arg("sh")
            .arg(dir.join("pod-logs"))
            .arg(dir.join("container-logs"))
            .arg(&config);
        let log = dir.join("containerd.log");
        let containerd = Some(spawn_logged(cmd, &log));
        Node {
            name,
            sock: cdir.join("containerd.sock"),
            dir,
            containerd,
            kubelet: None,
        }
    }

    async fn wait_containerd(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let node = &mut self.nodes[i];
            if ctr(&node.sock, &["version"]).is_ok() {
                return;
            }
            if let Some(c) = node.containerd.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "containerd of node {} exited ({st}); tail of {}:\n{}",
                    node.name,
                    node.log("containerd").display(),
                    tail(&node.log("containerd"), 40)
                );
            }
            assert!(
                Instant::now() < deadline,
                "containerd of node {} did not answer on {} within 30 s; tail:\n{}",
                node.name,
                node.sock.display(),
                tail(&node.log("containerd"), 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn spawn_kubelet(&mut self, i: usize, bins: &Path, pause: &str) {
        let kubeconfig = self.cluster.kubeconfig().to_path_buf();
        let node = &mut self.nodes[i];
        let containerd_pid = node
            .containerd
            .as_ref()
            .map(Child::id)
            .expect("containerd running");
        let port = super::free_listen_port(&node.name);
        let p = |s: &str| node.dir.join(s).to_string_lossy().into_owned();
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount=/proc/{containerd_pid}/ns/mnt"))
            .arg("--")
            .arg(bins.join("kubelet"))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--hostname-override={}", node.name))
            .arg(format!("--address={}", node.name))
            .arg(format!("--port={port}"))
            .args(["--read-only-port=0", "--healthz-port=0"])
            .arg("--container-runtime=remote")
            .arg(format!(
                "--container-runtime-endpoint=unix://{}",
                node.sock.display()
            ))
            .arg(format!("--containerd={}", node.sock.display()))
            .arg(format!("--pod-infra-container-image={pause}"))
            .arg(format!("--root-dir={}", p("kubelet")))
            .arg(format!("--cert-dir={}", p("kubelet-certs")))
            .arg(format!("--volume-plugin-dir={}", p("volume-plugins")))
            .arg(format!("--resolv-conf={}", p("resolv.conf")))
            .args([
                "--fail-swap-on=false",
                "--cgroups-per-qos=false",
                "--enforce-node-allocatable=",
            ])
            .args(["--cgroup-driver=cgroupfs", "--eviction-hard="])
            .args(["--image-gc-high-threshold=100", "--image-gc-low-threshold=99"]);
        let log = node.log("kubelet");
        node.kubelet = Some(spawn_logged(cmd, &log));
    }

    async fn wait_nodes_ready(&mut self) {
        let api: Api<KNode> = Api::all(self.cluster.client());
        let start = Instant::now();
        loop {
            let mut not_ready = Vec::new();
            for n in &self.nodes {
                let ready = api.get(&n.name).await.ok().is_some_and(|node| {
                    node.status
                        .and_then(|s| s.conditions)
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                });
                if !ready {
                    not_ready.push(n.name.clone());
                }
            }
            if not_ready.is_empty() {
                return;
            }
            self.assert_running();
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "node(s) {not_ready:?} not Ready after {READY_TIMEOUT:?}; kubelet log tail:\n{}",
                tail(&self.nodes[0].log("kubelet"), 40)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Panics with the log tail when a process of the cluster has exited.
    pub fn assert_running(&mut self) {
        let d = self.cluster.dir().to_path_buf();
        for (what, child, log) in [
            (
                "kube-controller-manager",
                self.controller_manager.as_mut(),
                d.join("controller-manager.log"),
            ),
            ("kube-scheduler", self.scheduler.as_mut(), d.join("scheduler.log")),
        ] {
            if let Some(c) = child
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "{what} exited ({st}); tail of {}:\n{}",
                    log.display(),
                    tail(&log, 40)
                );
            }
        }
        for n in &mut self.nodes {
            for (what, child) in [
                ("containerd", n.containerd.as_mut()),
                ("kubelet", n.kubelet.as_mut()),
            ] {
                let log = n.dir.join(format!("{what}.log"));
                if let Some(c) = child
                    && let Ok(Some(st)) = c.try_wait()
                {
                    panic!(
                        "{what} of node {} exited ({st}); its fatal lines and tail ({}):\n{}\n...\n{}",
                        n.name,
                        log.display(),
                        fatal_lines(&log),
                        tail(&log, 20)
                    );
                }
            }
        }
    }

    /// How long [`Self::start_nodes`] took from starting etcd until every node was Ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The API server's secure port (for `KUBERNETES_SERVICE_PORT` in pods).
    pub fn api_port(&self) -> u16 {
        self.cluster
            .url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("API server URL ends with :PORT")
    }

    /// Node names (`127.0.0.1`, ...), which are also their InternalIPs.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The kubelet log of node `i` so far.
    pub fn kubelet_log(&self, i: usize) -> String {
        super::read_log(&self.nodes[i].log("kubelet"))
    }

    /// Host directory holding the `/var/log/pods` tree of node `i` (the kubelet's pod logs).
    pub fn pod_logs_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("pod-logs")
    }

    /// Imports a docker-archive into every node's containerd (namespace k8s.io).
    pub fn import_image(&self, archive: &Path) {
        for n in &self.nodes {
            ctr(
                &n.sock,
                &["-n", "k8s.io", "images", "import", &archive.to_string_lossy()],
            )
            .unwrap_or_else(|e| panic!("import {} into node {}: {e}", archive.display(), n.name));
        }
    }

    /// Adds tag `target` to image `source` on every node (`ctr images tag --force`).
    pub fn tag_image(&self, source: &str, target: &str) {
        for n in &self.nodes {
            ctr(
                &n.sock,
                &["-n", "k8s.io", "images", "tag", "--force", source, target],
            )
            .unwrap_or_else(|e| panic!("tag {source} as {target} on node {}: {e}", n.name));
        }
    }

    /// Image references known to node `i`'s containerd.
    pub fn images(&self, i: usize) -> Vec<String> {
        ctr(&self.nodes[i].sock, &["-n", "k8s.io", "images", "ls", "-q"])
            .unwrap_or_else(|e| panic!("list images of node {}: {e}", self.nodes[i].name))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// PIDs of the processes of every running container (pods included) on all nodes, from the
    /// shims' process trees.
    pub fn container_pids(&self) -> Vec<u32> {
        self.container_pids_in(&procs::table())
    }

    fn container_pids_in(&self, table: &[procs::Proc]) -> Vec<u32> {
        self.nodes
            .iter()
            .flat_map(|n| procs::descendants(table, &procs::shims_of(table, &n.sock)))
            .collect()
    }

    /// PIDs of the container processes (on all nodes) running `program`: its argv[0] is `program`
    /// or a path ending in `/program` (`account-deletion-operator` finds the operator pods' process,
    /// `/usr/local/bin/account-deletion-operator`).
    pub fn container_pids_running(&self, program: &str) -> Vec<u32> {
        let table = procs::table();
        let containers = self.container_pids_in(&table);
        table
            .iter()
            .filter(|p| containers.contains(&p.pid))
            .filter(|p| {
                p.args
                    .first()
                    .is_some_and(|a| a == program || a.rsplit('/').next() == Some(program))
            })
            .map(|p| p.pid)
            .collect()
    }

    /// A container's log through the API server and the kubelet (what `kubectl logs` does).
    pub async fn pod_log(&self, ns: &str, pod: &str) -> Result<String, kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.cluster.client(), ns);
        api.logs(pod, &LogParams::default()).await
    }

    /// One line per pod in `ns` (phase, node, container states, restarts) and the namespace's
    /// Warning events: for failure messages.
    pub async fn describe_pods(&self, ns: &str) -> String {
        let api: Api<Pod> = Api::namespaced(self.cluster.client(), ns);
        let mut out = String::new();
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                for p in list.items {
                    let st = p.status.unwrap_or_default();
                    let containers: Vec<String> = st
                        .container_statuses
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| {
                            format!(
                                "{} ready={} restarts={} state={}",
                                c.name,
                                c.ready,
                                c.restart_count,
                                serde_json::to_string(&c.state).unwrap_or_default()
                            )
                        })
                        .collect();
                    out.push_str(&format!(
                        "pod {} phase={:?} node={:?} deleting={} {}\n",
                        p.metadata.name.unwrap_or_default(),
                        st.phase,
                        p.spec.and_then(|s| s.node_name),
                        p.metadata.deletion_timestamp.is_some(),
                        containers.join("; ")
                    ));
                }
            }
            Err(e) => out.push_str(&format!("listing pods in {ns} failed: {e}\n")),
        }
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.cluster.client(), ns);
        if let Ok(list) = events.list(&ListParams::default()).await {
            for e in list
                .items
                .into_iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
            {
                out.push_str(&format!(
                    "warning {}/{}: {} {}\n",
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                ));
            }
        }
        out
    }

    /// Stops every node process, pods included (Drop does this too).
    fn stop_nodes(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.kubelet.take() {
                kill_and_reap(&mut c);
            }
        }
        let table = procs::table();
        let mut killed = Vec::new();
        for n in &self.nodes {
            let shims = procs::shims_of(&table, &n.sock);
            let containers = procs::descendants(&table, &shims);
            // Containers first: a container can outlive its killed shim.
            procs::kill9(&containers);
            procs::kill9(&shims);
            killed.extend(containers);
            killed.extend(shims);
        }
        for n in &mut self.nodes {
            if let Some(mut c) = n.containerd.take() {
                kill_and_reap(&mut c);
            }
        }
        for c in [self.scheduler.take(), self.controller_manager.take()]
            .into_iter()
            .flatten()
        {
            let mut c = c;
            kill_and_reap(&mut c);
        }
        let left = procs::wait_gone(&killed, Duration::from_secs(10));
        if !left.is_empty() {
            eprintln!("test node harness: processes still alive 10 s after SIGKILL: {left:?}");
        }
    }
}

impl Drop for KubeNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let d = self.cluster.dir().to_path_buf();
            for n in &self.nodes {
                eprintln!(
                    "--- kubelet {} log tail ({}):\n{}",
                    n.name,
                    n.log("kubelet").display(),
                    tail(&n.log("kubelet"), 25)
                );
            }
            eprintln!(
                "--- kube-controller-manager log tail:\n{}",
                tail(&d.join("controller-manager.log"), 15)
            );
        }
        self.stop_nodes();
    }
}
