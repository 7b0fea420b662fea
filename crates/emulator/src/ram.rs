//! RAM (2015-05-01) of one account: users and everything hanging off them, groups, roles (including
//! service-linked roles), custom policies with versions, virtual MFA devices, and the IMS-only parts
//! (identity providers, default domain, recycle bin) that [`super::ims`] serves from the same state.
//!
//! The conflict rules are the real ones (alibaba-api.md §4.3): a delete with a dependency left answers
//! the `DeleteConflict.*` code of the first dependency in the documented order.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ActionClass::{Mutating, Read};
use super::api::{ApiError, CallContext, Params, only, param, required};
use super::catalog::Action;
use super::ims_apps::{ApplicationSeed, Apps, ExternalAppSeed};
use super::ims_users::{PasskeySeed, ServiceCredentialSeed, UserExtras};
use super::table::{Table, max_items};
use super::tags::{self, Tag, TagFilter};

/// System policies every account can attach (seeds may name more; they are added).
pub const SYSTEM_POLICIES: &[&str] = &[
    "AdministratorAccess",
    "ReadOnlyAccess",
    "AliyunECSFullAccess",
    "AliyunECSReadOnlyAccess",
    "AliyunOSSFullAccess",
    "AliyunOSSReadOnlyAccess",
    "AliyunRAMFullAccess",
    "AliyunRAMReadOnlyAccess",
    "AliyunSTSAssumeRoleAccess",
    "AliyunVPCFullAccess",
];

/// Prefix of service-linked role names.
pub const SLR_PREFIX: &str = "AliyunServiceRoleFor";

const LIMIT_KEYS_PER_USER: usize = 2;
const LIMIT_VERSIONS: usize = 5;

// ------------------------------------------------------------------------------------------- seed

/// The `ram:` block of one account in the seed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RamSeed {
    /// Custom default domain; absent: `<accountId>.onaliyun.com`.
    #[serde(default)]
    pub default_domain: Option<String>,
    /// RAM users.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// RAM groups.
    #[serde(default)]
    pub groups: Vec<GroupSeed>,
    /// Normal RAM roles.
    #[serde(default)]
    pub roles: Vec<RoleSeed>,
    /// Service-linked roles.
    #[serde(default)]
    pub service_linked_roles: Vec<SlrSeed>,
    /// Custom policies.
    #[serde(default)]
    pub policies: Vec<PolicySeed>,
    /// Virtual MFA devices (bound through `users[].mfaDevice`).
    #[serde(default)]
    pub virtual_mfa_devices: Vec<NamedSeed>,
    /// SAML identity providers.
    #[serde(default)]
    pub saml_providers: Vec<NamedSeed>,
    /// OIDC identity providers.
    #[serde(default)]
    pub oidc_providers: Vec<OidcSeed>,
    /// What IMS keeps in its recycle bin.
    #[serde(default)]
    pub recycle_bin: RecycleSeed,
    /// Enterprise (internal) OAuth applications.
    #[serde(default)]
    pub applications: Vec<ApplicationSeed>,
    /// Third-party (external) applications installed in the account.
    #[serde(default)]
    pub external_applications: Vec<ExternalAppSeed>,
    /// Conflict rules beyond the documented ones, for what Alibaba does not document:
    /// `User.Passkey`, `User.ServiceCredential` (DeleteUser refuses while the user has them),
    /// `Application.AppSecret`, `Application.Provision` (DeleteApplication refuses). Default: none,
    /// those objects go with their owner.
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// Bulk content generated on top of the listed items (demo and benchmark accounts).
    #[serde(default)]
    pub generate: Option<GenerateSeed>,
}

/// The names `conflicts:` accepts.
pub const OPTIONAL_CONFLICTS: [&str; 4] = [
    "User.Passkey",
    "User.ServiceCredential",
    "Application.AppSecret",
    "Application.Provision",
];

/// `generate:`: how many of each kind to add, interlinked the way real accounts are (every user with
/// keys, a console login, an MFA device, group memberships and policy attachments).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateSeed {
    /// Users `user-0001`...
    #[serde(default)]
    pub users: u32,
    /// AccessKeys per user (at most 2).
    #[serde(default)]
    pub access_keys_per_user: u32,
    /// Every user gets a console login profile.
    #[serde(default)]
    pub login_profiles: bool,
    /// Every user gets a bound virtual MFA device.
    #[serde(default)]
    pub mfa_devices: bool,
    /// Unbound virtual MFA devices.
    #[serde(default)]
    pub orphan_mfa_devices: u32,
    /// Groups `group-01`...
    #[serde(default)]
    pub groups: u32,
    /// Group memberships per user (at most 5).
    #[serde(default)]
    pub groups_per_user: u32,
    /// Normal roles `role-0001`...
    #[serde(default)]
    pub roles: u32,
    /// Service-linked roles `AliyunServiceRoleForGen001`...
    #[serde(default)]
    pub service_linked_roles: u32,
    /// Custom policies `policy-0001`...
    #[serde(default)]
    pub policies: u32,
    /// Versions per custom policy (at most 5).
    #[serde(default)]
    pub versions_per_policy: u32,
    /// Custom policy attachments per user, group and role.
    #[serde(default)]
    pub policies_per_principal: u32,
    /// SAML providers.
    #[serde(default)]
    pub saml_providers: u32,
    /// OIDC providers.
    #[serde(default)]
    pub oidc_providers: u32,
    /// Users in the recycle bin, each with one recycled AccessKey.
    #[serde(default)]
    pub recycled_users: u32,
    /// Passkeys per user.
    #[serde(default)]
    pub passkeys_per_user: u32,
    /// Service credentials per user (one per service, at most 2).
    #[serde(default)]
    pub service_credentials_per_user: u32,
    /// Enterprise applications `app-0001`... (each with one secret; every 5th a provisioned
    /// ServerApp).
    #[serde(default)]
    pub applications: u32,
    /// Installed third-party applications `ext-app-001`...
    #[serde(default)]
    pub external_applications: u32,
}

impl RamSeed {
    /// The listed items plus what `generate:` asks for.
    #[must_use]
    pub fn expanded(&self) -> RamSeed {
        let mut s = self.clone();
        let Some(g) = self.generate.clone() else { return s };
        s.generate = None;
        let custom = |i: u32| PolicyRef {
            name: format!("policy-{:04}", i % g.policies.max(1) + 1),
            kind: "Custom".into(),
        };
        let attach = |seed: u32| -> Vec<PolicyRef> {
            if g.policies == 0 {
                return vec![];
            }
            let mut v: Vec<PolicyRef> = (0..g.policies_per_principal.min(g.policies))
                .map(|k| custom(seed * 7 + k))
                .collect();
            v.dedup_by(|a, b| a.name == b.name);
            v
        };
        for i in 1..=g.policies {
            s.policies.push(PolicySeed {
                name: format!("policy-{i:04}"),
                versions: g.versions_per_policy.clamp(1, 5),
                tags: vec![],
            });
        }
        for i in 1..=g.groups {
            s.groups.push(GroupSeed {
                name: format!("group-{i:02}"),
                policies: attach(i),
            });
        }
        for i in 1..=g.roles {
            s.roles.push(RoleSeed {
                name: format!("role-{i:04}"),
                policies: attach(i + 3),
                max_session_duration: None,
                tags: vec![],
            });
        }
        for i in 1..=g.service_linked_roles {
            s.service_linked_roles.push(SlrSeed {
                name: format!("{SLR_PREFIX}Gen{i:03}"),
                service: format!("gen{i:03}.aliyuncs.com"),
                deletion_seconds: 2,
                in_use: vec![],
            });
        }
        for i in 1..=g.users {
            let name = format!("user-{i:04}");
            let mfa = g.mfa_devices.then(|| format!("{name}-mfa"));
            if let Some(m) = &mfa {
                s.virtual_mfa_devices.push(NamedSeed { name: m.clone() });
            }
            let groups = if g.groups == 0 {
                vec![]
            } else {
                let mut v: Vec<String> = (0..g.groups_per_user.min(5).min(g.groups))
                    .map(|k| format!("group-{:02}", (i + k) % g.groups + 1))
                    .collect();
                v.dedup();
                v
            };
            s.users.push(UserSeed {
                display_name: Some(format!("Generated user {i}")),
                status: if i % 50 == 0 {
                    "freeze".into()
                } else {
                    "active".into()
                },
                access_keys: (0..g.access_keys_per_user.min(2))
                    .map(|_| UserKeySeed {
                        id: None,
                        status: "Active".into(),
                    })
                    .collect(),
                login_profile: g.login_profiles,
                mfa_device: mfa,
                groups,
                policies: attach(i + 11),
                tags: vec![],
                passkeys: (1..=g.passkeys_per_user)
                    .map(|k| PasskeySeed {
                        name: format!("passkey-{k}"),
                        id: None,
                    })
                    .collect(),
                service_credentials: (1..=g.service_credentials_per_user.min(2))
                    .map(|k| ServiceCredentialSeed {
                        service_name: format!("svc{k}.aliyuncs.com"),
                        name: None,
                        id: None,
                        status: "Active".into(),
                        age_days: None,
                    })
                    .collect(),
                name,
            });
        }
        for i in 1..=g.orphan_mfa_devices {
            s.virtual_mfa_devices.push(NamedSeed {
                name: format!("orphan-mfa-{i:04}"),
            });
        }
        for i in 1..=g.saml_providers {
            s.saml_providers.push(NamedSeed {
                name: format!("saml-{i:03}"),
            });
        }
        for i in 1..=g.oidc_providers {
            s.oidc_providers.push(OidcSeed {
                name: format!("oidc-{i:03}"),
                issuer_url: format!("https://issuer-{i}.example.com"),
                client_ids: vec!["sts.aliyuncs.com".into()],
            });
        }
        for i in 1..=g.applications {
            let server = i % 5 == 0;
            s.applications.push(ApplicationSeed {
                name: format!("app-{i:04}"),
                display_name: None,
                app_type: if server { "ServerApp" } else { "WebApp" }.into(),
                id: None,
                secrets: 1,
                provisioned: server,
                multi_tenant: false,
            });
        }
        for i in 1..=g.external_applications {
            s.external_applications.push(ExternalAppSeed {
                name: format!("ext-app-{i:03}"),
                display_name: None,
                owner_account_id: format!("17300000000{i:05}"),
                id: None,
                category: "ThirdParty".into(),
            });
        }
        for i in 1..=g.recycled_users {
            s.recycle_bin.users.push(RecycledUserSeed {
                name: format!("gone-{i:04}"),
                access_keys: vec![UserKeySeed {
                    id: None,
                    status: "Active".into(),
                }],
            });
        }
        s
    }
}

/// A seeded user.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSeed {
    /// `UserName`.
    pub name: String,
    /// `DisplayName` (default: the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `active` or `freeze`.
    #[serde(default = "active")]
    pub status: String,
    /// AccessKeys.
    #[serde(default)]
    pub access_keys: Vec<UserKeySeed>,
    /// Console login enabled.
    #[serde(default)]
    pub login_profile: bool,
    /// Name of the bound virtual MFA device.
    #[serde(default)]
    pub mfa_device: Option<String>,
    /// Group memberships.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Policy attachments.
    #[serde(default)]
    pub policies: Vec<PolicyRef>,
    /// Tags (IMS `ListUsers` filters on them).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Passkeys (IMS `ListPasskeys`).
    #[serde(default)]
    pub passkeys: Vec<PasskeySeed>,
    /// Service credentials (IMS `ListServiceCredentials`).
    #[serde(default)]
    pub service_credentials: Vec<ServiceCredentialSeed>,
}

