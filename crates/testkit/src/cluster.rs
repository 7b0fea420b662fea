//! A throw-away etcd + kube-apiserver v1.20.2, started like `scripts/kube-up.sh` does
//! (flags per ../shared/docs/test-infrastructure.md §1).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tempfile::TempDir;

use super::{kill_and_reap, require_binary, spawn_logged, tail};

/// How long the API server may take to answer `/readyz` 200 (about 8 s is usual on 2 cores).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running etcd + kube-apiserver pair; both are SIGKILLed and reaped on drop.
pub struct KubeCluster {
    dir: TempDir,
    etcd_bin: PathBuf,
    apiserver_bin: PathBuf,
    etcd: Option<Child>,
    apiserver: Option<Child>,
    etcd_client_port: u16,
    etcd_peer_port: u16,
    api_port: u16,
    url: String,
    token: String,
    kubeconfig: PathBuf,
    client: Client,
}

/// `$ETCD_BIN`, else `etcd` on PATH, else /usr/bin/etcd.
fn etcd_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ETCD_BIN")
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let c = dir.join("etcd");
            if c.is_file() {
                return c;
            }
        }
    }
    PathBuf::from("/usr/bin/etcd")
}

/// `$KUBE_APISERVER_BIN`, else the cached build of scripts/setup.sh.
fn apiserver_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KUBE_APISERVER_BIN")
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    let cache = std::env::var("ADO_CACHE")
        .ok()
        .filter(|s| !s.is_empty())
        .map_or_else(
            || {
                let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
                Path::new(&home).join(".cache/account-deletion-operator")
            },
            PathBuf::from,
        );
    cache.join("kubernetes-v1.20.2-r3/kube-apiserver")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run openssl {args:?} (is openssl installed?): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A random hex token (no secret material from anywhere else; only valid for this cluster).
fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..24).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// A kube client for `url` authenticating with bearer `token`, trusting the self-signed serving
/// certificate (the API server generates it into its cert dir).
pub fn client_for(url: &str, token: &str) -> Client {
    super::ensure_crypto();
    let mut cfg = kube::Config::new(url.parse().expect("cluster url parses as a URI"));
    cfg.accept_invalid_certs = true;
    cfg.auth_info =
        serde_json::from_value(serde_json::json!({ "token": token })).expect("AuthInfo from a token");
    cfg.connect_timeout = Some(Duration::from_secs(5));
    Client::try_from(cfg).expect("build kube client")
}

/// Kubeconfig text in the shape kube-up.sh writes (insecure-skip-tls-verify, bearer token).
pub fn kubeconfig_text(url: &str, token: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ado-test\n  cluster:\n    server: {url}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: user\n  user:\n    token: {token}\n\
         contexts:\n- name: ado-test\n  context: {{ cluster: ado-test, user: user, namespace: {namespace} }}\n\
         current-context: ado-test\n"
    )
}

impl KubeCluster {
    /// [`Self::start`], then the project's CRDs ([`Self::install_project_crds`]) and, in each of
    /// `namespaces`, the credentials Secret `mgmt` with this management AccessKey: what an
    /// `AccountDeletion` of the tests needs.
    pub async fn start_with_credentials(namespaces: &[&str], key_id: &str, key_secret: &str) -> KubeCluster {
        let k = KubeCluster::start().await;
        k.install_project_crds().await;
        for ns in namespaces {
            k.create_namespace(ns).await;
            k.create_credentials_secret(ns, "mgmt", key_id, key_secret).await;
        }
        k
    }

