//! The cheap "is it still empty" check. RAM counts as empty only when a second look some seconds
//! after the first agrees, and later passes (while ResourceManager checks and deletes the account)
//! keep looking. Listing everything again costs one call per kind plus one per remaining user;
//! IMS `GetAccountSummary` counts users, groups, roles, custom policies and virtual MFA devices
//! in one call (alibaba-api.md §10.5). So, once an inventory found the account empty (except what is
//! retained), a later look is:
//!
//! - `GetAccountSummary`: its `Users`, `Groups`, `Policies` and `MFADevices` must equal what that
//!   inventory kept; `Roles` must equal the kept roles plus service-linked roles (whether the
//!   service counts service-linked roles there is not documented: when it does not match, roles
//!   are listed instead, one call);
//! - the kinds the summary does not count, listed as usual: SAML and OIDC providers, OAuth
//!   applications, the default domain, and the IMS recycle bin.
//!
//! Any difference falls back to the full inventory, so the check can only save calls, never hide
//! an object.

use std::collections::{BTreeMap, BTreeSet};

use ado_core::{Kind, PlanApi, PlanOptions};

/// Calls the cheap check made, for logs and the benchmark.
pub const CHECK_CALLS: &str = "GetAccountSummary + provider, application, recycle-bin and domain listings";

/// True when the account is unchanged since the inventory whose per-kind counts are `kept`
/// (which found nothing to delete). `Ok(false)` means: run the full inventory.
///
/// # Errors
/// A failed call (the caller treats it like a failed inventory).
pub async fn still_empty<A: PlanApi>(
    api: &A,
    kept: &BTreeMap<String, u64>,
    opts: &PlanOptions,
    account_id: &str,
) -> Result<bool, A::Error> {
    let Some(s) = api.account_summary().await? else {
        return Ok(false);
    };
    let want = |k: Kind| kept.get(k.as_str()).copied().unwrap_or(0);
    let counted = [
        (s.users, want(Kind::Users)),
        (s.groups, want(Kind::Groups)),
        (s.policies, want(Kind::CustomPolicies)),
        (s.mfa_devices, want(Kind::VirtualMfaDevices)),
    ];
    if counted.iter().any(|(have, want)| *have != Some(*want)) {
        return Ok(false);
    }
    let roles = want(Kind::Roles) + want(Kind::ServiceLinkedRoles);
    if s.roles != Some(roles) {
        let listed = api.list_roles().await?.len() as u64;
        if listed != roles {
            return Ok(false);
        }
    }
    // The kinds the summary does not count: discover and plan them as usual.
    let rest: BTreeSet<Kind> = [
        Kind::SamlProviders,
        Kind::OidcProviders,
        Kind::Applications,
        Kind::DefaultDomain,
    ]
    .into_iter()
    .collect();
    let inv = ado_core::inventory::discover_with(
        api,
        &rest,
        account_id,
        ado_core::inventory::DEFAULT_DISCOVERY_CONCURRENCY,
        ado_core::inventory::Attachments::Auto,
        &BTreeSet::new(),
    )
    .await?;
    let partial = PlanOptions {
        kinds: rest,
        ..opts.clone()
    };
    let Ok(plan) = ado_core::build(&inv, &partial) else {
        return Ok(false);
    };
    if !plan.is_empty() {
        return Ok(false);
    }
    let Ok(retain) = opts.retain.compile(&opts.access_role) else {
        return Ok(false);
    };
    let bin = api.list_users_in_recycle_bin().await?;
    Ok(bin
        .iter()
        .all(|u| retain.is_retained(Kind::Users, ado_core::model::user_name_from_upn(&u.upn))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ado_testkit::fake::{FakeAccount, FakeState, FakeUser};

    fn kept() -> BTreeMap<String, u64> {
        BTreeMap::from([
            ("users".to_string(), 1),
            ("groups".to_string(), 0),
            ("roles".to_string(), 1),
            ("serviceLinkedRoles".to_string(), 0),
            ("customPolicies".to_string(), 0),
            ("virtualMfaDevices".to_string(), 0),
        ])
    }

    fn empty_but_keeper() -> FakeState {
        let mut s = FakeState::rich("1234567890123456");
        s.users.retain(|n, _| n == "breakglass");
        if let Some(u) = s.users.get_mut("breakglass") {
            u.policies.clear();
        }
        s.groups.clear();
        s.roles.retain(|n, _| n == "ResourceDirectoryAccountAccessRole");
        s.policies.clear();
        s.mfa_devices.clear();
        s.saml.clear();
        s.oidc.clear();
        s.bin.clear();
        s.apps.clear();
        s.external_apps.clear();
        s.domain = "1234567890123456.onaliyun.com".into();
        s
    }

    fn opts() -> PlanOptions {
        let mut o = PlanOptions::default();
        o.retain.users = vec!["breakglass".into()];
        o
    }

    #[tokio::test]
    async fn an_unchanged_account_is_confirmed_with_a_handful_of_calls() {
        let fake = FakeAccount::new(empty_but_keeper());
        assert!(
            still_empty(&fake, &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
        let reads = fake.state.lock().unwrap().reads;
        assert!(reads <= 10, "{reads} calls");
    }

    #[tokio::test]
    async fn anything_new_falls_back_to_the_full_inventory() {
        // A new user: the summary differs.
        let mut s = empty_but_keeper();
        s.users.insert("new".into(), FakeUser::default());
        assert!(
            !still_empty(&FakeAccount::new(s), &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
        // A new SAML provider: not counted by the summary, found by its listing.
        let mut s = empty_but_keeper();
        s.saml.insert("okta".into());
        assert!(
            !still_empty(&FakeAccount::new(s), &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
        // A new OAuth application.
        let mut s = empty_but_keeper();
        s.external_apps.insert("9".into(), "Gitee".into());
        assert!(
            !still_empty(&FakeAccount::new(s), &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
        // A recycled user that is not retained.
        let mut s = empty_but_keeper();
        s.bin
            .insert("20001".into(), ("gone@x.onaliyun.com".into(), Default::default()));
        assert!(
            !still_empty(&FakeAccount::new(s), &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
        // A custom domain.
        let mut s = empty_but_keeper();
        s.domain = "corp.onaliyun.com".into();
        assert!(
            !still_empty(&FakeAccount::new(s), &kept(), &opts(), "1234567890123456")
                .await
                .unwrap()
        );
    }
}
