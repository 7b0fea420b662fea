//! RAM (2015-05-01) of one account: users and everything hanging off them, groups, roles (including
//! service-linked roles), custom policies with versions, virtual MFA devices, and the IMS-only parts
//! (identity providers, default domain, recycle bin) that [`super::ims`] serves from the same state.
//!
//! The conflict rules are the real ones (alibaba-api.md §4.3): a delete with a dependency left answers
//! the `DeleteConflict.*` code of the first dependency in the documented order.
//!
//! This file holds the state every family shares; each family keeps its building blocks, its
//! conflict rules and its rows of the action table together: [`users`], [`credentials`] (AccessKeys
//! and login profiles), [`groups`], [`roles`] (with service-linked role deletion tasks),
//! [`policies`] (custom policies and versions), [`attachments`] (policies on users, groups and
//! roles), [`mfa`] and [`account`] (alias, summary and dumps). [`seed`] and [`generate`] build the
//! state from a seed; [`params`] and [`errors`] are the parameter checks and error answers they share.

mod account;
mod attachments;
mod credentials;
mod errors;
mod generate;
mod groups;
mod mfa;
mod params;
mod policies;
mod roles;
mod seed;
mod users;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use crate::api::ApiError;
use crate::catalog::Action;
use crate::ims_apps::Apps;
use crate::ims_users::UserExtras;
use crate::table::Table;
use crate::tags::Tag;

pub use account::SummaryCounts;
pub use generate::GenerateSeed;
pub use roles::trusted_account;
pub use seed::{
    GroupSeed, NamedSeed, OPTIONAL_CONFLICTS, OidcSeed, PolicyRef, PolicySeed, RamSeed, RecycleSeed,
    RecycledUserSeed, RoleSeed, SlrSeed, UsageSeed, UserKeySeed, UserSeed,
};
pub(crate) use users::{UserOp, user_op_actions};

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

/// Every RAM action the emulator answers: one table per family, and the service-linked role action
/// of [`super::slr`]; [`crate::catalog`] indexes them.
pub const TABLES: &[&[Action]] = &[
    users::ACTIONS,
    users::USER_OP_ACTIONS,
    credentials::ACTIONS,
    groups::ACTIONS,
    mfa::ACTIONS,
    roles::ACTIONS,
    policies::ACTIONS,
    attachments::ACTIONS,
    account::ACTIONS,
    crate::slr::RAM_ACTIONS,
];

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
    /// `System` or `Custom`; anything else is `InvalidParameter.PolicyType`.
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
    /// The wire name.
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
    pub(crate) tasks: BTreeMap<String, SlrTask>,
    /// Passkeys and service credentials ([`super::ims_users`]).
    pub(crate) extras: UserExtras,
    /// OAuth applications ([`super::ims_apps`]).
    pub(crate) apps: Apps,
    /// `conflicts:` of the seed that concern users.
    strict_passkeys: bool,
    strict_credentials: bool,
}

/// The RAM timestamp form `2015-01-23T12:33:18Z`.
#[must_use]
pub fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
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
            tasks: BTreeMap::new(),
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

    /// A 16-digit user, group or role ID (the service's are 15-17 digits), unique in the account.
    fn next_id(&mut self) -> String {
        self.seq += 1;
        let tail = &self.account_id[self.account_id.len().saturating_sub(8)..];
        format!("2{tail}{:07}", self.seq)
    }

    /// A new AccessKey ID in the service's `LTAI5t...` form, unique in the account.
    fn key_id(&mut self) -> String {
        self.seq += 1;
        let tail = &self.account_id[self.account_id.len().saturating_sub(6)..];
        format!("LTAI5t{tail}{:012}", self.seq)
    }

    /// `acs:ram::<account>:mfa/<name>`.
    fn serial(&self, name: &str) -> String {
        format!("acs:ram::{}:mfa/{name}", self.account_id)
    }

    /// `acs:ram::<account>:<kind>/<name>`.
    fn arn(&self, kind: &str, name: &str) -> String {
        format!("acs:ram::{}:{kind}/{name}", self.account_id)
    }

    /// A user's principal name under the current default domain.
    pub(crate) fn upn(&self, user: &str) -> String {
        format!("{user}@{}", self.default_domain)
    }

    /// The numeric `UserId` of a RAM user (for `GetCallerIdentity`).
    #[must_use]
    pub fn user_id(&self, name: &str) -> Option<&str> {
        self.users.get(name).map(|u| u.id.as_str())
    }

    /// The account ID this state belongs to.
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}
