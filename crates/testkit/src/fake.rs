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

    /// Applies one action with RAM's rules.
    ///
    /// # Errors
    /// The code RAM would answer.
    pub fn apply(&mut self, action: &Action) -> Result<Applied, FakeError> {
        self.mutating += 1;
        if let Some(code) = self
            .fail
            .get(&(action.api_action().to_string(), action.target()))
            .cloned()
        {
            return Err(self.err(&code, "injected failure"));
        }
        let nf = |s: &mut Self, what: &str| Err(s.err(&format!("EntityNotExist.{what}"), "not found"));
        match action {
            Action::DeleteAccessKey { user, key_id } => {
                match self.users.get_mut(user).map(|u| u.keys.remove(key_id)) {
                    None => nf(self, "User"),
                    Some(false) => nf(self, "User.AccessKey"),
                    Some(true) => Ok(self.ok()),
                }
            }
            Action::DeleteLoginProfile { user } => match self.users.get_mut(user) {
                None => nf(self, "User"),
                Some(u) if !u.login => nf(self, "User.LoginProfile"),
                Some(u) => {
                    u.login = false;
                    Ok(self.ok())
                }
            },
            Action::UnbindMfaDevice { user, .. } => match self.users.get_mut(user) {
                None => nf(self, "User"),
                Some(u) => match u.mfa.take() {
                    None => nf(self, "User.MFADevice"),
                    Some(serial) => {
                        if let Some(d) = self.mfa_devices.get_mut(&serial) {
                            *d = None;
                        }
                        Ok(self.ok())
                    }
                },
            },
            Action::RemoveUserFromGroup { user, group } => {
                if !self.users.contains_key(user) {
                    return nf(self, "User");
                }
                match self.groups.get_mut(group).map(|g| g.members.remove(user)) {
                    None => nf(self, "Group"),
                    Some(false) => nf(self, "User.Group"),
                    Some(true) => Ok(self.ok()),
                }
            }
            Action::DetachPolicyFromUser {
                user,
                policy,
                policy_type,
            } => match self
                .users
                .get_mut(user)
                .map(|u| u.policies.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "User"),
                Some(false) => nf(self, "User.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteUser { user } => {
                let Some(u) = self.users.get(user) else {
                    return nf(self, "User");
                };
                let conflict = if self.groups.values().any(|g| g.members.contains(user)) {
                    Some("Group")
                } else if !u.keys.is_empty() {
                    Some("AccessKey")
                } else if u.login {
                    Some("LoginProfile")
                } else if u.mfa.is_some() {
                    Some("MFADevice")
                } else if !u.policies.is_empty() {
                    Some("Policy")
                } else if self.passkeys_block_delete_user && !u.passkeys.is_empty() {
                    Some("Passkey")
                } else {
                    None
                };
                if let Some(c) = conflict {
                    return Err(self.err(&format!("DeleteConflict.User.{c}"), "conflict"));
                }
                let upn = self.upn(user);
                if let Some(u) = self.users.remove(user) {
                    self.bin.insert(u.id, (upn, BTreeSet::new()));
                }
                Ok(self.ok())
            }
            Action::DetachPolicyFromGroup {
                group,
                policy,
                policy_type,
            } => match self
                .groups
                .get_mut(group)
                .map(|g| g.policies.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "Group"),
                Some(false) => nf(self, "Group.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteGroup { group } => match self.groups.get(group) {
                None => nf(self, "Group"),
                Some(g) if !g.members.is_empty() => Err(self.err("DeleteConflict.Group.User", "conflict")),
                Some(g) if !g.policies.is_empty() => Err(self.err("DeleteConflict.Group.Policy", "conflict")),
                Some(_) => {
                    self.groups.remove(group);
                    Ok(self.ok())
                }
            },
            Action::DetachPolicyFromRole {
                role,
                policy,
                policy_type,
            } => match self
                .roles
                .get_mut(role)
                .map(|r| r.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "Role"),
                Some(false) => nf(self, "Role.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteRole { role } => match self.roles.get(role) {
                None => nf(self, "Role"),
                Some(r) if !r.is_empty() => Err(self.err("DeleteConflict.Role.Policy", "conflict")),
                Some(_) => {
                    self.roles.remove(role);
                    Ok(self.ok())
                }
            },
            Action::DeleteServiceLinkedRole { role } => {
                if !self.roles.contains_key(role) {
                    return nf(self, "Role");
                }
                let task = format!("task/acs-service-role/{role}/{:08}", self.next_id);
                let status = if self.slr_in_use.contains_key(role) {
                    SlrPhase::Failed
                } else {
                    self.roles.remove(role);
                    SlrPhase::Succeeded
                };
                self.tasks.insert(task.clone(), (role.clone(), status));
                let mut a = self.ok();
                a.task_id = Some(task);
                Ok(a)
            }
            Action::DeletePolicy { policy } => {
                if !self.policies.contains_key(policy) {
                    return nf(self, "Policy");
                }
                if let Some(code) = self.attached_anywhere(policy) {
                    return Err(self.err(code, "conflict"));
                }
                self.policies.remove(policy);
                Ok(self.ok())
            }
            Action::DeleteVirtualMfaDevice { serial } => match self.mfa_devices.get(serial) {
                None => nf(self, "VirtualMFADevice"),
                Some(Some(_)) => Err(self.err("DeleteConflict.VirtualMFADevice.User", "conflict")),
                Some(None) => {
                    self.mfa_devices.remove(serial);
                    Ok(self.ok())
                }
            },
            Action::DeleteSamlProvider { name } => {
                if self.saml.remove(name) {
                    Ok(self.ok())
                } else {
                    nf(self, "SAMLProvider")
                }
            }
            Action::DeleteOidcProvider { name } => {
                if self.oidc.remove(name) {
                    Ok(self.ok())
                } else {
                    nf(self, "OIDCProvider")
                }
            }
            Action::SetDefaultDomain { domain } => {
                self.domain.clone_from(domain);
                Ok(self.ok())
            }
            Action::DeleteAccessKeyInRecycleBin { user_id, key_id, .. } => {
                match self.bin.get_mut(user_id).map(|(_, keys)| keys.remove(key_id)) {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "AccessKey"),
                }
            }
            Action::DeleteUserInRecycleBin { user_id, .. } => {
                if self.bin.remove(user_id).is_some() {
                    Ok(self.ok())
                } else {
                    nf(self, "User")
                }
            }
            Action::DeleteServiceCredential {
                user, credential_id, ..
            } => {
                match self
                    .users
                    .get_mut(user)
                    .map(|u| u.service_credentials.remove(credential_id))
                {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "ServiceCredential"),
                }
            }
            Action::DeletePasskey { user, passkey_id, .. } => {
                match self.users.get_mut(user).map(|u| u.passkeys.remove(passkey_id)) {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "Passkey"),
                }
            }
            Action::DeleteAppSecret {
                app_id, secret_id, ..
            } => match self.apps.get_mut(app_id).map(|a| a.secrets.remove(secret_id)) {
                Some(true) => Ok(self.ok()),
                _ => nf(self, "AppSecret"),
            },
            Action::DeprovisionApplication { app_id, .. } => match self.apps.get_mut(app_id) {
                Some(a) if a.provisioned => {
                    a.provisioned = false;
                    Ok(self.ok())
                }
                Some(_) => Err(self.err(
                    "InvalidParameter.AppId",
                    "only an installed ServerApp can be uninstalled",
                )),
                None => nf(self, "Application"),
            },
            Action::DeleteApplication { app_id, .. } => match self.apps.get(app_id) {
                // Strict: an installed ServerApp must be uninstalled first.
                Some(a) if a.provisioned => {
                    Err(self.err("DeleteConflict.Application.Provisioned", "installed"))
                }
                Some(_) => {
                    self.apps.remove(app_id);
                    Ok(self.ok())
                }
                None => nf(self, "Application"),
            },
            Action::DeprovisionExternalApplication { app_id, .. } => {
                if self.external_apps.remove(app_id).is_some() {
                    Ok(self.ok())
                } else {
                    nf(self, "ExternalApplication")
                }
            }
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

