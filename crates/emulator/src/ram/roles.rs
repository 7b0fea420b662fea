//! RAM roles: normal roles (unique and found regardless of case, as the service's ARNs are), their
//! trust documents, the STS view of a role, and service-linked roles with their asynchronous
//! deletion tasks ([`super::super::slr`] answers the task actions).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{exists, first_conflict, no_role, not_exist};
use super::params::{check_document, role_name};
use super::{RamState, Role, SLR_PREFIX, Slr, SlrTask, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, only, param, required};
use crate::catalog::Action;
use crate::table::max_items;
use crate::tags::{self, TagFilter};

/// A trust policy that lets `account` assume the role.
pub(super) fn trust_doc(account: &str) -> String {
    format!(
        "{{\"Statement\":[{{\"Action\":\"sts:AssumeRole\",\"Effect\":\"Allow\",\"Principal\":{{\"RAM\":[\"acs:ram::{account}:root\"]}}}}],\"Version\":\"1\"}}"
    )
}

/// The trust policy of a service-linked role: only `service` may assume it.
pub(super) fn service_trust_doc(service: &str) -> String {
    format!(
        "{{\"Statement\":[{{\"Action\":\"sts:AssumeRole\",\"Effect\":\"Allow\",\"Principal\":{{\"Service\":[\"{service}\"]}}}}],\"Version\":\"1\"}}"
    )
}

/// The account a trust policy lets assume the role (the emulator's trust model is one account).
#[must_use]
pub fn trusted_account(doc: &str) -> Option<String> {
    let v: Value = serde_json::from_str(doc).ok()?;
    let stmt = v.get("Statement")?.as_array()?;
    stmt.iter().find_map(|s| {
        let ram = s.get("Principal")?.get("RAM")?;
        let first = match ram {
            Value::Array(a) => a.first()?.as_str()?.to_owned(),
            Value::String(s) => s.clone(),
            _ => return None,
        };
        first
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split(':').next())
            .map(str::to_owned)
    })
}

impl RamState {
    /// Creates a role (`slr`: a service-linked one); names are unique regardless of case.
    pub(super) fn add_role(
        &mut self,
        name: &str,
        max: u32,
        trust: &str,
        slr: Option<Slr>,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if self.role_index.contains_key(&name.to_ascii_lowercase()) {
            return Err(exists("Role"));
        }
        self.role_index.insert(name.to_ascii_lowercase(), name.to_owned());
        let id = self.next_id();
        self.roles.insert(
            name,
            Role {
                id,
                description: String::new(),
                trust: trust.to_owned(),
                max_session: max,
                created: now,
                slr,
                policies: vec![],
                latest_task: None,
                tags: vec![],
            },
        );
        Ok(())
    }

    /// Deletes a normal role without policies (service-linked roles go through their task).
    fn delete_role(&mut self, name: &str) -> Result<(), ApiError> {
        let name = self.role_key(name).to_owned();
        let name = name.as_str();
        let r = self.roles.get(name).ok_or_else(no_role)?;
        first_conflict(&[
            (
                r.slr.is_some(),
                "Role.ServiceLinkedRole",
                "A service-linked role CAN NOT be deleted with DeleteRole; use DeleteServiceLinkedRole.",
            ),
            (
                !r.policies.is_empty(),
                "Role.Policy",
                "The role CAN NOT has any attached policy while deleting the role.",
            ),
        ])?;
        self.remove_role(name);
        Ok(())
    }

    /// For STS: the role's `MaxSessionDuration` and trust document when it exists (name matching is
    /// case-insensitive, as the service's ARNs are).
    #[must_use]
    pub fn role_for_sts(&self, role: &str) -> Option<(String, u32, String, String)> {
        let name = self.role_index.get(&role.to_ascii_lowercase())?;
        let r = self.roles.get(name).filter(|r| r.slr.is_none())?;
        Some((name.clone(), r.max_session, r.trust.clone(), r.id.clone()))
    }

    /// The stored spelling of a role name given in any case (unknown names come back unchanged).
    pub(super) fn role_key<'a>(&'a self, name: &'a str) -> &'a str {
        self.role_index
            .get(&name.to_ascii_lowercase())
            .map_or(name, String::as_str)
    }

