//! The desired-state diff: from an [`Inventory`] and the spec's kinds and retain rules to a
//! [`Plan`] whose actions form a per-object dependency graph (alibaba-api.md §4.4, issue 6).
//!
//! Desired state: every selected kind empty, except retained objects and anything a retained or
//! unselected object still needs. Rules:
//! - A retained object and what belongs to it (a retained user's keys, login profile, MFA binding,
//!   memberships and attachments) are never touched.
//! - Removing a deleted user from a group, or detaching a policy from a deleted principal, is part
//!   of deleting that principal, so it happens even when the group or policy is retained or its
//!   kind is not selected; the group or policy itself stays.
//! - A group that would still contain a user who stays, and a custom policy that would still be
//!   attached to a principal that stays, cannot be deleted: they are kept with a reason.
//! - A bound virtual MFA device is deleted only after its user's `UnbindMFADevice`; if the user
//!   stays, the device is kept.
//! - Custom policies are deleted with `CascadingDelete=true`, so versions need no separate calls.
//! - Users deleted in this pass land in the IMS recycle bin: each `DeleteUser` is followed by its
//!   `DeleteUserInRecycleBin` (by `UserId`, known from the IMS listing). Users already in the bin
//!   when the pass starts are purged with their recycled keys; should the service ever recycle a
//!   user with keys, the purge fails with a conflict and the next pass's inventory lists them.
//! - A deleted user's login profile is deleted unless discovery saw it has none (discovery does not
//!   ask: `DeleteLoginProfile` answering "not found" is done).
//! - A deleted user's service credentials (and passkeys, once listed) go before `DeleteUser`.
//! - OAuth applications: their secrets and, for an installed ServerApp, `DeprovisionApplication`
//!   before `DeleteApplication`; third-party applications are uninstalled. Applications depend on
//!   nothing else and nothing depends on them (no documented conflict).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::action::{Action, Kept, Plan, PlannedAction};
use super::hash::plan_hash;
use super::model::{Inventory, Kind, PolicyRef, PolicyType, PrincipalKind};
use super::retain::{DEFAULT_ACCESS_ROLE, Retain, RetainError, RetainSpec};

/// What to plan for: the kinds to empty and what to retain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Kinds to empty (`spec.ram.kinds`); others are left alone.
    pub kinds: BTreeSet<Kind>,
    /// `spec.ram.retain`.
    pub retain: RetainSpec,
    /// `spec.accessRoleName`: always retained.
    pub access_role: String,
    /// `RoleId` of the role the member session really is (STS `AssumedRoleUser`): always retained,
    /// whatever the name's spelling.
    pub access_role_id: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            kinds: Kind::ALL.into_iter().collect(),
            retain: RetainSpec::default(),
            access_role: DEFAULT_ACCESS_ROLE.to_string(),
            access_role_id: None,
        }
    }
}

/// Builds the plan after validating the retain patterns.
///
/// # Errors
/// A malformed retain pattern (naming `spec.ram.retain.<kind>[i]`).
pub fn build(inv: &Inventory, opts: &PlanOptions) -> Result<Plan, RetainError> {
    let retain = opts
        .retain
        .compile(&opts.access_role)?
        .with_access_role_id(opts.access_role_id.clone());
    Ok(build_with(inv, &opts.kinds, &retain))
}

#[derive(Default)]
struct Graph {
    nodes: Vec<(Action, Vec<usize>)>,
}

impl Graph {
    fn add(&mut self, action: Action, deps: Vec<usize>) -> usize {
        self.nodes.push((action, deps));
        self.nodes.len() - 1
    }

    /// Adds a detach with no prerequisites; a custom policy remembers it (its deletion waits for
    /// every detach), and the principal's deletion waits for it through `deps`.
    fn add_detach<'p>(
        &mut self,
        action: Action,
        policy: &'p PolicyRef,
        detaches_of: &mut HashMap<&'p str, Vec<usize>>,
        deps: &mut Vec<usize>,
    ) {
        let i = self.add(action, vec![]);
        if policy.policy_type == PolicyType::Custom {
            detaches_of.entry(&policy.name).or_default().push(i);
        }
        deps.push(i);
    }
}

/// Why a principal that a group or policy depends on stays.
fn stays_reason(
    kinds: &BTreeSet<Kind>,
    retain: &Retain,
    kept: &HashSet<(Kind, &str)>,
    kind: Kind,
    name: &str,
) -> String {
    let noun = kind.noun();
    if !kinds.contains(&kind) {
        format!("{noun} \"{name}\" (and {} are not selected)", kind.as_str())
    } else if retain.is_retained(kind, name) {
        format!("retained {noun} \"{name}\"")
    } else if kept.contains(&(kind, name)) {
        format!("{noun} \"{name}\", which is kept")
    } else {
        format!("{noun} \"{name}\", which is not in the inventory")
    }
}

