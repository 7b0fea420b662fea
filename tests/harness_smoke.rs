//! Smoke tests of the e2e harness (tests/support): a real etcd + kube-apiserver v1.20.2 with RBAC,
//! restarts, ServiceAccount tokens, and the real emulator binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ado_testkit as support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

use support::{Emulator, KubeCluster, Operator, wait_for};

fn secret(name: &str, value: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Secret::default()
    }
}

/// A client from a kubeconfig file, loaded like `kube::Client::try_default()` does with KUBECONFIG.
async fn client_from_kubeconfig(path: &std::path::Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

#[tokio::test]
async fn kube_cluster_secrets_restart_and_rbac() {
    let mut cluster = KubeCluster::start().await;
    assert!(cluster.kubeconfig().is_file());
    assert!(cluster.url().starts_with("https://127.0.0.1:"));

    cluster.create_namespace("smoke").await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), "smoke");
    secrets
        .create(&PostParams::default(), &secret("s1", "v1"))
        .await
        .unwrap();
    let got = secrets.get("s1").await.unwrap();
    let data = got.data.unwrap();
    assert_eq!(data["k"].0, b"v1");

    // Kill -9 the API server and start it again: state comes back from etcd.
    cluster.restart_apiserver().await;
    let names: Vec<String> = wait_for(
        "listing secrets after the apiserver restart",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let secrets = secrets.clone();
            async move { secrets.list(&ListParams::default()).await }
        },
    )
    .await
    .items
    .into_iter()
    .filter_map(|s| s.metadata.name)
    .collect();
    assert!(names.contains(&"s1".to_string()), "{names:?}");

    // Same for etcd.
    cluster.restart_etcd().await;
    secrets
        .create(&PostParams::default(), &secret("s2", "v2"))
        .await
        .unwrap();
    assert_eq!(secrets.get("s1").await.unwrap().data.unwrap()["k"].0, b"v1");

    // A ServiceAccount without any RoleBinding: authenticated, but RBAC forbids listing secrets.
    let (sa_kubeconfig, token) = cluster.service_account_kubeconfig("smoke", "nobody").await;
    assert!(sa_kubeconfig.is_file());
    // Both through a client built from the token and through the written kubeconfig (the way the
    // operator binary loads it).
    for sa_client in [
        cluster.client_for_token(&token),
        client_from_kubeconfig(&sa_kubeconfig).await,
    ] {
        let sa_secrets: Api<Secret> = Api::namespaced(sa_client, "smoke");
        match sa_secrets.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 403, "{s:?}");
                assert!(
                    s.message.contains("system:serviceaccount:smoke:nobody"),
                    "{}",
                    s.message
                );
            }
            other => panic!("expected 403 for the ServiceAccount, got {other:?}"),
        }
    }
    // The admin kubeconfig works the same way.
    let admin = client_from_kubeconfig(cluster.kubeconfig()).await;
    let via_file: Api<Secret> = Api::namespaced(admin, "smoke");
    assert_eq!(
        via_file.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    // A made-up token is not authenticated at all.
    let bad: Api<Secret> = Api::namespaced(cluster.client_for_token("not-a-token"), "smoke");
    match bad.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 401, "{s:?}"),
        other => panic!("expected 401 for a bogus token, got {other:?}"),
    }
}

#[tokio::test]
async fn project_crds_install_on_1_20() {
    let cluster = KubeCluster::start().await;
    cluster.install_project_crds().await;
}

#[tokio::test]
async fn emulator_starts_and_serves_health() {
    let emu = Emulator::start_with_seed_file("tests/conformance/seed.yaml", &[]).await;
    assert!(emu.url().starts_with("http://127.0.0.1:"), "{}", emu.url());
    let (status, body) = emu.get("/__emulator/health").await;
    assert_eq!(status, 200, "GET /__emulator/health: {body}");

    // An outage and recovery on the same address.
    let mut emu = emu;
    let url = emu.url().to_string();
    emu.restart().await;
    assert_eq!(emu.url(), url);
    let (status, body) = emu.get("/__emulator/health").await;
    assert_eq!(status, 200, "GET /__emulator/health after restart: {body}");
}

#[tokio::test]
async fn operator_process_lifecycle() {
    let cluster = KubeCluster::start().await;
    cluster.create_namespace("smoke-op").await;
    let mut op = Operator::start(
        cluster.kubeconfig(),
        &["run", "--namespaces", "smoke-op", "--metrics-addr", "127.0.0.1:0"],
        &[("ADO_LOG_LEVEL", "debug")],
    );
    let metrics = op.metrics_url().await;
    let (status, body) = support::http_get(&format!("{metrics}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(op.is_running());
    op.sigterm();
    let exit = op.wait_exit(Duration::from_secs(30)).await;
    assert!(
        exit.is_some(),
        "operator still running 30 s after SIGTERM; logs:\n{}",
        op.logs()
    );
    assert!(!op.logs().is_empty());
}