/// A seeded AccessKey of a user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserKeySeed {
    /// Key ID (generated when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// `Active` or `Inactive`.
    #[serde(default = "active_cap")]
    pub status: String,
}

/// A policy attachment in the seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRef {
    /// Policy name.
    pub name: String,
    /// `System` or `Custom`.
    #[serde(default = "custom", rename = "type")]
    pub kind: String,
}

/// A seeded group.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSeed {
    /// `GroupName`.
    pub name: String,
    /// Policy attachments.
    #[serde(default)]
    pub policies: Vec<PolicyRef>,
}

/// A seeded normal role.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleSeed {
    /// `RoleName`.
    pub name: String,
    /// Policy attachments.
    #[serde(default)]
    pub policies: Vec<PolicyRef>,
    /// Longest STS session.
    #[serde(default)]
    pub max_session_duration: Option<u32>,
    /// Tags (`ListRoles` filters on them).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A seeded service-linked role.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlrSeed {
    /// `AliyunServiceRoleFor...`.
    pub name: String,
    /// Service that owns it, e.g. `ecs.aliyuncs.com`.
    pub service: String,
    /// Seconds a deletion task runs.
    #[serde(default = "two")]
    pub deletion_seconds: u64,
    /// Non-empty: deletion tasks fail with these usages.
    #[serde(default)]
    pub in_use: Vec<UsageSeed>,
}

/// Resources that keep a service-linked role in use.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageSeed {
    /// Region, e.g. `global`.
    pub region: String,
    /// Resource ARNs.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// A seeded custom policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySeed {
    /// `PolicyName`.
    pub name: String,
    /// Number of versions (v1..vN, the last is default).
    #[serde(default = "one")]
    pub versions: u32,
    /// Tags (`ListPolicies` filters on them).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An entity that only has a name in the seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedSeed {
    /// Its name.
    pub name: String,
}

/// A seeded OIDC provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSeed {
    /// `OIDCProviderName`.
    pub name: String,
    /// Issuer URL.
    #[serde(default = "issuer")]
    pub issuer_url: String,
    /// Client IDs.
    #[serde(default)]
    pub client_ids: Vec<String>,
}

/// `recycleBin:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecycleSeed {
    /// Users IMS keeps after their deletion.
    #[serde(default)]
    pub users: Vec<RecycledUserSeed>,
}

/// A user in the recycle bin.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecycledUserSeed {
    /// Former `UserName`.
    pub name: String,
    /// Its recycled AccessKeys.
    #[serde(default)]
    pub access_keys: Vec<UserKeySeed>,
}

fn active() -> String {
    "active".into()
}
fn active_cap() -> String {
    "Active".into()
}
fn custom() -> String {
    "Custom".into()
}
fn two() -> u64 {
    2
}
fn one() -> u32 {
    1
}
fn issuer() -> String {
    "https://oidc.example.com".into()
}

// ------------------------------------------------------------------------------------------ state

#[derive(Debug, Clone)]
struct Key {
    id: String,
    status: String,
    created: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PolicyType {
    System,
    Custom,
}

impl PolicyType {
    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "System" => Ok(Self::System),
            "Custom" => Ok(Self::Custom),
            _ => Err(ApiError::new(
                400,
                "InvalidParameter.PolicyType",
                "The parameter - \"PolicyType\" is incorrect.",
            )),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::Custom => "Custom",
        }
    }
}

#[derive(Debug, Clone)]
struct Attach {
    name: String,
    kind: PolicyType,
    date: Timestamp,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    display_name: String,
    frozen: bool,
    created: Timestamp,
    updated: Timestamp,
    keys: Vec<Key>,
    login: Option<Timestamp>,
    mfa: Option<String>,
    groups: Vec<(String, Timestamp)>,
    policies: Vec<Attach>,
    tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    created: Timestamp,
    members: Table<Timestamp>,
    policies: Vec<Attach>,
}

#[derive(Debug, Clone)]
struct Slr {
    service: String,
    deletion_seconds: u64,
    in_use: Vec<UsageSeed>,
}

#[derive(Debug, Clone)]
struct Role {
    id: String,
    description: String,
    trust: String,
    max_session: u32,
    created: Timestamp,
    slr: Option<Slr>,
    policies: Vec<Attach>,
    latest_task: Option<(String, Timestamp)>,
    tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
struct Version {
    id: String,
    doc: String,
    created: Timestamp,
}

/// Who a custom policy is attached to: (0 user | 1 group | 2 role, name).
type Principal = (u8, String);

#[derive(Debug, Clone)]
struct Policy {
    description: String,
    created: Timestamp,
    versions: Vec<Version>,
    default_version: String,
    next_version: u32,
    attached: BTreeSet<Principal>,
    tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
struct Mfa {
    user: Option<String>,
    activated: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(crate) struct Provider {
    pub(crate) description: String,
    pub(crate) created: Timestamp,
    pub(crate) issuer_url: String,
    pub(crate) client_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Recycled {
    pub(crate) upn: String,
    pub(crate) display_name: String,
    pub(crate) created: Timestamp,
    pub(crate) recycled: Timestamp,
    pub(crate) keys: Vec<(String, Timestamp)>,
}

/// An asynchronous service-linked role deletion.
#[derive(Debug, Clone)]
pub(crate) struct SlrTask {
    pub(crate) role: String,
    pub(crate) due: Timestamp,
    pub(crate) outcome: Option<Result<(), Vec<UsageSeed>>>,
}

/// One account's RAM and IMS state.
#[derive(Debug, Clone)]
pub struct RamState {
    account_id: String,
    seq: u64,
    pub(crate) default_domain: String,
    users: Table<User>,
    groups: Table<Group>,
    roles: Table<Role>,
    /// Lower-case role name -> role name: RAM role names are unique and matched regardless of case.
    role_index: HashMap<String, String>,
    policies: Table<Policy>,
    system: BTreeSet<String>,
    mfa: Table<Mfa>,
    pub(crate) saml: Table<Provider>,
    pub(crate) oidc: Table<Provider>,
    pub(crate) recycle: Table<Recycled>,
    pub(crate) tasks: std::collections::BTreeMap<String, SlrTask>,
    /// Passkeys and service credentials ([`super::ims_users`]).
    pub(crate) extras: UserExtras,
    /// OAuth applications ([`super::ims_apps`]).
    pub(crate) apps: Apps,
    /// `conflicts:` of the seed that concern users.
    strict_passkeys: bool,
    strict_credentials: bool,
}

/// What `GetAccountSummary` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryCounts {
    /// Live RAM users (the recycle bin is not counted).
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Roles, service-linked roles included.
    pub roles: usize,
    /// Custom policies.
    pub policies: usize,
    /// Virtual MFA devices, bound or not.
    pub mfa_devices: usize,
    /// Virtual MFA devices bound to a user.
    pub mfa_in_use: usize,
}

/// The RAM timestamp form `2015-01-23T12:33:18Z`.
#[must_use]
pub fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn not_exist(what: &str, msg: &str) -> ApiError {
    ApiError::new(404, &format!("EntityNotExist.{what}"), msg)
}

fn conflict(code: &str, msg: &str) -> ApiError {
    ApiError::new(409, &format!("DeleteConflict.{code}"), msg)
}

fn exists(what: &str) -> ApiError {
    ApiError::new(
        409,
        &format!("EntityAlreadyExists.{what}"),
        format!("The {what} does already EXIST."),
    )
}

fn no_user() -> ApiError {
    not_exist("User", "The user does not exist.")
}
fn no_group() -> ApiError {
    not_exist("Group", "The group does not exist.")
}
fn no_role() -> ApiError {
    not_exist("Role", "The role does not exist.")
}
fn no_policy() -> ApiError {
    not_exist("Policy", "The policy does not exist.")
}

/// Checks a RAM name: `InvalidParameter.<Field>.Length` / `.InvalidChars` as the real service words it.
fn check_name(field: &str, v: &str, max: usize, extra: &str) -> Result<(), ApiError> {
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::new(
            400,
            &format!("InvalidParameter.{field}.Length"),
            format!("The parameter - \"{field}\" beyond the length limit."),
        ));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c)) {
        return Err(ApiError::new(
            400,
            &format!("InvalidParameter.{field}.InvalidChars"),
            format!("The parameter - \"{field}\" contains invalid chars."),
        ));
    }
    Ok(())
}

fn user_name(p: &Params) -> Result<&str, ApiError> {
    let v = required(p, "UserName")?;
    check_name("UserName", v, 64, ".@_-")?;
    Ok(v)
}
fn group_name(p: &Params) -> Result<&str, ApiError> {
    let v = required(p, "GroupName")?;
    check_name("GroupName", v, 64, "-")?;
    Ok(v)
}
fn role_name(p: &Params) -> Result<&str, ApiError> {
    let v = required(p, "RoleName")?;
    check_name("RoleName", v, 64, ".-")?;
    Ok(v)
}
fn policy_name(p: &Params) -> Result<&str, ApiError> {
    let v = required(p, "PolicyName")?;
    check_name("PolicyName", v, 128, "-")?;
    Ok(v)
}

fn flag(p: &Params, name: &str) -> Result<bool, ApiError> {
    match param(p, name) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::new(
            400,
            &format!("InvalidParameter.{name}"),
            format!("The parameter - \"{name}\" must be true or false."),
        )),
    }
}

fn policy_json(a: &Attach, default_version: &str, description: &str) -> Value {
    json!({
        "PolicyName": a.name, "PolicyType": a.kind.name(), "AttachDate": utc(a.date),
        "DefaultVersion": default_version, "Description": description,
    })
}

impl RamState {
    /// Empty RAM: management accounts and members without a `ram:` block.
    #[must_use]
    pub fn empty(account_id: &str, now: Timestamp) -> RamState {
        let _ = now;
        RamState {
            account_id: account_id.to_owned(),
            seq: 0,
            default_domain: Self::initial_domain(account_id),
            users: Table::default(),
            groups: Table::default(),
            roles: Table::default(),
            role_index: HashMap::new(),
            policies: Table::default(),
            system: SYSTEM_POLICIES.iter().map(|s| (*s).to_owned()).collect(),
            mfa: Table::default(),
            saml: Table::default(),
            oidc: Table::default(),
            recycle: Table::default(),
            tasks: std::collections::BTreeMap::new(),
            extras: UserExtras::default(),
            apps: Apps::default(),
            strict_passkeys: false,
            strict_credentials: false,
        }
    }

    /// The domain an account has before anyone customises it.
    #[must_use]
    pub fn initial_domain(account_id: &str) -> String {
        format!("{account_id}.onaliyun.com")
    }

