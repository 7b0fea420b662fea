//! The `ram:` block of an account in the seed, and the state it builds: the listed objects are
//! created through the same building blocks the actions use, so a seed can hold nothing the API
//! would refuse (bulk content from `generate:` is in [`super::generate`]).

use jiff::Timestamp;
use serde::Deserialize;

use super::generate::GenerateSeed;
use super::params::check_name;
use super::policies::DEFAULT_DOC;
use super::roles::{service_trust_doc, trust_doc};
use super::{Mfa, Provider, RamState, Recycled, SLR_PREFIX, Slr};
use crate::api::ApiError;
use crate::ims_apps::{ApplicationSeed, Apps, ExternalAppSeed};
use crate::ims_users::{PasskeySeed, ServiceCredentialSeed};
use crate::tags::{self, Tag};

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

// serde defaults of the seed fields above.
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

impl RamState {
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
            st.add_role(&s.name, 3600, &service_trust_doc(&s.service), Some(slr), now)
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn seed_with_unknown_reference_names_the_item() {
        let seed: RamSeed = serde_saphyr::from_str("users: [{name: a, groups: [nope]}]").unwrap();
        let e = RamState::from_seed("2000000000000001", &seed, None, Timestamp::now()).unwrap_err();
        assert!(e.contains("a:") && e.contains("group"), "{e}");
    }
}
