//! Secrets stay secret, on a real etcd + kube-apiserver v1.20.2 with the real emulator: a full
//! Delete run at `ADO_LOG_LEVEL=trace` leaves no AccessKey secret and no STS token (every emulator
//! token starts with `CAIS`) in the operator's logs, the Events, the status, the audit ConfigMap or
//! `/metrics`. The credentials Secret is rotated mid-run (the first key may not call
//! `DeleteAccount`, the second may) and the running operator picks the new key up by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use account_deletion_operator::controller::conditions::Truth;
use account_deletion_operator::crd::{Mode, Phase};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use support::deletion::truth;
use support::operator::quick_env;
use support::{Emulator, KubeCluster, Operator, calls, deletion, http_get, wait_phase, wait_status};

const NS: &str = "secrets";
const MGMT: &str = "1000000000000001";
const MEMBER: &str = "3500000000000001";
const OLD_KEY: &str = "LTAI5tSecretsOldKey0001";
const OLD_SECRET: &str = "Zx9OldSecretValue0000000000000001";
const NEW_KEY: &str = "LTAI5tSecretsNewKey0002";
const NEW_SECRET: &str = "Zx9NewSecretValue0000000000000002";

fn seed() -> String {
    format!(
        r#"
resourceDirectory: {{ id: rd-Sec001, rootFolderId: r-Sec001, managementAccountId: "{MGMT}" }}
accessKeys:
  # The old key may do everything but DeleteAccount; the new one everything.
  - {{ accessKeyId: {OLD_KEY}, accessKeySecret: {OLD_SECRET}, accountId: "{MGMT}",
      allow: ["ram:*", "ims:*", "sts:*", "resourcemanager:Get*", "resourcemanager:List*", "resourcemanager:Check*"] }}
  - {{ accessKeyId: {NEW_KEY}, accessKeySecret: {NEW_SECRET}, accountId: "{MGMT}" }}
accounts:
  - accountId: "{MEMBER}"
    displayName: secrets-member
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
      generate: {{ users: 3, accessKeysPerUser: 1, loginProfiles: true }}
    deletion: {{ checkSeconds: 1, deletingSeconds: 1 }}
"#
    )
}

/// Every place a user or a log pipeline can read, with a label per place.
async fn everything_visible(k: &KubeCluster, op: &Operator, metrics: &str) -> Vec<(&'static str, String)> {
    let obj = serde_json::to_string(&k.deletions(NS).get("secrets-member").await.unwrap()).unwrap();
    let events: Api<Event> = Api::namespaced(k.client(), NS);
    let ev = serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap();
    // The audit record as stored: the head ConfigMap whole, and every line of its chunks.
    let cms: Api<ConfigMap> = Api::namespaced(k.client(), NS);
    let head = serde_json::to_string(&cms.get("secrets-member-audit").await.unwrap()).unwrap();
    let audit = format!("{head}\n{}", deletion::audit_log(k, NS, "secrets-member").await);
    let (_, m) = http_get(&format!("{metrics}/metrics")).await;
    vec![
        ("operator log", op.logs()),
        ("AccountDeletion object (spec + status)", obj),
        ("Events", ev),
        ("audit ConfigMap", audit),
        ("/metrics", m),
    ]
}

#[tokio::test]
async fn trace_run_with_key_rotation_leaks_no_secret() {
    // The old key may do everything but DeleteAccount.
    let k = KubeCluster::start_with_credentials(&[NS], OLD_KEY, OLD_SECRET).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let secrets: Api<Secret> = Api::namespaced(k.client(), NS);
    let mut op = Operator::watching(
        k.kubeconfig(),
        NS,
        &quick_env(&[("ADO_BLOCKED_RETRY_SECONDS", "2"), ("ADO_LOG_LEVEL", "trace")]),
    );
    let metrics = op.metrics_url().await;
    let pid = op.pid();
    let spec = deletion::spec(MEMBER, "secrets-member", Mode::Delete, emu.url(), json!({}));
    let api = deletion::create(&k, NS, "secrets-member", spec).await;

    // The old key empties RAM (through STS sessions) but may not delete the account.
    let st = wait_status(
        &api,
        "secrets-member",
        "Blocked on DeleteAccount with the old key",
        90,
        |st| {
            st.phase == Some(Phase::Blocked)
                && st
                    .last_error
                    .as_ref()
                    .is_some_and(|e| e.action == "DeleteAccount")
        },
    )
    .await;
    assert_eq!(
        st.last_error.as_ref().map(|e| e.code.as_str()),
        Some("NoPermission"),
        "{st:#?}"
    );
    // As a user reads it (`kubectl get -o json`).
    let blocked_status = serde_json::to_string(&st).unwrap();
    assert_eq!(emu.ram(MEMBER, "users").await, json!([]));
    let calls = emu.calls().await;
    assert!(
        calls["totals"]["credentials"].as_u64().unwrap() >= 1,
        "STS used: {calls:#}"
    );
    assert!(calls::by_action(&calls, "resourcemanager:DeleteAccount") >= 1);

    // Rotate: the running operator reads the Secret again and finishes with the new key.
    secrets
        .patch(
            "mgmt",
            &PatchParams::default(),
            &Patch::Merge(json!({ "stringData": { "accessKeyId": NEW_KEY, "accessKeySecret": NEW_SECRET } })),
        )
        .await
        .unwrap();
    let st = wait_phase(&api, "secrets-member", Phase::Deleted, 60).await;
    assert_eq!(truth(&st, "Deleted"), Some(Truth::True), "{st:#?}");
    assert!(op.is_running(), "no restart needed");
    assert_eq!(op.pid(), pid);
    let calls = emu.calls().await;
    let ok_deletes = calls::ok_count(&calls, "resourcemanager:DeleteAccount");
    assert_eq!(ok_deletes, 1, "{calls:#}");

    // Nothing secret anywhere a user, an SRE or a log pipeline can read.
    let mut places = everything_visible(&k, &op, &metrics).await;
    places.push(("status while blocked on the old key", blocked_status));
    let log = &places[0].1;
    if let Ok(path) = std::env::var("E2E_SECRETS_KEEP_LOG") {
        std::fs::write(path, log).unwrap();
    }
    assert!(
        log.contains("TRACE") && log.lines().count() > 200,
        "the operator really logged at trace level ({} lines)",
        log.lines().count()
    );
    let mut leaks = Vec::new();
    for (place, text) in &places {
        // The Kubernetes bearer token of the operator's kubeconfig is a secret too.
        for needle in [OLD_SECRET, NEW_SECRET, "CAIS", k.admin_token()] {
            if let Some(i) = text.find(needle) {
                let from = i.saturating_sub(120);
                let to = (i + 60).min(text.len());
                leaks.push(format!(
                    "{place} contains {needle:?}: ...{}...",
                    text.get(from..to).unwrap_or("<non-UTF-8 boundary>")
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
