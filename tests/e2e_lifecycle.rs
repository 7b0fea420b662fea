//! The life of one `AccountDeletion` as a user sees it, on a real etcd + kube-apiserver v1.20.2 with
//! the real emulator: mode Plan inventories, plans and pre-checks without a single mutating call;
//! approving the plan hash in mode Delete empties RAM except what `spec.ram.retain` keeps, calls
//! `DeleteAccount` exactly once and ends in `Deleted` with an audit ConfigMap carrying RequestIds.
//! Deleting an object in mode Plan never deletes the account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::time::Duration;

use account_deletion_operator::controller::conditions::Truth;
use account_deletion_operator::crd::{AccountDeletion, Mode, Phase};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use support::deletion::{condition, pre_check_complete, truth};
use support::operator::{DEBUG_LOG, quick_env};
use support::{
    Emulator, KubeCluster, Operator, calls, deletion, wait_deleted, wait_for, wait_phase, wait_status,
};

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

async fn cluster() -> KubeCluster {
    KubeCluster::start_with_credentials(&[NS], KEY_ID, KEY_SECRET).await
}

async fn create_plan(k: &KubeCluster, name: &str, endpoint: &str) -> Api<AccountDeletion> {
    let retain = json!({ "ram": { "retain": { "users": ["break-glass"] } } });
    let spec = deletion::spec(MEMBER, "legacy-prod", Mode::Plan, endpoint, retain);
    deletion::create(k, NS, name, spec).await
}

fn start_operator(k: &KubeCluster) -> Operator {
    Operator::watching(
        k.kubeconfig(),
        NS,
        &quick_env(&[("ADO_BLOCKED_RETRY_SECONDS", "2"), DEBUG_LOG]),
    )
}

#[tokio::test]
async fn plan_then_approved_delete_keeps_retained_users_and_deletes_once() {
    let k = cluster().await;
    let emu = Emulator::start(&seed(), &[]).await;
    let _op = start_operator(&k);
    let api = create_plan(&k, NAME, emu.url()).await;

    // --- Plan: inventory, plan, pre-check; nothing changes.
    let st = wait_status(&api, NAME, "Planned with a finished pre-check", 60, |st| {
        st.phase == Some(Phase::Planned) && pre_check_complete(st) && truth(st, "Ready") == Some(Truth::True)
    })
    .await;
    // 7 users (alice, break-glass, 5 generated), 3 groups, 3 roles, 1 SLR, ...
    assert_eq!(st.inventory.get("users"), Some(&7), "{st:#?}");
    assert!(st.inventory["groups"] >= 3, "{st:#?}");
    let plan = st.plan.as_ref().expect("a plan");
    let hash = plan.hash.clone();
    assert!(!hash.is_empty(), "{st:#?}");
    assert!(plan.actions > 10, "{st:#?}");
    assert!(
        st.retained.iter().any(|r| r.contains("break-glass")),
        "retained lists break-glass: {st:#?}"
    );
    let check = st.deletion_check.as_ref().expect("a deletion check");
    assert_eq!(check.abandonable[0].check_id, "NON_SP_cs", "{st:#?}");
    let allowed = condition(&st, "DeletionAllowed").expect("DeletionAllowed condition");
    assert_eq!(truth(&st, "DeletionAllowed"), Some(Truth::False), "{st:#?}");
    assert_eq!(allowed.reason, "AbandonableChecksNotWaived", "{st:#?}");
    assert_eq!(truth(&st, "RamEmpty"), Some(Truth::False));
    let calls = emu.calls().await;
    assert_eq!(
        calls::mutating(&calls),
        0,
        "mode Plan makes no mutating call: {calls:#}"
    );
    assert!(calls["totals"]["precheck"].as_u64().unwrap() >= 1, "{calls:#}");
    assert_eq!(emu.ram(MEMBER, "users").await.as_array().unwrap().len(), 7);
    let ev = deletion::events_for(&k, NS, NAME).await.unwrap();
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
    let st = wait_deleted(&api, NAME, 90).await;
    assert_eq!(truth(&st, "Ready"), Some(Truth::True), "{st:#?}");
    assert_eq!(truth(&st, "Deleted"), Some(Truth::True), "{st:#?}");
    assert_eq!(
        st.approved_plan.as_ref().map(|a| a.hash.as_str()),
        Some(hash.as_str()),
        "{st:#?}"
    );

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
        calls::by_action(&calls, "resourcemanager:DeleteAccount"),
        1,
        "DeleteAccount exactly once: {calls:#}"
    );

    // --- Audit: every mutating call, with RequestIds.
    let log = deletion::audit_log(&k, NS, NAME).await;
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
    let ok_mutating = calls::mutating_ok(&calls);
    let ok_lines = lines.iter().filter(|l| l.split(' ').nth(3) == Some("OK")).count() as u64;
    assert_eq!(
        ok_lines, ok_mutating,
        "one audit line per successful mutating call the emulator answered:\n{log}\n{calls:#}"
    );
    let reasons: Vec<String> = deletion::events_for(&k, NS, NAME)
        .await
        .unwrap()
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
    let k = cluster().await;
    let emu = Emulator::start(&seed(), &[]).await;
    let mut op = start_operator(&k);
    let api = create_plan(&k, "plan-only", emu.url()).await;
    wait_status(&api, "plan-only", "Planned", 60, |st| {
        st.phase == Some(Phase::Planned) && pre_check_complete(st)
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
    assert_eq!(calls::mutating(&calls), 0, "{calls:#}");
    assert_eq!(
        calls::by_action(&calls, "resourcemanager:DeleteAccount"),
        0,
        "{calls:#}"
    );
    let dump = emu.dump(MEMBER).await;
    assert_eq!(dump["deleted"], false, "{dump:#}");
    assert_eq!(dump["ram"]["users"].as_array().unwrap().len(), 7, "{dump:#}");
    assert!(op.is_running());
}

#[tokio::test]
async fn purge_ram_empties_ram_and_never_deletes_the_account() {
    let k = cluster().await;
    let emu = Emulator::start(&seed(), &[]).await;
    let _op = start_operator(&k);
    let api = create_plan(&k, "purge-only", emu.url()).await;
    wait_phase(&api, "purge-only", Phase::Planned, 60).await;
    api.patch(
        "purge-only",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "mode": "PurgeRam" } })),
    )
    .await
    .unwrap();
    let st = wait_phase(&api, "purge-only", Phase::RamEmpty, 60).await;
    assert_eq!(truth(&st, "RamEmpty"), Some(Truth::True), "{st:#?}");
    assert_eq!(truth(&st, "Ready"), Some(Truth::True), "{st:#?}");
    assert!(st.delete_requested_time.is_none(), "{st:#?}");
    assert!(
        st.deleted.get("users").copied().unwrap_or(0) >= 6,
        "status counts what was deleted: {st:#?}"
    );
    let dump = emu.dump(MEMBER).await;
    assert_eq!(dump["deleted"], false, "{dump:#}");
    assert_eq!(dump["ram"]["users"], json!(["break-glass"]), "{dump:#}");
    let calls = emu.calls().await;
    assert_eq!(
        calls::by_action(&calls, "resourcemanager:DeleteAccount"),
        0,
        "PurgeRam never calls DeleteAccount: {calls:#}"
    );
    assert!(calls::mutating(&calls) > 10, "{calls:#}");
}
