//! What the planner knows about one member account: the RAM kinds it can empty and a lean
//! inventory of the objects that exist, discovered once per reconcile pass.
//!
//! The inventory holds names and the relations the dependency graph needs, nothing else (no
//! policy documents, no timestamps), so a member at Alibaba's published limits stays small.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of RAM/IMS object the operator can empty; the serialized names are the CRD's
/// `spec.ram.kinds` and `spec.ram.retain` keys, so they are part of the public contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// RAM users (with their AccessKeys, login profile, MFA binding, memberships, attachments,
    /// and their leftovers in the IMS recycle bin).
    Users,
    /// RAM user groups.
    Groups,
    /// Normal RAM roles (not service-linked).
    Roles,
    /// Service-linked roles (`AliyunServiceRoleFor*`), deleted asynchronously via ResourceManager.
    ServiceLinkedRoles,
    /// Custom policies (system policies cannot be deleted).
    CustomPolicies,
    /// SAML identity providers (IMS).
    SamlProviders,
    /// OIDC identity providers (IMS).
    OidcProviders,
    /// Virtual MFA devices.
    VirtualMfaDevices,
    /// The IMS default domain, reset to `<accountId>.onaliyun.com`.
    DefaultDomain,
    /// OAuth applications (IMS): enterprise applications of this account with their secrets, and
    /// third-party applications installed in it ("Delete all OAuth applications, including
    /// enterprise applications and third-party applications").
    Applications,
}

impl Kind {
    /// Every kind, in the order used for sorting and display.
    pub const ALL: [Kind; 10] = [
        Kind::Users,
        Kind::Groups,
        Kind::Roles,
        Kind::ServiceLinkedRoles,
        Kind::CustomPolicies,
        Kind::SamlProviders,
        Kind::OidcProviders,
        Kind::VirtualMfaDevices,
        Kind::DefaultDomain,
        Kind::Applications,
    ];

    /// The camelCase name used in the CRD and in messages (`serviceLinkedRoles`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
            Kind::Roles => "roles",
            Kind::ServiceLinkedRoles => "serviceLinkedRoles",
            Kind::CustomPolicies => "customPolicies",
            Kind::SamlProviders => "samlProviders",
            Kind::OidcProviders => "oidcProviders",
            Kind::VirtualMfaDevices => "virtualMfaDevices",
            Kind::DefaultDomain => "defaultDomain",
            Kind::Applications => "applications",
        }
    }

    /// Singular plain-words noun for messages ("group", "custom policy").
    #[must_use]
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Users => "user",
            Kind::Groups => "group",
            Kind::Roles => "role",
            Kind::ServiceLinkedRoles => "service-linked role",
            Kind::CustomPolicies => "custom policy",
            Kind::SamlProviders => "SAML provider",
            Kind::OidcProviders => "OIDC provider",
            Kind::VirtualMfaDevices => "virtual MFA device",
            Kind::DefaultDomain => "default domain",
            Kind::Applications => "OAuth application",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`Kind`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown RAM kind {0:?} (expected one of users, groups, roles, serviceLinkedRoles, customPolicies, samlProviders, oidcProviders, virtualMfaDevices, defaultDomain, applications)"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// `System` or `Custom`: RAM needs it on every detach call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    /// Alibaba-managed; never deleted, only detached.
    System,
    /// Account-owned; deleted when `customPolicies` is selected.
    Custom,
}

impl PolicyType {
    /// The wire value (`System` / `Custom`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::System => "System",
            PolicyType::Custom => "Custom",
        }
    }

    /// Parses the wire value; anything but `System` counts as `Custom`, the only other value RAM has.
    #[must_use]
    pub fn from_wire(s: &str) -> PolicyType {
        if s.eq_ignore_ascii_case("System") {
            PolicyType::System
        } else {
            PolicyType::Custom
        }
    }
}

/// A policy attached to a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// Policy name.
    pub name: String,
    /// System or custom.
    pub policy_type: PolicyType,
}

