//! An in-memory member account implementing [`PlanApi`] with the RAM conflict rules of
//! alibaba-api.md §4.3, so the planner, the executor and the controller can be tested without a
//! network. It is deliberately strict: any call made out of dependency order fails with the real
//! `DeleteConflict.*` code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ado_core::ErrorClass;
use ado_core::action::Action;
use ado_core::api::{
    AppSource, Applied, CallError, ListedApplication, ListedCredential, ListedRecycledUser, ListedRole,
    ListedUser, PlanApi, RoleUsage, SessionRole, SlrPhase, SlrStatus, SummaryCounts,
};
use ado_core::model::{CustomPolicy, PolicyRef, PolicyType, PrincipalKind, VirtualMfaDevice};

mod reads;
mod rules;

/// An error answered by the fake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (RequestId {request_id})")]
pub struct FakeError {
    /// Alibaba-style code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Generated RequestId.
    pub request_id: String,
}

impl CallError for FakeError {
    fn is_not_found(&self) -> bool {
        self.code.starts_with("EntityNotExist")
    }
    fn code(&self) -> &str {
        &self.code
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn request_id(&self) -> Option<&str> {
        Some(&self.request_id)
    }
    fn class(&self) -> ErrorClass {
        ErrorClass::classify(&self.code, None)
    }
}

/// A fake RAM user.
#[derive(Debug, Clone, Default)]
pub struct FakeUser {
    /// `UserId`.
    pub id: String,
    /// Frozen.
    pub frozen: bool,
    /// AccessKey ids.
    pub keys: BTreeSet<String>,
    /// Login profile present.
    pub login: bool,
    /// Bound MFA serial.
    pub mfa: Option<String>,
    /// Attached policies.
    pub policies: BTreeSet<PolicyRef>,
    /// Service credential ids.
    pub service_credentials: BTreeSet<String>,
    /// Passkey ids.
    pub passkeys: BTreeSet<String>,
}

/// A fake enterprise OAuth application.
#[derive(Debug, Clone, Default)]
pub struct FakeApp {
    /// `AppName`.
    pub name: String,
    /// Secret ids.
    pub secrets: BTreeSet<String>,
    /// Installed internal ServerApp.
    pub provisioned: bool,
}

/// A fake group.
#[derive(Debug, Clone, Default)]
pub struct FakeGroup {
    /// Member user names.
    pub members: BTreeSet<String>,
    /// Attached policies.
    pub policies: BTreeSet<PolicyRef>,
}

/// The whole fake account; fields are public so tests can arrange and inspect it.
#[derive(Debug, Clone, Default)]
pub struct FakeState {
    /// Account id.
    pub account_id: String,
    /// Users by name.
    pub users: BTreeMap<String, FakeUser>,
    /// Groups by name.
    pub groups: BTreeMap<String, FakeGroup>,
    /// Roles (normal and service-linked) with their attachments.
    pub roles: BTreeMap<String, BTreeSet<PolicyRef>>,
    /// Service-linked roles still in use, with their usages (their deletion task fails).
    pub slr_in_use: BTreeMap<String, Vec<RoleUsage>>,
    /// Custom policies: name → number of versions.
    pub policies: BTreeMap<String, u32>,
    /// Virtual MFA devices: serial → bound user.
    pub mfa_devices: BTreeMap<String, Option<String>>,
    /// SAML providers.
    pub saml: BTreeSet<String>,
    /// OIDC providers.
    pub oidc: BTreeSet<String>,
    /// Default domain.
    pub domain: String,
    /// Recycle bin: user id → (UPN, key ids).
    pub bin: BTreeMap<String, (String, BTreeSet<String>)>,
    /// SLR deletion tasks: id → (role, status).
    pub tasks: BTreeMap<String, (String, SlrPhase)>,
    /// Read calls made.
    pub reads: u64,
    /// Mutating calls made.
    pub mutating: u64,
    /// Injected failures: (API action, target) → error code.
    pub fail: BTreeMap<(String, String), String>,
    /// Report every `AttachmentCount` as 0, like a service whose counter lags behind.
    pub stale_attachment_counts: bool,
    /// The role the member session is (by name as stored in `roles`); `None`: the fake cannot say.
    pub session_role: Option<String>,
    /// Enterprise OAuth applications by `AppId`.
    pub apps: BTreeMap<String, FakeApp>,
    /// Installed third-party applications: `AppId` → `AppName`.
    pub external_apps: BTreeMap<String, String>,
    /// `DeleteUser` answers `DeleteConflict.User.Passkey` while the user has passkeys (the
    /// service documents no such code; this covers the case it ever does).
    pub passkeys_block_delete_user: bool,
    next_id: u64,
}

/// The fake's `RoleId` of a role: stable and the same for every spelling of the name.
#[must_use]
pub fn fake_role_id(name: &str) -> String {
    format!(
        "3{:017}",
        name.to_ascii_lowercase()
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 100_000_000_000_000_000
    )
}

/// The fake account behind a mutex (the executor calls it concurrently).
#[derive(Debug, Default)]
pub struct FakeAccount {
    /// Its state.
    pub state: Mutex<FakeState>,
    /// Mutating calls in flight right now.
    in_flight: AtomicUsize,
    /// The most mutating calls that were in flight at once (to check the concurrency bound).
    pub max_in_flight: AtomicUsize,
}

fn p(name: &str, t: PolicyType) -> PolicyRef {
    PolicyRef {
        name: name.into(),
        policy_type: t,
    }
}

impl FakeState {
    /// A richly populated member (mirrors the architecture document's example seed).
    #[must_use]
    pub fn rich(account_id: &str) -> FakeState {
        let mut s = FakeState {
            account_id: account_id.into(),
            domain: "legacy-prod.onaliyun.com".into(),
            session_role: Some("ResourceDirectoryAccountAccessRole".into()),
            ..FakeState::default()
        };
        let mfa = format!("acs:ram::{account_id}:mfa/alice-mfa");
        s.users.insert(
            "alice".into(),
            FakeUser {
                id: "2000000000000010".into(),
                keys: ["LTAI5tAlice0000000000001".to_string()].into(),
                login: true,
                mfa: Some(mfa.clone()),
                policies: [
                    p("ReadOnlyAccess", PolicyType::System),
                    p("app-policy", PolicyType::Custom),
                ]
                .into(),
                ..FakeUser::default()
            },
        );
        s.users.insert(
            "breakglass".into(),
            FakeUser {
                id: "2000000000000011".into(),
                keys: ["LTAI5tBreak000000000001".to_string()].into(),
                login: true,
                policies: [p("bg-policy", PolicyType::Custom)].into(),
                ..FakeUser::default()
            },
        );
        s.users.insert(
            "frozen-fred".into(),
            FakeUser {
                id: "2000000000000012".into(),
                frozen: true,
                keys: ["LTAI5tFred0000000000001".to_string()].into(),
                ..FakeUser::default()
            },
        );
        s.groups.insert(
            "admins".into(),
            FakeGroup {
                members: ["alice".to_string(), "frozen-fred".to_string()].into(),
                policies: [p("app-policy", PolicyType::Custom)].into(),
            },
        );
        s.groups.insert(
            "ops".into(),
            FakeGroup {
                members: ["alice".to_string(), "breakglass".to_string()].into(),
                policies: [p("ops-policy", PolicyType::Custom)].into(),
            },
        );
        s.roles.insert(
            "ResourceDirectoryAccountAccessRole".into(),
            [p("AdministratorAccess", PolicyType::System)].into(),
        );
        s.roles.insert(
            "app-role".into(),
            [
                p("AdministratorAccess", PolicyType::System),
                p("app-policy", PolicyType::Custom),
            ]
            .into(),
        );
        s.roles.insert("AliyunServiceRoleForECS".into(), BTreeSet::new());
        s.roles.insert("AliyunServiceRoleForHDR".into(), BTreeSet::new());
        s.slr_in_use.insert(
            "AliyunServiceRoleForHDR".into(),
            vec![RoleUsage {
                region: "global".into(),
                resources: vec![format!("acs:hdr:cn-hangzhou:{account_id}:site/s-1")],
            }],
        );
        for (name, v) in [
            ("app-policy", 3),
            ("bg-policy", 1),
            ("ops-policy", 2),
            ("unused", 5),
        ] {
            s.policies.insert(name.into(), v);
        }
        s.mfa_devices.insert(mfa, Some("alice".into()));
        s.mfa_devices
            .insert(format!("acs:ram::{account_id}:mfa/orphan-mfa"), None);
        s.saml.insert("okta".into());
        s.oidc.insert("github".into());
        s.bin.insert(
            "2000000000000099".into(),
            (
                "bob@legacy-prod.onaliyun.com".into(),
                ["LTAI5tBob00000000000001".to_string()].into(),
            ),
        );
        // The newer IMS objects (alibaba-api.md §10).
        if let Some(a) = s.users.get_mut("alice") {
            a.service_credentials.insert("SC0000000000000001".into());
            a.passkeys.insert("PASSKEY-alice0000000000001".into());
        }
        s.apps.insert(
            "4724570903440410001".into(),
            FakeApp {
                name: "billing-portal".into(),
                secrets: ["2efd5004-0001".to_string(), "2efd5004-0002".to_string()].into(),
                provisioned: false,
            },
        );
        s.apps.insert(
            "4724570903440410002".into(),
            FakeApp {
                name: "scim-sync".into(),
                secrets: BTreeSet::new(),
                provisioned: true,
            },
        );
        s.external_apps
            .insert("4523924833815460001".into(), "GiteePrd".into());
        s
    }

