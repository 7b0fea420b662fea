//! Alibaba's newer "cannot close my account" checklist (issue 14), on a real etcd + kube-apiserver
//! with the operator binary and the emulator: OAuth applications are inventoried, planned (secrets
//! and an installed ServerApp first), retained by pattern, deleted and counted; per-user service
//! credentials and passkeys do not stop a user's deletion, also where the service would refuse it
//! (the emulator's strict conflicts); progress is shown in status, in the printer column and, for a
//! large account, in Events; RAM is re-confirmed empty with GetAccountSummary; a silence period says
//! when it is expected to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::time::Duration;

use account_deletion_operator::crd::{AccountDeletion, Mode, Phase};
use kube::api::Api;
use serde_json::{Value, json};

use support::operator::quick_env;
use support::{Emulator, KubeCluster, Operator, calls, deletion, wait_for, wait_phase};

const NS: &str = "checklist";
const KEY_ID: &str = "LTAI5tCheckMgmtKey00001";
const KEY_SECRET: &str = "checklist-management-secret";
const MGMT: &str = "1000000000000001";
const LENIENT: &str = "3500000000000001";
const STRICT: &str = "3500000000000002";
const SILENT: &str = "3500000000000003";

fn member(id: &str, conflicts: &str, users: u32, deletion: &str) -> String {
    format!(
        r#"
  - accountId: "{id}"
    displayName: member-{id}
    ram:
      users:
        - {{ name: alice, accessKeys: [{{}}], passkeys: [{{ name: yubikey }}],
            serviceCredentials: [{{ serviceName: bailian.aliyuncs.com, name: alice-key }}] }}
        - {{ name: bob, passkeys: [{{ name: phone }}, {{ name: laptop }}] }}
      applications:
        - {{ name: portal, appType: WebApp, secrets: 2 }}
        - {{ name: billing, appType: WebApp, secrets: 1 }}
        - {{ name: scim-sync, appType: ServerApp, secrets: 1, provisioned: true }}
      externalApplications:
        - {{ name: GiteePrd, displayName: GiteeAliyun, ownerAccountId: "1730827404200001" }}
      conflicts: [{conflicts}]
      generate: {{ users: {users}, accessKeysPerUser: 1 }}
    deletion: {{ checkSeconds: 1, deletingSeconds: 1{deletion} }}"#
    )
}

