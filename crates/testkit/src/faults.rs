//! The world of the fault tests (tests/e2e_faults.rs, tests/e2e_faults_outages.rs): one member
//! account with a retained user `keep-me`, its seed, the cluster and operator they run with, and
//! the checks every fault scenario ends with.

use std::time::Duration;

use account_deletion_operator::crd::{AccountDeletion, Mode};
use kube::Api;
use serde_json::{Value, json};

use crate::{Emulator, KubeCluster, Operator, calls, deletion, wait_for};

/// The management account's AccessKey.
pub const KEY_ID: &str = "LTAI5tFaultMgmtKey00001";
/// Its secret.
pub const KEY_SECRET: &str = "fault-management-secret-0001";
/// The management account.
pub const MGMT: &str = "1000000000000001";

/// The fault scenarios each start an API server, etcd, the emulator and operators and measure
/// call counts: they run one at a time (within one test binary) so they neither starve each other
/// on small CI machines nor disturb each other's figures.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A few hundred objects: 40 users with a key, a login profile, an MFA device, two groups and a
/// policy each; groups, roles, policies with versions, identity providers, recycled users.
pub const RICH: &str = "users: 40, accessKeysPerUser: 1, loginProfiles: true, mfaDevices: true, \
    groups: 6, groupsPerUser: 2, roles: 20, policies: 20, versionsPerPolicy: 2, \
    policiesPerPrincipal: 1, samlProviders: 2, oidcProviders: 2, recycledUsers: 2";

/// Knobs of the member account in the seed.
pub struct Member<'a> {
    /// Account id.
    pub id: &'a str,
    /// Extra YAML lines under `accounts[0]` (indented by 4), e.g. an `accessRole`.
    pub extra: &'a str,
    /// `generate:` block content (flow mapping body).
    pub generate: &'a str,
    /// How long a service-linked role deletion task runs (emulator clock).
    pub slr_seconds: u64,
    /// How long the deletion check runs.
    pub check_seconds: u64,
    /// How long the account stays in Deleting.
    pub deleting_seconds: u64,
}

impl<'a> Member<'a> {
    /// The generated [`RICH`] member with quick asynchronous steps (1 s, 1 s, 2 s).
    pub fn rich(id: &'a str) -> Self {
        Member {
            id,
            extra: "",
            generate: RICH,
            slr_seconds: 1,
            check_seconds: 1,
            deleting_seconds: 2,
        }
    }
}

/// The emulator seed with the management key and the one member `m`.
pub fn seed(m: &Member<'_>) -> String {
    let Member {
        id,
        extra,
        generate,
        slr_seconds,
        check_seconds,
        deleting_seconds,
    } = m;
    format!(
        r#"
resourceDirectory: {{ id: rd-Fault01, rootFolderId: r-Fault01, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:
  - accountId: "{id}"
    displayName: fault-member
{extra}
    ram:
      users:
        - {{ name: keep-me, accessKeys: [{{}}], loginProfile: true, policies: [{{ name: ReadOnlyAccess, type: System }}] }}
        - {{ name: alice, accessKeys: [{{}}], loginProfile: true, mfaDevice: alice-mfa, groups: [admins],
            policies: [{{ name: app-policy, type: Custom }}] }}
      groups: [{{ name: admins }}]
      roles: [{{ name: app-role, policies: [{{ name: ReadOnlyAccess, type: System }}] }}]
      serviceLinkedRoles:
        - {{ name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: {slr_seconds} }}
        - {{ name: AliyunServiceRoleForRDS, service: rds.aliyuncs.com, deletionSeconds: {slr_seconds} }}
      policies: [{{ name: app-policy, versions: 2 }}]
      virtualMfaDevices: [{{ name: alice-mfa }}]
      samlProviders: [{{ name: okta }}]
      generate: {{ {generate} }}
    deletion: {{ checkSeconds: {check_seconds}, deletingSeconds: {deleting_seconds} }}
"#
    )
}

/// A fresh API server with the project's CRDs, namespace `ns` and the management key Secret.
pub async fn cluster(ns: &str) -> KubeCluster {
    KubeCluster::start_with_credentials(&[ns], KEY_ID, KEY_SECRET).await
}

/// Creates `AccountDeletion` `ns/name` in mode Delete for `account` at `endpoint`, keeping user
/// `keep-me`.
pub async fn create_deletion(
    k: &KubeCluster,
    ns: &str,
    name: &str,
    account: &str,
    endpoint: &str,
) -> Api<AccountDeletion> {
    let retain = json!({ "ram": { "retain": { "users": ["keep-me"] } } });
    let spec = deletion::spec(account, "fault-member", Mode::Delete, endpoint, retain);
    deletion::create(k, ns, name, spec).await
}

/// An operator watching `ns` with 1 s timings and debug logs, plus `extra`.
pub fn start_operator(k: &KubeCluster, ns: &str, extra: &[(&'static str, &'static str)]) -> Operator {
    let mut env = crate::operator::quick_env(&[crate::operator::DEBUG_LOG]);
    env.extend_from_slice(extra);
    Operator::watching(k.kubeconfig(), ns, &env)
}

/// Codes the fault injector produces (a call answered with one of them never ran).
pub const INJECTED: [&str; 4] = [
    "Throttling.User",
    "InternalError",
    "ServiceUnavailable",
    "(dropped)",
];

/// `DeleteAccount` ran exactly once, and no other attempt reached the account.
pub fn assert_delete_account_once(calls: &Value) {
    let codes = calls::codes(calls, "resourcemanager:DeleteAccount");
    assert_eq!(
        codes.get("OK"),
        Some(&1),
        "DeleteAccount OK exactly once: {codes:?}"
    );
    let other: Vec<_> = codes
        .iter()
        .filter(|(c, _)| *c != "OK" && !INJECTED.contains(&c.as_str()))
        .collect();
    assert!(
        other.is_empty(),
        "a second DeleteAccount reached the emulator: {codes:?}"
    );
}

/// Waits until the emulator has seen more than `n` mutating calls; how many it has seen.
pub async fn wait_mutating_above(emu: &Emulator, n: u64, what: &str) -> u64 {
    wait_for(
        what,
        Duration::from_secs(90),
        Duration::from_millis(100),
        || async {
            let m = calls::mutating(&emu.calls().await);
            (m > n).then_some(m).ok_or(m)
        },
    )
    .await
}