    /// Builds the state a seed describes.
    ///
    /// # Errors
    /// A reference to a group, policy or MFA device the seed does not define, a duplicate name, or a
    /// name the real API would refuse; the message names the item.
    pub fn from_seed(
        account_id: &str,
        seed: &RamSeed,
        access_role: Option<(&str, u32, &str)>,
        now: Timestamp,
    ) -> Result<RamState, String> {
        let expanded = seed.expanded();
        let seed = &expanded;
        let mut st = Self::empty(account_id, now);
        let ctx =
            |what: &str, e: ApiError| format!("account {account_id}: {what}: {} ({})", e.message, e.code);
        if let Some((name, max, trusted)) = access_role {
            st.add_role(name, max, &trust_doc(trusted), None, now)
                .map_err(|e| ctx(name, e))?;
        }
        let refs = seed.users.iter().flat_map(|u| &u.policies);
        let refs = refs
            .chain(seed.groups.iter().flat_map(|g| &g.policies))
            .chain(seed.roles.iter().flat_map(|r| &r.policies));
        st.system
            .extend(refs.filter(|r| r.kind == "System").map(|r| r.name.clone()));
        if let Some(d) = &seed.default_domain {
            st.default_domain = d.clone();
        }
        for p in &seed.policies {
            check_name("PolicyName", &p.name, 128, "-").map_err(|e| ctx(&p.name, e))?;
            st.add_policy(&p.name, "", DEFAULT_DOC, now)
                .map_err(|e| ctx(&p.name, e))?;
            tags::check_seed(&p.tags).map_err(|e| format!("account {account_id}: policy {}: {e}", p.name))?;
            if let Some(x) = st.policies.get_mut(&p.name) {
                x.tags.clone_from(&p.tags);
            }
            for _ in 1..p.versions.max(1) {
                st.add_version(&p.name, DEFAULT_DOC, true, now)
                    .map_err(|e| ctx(&p.name, e))?;
            }
        }
        for d in &seed.virtual_mfa_devices {
            let serial = st.serial(&d.name);
            if st.mfa.contains(&serial) {
                return Err(format!(
                    "account {account_id}: virtual MFA device {} listed twice",
                    d.name
                ));
            }
            st.mfa.insert(
                &serial,
                Mfa {
                    user: None,
                    activated: None,
                },
            );
        }
        for g in &seed.groups {
            check_name("GroupName", &g.name, 64, "-").map_err(|e| ctx(&g.name, e))?;
            st.add_group(&g.name, now).map_err(|e| ctx(&g.name, e))?;
            for p in &g.policies {
                st.attach(1, &g.name, &p.name, &p.kind, now)
                    .map_err(|e| ctx(&g.name, e))?;
            }
        }
        for r in &seed.roles {
            check_name("RoleName", &r.name, 64, ".-").map_err(|e| ctx(&r.name, e))?;
            let trusted = account_id.to_owned();
            st.add_role(
                &r.name,
                r.max_session_duration.unwrap_or(3600),
                &trust_doc(&trusted),
                None,
                now,
            )
            .map_err(|e| ctx(&r.name, e))?;
            tags::check_seed(&r.tags).map_err(|e| format!("account {account_id}: role {}: {e}", r.name))?;
            if let Some(x) = st.roles.get_mut(&r.name) {
                x.tags.clone_from(&r.tags);
            }
            for p in &r.policies {
                st.attach(2, &r.name, &p.name, &p.kind, now)
                    .map_err(|e| ctx(&r.name, e))?;
            }
        }
        for s in &seed.service_linked_roles {
            if !s.name.starts_with(SLR_PREFIX) {
                return Err(format!(
                    "account {account_id}: service-linked role {} must start with {SLR_PREFIX}",
                    s.name
                ));
            }
            let slr = Slr {
                service: s.service.clone(),
                deletion_seconds: s.deletion_seconds,
                in_use: s.in_use.clone(),
            };
            let doc = format!(
                "{{\"Statement\":[{{\"Action\":\"sts:AssumeRole\",\"Effect\":\"Allow\",\"Principal\":{{\"Service\":[\"{}\"]}}}}],\"Version\":\"1\"}}",
                s.service
            );
            st.add_role(&s.name, 3600, &doc, Some(slr), now)
                .map_err(|e| ctx(&s.name, e))?;
        }
        for u in &seed.users {
            check_name("UserName", &u.name, 64, ".@_-").map_err(|e| ctx(&u.name, e))?;
            st.add_user(&u.name, u.display_name.as_deref().unwrap_or(&u.name), now)
                .map_err(|e| ctx(&u.name, e))?;
            tags::check_seed(&u.tags).map_err(|e| format!("account {account_id}: user {}: {e}", u.name))?;
            if let Some(user) = st.users.get_mut(&u.name) {
                user.frozen = u.status == "freeze";
                user.tags.clone_from(&u.tags);
                if u.login_profile {
                    user.login = Some(now);
                }
            }
            for k in &u.access_keys {
                st.add_key(&u.name, k.id.clone(), &k.status, now)
                    .map_err(|e| ctx(&u.name, e))?;
            }
            for g in &u.groups {
                st.join(&u.name, g, now).map_err(|e| ctx(&u.name, e))?;
            }
            for p in &u.policies {
                st.attach(0, &u.name, &p.name, &p.kind, now)
                    .map_err(|e| ctx(&u.name, e))?;
            }
            st.extras
                .seed_user(account_id, &u.name, &u.passkeys, &u.service_credentials, now)
                .map_err(|e| format!("account {account_id}: user {}: {e}", u.name))?;
            if let Some(d) = &u.mfa_device {
                let serial = st.serial(d);
                st.bind(&u.name, &serial, now).map_err(|e| ctx(&u.name, e))?;
            }
        }
        for c in &seed.conflicts {
            if !OPTIONAL_CONFLICTS.contains(&c.as_str()) {
                return Err(format!(
                    "account {account_id}: conflicts: {c:?} is not one of {}",
                    OPTIONAL_CONFLICTS.join(", ")
                ));
            }
        }
        st.strict_passkeys = seed.conflicts.iter().any(|c| c == "User.Passkey");
        st.strict_credentials = seed.conflicts.iter().any(|c| c == "User.ServiceCredential");
        st.apps = Apps::from_seed(
            account_id,
            &seed.applications,
            &seed.external_applications,
            &seed.conflicts,
            now,
        )
        .map_err(|e| format!("account {account_id}: {e}"))?;
        for p in &seed.saml_providers {
            st.saml.insert(
                &p.name,
                Provider {
                    description: String::new(),
                    created: now,
                    issuer_url: String::new(),
                    client_ids: vec![],
                },
            );
        }
        for p in &seed.oidc_providers {
            st.oidc.insert(
                &p.name,
                Provider {
                    description: String::new(),
                    created: now,
                    issuer_url: p.issuer_url.clone(),
                    client_ids: p.client_ids.clone(),
                },
            );
        }
        for u in &seed.recycle_bin.users {
            let id = st.next_id();
            let keys = u
                .access_keys
                .iter()
                .map(|k| (k.id.clone().unwrap_or_else(|| st.key_id()), now))
                .collect();
            let upn = format!("{}@{}", u.name, st.default_domain);
            st.recycle.insert(
                &id,
                Recycled {
                    upn,
                    display_name: u.name.clone(),
                    created: now,
                    recycled: now,
                    keys,
                },
            );
        }
        Ok(st)
    }

    /// A 16-digit user, group or role ID (the service's are 15-17 digits), unique in the account.
    fn next_id(&mut self) -> String {
        self.seq += 1;
        let tail = &self.account_id[self.account_id.len().saturating_sub(8)..];
        format!("2{tail}{:07}", self.seq)
    }

    fn key_id(&mut self) -> String {
        self.seq += 1;
        let tail = &self.account_id[self.account_id.len().saturating_sub(6)..];
        format!("LTAI5t{tail}{:012}", self.seq)
    }

    /// `acs:ram::<account>:mfa/<name>`.
    fn serial(&self, name: &str) -> String {
        format!("acs:ram::{}:mfa/{name}", self.account_id)
    }

    fn arn(&self, kind: &str, name: &str) -> String {
        format!("acs:ram::{}:{kind}/{name}", self.account_id)
    }

    /// A user's principal name under the current default domain.
    pub(crate) fn upn(&self, user: &str) -> String {
        format!("{user}@{}", self.default_domain)
    }

    /// For STS: the role's `MaxSessionDuration` and trust document when it exists (name matching is
    /// case-insensitive, as the service's ARNs are).
    #[must_use]
    pub fn role_for_sts(&self, role: &str) -> Option<(String, u32, String, String)> {
        let name = self.role_index.get(&role.to_ascii_lowercase())?;
        let r = self.roles.get(name).filter(|r| r.slr.is_none())?;
        Some((name.clone(), r.max_session, r.trust.clone(), r.id.clone()))
    }

    /// The stored spelling of a role name given in any case (unknown names come back unchanged).
    fn role_key<'a>(&'a self, name: &'a str) -> &'a str {
        self.role_index
            .get(&name.to_ascii_lowercase())
            .map_or(name, String::as_str)
    }

    /// Removes a role and its case-insensitive index entry.
    fn remove_role(&mut self, name: &str) -> Option<Role> {
        self.role_index.remove(&name.to_ascii_lowercase());
        self.roles.remove(name)
    }

    /// The numeric `UserId` of a RAM user (for `GetCallerIdentity`).
    #[must_use]
    pub fn user_id(&self, name: &str) -> Option<&str> {
        self.users.get(name).map(|u| u.id.as_str())
    }

    /// For STS: `Some(maxSessionDuration)` when the role exists in this account.
    #[must_use]
    pub fn role_max_session(&self, role: &str) -> Option<u32> {
        self.role_for_sts(role).map(|r| r.1)
    }

    /// The counters of IMS `GetAccountSummary`.
    #[must_use]
    pub fn summary_counts(&self) -> SummaryCounts {
        SummaryCounts {
            users: self.users.len(),
            groups: self.groups.len(),
            roles: self.roles.len(),
            policies: self.policies.len(),
            mfa_devices: self.mfa.len(),
            mfa_in_use: self.mfa.iter().filter(|(_, d)| d.user.is_some()).count(),
        }
    }

    /// Counts of what is left, for dumps and the demo.
    #[must_use]
    pub fn dump(&self) -> Value {
        let names = |it: Vec<&str>| Value::from(it.into_iter().map(str::to_owned).collect::<Vec<_>>());
        json!({
            "defaultDomain": self.default_domain,
            "users": names(self.users.iter().map(|x| x.0).collect()),
            "accessKeys": self.users.iter().map(|(_, u)| u.keys.len()).sum::<usize>(),
            "loginProfiles": self.users.iter().filter(|(_, u)| u.login.is_some()).count(),
            "groups": names(self.groups.iter().map(|x| x.0).collect()),
            "roles": names(self.roles.iter().filter(|(_, r)| r.slr.is_none()).map(|x| x.0).collect()),
            "serviceLinkedRoles": names(self.roles.iter().filter(|(_, r)| r.slr.is_some()).map(|x| x.0).collect()),
            "policies": names(self.policies.iter().map(|x| x.0).collect()),
            "policyVersions": self.policies.iter().map(|(_, p)| p.versions.len()).sum::<usize>(),
            "virtualMfaDevices": names(self.mfa.iter().map(|x| x.0).collect()),
            "samlProviders": names(self.saml.iter().map(|x| x.0).collect()),
            "oidcProviders": names(self.oidc.iter().map(|x| x.0).collect()),
            "recycleBin": names(self.recycle.iter().map(|(_, r)| r.upn.as_str()).collect()),
            "applications": self.apps.names().0,
            "appSecrets": self.apps.counts().1,
            "externalApplications": self.apps.names().1,
            "passkeys": self.extras.counts().0,
            "serviceCredentials": self.extras.counts().1,
            // What an inventory's attachment lookups depend on (the benchmark's discovery floor):
            // policies held by someone (custom and system), and the principals that may hold one.
            "attachedPolicies": self.policies.iter().filter(|(_, p)| !p.attached.is_empty()).count()
                + self.system_attachment_counts().values().filter(|n| **n > 0).count(),
            "principals": self.users.len() + self.groups.len()
                + self.roles.iter().filter(|(_, r)| r.slr.is_none()).count(),
        })
    }

    /// Total number of RAM objects left (users, keys, groups, roles, policies, devices, IdPs, bin).
    #[must_use]
    pub fn object_count(&self) -> usize {
        self.users.len()
            + self
                .users
                .iter()
                .map(|(_, u)| u.keys.len() + usize::from(u.login.is_some()))
                .sum::<usize>()
            + self.groups.len()
            + self.roles.len()
            + self.policies.len()
            + self.mfa.len()
            + self.saml.len()
            + self.oidc.len()
            + self.recycle.len()
            + {
                let (apps, secrets, external) = self.apps.counts();
                let (passkeys, creds) = self.extras.counts();
                apps + secrets + external + passkeys + creds
            }
    }

