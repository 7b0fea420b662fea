//! The seed: a YAML description of one Resource Directory, the keys the emulator accepts and every
//! member account with its RAM content and how its deletion will go. Users write these to try the
//! operator; tests and the benchmark generate them. Format reference: `docs/emulator.md`.

use std::path::Path;

use serde::Deserialize;

use super::ram::RamSeed;

/// The role Resource Directory creates in every member it creates (and the management account
/// assumes), unless a seed names another.
pub const DEFAULT_ACCESS_ROLE: &str = "ResourceDirectoryAccountAccessRole";

/// Why a seed was refused: always names the item and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed {path}: {source}")]
    Io {
        /// The seed path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid YAML or an unknown / mistyped field.
    #[error("seed is not valid: {0}")]
    Yaml(String),
    /// Valid YAML that describes an impossible world.
    #[error("seed is inconsistent: {0}")]
    Invalid(String),
}

/// The whole seed document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// The directory the management account owns.
    pub resource_directory: DirectorySeed,
    /// Keys the emulator accepts (usually the management account's).
    #[serde(default)]
    pub access_keys: Vec<KeySeed>,
    /// Member accounts.
    #[serde(default)]
    pub accounts: Vec<AccountSeed>,
}

/// `resourceDirectory:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectorySeed {
    /// `rd-...`.
    pub id: String,
    /// `r-...`.
    pub root_folder_id: String,
    /// The management account (16 digits).
    pub management_account_id: String,
    /// Its login name.
    #[serde(default)]
    pub management_account_name: String,
    /// `Enabled` or `Disabled` (then every deletion answers `NoLicense.ResourceDirectory`).
    #[serde(default = "enabled")]
    pub member_deletion_status: String,
}

/// One entry of `accessKeys:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySeed {
    /// The AccessKey ID.
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: String,
    /// Owner account.
    pub account_id: String,
    /// RAM user owning the key; absent: the account's root identity.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Disabled keys answer `InvalidAccessKeyId.Inactive`.
    #[serde(default = "yes")]
    pub active: bool,
    /// Action patterns this key may call (`ram:List*`); default everything.
    #[serde(default = "allow_all")]
    pub allow: Vec<String>,
}

/// One entry of `accounts:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSeed {
    /// 16 digits.
    pub account_id: String,
    /// The display name ResourceManager reports.
    pub display_name: String,
    /// `ResourceAccount` (created in the directory) or `CloudAccount` (invited).
    #[serde(default = "resource_account", rename = "type")]
    pub kind: String,
    /// `CreateSuccess`, `InviteSuccess`, ...
    #[serde(default = "create_success")]
    pub status: String,
    /// The role the management account assumes into this member.
    #[serde(default)]
    pub access_role: AccessRoleSeed,
    /// RAM content; absent: empty RAM.
    #[serde(default)]
    pub ram: Option<RamSeed>,
    /// How the deletion pre-check and the deletion itself behave.
    #[serde(default)]
    pub deletion: DeletionSeed,
    /// ResourceManager tags of the member (`ListAccounts` filters on them).
    #[serde(default)]
    pub tags: Vec<super::tags::Tag>,
}

/// `accessRole:` of an account.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRoleSeed {
    /// Role name, default `ResourceDirectoryAccountAccessRole`.
    #[serde(default = "access_role_name")]
    pub name: String,
    /// `false`: the role is missing (AssumeRole answers `EntityNotExist.Role`).
    #[serde(default = "yes")]
    pub present: bool,
    /// Longest session `AssumeRole` grants, seconds.
    #[serde(default = "one_hour")]
    pub max_session_duration: u32,
}

impl Default for AccessRoleSeed {
    fn default() -> Self {
        Self {
            name: access_role_name(),
            present: true,
            max_session_duration: one_hour(),
        }
    }
}

/// One check of the deletion pre-check.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckSeed {
    /// `NON_SP_efc`, ...
    pub check_id: String,
    /// Service name.
    pub check_name: String,
    /// What the check found.
    #[serde(default)]
    pub description: String,
}

/// One fail reason of a failed deletion.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailReasonSeed {
    /// Short name.
    pub name: String,
    /// What went wrong.
    #[serde(default)]
    pub description: String,
}

/// `deletion:` of an account: time is the emulator's clock, which tests advance.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletionSeed {
    /// Seconds from `CheckAccountDelete` to `PreCheckComplete`.
    #[serde(default = "two")]
    pub check_seconds: u64,
    /// Checks that forbid the deletion.
    #[serde(default)]
    pub blocking: Vec<CheckSeed>,
    /// Checks the caller may waive with `AbandonableCheckId`.
    #[serde(default)]
    pub abandonable: Vec<CheckSeed>,
    /// 0 = deleted directly, 1 = silence period.
    #[serde(default)]
    pub deletion_type: u8,
    /// Seconds `Deleting` lasts for type 0.
    #[serde(default = "three")]
    pub deleting_seconds: u64,
    /// Seconds `Deleting` lasts for type 1.
    #[serde(default = "thirty")]
    pub silence_seconds: u64,
    /// Non-empty: the deletion ends in `DeleteFailed` with these reasons.
    #[serde(default)]
    pub fail_reasons: Vec<FailReasonSeed>,
    /// An error code `DeleteAccount` answers (409), e.g. `NotSupport.HasPayerAccount`.
    #[serde(default)]
    pub delete_error: Option<String>,
    /// An error code `CheckAccountDelete` answers (409), e.g. `LegalEntityDifferent`.
    #[serde(default)]
    pub check_error: Option<String>,
}