/// Builds the plan with already-compiled retain rules (pure and deterministic).
#[must_use]
pub fn build_with(inv: &Inventory, kinds: &BTreeSet<Kind>, retain: &Retain) -> Plan {
    let sel = |k: Kind| kinds.contains(&k);
    let mut retained: Vec<(Kind, String)> = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut kept_set: HashSet<(Kind, &str)> = HashSet::new();

    // Users.
    let mut users_del: HashSet<&str> = HashSet::new();
    if sel(Kind::Users) {
        for u in &inv.users {
            if retain.is_retained(Kind::Users, &u.name) {
                retained.push((Kind::Users, u.name.clone()));
            } else {
                users_del.insert(&u.name);
            }
        }
    }

    // Groups: kept while they would still contain a user who stays.
    let mut groups_del: HashSet<&str> = HashSet::new();
    if sel(Kind::Groups) {
        for g in &inv.groups {
            if retain.is_retained(Kind::Groups, &g.name) {
                retained.push((Kind::Groups, g.name.clone()));
                continue;
            }
            let mut members: Vec<&String> = g.members.iter().collect();
            members.sort();
            if let Some(m) = members.into_iter().find(|m| !users_del.contains(m.as_str())) {
                let why = stays_reason(kinds, retain, &kept_set, Kind::Users, m);
                kept.push(Kept {
                    kind: Kind::Groups,
                    name: g.name.clone(),
                    reason: format!("group \"{}\" kept: it contains {why}", g.name),
                });
                kept_set.insert((Kind::Groups, &g.name));
            } else {
                groups_del.insert(&g.name);
            }
        }
    }

    // Roles (normal) and service-linked roles.
    let mut roles_del: HashSet<&str> = HashSet::new();
    if sel(Kind::Roles) {
        for r in &inv.roles {
            if retain.is_retained(Kind::Roles, &r.name) || retain.is_access_role(&r.name, r.id.as_deref()) {
                retained.push((Kind::Roles, r.name.clone()));
            } else {
                roles_del.insert(&r.name);
            }
        }
    }

    // Custom policies: kept while attached to a principal that stays.
    let mut policies_del: Vec<&str> = Vec::new();
    if sel(Kind::CustomPolicies) {
        let principal_kinds_known = [Kind::Users, Kind::Groups, Kind::Roles]
            .iter()
            .all(|k| inv.has_kind(*k));
        for p in &inv.custom_policies {
            if retain.is_retained(Kind::CustomPolicies, &p.name) {
                retained.push((Kind::CustomPolicies, p.name.clone()));
                continue;
            }
            let mut attached: Vec<(PrincipalKind, &str)> = match &p.attached_to {
                Some(list) => list.iter().map(|(k, n)| (*k, n.as_str())).collect(),
                None => {
                    let custom = |pr: &&super::model::PolicyRef| {
                        pr.name == p.name && pr.policy_type == PolicyType::Custom
                    };
                    let mut v = Vec::new();
                    for u in &inv.users {
                        if u.policies.iter().any(|x| custom(&x)) {
                            v.push((PrincipalKind::User, u.name.as_str()));
                        }
                    }
                    for g in &inv.groups {
                        if g.policies.iter().any(|x| custom(&x)) {
                            v.push((PrincipalKind::Group, g.name.as_str()));
                        }
                    }
                    for r in &inv.roles {
                        if r.policies.iter().any(|x| custom(&x)) {
                            v.push((PrincipalKind::Role, r.name.as_str()));
                        }
                    }
                    v
                }
            };
            attached.sort();
            let stays = attached.iter().find(|(pk, n)| {
                let del = match pk {
                    PrincipalKind::User => &users_del,
                    PrincipalKind::Group => &groups_del,
                    PrincipalKind::Role => &roles_del,
                };
                !del.contains(n)
            });
            let reason = if let Some((pk, n)) = stays {
                let why = stays_reason(kinds, retain, &kept_set, pk.kind(), n);
                Some(format!(
                    "custom policy \"{}\" kept: it is attached to {why}",
                    p.name
                ))
            } else if p.attached_to.is_none()
                && !principal_kinds_known
                && (p.attachment_count as usize) > attached.len()
            {
                Some(format!(
                    "custom policy \"{}\" kept: it is attached to {} principal(s) that were not inventoried",
                    p.name,
                    p.attachment_count as usize - attached.len()
                ))
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    kept.push(Kept {
                        kind: Kind::CustomPolicies,
                        name: p.name.clone(),
                        reason,
                    });
                    kept_set.insert((Kind::CustomPolicies, &p.name));
                }
                None => policies_del.push(&p.name),
            }
        }
    }

    let mut g = Graph::default();
    // Indices other objects depend on.
    let mut unbind_of: HashMap<&str, usize> = HashMap::new();
    let mut removal_of: HashMap<(&str, &str), usize> = HashMap::new(); // (group, user)
    let mut detaches_of: HashMap<&str, Vec<usize>> = HashMap::new(); // custom policy -> detaches

    let mut memberships: HashMap<&str, Vec<&str>> = HashMap::new();
    for grp in &inv.groups {
        for m in &grp.members {
            memberships.entry(m.as_str()).or_default().push(&grp.name);
        }
    }

    for u in inv.users.iter().filter(|u| users_del.contains(u.name.as_str())) {
        let mut deps = Vec::new();
        for k in &u.access_keys {
            deps.push(g.add(
                Action::DeleteAccessKey {
                    user: u.name.clone(),
                    key_id: k.clone(),
                },
                vec![],
            ));
        }
        // Precautionary (no documented conflict names them, §10.8): the user's service
        // credentials, and its passkeys once the service refused the user because of them.
        let upn = u.upn.clone().unwrap_or_else(|| u.name.clone());
        for c in &u.service_credentials {
            deps.push(g.add(
                Action::DeleteServiceCredential {
                    user: u.name.clone(),
                    upn: upn.clone(),
                    credential_id: c.clone(),
                },
                vec![],
            ));
        }
        for k in u.passkeys.iter().flatten() {
            deps.push(g.add(
                Action::DeletePasskey {
                    user: u.name.clone(),
                    upn: upn.clone(),
                    passkey_id: k.clone(),
                },
                vec![],
            ));
        }
        if u.login_profile != Some(false) {
            deps.push(g.add(Action::DeleteLoginProfile { user: u.name.clone() }, vec![]));
        }
        if let Some(serial) = &u.mfa_serial {
            let i = g.add(
                Action::UnbindMfaDevice {
                    user: u.name.clone(),
                    serial: serial.clone(),
                },
                vec![],
            );
            unbind_of.insert(&u.name, i);
            deps.push(i);
        }
        for grp in memberships.get(u.name.as_str()).into_iter().flatten() {
            let i = g.add(
                Action::RemoveUserFromGroup {
                    user: u.name.clone(),
                    group: (*grp).to_string(),
                },
                vec![],
            );
            removal_of.insert((grp, &u.name), i);
            deps.push(i);
        }
        for p in &u.policies {
            let action = Action::DetachPolicyFromUser {
                user: u.name.clone(),
                policy: p.name.clone(),
                policy_type: p.policy_type,
            };
            g.add_detach(action, p, &mut detaches_of, &mut deps);
        }
        let deleted = g.add(Action::DeleteUser { user: u.name.clone() }, deps);
        // The deleted user lands in the IMS recycle bin without keys (they were deleted first):
        // purge it in the same pass instead of listing the bin again on the next one.
        if let Some(id) = &u.id {
            g.add(
                Action::DeleteUserInRecycleBin {
                    user_id: id.clone(),
                    upn: u.upn.clone().unwrap_or_else(|| u.name.clone()),
                },
                vec![deleted],
            );
        }
    }

    for grp in inv.groups.iter().filter(|x| groups_del.contains(x.name.as_str())) {
        let mut deps: Vec<usize> = grp
            .members
            .iter()
            .filter_map(|m| removal_of.get(&(grp.name.as_str(), m.as_str())).copied())
            .collect();
        for p in &grp.policies {
            let action = Action::DetachPolicyFromGroup {
                group: grp.name.clone(),
                policy: p.name.clone(),
                policy_type: p.policy_type,
            };
            g.add_detach(action, p, &mut detaches_of, &mut deps);
        }
        g.add(
            Action::DeleteGroup {
                group: grp.name.clone(),
            },
            deps,
        );
    }

    for r in inv.roles.iter().filter(|x| roles_del.contains(x.name.as_str())) {
        let mut deps = Vec::new();
        for p in &r.policies {
            let action = Action::DetachPolicyFromRole {
                role: r.name.clone(),
                policy: p.name.clone(),
                policy_type: p.policy_type,
            };
            g.add_detach(action, p, &mut detaches_of, &mut deps);
        }
        g.add(Action::DeleteRole { role: r.name.clone() }, deps);
    }

    if sel(Kind::ServiceLinkedRoles) {
        for r in &inv.service_linked_roles {
            if retain.is_retained(Kind::ServiceLinkedRoles, &r.name)
                || retain.is_access_role(&r.name, r.id.as_deref())
            {
                retained.push((Kind::ServiceLinkedRoles, r.name.clone()));
            } else {
                g.add(Action::DeleteServiceLinkedRole { role: r.name.clone() }, vec![]);
            }
        }
    }

    for p in policies_del {
        let deps = detaches_of.get(p).cloned().unwrap_or_default();
        g.add(
            Action::DeletePolicy {
                policy: p.to_string(),
            },
            deps,
        );
    }

    if sel(Kind::VirtualMfaDevices) {
        for d in &inv.virtual_mfa_devices {
            let short = d.serial.rsplit_once("mfa/").map_or(d.serial.as_str(), |(_, n)| n);
            if retain.is_retained(Kind::VirtualMfaDevices, &d.serial)
                || retain.is_retained(Kind::VirtualMfaDevices, short)
            {
                retained.push((Kind::VirtualMfaDevices, d.serial.clone()));
                continue;
            }
            match &d.user {
                None => {
                    g.add(
                        Action::DeleteVirtualMfaDevice {
                            serial: d.serial.clone(),
                        },
                        vec![],
                    );
                }
                Some(u) => match unbind_of.get(u.as_str()) {
                    Some(&i) => {
                        g.add(
                            Action::DeleteVirtualMfaDevice {
                                serial: d.serial.clone(),
                            },
                            vec![i],
                        );
                    }
                    None => {
                        let why = stays_reason(kinds, retain, &kept_set, Kind::Users, u);
                        kept.push(Kept {
                            kind: Kind::VirtualMfaDevices,
                            name: d.serial.clone(),
                            reason: format!("virtual MFA device {} kept: it is bound to {why}", d.serial),
                        });
                    }
                },
            }
        }
    }

    for (kind, names) in [
        (Kind::SamlProviders, &inv.saml_providers),
        (Kind::OidcProviders, &inv.oidc_providers),
    ] {
        if !sel(kind) {
            continue;
        }
        for n in names {
            if retain.is_retained(kind, n) {
                retained.push((kind, n.clone()));
            } else if kind == Kind::SamlProviders {
                g.add(Action::DeleteSamlProvider { name: n.clone() }, vec![]);
            } else {
                g.add(Action::DeleteOidcProvider { name: n.clone() }, vec![]);
            }
        }
    }

    if sel(Kind::DefaultDomain)
        && let Some(d) = inv.default_domain.as_ref().filter(|d| d.is_custom())
    {
        if retain.is_retained(Kind::DefaultDomain, &d.current) {
            retained.push((Kind::DefaultDomain, d.current.clone()));
        } else {
            g.add(
                Action::SetDefaultDomain {
                    domain: d.initial.clone(),
                },
                vec![],
            );
        }
    }

    if sel(Kind::Applications) {
        for a in &inv.applications {
            if retain.is_retained(Kind::Applications, &a.name) {
                retained.push((Kind::Applications, a.name.clone()));
                continue;
            }
            let mut deps: Vec<usize> = a
                .secrets
                .iter()
                .map(|sid| {
                    g.add(
                        Action::DeleteAppSecret {
                            app: a.name.clone(),
                            app_id: a.id.clone(),
                            secret_id: sid.clone(),
                        },
                        vec![],
                    )
                })
                .collect();
            if a.provisioned {
                deps.push(g.add(
                    Action::DeprovisionApplication {
                        app: a.name.clone(),
                        app_id: a.id.clone(),
                    },
                    vec![],
                ));
            }
            g.add(
                Action::DeleteApplication {
                    app: a.name.clone(),
                    app_id: a.id.clone(),
                },
                deps,
            );
        }
        for a in &inv.external_applications {
            if retain.is_retained(Kind::Applications, &a.name) {
                retained.push((Kind::Applications, a.name.clone()));
            } else {
                g.add(
                    Action::DeprovisionExternalApplication {
                        app: a.name.clone(),
                        app_id: a.id.clone(),
                    },
                    vec![],
                );
            }
        }
    }

    if sel(Kind::Users) {
        for ru in &inv.recycle_bin {
            if retain.is_retained(Kind::Users, ru.name()) {
                continue;
            }
            let deps = ru
                .access_keys
                .iter()
                .map(|k| {
                    g.add(
                        Action::DeleteAccessKeyInRecycleBin {
                            user_id: ru.id.clone(),
                            upn: ru.upn.clone(),
                            key_id: k.clone(),
                        },
                        vec![],
                    )
                })
                .collect();
            g.add(
                Action::DeleteUserInRecycleBin {
                    user_id: ru.id.clone(),
                    upn: ru.upn.clone(),
                },
                deps,
            );
        }
    }

    let actions = order(g.nodes);
    retained.sort();
    retained.dedup();
    kept.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Plan {
        hash: plan_hash(&actions),
        actions,
        kept,
        retained,
    }
}