    // -------------------------------------------------------------------- building blocks

    fn add_user(&mut self, name: &str, display: &str, now: Timestamp) -> Result<(), ApiError> {
        if self.users.contains(name) {
            return Err(exists("User"));
        }
        let id = self.next_id();
        self.users.insert(
            name,
            User {
                id,
                display_name: display.to_owned(),
                frozen: false,
                created: now,
                updated: now,
                keys: vec![],
                login: None,
                mfa: None,
                groups: vec![],
                policies: vec![],
                tags: vec![],
            },
        );
        Ok(())
    }

    fn add_key(
        &mut self,
        user: &str,
        id: Option<String>,
        status: &str,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let id = match id {
            Some(i) => i,
            None => self.key_id(),
        };
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        if u.keys.len() >= LIMIT_KEYS_PER_USER {
            return Err(ApiError::new(
                409,
                "LimitExceeded.User.AccessKey",
                "The count of access keys of the user beyond the current limits.",
            ));
        }
        u.keys.push(Key {
            id: id.clone(),
            status: status.to_owned(),
            created: now,
        });
        Ok(id)
    }

    fn add_group(&mut self, name: &str, now: Timestamp) -> Result<(), ApiError> {
        if self.groups.contains(name) {
            return Err(exists("Group"));
        }
        let id = self.next_id();
        self.groups.insert(
            name,
            Group {
                id,
                created: now,
                members: Table::default(),
                policies: vec![],
            },
        );
        Ok(())
    }

    fn add_role(
        &mut self,
        name: &str,
        max: u32,
        trust: &str,
        slr: Option<Slr>,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if self.role_index.contains_key(&name.to_ascii_lowercase()) {
            return Err(exists("Role"));
        }
        self.role_index.insert(name.to_ascii_lowercase(), name.to_owned());
        let id = self.next_id();
        self.roles.insert(
            name,
            Role {
                id,
                description: String::new(),
                trust: trust.to_owned(),
                max_session: max,
                created: now,
                slr,
                policies: vec![],
                latest_task: None,
                tags: vec![],
            },
        );
        Ok(())
    }

    fn add_policy(
        &mut self,
        name: &str,
        description: &str,
        doc: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if self.policies.contains(name) || self.system.contains(name) {
            return Err(exists("Policy"));
        }
        self.policies.insert(
            name,
            Policy {
                description: description.to_owned(),
                created: now,
                versions: vec![Version {
                    id: "v1".into(),
                    doc: doc.to_owned(),
                    created: now,
                }],
                default_version: "v1".into(),
                next_version: 2,
                attached: BTreeSet::new(),
                tags: vec![],
            },
        );
        Ok(())
    }

    fn add_version(
        &mut self,
        name: &str,
        doc: &str,
        set_default: bool,
        now: Timestamp,
    ) -> Result<Version, ApiError> {
        let p = self.policies.get_mut(name).ok_or_else(no_policy)?;
        if p.versions.len() >= LIMIT_VERSIONS {
            return Err(ApiError::new(
                409,
                "LimitExceeded.Policy.Version",
                "The count of versions of the policy beyond the current limits.",
            ));
        }
        let v = Version {
            id: format!("v{}", p.next_version),
            doc: doc.to_owned(),
            created: now,
        };
        p.next_version += 1;
        if set_default {
            p.default_version = v.id.clone();
        }
        p.versions.push(v.clone());
        Ok(v)
    }

    fn join(&mut self, user: &str, group: &str, now: Timestamp) -> Result<(), ApiError> {
        if !self.users.contains(user) {
            return Err(no_user());
        }
        let g = self.groups.get_mut(group).ok_or_else(no_group)?;
        if g.members.contains(user) {
            return Err(exists("User.Group"));
        }
        g.members.insert(user, now);
        if let Some(u) = self.users.get_mut(user) {
            u.groups.push((group.to_owned(), now));
        }
        Ok(())
    }

