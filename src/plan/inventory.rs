//! Discovery: one pass over a member account with the cheapest calls for its shape.
//!
//! - Users come from IMS `ListUsers` with `Status=active,freeze` (the RAM listing does not document
//!   frozen users; IMS does, returns `UserId`/UPN the recycle-bin calls need, and pages by 1,000).
//! - MFA bindings come from one `ListVirtualMFADevices` instead of one `GetUserMFAInfo` per user.
//! - Group memberships come from one `ListUsersForGroup` per group (at most 50) instead of one
//!   `ListGroupsForUser` per user (up to 1,000).
//! - Per-user calls (`ListAccessKeys`, `GetLoginProfile`, `ListPoliciesForUser`) only when users are
//!   selected; per-group and per-role policy listings only for their kinds; service-linked roles
//!   need none (ResourceManager deletes them with their policies).
//! - Custom policies: no version listing (they are deleted with `CascadingDelete=true`), and
//!   `ListEntitiesForPolicy` only for attached policies when some principal kind is not discovered.
//! - Sub-calls run concurrently, at most `concurrency` at a time (`buffer_unordered`).

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt, stream};

use super::api::PlanApi;
use super::model::{
    DefaultDomain, Group, Inventory, Kind, RecycledUser, Role, SERVICE_LINKED_ROLE_PREFIX, ServiceLinkedRole,
    User,
};

/// Concurrent sub-calls during discovery when the caller does not say.
pub const DEFAULT_DISCOVERY_CONCURRENCY: usize = 8;

/// Discovers the given kinds with [`DEFAULT_DISCOVERY_CONCURRENCY`].
///
/// # Errors
/// The first failed call (the client already retried throttling and transient errors).
pub async fn discover<A: PlanApi>(
    api: &A,
    kinds: &BTreeSet<Kind>,
    account_id: &str,
) -> Result<Inventory, A::Error> {
    discover_with(api, kinds, account_id, DEFAULT_DISCOVERY_CONCURRENCY).await
}

/// Discovers the given kinds with at most `concurrency` calls in flight.
///
/// # Errors
/// The first failed call.
pub async fn discover_with<A: PlanApi>(
    api: &A,
    kinds: &BTreeSet<Kind>,
    account_id: &str,
    concurrency: usize,
) -> Result<Inventory, A::Error> {
    let n = concurrency.max(1);
    let sel = |k: Kind| kinds.contains(&k);
    let mut inv = Inventory::new(account_id);
    inv.kinds = kinds.iter().copied().collect();

    if sel(Kind::Users) {
        let listed = api.list_users().await?;
        inv.users = stream::iter(listed)
            .map(|u| async move {
                let access_keys = api.list_access_keys(&u.name).await?;
                let login_profile = api.has_login_profile(&u.name).await?;
                let policies = api.list_policies_for_user(&u.name).await?;
                Ok::<User, A::Error>(User {
                    name: u.name,
                    id: u.id,
                    upn: u.upn,
                    frozen: u.frozen,
                    access_keys,
                    login_profile,
                    mfa_serial: None,
                    policies,
                })
            })
            .buffer_unordered(n)
            .try_collect()
            .await?;
        inv.users.sort_by(|a, b| a.name.cmp(&b.name));

        let bin = api.list_users_in_recycle_bin().await?;
        inv.recycle_bin = stream::iter(bin)
            .map(|u| async move {
                let access_keys = api.list_access_keys_in_recycle_bin(&u.id).await?;
                Ok::<RecycledUser, A::Error>(RecycledUser {
                    id: u.id,
                    upn: u.upn,
                    access_keys,
                })
            })
            .buffer_unordered(n)
            .try_collect()
            .await?;
        inv.recycle_bin.sort_by(|a, b| a.upn.cmp(&b.upn));
    }

    if sel(Kind::Users) || sel(Kind::VirtualMfaDevices) {
        let devices = api.list_virtual_mfa_devices().await?;
        let by_user: HashMap<&str, &str> = devices
            .iter()
            .filter_map(|d| d.user.as_deref().map(|u| (u, d.serial.as_str())))
            .collect();
        for u in &mut inv.users {
            u.mfa_serial = by_user.get(u.name.as_str()).map(|s| (*s).to_string());
        }
        if sel(Kind::VirtualMfaDevices) {
            inv.virtual_mfa_devices = devices;
            inv.virtual_mfa_devices.sort_by(|a, b| a.serial.cmp(&b.serial));
        }
    }

    if sel(Kind::Users) || sel(Kind::Groups) {
        let with_policies = sel(Kind::Groups);
        let names = api.list_groups().await?;
        inv.groups = stream::iter(names)
            .map(|name| async move {
                let members = api.list_users_for_group(&name).await?;
                let policies = if with_policies {
                    api.list_policies_for_group(&name).await?
                } else {
                    Vec::new()
                };
                Ok::<Group, A::Error>(Group {
                    name,
                    members,
                    policies,
                })
            })
            .buffer_unordered(n)
            .try_collect()
            .await?;
        inv.groups.sort_by(|a, b| a.name.cmp(&b.name));
    }

    if sel(Kind::Roles) || sel(Kind::ServiceLinkedRoles) {
        let names = api.list_roles().await?;
        let (slrs, normal): (Vec<String>, Vec<String>) = names
            .into_iter()
            .partition(|r| r.starts_with(SERVICE_LINKED_ROLE_PREFIX));
        if sel(Kind::ServiceLinkedRoles) {
            inv.service_linked_roles = slrs.into_iter().map(|name| ServiceLinkedRole { name }).collect();
            inv.service_linked_roles.sort_by(|a, b| a.name.cmp(&b.name));
        }
        if sel(Kind::Roles) {
            inv.roles = stream::iter(normal)
                .map(|name| async move {
                    let policies = api.list_policies_for_role(&name).await?;
                    Ok::<Role, A::Error>(Role { name, policies })
                })
                .buffer_unordered(n)
                .try_collect()
                .await?;
            inv.roles.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    if sel(Kind::CustomPolicies) {
        let principals_known = sel(Kind::Users) && sel(Kind::Groups) && sel(Kind::Roles);
        let listed = api.list_custom_policies().await?;
        inv.custom_policies = stream::iter(listed)
            .map(|mut p| async move {
                if !principals_known && p.attachment_count > 0 {
                    let mut e = api.list_entities_for_policy(&p.name).await?;
                    e.sort();
                    p.attached_to = Some(e);
                }
                Ok::<_, A::Error>(p)
            })
            .buffer_unordered(n)
            .try_collect()
            .await?;
        inv.custom_policies.sort_by(|a, b| a.name.cmp(&b.name));
    }

    if sel(Kind::SamlProviders) {
        inv.saml_providers = api.list_saml_providers().await?;
        inv.saml_providers.sort();
    }
    if sel(Kind::OidcProviders) {
        inv.oidc_providers = api.list_oidc_providers().await?;
        inv.oidc_providers.sort();
    }
    if sel(Kind::DefaultDomain) {
        inv.default_domain = Some(DefaultDomain {
            current: api.get_default_domain().await?,
            initial: Inventory::initial_domain(account_id),
        });
    }
    Ok(inv)
}
