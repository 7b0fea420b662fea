//! The shapes the benchmark writes: the accounts it generates (emulator `generate:` seeds), the
//! `AccountDeletion` objects that empty them and the approval of their plans, the same for the
//! worker's in-memory objects and for the fleet's objects in a cluster.

use clap::ValueEnum;
use serde_json::{Value, json};

use account_deletion_operator::crd::{AccountDeletionStatus, Mode, Phase};
use ado_testkit::deletion;

use super::{MGMT_ACCOUNT, MGMT_KEY_ID, MGMT_KEY_SECRET};

/// Which account shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// About 100 RAM objects.
    #[value(name = "S", alias = "s")]
    S,
    /// About 1,000.
    #[value(name = "M", alias = "m")]
    M,
    /// Alibaba's older published RAM limits (1,000 users).
    #[value(name = "L", alias = "l")]
    L,
    /// Today's limits (alibaba-api.md §4.4, §10.5): 5,000 users, 300 groups, 1,000 roles,
    /// 1,500 policies of 5 versions, 5,000 MFA devices, 100 identity providers.
    #[value(name = "XL", alias = "xl")]
    Xl,
    /// L under per-operation quotas: one hot listing and one hot delete limited below the account.
    #[value(name = "quota")]
    Quota,
    /// Many accounts of size M at once under one global budget.
    #[value(name = "fleet")]
    Fleet,
}

impl Scenario {
    /// The row name's first half.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::S => "S",
            Scenario::M => "M",
            Scenario::L => "L",
            Scenario::Xl => "XL",
            Scenario::Quota => "Quota",
            Scenario::Fleet => "Fleet",
        }
    }
}

/// The `generate:` block of one member; `tenth`: the same shape at a tenth of the size (the
/// sequential baseline's sample).
pub fn generate(scn: Scenario, tenth: bool) -> Value {
    match scn {
        Scenario::S => json!({
            "users": 20, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "orphanMfaDevices": 5, "groups": 5, "groupsPerUser": 2, "roles": 20, "policies": 30,
            "versionsPerPolicy": 3, "policiesPerPrincipal": 2, "samlProviders": 2, "oidcProviders": 2
        }),
        Scenario::M | Scenario::Fleet => json!({
            "users": 200, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "orphanMfaDevices": 50, "groups": 20, "groupsPerUser": 2, "roles": 200, "policies": 300,
            "versionsPerPolicy": 3, "policiesPerPrincipal": 2, "samlProviders": 10, "oidcProviders": 10
        }),
        Scenario::L | Scenario::Quota if tenth => json!({
            "users": 100, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "groups": 5, "groupsPerUser": 2, "roles": 100, "serviceLinkedRoles": 1, "policies": 150,
            "versionsPerPolicy": 5, "policiesPerPrincipal": 2, "samlProviders": 5, "oidcProviders": 5
        }),
        Scenario::L | Scenario::Quota => json!({
            "users": 1000, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "groups": 50, "groupsPerUser": 2, "roles": 990, "serviceLinkedRoles": 10, "policies": 1500,
            "versionsPerPolicy": 5, "policiesPerPrincipal": 2, "samlProviders": 50, "oidcProviders": 50
        }),
        // Every user has a bound device, so the 5,000 users already hold the 5,000-device limit:
        // no orphaned devices fit beside them.
        Scenario::Xl if tenth => json!({
            "users": 500, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "groups": 30, "groupsPerUser": 5, "roles": 99, "serviceLinkedRoles": 1, "policies": 150,
            "versionsPerPolicy": 5, "policiesPerPrincipal": 2, "samlProviders": 5, "oidcProviders": 5,
            "applications": 2
        }),
        Scenario::Xl => json!({
            "users": 5000, "accessKeysPerUser": 2, "loginProfiles": true, "mfaDevices": true,
            "groups": 300, "groupsPerUser": 5, "roles": 990, "serviceLinkedRoles": 10, "policies": 1500,
            "versionsPerPolicy": 5, "policiesPerPrincipal": 2, "samlProviders": 50, "oidcProviders": 50,
            "applications": 20
        }),
    }
}

/// The id of the `i`-th member.
pub fn account_id(i: usize) -> String {
    format!("{}", 2_000_000_000_000_001u64 + i as u64)
}

/// The display name of the `i`-th member, and the name of its `AccountDeletion`.
pub fn display_name(i: usize) -> String {
    format!("bench-{i}")
}

/// The spec of the `i`-th member's `AccountDeletion` (credentials Secret `mgmt`, as in the tests).
pub fn deletion_spec(i: usize, endpoint: &str, mode: Mode) -> Value {
    deletion::spec(&account_id(i), &display_name(i), mode, endpoint, json!({}))
}

/// Whether a plan is ready for approval: phase Planned with a plan hash and a finished deletion
/// pre-check (its abandonable checks are known).
pub fn planned(st: &AccountDeletionStatus) -> bool {
    st.phase == Some(Phase::Planned)
        && st.plan.as_ref().is_some_and(|p| !p.hash.is_empty())
        && deletion::pre_check_complete(st)
}

/// The merge patch approving a [`planned`] object's plan, as a user writes it: mode Delete, the
/// plan's hash, and the abandonable checks the pre-check named waived. `None` before it is planned.
pub fn approval(st: &AccountDeletionStatus) -> Option<Value> {
    if !planned(st) {
        return None;
    }
    let hash = st.plan.as_ref().map(|p| p.hash.clone())?;
    let waive: Vec<String> = st
        .deletion_check
        .as_ref()
        .map(|c| c.abandonable.iter().map(|a| a.check_id.clone()).collect())
        .unwrap_or_default();
    Some(
        json!({"spec": {"mode": Mode::Delete.as_str(), "approvedPlanHash": hash,
                         "deletion": {"abandonableCheckIds": waive}}}),
    )
}

/// The seed (JSON is YAML) with `n` members of the scenario's shape.
pub fn seed(scn: Scenario, n: usize, tenth: bool) -> Value {
    let accounts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "accountId": account_id(i),
                "displayName": display_name(i),
                "ram": {"generate": generate(scn, tenth)},
            })
        })
        .collect();
    json!({
        "resourceDirectory": {
            "id": "rd-bench01", "rootFolderId": "r-bench1",
            "managementAccountId": MGMT_ACCOUNT, "managementAccountName": "mgmt@example.com"
        },
        "accessKeys": [{
            "accessKeyId": MGMT_KEY_ID, "accessKeySecret": MGMT_KEY_SECRET,
            "accountId": MGMT_ACCOUNT, "allow": ["*"]
        }],
        "accounts": accounts,
    })
}