    fn bind(&mut self, user: &str, serial: &str, now: Timestamp) -> Result<(), ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        if u.mfa.is_some() {
            return Err(exists("User.MFADevice"));
        }
        let d = self
            .mfa
            .get_mut(serial)
            .ok_or_else(|| not_exist("VirtualMFADevice", "The virtual mfa device does not exist."))?;
        if d.user.is_some() {
            return Err(exists("VirtualMFADevice.User"));
        }
        d.user = Some(user.to_owned());
        d.activated = Some(now);
        if let Some(u) = self.users.get_mut(user) {
            u.mfa = Some(serial.to_owned());
        }
        Ok(())
    }

    fn principal_policies(&mut self, kind: u8, name: &str) -> Result<&mut Vec<Attach>, ApiError> {
        match kind {
            0 => self
                .users
                .get_mut(name)
                .map(|u| &mut u.policies)
                .ok_or_else(no_user),
            1 => self
                .groups
                .get_mut(name)
                .map(|g| &mut g.policies)
                .ok_or_else(no_group),
            _ => self
                .roles
                .get_mut(name)
                .map(|r| &mut r.policies)
                .ok_or_else(no_role),
        }
    }

    fn attach(
        &mut self,
        kind: u8,
        principal: &str,
        policy: &str,
        ptype: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let t = PolicyType::parse(ptype)?;
        let known = match t {
            PolicyType::System => self.system.contains(policy),
            PolicyType::Custom => self.policies.contains(policy),
        };
        if !known {
            return Err(no_policy());
        }
        let list = self.principal_policies(kind, principal)?;
        if list.iter().any(|a| a.name == policy && a.kind == t) {
            let what = ["User.Policy", "Group.Policy", "Role.Policy"][usize::from(kind.min(2))];
            return Err(exists(what));
        }
        list.push(Attach {
            name: policy.to_owned(),
            kind: t,
            date: now,
        });
        if t == PolicyType::Custom
            && let Some(p) = self.policies.get_mut(policy)
        {
            p.attached.insert((kind, principal.to_owned()));
        }
        Ok(())
    }

    fn detach(&mut self, kind: u8, principal: &str, policy: &str, ptype: &str) -> Result<(), ApiError> {
        let t = PolicyType::parse(ptype)?;
        let exists_policy = match t {
            PolicyType::System => self.system.contains(policy),
            PolicyType::Custom => self.policies.contains(policy),
        };
        let list = self.principal_policies(kind, principal)?;
        if !exists_policy {
            return Err(no_policy());
        }
        let Some(i) = list.iter().position(|a| a.name == policy && a.kind == t) else {
            return Err(match kind {
                0 => not_exist("User.Policy", "The indicate policy of the user does not exist."),
                1 => not_exist(
                    "Group.Policy",
                    "The indicate policy attached to the group does not exist.",
                ),
                _ => not_exist(
                    "Role.Policy",
                    "The indicate policy attached to the role does not exist.",
                ),
            });
        };
        list.remove(i);
        if let Some(p) = self.policies.get_mut(policy).filter(|_| t == PolicyType::Custom) {
            p.attached.remove(&(kind, principal.to_owned()));
        }
        Ok(())
    }

    fn leave(&mut self, user: &str, group: &str) -> Result<(), ApiError> {
        if !self.users.contains(user) {
            return Err(no_user());
        }
        let g = self.groups.get_mut(group).ok_or_else(no_group)?;
        if g.members.remove(user).is_none() {
            return Err(not_exist("User.Group", "The user has not joined the group."));
        }
        if let Some(u) = self.users.get_mut(user) {
            u.groups.retain(|(n, _)| n != group);
        }
        Ok(())
    }

    fn unbind(&mut self, user: &str) -> Result<String, ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        let serial = u
            .mfa
            .take()
            .ok_or_else(|| not_exist("User.MFADevice", "The user has not bound any MFA device."))?;
        if let Some(d) = self.mfa.get_mut(&serial) {
            d.user = None;
            d.activated = None;
        }
        Ok(serial)
    }

    fn delete_key(&mut self, user: &str, key: &str) -> Result<(), ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        let before = u.keys.len();
        u.keys.retain(|k| k.id != key);
        if u.keys.len() == before {
            return Err(not_exist("User.AccessKey", "The user access key does not exist."));
        }
        Ok(())
    }

    fn delete_login(&mut self, user: &str) -> Result<(), ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        u.login.take().map(|_| ()).ok_or_else(no_login)
    }

    /// `UpdateUser` with `NewUserName`: the user keeps its place, ID, keys and attachments.
    fn rename_user(&mut self, old: &str, new: &str) -> Result<(), ApiError> {
        if self.users.contains(new) {
            return Err(exists("User"));
        }
        self.users.rename(old, new);
        let Some(u) = self.users.get(old).or_else(|| self.users.get(new)) else {
            return Err(no_user());
        };
        let groups: Vec<String> = u.groups.iter().map(|(g, _)| g.clone()).collect();
        let custom: Vec<String> = u
            .policies
            .iter()
            .filter(|a| a.kind == PolicyType::Custom)
            .map(|a| a.name.clone())
            .collect();
        let mfa = u.mfa.clone();
        for g in groups {
            if let Some(gr) = self.groups.get_mut(&g) {
                gr.members.rename(old, new);
            }
        }
        for pol in custom {
            if let Some(x) = self.policies.get_mut(&pol) {
                x.attached.remove(&(0, old.to_owned()));
                x.attached.insert((0, new.to_owned()));
            }
        }
        if let Some(d) = mfa.and_then(|s| self.mfa.get_mut(&s)) {
            d.user = Some(new.to_owned());
        }
        self.extras.rename_user(old, new);
        Ok(())
    }

    fn delete_user(&mut self, name: &str) -> Result<User, ApiError> {
        let u = self.users.get(name).ok_or_else(no_user)?;
        if !u.groups.is_empty() {
            return Err(conflict(
                "User.Group",
                "The user CAN NOT be in any group while deleting the user.",
            ));
        }
        if !u.keys.is_empty() {
            return Err(conflict(
                "User.AccessKey",
                "The user CAN NOT has any access key while deleting the user.",
            ));
        }
        if u.login.is_some() {
            return Err(conflict(
                "User.LoginProfile",
                "The user CAN NOT has any login profile while deleting the user.",
            ));
        }
        if u.mfa.is_some() {
            return Err(conflict(
                "User.MFADevice",
                "The user CAN NOT has any mfa device while deleting the user.",
            ));
        }
        if !u.policies.is_empty() {
            return Err(conflict(
                "User.Policy",
                "The user CAN NOT has any attached policy while deleting the user.",
            ));
        }
        // Undocumented: by default passkeys and service credentials go with the user; the seed's
        // `conflicts` can make DeleteUser refuse like for the documented dependencies.
        if self.strict_passkeys && self.extras.has_passkeys(name) {
            return Err(conflict(
                "User.Passkey",
                "The user CAN NOT has any passkey while deleting the user.",
            ));
        }
        if self.strict_credentials && self.extras.has_credentials(name) {
            return Err(conflict(
                "User.ServiceCredential",
                "The user CAN NOT has any service credential while deleting the user.",
            ));
        }
        self.extras.drop_user(name);
        self.users.remove(name).ok_or_else(no_user)
    }

    fn delete_group(&mut self, name: &str) -> Result<(), ApiError> {
        let g = self.groups.get(name).ok_or_else(no_group)?;
        if !g.members.is_empty() {
            return Err(conflict(
                "Group.User",
                "The group CAN NOT has any user member while deleting the group.",
            ));
        }
        if !g.policies.is_empty() {
            return Err(conflict(
                "Group.Policy",
                "The entity CAN NOT has any attached policy while deleting the group.",
            ));
        }
        self.groups.remove(name);
        Ok(())
    }

    fn delete_role(&mut self, name: &str) -> Result<(), ApiError> {
        let name = self.role_key(name).to_owned();
        let name = name.as_str();
        let r = self.roles.get(name).ok_or_else(no_role)?;
        if r.slr.is_some() {
            return Err(ApiError::new(
                409,
                "DeleteConflict.Role.ServiceLinkedRole",
                "A service-linked role CAN NOT be deleted with DeleteRole; use DeleteServiceLinkedRole.",
            ));
        }
        if !r.policies.is_empty() {
            return Err(conflict(
                "Role.Policy",
                "The role CAN NOT has any attached policy while deleting the role.",
            ));
        }
        self.remove_role(name);
        Ok(())
    }

    fn delete_policy(&mut self, name: &str, cascade: bool) -> Result<(), ApiError> {
        let p = self.policies.get(name).ok_or_else(no_policy)?;
        if p.attached.iter().any(|(k, _)| *k == 0) {
            return Err(conflict(
                "Policy.User",
                "The policy CAN NOT been attached to any user while deleting the policy.",
            ));
        }
        if p.attached.iter().any(|(k, _)| *k == 1) {
            return Err(conflict(
                "Policy.Group",
                "The policy CAN NOT been attached to any group while deleting the policy.",
            ));
        }
        if p.attached.iter().any(|(k, _)| *k == 2) {
            return Err(conflict(
                "Policy.Role",
                "The policy CAN NOT been attached to any role while deleting the policy.",
            ));
        }
        if !cascade && p.versions.len() > 1 {
            return Err(conflict(
                "Policy.Version",
                "The policy CAN NOT has any version except the default version.",
            ));
        }
        self.policies.remove(name);
        Ok(())
    }

    fn delete_version(&mut self, name: &str, version: &str) -> Result<(), ApiError> {
        check_version_id(version)?;
        let p = self.policies.get_mut(name).ok_or_else(no_policy)?;
        let Some(i) = p.versions.iter().position(|v| v.id == version) else {
            return Err(no_version());
        };
        if p.default_version == version {
            return Err(conflict(
                "Policy.Version.Default",
                "The default policy version CAN NOT been deleted directly.",
            ));
        }
        p.versions.remove(i);
        Ok(())
    }

    fn delete_mfa(&mut self, serial: &str) -> Result<(), ApiError> {
        let d = self
            .mfa
            .get(serial)
            .ok_or_else(|| not_exist("VirtualMFADevice", "The virtual mfa device does not exist."))?;
        if d.user.is_some() {
            return Err(conflict(
                "VirtualMFADevice.User",
                "The virtual mfa device CAN NOT been bound to any user while deleting it.",
            ));
        }
        self.mfa.remove(serial);
        Ok(())
    }

    // ----------------------------------------------------------------------- IMS helpers

    /// The user a principal name or user ID names.
    pub(crate) fn user_by_ims(&self, p: &Params) -> Result<String, ApiError> {
        if let Some(upn) = param(p, "UserPrincipalName").filter(|s| !s.is_empty()) {
            let (name, domain) = upn.rsplit_once('@').ok_or_else(no_user)?;
            if domain != self.default_domain || !self.users.contains(name) {
                return Err(no_user());
            }
            return Ok(name.to_owned());
        }
        if let Some(id) = param(p, "UserId").filter(|s| !s.is_empty()) {
            return self
                .users
                .iter()
                .find(|(_, u)| u.id == id)
                .map(|(n, _)| n.to_owned())
                .ok_or_else(no_user);
        }
        if let Some(k) = param(p, "UserAccessKeyId").filter(|s| !s.is_empty()) {
            return self
                .users
                .iter()
                .find(|(_, u)| u.keys.iter().any(|x| x.id == k))
                .map(|(n, _)| n.to_owned())
                .ok_or_else(no_user);
        }
        Err(ApiError::missing("UserPrincipalName"))
    }

    /// IMS view of a user.
    pub(crate) fn ims_user(&self, name: &str, with_name: bool) -> Option<Value> {
        let u = self.users.get(name)?;
        let mut v = json!({
            "UserId": u.id, "UserPrincipalName": self.upn(name), "DisplayName": u.display_name,
            "Status": if u.frozen { "freeze" } else { "active" }, "ProvisionType": "Manual",
            "CreateDate": utc(u.created), "UpdateDate": utc(u.created), "Comments": "", "Email": "", "MobilePhone": "",
        });
        if with_name && let Some(o) = v.as_object_mut() {
            o.insert("UserName".into(), Value::String(name.to_owned()));
        }
        tags::insert_ram(&mut v, &u.tags);
        Some(v)
    }

    /// IMS `ListUsers`: `Status` filters (default active only).
    pub(crate) fn ims_list_users(&self, ctx: &CallContext, p: &Params) -> Result<Value, ApiError> {
        only(p, "ListUsers", &["Marker", "MaxItems", "Status", "Tag.*"])?;
        let filter = TagFilter::from_repeat_list(p)?;
        // With a Tag filter both states are listed (IMS SDK text); otherwise Status, default active.
        let status = match param(p, "Status").filter(|s| !s.is_empty()) {
            Some(s) => s,
            None if filter.is_some() => "active,freeze",
            None => "active",
        };
        let mut want = (false, false);
        for s in status.split(',') {
            match s.trim() {
                "active" => want.0 = true,
                "freeze" => want.1 = true,
                _ => {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameter.Status",
                        "The parameter - \"Status\" is incorrect.",
                    ));
                }
            }
        }
        let n = max_items(p, "MaxItems", 1000, 1000, ctx.page_limit)?;
        let page = self.users.page_where(param(p, "Marker"), n, |_, u| {
            ((u.frozen && want.1) || (!u.frozen && want.0)) && tags::passes(filter.as_ref(), &u.tags)
        })?;
        Ok(page.body("Users", "User", |name, _| {
            self.ims_user(name, false).unwrap_or(Value::Null)
        }))
    }

    /// RAM-level operations shared with IMS by user name.
    pub(crate) fn user_op(
        &mut self,
        ctx: &CallContext,
        action: &str,
        user: &str,
        p: &Params,
        ims: bool,
    ) -> Result<Value, ApiError> {
        let now = ctx.now;
        match action {
            "ListGroupsForUser" => {
                let u = self.users.get(user).ok_or_else(no_user)?;
                let groups: Vec<Value> = u
                    .groups
                    .iter()
                    .filter_map(|(g, joined)| {
                        self.groups.get(g).map(|gr| {
                            let mut v = json!({"GroupName": g, "GroupId": gr.id, "Comments": "", "JoinDate": utc(*joined)});
                            if ims && let Some(o) = v.as_object_mut() {
                                o.insert("DisplayName".into(), Value::String(g.clone()));
                            }
                            v
                        })
                    })
                    .collect();
                Ok(json!({ "Groups": { "Group": groups } }))
            }
            "RemoveUserFromGroup" => {
                let g = group_name(p)?;
                self.leave(user, g)?;
                Ok(json!({}))
            }
            "ListAccessKeys" => {
                let u = self.users.get(user).ok_or_else(no_user)?;
                let keys: Vec<Value> = u
                    .keys
                    .iter()
                    .map(|k| {
                        let mut v =
                            json!({"AccessKeyId": k.id, "Status": k.status, "CreateDate": utc(k.created)});
                        if ims && let Some(o) = v.as_object_mut() {
                            o.insert("UpdateDate".into(), Value::String(utc(k.created)));
                        }
                        v
                    })
                    .collect();
                Ok(json!({ "AccessKeys": { "AccessKey": keys } }))
            }
            "DeleteAccessKey" => {
                let k = required(p, "UserAccessKeyId")?;
                self.delete_key(user, k)?;
                Ok(json!({}))
            }
            "GetLoginProfile" => {
                let u = self.users.get(user).ok_or_else(no_user)?;
                let created = u.login.ok_or_else(no_login)?;
                Ok(if ims {
                    json!({ "LoginProfile": {
                        "UserPrincipalName": self.upn(user), "UpdateDate": utc(created), "PasswordResetRequired": false,
                        "MFABindRequired": false, "Status": "Active", "PasswordStatus": "NotInitial",
                        "AutoDisableLoginStatus": "", "LastLoginTime": "",
                    }})
                } else {
                    json!({ "LoginProfile": {
                        "UserName": user, "CreateDate": utc(created), "PasswordResetRequired": false, "MFABindRequired": false,
                    }})
                })
            }
            "DeleteLoginProfile" => {
                self.delete_login(user)?;
                Ok(json!({}))
            }
            "GetUserMFAInfo" => {
                let u = self.users.get(user).ok_or_else(no_user)?;
                let serial = u
                    .mfa
                    .clone()
                    .ok_or_else(|| not_exist("User.MFADevice", "The user has not bound any MFA device."))?;
                let mut v = json!({ "MFADevice": { "SerialNumber": serial, "Type": "VMFA" } });
                if ims && let Some(o) = v.as_object_mut() {
                    o.insert("IsMFAEnable".into(), Value::Bool(true));
                }
                Ok(v)
            }
            "UnbindMFADevice" => {
                let serial = self.unbind(user)?;
                Ok(json!({ "MFADevice": { "SerialNumber": serial } }))
            }
            "DeleteUser" => {
                // Like IMS, keep the deleted user restorable in the recycle bin.
                let u = self.delete_user(user)?;
                let upn = self.upn(user);
                self.recycle.insert(
                    &u.id,
                    Recycled {
                        upn,
                        display_name: u.display_name,
                        created: u.created,
                        recycled: now,
                        keys: vec![],
                    },
                );
                Ok(json!({}))
            }
            _ => Err(unknown(action)),
        }
    }

    /// `ListUsersForGroup` (RAM: names; IMS: principal names and IDs).
    pub(crate) fn users_for_group(
        &self,
        ctx: &CallContext,
        p: &Params,
        max: u32,
        ims: bool,
    ) -> Result<Value, ApiError> {
        only(p, "ListUsersForGroup", &["GroupName", "Marker", "MaxItems"])?;
        let g = self.groups.get(group_name(p)?).ok_or_else(no_group)?;
        let n = max_items(p, "MaxItems", max, 100, ctx.page_limit)?;
        let page = g.members.page(param(p, "Marker"), n)?;
        Ok(page.body("Users", "User", |name, joined| {
            let u = self.users.get(name);
            let display = u.map_or(name, |u| u.display_name.as_str());
            if ims {
                json!({"UserPrincipalName": self.upn(name), "UserId": u.map(|u| u.id.clone()), "DisplayName": display, "JoinDate": utc(*joined)})
            } else {
                json!({"UserName": name, "DisplayName": display, "JoinDate": utc(*joined)})
            }
        }))
    }

    /// `ListGroups` for RAM or IMS.
    pub(crate) fn list_groups(&self, ctx: &CallContext, p: &Params, ims: bool) -> Result<Value, ApiError> {
        only(p, "ListGroups", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", if ims { 100 } else { 1000 }, 100, ctx.page_limit)?;
        let page = self.groups.page(param(p, "Marker"), n)?;
        Ok(page.body("Groups", "Group", |name, g| {
            let mut v = json!({"GroupName": name, "GroupId": g.id, "Comments": "", "CreateDate": utc(g.created), "UpdateDate": utc(g.created)});
            if ims && let Some(o) = v.as_object_mut() {
                o.insert("DisplayName".into(), Value::String(name.to_owned()));
            }
            v
        }))
    }

    /// `DeleteGroup` (RAM and IMS).
    pub(crate) fn delete_group_op(&mut self, p: &Params) -> Result<Value, ApiError> {
        self.delete_group(group_name(p)?)?;
        Ok(json!({}))
    }

    /// `ListVirtualMFADevices` (RAM: everything; IMS: Marker pages).
    pub(crate) fn list_mfa(&self, ctx: &CallContext, p: &Params, ims: bool) -> Result<Value, ApiError> {
        only(
            p,
            "ListVirtualMFADevices",
            if ims { &["Marker", "MaxItems"] } else { &[] },
        )?;
        let n = if ims {
            max_items(p, "MaxItems", 100, 100, ctx.page_limit)?
        } else {
            usize::MAX
        };
        let page = self.mfa.page(if ims { param(p, "Marker") } else { None }, n)?;
        let mut body = page.body("VirtualMFADevices", "VirtualMFADevice", |serial, d| {
            let mut v = json!({ "SerialNumber": serial });
            if let (Some(user), Some(o)) = (&d.user, v.as_object_mut()) {
                let u = self.users.get(user);
                let mut who = json!({"UserId": u.map(|u| u.id.clone()), "DisplayName": u.map(|u| u.display_name.clone())});
                if let Some(w) = who.as_object_mut() {
                    if ims {
                        w.insert("UserPrincipalName".into(), Value::String(self.upn(user)));
                    } else {
                        w.insert("UserName".into(), Value::String(user.clone()));
                    }
                }
                o.insert("User".into(), who);
                o.insert("ActivateDate".into(), Value::String(d.activated.map(utc).unwrap_or_default()));
            }
            v
        });
        if !ims && let Some(o) = body.as_object_mut() {
            o.remove("IsTruncated");
        }
        Ok(body)
    }

    /// `DeleteVirtualMFADevice` (RAM and IMS).
    pub(crate) fn delete_mfa_op(&mut self, p: &Params) -> Result<Value, ApiError> {
        self.delete_mfa(required(p, "SerialNumber")?)?;
        Ok(json!({}))
    }
}

