//! RAM groups and their members: the RAM and IMS listings, membership and deletion (a group with
//! members or policies left answers `DeleteConflict.Group.*`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{exists, first_conflict, no_group, no_user, not_exist};
use super::params::{group_name, user_name};
use super::{Group, RamState, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, CallContext, Params, only, param};
use crate::catalog::Action;
use crate::table::{Table, max_items};

impl RamState {
    /// Creates an empty group.
    pub(super) fn add_group(&mut self, name: &str, now: Timestamp) -> Result<(), ApiError> {
        if self.groups.contains(name) {
            return Err(exists("Group"));
        }
        let id = self.next_id();
        self.groups.insert(
            name,
            Group {
                id,
                created: now,
                members: Table::default(),
                policies: vec![],
            },
        );
        Ok(())
    }

    /// Adds `user` to `group`; a member twice is `EntityAlreadyExists.User.Group`.
    pub(super) fn join(&mut self, user: &str, group: &str, now: Timestamp) -> Result<(), ApiError> {
        if !self.users.contains(user) {
            return Err(no_user());
        }
        let g = self.groups.get_mut(group).ok_or_else(no_group)?;
        if g.members.contains(user) {
            return Err(exists("User.Group"));
        }
        g.members.insert(user, now);
        if let Some(u) = self.users.get_mut(user) {
            u.groups.push((group.to_owned(), now));
        }
        Ok(())
    }

    /// Removes `user` from `group`.
    fn leave(&mut self, user: &str, group: &str) -> Result<(), ApiError> {
        if !self.users.contains(user) {
            return Err(no_user());
        }
        let g = self.groups.get_mut(group).ok_or_else(no_group)?;
        if g.members.remove(user).is_none() {
            return Err(not_exist("User.Group", "The user has not joined the group."));
        }
        if let Some(u) = self.users.get_mut(user) {
            u.groups.retain(|(n, _)| n != group);
        }
        Ok(())
    }

    /// Deletes a group without members and policies (`DeleteConflict.Group.*` otherwise).
    fn delete_group(&mut self, name: &str) -> Result<(), ApiError> {
        let g = self.groups.get(name).ok_or_else(no_group)?;
        first_conflict(&[
            (
                !g.members.is_empty(),
                "Group.User",
                "The group CAN NOT has any user member while deleting the group.",
            ),
            (
                !g.policies.is_empty(),
                "Group.Policy",
                "The entity CAN NOT has any attached policy while deleting the group.",
            ),
        ])?;
        self.groups.remove(name);
        Ok(())
    }

    /// `ListGroupsForUser` (IMS adds `DisplayName`).
    pub(super) fn groups_of_user(&self, user: &str, ims: bool) -> Result<Value, ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        let groups: Vec<Value> = u
            .groups
            .iter()
            .filter_map(|(g, joined)| {
                self.groups.get(g).map(|gr| {
                    let mut v =
                        json!({"GroupName": g, "GroupId": gr.id, "Comments": "", "JoinDate": utc(*joined)});
                    if ims && let Some(o) = v.as_object_mut() {
                        o.insert("DisplayName".into(), Value::String(g.clone()));
                    }
                    v
                })
            })
            .collect();
        Ok(json!({ "Groups": { "Group": groups } }))
    }

    /// `RemoveUserFromGroup` of `user` (the group is `GroupName` in RAM and IMS).
    pub(super) fn remove_from_group_op(&mut self, user: &str, p: &Params) -> Result<Value, ApiError> {
        let g = group_name(p)?;
        self.leave(user, g)?;
        Ok(json!({}))
    }

    /// `ListUsersForGroup` (RAM: names; IMS: principal names and IDs).
    pub(crate) fn users_for_group(
        &self,
        ctx: &CallContext,
        p: &Params,
        max: u32,
        ims: bool,
    ) -> Result<Value, ApiError> {
        only(p, "ListUsersForGroup", &["GroupName", "Marker", "MaxItems"])?;
        let g = self.groups.get(group_name(p)?).ok_or_else(no_group)?;
        let n = max_items(p, "MaxItems", max, 100, ctx.page_limit)?;
        let page = g.members.page(param(p, "Marker"), n)?;
        Ok(page.body("Users", "User", |name, joined| {
            let u = self.users.get(name);
            let display = u.map_or(name, |u| u.display_name.as_str());
            if ims {
                json!({"UserPrincipalName": self.upn(name), "UserId": u.map(|u| u.id.clone()), "DisplayName": display, "JoinDate": utc(*joined)})
            } else {
                json!({"UserName": name, "DisplayName": display, "JoinDate": utc(*joined)})
            }
        }))
    }

    /// `ListGroups` for RAM or IMS.
    pub(crate) fn list_groups(&self, ctx: &CallContext, p: &Params, ims: bool) -> Result<Value, ApiError> {
        only(p, "ListGroups", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", if ims { 100 } else { 1000 }, 100, ctx.page_limit)?;
        let page = self.groups.page(param(p, "Marker"), n)?;
        Ok(page.body("Groups", "Group", |name, g| {
            let mut v = json!({"GroupName": name, "GroupId": g.id, "Comments": "", "CreateDate": utc(g.created), "UpdateDate": utc(g.created)});
            if ims && let Some(o) = v.as_object_mut() {
                o.insert("DisplayName".into(), Value::String(name.to_owned()));
            }
            v
        }))
    }

    /// `DeleteGroup` (RAM and IMS).
    pub(crate) fn delete_group_op(&mut self, p: &Params) -> Result<Value, ApiError> {
        self.delete_group(group_name(p)?)?;
        Ok(json!({}))
    }
}

/// The RAM group actions (a user's groups and leaving one: [`super::UserOp`]).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("ListGroups", Read, |st, ctx, p| st.list_groups(ctx, p, false)),
    Action::account("GetGroup", Read, |st, _ctx, p| {
        let name = group_name(p)?;
        let g = st.groups.get(name).ok_or_else(no_group)?;
        Ok(
            json!({"Group": {"GroupName": name, "GroupId": g.id, "Comments": "", "CreateDate": utc(g.created)}}),
        )
    }),
    Action::account("CreateGroup", Mutating, |st, ctx, p| {
        let name = group_name(p)?;
        st.add_group(name, ctx.now)?;
        let id = st.groups.get(name).map(|g| g.id.clone());
        Ok(
            json!({"Group": {"GroupName": name, "GroupId": id, "Comments": param(p, "Comments").unwrap_or(""), "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("AddUserToGroup", Mutating, |st, ctx, p| {
        let (u, g) = (user_name(p)?, group_name(p)?);
        st.join(u, g, ctx.now)?;
        Ok(json!({}))
    }),
    Action::account("ListUsersForGroup", Read, |st, ctx, p| {
        st.users_for_group(ctx, p, 1000, false)
    }),
    Action::account("DeleteGroup", Mutating, |st, _ctx, p| st.delete_group_op(p)),
];
