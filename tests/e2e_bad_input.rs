//! Bad input, as users write it (issue 7), on a real etcd + kube-apiserver v1.20.2 with the real
//! emulator. Every case must show a condition reason and a message naming the field or the fix, a
//! Warning event, and make ZERO mutating calls at the emulator, while a valid object in the same
//! namespace keeps reconciling. Syntax errors (account id, mode) never reach the operator: the API
//! server refuses them with 422.
//!
//! All cases share one cluster, one operator and one emulator (plus a second emulator whose
//! resource directory has member deletion disabled); the verdicts are collected into a table that
//! is printed, so one run shows every deviation at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use account_deletion_operator::crd::{AccountDeletion, AccountDeletionStatus, Mode, Phase};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use support::deletion::{self, condition, status};
use support::operator::{DEBUG_LOG, quick_env};
use support::{Emulator, KubeCluster, Operator, calls, wait_for};

const NS: &str = "bad";
const MGMT: &str = "1000000000000001";
const KEY_ID: &str = "LTAI5tBadMgmtKey0000001";
const KEY_SECRET: &str = "bad-management-secret-0001";
const LIMITED_KEY: &str = "LTAI5tBadLimitedKey0001";
const LIMITED_SECRET: &str = "bad-limited-secret-0001";
const VALID: &str = "3300000000000001";
const TARGET: &str = "3300000000000002";
const NO_ROLE: &str = "3300000000000003";
const CLOUD: &str = "3300000000000004";
const PROTECTED: &str = "3300000000000005";
const EDITED: &str = "3300000000000006";
/// Its own member: "not-before" owns TARGET's claim while it waits (one owner per account).
const STALE: &str = "3300000000000007";
const ABSENT: &str = "3399999999999999";
const DISABLED_MEMBER: &str = "3400000000000001";

fn member(id: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
  - accountId: "{id}"
    displayName: {name}
{extra}    ram:
      users:
        - {{ name: alice, accessKeys: [{{}}], loginProfile: true, groups: [admins],
            policies: [{{ name: app-policy, type: Custom }}] }}
      groups: [{{ name: admins }}]
      roles: [{{ name: app-role }}]
      policies: [{{ name: app-policy }}]
    deletion: {{ checkSeconds: 1, deletingSeconds: 1 }}
"#
    )
}