impl PlanApi for FakeAccount {
    type Error = FakeError;

    async fn list_users(&self) -> Result<Vec<ListedUser>, FakeError> {
        Ok(self.with(true, |s| {
            s.users
                .iter()
                .map(|(n, u)| ListedUser {
                    name: n.clone(),
                    id: Some(u.id.clone()),
                    upn: Some(s.upn(n)),
                    frozen: u.frozen,
                })
                .collect()
        }))
    }
    async fn list_access_keys(&self, user: &str) -> Result<Vec<String>, FakeError> {
        self.user_read(user, |u| u.keys.iter().cloned().collect())
    }
    async fn has_login_profile(&self, user: &str) -> Result<bool, FakeError> {
        self.user_read(user, |u| u.login)
    }
    async fn list_policies_for_user(&self, user: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.user_read(user, |u| u.policies.iter().cloned().collect())
    }
    async fn list_groups(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.groups.keys().cloned().collect()))
    }
    async fn list_users_for_group(&self, group: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| match s.groups.get(group) {
            Some(g) => Ok(g.members.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Group", "The group does not exist.")),
        })
    }
    async fn list_policies_for_group(&self, group: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.with(true, |s| match s.groups.get(group) {
            Some(g) => Ok(g.policies.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Group", "The group does not exist.")),
        })
    }
    async fn list_roles(&self) -> Result<Vec<ListedRole>, FakeError> {
        Ok(self.with(true, |s| {
            s.roles
                .keys()
                .map(|name| ListedRole {
                    name: name.clone(),
                    id: Some(fake_role_id(name)),
                })
                .collect()
        }))
    }
    async fn list_service_credentials(&self) -> Result<Vec<ListedCredential>, FakeError> {
        Ok(self.with(true, |s| {
            s.users
                .iter()
                .flat_map(|(name, u)| {
                    let upn = s.upn(name);
                    u.service_credentials.iter().map(move |id| ListedCredential {
                        id: id.clone(),
                        upn: upn.clone(),
                    })
                })
                .collect()
        }))
    }
    async fn list_passkeys(&self, upn: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| {
            let name = ado_core::model::user_name_from_upn(upn).to_string();
            match s.users.get(&name) {
                Some(u) => Ok(u.passkeys.iter().cloned().collect()),
                None => Err(s.err("EntityNotExist.User", "The user does not exist.")),
            }
        })
    }
    async fn list_applications(&self) -> Result<Vec<ListedApplication>, FakeError> {
        Ok(self.with(true, |s| {
            s.apps
                .iter()
                .map(|(id, a)| ListedApplication {
                    id: id.clone(),
                    name: a.name.clone(),
                })
                .collect()
        }))
    }
    async fn list_app_secret_ids(&self, app_id: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| match s.apps.get(app_id) {
            Some(a) => Ok(a.secrets.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Application", "no such application")),
        })
    }
    async fn list_provisioned_applications(
        &self,
        source: AppSource,
    ) -> Result<Vec<ListedApplication>, FakeError> {
        Ok(self.with(true, |s| match source {
            AppSource::Inner => s
                .apps
                .iter()
                .filter(|(_, a)| a.provisioned)
                .map(|(id, a)| ListedApplication {
                    id: id.clone(),
                    name: a.name.clone(),
                })
                .collect(),
            AppSource::External => s
                .external_apps
                .iter()
                .map(|(id, name)| ListedApplication {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
        }))
    }
    async fn account_summary(&self) -> Result<Option<SummaryCounts>, FakeError> {
        Ok(self.with(true, |s| {
            Some(SummaryCounts {
                users: Some(s.users.len() as u64),
                groups: Some(s.groups.len() as u64),
                roles: Some(s.roles.len() as u64),
                policies: Some(s.policies.len() as u64),
                mfa_devices: Some(s.mfa_devices.len() as u64),
            })
        }))
    }
    async fn session_role(&self) -> Result<Option<SessionRole>, FakeError> {
        // Free like the real one: the identity comes with the STS session.
        Ok(self.with(false, |s| {
            s.session_role.as_ref().map(|name| SessionRole {
                account_id: s.account_id.clone(),
                role_id: fake_role_id(name),
                role_name: name.clone(),
            })
        }))
    }
    async fn list_policies_for_role(&self, role: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.with(true, |s| match s.roles.get(role) {
            Some(r) => Ok(r.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Role", "The role does not exist.")),
        })
    }
    async fn list_custom_policies(&self) -> Result<Vec<CustomPolicy>, FakeError> {
        Ok(self.with(true, |s| {
            s.policies
                .iter()
                .map(|(n, v)| {
                    let count =
                        |set: &BTreeSet<PolicyRef>| u32::from(set.contains(&p(n, PolicyType::Custom)));
                    let attachment_count = s.users.values().map(|u| count(&u.policies)).sum::<u32>()
                        + s.groups.values().map(|g| count(&g.policies)).sum::<u32>()
                        + s.roles.values().map(count).sum::<u32>();
                    CustomPolicy {
                        name: n.clone(),
                        default_version: format!("v{v}"),
                        attachment_count: if s.stale_attachment_counts {
                            0
                        } else {
                            attachment_count
                        },
                        attached_to: None,
                    }
                })
                .collect()
        }))
    }
    async fn list_system_policy_attachments(&self) -> Result<Vec<(String, u32)>, FakeError> {
        Ok(self.with(true, |s| {
            let mut counts: BTreeMap<String, u32> = BTreeMap::new();
            let held = s
                .users
                .values()
                .flat_map(|u| u.policies.iter())
                .chain(s.groups.values().flat_map(|g| g.policies.iter()))
                .chain(s.roles.values().flat_map(|r| r.iter()));
            for pr in held.filter(|pr| pr.policy_type == PolicyType::System && !s.stale_attachment_counts) {
                *counts.entry(pr.name.clone()).or_insert(0) += 1;
            }
            counts.into_iter().collect()
        }))
    }
    async fn list_entities_for_policy(
        &self,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<Vec<(PrincipalKind, String)>, FakeError> {
        let key = p(policy, policy_type);
        Ok(self.with(true, |s| {
            let mut v: Vec<(PrincipalKind, String)> = Vec::new();
            v.extend(
                s.users
                    .iter()
                    .filter(|(_, u)| u.policies.contains(&key))
                    .map(|(n, _)| (PrincipalKind::User, n.clone())),
            );
            v.extend(
                s.groups
                    .iter()
                    .filter(|(_, g)| g.policies.contains(&key))
                    .map(|(n, _)| (PrincipalKind::Group, n.clone())),
            );
            v.extend(
                s.roles
                    .iter()
                    .filter(|(_, r)| r.contains(&key))
                    .map(|(n, _)| (PrincipalKind::Role, n.clone())),
            );
            v
        }))
    }
    async fn list_virtual_mfa_devices(&self) -> Result<Vec<VirtualMfaDevice>, FakeError> {
        Ok(self.with(true, |s| {
            s.mfa_devices
                .iter()
                .map(|(serial, user)| VirtualMfaDevice {
                    serial: serial.clone(),
                    user: user.clone(),
                })
                .collect()
        }))
    }
    async fn list_saml_providers(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.saml.iter().cloned().collect()))
    }
    async fn list_oidc_providers(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.oidc.iter().cloned().collect()))
    }
    async fn get_default_domain(&self) -> Result<String, FakeError> {
        Ok(self.with(true, |s| s.domain.clone()))
    }
    async fn list_users_in_recycle_bin(&self) -> Result<Vec<ListedRecycledUser>, FakeError> {
        Ok(self.with(true, |s| {
            s.bin
                .iter()
                .map(|(id, (upn, _))| ListedRecycledUser {
                    id: id.clone(),
                    upn: upn.clone(),
                })
                .collect()
        }))
    }
    async fn list_access_keys_in_recycle_bin(&self, user_id: &str) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| {
            s.bin
                .get(user_id)
                .map(|(_, k)| k.iter().cloned().collect())
                .unwrap_or_default()
        }))
    }
    async fn apply(&self, action: &Action) -> Result<Applied, FakeError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Yield a few times so concurrent actions really overlap.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let r = self.with(false, |s| s.apply(action));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn slr_deletion_status(&self, task_id: &str) -> Result<SlrStatus, FakeError> {
        self.with(true, |s| match s.tasks.get(task_id).cloned() {
            None => Err(s.err("EntityNotExist.ServiceLinkedRole.DeletionTask", "no such task")),
            Some((role, status)) => {
                let (reason, usages) = if status == SlrPhase::Failed {
                    (
                        Some(format!(
                            "Service-Linked Role acs:ram::{}:role/{} cannot be deleted as it is in use.",
                            s.account_id,
                            role.to_lowercase()
                        )),
                        s.slr_in_use.get(&role).cloned().unwrap_or_default(),
                    )
                } else {
                    (None, Vec::new())
                };
                Ok(SlrStatus {
                    status,
                    reason,
                    usages,
                })
            }
        })
    }
}