    /// Starts etcd and kube-apiserver on free loopback ports in a fresh tempdir and waits for
    /// `/readyz`. Panics (never skips) when a binary is missing.
    pub async fn start() -> KubeCluster {
        let etcd_bin = etcd_bin();
        let apiserver_bin = apiserver_bin();
        require_binary(&etcd_bin, "etcd", "ETCD_BIN");
        require_binary(&apiserver_bin, "kube-apiserver v1.20.2", "KUBE_APISERVER_BIN");

        let dir = tempfile::Builder::new()
            .prefix("ado-kube.")
            .tempdir()
            .expect("create cluster tempdir");
        let d = dir.path();
        let sa_key = d.join("sa.key");
        let sa_pub = d.join("sa.pub");
        openssl(&["genrsa", "-out", sa_key.to_str().unwrap(), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            sa_key.to_str().unwrap(),
            "-pubout",
            "-out",
            sa_pub.to_str().unwrap(),
        ]);
        let token = random_token();
        std::fs::write(
            d.join("tokens.csv"),
            format!("{token},admin,admin,system:masters\n"),
        )
        .expect("write tokens.csv");
        std::fs::create_dir_all(d.join("certs")).expect("create cert dir");

        let ports = super::free_ports(3);
        let (etcd_client_port, etcd_peer_port, api_port) = (ports[0], ports[1], ports[2]);
        let url = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = d.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&url, &token, "default")).expect("write kubeconfig");
        let client = client_for(&url, &token);

        let mut c = KubeCluster {
            dir,
            etcd_bin,
            apiserver_bin,
            etcd: None,
            apiserver: None,
            etcd_client_port,
            etcd_peer_port,
            api_port,
            url,
            token,
            kubeconfig,
            client,
        };
        c.spawn_etcd();
        c.spawn_apiserver();
        c.wait_ready().await;
        c
    }

    fn spawn_etcd(&mut self) {
        let d = self.dir.path();
        let client = format!("http://127.0.0.1:{}", self.etcd_client_port);
        let peer = format!("http://127.0.0.1:{}", self.etcd_peer_port);
        let mut cmd = Command::new(&self.etcd_bin);
        cmd.arg("--name")
            .arg("ado-test")
            .arg("--data-dir")
            .arg(d.join("etcd"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("ado-test={peer}")]);
        self.etcd = Some(spawn_logged(cmd, &d.join("etcd.log")));
    }

    fn spawn_apiserver(&mut self) {
        let d = self.dir.path();
        let p = |name: &str| d.join(name).to_string_lossy().into_owned();
        let mut cmd = Command::new(&self.apiserver_bin);
        cmd.arg(format!(
            "--etcd-servers=http://127.0.0.1:{}",
            self.etcd_client_port
        ))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={}", self.api_port))
        .arg(format!("--cert-dir={}", p("certs")))
        .arg(format!("--token-auth-file={}", p("tokens.csv")))
        .arg("--authorization-mode=RBAC")
        .arg(format!("--service-account-key-file={}", p("sa.pub")))
        .arg(format!("--service-account-signing-key-file={}", p("sa.key")))
        .arg("--service-account-issuer=https://kubernetes.default.svc")
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--endpoint-reconciler-type=none");
        self.apiserver = Some(spawn_logged(cmd, &d.join("apiserver.log")));
    }

    /// Polls `/readyz` with the admin token until 200; panics with the log tail when a process
    /// died or [`READY_TIMEOUT`] passed.
    async fn wait_ready(&mut self) {
        let start = tokio::time::Instant::now();
        let mut last: String;
        loop {
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("build /readyz request");
            match tokio::time::timeout(Duration::from_secs(5), self.client.request_text(req)).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "/readyz timed out after 5 s".into(),
            }
            for (name, child, log) in [
                ("etcd", self.etcd.as_mut(), "etcd.log"),
                ("kube-apiserver", self.apiserver.as_mut(), "apiserver.log"),
            ] {
                if let Some(ch) = child
                    && let Ok(Some(st)) = ch.try_wait()
                {
                    panic!(
                        "{name} exited ({st}) while waiting for /readyz; tail of {}:\n{}",
                        self.dir.path().join(log).display(),
                        tail(&self.dir.path().join(log), 40)
                    );
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                panic!(
                    "kube-apiserver /readyz not 200 after {READY_TIMEOUT:?} (last: {last}); tail of apiserver.log:\n{}",
                    tail(&self.dir.path().join("apiserver.log"), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An admin (system:masters) client; cheap to clone.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `https://127.0.0.1:PORT` of the API server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// Admin kubeconfig (namespace `default`) for child processes (`KUBECONFIG`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The cluster's tempdir (logs: etcd.log, apiserver.log; kubeconfigs written here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// kube-apiserver output so far.
    pub fn apiserver_log(&self) -> String {
        super::read_log(&self.dir.path().join("apiserver.log"))
    }

    /// etcd output so far.
    pub fn etcd_log(&self) -> String {
        super::read_log(&self.dir.path().join("etcd.log"))
    }

    /// SIGKILLs the API server and leaves it down (for outage windows); see [`Self::start_apiserver`].
    pub fn stop_apiserver(&mut self) {
        if let Some(mut c) = self.apiserver.take() {
            kill_and_reap(&mut c);
        }
    }

    /// Starts the API server again on the same port and waits for `/readyz`.
    pub async fn start_apiserver(&mut self) {
        assert!(self.apiserver.is_none(), "kube-apiserver already running");
        self.spawn_apiserver();
        self.wait_ready().await;
    }

    /// Kill -9 and start the API server on the same port/etcd; returns once `/readyz` is 200.
    pub async fn restart_apiserver(&mut self) {
        self.stop_apiserver();
        self.start_apiserver().await;
    }

    /// SIGKILLs etcd and leaves it down; the API server stays up but fails requests.
    pub fn stop_etcd(&mut self) {
        if let Some(mut c) = self.etcd.take() {
            kill_and_reap(&mut c);
        }
    }

    /// Starts etcd again on the same ports and data dir and waits for the API server's `/readyz`.
    pub async fn start_etcd(&mut self) {
        assert!(self.etcd.is_none(), "etcd already running");
        self.spawn_etcd();
        // /readyz may still be 200 from before the outage: first see etcd itself listen again.
        let addr = format!("127.0.0.1:{}", self.etcd_client_port);
        super::wait_for(
            "etcd client port to accept connections",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let addr = addr.clone();
                async move { tokio::net::TcpStream::connect(addr).await.map(|_| ()) }
            },
        )
        .await;
        self.wait_ready().await;
    }

    /// Kill -9 and restart etcd (same ports and data dir); returns once `/readyz` is 200 again.
    pub async fn restart_etcd(&mut self) {
        self.stop_etcd();
        self.start_etcd().await;
    }

    /// A kube client authenticating with `token` (e.g. a ServiceAccount's).
    pub fn client_for_token(&self, token: &str) -> Client {
        client_for(&self.url, token)
    }

    /// Writes `<dir>/<file_name>` as a kubeconfig for `token` (default namespace `namespace`) and
    /// returns its path.
    pub fn write_kubeconfig(&self, file_name: &str, token: &str, namespace: &str) -> PathBuf {
        let path = self.dir.path().join(file_name);
        std::fs::write(&path, kubeconfig_text(&self.url, token, namespace))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Creates the credentials Secret an `AccountDeletion` names (`accessKeyId`, `accessKeySecret`).
    pub async fn create_credentials_secret(&self, ns: &str, name: &str, key_id: &str, key_secret: &str) {
        self.create_secret(
            ns,
            name,
            &[("accessKeyId", key_id), ("accessKeySecret", key_secret)],
        )
        .await;
    }

    /// Creates Secret `ns/name` with `string_data`.
    pub async fn create_secret(&self, ns: &str, name: &str, string_data: &[(&str, &str)]) {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(self.client(), ns);
        let s = k8s_openapi::api::core::v1::Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(
                string_data
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        secrets
            .create(&kube::api::PostParams::default(), &s)
            .await
            .unwrap_or_else(|e| panic!("create Secret {ns}/{name}: {e}"));
    }

    /// The typed `AccountDeletion` API of namespace `ns` (admin).
    pub fn deletions(&self, ns: &str) -> Api<account_deletion_operator::crd::AccountDeletion> {
        Api::namespaced(self.client(), ns)
    }

    /// Creates namespace `name` (ok when it exists).
    pub async fn create_namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create namespace {name}: {e}"),
        }
    }

    /// Creates ServiceAccount `ns/name` (ok when it exists).
    pub async fn create_service_account(&self, ns: &str, name: &str) {
        let api: Api<ServiceAccount> = Api::namespaced(self.client(), ns);
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create serviceaccount {ns}/{name}: {e}"),
        }
    }

    /// A token for ServiceAccount `ns/name` from the TokenRequest API (1.20 creates no token
    /// Secrets here: no controller-manager). Valid one hour.
    pub async fn service_account_token(&self, ns: &str, name: &str) -> String {
        let api: Api<ServiceAccount> = Api::namespaced(self.client(), ns);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                expiration_seconds: Some(3600),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        };
        let resp = api
            .create_token_request(name, &PostParams::default(), &req)
            .await
            .unwrap_or_else(|e| panic!("TokenRequest for serviceaccount {ns}/{name}: {e}"));
        resp.status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("TokenRequest for {ns}/{name} returned no token"))
    }

    /// Creates ServiceAccount `ns/name` if needed, asks a token for it, and writes a kubeconfig
    /// (`sa-<ns>-<name>.kubeconfig`, default namespace `ns`); returns (path, token).
    pub async fn service_account_kubeconfig(&self, ns: &str, name: &str) -> (PathBuf, String) {
        self.create_service_account(ns, name).await;
        let token = self.service_account_token(ns, name).await;
        let path = self.write_kubeconfig(&format!("sa-{ns}-{name}.kubeconfig"), &token, ns);
        (path, token)
    }

    /// Creates (or replaces) a CRD from YAML and waits until it is Established (served).
    pub async fn apply_crd_yaml(&self, yaml: &str) -> CustomResourceDefinition {
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("parse CRD YAML: {e}"));
        let name = crd.metadata.name.clone().expect("CRD has metadata.name");
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let mut cur = api.get(&name).await.expect("get existing CRD");
                cur.spec = crd.spec.clone();
                api.replace(&name, &PostParams::default(), &cur)
                    .await
                    .unwrap_or_else(|e| panic!("replace CRD {name}: {e}"));
            }
            Err(e) => panic!("create CRD {name}: {e}"),
        }
        self.wait_crd_established(&name).await
    }

    /// Waits (30 s at most) until CRD `name` is `Established`, and returns it.
    pub async fn wait_crd_established(&self, name: &str) -> CustomResourceDefinition {
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        super::wait_for(
            &format!("CRD {name} Established"),
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let api = api.clone();
                async move {
                    let c = api.get(name).await.map_err(|e| e.to_string())?;
                    let established = c
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
                    if established {
                        Ok(c)
                    } else {
                        Err(format!("{:?}", c.status))
                    }
                }
            },
        )
        .await
    }

    /// Installs every CRD in the repo's `crds/` directory (the operator's AccountDeletion).
    pub async fn install_project_crds(&self) {
        let dir = Path::new(crate::REPO_ROOT).join("crds");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no CRD YAML in {}", dir.display());
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            self.apply_crd_yaml(&text).await;
        }
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- kube-apiserver log tail ({}):\n{}",
                self.dir.path().join("apiserver.log").display(),
                tail(&self.dir.path().join("apiserver.log"), 30)
            );
        }
        self.stop_apiserver();
        self.stop_etcd();
    }
}