    /// Removes a role and its case-insensitive index entry.
    fn remove_role(&mut self, name: &str) -> Option<Role> {
        self.role_index.remove(&name.to_ascii_lowercase());
        self.roles.remove(name)
    }

    /// For STS: `Some(maxSessionDuration)` when the role exists in this account.
    #[must_use]
    pub fn role_max_session(&self, role: &str) -> Option<u32> {
        self.role_for_sts(role).map(|r| r.1)
    }

    /// Starts (or returns the running) deletion task of a service-linked role.
    pub(crate) fn start_slr_deletion(&mut self, role: &str, now: Timestamp) -> Result<String, ApiError> {
        self.settle(now);
        let role = self.role_key(role).to_owned();
        let role = role.as_str();
        let r = self.roles.get_mut(role).ok_or_else(no_role)?;
        let Some(slr) = &r.slr else {
            return Err(not_exist(
                "ServiceLinkedRole",
                "The role exists but is not a service-linked role.",
            ));
        };
        if let Some((id, _)) = &r.latest_task
            && self.tasks.get(id).is_some_and(|t| t.outcome.is_none())
        {
            return Ok(id.clone());
        }
        let id = format!(
            "task/acs-service-role/{}/{role}/{}",
            slr.service,
            uuid::Uuid::new_v4()
        );
        let due = now + jiff::SignedDuration::from_secs(i64::try_from(slr.deletion_seconds).unwrap_or(2));
        r.latest_task = Some((id.clone(), now));
        self.tasks.insert(
            id.clone(),
            SlrTask {
                role: role.to_owned(),
                due,
                outcome: None,
            },
        );
        Ok(id)
    }

    /// Finishes the service-linked role deletions that are due: removes the role or records why not.
    pub(crate) fn settle(&mut self, now: Timestamp) {
        let due: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.outcome.is_none() && t.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let Some(task) = self.tasks.get(&id) else { continue };
            let role = task.role.clone();
            let usage = self
                .roles
                .get(&role)
                .and_then(|r| r.slr.as_ref())
                .map(|s| s.in_use.clone());
            let outcome = match usage {
                Some(u) if !u.is_empty() => Err(u),
                _ => {
                    self.remove_role(&role);
                    Ok(())
                }
            };
            if let Some(t) = self.tasks.get_mut(&id) {
                t.outcome = Some(outcome);
            }
        }
    }
}

