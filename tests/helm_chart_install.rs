//! The Helm chart (`charts/account-deletion-operator`) installed with Helm's own Go SDK (through
//! helm-python-sdk, `scripts/helm.py`) into a REAL kube-apiserver v1.20.2: the defaults serve the
//! CRD and uninstall keeps it; installed for one namespace with leader election, act as the
//! chart's ServiceAccount (TokenRequest): what RBAC grants and denies, and the operator binary
//! itself running with the Deployment's env as that ServiceAccount (ready, holds the Lease,
//! writes status). Rendering and linting the chart is tests/helm_chart.rs.
//!
//! Needs `$ADO_VENV` (default `~/.cache/account-deletion-operator/venv`, made by
//! `bash scripts/setup.sh`), `$ETCD_BIN` and `$KUBE_APISERVER_BIN`. Missing tools FAIL the test
//! with a message; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use account_deletion_operator::crd::AccountDeletion;
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
use support::helm::chart_dir;
use support::{KubeCluster, Operator, helm, wait_for, wait_status};

const CRD_FILE: &str = "accountdeletion.dev_accountdeletions.yaml";
const CRD_NAME: &str = "accountdeletions.accountdeletion.dev";

fn root() -> PathBuf {
    PathBuf::from(support::REPO_ROOT)
}

fn pdb_v1beta1() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"),
        "poddisruptionbudgets",
    )
}

fn accountdeletions() -> ApiResource {
    ApiResource::erase::<AccountDeletion>(&())
}

fn status_code<T>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

/// Panics unless the request `what` was answered `want` (200 for success).
fn assert_code<T>(r: Result<T, kube::Error>, want: u16, what: &str) {
    assert_eq!(status_code(r), want, "{what}");
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
    helm::install_chart(chart, k.kubeconfig(), "ado", "ado-system", values);
}

