//! The mutating calls a plan is made of, and the plan itself: a per-object dependency graph in a
//! deterministic execution order.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::{Kind, PolicyType};

/// One mutating Alibaba call. Field values are names and ids only (never secrets), so actions
/// can be shown in status, events and the audit record as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// RAM `DeleteAccessKey` (blocks `DeleteUser`).
    #[serde(rename_all = "camelCase")]
    DeleteAccessKey {
        /// Owner.
        user: String,
        /// AccessKey id.
        key_id: String,
    },
    /// RAM `DeleteLoginProfile` (blocks `DeleteUser`).
    DeleteLoginProfile {
        /// Owner.
        user: String,
    },
    /// RAM `UnbindMFADevice` (blocks `DeleteUser` and `DeleteVirtualMFADevice`).
    UnbindMfaDevice {
        /// Owner.
        user: String,
        /// Serial of the bound device (for display).
        serial: String,
    },
    /// RAM `RemoveUserFromGroup` (blocks `DeleteUser` and `DeleteGroup`).
    RemoveUserFromGroup {
        /// Member.
        user: String,
        /// Group.
        group: String,
    },
    /// RAM `DetachPolicyFromUser` (blocks `DeleteUser` and `DeletePolicy`).
    #[serde(rename_all = "camelCase")]
    DetachPolicyFromUser {
        /// Principal.
        user: String,
        /// Policy.
        policy: String,
        /// Its type.
        policy_type: PolicyType,
    },
    /// RAM `DeleteUser`.
    DeleteUser {
        /// User name.
        user: String,
    },
    /// RAM `DetachPolicyFromGroup` (blocks `DeleteGroup` and `DeletePolicy`).
    #[serde(rename_all = "camelCase")]
    DetachPolicyFromGroup {
        /// Principal.
        group: String,
        /// Policy.
        policy: String,
        /// Its type.
        policy_type: PolicyType,
    },
    /// RAM `DeleteGroup`.
    DeleteGroup {
        /// Group name.
        group: String,
    },
    /// RAM `DetachPolicyFromRole` (blocks `DeleteRole` and `DeletePolicy`).
    #[serde(rename_all = "camelCase")]
    DetachPolicyFromRole {
        /// Principal.
        role: String,
        /// Policy.
        policy: String,
        /// Its type.
        policy_type: PolicyType,
    },
    /// RAM `DeleteRole`.
    DeleteRole {
        /// Role name.
        role: String,
    },
    /// ResourceManager `DeleteServiceLinkedRole` (asynchronous: returns a deletion task).
    DeleteServiceLinkedRole {
        /// Role name.
        role: String,
    },
    /// RAM `DeletePolicy` with `CascadingDelete=true` (non-default versions go with it).
    DeletePolicy {
        /// Policy name.
        policy: String,
    },
    /// RAM `DeleteVirtualMFADevice`.
    DeleteVirtualMfaDevice {
        /// Serial number.
        serial: String,
    },
    /// IMS `DeleteSAMLProvider`.
    DeleteSamlProvider {
        /// Provider name.
        name: String,
    },
    /// IMS `DeleteOIDCProvider`.
    DeleteOidcProvider {
        /// Provider name.
        name: String,
    },
    /// IMS `SetDefaultDomain` back to `<accountId>.onaliyun.com`.
    SetDefaultDomain {
        /// The value to set.
        domain: String,
    },
    /// IMS `DeleteAccessKeyInRecycleBin`.
    #[serde(rename_all = "camelCase")]
    DeleteAccessKeyInRecycleBin {
        /// `UserId` of the recycled user.
        user_id: String,
        /// Its UPN (for display).
        upn: String,
        /// AccessKey id.
        key_id: String,
    },
    /// IMS `DeleteUserInRecycleBin`.
    #[serde(rename_all = "camelCase")]
    DeleteUserInRecycleBin {
        /// `UserId`.
        user_id: String,
        /// Its UPN (for display).
        upn: String,
    },
    /// IMS `DeleteServiceCredential` (precautionary before `DeleteUser`, alibaba-api.md §10.8).
    #[serde(rename_all = "camelCase")]
    DeleteServiceCredential {
        /// Owner.
        user: String,
        /// Its UPN (the call must name it, or it deletes the caller's own credential).
        upn: String,
        /// `ServiceCredentialId`.
        credential_id: String,
    },
    /// IMS `DeletePasskey` (only after `DeleteUser` was refused because of passkeys).
    #[serde(rename_all = "camelCase")]
    DeletePasskey {
        /// Owner.
        user: String,
        /// Its UPN.
        upn: String,
        /// `PasskeyId`.
        passkey_id: String,
    },
    /// IMS `DeleteAppSecret` (precautionary before `DeleteApplication`).
    #[serde(rename_all = "camelCase")]
    DeleteAppSecret {
        /// `AppName`.
        app: String,
        /// `AppId`.
        app_id: String,
        /// `AppSecretId`.
        secret_id: String,
    },
    /// IMS `DeprovisionApplication`: uninstalls an installed internal ServerApp before its deletion.
    #[serde(rename_all = "camelCase")]
    DeprovisionApplication {
        /// `AppName`.
        app: String,
        /// `AppId`.
        app_id: String,
    },
    /// IMS `DeleteApplication`.
    #[serde(rename_all = "camelCase")]
    DeleteApplication {
        /// `AppName`.
        app: String,
        /// `AppId`.
        app_id: String,
    },
    /// IMS `DeprovisionExternalApplication`: uninstalls a third-party application.
    #[serde(rename_all = "camelCase")]
    DeprovisionExternalApplication {
        /// `AppName`.
        app: String,
        /// `AppId`.
        app_id: String,
    },
}

