//! Account-wide views of the RAM state: the alias (the default domain's prefix), the counters of
//! IMS `GetAccountSummary`, and the dump and object count the admin API and the demo show.

use serde_json::{Value, json};

use super::RamState;
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, required};
use crate::catalog::Action;

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

impl RamState {
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
}

/// The RAM account alias actions.
pub(super) const ACTIONS: &[Action] = &[
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