fn seed() -> String {
    format!(
        r#"
resourceDirectory: {{ id: rd-Check001, rootFolderId: r-Check001, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:{}{}{}
"#,
        member(LENIENT, "", 120, ""),
        member(
            STRICT,
            "User.Passkey, User.ServiceCredential, Application.AppSecret, Application.Provision",
            2,
            ""
        ),
        member(SILENT, "", 1, ", deletionType: 1, silenceSeconds: 3600"),
    )
}

async fn create(
    k: &KubeCluster,
    name: &str,
    account: &str,
    endpoint: &str,
    mode: Mode,
    extra: Value,
) -> Api<AccountDeletion> {
    let display = format!("member-{account}");
    deletion::create(
        k,
        NS,
        name,
        deletion::spec(account, &display, mode, endpoint, extra),
    )
    .await
}

#[tokio::test]
async fn applications_credentials_passkeys_progress_summary_and_silence() {
    let k = KubeCluster::start_with_credentials(&[NS], KEY_ID, KEY_SECRET).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let _op = Operator::watching(
        k.kubeconfig(),
        NS,
        &quick_env(&[("ADO_BLOCKED_RETRY_SECONDS", "1")]),
    );

    // Plan first: the applications are inventoried and planned in order.
    let lenient = create(
        &k,
        "lenient",
        LENIENT,
        emu.url(),
        Mode::Plan,
        json!({ "ram": { "retain": { "applications": ["PORT*"] } } }),
    )
    .await;
    let st = wait_phase(&lenient, "lenient", Phase::Planned, 60).await;
    assert_eq!(st.inventory.get("applications"), Some(&4), "{:?}", st.inventory);
    let plan = st.plan.clone().unwrap();
    assert_eq!(plan.remaining.get("applications"), Some(&3), "{plan:?}");
    assert!(
        st.retained.iter().any(|r| r == "applications/portal"),
        "{:?}",
        st.retained
    );
    assert_eq!(st.progress.as_ref().map(|g| g.percent), Some(0));
    assert_eq!(
        emu.calls().await["totals"]["mutating"],
        0,
        "Plan mode changed something"
    );

    // PurgeRam: everything but the retained application goes; progress reaches 100 %.
    let p = json!({ "spec": { "mode": "PurgeRam" } });
    lenient
        .patch(
            "lenient",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&p),
        )
        .await
        .unwrap();
    let st = wait_phase(&lenient, "lenient", Phase::RamEmpty, 180).await;
    let dump = emu.dump(LENIENT).await;
    assert_eq!(dump["ram"]["applications"], json!(["portal"]), "{}", dump["ram"]);
    assert_eq!(dump["ram"]["externalApplications"], json!([]), "{}", dump["ram"]);
    assert_eq!(dump["ram"]["users"], json!([]));
    assert_eq!(st.deleted.get("applications"), Some(&3), "{:?}", st.deleted);
    let g = st.progress.clone().unwrap();
    assert_eq!((g.percent, g.display.as_str()), (100, "100%"), "{g:?}");
    // The Event follows the status write: wait for it.
    wait_for(
        "the 100% Progress Event",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let events: Vec<String> = deletion::events_for(&k, NS, "lenient")
                .await
                .ok()?
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("Progress"))
                .filter_map(|e| e.message)
                .collect();
            events
                .iter()
                .any(|e| e.contains("100% of RAM emptied"))
                .then_some(())
        },
    )
    .await;
    let calls = emu.calls().await;
    assert!(
        calls::by_action(&calls, "ims:GetAccountSummary") >= 1,
        "the summary was never used"
    );
    assert!(calls::by_action(&calls, "ims:DeleteServiceCredential") >= 1);
    // The lenient emulator lets passkeys go with their user: they were never listed.
    assert_eq!(calls::by_action(&calls, "ims:ListPasskeys"), 0);

    // Strict conflicts (the service refusing users with passkeys or service credentials, apps
    // with secrets or an installation): the account still reaches Deleted.
    let strict = create(&k, "strict", STRICT, emu.url(), Mode::Delete, json!({})).await;
    let st = wait_phase(&strict, "strict", Phase::Deleted, 240).await;
    assert_eq!(st.deleted.get("applications"), Some(&4), "{:?}", st.deleted);
    let calls = emu.calls().await;
    assert!(
        calls::by_action(&calls, "ims:DeletePasskey") >= 3,
        "{}",
        calls["byAction"]
    );
    assert!(calls::by_action(&calls, "ims:DeprovisionApplication") >= 1);

    // A silence period: its expected end, marked as an estimate.
    let silent = create(&k, "silent", SILENT, emu.url(), Mode::Delete, json!({})).await;
    let st = wait_phase(&silent, "silent", Phase::SilencePeriod, 180).await;
    let msg = st.message.clone().unwrap_or_default();
    assert!(
        msg.contains("expected to end around") && msg.contains("estimate"),
        "{msg}"
    );
    let end = st
        .deletion
        .as_ref()
        .and_then(|d| d.expected_completion_time.clone());
    assert!(end.is_some(), "{:?}", st.deletion);
    eprintln!(
        "CHECKLIST: applications inventoried 4, retained 1 (portal), deleted 3 / strict 4; DeletePasskey {}, \
         DeleteServiceCredential {}, GetAccountSummary {}; progress {g:?}; silence: {msg}",
        calls::by_action(&calls, "ims:DeletePasskey"),
        calls::by_action(&calls, "ims:DeleteServiceCredential"),
        calls::by_action(&calls, "ims:GetAccountSummary"),
    );
}