fn no_version() -> ApiError {
    not_exist("Policy.Version", "The policy version does not exist.")
}

/// `v1`, `v2`, ...: anything else is `InvalidParameter.VersionId.Format`.
fn check_version_id(version: &str) -> Result<(), ApiError> {
    if version
        .strip_prefix('v')
        .is_some_and(|n| n.parse::<u32>().is_ok())
    {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "InvalidParameter.VersionId.Format",
            "The format of the parameter - \"VersionId\" is incorrect.",
        ))
    }
}

fn no_login() -> ApiError {
    not_exist("User.LoginProfile", "The user login profile does not exist.")
}

fn unknown(action: &str) -> ApiError {
    ApiError::new(
        404,
        "InvalidAction.NotFound",
        format!("Specified api {action} is not found."),
    )
}

const DEFAULT_DOC: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;

/// A trust policy that lets `account` assume the role.
fn trust_doc(account: &str) -> String {
    format!(
        "{{\"Statement\":[{{\"Action\":\"sts:AssumeRole\",\"Effect\":\"Allow\",\"Principal\":{{\"RAM\":[\"acs:ram::{account}:root\"]}}}}],\"Version\":\"1\"}}"
    )
}

/// The account a trust policy lets assume the role (the emulator's trust model is one account).
#[must_use]
pub fn trusted_account(doc: &str) -> Option<String> {
    let v: Value = serde_json::from_str(doc).ok()?;
    let stmt = v.get("Statement")?.as_array()?;
    stmt.iter().find_map(|s| {
        let ram = s.get("Principal")?.get("RAM")?;
        let first = match ram {
            Value::Array(a) => a.first()?.as_str()?.to_owned(),
            Value::String(s) => s.clone(),
            _ => return None,
        };
        first
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split(':').next())
            .map(str::to_owned)
    })
}