fn helm_uninstall(k: &KubeCluster) {
    helm::uninstall(k.kubeconfig(), "ado", "ado-system");
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
    let crd = crds.get(CRD_NAME).await.expect("CRD installed");
    assert_eq!(
        crd.metadata
            .annotations
            .unwrap_or_default()
            .get("helm.sh/resource-policy")
            .map(String::as_str),
        Some("keep")
    );
    k.wait_crd_established(CRD_NAME).await;
    let name = "ado-account-deletion-operator";
    Api::<ClusterRole>::all(admin.clone())
        .get(name)
        .await
        .expect("ClusterRole when cluster-wide");
    Api::<Deployment>::namespaced(admin.clone(), "ado-system")
        .get(name)
        .await
        .expect("Deployment");
    assert_code(
        Api::<DynamicObject>::namespaced_with(admin.clone(), "ado-system", &pdb_v1beta1())
            .get(name)
            .await,
        404,
        "no PDB at one replica",
    );
    helm_uninstall(&k);
    assert_code(
        Api::<ClusterRole>::all(admin.clone()).get(name).await,
        404,
        "ClusterRole removed",
    );
    crds.get(CRD_NAME).await.expect("CRD kept after uninstall");
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
    k.wait_crd_established(CRD_NAME).await;
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
    assert_code(
        Api::<Role>::namespaced(admin.clone(), "team-b").get(name).await,
        404,
        "no Role in an unwatched namespace",
    );
    assert_code(
        Api::<ClusterRole>::all(admin.clone()).get(name).await,
        404,
        "no ClusterRole when watchNamespaces is set",
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
    assert_code(secrets_a.get("rd-key").await, 200, "get Secret in team-a");
    assert_code(secrets_b.get("rd-key").await, 403, "get Secret in team-b");
    assert_code(
        secrets_a.list(&ListParams::default()).await,
        200,
        "list Secrets in team-a (the rotation watch)",
    );
    assert_code(
        secrets_b.list(&ListParams::default()).await,
        403,
        "list Secrets in team-b",
    );
    let ads_a: Api<DynamicObject> = Api::namespaced_with(sa.clone(), "team-a", &accountdeletions());
    let ads_b: Api<DynamicObject> = Api::namespaced_with(sa.clone(), "team-b", &accountdeletions());
    let ads_all: Api<DynamicObject> = Api::all_with(sa.clone(), &accountdeletions());
    assert_code(
        ads_a.list(&ListParams::default().limit(1)).await,
        200,
        "list AccountDeletions in team-a",
    );
    assert_code(ads_b.list(&ListParams::default()).await, 403, "list in team-b");
    assert_code(
        ads_all.list(&ListParams::default()).await,
        403,
        "list cluster-wide",
    );
    let status_patch = json!({"status": {"message": "written by the chart's ServiceAccount"}});
    assert_code(
        ads_a
            .patch_status("probe", &PatchParams::default(), &Patch::Merge(&status_patch))
            .await,
        200,
        "patch AccountDeletion status in team-a",
    );
    assert_code(
        ads_b
            .patch_status("probe", &PatchParams::default(), &Patch::Merge(&status_patch))
            .await,
        403,
        "patch status in team-b",
    );
    assert_code(
        ads_a
            .patch(
                "probe",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"suspend": true}})),
            )
            .await,
        403,
        "patch AccountDeletion spec",
    );
    assert_code(
        ads_a.delete("probe", &DeleteParams::default()).await,
        403,
        "delete AccountDeletion",
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
    assert_code(
        claims.create(&PostParams::default(), &claim).await,
        200,
        "create an AccountClaim",
    );
    assert_code(
        claims.get("account-1234567890123456").await,
        200,
        "get an AccountClaim",
    );
    assert_code(
        claims
            .delete("account-1234567890123456", &DeleteParams::default())
            .await,
        200,
        "delete an AccountClaim",
    );
    assert_code(
        ads_b.get("anything").await,
        404,
        "get one AccountDeletion in another namespace (allowed, none there)",
    );
    let cms_a: Api<ConfigMap> = Api::namespaced(sa.clone(), "team-a");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("probe-audit".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    assert_code(
        cms_a.create(&pp, &cm).await,
        200,
        "create audit ConfigMap in team-a",
    );
    assert_code(cms_a.get("probe-audit").await, 200, "get ConfigMap");
    assert_code(
        cms_a.delete("probe-audit", &DeleteParams::default()).await,
        403,
        "delete ConfigMap",
    );
    assert_code(
        Api::<ConfigMap>::namespaced(sa.clone(), "team-b")
            .create(&pp, &cm)
            .await,
        403,
        "ConfigMap in team-b",
    );
    assert_code(
        Api::<Secret>::namespaced(sa.clone(), "team-a")
            .create(&pp, &secret("x"))
            .await,
        403,
        "create Secret",
    );
    let leases: Api<Lease> = Api::namespaced(sa.clone(), "ado-system");
    assert_code(leases.get("someone-elses-lease").await, 403, "get another Lease");
    assert_code(
        Api::<Lease>::namespaced(sa.clone(), "team-a").get(name).await,
        403,
        "Lease outside the release namespace",
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
        let status = wait_status(
            &k.deletions("team-a"),
            "nosecret",
            "status.phase of nosecret written by the operator",
            60,
            |s| s.phase.is_some(),
        )
        .await;
        // All of the status, as `kubectl get -o json` shows it.
        let st = serde_json::to_string(&status).unwrap();
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
    let b = k.deletions("team-b").get("probe").await.expect("team-b object");
    assert!(
        b.status.as_ref().and_then(|s| s.phase).is_none(),
        "team-b is not watched: {:?}",
        b.status
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
    assert_code(
        Api::<Deployment>::namespaced(admin.clone(), "ado-system")
            .get(name)
            .await,
        404,
        "Deployment removed",
    );
    assert_code(
        Api::<Role>::namespaced(admin.clone(), "team-a").get(name).await,
        404,
        "Role removed",
    );
}
