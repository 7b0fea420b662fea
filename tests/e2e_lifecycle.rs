//! The life of one `AccountDeletion` as a user sees it, on a real etcd + kube-apiserver v1.20.2 with
//! the real emulator: mode Plan inventories, plans and pre-checks without a single mutating call;
//! approving the plan hash in mode Delete empties RAM except what `spec.ram.retain` keeps, calls
//! `DeleteAccount` exactly once and ends in `Deleted` with an audit ConfigMap carrying RequestIds.
//! Deleting an object in mode Plan never deletes the account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::time::Duration;

use account_deletion_operator::crd::AccountDeletion;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use support::{Emulator, KubeCluster, Operator, wait_for};

const NS: &str = "life";
const KEY_ID: &str = "LTAI5tLifeMgmtKey000001";
const KEY_SECRET: &str = "life-management-secret-0001";
const MGMT: &str = "1000000000000001";
const MEMBER: &str = "3200000000000001";
const NAME: &str = "legacy-prod";

fn seed() -> String {
    format!(
        r#"
resourceDirectory: {{ id: rd-Life001, rootFolderId: r-Life001, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:
  - accountId: "{MEMBER}"
    displayName: legacy-prod
    ram:
      users:
        - {{ name: alice, accessKeys: [{{}}], loginProfile: true, mfaDevice: alice-mfa, groups: [admins],
            policies: [{{ name: app-policy, type: Custom }}] }}
        - {{ name: break-glass, accessKeys: [{{}}], loginProfile: true,
            policies: [{{ name: AdministratorAccess, type: System }}] }}
      groups: [{{ name: admins }}]
      roles: [{{ name: app-role, policies: [{{ name: ReadOnlyAccess, type: System }}] }}]
      serviceLinkedRoles: [{{ name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: 1 }}]
      policies: [{{ name: app-policy, versions: 2 }}]
      virtualMfaDevices: [{{ name: alice-mfa }}, {{ name: orphan-mfa }}]
      samlProviders: [{{ name: okta }}]
      generate: {{ users: 5, accessKeysPerUser: 1, groups: 2, groupsPerUser: 1, roles: 2 }}
    deletion:
      checkSeconds: 1
      deletingSeconds: 1
      abandonable: [{{ checkId: NON_SP_cs, checkName: Container Service for Kubernetes, description: "ACK clusters" }}]
"#
    )
}

async fn prepare(k: &KubeCluster) {
    k.create_namespace(NS).await;
    k.create_credentials_secret(NS, "mgmt", KEY_ID, KEY_SECRET).await;
}

async fn create_plan(k: &KubeCluster, name: &str, endpoint: &str) -> Api<AccountDeletion> {
    let api: Api<AccountDeletion> = Api::namespaced(k.client(), NS);
    let obj: AccountDeletion = serde_json::from_value(json!({
        "apiVersion": "accountdeletion.dev/v1alpha1",
        "kind": "AccountDeletion",
        "metadata": { "name": name },
        "spec": {
            "accountId": MEMBER, "accountDisplayName": "legacy-prod", "mode": "Plan",
            "credentialsSecretRef": { "name": "mgmt" }, "endpoint": endpoint,
            "ram": { "retain": { "users": ["break-glass"] } },
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
    api
}

fn start_operator(k: &KubeCluster) -> Operator {
    Operator::start(
        k.kubeconfig(),
        &["run", "--namespaces", NS, "--metrics-addr", "127.0.0.1:0"],
        &[
            ("ADO_POLL_SECONDS", "1"),
            ("ADO_EMPTY_CONFIRM_SECONDS", "1"),
            ("ADO_ERROR_RETRY_SECONDS", "1"),
            ("ADO_BLOCKED_RETRY_SECONDS", "2"),
            ("ADO_LOG_LEVEL", "info,account_deletion_operator=debug"),
        ],
    )
}

async fn status_when(
    api: &Api<AccountDeletion>,
    name: &str,
    what: &str,
    secs: u64,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(
        what,
        Duration::from_secs(secs),
        Duration::from_millis(250),
        || {
            let api = api.clone();
            let name = name.to_string();
            let pred = &pred;
            async move {
                let o = api.get(&name).await.ok()?;
                let st = serde_json::to_value(o.status?).ok()?;
                pred(&st).then_some(st)
            }
        },
    )
    .await
}

fn condition<'a>(st: &'a Value, type_: &str) -> Option<&'a Value> {
    st["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

async fn events_for(k: &KubeCluster, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(k.client(), NS);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

fn mutating(calls: &Value) -> u64 {
    calls["totals"]["mutating"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn plan_then_approved_delete_keeps_retained_users_and_deletes_once() {
    let k = KubeCluster::start().await;
    k.install_project_crds().await;
    prepare(&k).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let _op = start_operator(&k);
    let api = create_plan(&k, NAME, emu.url()).await;

    // --- Plan: inventory, plan, pre-check; nothing changes.
    let st = status_when(&api, NAME, "Planned with a finished pre-check", 60, |st| {
        st["phase"] == "Planned"
            && st["deletionCheck"]["status"] == "PreCheckComplete"
            && condition(st, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    // 7 users (alice, break-glass, 5 generated), 3 groups, 3 roles, 1 SLR, ...
    assert_eq!(st["inventory"]["users"], 7, "{st:#}");
    assert!(st["inventory"]["groups"].as_u64().unwrap() >= 3, "{st:#}");
    let hash = st["plan"]["hash"].as_str().unwrap().to_string();
    assert!(!hash.is_empty(), "{st:#}");
    assert!(st["plan"]["actions"].as_u64().unwrap() > 10, "{st:#}");
    assert!(
        st["retained"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("break-glass")),
        "retained lists break-glass: {st:#}"
    );
    assert_eq!(
        st["deletionCheck"]["abandonable"][0]["checkId"], "NON_SP_cs",
        "{st:#}"
    );
    let allowed = condition(&st, "DeletionAllowed").expect("DeletionAllowed condition");
    assert_eq!(allowed["status"], "False", "{st:#}");
    assert_eq!(allowed["reason"], "AbandonableChecksNotWaived", "{st:#}");
    assert_eq!(condition(&st, "RamEmpty").unwrap()["status"], "False");
    let calls = emu.calls().await;
    assert_eq!(mutating(&calls), 0, "mode Plan makes no mutating call: {calls:#}");
    assert!(calls["totals"]["precheck"].as_u64().unwrap() >= 1, "{calls:#}");
    assert_eq!(
        emu.dump(MEMBER).await["ram"]["users"].as_array().unwrap().len(),
        7
    );
    let ev = events_for(&k, NAME).await;
    assert!(!ev.is_empty(), "Events are recorded for the object");

    // --- Approve the plan and waive the abandonable check.
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": {
            "mode": "Delete", "approvedPlanHash": hash,
            "deletion": { "abandonableCheckIds": ["NON_SP_cs"] },
        }})),
    )
    .await
    .unwrap();
    let st = status_when(&api, NAME, "phase Deleted", 90, |st| st["phase"] == "Deleted").await;
    assert_eq!(st["deletion"]["status"], "Success", "{st:#}");
    assert_eq!(condition(&st, "Ready").unwrap()["status"], "True", "{st:#}");
    assert_eq!(condition(&st, "Deleted").unwrap()["status"], "True", "{st:#}");
    assert_eq!(st["approvedPlan"]["hash"], hash.as_str(), "{st:#}");

    let dump = emu.dump(MEMBER).await;
    assert_eq!(dump["status"], "Deleted", "{dump:#}");
    assert_eq!(dump["ram"]["users"], json!(["break-glass"]), "{dump:#}");
    assert_eq!(dump["ram"]["groups"], json!([]), "{dump:#}");
    assert_eq!(
        dump["ram"]["roles"],
        json!(["ResourceDirectoryAccountAccessRole"]),
        "only the directory access role (the operator's way in) stays: {dump:#}"
    );
    assert_eq!(dump["ram"]["policies"], json!([]), "{dump:#}");
    assert_eq!(dump["ram"]["samlProviders"], json!([]), "{dump:#}");
    assert_eq!(dump["ram"]["virtualMfaDevices"], json!([]), "{dump:#}");
    assert_eq!(dump["ram"]["serviceLinkedRoles"], json!([]), "{dump:#}");
    assert_eq!(
        dump["ram"]["accessKeys"], 1,
        "break-glass keeps its key: {dump:#}"
    );
    let calls = emu.calls().await;
    assert_eq!(
        calls["byAction"]["resourcemanager:DeleteAccount"], 1,
        "DeleteAccount exactly once: {calls:#}"
    );

    // --- Audit: every mutating call, with RequestIds.
    let cms: Api<ConfigMap> = Api::namespaced(k.client(), NS);
    let audit = cms.get(&format!("{NAME}-audit")).await.expect("audit ConfigMap");
    let log = audit
        .data
        .unwrap_or_default()
        .remove("audit.log")
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("DeleteAccount")),
        "audit records DeleteAccount:\n{log}"
    );
    for action in [
        "DeleteUser",
        "DeleteGroup",
        "DeleteRole",
        "DeletePolicy",
        "DeleteAccessKey",
    ] {
        assert!(
            lines.iter().any(|l| l.split(' ').nth(1) == Some(action)),
            "audit records {action}:\n{log}"
        );
    }
    assert!(
        !log.contains("break-glass"),
        "nothing done to the retained user:\n{log}"
    );
    // Checked last (below) so that the rest of the scenario is verified either way.
    let without_request_id: Vec<&str> = lines
        .iter()
        .filter(|l| l.split(' ').nth(3) == Some("OK"))
        .filter(|l| l.rsplit(' ').next().is_none_or(|rid| rid == "-" || rid.len() < 8))
        .copied()
        .collect();
    let ok_mutating: u64 = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["class"] == "mutating" && c["code"] == "OK")
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    let ok_lines = lines.iter().filter(|l| l.split(' ').nth(3) == Some("OK")).count() as u64;
    assert_eq!(
        ok_lines, ok_mutating,
        "one audit line per successful mutating call the emulator answered:\n{log}\n{calls:#}"
    );
    let reasons: Vec<String> = events_for(&k, NAME)
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "DeleteAccountAccepted"),
        "DeleteAccountAccepted event: {reasons:?}"
    );
    assert!(
        without_request_id.is_empty(),
        "every successful mutating call in the audit carries its Alibaba RequestId (for ActionTrail): \
         {without_request_id:#?}"
    );
}

#[tokio::test]
async fn deleting_the_object_in_plan_mode_never_deletes_the_account() {
    let k = KubeCluster::start().await;
    k.install_project_crds().await;
    prepare(&k).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let mut op = start_operator(&k);
    let api = create_plan(&k, "plan-only", emu.url()).await;
    status_when(&api, "plan-only", "Planned", 60, |st| {
        st["phase"] == "Planned" && st["deletionCheck"]["status"] == "PreCheckComplete"
    })
    .await;
    api.delete("plan-only", &DeleteParams::default()).await.unwrap();
    wait_for(
        "object gone",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let api = api.clone();
            async move { api.get_opt("plan-only").await.unwrap().is_none().then_some(()) }
        },
    )
    .await;
    // Let the operator see the deletion, then a few poll intervals more.
    op.wait_log("plan-only", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = emu.calls().await;
    assert_eq!(mutating(&calls), 0, "{calls:#}");
    assert!(
        calls["byAction"]["resourcemanager:DeleteAccount"].is_null(),
        "{calls:#}"
    );
    let dump = emu.dump(MEMBER).await;
    assert_eq!(dump["deleted"], false, "{dump:#}");
    assert_eq!(dump["ram"]["users"].as_array().unwrap().len(), 7, "{dump:#}");
    assert!(op.is_running());
}

#[tokio::test]
async fn purge_ram_empties_ram_and_never_deletes_the_account() {
    let k = KubeCluster::start().await;
    k.install_project_crds().await;
    prepare(&k).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let _op = start_operator(&k);
    let api = create_plan(&k, "purge-only", emu.url()).await;
    status_when(&api, "purge-only", "Planned", 60, |st| st["phase"] == "Planned").await;
    api.patch(
        "purge-only",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "mode": "PurgeRam" } })),
    )
    .await
    .unwrap();
    let st = status_when(&api, "purge-only", "phase RamEmpty", 60, |st| {
        st["phase"] == "RamEmpty"
    })
    .await;
    assert_eq!(condition(&st, "RamEmpty").unwrap()["status"], "True", "{st:#}");
    assert_eq!(condition(&st, "Ready").unwrap()["status"], "True", "{st:#}");
    assert!(st["deleteRequestedTime"].is_null(), "{st:#}");
    assert!(
        st["deleted"]["users"].as_u64().unwrap_or(0) >= 6,
        "status counts what was deleted: {st:#}"
    );
    let dump = emu.dump(MEMBER).await;
    assert_eq!(dump["deleted"], false, "{dump:#}");
    assert_eq!(dump["ram"]["users"], json!(["break-glass"]), "{dump:#}");
    let calls = emu.calls().await;
    assert!(
        calls["byAction"]["resourcemanager:DeleteAccount"].is_null(),
        "PurgeRam never calls DeleteAccount: {calls:#}"
    );
    assert!(calls["totals"]["mutating"].as_u64().unwrap() > 10, "{calls:#}");
}