/// Deterministic topological order (Kahn's algorithm, always taking the ready action with the
/// smallest (kind, object, step, target) key), with dependencies remapped to final indices.
///
/// At an XL account's 75,000 actions this is the planner's peak of memory, so it allocates
/// nothing per action: the ready set holds indices compared through [`Ready`], and the actions are
/// permuted in place instead of being moved into a second list.
fn order(mut nodes: Vec<(Action, Vec<usize>)>) -> Vec<PlannedAction> {
    let n = nodes.len();
    let mut indegree = vec![0u32; n];
    for (i, (_, deps)) in nodes.iter_mut().enumerate() {
        deps.sort_unstable();
        deps.dedup();
        indegree[i] = u32::try_from(deps.len()).unwrap_or(u32::MAX);
    }
    // Who waits for whom, as one flat list (`dependents[start[j]..start[j + 1]]` wait for `j`)
    // rather than a list per action.
    let mut start = vec![0usize; n + 1];
    for (_, deps) in &nodes {
        for &j in deps {
            start[j + 1] += 1;
        }
    }
    for j in 0..n {
        start[j + 1] += start[j];
    }
    let mut dependents = vec![0usize; start[n]];
    let mut fill = start.clone();
    for (i, (_, deps)) in nodes.iter().enumerate() {
        for &j in deps {
            dependents[fill[j]] = i;
            fill[j] += 1;
        }
    }
    drop(fill);
    let mut position = vec![usize::MAX; n];
    let mut emitted = 0;
    {
        let ready = |i: usize| Reverse(Ready { nodes: &nodes, i });
        let mut heap: BinaryHeap<Reverse<Ready<'_>>> =
            (0..n).filter(|&i| indegree[i] == 0).map(ready).collect();
        while let Some(Reverse(Ready { i, .. })) = heap.pop() {
            position[i] = emitted;
            emitted += 1;
            for &d in &dependents[start[i]..start[i + 1]] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    heap.push(ready(d));
                }
            }
        }
    }
    drop((dependents, start, indegree));
    // The graph is acyclic by construction (edges only point from prerequisites to their owner),
    // so every node has its position; should one not, it goes last and is dropped, with whatever
    // waits for it (none of which was emitted either).
    let unplaced = position.iter_mut().filter(|p| **p == usize::MAX);
    for (last, p) in (emitted..).zip(unplaced) {
        *p = last;
    }
    // Dependencies first (they name original indices), then each node moves to its position by
    // following the permutation's cycles.
    for (_, deps) in &mut nodes {
        for j in deps.iter_mut() {
            *j = position[*j];
        }
        deps.sort_unstable();
    }
    for i in 0..n {
        while position[i] != i {
            let p = position[i];
            nodes.swap(i, p);
            position.swap(i, p);
        }
    }
    nodes.truncate(emitted);
    nodes.shrink_to_fit();
    // Same layout, so the list is reused rather than copied.
    nodes
        .into_iter()
        .map(|(action, deps)| PlannedAction { action, deps })
        .collect()
}

/// A ready action in [`order`]'s heap, ordered by (kind, object, step, target, index) as
/// `Action::sort_key` and `Action::target` spell them, without building those strings.
struct Ready<'a> {
    nodes: &'a [(Action, Vec<usize>)],
    i: usize,
}

impl Ready<'_> {
    fn action(&self) -> &Action {
        &self.nodes[self.i].0
    }
}

impl Ord for Ready<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // The bytes of `target()`: `owner` or `owner/part` (String order is byte order).
        fn target(a: &Action) -> impl Iterator<Item = u8> + '_ {
            let (owner, part) = a.target_parts();
            let slash: &[u8] = if part.is_some() { b"/" } else { b"" };
            owner
                .bytes()
                .chain(slash.iter().copied())
                .chain(part.unwrap_or_default().bytes())
        }
        let (a, b) = (self.action(), other.action());
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| target(a).cmp(target(b)))
            .then(self.i.cmp(&other.i))
    }
}

impl PartialOrd for Ready<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ready<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ready<'_> {}
