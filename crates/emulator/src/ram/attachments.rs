//! Policy attachments of users, groups and roles (principal kind 0, 1, 2): attach and detach with
//! their conflict rules, the lists by principal and by policy, and the attachment counts of system
//! policies.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{exists, no_group, no_policy, no_role, no_user, not_exist};
use super::params::{group_name, policy_name, role_name, user_name};
use super::{Attach, PolicyType, RamState, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, CallContext, Params, required};
use crate::catalog::Action;

/// One attachment as `ListPoliciesFor*` answers it.
fn policy_json(a: &Attach, default_version: &str, description: &str) -> Value {
    json!({
        "PolicyName": a.name, "PolicyType": a.kind.name(), "AttachDate": utc(a.date),
        "DefaultVersion": default_version, "Description": description,
    })
}

impl RamState {
    /// The attachment list of a user, group or role (kind 0, 1, 2); `EntityNotExist.*` when absent.
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

    /// Attaches a system or custom policy; attaching it twice is `EntityAlreadyExists.<Kind>.Policy`.
    pub(super) fn attach(
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

    /// Detaches a policy; one not attached is `EntityNotExist.<Kind>.Policy`.
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

    /// When `policy` was attached to the principal (the epoch if it is not).
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
    pub(super) fn system_attachment_counts(&self) -> HashMap<&str, usize> {
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

    /// Every principal holding the system policy `policy`, users first, with the attachment date.
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
}

/// `AttachPolicyTo*` (`ATTACH`) or `DetachPolicyFrom*` for a user, group or role (`KIND` 0, 1, 2), as
/// one handler per row of the table.
fn attachment<const KIND: u8, const ATTACH: bool>(
    st: &mut RamState,
    ctx: &CallContext,
    p: &Params,
) -> Result<Value, ApiError> {
    st.attachment(ctx, p, KIND, ATTACH)
}

/// The RAM attachment actions.
pub(super) const ACTIONS: &[Action] = &[
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
    Action::account("AttachPolicyToUser", Mutating, attachment::<0, true>),
    Action::account("AttachPolicyToGroup", Mutating, attachment::<1, true>),
    Action::account("AttachPolicyToRole", Mutating, attachment::<2, true>),
    Action::account("DetachPolicyFromUser", Mutating, attachment::<0, false>),
    Action::account("DetachPolicyFromGroup", Mutating, attachment::<1, false>),
    Action::account("DetachPolicyFromRole", Mutating, attachment::<2, false>),
];