/// Every RAM action the emulator answers: name, class and handler in one entry, so nothing can be
/// classified without being answered (the service-linked role action is in [`super::slr`]).
pub const ACTIONS: &[Action] = &[
    Action::account("ListUsers", Read, |st, ctx, p| {
        only(p, "ListUsers", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let page = st.users.page(param(p, "Marker"), n)?;
        Ok(page.body("Users", "User", |name, u| {
                json!({"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "", "Email": "",
                       "MobilePhone": "", "CreateDate": utc(u.created), "UpdateDate": utc(u.created)})
            }))
    }),
    Action::account("GetUser", Read, |st, _ctx, p| {
        let name = user_name(p)?;
        let u = st.users.get(name).ok_or_else(no_user)?;
        Ok(
            json!({"User": {"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "",
                "CreateDate": utc(u.created), "UpdateDate": utc(u.created), "LastLoginDate": ""}}),
        )
    }),
    Action::account("CreateUser", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let display = param(p, "DisplayName").filter(|s| !s.is_empty()).unwrap_or(name);
        st.add_user(name, display, ctx.now)?;
        let u = st.users.get(name).ok_or_else(no_user)?;
        Ok(
            json!({"User": {"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("ListGroupsForUser", Read, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "ListGroupsForUser", &name, p, false)
    }),
    Action::account("ListAccessKeys", Read, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "ListAccessKeys", &name, p, false)
    }),
    Action::account("DeleteAccessKey", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "DeleteAccessKey", &name, p, false)
    }),
    Action::account("GetLoginProfile", Read, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "GetLoginProfile", &name, p, false)
    }),
    Action::account("DeleteLoginProfile", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "DeleteLoginProfile", &name, p, false)
    }),
    Action::account("GetUserMFAInfo", Read, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "GetUserMFAInfo", &name, p, false)
    }),
    Action::account("UnbindMFADevice", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "UnbindMFADevice", &name, p, false)
    }),
    Action::account("DeleteUser", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "DeleteUser", &name, p, false)
    }),
    Action::account("RemoveUserFromGroup", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        st.user_op(ctx, "RemoveUserFromGroup", &name, p, false)
    }),
    Action::account("UpdateUser", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        if !st.users.contains(&name) {
            return Err(no_user());
        }
        let new_name = match param(p, "NewUserName").filter(|s| !s.is_empty()) {
            Some(n) => {
                check_name("NewUserName", n, 64, ".@_-")?;
                n.to_owned()
            }
            None => name.clone(),
        };
        if new_name != name {
            st.rename_user(&name, &new_name)?;
        }
        let u = st.users.get_mut(&new_name).ok_or_else(no_user)?;
        if let Some(d) = param(p, "NewDisplayName").filter(|s| !s.is_empty()) {
            d.clone_into(&mut u.display_name);
        }
        u.updated = ctx.now;
        Ok(
            json!({"User": {"UserName": new_name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "",
                  "CreateDate": utc(u.created), "UpdateDate": utc(u.updated)}}),
        )
    }),
    Action::account("CreateAccessKey", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let id = st.add_key(name, None, "Active", ctx.now)?;
        let secret: String = uuid::Uuid::new_v4().simple().to_string();
        Ok(
            json!({"AccessKey": {"AccessKeyId": id, "AccessKeySecret": secret, "Status": "Active", "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("CreateLoginProfile", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        required(p, "Password")?;
        let u = st.users.get_mut(name).ok_or_else(no_user)?;
        if u.login.is_some() {
            return Err(exists("User.LoginProfile"));
        }
        u.login = Some(ctx.now);
        Ok(
            json!({"LoginProfile": {"UserName": name, "CreateDate": utc(ctx.now), "PasswordResetRequired": flag(p, "PasswordResetRequired")?, "MFABindRequired": flag(p, "MFABindRequired")?}}),
        )
    }),
    Action::account("CreateVirtualMFADevice", Mutating, |st, _ctx, p| {
        let name = required(p, "VirtualMFADeviceName")?;
        check_name("VirtualMFADeviceName", name, 64, ".@_-")?;
        let serial = st.serial(name);
        if st.mfa.contains(&serial) {
            return Err(exists("VirtualMFADevice"));
        }
        st.mfa.insert(
            &serial,
            Mfa {
                user: None,
                activated: None,
            },
        );
        Ok(
            json!({"VirtualMFADevice": {"SerialNumber": serial, "Base32StringSeed": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "QRCodePNG": ""}}),
        )
    }),
    Action::account("BindMFADevice", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let serial = required(p, "SerialNumber")?;
        required(p, "AuthenticationCode1")?;
        required(p, "AuthenticationCode2")?;
        st.bind(name, serial, ctx.now)?;
        Ok(json!({}))
    }),
    Action::account("ListVirtualMFADevices", Read, |st, ctx, p| {
        st.list_mfa(ctx, p, false)
    }),
    Action::account("DeleteVirtualMFADevice", Mutating, |st, _ctx, p| {
        st.delete_mfa_op(p)
    }),
    Action::account("ListGroups", Read, |st, ctx, p| st.list_groups(ctx, p, false)),
    Action::account("GetGroup", Read, |st, _ctx, p| {
        let name = group_name(p)?;
        let g = st.groups.get(name).ok_or_else(no_group)?;
        Ok(
            json!({"Group": {"GroupName": name, "GroupId": g.id, "Comments": "", "CreateDate": utc(g.created)}}),
        )
    }),
    Action::account("CreateGroup", Mutating, |st, ctx, p| {
        let name = group_name(p)?;
        st.add_group(name, ctx.now)?;
        let id = st.groups.get(name).map(|g| g.id.clone());
        Ok(
            json!({"Group": {"GroupName": name, "GroupId": id, "Comments": param(p, "Comments").unwrap_or(""), "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("AddUserToGroup", Mutating, |st, ctx, p| {
        let (u, g) = (user_name(p)?, group_name(p)?);
        st.join(u, g, ctx.now)?;
        Ok(json!({}))
    }),
    Action::account("ListUsersForGroup", Read, |st, ctx, p| {
        st.users_for_group(ctx, p, 1000, false)
    }),
    Action::account("DeleteGroup", Mutating, |st, _ctx, p| st.delete_group_op(p)),
    Action::account("ListRoles", Read, |st, ctx, p| {
        only(p, "ListRoles", &["Marker", "MaxItems", "Tag"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let filter = TagFilter::from_json(p)?;
        let page = st.roles.page_where(param(p, "Marker"), n, |_, r| {
            tags::passes(filter.as_ref(), &r.tags)
        })?;
        Ok(page.body("Roles", "Role", |name, r| {
            let mut v = json!({"RoleName": name, "RoleId": r.id, "Arn": st.arn("role", &name.to_lowercase()), "Description": r.description,
                   "MaxSessionDuration": r.max_session, "CreateDate": utc(r.created), "UpdateDate": utc(r.created)});
            tags::insert_ram(&mut v, &r.tags);
            v
        }))
    }),
    Action::account("GetRole", Read, |st, _ctx, p| {
        let name = st.role_key(role_name(p)?);
        let r = st.roles.get(name).ok_or_else(no_role)?;
        let mut role = json!({"RoleName": name, "RoleId": r.id, "Arn": st.arn("role", &name.to_lowercase()),
                "Description": r.description, "AssumeRolePolicyDocument": r.trust, "MaxSessionDuration": r.max_session,
                "IsServiceLinkedRole": r.slr.is_some(), "CreateDate": utc(r.created), "UpdateDate": utc(r.created),
                "RolePrincipalName": format!("{name}@role.{}.onaliyunservice.com", st.account_id)});
        if let (Some((id, at)), Some(o)) = (&r.latest_task, role.as_object_mut()) {
            o.insert(
                "LatestDeletionTask".into(),
                json!({"DeletionTaskId": id, "CreateDate": utc(*at)}),
            );
        }
        Ok(json!({ "Role": role }))
    }),
    Action::account("CreateRole", Mutating, |st, ctx, p| {
        let name = role_name(p)?;
        if name.starts_with(SLR_PREFIX) {
            return Err(ApiError::new(
                400,
                "InvalidParameter.RoleName.Reserved",
                "Role names starting with AliyunServiceRoleFor are reserved for service-linked roles.",
            ));
        }
        let doc = required(p, "AssumeRolePolicyDocument")?;
        if serde_json::from_str::<Value>(doc).is_err() {
            return Err(ApiError::new(
                400,
                "MalformedPolicyDocument",
                "The policy document is not valid JSON.",
            ));
        }
        let max = match param(p, "MaxSessionDuration").filter(|s| !s.is_empty()) {
            None => 3600,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (3600..=43_200).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidParameter.MaxSessionDuration",
                        "The parameter - \"MaxSessionDuration\" MUST be in the range of 3600 and 43200.",
                    )
                })?,
        };
        st.add_role(name, max, doc, None, ctx.now)?;
        let id = st.roles.get(name).map(|r| r.id.clone());
        Ok(
            json!({"Role": {"RoleName": name, "RoleId": id, "Arn": st.arn("role", &name.to_lowercase()), "MaxSessionDuration": max, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("DeleteRole", Mutating, |st, _ctx, p| {
        st.delete_role(role_name(p)?)?;
        Ok(json!({}))
    }),
    Action::account("ListPolicies", Read, |st, ctx, p| {
        let t = param(p, "PolicyType")
            .filter(|s| !s.is_empty())
            .map(PolicyType::parse)
            .transpose()?;
        only(p, "ListPolicies", &["Marker", "MaxItems", "PolicyType", "Tag"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let filter = TagFilter::from_json(p)?;
        let keep = |_: &str, pol: &Policy| tags::passes(filter.as_ref(), &pol.tags);
        match t {
            Some(PolicyType::Custom) => {
                let page = st.policies.page_where(param(p, "Marker"), n, keep)?;
                Ok(page.body("Policies", "Policy", custom_policy_json))
            }
            _ => {
                // System policies (and, without a type, custom ones after them) in one list.
                let mut all: Vec<Value> = Vec::new();
                let counts = st.system_attachment_counts();
                // System policies carry no tags: a tag filter leaves only custom ones.
                for s in st.system.iter().filter(|_| filter.is_none()) {
                    let n = counts.get(s.as_str()).copied().unwrap_or(0);
                    all.push(json!({"PolicyName": s, "PolicyType": "System", "DefaultVersion": "v1", "Description": "", "AttachmentCount": n}));
                }
                if t.is_none() {
                    all.extend(
                        st.policies
                            .iter()
                            .filter(|(n, pol)| keep(n, pol))
                            .map(|(n, pol)| custom_policy_json(n, pol)),
                    );
                }
                let start = match param(p, "Marker").filter(|m| !m.is_empty()) {
                    None => 0,
                    Some(m) => m
                        .strip_prefix("SYS")
                        .and_then(|x| x.parse::<usize>().ok())
                        .ok_or_else(|| {
                            ApiError::new(
                                400,
                                "InvalidParameter.Marker",
                                "The parameter - \"Marker\" is incorrect.",
                            )
                        })?,
                };
                let end = (start + n).min(all.len());
                let items: Vec<Value> = all.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
                let mut v = json!({"Policies": {"Policy": items}, "IsTruncated": end < all.len()});
                if end < all.len()
                    && let Some(o) = v.as_object_mut()
                {
                    o.insert("Marker".into(), Value::String(format!("SYS{end}")));
                }
                Ok(v)
            }
        }
    }),
    Action::account("GetPolicy", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        match t {
            PolicyType::Custom => {
                let pol = st.policies.get(name).ok_or_else(no_policy)?;
                Ok(json!({"Policy": custom_policy_json(name, pol)}))
            }
            PolicyType::System if st.system.contains(name) => {
                Ok(json!({"Policy": {"PolicyName": name, "PolicyType": "System", "DefaultVersion": "v1"}}))
            }
            PolicyType::System => Err(no_policy()),
        }
    }),
    Action::account("GetPolicyVersion", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        let id = required(p, "VersionId")?;
        check_version_id(id)?;
        if t == PolicyType::System {
            if !st.system.contains(name) {
                return Err(no_policy());
            }
            if id != "v1" {
                return Err(no_version());
            }
            return Ok(
                json!({"PolicyVersion": {"VersionId": "v1", "IsDefaultVersion": true, "PolicyDocument": DEFAULT_DOC}}),
            );
        }
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        let v = pol.versions.iter().find(|v| v.id == id).ok_or_else(no_version)?;
        Ok(
            json!({"PolicyVersion": {"VersionId": v.id, "IsDefaultVersion": v.id == pol.default_version,
                  "PolicyDocument": v.doc, "CreateDate": utc(v.created)}}),
        )
    }),
    Action::account("CreatePolicy", Mutating, |st, ctx, p| {
        let name = policy_name(p)?;
        let doc = required(p, "PolicyDocument")?;
        if serde_json::from_str::<Value>(doc).is_err() {
            return Err(ApiError::new(
                400,
                "MalformedPolicyDocument",
                "The policy document is not valid JSON.",
            ));
        }
        st.add_policy(name, param(p, "Description").unwrap_or(""), doc, ctx.now)?;
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        Ok(json!({"Policy": custom_policy_json(name, pol)}))
    }),
    Action::account("CreatePolicyVersion", Mutating, |st, ctx, p| {
        let name = policy_name(p)?;
        let doc = required(p, "PolicyDocument")?;
        let v = st.add_version(name, doc, flag(p, "SetAsDefault")?, ctx.now)?;
        let is_default = st.policies.get(name).is_some_and(|x| x.default_version == v.id);
        Ok(
            json!({"PolicyVersion": {"VersionId": v.id, "IsDefaultVersion": is_default, "PolicyDocument": v.doc, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("ListPolicyVersions", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        if t == PolicyType::System {
            if !st.system.contains(name) {
                return Err(no_policy());
            }
            return Ok(
                json!({"PolicyVersions": {"PolicyVersion": [{"VersionId": "v1", "IsDefaultVersion": true, "PolicyDocument": DEFAULT_DOC}]}}),
            );
        }
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        let vs: Vec<Value> = pol
                .versions
                .iter()
                .map(|v| json!({"VersionId": v.id, "IsDefaultVersion": v.id == pol.default_version, "PolicyDocument": v.doc, "CreateDate": utc(v.created)}))
                .collect();
        Ok(json!({"PolicyVersions": {"PolicyVersion": vs}}))
    }),
    Action::account("DeletePolicyVersion", Mutating, |st, _ctx, p| {
        let name = policy_name(p)?;
        st.delete_version(name, required(p, "VersionId")?)?;
        Ok(json!({}))
    }),
    Action::account("DeletePolicy", Mutating, |st, _ctx, p| {
        st.delete_policy(policy_name(p)?, flag(p, "CascadingDelete")?)?;
        Ok(json!({}))
    }),
    Action::account("ListEntitiesForPolicy", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        let holders: Vec<(u8, String, Timestamp)> = match t {
            PolicyType::Custom => {
                let pol = st.policies.get(name).ok_or_else(no_policy)?;
                pol.attached
                    .iter()
                    .map(|(k, n)| (*k, n.clone(), st.attach_date(*k, n, name, t)))
                    .collect()
            }
            PolicyType::System => {
                if !st.system.contains(name) {
                    return Err(no_policy());
                }
                st.system_holders(name)
            }
        };
        let mut users = vec![];
        let mut groups = vec![];
        let mut roles = vec![];
        for (k, n, at) in holders {
            match k {
                    0 => users.push(json!({"UserName": n, "UserId": st.users.get(&n).map(|u| u.id.clone()), "DisplayName": st.users.get(&n).map(|u| u.display_name.clone()), "AttachDate": utc(at)})),
                    1 => groups.push(json!({"GroupName": n, "Comments": "", "AttachDate": utc(at)})),
                    _ => roles.push(json!({"RoleName": n, "RoleId": st.roles.get(&n).map(|r| r.id.clone()), "Arn": st.arn("role", &n.to_lowercase()), "Description": "", "AttachDate": utc(at)})),
                }
        }
        Ok(json!({"Users": {"User": users}, "Groups": {"Group": groups}, "Roles": {"Role": roles}}))
    }),
    Action::account("ListPoliciesForUser", Read, |st, _ctx, p| {
        st.policies_of(0, user_name(p)?)
    }),
    Action::account("ListPoliciesForGroup", Read, |st, _ctx, p| {
        st.policies_of(1, group_name(p)?)
    }),
    Action::account("ListPoliciesForRole", Read, |st, _ctx, p| {
        st.policies_of(2, role_name(p)?)
    }),
    Action::account("AttachPolicyToUser", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 0, true)
    }),
    Action::account("AttachPolicyToGroup", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 1, true)
    }),
    Action::account("AttachPolicyToRole", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 2, true)
    }),
    Action::account("DetachPolicyFromUser", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 0, false)
    }),
    Action::account("DetachPolicyFromGroup", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 1, false)
    }),
    Action::account("DetachPolicyFromRole", Mutating, |st, ctx, p| {
        st.attachment(ctx, p, 2, false)
    }),
    Action::account("GetAccountAlias", Read, |st, _ctx, _p| {
        Ok(json!({"AccountAlias": st.default_domain.trim_end_matches(".onaliyun.com")}))
    }),
    Action::account("SetAccountAlias", Mutating, |st, _ctx, p| {
        let alias = required(p, "AccountAlias")?;
        if alias.len() < 3
            || alias.len() > 63
            || !alias
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ApiError::new(
                400,
                "InvalidParameter.AccountAlias.Format",
                "The format of the parameter - \"AccountAlias\" is incorrect.",
            ));
        }
        st.default_domain = format!("{alias}.onaliyun.com");
        Ok(json!({}))
    }),
    Action::account("ClearAccountAlias", Mutating, |st, _ctx, _p| {
        st.default_domain = RamState::initial_domain(&st.account_id);
        Ok(json!({}))
    }),
];

fn custom_policy_json(name: &str, pol: &Policy) -> Value {
    let mut v = json!({"PolicyName": name, "PolicyType": "Custom", "DefaultVersion": pol.default_version, "Description": pol.description,
           "AttachmentCount": pol.attached.len(), "CreateDate": utc(pol.created), "UpdateDate": utc(pol.created)});
    tags::insert_ram(&mut v, &pol.tags);
    v
}

impl RamState {
    /// `ListPoliciesForUser` / `ForGroup` / `ForRole` (kind 0, 1, 2).
    fn policies_of(&mut self, kind: u8, name: &str) -> Result<Value, ApiError> {
        let name = if kind == 2 {
            self.role_key(name).to_owned()
        } else {
            name.to_owned()
        };
        let list = self.principal_policies(kind, &name)?.clone();
        let items: Vec<Value> = list
            .iter()
            .map(|a| {
                let (dv, desc) = match a.kind {
                    PolicyType::Custom => self
                        .policies
                        .get(&a.name)
                        .map_or(("v1".to_owned(), String::new()), |x| {
                            (x.default_version.clone(), x.description.clone())
                        }),
                    PolicyType::System => ("v1".to_owned(), String::new()),
                };
                policy_json(a, &dv, &desc)
            })
            .collect();
        Ok(json!({"Policies": {"Policy": items}}))
    }

    /// `AttachPolicyTo*` (`attach`) and `DetachPolicyFrom*` for a user, group or role (kind 0, 1, 2).
    fn attachment(
        &mut self,
        ctx: &CallContext,
        p: &Params,
        kind: u8,
        attach: bool,
    ) -> Result<Value, ApiError> {
        let name = match kind {
            0 => user_name(p)?,
            1 => group_name(p)?,
            _ => self.role_key(role_name(p)?),
        }
        .to_owned();
        let pol = policy_name(p)?;
        let t = required(p, "PolicyType")?;
        if attach {
            self.attach(kind, &name, pol, t, ctx.now)?;
        } else {
            self.detach(kind, &name, pol, t)?;
        }
        Ok(json!({}))
    }

    fn attach_date(&self, kind: u8, principal: &str, policy: &str, t: PolicyType) -> Timestamp {
        let list = match kind {
            0 => self.users.get(principal).map(|u| &u.policies),
            1 => self.groups.get(principal).map(|g| &g.policies),
            _ => self.roles.get(principal).map(|r| &r.policies),
        };
        list.and_then(|l| l.iter().find(|a| a.name == policy && a.kind == t))
            .map_or(Timestamp::UNIX_EPOCH, |a| a.date)
    }

    /// `AttachmentCount` of every attached system policy, in one scan of the principals.
    fn system_attachment_counts(&self) -> HashMap<&str, usize> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let lists = self
            .users
            .iter()
            .map(|(_, u)| &u.policies)
            .chain(self.groups.iter().map(|(_, g)| &g.policies))
            .chain(self.roles.iter().map(|(_, r)| &r.policies));
        for a in lists.flatten().filter(|a| a.kind == PolicyType::System) {
            *counts.entry(a.name.as_str()).or_insert(0) += 1;
        }
        counts
    }

    fn system_holders(&self, policy: &str) -> Vec<(u8, String, Timestamp)> {
        let find = |l: &Vec<Attach>| {
            l.iter()
                .find(|a| a.name == policy && a.kind == PolicyType::System)
                .map(|a| a.date)
        };
        let mut out = Vec::new();
        out.extend(
            self.users
                .iter()
                .filter_map(|(n, u)| find(&u.policies).map(|d| (0, n.to_owned(), d))),
        );
        out.extend(
            self.groups
                .iter()
                .filter_map(|(n, g)| find(&g.policies).map(|d| (1, n.to_owned(), d))),
        );
        out.extend(
            self.roles
                .iter()
                .filter_map(|(n, r)| find(&r.policies).map(|d| (2, n.to_owned(), d))),
        );
        out
    }

    /// Starts (or returns the running) deletion task of a service-linked role.
    pub(crate) fn start_slr_deletion(&mut self, role: &str, now: Timestamp) -> Result<String, ApiError> {
        self.settle(now);
        let role = self.role_key(role).to_owned();
        let role = role.as_str();
        let r = self.roles.get_mut(role).ok_or_else(no_role)?;
        let Some(slr) = &r.slr else {
            return Err(not_exist(
                "ServiceLinkedRole",
                "The role exists but is not a service-linked role.",
            ));
        };
        if let Some((id, _)) = &r.latest_task
            && self.tasks.get(id).is_some_and(|t| t.outcome.is_none())
        {
            return Ok(id.clone());
        }
        let id = format!(
            "task/acs-service-role/{}/{role}/{}",
            slr.service,
            uuid::Uuid::new_v4()
        );
        let due = now + jiff::SignedDuration::from_secs(i64::try_from(slr.deletion_seconds).unwrap_or(2));
        r.latest_task = Some((id.clone(), now));
        self.tasks.insert(
            id.clone(),
            SlrTask {
                role: role.to_owned(),
                due,
                outcome: None,
            },
        );
        Ok(id)
    }

    /// Finishes the service-linked role deletions that are due: removes the role or records why not.
    pub(crate) fn settle(&mut self, now: Timestamp) {
        let due: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.outcome.is_none() && t.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let Some(task) = self.tasks.get(&id) else { continue };
            let role = task.role.clone();
            let usage = self
                .roles
                .get(&role)
                .and_then(|r| r.slr.as_ref())
                .map(|s| s.in_use.clone());
            let outcome = match usage {
                Some(u) if !u.is_empty() => Err(u),
                _ => {
                    self.remove_role(&role);
                    Ok(())
                }
            };
            if let Some(t) = self.tasks.get_mut(&id) {
                t.outcome = Some(outcome);
            }
        }
    }

    /// The account ID this state belongs to.
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::Product;

    fn dispatch(st: &mut RamState, c: &CallContext, action: &str, p: &Params) -> Result<Value, ApiError> {
        crate::catalog::run(Product::Ram, st, c, action, p)
    }
    use crate::api::{Caller, Principal};

    fn ctx() -> CallContext {
        CallContext {
            now: Timestamp::now(),
            caller: Caller {
                account_id: "2000000000000001".into(),
                principal: Principal::Root,
                access_key_id: "k".into(),
            },
            page_limit: None,
        }
    }

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn user_conflicts_come_in_documented_order() {
        let seed: RamSeed = serde_saphyr::from_str(
            "users: [{name: a, accessKeys: [{}], loginProfile: true, groups: [g], policies: [{name: ReadOnlyAccess, type: System}]}]\ngroups: [{name: g}]",
        )
        .unwrap();
        let mut st = RamState::from_seed("2000000000000001", &seed, None, Timestamp::now()).unwrap();
        let c = ctx();
        let del = |st: &mut RamState| {
            dispatch(st, &c, "DeleteUser", &p(&[("UserName", "a")]))
                .unwrap_err()
                .code
        };
        assert_eq!(del(&mut st), "DeleteConflict.User.Group");
        dispatch(
            &mut st,
            &c,
            "RemoveUserFromGroup",
            &p(&[("UserName", "a"), ("GroupName", "g")]),
        )
        .unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.AccessKey");
        let k = st.users.get("a").unwrap().keys[0].id.clone();
        dispatch(
            &mut st,
            &c,
            "DeleteAccessKey",
            &p(&[("UserName", "a"), ("UserAccessKeyId", &k)]),
        )
        .unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.LoginProfile");
        dispatch(&mut st, &c, "DeleteLoginProfile", &p(&[("UserName", "a")])).unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.Policy");
        dispatch(
            &mut st,
            &c,
            "DetachPolicyFromUser",
            &p(&[
                ("UserName", "a"),
                ("PolicyName", "ReadOnlyAccess"),
                ("PolicyType", "System"),
            ]),
        )
        .unwrap();
        dispatch(&mut st, &c, "DeleteUser", &p(&[("UserName", "a")])).unwrap();
        assert_eq!(del(&mut st), "EntityNotExist.User");
    }

    #[test]
    fn update_user_renames_in_place_and_get_policy_version_answers() {
        let seed: RamSeed = serde_saphyr::from_str(
            "users: [{name: a, groups: [g], policies: [{name: cp}], mfaDevice: d}, {name: b}]\ngroups: [{name: g}]\npolicies: [{name: cp, versions: 2}]\nvirtualMfaDevices: [{name: d}]",
        )
        .unwrap();
        let mut st = RamState::from_seed("2000000000000001", &seed, None, Timestamp::now()).unwrap();
        let c = ctx();
        let id = st.users.get("a").unwrap().id.clone();
        let v = dispatch(
            &mut st,
            &c,
            "UpdateUser",
            &p(&[
                ("UserName", "a"),
                ("NewUserName", "a2"),
                ("NewDisplayName", "A two"),
            ]),
        )
        .unwrap();
        assert_eq!(v["User"]["UserId"], id.as_str());
        assert_eq!(st.users.iter().map(|x| x.0).collect::<Vec<_>>(), ["a2", "b"]);
        assert!(st.groups.get("g").unwrap().members.contains("a2"));
        assert!(
            st.policies
                .get("cp")
                .unwrap()
                .attached
                .contains(&(0, "a2".into()))
        );
        let e = dispatch(
            &mut st,
            &c,
            "UpdateUser",
            &p(&[("UserName", "a2"), ("NewUserName", "b")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists.User");
        let v = dispatch(
            &mut st,
            &c,
            "GetPolicyVersion",
            &p(&[
                ("PolicyName", "cp"),
                ("PolicyType", "Custom"),
                ("VersionId", "v2"),
            ]),
        )
        .unwrap();
        assert_eq!(v["PolicyVersion"]["IsDefaultVersion"], true);
        let e = dispatch(
            &mut st,
            &c,
            "GetPolicyVersion",
            &p(&[
                ("PolicyName", "cp"),
                ("PolicyType", "Custom"),
                ("VersionId", "v9"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityNotExist.Policy.Version");
    }

    #[test]
    fn tag_filters_filter_for_real_and_unknown_filters_are_refused() {
        let seed: RamSeed = serde_saphyr::from_str(
            "generate: { roles: 30, users: 30 }\nroles: [{name: tagged, tags: [{key: env, value: prod}]}]\nusers: [{name: t, status: freeze, tags: [{key: team, value: core}]}]\npolicies: [{name: p1, tags: [{key: env, value: prod}]}, {name: p2}]",
        )
        .unwrap();
        let mut st = RamState::from_seed("2000000000000001", &seed, None, Timestamp::now()).unwrap();
        let c = ctx();
        let v = dispatch(
            &mut st,
            &c,
            "ListRoles",
            &p(&[("Tag", r#"[{"Key":"env","Value":"prod"}]"#), ("MaxItems", "5")]),
        )
        .unwrap();
        let roles = v["Roles"]["Role"].as_array().unwrap();
        assert_eq!(roles.len(), 1, "{v}");
        assert_eq!(roles[0]["RoleName"], "tagged");
        assert_eq!(roles[0]["Tags"]["Tag"][0]["TagKey"], "env");
        let v = dispatch(&mut st, &c, "ListPolicies", &p(&[("Tag", r#"[{"Key":"env"}]"#)])).unwrap();
        let names: Vec<&str> = v["Policies"]["Policy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["PolicyName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["p1"]);
        let v = dispatch(&mut st, &c, "ListRoles", &p(&[("Tag", r#"[{"Key":"nope"}]"#)])).unwrap();
        assert!(v["Roles"]["Role"].as_array().unwrap().is_empty());
        let e = dispatch(&mut st, &c, "ListRoles", &p(&[("Tag.1.Key", "env")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.Unsupported");
        let e = dispatch(&mut st, &c, "ListUsers", &p(&[("QueryKeyword", "x")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.Unsupported");
        // IMS: repeat-list tags, both states listed when a tag filter is given
        let v = crate::catalog::run(
            Product::Ims,
            &mut st,
            &c,
            "ListUsers",
            &p(&[("Tag.1.Key", "team"), ("Tag.1.Value", "core"), ("MaxItems", "3")]),
        )
        .unwrap();
        let users = v["Users"]["User"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{v}");
        assert_eq!(users[0]["Status"], "freeze");
        // role names are unique regardless of case and found in any case
        let e = dispatch(
            &mut st,
            &c,
            "CreateRole",
            &p(&[("RoleName", "TAGGED"), ("AssumeRolePolicyDocument", "{}")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists.Role");
        let v = dispatch(&mut st, &c, "GetRole", &p(&[("RoleName", "Tagged")])).unwrap();
        assert_eq!(v["Role"]["RoleName"], "tagged");
    }

    #[test]
    fn seed_with_unknown_reference_names_the_item() {
        let seed: RamSeed = serde_saphyr::from_str("users: [{name: a, groups: [nope]}]").unwrap();
        let e = RamState::from_seed("2000000000000001", &seed, None, Timestamp::now()).unwrap_err();
        assert!(e.contains("a:") && e.contains("group"), "{e}");
    }
}
