//! Discovery: one pass over a member account with the cheapest calls for its shape.
//!
//! - Users come from IMS `ListUsers` with `Status=active,freeze` (the RAM listing does not document
//!   frozen users; IMS does, returns `UserId`/UPN the recycle-bin calls need, and pages by 1,000).
//! - MFA bindings come from one `ListVirtualMFADevices` instead of one `GetUserMFAInfo` per user.
//! - Group memberships come from one `ListUsersForGroup` per group (at most 50) instead of one
//!   `ListGroupsForUser` per user (up to 1,000).
//! - Login profiles are not looked up: the plan deletes the profile of every deleted user and
//!   "not found" means there was none (one call per user instead of up to two).
//! - Policy attachments are read from whichever side needs fewer calls: one
//!   `ListPoliciesFor{User,Group,Role}` per principal to empty, or one `ListEntitiesForPolicy` per
//!   policy whose `AttachmentCount` is not zero (custom and system). [`Attachments::ByPrincipal`]
//!   forces the first, for a pass after the service refused a delete with `DeleteConflict.*.Policy`.
//! - Custom policies: no version listing (they are deleted with `CascadingDelete=true`).
//! - Service-linked roles need no sub-calls (ResourceManager deletes them with their policies).
//! - Service credentials come from one `ListServiceCredentials AllUsers=true` listing; passkeys are
//!   listed per user only for users the service refused to delete because of them.
//! - OAuth applications: `ListApplications` with one `ListAppSecretIds` each, and one
//!   `ListApplicationProvisionInfos` for installed ServerApps (`inner`) and third-party apps
//!   (`external`).
//! - Sub-calls run concurrently, at most `concurrency` at a time per stage (`buffer_unordered`);
//!   the attachment, key and membership stages run at the same time.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt, stream};

use super::api::{AppSource, PlanApi};
use super::model::{
    Application, CustomPolicy, DefaultDomain, ExternalApplication, Group, Inventory, Kind, PolicyRef,
    PolicyType, PrincipalKind, RecycledUser, Role, SERVICE_LINKED_ROLE_PREFIX, ServiceLinkedRole, User,
};

/// Concurrent sub-calls during discovery when the caller does not say.
pub const DEFAULT_DISCOVERY_CONCURRENCY: usize = 8;

/// How policy attachments are discovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Attachments {
    /// Whichever side needs fewer calls for this account.
    #[default]
    Auto,
    /// One listing per principal: does not rely on `AttachmentCount`.
    ByPrincipal,
}

/// Discovers the given kinds with [`DEFAULT_DISCOVERY_CONCURRENCY`].
///
/// # Errors
/// The first failed call (the client already retried throttling and transient errors).
pub async fn discover<A: PlanApi>(
    api: &A,
    kinds: &BTreeSet<Kind>,
    account_id: &str,
) -> Result<Inventory, A::Error> {
    discover_with(
        api,
        kinds,
        account_id,
        DEFAULT_DISCOVERY_CONCURRENCY,
        Attachments::Auto,
        &BTreeSet::new(),
    )
    .await
}

/// Attachments of one principal, keyed by kind and name.
type AttachmentMap = HashMap<(PrincipalKind, String), Vec<PolicyRef>>;

/// Principals holding a policy.
type Holders = Vec<(PrincipalKind, String)>;