/// One RAM user and what hangs off it (each of which blocks `DeleteUser`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// RAM user name (RAM APIs address users by it).
    pub name: String,
    /// `UserId`, when known (IMS listing).
    pub id: Option<String>,
    /// `UserPrincipalName`, when known (IMS listing).
    pub upn: Option<String>,
    /// True if the user is frozen (IMS `Status=freeze`): still blocks account deletion.
    pub frozen: bool,
    /// AccessKey ids (never secrets).
    pub access_keys: Vec<String>,
    /// Whether console login is enabled; `None` when discovery did not ask. Discovery does not
    /// call `GetLoginProfile`: the plan deletes the profile of every deleted user and a "not found"
    /// answer means there was none, one call instead of a read plus a delete.
    pub login_profile: Option<bool>,
    /// Serial number of the bound MFA device, if any.
    pub mfa_serial: Option<String>,
    /// Attached policies.
    pub policies: Vec<PolicyRef>,
    /// Service credentials (IMS API keys for a cloud service), from the one account-wide listing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_credentials: Vec<String>,
    /// Passkey ids, when they were listed (only for users whose deletion the service refused
    /// because of passkeys: listing them costs one call per user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkeys: Option<Vec<String>>,
}

/// One RAM group; its members are listed here (one `ListUsersForGroup` per group is cheaper than
/// one `ListGroupsForUser` per user: at most 50 groups versus 1,000 users).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Member user names.
    pub members: Vec<String>,
    /// Attached policies.
    pub policies: Vec<PolicyRef>,
}

/// A normal RAM role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Role name.
    pub name: String,
    /// `RoleId`: how the operator recognises its own access role whatever the name's spelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Attached policies.
    pub policies: Vec<PolicyRef>,
}

/// A service-linked role (`AliyunServiceRoleFor*`): no detaches, deleted by an async task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLinkedRole {
    /// Role name.
    pub name: String,
    /// `RoleId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A principal a policy can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    /// A RAM user.
    User,
    /// A RAM group.
    Group,
    /// A RAM role.
    Role,
}

impl PrincipalKind {
    /// The [`Kind`] the principal belongs to.
    #[must_use]
    pub fn kind(self) -> Kind {
        match self {
            PrincipalKind::User => Kind::Users,
            PrincipalKind::Group => Kind::Groups,
            PrincipalKind::Role => Kind::Roles,
        }
    }
}

/// A custom policy. Deleted with `CascadingDelete=true`, so non-default versions need neither
/// listing nor one `DeletePolicyVersion` each (issue 6 counts calls: up to 4 fewer calls, plus a
/// `ListPolicyVersions`, per policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomPolicy {
    /// Policy name.
    pub name: String,
    /// `DefaultVersion` from `ListPolicies`.
    pub default_version: String,
    /// `AttachmentCount` from `ListPolicies`.
    pub attachment_count: u32,
    /// Principals it is attached to, from `ListEntitiesForPolicy`; only fetched when some attached
    /// principal kind was not discovered (otherwise the principals' own lists are authoritative).
    pub attached_to: Option<Vec<(PrincipalKind, String)>>,
}

/// A virtual MFA device and the user it is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMfaDevice {
    /// Serial number (`acs:ram::<account>:mfa/<name>`).
    pub serial: String,
    /// Bound user name, if bound.
    pub user: Option<String>,
}

/// The IMS default domain and the value it must return to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultDomain {
    /// `GetDefaultDomain` now.
    pub current: String,
    /// `<accountId>.onaliyun.com`.
    pub initial: String,
}

impl DefaultDomain {
    /// True if the domain was customised and must be set back.
    #[must_use]
    pub fn is_custom(&self) -> bool {
        self.current != self.initial
    }
}

/// An enterprise OAuth application of this account (IMS `ListApplications`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `AppId`.
    pub id: String,
    /// `AppName` (what retain patterns match).
    pub name: String,
    /// `AppSecretId`s (at most two).
    pub secrets: Vec<String>,
    /// True when it is an installed internal ServerApp (`DeprovisionApplication` first).
    pub provisioned: bool,
}

/// A third-party OAuth application installed in this account
/// (`ListApplicationProvisionInfos SourceType=external`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalApplication {
    /// `AppId`.
    pub id: String,
    /// `AppName`.
    pub name: String,
}

/// A deleted user IMS still keeps restorable in its recycle bin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecycledUser {
    /// `UserId` (the recycle-bin calls address users by it).
    pub id: String,
    /// `UserPrincipalName`.
    pub upn: String,
    /// AccessKey ids recycled with the user.
    pub access_keys: Vec<String>,
}

impl RecycledUser {
    /// The RAM user name (the UPN before its last `@`), used for retain matching.
    #[must_use]
    pub fn name(&self) -> &str {
        user_name_from_upn(&self.upn)
    }
}

pub use ado_aliyun::ims::user_name_from_upn;