/// The RAM role actions (`DeleteServiceLinkedRole` and its task: [`super::super::slr`]).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("ListRoles", Read, |st, ctx, p| {
        only(p, "ListRoles", &["Marker", "MaxItems", "Tag"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let filter = TagFilter::from_json(p)?;
        let page = st.roles.page_where(param(p, "Marker"), n, |_, r| {
            tags::passes(filter.as_ref(), &r.tags)
        })?;
        Ok(page.body("Roles", "Role", |name, r| {
            let mut v = json!({"RoleName": name, "RoleId": r.id, "Arn": st.arn("role", &name.to_lowercase()), "Description": r.description,
                   "MaxSessionDuration": r.max_session, "CreateDate": utc(r.created), "UpdateDate": utc(r.created)});
            tags::insert_ram(&mut v, &r.tags);
            v
        }))
    }),
    Action::account("GetRole", Read, |st, _ctx, p| {
        let name = st.role_key(role_name(p)?);
        let r = st.roles.get(name).ok_or_else(no_role)?;
        let mut role = json!({"RoleName": name, "RoleId": r.id, "Arn": st.arn("role", &name.to_lowercase()),
                "Description": r.description, "AssumeRolePolicyDocument": r.trust, "MaxSessionDuration": r.max_session,
                "IsServiceLinkedRole": r.slr.is_some(), "CreateDate": utc(r.created), "UpdateDate": utc(r.created),
                "RolePrincipalName": format!("{name}@role.{}.onaliyunservice.com", st.account_id)});
        if let (Some((id, at)), Some(o)) = (&r.latest_task, role.as_object_mut()) {
            o.insert(
                "LatestDeletionTask".into(),
                json!({"DeletionTaskId": id, "CreateDate": utc(*at)}),
            );
        }
        Ok(json!({ "Role": role }))
    }),
    Action::account("CreateRole", Mutating, |st, ctx, p| {
        let name = role_name(p)?;
        if name.starts_with(SLR_PREFIX) {
            return Err(ApiError::new(
                400,
                "InvalidParameter.RoleName.Reserved",
                "Role names starting with AliyunServiceRoleFor are reserved for service-linked roles.",
            ));
        }
        let doc = required(p, "AssumeRolePolicyDocument")?;
        check_document(doc)?;
        let max = match param(p, "MaxSessionDuration").filter(|s| !s.is_empty()) {
            None => 3600,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (3600..=43_200).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidParameter.MaxSessionDuration",
                        "The parameter - \"MaxSessionDuration\" MUST be in the range of 3600 and 43200.",
                    )
                })?,
        };
        st.add_role(name, max, doc, None, ctx.now)?;
        let id = st.roles.get(name).map(|r| r.id.clone());
        Ok(
            json!({"Role": {"RoleName": name, "RoleId": id, "Arn": st.arn("role", &name.to_lowercase()), "MaxSessionDuration": max, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("DeleteRole", Mutating, |st, _ctx, p| {
        st.delete_role(role_name(p)?)?;
        Ok(json!({}))
    }),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::api::Product;
    use crate::catalog::testing::{ctx, params as p, ram as dispatch, seeded};

    #[test]
    fn tag_filters_filter_for_real_and_unknown_filters_are_refused() {
        let mut st = seeded(
            "generate: { roles: 30, users: 30 }\nroles: [{name: tagged, tags: [{key: env, value: prod}]}]\nusers: [{name: t, status: freeze, tags: [{key: team, value: core}]}]\npolicies: [{name: p1, tags: [{key: env, value: prod}]}, {name: p2}]",
        );
        let c = ctx();
        let v = dispatch(
            &mut st,
            &c,
            "ListRoles",
            &p(&[("Tag", r#"[{"Key":"env","Value":"prod"}]"#), ("MaxItems", "5")]),
        )
        .unwrap();
        let roles = v["Roles"]["Role"].as_array().unwrap();
        assert_eq!(roles.len(), 1, "{v}");
        assert_eq!(roles[0]["RoleName"], "tagged");
        assert_eq!(roles[0]["Tags"]["Tag"][0]["TagKey"], "env");
        let v = dispatch(&mut st, &c, "ListPolicies", &p(&[("Tag", r#"[{"Key":"env"}]"#)])).unwrap();
        let names: Vec<&str> = v["Policies"]["Policy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["PolicyName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["p1"]);
        let v = dispatch(&mut st, &c, "ListRoles", &p(&[("Tag", r#"[{"Key":"nope"}]"#)])).unwrap();
        assert!(v["Roles"]["Role"].as_array().unwrap().is_empty());
        let e = dispatch(&mut st, &c, "ListRoles", &p(&[("Tag.1.Key", "env")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.Unsupported");
        let e = dispatch(&mut st, &c, "ListUsers", &p(&[("QueryKeyword", "x")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.Unsupported");
        // IMS: repeat-list tags, both states listed when a tag filter is given
        let v = crate::catalog::run(
            Product::Ims,
            &mut st,
            &c,
            "ListUsers",
            &p(&[("Tag.1.Key", "team"), ("Tag.1.Value", "core"), ("MaxItems", "3")]),
        )
        .unwrap();
        let users = v["Users"]["User"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{v}");
        assert_eq!(users[0]["Status"], "freeze");
        // role names are unique regardless of case and found in any case
        let e = dispatch(
            &mut st,
            &c,
            "CreateRole",
            &p(&[("RoleName", "TAGGED"), ("AssumeRolePolicyDocument", "{}")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists.Role");
        let v = dispatch(&mut st, &c, "GetRole", &p(&[("RoleName", "Tagged")])).unwrap();
        assert_eq!(v["Role"]["RoleName"], "tagged");
    }
}