fn seed() -> String {
    let mut s = format!(
        r#"
resourceDirectory: {{ id: rd-Bad001, rootFolderId: r-Bad001, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
  - {{ accessKeyId: {LIMITED_KEY}, accessKeySecret: {LIMITED_SECRET}, accountId: "{MGMT}", allow: ["ram:List*"] }}
accounts:
"#
    );
    s.push_str(&member(VALID, "valid-member", ""));
    s.push_str(&member(TARGET, "target-member", ""));
    s.push_str(&member(
        NO_ROLE,
        "no-role-member",
        "    accessRole: { name: ResourceDirectoryAccountAccessRole, present: false }\n",
    ));
    s.push_str(&member(CLOUD, "cloud-member", "    type: CloudAccount\n"));
    s.push_str(&member(PROTECTED, "protected-member", ""));
    s.push_str(&member(STALE, "stale-member", ""));
    // A service-linked role whose deletion task runs for an hour keeps this one in PurgingRam
    // after its first mutating calls, so that its accountId can be edited "after work started".
    s.push_str(&format!(
        r#"
  - accountId: "{EDITED}"
    displayName: edited-member
    ram:
      users: [{{ name: bob, accessKeys: [{{}}] }}]
      serviceLinkedRoles: [{{ name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: 3600 }}]
    deletion: {{ checkSeconds: 1, deletingSeconds: 1 }}
"#
    ));
    s
}

fn disabled_seed() -> String {
    let mut s = format!(
        r#"
resourceDirectory: {{ id: rd-Dis001, rootFolderId: r-Dis001, managementAccountId: "{MGMT}",
                     memberDeletionStatus: Disabled }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:
"#
    );
    s.push_str(&member(DISABLED_MEMBER, "disabled-member", ""));
    s
}

/// An object as a user would write it: mode Delete unless `patch` says otherwise. JSON, not the
/// typed spec, so that values the CRD schema refuses can be sent too.
fn object(name: &str, account: &str, display: &str, secret: &str, endpoint: &str, patch: Value) -> Value {
    let mut spec = deletion::spec(
        account,
        display,
        Mode::Delete,
        endpoint,
        json!({ "credentialsSecretRef": { "name": secret } }),
    );
    deletion::merge(&mut spec, patch);
    deletion::manifest(name, spec)
}

fn dynamic(k: &KubeCluster) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<AccountDeletion>(&());
    Api::namespaced_with(k.client(), NS, &ar)
}

async fn create(k: &KubeCluster, o: Value) -> Result<(), kube::Error> {
    let d: DynamicObject = serde_json::from_value(o).unwrap();
    dynamic(k).create(&PostParams::default(), &d).await.map(|_| ())
}

async fn warnings(k: &KubeCluster) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(k.client(), NS);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect()
}

struct Case {
    name: &'static str,
    input: &'static str,
    reason: &'static str,
    needle: &'static str,
    /// Whether the reason is a Block (Warning event expected) or a wait.
    warning: bool,
}

#[tokio::test]
async fn bad_input_is_named_warned_about_and_never_mutates() {
    let k = KubeCluster::start().await;
    k.install_project_crds().await;
    k.create_namespace(NS).await;
    let emu = Emulator::start(&seed(), &[]).await;
    let emu_disabled = Emulator::start(&disabled_seed(), &[]).await;
    k.create_credentials_secret(NS, "mgmt", KEY_ID, KEY_SECRET).await;
    k.create_secret(NS, "partial", &[("accessKeyId", KEY_ID)]).await;
    k.create_credentials_secret(NS, "wrong", KEY_ID, "not-the-secret")
        .await;
    k.create_credentials_secret(NS, "unknown", "LTAI5tDoesNotExist00001", "whatever")
        .await;
    k.create_credentials_secret(NS, "limited", LIMITED_KEY, LIMITED_SECRET)
        .await;
    let _op = Operator::watching_with(
        k.kubeconfig(),
        NS,
        &["--protected-account-ids", PROTECTED],
        &quick_env(&[("ADO_BLOCKED_RETRY_SECONDS", "2"), DEBUG_LOG]),
    );
    let api = k.deletions(NS);
    let url = emu.url();

    // A valid object (mode Plan) that must keep reconciling next to all the bad ones.
    create(
        &k,
        object(
            "valid",
            VALID,
            "valid-member",
            "mgmt",
            url,
            json!({ "mode": "Plan" }),
        ),
    )
    .await
    .unwrap();
    let first_plan = wait_for(
        "valid Planned",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || {
            let api = api.clone();
            async move {
                let st = status(&api, "valid").await?;
                (st.phase == Some(Phase::Planned)).then_some(st.plan?.hash)
            }
        },
    )
    .await;

    // The "edited after work started" object: let it start, then move it to another account.
    create(
        &k,
        object("edited", EDITED, "edited-member", "mgmt", url, json!({})),
    )
    .await
    .unwrap();
    wait_for(
        "edited: work started",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || {
            let api = api.clone();
            async move {
                let st = status(&api, "edited").await?;
                (st.started_account_id.as_deref() == Some(EDITED) && st.phase == Some(Phase::PurgingRam))
                    .then_some(())
            }
        },
    )
    .await;

    // --- Rejected by the API server (CRD schema), 422, nothing stored.
    let mut table: Vec<(String, String, String)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for (name, input, patch, field) in [
        (
            "short-id",
            "accountId \"12345\"",
            json!({ "accountId": "12345" }),
            "accountId",
        ),
        (
            "letters-id",
            "accountId \"12345678901234ab\"",
            json!({ "accountId": "12345678901234ab" }),
            "accountId",
        ),
        (
            "unknown-mode",
            "mode \"Destroy\"",
            json!({ "mode": "Destroy" }),
            "mode",
        ),
    ] {
        let r = create(&k, object(name, TARGET, "target-member", "mgmt", url, patch)).await;
        let observed = match &r {
            Err(kube::Error::Api(s)) => format!("HTTP {} {}: {}", s.code, s.reason, s.message),
            Err(e) => format!("error {e}"),
            Ok(()) => "accepted".to_string(),
        };
        let ok = matches!(&r, Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(field));
        if !ok {
            failures.push(format!("{input}: expected 422 naming {field}, got {observed}"));
        }
        table.push((input.to_string(), "422 at apply".into(), observed));
    }

    // --- Accepted by the API server, refused by the operator.
    let d_url = emu_disabled.url();
    let t =
        |name: &str, secret: &str, patch: Value| object(name, TARGET, "target-member", secret, url, patch);
    let objs = vec![
        t("no-secret", "absent", json!({})),
        t("key-missing", "partial", json!({})),
        t("wrong-secret", "wrong", json!({})),
        t("unknown-key", "unknown", json!({})),
        t("no-permission", "limited", json!({})),
        object("no-role", NO_ROLE, "no-role-member", "mgmt", url, json!({})),
        t(
            "name-mismatch",
            "mgmt",
            json!({ "accountDisplayName": "prod-payments" }),
        ),
        object("protected", PROTECTED, "protected-member", "mgmt", url, json!({})),
        object("management", MGMT, "mgmt", "mgmt", url, json!({})),
        object("cloud-account", CLOUD, "cloud-member", "mgmt", url, json!({})),
        object("not-in-directory", ABSENT, "ghost", "mgmt", url, json!({})),
        object(
            "deletion-disabled",
            DISABLED_MEMBER,
            "disabled-member",
            "mgmt",
            d_url,
            json!({}),
        ),
        t(
            "bad-retain",
            "mgmt",
            json!({ "ram": { "retain": { "users": ["ok", "bad["] } } }),
        ),
        object(
            "stale-hash",
            STALE,
            "stale-member",
            "mgmt",
            url,
            json!({ "approvedPlanHash": "0123456789abcdef" }),
        ),
        t("bad-hash", "mgmt", json!({ "approvedPlanHash": "latest" })),
        t("bad-not-before", "mgmt", json!({ "notBefore": "next monday" })),
        t(
            "bad-endpoint",
            "mgmt",
            json!({ "endpoint": "resourcemanager.aliyuncs.com" }),
        ),
        t(
            "not-before",
            "mgmt",
            json!({ "notBefore": "2099-01-01T00:00:00Z" }),
        ),
    ];
    for o in objs {
        create(&k, o).await.unwrap();
    }
    api.patch(
        "edited",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "accountId": TARGET, "accountDisplayName": "target-member" } })),
    )
    .await
    .unwrap();

    let cases = [
        Case {
            name: "no-secret",
            input: "credentialsSecretRef names a missing Secret",
            reason: "SecretNotFound",
            needle: "absent",
            warning: true,
        },
        Case {
            name: "key-missing",
            input: "Secret without accessKeySecret",
            reason: "SecretKeyMissing",
            needle: "accessKeySecret",
            warning: true,
        },
        Case {
            name: "wrong-secret",
            input: "wrong accessKeySecret (SignatureDoesNotMatch)",
            reason: "CredentialsRejected",
            needle: "SignatureDoesNotMatch",
            warning: true,
        },
        Case {
            name: "unknown-key",
            input: "unknown accessKeyId",
            reason: "CredentialsRejected",
            needle: "InvalidAccessKeyId.NotFound",
            warning: true,
        },
        Case {
            name: "no-permission",
            input: "key allowed only ram:List* (NoPermission)",
            reason: "PermissionDenied",
            needle: "NoPermission",
            warning: true,
        },
        Case {
            name: "no-role",
            input: "access role missing in the member",
            reason: "AccessRoleUnavailable",
            needle: "AssumeRole",
            warning: true,
        },
        Case {
            name: "name-mismatch",
            input: "accountDisplayName does not match",
            reason: "DisplayNameMismatch",
            needle: "spec.accountDisplayName",
            warning: true,
        },
        Case {
            name: "protected",
            input: "account in --protected-account-ids",
            reason: "ProtectedAccount",
            needle: "protected",
            warning: true,
        },
        Case {
            name: "management",
            input: "management account id",
            reason: "ManagementAccount",
            needle: "management account",
            warning: true,
        },
        Case {
            name: "cloud-account",
            input: "CloudAccount (invited) member, mode Delete",
            reason: "NotDeletableMemberType",
            needle: "PurgeRam",
            warning: true,
        },
        Case {
            name: "not-in-directory",
            input: "account id not in the directory",
            reason: "AccountNotInDirectory",
            needle: "spec.accountId",
            warning: true,
        },
        Case {
            name: "deletion-disabled",
            input: "memberDeletionStatus Disabled, mode Delete",
            reason: "MemberDeletionDisabled",
            needle: "SetMemberDeletionPermission",
            warning: true,
        },
        Case {
            name: "edited",
            input: "accountId edited after work started",
            reason: "AccountIdChanged",
            needle: "spec.accountId changed",
            warning: true,
        },
        Case {
            name: "bad-retain",
            input: "retain pattern \"bad[\"",
            reason: "InvalidRetainPattern",
            needle: "spec.ram.retain.users[1]",
            warning: true,
        },
        Case {
            name: "stale-hash",
            input: "approvedPlanHash of another plan",
            reason: "PlanNotApproved",
            needle: "spec.approvedPlanHash",
            warning: true,
        },
        Case {
            name: "bad-hash",
            input: "approvedPlanHash \"latest\"",
            reason: "InvalidApprovedPlanHash",
            needle: "status.plan.hash",
            warning: true,
        },
        Case {
            name: "bad-not-before",
            input: "notBefore \"next monday\"",
            reason: "InvalidNotBefore",
            needle: "spec.notBefore",
            warning: true,
        },
        Case {
            name: "bad-endpoint",
            input: "endpoint without scheme",
            reason: "InvalidEndpoint",
            needle: "spec.endpoint",
            warning: true,
        },
        Case {
            name: "not-before",
            input: "notBefore in the future",
            reason: "WaitingForNotBefore",
            needle: "spec.notBefore",
            warning: false,
        },
    ];

    // Every case settles on a Ready condition with a reason (whatever it is; judged below).
    let observed: BTreeMap<&str, AccountDeletionStatus> = wait_for(
        "every bad object has a Ready condition",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let api = api.clone();
            let cases = &cases;
            async move {
                let mut out = BTreeMap::new();
                for c in cases {
                    let st = status(&api, c.name).await?;
                    let ready = condition(&st, "Ready")?;
                    if c.name == "edited" && ready.reason != "AccountIdChanged" {
                        // Still the pass from before the edit; give it time.
                        if st.phase != Some(Phase::Blocked) {
                            return None;
                        }
                    }
                    if c.name == "deletion-disabled" && st.phase == Some(Phase::PurgingRam) {
                        return None;
                    }
                    out.insert(c.name, st);
                }
                Some(out)
            }
        },
    )
    .await;
    // Blocked objects are retried every 2 s: two more rounds prove they stay mutation-free.
    let edited_calls_after_block = calls::mutating_for(&emu.calls().await, EDITED);
    tokio::time::sleep(Duration::from_secs(5)).await;

    let calls = emu.calls().await;
    let warn = warnings(&k).await;
    for c in &cases {
        let st = &observed[c.name];
        let ready = condition(st, "Ready").unwrap();
        let reason = ready.reason.clone();
        let message = format!("{} | {}", ready.message, st.message.as_deref().unwrap_or(""));
        let mut notes = Vec::new();
        if reason != c.reason {
            notes.push(format!("reason {reason} (expected {})", c.reason));
        }
        if !message.contains(c.needle) {
            notes.push(format!("message lacks {:?}", c.needle));
        }
        let has_warning = warn.iter().any(|e| {
            e.involved_object.name.as_deref() == Some(c.name) && e.reason.as_deref() == Some(c.reason)
        });
        if c.warning && !has_warning {
            notes.push("no Warning event with that reason".into());
        }
        let mutations = match c.name {
            "deletion-disabled" => calls::mutating(&emu_disabled.calls().await),
            "edited" => {
                calls::mutating_for(&calls, EDITED) - edited_calls_after_block
                    + calls::mutating_for(&calls, TARGET)
            }
            _ => 0,
        };
        if mutations > 0 {
            notes.push(format!("{mutations} mutating call(s)"));
        }
        let verdict = if notes.is_empty() {
            "ok".to_string()
        } else {
            notes.join("; ")
        };
        if !notes.is_empty() {
            failures.push(format!("{}: {verdict}; message: {message}", c.input));
        }
        table.push((
            c.input.to_string(),
            c.reason.to_string(),
            format!(
                "{} {reason}: {verdict} — {}",
                st.phase.map_or("-", Phase::as_str),
                ready.message.chars().take(170).collect::<String>()
            ),
        ));
    }
    // Nothing but the edited object's legitimate start ever mutated anything at the main emulator.
    let others = calls::mutating(&calls) - calls::mutating_for(&calls, EDITED);
    if others > 0 {
        failures.push(format!(
            "{others} mutating call(s) outside the edited account: {calls:#}"
        ));
    }

    // The valid object keeps reconciling: a spec change is planned again.
    api.patch(
        "valid",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "ram": { "retain": { "users": ["alice"] } } } })),
    )
    .await
    .unwrap();
    let generation = api.get("valid").await.unwrap().metadata.generation.unwrap();
    let st = wait_for(
        "valid re-planned after a spec change",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            let api = api.clone();
            async move {
                let st = status(&api, "valid").await?;
                (st.observed_generation == Some(generation) && st.phase == Some(Phase::Planned)).then_some(st)
            }
        },
    )
    .await;
    assert_ne!(
        st.plan.as_ref().map(|p| p.hash.as_str()),
        Some(first_plan.as_str()),
        "{st:#?}"
    );

    let mut report = String::from("| input | expected | observed |\n|---|---|---|\n");
    for (i, e, o) in &table {
        let _ = writeln!(report, "| {i} | {e} | {o} |");
    }
    println!("{report}");
    assert!(
        failures.is_empty(),
        "{report}\nFAILURES:\n{}",
        failures.join("\n")
    );
}