/// The service-linked role name prefix Alibaba documents ("Roles that start with
/// AliyunServiceRoleFor are service-linked roles").
pub const SERVICE_LINKED_ROLE_PREFIX: &str = "AliyunServiceRoleFor";

/// Everything discovered in one member account during one pass. Kinds that were not asked for are
/// left empty and not listed in `kinds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The member account id.
    pub account_id: String,
    /// Kinds that were discovered (others were not looked at).
    pub kinds: Vec<Kind>,
    /// RAM users, active and frozen.
    pub users: Vec<User>,
    /// RAM groups.
    pub groups: Vec<Group>,
    /// Normal RAM roles.
    pub roles: Vec<Role>,
    /// Service-linked roles.
    pub service_linked_roles: Vec<ServiceLinkedRole>,
    /// Custom policies.
    pub custom_policies: Vec<CustomPolicy>,
    /// Virtual MFA devices.
    pub virtual_mfa_devices: Vec<VirtualMfaDevice>,
    /// SAML provider names.
    pub saml_providers: Vec<String>,
    /// OIDC provider names.
    pub oidc_providers: Vec<String>,
    /// The default domain, when `defaultDomain` was discovered.
    pub default_domain: Option<DefaultDomain>,
    /// Users in the IMS recycle bin (discovered with `users`).
    pub recycle_bin: Vec<RecycledUser>,
    /// Enterprise OAuth applications.
    #[serde(default)]
    pub applications: Vec<Application>,
    /// Third-party OAuth applications installed here.
    #[serde(default)]
    pub external_applications: Vec<ExternalApplication>,
}

impl Inventory {
    /// An empty inventory for `account_id` (a starting point for discovery and tests).
    #[must_use]
    pub fn new(account_id: impl Into<String>) -> Inventory {
        Inventory {
            account_id: account_id.into(),
            ..Inventory::default()
        }
    }

    /// The default domain every account starts with: `<accountId>.onaliyun.com`.
    #[must_use]
    pub fn initial_domain(account_id: &str) -> String {
        format!("{account_id}.onaliyun.com")
    }

    /// True if `kind` was discovered.
    #[must_use]
    pub fn has_kind(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Objects per discovered kind, for `status.inventory`; the default domain counts 1 only when it
    /// is custom, so an empty account counts 0 everywhere. Recycle-bin users are counted separately
    /// ([`Inventory::recycled_users`]).
    #[must_use]
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        self.kinds
            .iter()
            .map(|&k| {
                let n = match k {
                    Kind::Users => self.users.len(),
                    Kind::Groups => self.groups.len(),
                    Kind::Roles => self.roles.len(),
                    Kind::ServiceLinkedRoles => self.service_linked_roles.len(),
                    Kind::CustomPolicies => self.custom_policies.len(),
                    Kind::SamlProviders => self.saml_providers.len(),
                    Kind::OidcProviders => self.oidc_providers.len(),
                    Kind::VirtualMfaDevices => self.virtual_mfa_devices.len(),
                    Kind::DefaultDomain => {
                        usize::from(self.default_domain.as_ref().is_some_and(DefaultDomain::is_custom))
                    }
                    Kind::Applications => self.applications.len() + self.external_applications.len(),
                };
                (k, n)
            })
            .collect()
    }

    /// Users still restorable from the IMS recycle bin.
    #[must_use]
    pub fn recycled_users(&self) -> usize {
        self.recycle_bin.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_through_serde_and_from_str() {
        for k in Kind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert!("Users".parse::<Kind>().is_err());
    }

    #[test]
    fn upn_to_name_keeps_at_signs_in_names() {
        assert_eq!(user_name_from_upn("a@b@x.onaliyun.com"), "a@b");
        assert_eq!(user_name_from_upn("plain"), "plain");
    }

    #[test]
    fn counts_only_discovered_kinds_and_custom_domain() {
        let mut inv = Inventory::new("1234567890123456");
        inv.kinds = vec![Kind::Users, Kind::DefaultDomain];
        inv.users.push(User {
            name: "alice".into(),
            ..User::default()
        });
        inv.default_domain = Some(DefaultDomain {
            current: "1234567890123456.onaliyun.com".into(),
            initial: "1234567890123456.onaliyun.com".into(),
        });
        let c = inv.counts();
        assert_eq!(c.len(), 2);
        assert_eq!(c[&Kind::Users], 1);
        assert_eq!(c[&Kind::DefaultDomain], 0);
    }
}