impl Action {
    /// The kind this action is part of emptying (sub-resource calls belong to their owner's kind).
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Action::DeleteAccessKey { .. }
            | Action::DeleteLoginProfile { .. }
            | Action::UnbindMfaDevice { .. }
            | Action::RemoveUserFromGroup { .. }
            | Action::DetachPolicyFromUser { .. }
            | Action::DeleteUser { .. }
            | Action::DeleteAccessKeyInRecycleBin { .. }
            | Action::DeleteUserInRecycleBin { .. }
            | Action::DeleteServiceCredential { .. }
            | Action::DeletePasskey { .. } => Kind::Users,
            Action::DeleteAppSecret { .. }
            | Action::DeprovisionApplication { .. }
            | Action::DeleteApplication { .. }
            | Action::DeprovisionExternalApplication { .. } => Kind::Applications,
            Action::DetachPolicyFromGroup { .. } | Action::DeleteGroup { .. } => Kind::Groups,
            Action::DetachPolicyFromRole { .. } | Action::DeleteRole { .. } => Kind::Roles,
            Action::DeleteServiceLinkedRole { .. } => Kind::ServiceLinkedRoles,
            Action::DeletePolicy { .. } => Kind::CustomPolicies,
            Action::DeleteVirtualMfaDevice { .. } => Kind::VirtualMfaDevices,
            Action::DeleteSamlProvider { .. } => Kind::SamlProviders,
            Action::DeleteOidcProvider { .. } => Kind::OidcProviders,
            Action::SetDefaultDomain { .. } => Kind::DefaultDomain,
        }
    }

    /// The Alibaba API action name (`DeleteUser`), as in the audit record and ActionTrail.
    #[must_use]
    pub fn api_action(&self) -> &'static str {
        match self {
            Action::DeleteAccessKey { .. } => "DeleteAccessKey",
            Action::DeleteLoginProfile { .. } => "DeleteLoginProfile",
            Action::UnbindMfaDevice { .. } => "UnbindMFADevice",
            Action::RemoveUserFromGroup { .. } => "RemoveUserFromGroup",
            Action::DetachPolicyFromUser { .. } => "DetachPolicyFromUser",
            Action::DeleteUser { .. } => "DeleteUser",
            Action::DetachPolicyFromGroup { .. } => "DetachPolicyFromGroup",
            Action::DeleteGroup { .. } => "DeleteGroup",
            Action::DetachPolicyFromRole { .. } => "DetachPolicyFromRole",
            Action::DeleteRole { .. } => "DeleteRole",
            Action::DeleteServiceLinkedRole { .. } => "DeleteServiceLinkedRole",
            Action::DeletePolicy { .. } => "DeletePolicy",
            Action::DeleteVirtualMfaDevice { .. } => "DeleteVirtualMFADevice",
            Action::DeleteSamlProvider { .. } => "DeleteSAMLProvider",
            Action::DeleteOidcProvider { .. } => "DeleteOIDCProvider",
            Action::SetDefaultDomain { .. } => "SetDefaultDomain",
            Action::DeleteAccessKeyInRecycleBin { .. } => "DeleteAccessKeyInRecycleBin",
            Action::DeleteUserInRecycleBin { .. } => "DeleteUserInRecycleBin",
            Action::DeleteServiceCredential { .. } => "DeleteServiceCredential",
            Action::DeletePasskey { .. } => "DeletePasskey",
            Action::DeleteAppSecret { .. } => "DeleteAppSecret",
            Action::DeprovisionApplication { .. } => "DeprovisionApplication",
            Action::DeleteApplication { .. } => "DeleteApplication",
            Action::DeprovisionExternalApplication { .. } => "DeprovisionExternalApplication",
        }
    }

    /// What the call acts on, compactly: `alice`, `alice/LTAI…`, `admins/app-policy`.
    #[must_use]
    pub fn target(&self) -> String {
        match self.target_parts() {
            (owner, Some(part)) => format!("{owner}/{part}"),
            (name, None) => name.to_string(),
        }
    }

    /// [`Action::target`] as its parts (the owner, and what of it, if anything), so that ordering
    /// a plan's actions compares targets without building a string per action.
    #[must_use]
    pub fn target_parts(&self) -> (&str, Option<&str>) {
        match self {
            Action::DeleteAccessKey { user, key_id } => (user, Some(key_id)),
            Action::DeleteLoginProfile { user }
            | Action::UnbindMfaDevice { user, .. }
            | Action::DeleteUser { user } => (user, None),
            Action::RemoveUserFromGroup { user, group } => (user, Some(group)),
            Action::DetachPolicyFromUser { user: p, policy, .. }
            | Action::DetachPolicyFromGroup { group: p, policy, .. }
            | Action::DetachPolicyFromRole { role: p, policy, .. } => (p, Some(policy)),
            Action::DeleteGroup { group } => (group, None),
            Action::DeleteRole { role } | Action::DeleteServiceLinkedRole { role } => (role, None),
            Action::DeletePolicy { policy } => (policy, None),
            Action::DeleteVirtualMfaDevice { serial } => (serial, None),
            Action::DeleteSamlProvider { name } | Action::DeleteOidcProvider { name } => (name, None),
            Action::SetDefaultDomain { domain } => (domain, None),
            Action::DeleteAccessKeyInRecycleBin { upn, key_id, .. } => (upn, Some(key_id)),
            Action::DeleteUserInRecycleBin { upn, .. } => (upn, None),
            Action::DeleteServiceCredential {
                user, credential_id, ..
            } => (user, Some(credential_id)),
            Action::DeletePasskey { user, passkey_id, .. } => (user, Some(passkey_id)),
            Action::DeleteAppSecret { app, secret_id, .. } => (app, Some(secret_id)),
            Action::DeprovisionApplication { app, .. }
            | Action::DeleteApplication { app, .. }
            | Action::DeprovisionExternalApplication { app, .. } => (app, None),
        }
    }

    /// True for calls that only start a task (`DeleteServiceLinkedRole`); the object is gone only
    /// when the task reports `SUCCEEDED`.
    #[must_use]
    pub fn is_async(&self) -> bool {
        matches!(self, Action::DeleteServiceLinkedRole { .. })
    }

    /// The kind of top-level object this action removes, if it removes one (for
    /// `ExecutionReport::deleted`); detaches and sub-resource deletions return `None`.
    #[must_use]
    pub fn deletes_top_level(&self) -> Option<Kind> {
        match self {
            Action::DeleteUser { .. }
            | Action::DeleteGroup { .. }
            | Action::DeleteRole { .. }
            | Action::DeleteServiceLinkedRole { .. }
            | Action::DeletePolicy { .. }
            | Action::DeleteVirtualMfaDevice { .. }
            | Action::DeleteSamlProvider { .. }
            | Action::DeleteOidcProvider { .. }
            | Action::SetDefaultDomain { .. }
            | Action::DeleteApplication { .. }
            | Action::DeprovisionExternalApplication { .. } => Some(self.kind()),
            _ => None,
        }
    }

    /// The object the action belongs to and its step within that object, for the stable sort.
    pub fn sort_key(&self) -> (Kind, &str, u8) {
        match self {
            Action::DeleteAccessKey { user, .. }
            | Action::DeleteServiceCredential { user, .. }
            | Action::DeletePasskey { user, .. } => (Kind::Users, user, 0),
            Action::DeleteLoginProfile { user } => (Kind::Users, user, 1),
            Action::UnbindMfaDevice { user, .. } => (Kind::Users, user, 2),
            Action::RemoveUserFromGroup { user, .. } => (Kind::Users, user, 3),
            Action::DetachPolicyFromUser { user, .. } => (Kind::Users, user, 4),
            Action::DeleteUser { user } => (Kind::Users, user, 5),
            Action::DeleteAccessKeyInRecycleBin { upn, .. } => (Kind::Users, upn, 6),
            Action::DeleteUserInRecycleBin { upn, .. } => (Kind::Users, upn, 7),
            Action::DetachPolicyFromGroup { group, .. } => (Kind::Groups, group, 0),
            Action::DeleteGroup { group } => (Kind::Groups, group, 1),
            Action::DetachPolicyFromRole { role, .. } => (Kind::Roles, role, 0),
            Action::DeleteRole { role } => (Kind::Roles, role, 1),
            Action::DeleteServiceLinkedRole { role } => (Kind::ServiceLinkedRoles, role, 0),
            Action::DeletePolicy { policy } => (Kind::CustomPolicies, policy, 0),
            Action::DeleteSamlProvider { name } => (Kind::SamlProviders, name, 0),
            Action::DeleteOidcProvider { name } => (Kind::OidcProviders, name, 0),
            Action::DeleteVirtualMfaDevice { serial } => (Kind::VirtualMfaDevices, serial, 0),
            Action::SetDefaultDomain { domain } => (Kind::DefaultDomain, domain, 0),
            Action::DeleteAppSecret { app, .. } => (Kind::Applications, app, 0),
            Action::DeprovisionApplication { app, .. } => (Kind::Applications, app, 1),
            Action::DeleteApplication { app, .. } | Action::DeprovisionExternalApplication { app, .. } => {
                (Kind::Applications, app, 2)
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn ptype(t: PolicyType) -> &'static str {
            match t {
                PolicyType::System => "system",
                PolicyType::Custom => "custom",
            }
        }
        match self {
            Action::DeleteAccessKey { user, key_id } => {
                write!(f, "delete AccessKey {key_id} of user \"{user}\"")
            }
            Action::DeleteLoginProfile { user } => {
                write!(f, "delete the console login profile of user \"{user}\"")
            }
            Action::UnbindMfaDevice { user, serial } => {
                write!(f, "unbind MFA device {serial} from user \"{user}\"")
            }
            Action::RemoveUserFromGroup { user, group } => {
                write!(f, "remove user \"{user}\" from group \"{group}\"")
            }
            Action::DetachPolicyFromUser {
                user,
                policy,
                policy_type,
            } => write!(
                f,
                "detach {} policy \"{policy}\" from user \"{user}\"",
                ptype(*policy_type)
            ),
            Action::DeleteUser { user } => write!(f, "delete user \"{user}\""),
            Action::DetachPolicyFromGroup {
                group,
                policy,
                policy_type,
            } => write!(
                f,
                "detach {} policy \"{policy}\" from group \"{group}\"",
                ptype(*policy_type)
            ),
            Action::DeleteGroup { group } => write!(f, "delete group \"{group}\""),
            Action::DetachPolicyFromRole {
                role,
                policy,
                policy_type,
            } => write!(
                f,
                "detach {} policy \"{policy}\" from role \"{role}\"",
                ptype(*policy_type)
            ),
            Action::DeleteRole { role } => write!(f, "delete role \"{role}\""),
            Action::DeleteServiceLinkedRole { role } => {
                write!(f, "delete service-linked role \"{role}\" (asynchronous task)")
            }
            Action::DeletePolicy { policy } => {
                write!(f, "delete custom policy \"{policy}\" with all its versions")
            }
            Action::DeleteVirtualMfaDevice { serial } => {
                write!(f, "delete virtual MFA device {serial}")
            }
            Action::DeleteSamlProvider { name } => write!(f, "delete SAML provider \"{name}\""),
            Action::DeleteOidcProvider { name } => write!(f, "delete OIDC provider \"{name}\""),
            Action::SetDefaultDomain { domain } => {
                write!(f, "set the default domain back to {domain}")
            }
            Action::DeleteAccessKeyInRecycleBin { upn, key_id, .. } => write!(
                f,
                "purge AccessKey {key_id} of deleted user {upn} from the recycle bin"
            ),
            Action::DeleteUserInRecycleBin { upn, .. } => {
                write!(f, "purge deleted user {upn} from the recycle bin")
            }
            Action::DeleteServiceCredential {
                user, credential_id, ..
            } => {
                write!(f, "delete service credential {credential_id} of user \"{user}\"")
            }
            Action::DeletePasskey { user, passkey_id, .. } => {
                write!(f, "delete passkey {passkey_id} of user \"{user}\"")
            }
            Action::DeleteAppSecret { app, secret_id, .. } => {
                write!(f, "delete secret {secret_id} of OAuth application \"{app}\"")
            }
            Action::DeprovisionApplication { app, .. } => {
                write!(
                    f,
                    "uninstall OAuth application \"{app}\" (an installed ServerApp)"
                )
            }
            Action::DeleteApplication { app, .. } => write!(f, "delete OAuth application \"{app}\""),
            Action::DeprovisionExternalApplication { app, .. } => {
                write!(f, "uninstall third-party OAuth application \"{app}\"")
            }
        }
    }
}