impl Default for DeletionSeed {
    fn default() -> Self {
        Self {
            check_seconds: two(),
            blocking: Vec::new(),
            abandonable: Vec::new(),
            deletion_type: 0,
            deleting_seconds: three(),
            silence_seconds: thirty(),
            fail_reasons: Vec::new(),
            delete_error: None,
            check_error: None,
        }
    }
}

fn enabled() -> String {
    "Enabled".into()
}
fn yes() -> bool {
    true
}
fn allow_all() -> Vec<String> {
    vec!["*".into()]
}
fn resource_account() -> String {
    "ResourceAccount".into()
}
fn create_success() -> String {
    "CreateSuccess".into()
}
fn access_role_name() -> String {
    DEFAULT_ACCESS_ROLE.into()
}
fn one_hour() -> u32 {
    3600
}
fn two() -> u64 {
    2
}
fn three() -> u64 {
    3
}
fn thirty() -> u64 {
    30
}

impl Seed {
    /// Parses and checks a seed document.
    ///
    /// # Errors
    /// Invalid YAML, unknown fields, or an inconsistent world (duplicate or malformed ids).
    pub fn from_yaml(text: &str) -> Result<Seed, SeedError> {
        let seed: Seed = serde_saphyr::from_str(text).map_err(|e| SeedError::Yaml(e.to_string()))?;
        seed.check()?;
        Ok(seed)
    }

    /// Reads and parses a seed file.
    ///
    /// # Errors
    /// The file cannot be read, or [`Seed::from_yaml`] refuses it.
    pub fn from_file(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    fn check(&self) -> Result<(), SeedError> {
        let rd = &self.resource_directory;
        if !is_account_id(&rd.management_account_id) {
            return Err(SeedError::Invalid(format!(
                "resourceDirectory.managementAccountId {:?} must be 16 digits",
                rd.management_account_id
            )));
        }
        if !matches!(rd.member_deletion_status.as_str(), "Enabled" | "Disabled") {
            return Err(SeedError::Invalid(format!(
                "resourceDirectory.memberDeletionStatus {:?} must be Enabled or Disabled",
                rd.member_deletion_status
            )));
        }
        let mut ids = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if !is_account_id(&a.account_id) {
                return Err(SeedError::Invalid(format!(
                    "accounts[].accountId {:?} must be 16 digits",
                    a.account_id
                )));
            }
            if a.account_id == rd.management_account_id {
                return Err(SeedError::Invalid(format!(
                    "account {} is the management account; list members only",
                    a.account_id
                )));
            }
            if !ids.insert(a.account_id.clone()) {
                return Err(SeedError::Invalid(format!(
                    "account {} is listed twice",
                    a.account_id
                )));
            }
            if !matches!(a.kind.as_str(), "ResourceAccount" | "CloudAccount") {
                return Err(SeedError::Invalid(format!(
                    "account {}: type {:?} must be ResourceAccount or CloudAccount",
                    a.account_id, a.kind
                )));
            }
            if a.deletion.deletion_type > 1 {
                return Err(SeedError::Invalid(format!(
                    "account {}: deletion.deletionType must be 0 or 1",
                    a.account_id
                )));
            }
            super::tags::check_seed(&a.tags)
                .map_err(|e| SeedError::Invalid(format!("account {}: tags: {e}", a.account_id)))?;
            if !(900..=43_200).contains(&a.access_role.max_session_duration) {
                return Err(SeedError::Invalid(format!(
                    "account {}: accessRole.maxSessionDuration must be 900..43200",
                    a.account_id
                )));
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for k in &self.access_keys {
            if !keys.insert(k.access_key_id.clone()) {
                return Err(SeedError::Invalid(format!(
                    "access key {} is listed twice",
                    k.access_key_id
                )));
            }
            super::patterns::check(&k.allow)
                .map_err(|e| SeedError::Invalid(format!("access key {}: allow: {e}", k.access_key_id)))?;
            if k.account_id != rd.management_account_id && !ids.contains(&k.account_id) {
                return Err(SeedError::Invalid(format!(
                    "access key {} belongs to unknown account {}",
                    k.access_key_id, k.account_id
                )));
            }
        }
        Ok(())
    }
}

/// 16 decimal digits, the form of every Alibaba Cloud account ID.
#[must_use]
pub fn is_account_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit())
}