    fn err(&mut self, code: &str, message: &str) -> FakeError {
        self.next_id += 1;
        FakeError {
            code: code.into(),
            message: message.into(),
            request_id: format!("FAKE-{:08}", self.next_id),
        }
    }

    fn ok(&mut self) -> Applied {
        self.next_id += 1;
        Applied {
            request_id: format!("FAKE-{:08}", self.next_id),
            task_id: None,
        }
    }

    fn upn(&self, name: &str) -> String {
        format!("{name}@{}", self.domain)
    }

    fn attached_anywhere(&self, policy: &str) -> Option<&'static str> {
        let is = |s: &BTreeSet<PolicyRef>| {
            s.iter()
                .any(|x| x.name == policy && x.policy_type == PolicyType::Custom)
        };
        if self.users.values().any(|u| is(&u.policies)) {
            Some("DeleteConflict.Policy.User")
        } else if self.groups.values().any(|g| is(&g.policies)) {
            Some("DeleteConflict.Policy.Group")
        } else if self.roles.values().any(is) {
            Some("DeleteConflict.Policy.Role")
        } else {
            None
        }
    }

    /// True when only retained-by-default things remain: no users, groups, policies, devices,
    /// providers, recycle bin; only the access role; the initial domain.
    #[must_use]
    pub fn is_empty_except_access_role(&self) -> bool {
        self.users.is_empty()
            && self.groups.is_empty()
            && self
                .roles
                .keys()
                .all(|r| r == "ResourceDirectoryAccountAccessRole")
            && self.policies.is_empty()
            && self.mfa_devices.is_empty()
            && self.saml.is_empty()
            && self.oidc.is_empty()
            && self.bin.is_empty()
            && self.apps.is_empty()
            && self.external_apps.is_empty()
            && self.domain == format!("{}.onaliyun.com", self.account_id)
    }
}

impl FakeAccount {
    /// Wraps a state.
    #[must_use]
    pub fn new(state: FakeState) -> FakeAccount {
        FakeAccount {
            state: Mutex::new(state),
            ..FakeAccount::default()
        }
    }

    fn with<T>(&self, read: bool, f: impl FnOnce(&mut FakeState) -> T) -> T {
        // A poisoned lock only happens after a panic in a test; keep going with the data.
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if read {
            s.reads += 1;
        }
        f(&mut s)
    }

    fn user_read<T>(&self, user: &str, f: impl FnOnce(&FakeUser) -> T) -> Result<T, FakeError> {
        self.with(true, |s| match s.users.get(user) {
            Some(u) => Ok(f(u)),
            None => Err(s.err("EntityNotExist.User", "The user does not exist.")),
        })
    }
}
