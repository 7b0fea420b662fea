//! `generate:` of a seed: bulk content on top of the listed items, interlinked the way real accounts
//! are, for demo and benchmark accounts of any size.

use serde::Deserialize;

use super::SLR_PREFIX;
use super::seed::{
    GroupSeed, NamedSeed, OidcSeed, PolicyRef, PolicySeed, RamSeed, RecycledUserSeed, RoleSeed, SlrSeed,
    UserKeySeed, UserSeed,
};
use crate::ims_apps::{ApplicationSeed, ExternalAppSeed};
use crate::ims_users::{PasskeySeed, ServiceCredentialSeed};

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