/// Discovers the given kinds with at most `concurrency` calls in flight. `passkeys_for` names the
/// users whose passkeys are listed (one call each: only users the service refused to delete
/// because of them).
///
/// # Errors
/// The first failed call.
pub async fn discover_with<A: PlanApi>(
    api: &A,
    kinds: &BTreeSet<Kind>,
    account_id: &str,
    concurrency: usize,
    attachments: Attachments,
    passkeys_for: &BTreeSet<String>,
) -> Result<Inventory, A::Error> {
    let n = concurrency.max(1);
    let sel = |k: Kind| kinds.contains(&k);
    let mut inv = Inventory::new(account_id);
    inv.kinds = kinds.iter().copied().collect();

    // 1. The listings (a few pages each).
    let users = if sel(Kind::Users) {
        api.list_users().await?
    } else {
        Vec::new()
    };
    let groups = if sel(Kind::Users) || sel(Kind::Groups) {
        api.list_groups().await?
    } else {
        Vec::new()
    };
    let (mut slrs, mut roles) = (Vec::new(), Vec::new());
    if sel(Kind::Roles) || sel(Kind::ServiceLinkedRoles) {
        (slrs, roles) = api
            .list_roles()
            .await?
            .into_iter()
            .partition(|r| r.name.starts_with(SERVICE_LINKED_ROLE_PREFIX));
    }
    let per_principal = [
        (Kind::Users, users.len()),
        (Kind::Groups, groups.len()),
        (Kind::Roles, roles.len()),
    ]
    .iter()
    .filter(|(k, _)| sel(*k))
    .map(|(_, c)| c)
    .sum::<usize>();
    let mut policies = if sel(Kind::CustomPolicies) || (per_principal > 0 && attachments == Attachments::Auto)
    {
        api.list_custom_policies().await?
    } else {
        Vec::new()
    };

    // 2. Which side of the attachments to read.
    let mut system: Vec<(String, u32)> = Vec::new();
    let mut by_policy = false;
    if per_principal > 0 && attachments == Attachments::Auto {
        let custom_attached = policies.iter().filter(|p| p.attachment_count > 0).count();
        if custom_attached < per_principal {
            system = api.list_system_policy_attachments().await?;
            by_policy = custom_attached + system.len() < per_principal;
        }
    }
    let by_principal = per_principal > 0 && !by_policy;

    // 3. Per-object calls: the attachment lookups, the users' key listings and the groups'
    // member listings run at the same time (each at most `n` in flight), so an API with a quota of
    // its own (`Throttling.Api`) slows only its own stage.
    let attachments_fut = async {
        if by_policy {
            attachments_by_policy(api, &mut policies, system, n).await
        } else {
            Ok(HashMap::new())
        }
    };
    let users_fut = async {
        if !sel(Kind::Users) {
            return Ok(Vec::new());
        }
        let list_policies = by_principal;
        stream::iter(users)
            .map(|u| async move {
                let access_keys = api.list_access_keys(&u.name).await?;
                let policies = if list_policies {
                    api.list_policies_for_user(&u.name).await?
                } else {
                    Vec::new()
                };
                let passkeys = match (&u.upn, passkeys_for.contains(&u.name)) {
                    (Some(upn), true) => Some(api.list_passkeys(upn).await?),
                    _ => None,
                };
                Ok::<User, A::Error>(User {
                    name: u.name,
                    id: u.id,
                    upn: u.upn,
                    frozen: u.frozen,
                    access_keys,
                    login_profile: None,
                    mfa_serial: None,
                    policies,
                    service_credentials: Vec::new(),
                    passkeys,
                })
            })
            .buffer_unordered(n)
            .try_collect::<Vec<User>>()
            .await
    };
    let groups_fut = async {
        let list_policies = by_principal && sel(Kind::Groups);
        stream::iter(groups)
            .map(|name| async move {
                let members = api.list_users_for_group(&name).await?;
                let policies = if list_policies {
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
            .try_collect::<Vec<Group>>()
            .await
    };
    let (mut attached, mut users, mut groups): (AttachmentMap, Vec<User>, Vec<Group>) =
        futures::try_join!(attachments_fut, users_fut, groups_fut)?;
    let mut take = |k: PrincipalKind, name: &str| {
        let mut v = attached.remove(&(k, name.to_string())).unwrap_or_default();
        v.sort();
        v
    };

    if sel(Kind::Users) {
        if by_policy {
            for u in &mut users {
                u.policies = take(PrincipalKind::User, &u.name);
            }
        }
        users.sort_by(|a, b| a.name.cmp(&b.name));
        // Service credentials: one account-wide listing instead of one per user.
        let mut creds: HashMap<String, Vec<String>> = HashMap::new();
        for c in api.list_service_credentials().await? {
            creds.entry(c.upn).or_default().push(c.id);
        }
        for u in &mut users {
            if let Some(mut ids) = u.upn.as_ref().and_then(|upn| creds.remove(upn)) {
                ids.sort();
                u.service_credentials = ids;
            }
        }
        inv.users = users;

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

    if !groups.is_empty() {
        if by_policy {
            for g in &mut groups {
                g.policies = take(PrincipalKind::Group, &g.name);
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        inv.groups = groups;
    }

    if sel(Kind::ServiceLinkedRoles) {
        inv.service_linked_roles = slrs
            .into_iter()
            .map(|r| ServiceLinkedRole {
                name: r.name,
                id: r.id,
            })
            .collect();
        inv.service_linked_roles.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if sel(Kind::Roles) {
        inv.roles = if by_principal {
            stream::iter(roles)
                .map(|r| async move {
                    let policies = api.list_policies_for_role(&r.name).await?;
                    Ok::<Role, A::Error>(Role {
                        name: r.name,
                        id: r.id,
                        policies,
                    })
                })
                .buffer_unordered(n)
                .try_collect()
                .await?
        } else {
            roles
                .into_iter()
                .map(|r| {
                    let policies = take(PrincipalKind::Role, &r.name);
                    Role {
                        name: r.name,
                        id: r.id,
                        policies,
                    }
                })
                .collect()
        };
        inv.roles.sort_by(|a, b| a.name.cmp(&b.name));
    }

    if sel(Kind::CustomPolicies) {
        inv.custom_policies = custom_policies_attached(api, policies, kinds, n).await?;
    }

    if sel(Kind::SamlProviders) {
        inv.saml_providers = api.list_saml_providers().await?;
        inv.saml_providers.sort();
    }
    if sel(Kind::OidcProviders) {
        inv.oidc_providers = api.list_oidc_providers().await?;
        inv.oidc_providers.sort();
    }
    if sel(Kind::Applications) {
        let installed: BTreeSet<String> = api
            .list_provisioned_applications(AppSource::Inner)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let apps = api.list_applications().await?;
        inv.applications = stream::iter(apps)
            .map(|a| {
                let installed = &installed;
                async move {
                    let mut secrets = api.list_app_secret_ids(&a.id).await?;
                    secrets.sort();
                    Ok::<Application, A::Error>(Application {
                        provisioned: installed.contains(&a.id),
                        id: a.id,
                        name: a.name,
                        secrets,
                    })
                }
            })
            .buffer_unordered(n)
            .try_collect()
            .await?;
        inv.applications
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        inv.external_applications = api
            .list_provisioned_applications(AppSource::External)
            .await?
            .into_iter()
            .map(|a| ExternalApplication {
                id: a.id,
                name: a.name,
            })
            .collect();
        inv.external_applications
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    }
    if sel(Kind::DefaultDomain) {
        inv.default_domain = Some(DefaultDomain {
            current: api.get_default_domain().await?,
            initial: Inventory::initial_domain(account_id),
        });
    }
    Ok(inv)
}

/// One `ListEntitiesForPolicy` per attached policy: the attachments of every principal, and
/// `attached_to` of every custom policy (empty for those attached nowhere).
async fn attachments_by_policy<A: PlanApi>(
    api: &A,
    policies: &mut [CustomPolicy],
    system: Vec<(String, u32)>,
    n: usize,
) -> Result<AttachmentMap, A::Error> {
    let targets: Vec<(String, PolicyType)> = policies
        .iter()
        .filter(|p| p.attachment_count > 0)
        .map(|p| (p.name.clone(), PolicyType::Custom))
        .chain(system.into_iter().map(|(name, _)| (name, PolicyType::System)))
        .collect();
    let listed: Vec<(String, PolicyType, Holders)> = stream::iter(targets)
        .map(|(name, t)| async move {
            let e = api.list_entities_for_policy(&name, t).await?;
            Ok::<_, A::Error>((name, t, e))
        })
        .buffer_unordered(n)
        .try_collect()
        .await?;
    let mut attached: AttachmentMap = HashMap::new();
    let mut by_name: HashMap<String, Holders> = HashMap::new();
    for (name, t, holders) in listed {
        for (k, principal) in &holders {
            attached
                .entry((*k, principal.clone()))
                .or_default()
                .push(PolicyRef {
                    name: name.clone(),
                    policy_type: t,
                });
        }
        if t == PolicyType::Custom {
            by_name.insert(name, holders);
        }
    }
    for p in policies.iter_mut() {
        let mut e = by_name.remove(&p.name).unwrap_or_default();
        e.sort();
        p.attached_to = Some(e);
    }
    Ok(attached)
}

/// Fills `attached_to` of the custom policies that still lack it when some principal kind was
/// not discovered (then the principals' own lists cannot say who else holds the policy).
async fn custom_policies_attached<A: PlanApi>(
    api: &A,
    policies: Vec<CustomPolicy>,
    kinds: &BTreeSet<Kind>,
    n: usize,
) -> Result<Vec<CustomPolicy>, A::Error> {
    let principals_known = [Kind::Users, Kind::Groups, Kind::Roles]
        .iter()
        .all(|k| kinds.contains(k));
    let mut out: Vec<CustomPolicy> = stream::iter(policies)
        .map(|mut p| async move {
            if !principals_known && p.attached_to.is_none() && p.attachment_count > 0 {
                let mut e = api.list_entities_for_policy(&p.name, PolicyType::Custom).await?;
                e.sort();
                p.attached_to = Some(e);
            }
            Ok::<_, A::Error>(p)
        })
        .buffer_unordered(n)
        .try_collect()
        .await?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