/// One node of the plan: an action and the indices (into [`Plan::actions`]) of the actions that must
/// succeed first. Dependencies always point to earlier entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// The call.
    pub action: Action,
    /// Prerequisites, as indices of earlier entries.
    pub deps: Vec<usize>,
}

/// An object the plan deliberately leaves alone although its kind is selected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Plain-words reason (`group "ops" kept: it contains retained user "breakglass"`).
    pub reason: String,
}

/// The ordered, hashed list of calls that takes the account from its inventory to the desired
/// state. An empty `actions` list means the selected kinds are empty except for retained and kept
/// objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Actions in a valid, deterministic execution order.
    pub actions: Vec<PlannedAction>,
    /// SHA-256 hex (16 chars) of the canonical action list; what `spec.approvedPlanHash` names.
    pub hash: String,
    /// Objects of selected kinds that must stay because a retained or unselected object needs them.
    pub kept: Vec<Kept>,
    /// Objects of selected kinds matched by `spec.ram.retain` (and the access role).
    pub retained: Vec<(Kind, String)>,
}

impl Plan {
    /// True when there is nothing left to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The first `n` actions in execution order, in plain words (for `status.plan`).
    #[must_use]
    pub fn first_entries(&self, n: usize) -> Vec<String> {
        self.actions
            .iter()
            .take(n)
            .map(|a| a.action.to_string())
            .collect()
    }

    /// For each action, the actions that wait for it (the reverse of `deps`), for schedulers that
    /// release work as prerequisites finish.
    #[must_use]
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let n = self.actions.len();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, a) in self.actions.iter().enumerate() {
            for &d in a.deps.iter().filter(|&&d| d < n) {
                dependents[d].push(i);
            }
        }
        dependents
    }

    /// Number of top-level objects the plan removes, per kind (the "remaining" count in status).
    #[must_use]
    pub fn remaining(&self) -> std::collections::BTreeMap<Kind, usize> {
        let mut m = std::collections::BTreeMap::new();
        for a in &self.actions {
            if let Some(k) = a.action.deletes_top_level() {
                *m.entry(k).or_insert(0) += 1;
            }
        }
        m
    }
}
