//! RAM users: creation, renaming and deletion with its documented conflict order, the IMS view of
//! a user, and the per-user operations RAM and IMS both answer ([`UserOp`]).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{exists, first_conflict, no_user};
use super::params::{check_name, user_name};
use super::{PolicyType, RamState, Recycled, User, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, CallContext, Params, only, param};
use crate::catalog::Action;
use crate::table::max_items;
use crate::tags::{self, TagFilter};

/// The per-user operations RAM and IMS both answer. They differ in how the user is named (RAM:
/// `UserName`; IMS: principal name, user ID or AccessKey ID) and in a few fields of the answer, so
/// each product's table names the operation and this type runs it once for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserOp {
    /// `ListGroupsForUser`.
    ListGroups,
    /// `RemoveUserFromGroup`.
    RemoveFromGroup,
    /// `ListAccessKeys`.
    ListAccessKeys,
    /// `DeleteAccessKey`.
    DeleteAccessKey,
    /// `GetLoginProfile`.
    GetLoginProfile,
    /// `DeleteLoginProfile`.
    DeleteLoginProfile,
    /// `GetUserMFAInfo`.
    GetMfaInfo,
    /// `UnbindMFADevice`.
    UnbindMfa,
    /// `DeleteUser` (the user goes to the recycle bin).
    Delete,
}

/// The rows of the [`UserOp`] actions for one product, in one place since RAM and IMS answer the same
/// ones with the same classes; `$run` is the method that finds the user the way the product names it
/// ([`RamState::ram_user_op`] or [`RamState::ims_user_op`]).
macro_rules! user_op_actions {
    ($run:ident) => {
        $crate::ram::user_op_actions!(@rows $run;
            "ListGroupsForUser" Read ListGroups,
            "RemoveUserFromGroup" Mutating RemoveFromGroup,
            "ListAccessKeys" Read ListAccessKeys,
            "DeleteAccessKey" Mutating DeleteAccessKey,
            "GetLoginProfile" Read GetLoginProfile,
            "DeleteLoginProfile" Mutating DeleteLoginProfile,
            "GetUserMFAInfo" Read GetMfaInfo,
            "UnbindMFADevice" Mutating UnbindMfa,
            "DeleteUser" Mutating Delete,
        )
    };
    (@rows $run:ident; $($name:literal $class:ident $op:ident,)*) => {
        [$($crate::catalog::Action::account($name, $crate::api::ActionClass::$class, |st, ctx, p| {
            st.$run(ctx, p, $crate::ram::UserOp::$op)
        }),)*]
    };
}
pub(crate) use user_op_actions;

impl RamState {
    /// Creates a user with nothing attached.
    pub(super) fn add_user(&mut self, name: &str, display: &str, now: Timestamp) -> Result<(), ApiError> {
        if self.users.contains(name) {
            return Err(exists("User"));
        }
        let id = self.next_id();
        self.users.insert(
            name,
            User {
                id,
                display_name: display.to_owned(),
                frozen: false,
                created: now,
                updated: now,
                keys: vec![],
                login: None,
                mfa: None,
                groups: vec![],
                policies: vec![],
                tags: vec![],
            },
        );
        Ok(())
    }

    /// `UpdateUser` with `NewUserName`: the user keeps its place, ID, keys and attachments.
    fn rename_user(&mut self, old: &str, new: &str) -> Result<(), ApiError> {
        if self.users.contains(new) {
            return Err(exists("User"));
        }
        self.users.rename(old, new);
        let Some(u) = self.users.get(old).or_else(|| self.users.get(new)) else {
            return Err(no_user());
        };
        let groups: Vec<String> = u.groups.iter().map(|(g, _)| g.clone()).collect();
        let custom: Vec<String> = u
            .policies
            .iter()
            .filter(|a| a.kind == PolicyType::Custom)
            .map(|a| a.name.clone())
            .collect();
        let mfa = u.mfa.clone();
        for g in groups {
            if let Some(gr) = self.groups.get_mut(&g) {
                gr.members.rename(old, new);
            }
        }
        for pol in custom {
            if let Some(x) = self.policies.get_mut(&pol) {
                x.attached.remove(&(0, old.to_owned()));
                x.attached.insert((0, new.to_owned()));
            }
        }
        if let Some(d) = mfa.and_then(|s| self.mfa.get_mut(&s)) {
            d.user = Some(new.to_owned());
        }
        self.extras.rename_user(old, new);
        Ok(())
    }

    /// Deletes a user with no dependency left (the first one left, in the documented order, answers
    /// `DeleteConflict.User.*`); passkeys and service credentials go with it unless the seed says not.
    fn delete_user(&mut self, name: &str) -> Result<User, ApiError> {
        let u = self.users.get(name).ok_or_else(no_user)?;
        first_conflict(&[
            (
                !u.groups.is_empty(),
                "User.Group",
                "The user CAN NOT be in any group while deleting the user.",
            ),
            (
                !u.keys.is_empty(),
                "User.AccessKey",
                "The user CAN NOT has any access key while deleting the user.",
            ),
            (
                u.login.is_some(),
                "User.LoginProfile",
                "The user CAN NOT has any login profile while deleting the user.",
            ),
            (
                u.mfa.is_some(),
                "User.MFADevice",
                "The user CAN NOT has any mfa device while deleting the user.",
            ),
            (
                !u.policies.is_empty(),
                "User.Policy",
                "The user CAN NOT has any attached policy while deleting the user.",
            ),
            // Undocumented: by default passkeys and service credentials go with the user; the seed's
            // `conflicts` can make DeleteUser refuse like for the documented dependencies.
            (
                self.strict_passkeys && self.extras.has_passkeys(name),
                "User.Passkey",
                "The user CAN NOT has any passkey while deleting the user.",
            ),
            (
                self.strict_credentials && self.extras.has_credentials(name),
                "User.ServiceCredential",
                "The user CAN NOT has any service credential while deleting the user.",
            ),
        ])?;
        self.extras.drop_user(name);
        self.users.remove(name).ok_or_else(no_user)
    }

    /// `DeleteUser`: like IMS, the deleted user stays restorable in the recycle bin.
    fn delete_to_recycle_bin(&mut self, user: &str, now: Timestamp) -> Result<Value, ApiError> {
        let u = self.delete_user(user)?;
        let upn = self.upn(user);
        self.recycle.insert(
            &u.id,
            Recycled {
                upn,
                display_name: u.display_name,
                created: u.created,
                recycled: now,
                keys: vec![],
            },
        );
        Ok(json!({}))
    }

    /// Runs a [`UserOp`] on `user`; `ims` picks the IMS form of the answer.
    fn user_op(
        &mut self,
        ctx: &CallContext,
        op: UserOp,
        user: &str,
        p: &Params,
        ims: bool,
    ) -> Result<Value, ApiError> {
        match op {
            UserOp::ListGroups => self.groups_of_user(user, ims),
            UserOp::RemoveFromGroup => self.remove_from_group_op(user, p),
            UserOp::ListAccessKeys => self.access_keys_of(user, ims),
            UserOp::DeleteAccessKey => self.delete_key_op(user, p),
            UserOp::GetLoginProfile => self.login_profile_of(user, ims),
            UserOp::DeleteLoginProfile => {
                self.delete_login(user)?;
                Ok(json!({}))
            }
            UserOp::GetMfaInfo => self.mfa_info_of(user, ims),
            UserOp::UnbindMfa => {
                let serial = self.unbind(user)?;
                Ok(json!({ "MFADevice": { "SerialNumber": serial } }))
            }
            UserOp::Delete => self.delete_to_recycle_bin(user, ctx.now),
        }
    }

    /// A [`UserOp`] on the user RAM's `UserName` names.
    fn ram_user_op(&mut self, ctx: &CallContext, p: &Params, op: UserOp) -> Result<Value, ApiError> {
        let name = user_name(p)?.to_owned();
        self.user_op(ctx, op, &name, p, false)
    }

    /// A [`UserOp`] on the user an IMS call names (principal name, user ID or AccessKey ID).
    pub(crate) fn ims_user_op(
        &mut self,
        ctx: &CallContext,
        p: &Params,
        op: UserOp,
    ) -> Result<Value, ApiError> {
        let name = self.user_by_ims(p)?;
        self.user_op(ctx, op, &name, p, true)
    }

    // ----------------------------------------------------------------------- IMS helpers

    /// The user a principal name, user ID or AccessKey ID names.
    pub(crate) fn user_by_ims(&self, p: &Params) -> Result<String, ApiError> {
        if let Some(upn) = param(p, "UserPrincipalName").filter(|s| !s.is_empty()) {
            let (name, domain) = upn.rsplit_once('@').ok_or_else(no_user)?;
            if domain != self.default_domain || !self.users.contains(name) {
                return Err(no_user());
            }
            return Ok(name.to_owned());
        }
        if let Some(id) = param(p, "UserId").filter(|s| !s.is_empty()) {
            return self
                .users
                .iter()
                .find(|(_, u)| u.id == id)
                .map(|(n, _)| n.to_owned())
                .ok_or_else(no_user);
        }
        if let Some(k) = param(p, "UserAccessKeyId").filter(|s| !s.is_empty()) {
            return self
                .users
                .iter()
                .find(|(_, u)| u.keys.iter().any(|x| x.id == k))
                .map(|(n, _)| n.to_owned())
                .ok_or_else(no_user);
        }
        Err(ApiError::missing("UserPrincipalName"))
    }

    /// IMS view of a user.
    pub(crate) fn ims_user(&self, name: &str, with_name: bool) -> Option<Value> {
        let u = self.users.get(name)?;
        let mut v = json!({
            "UserId": u.id, "UserPrincipalName": self.upn(name), "DisplayName": u.display_name,
            "Status": if u.frozen { "freeze" } else { "active" }, "ProvisionType": "Manual",
            "CreateDate": utc(u.created), "UpdateDate": utc(u.created), "Comments": "", "Email": "", "MobilePhone": "",
        });
        if with_name && let Some(o) = v.as_object_mut() {
            o.insert("UserName".into(), Value::String(name.to_owned()));
        }
        tags::insert_ram(&mut v, &u.tags);
        Some(v)
    }

    /// IMS `ListUsers`: `Status` filters (default active only).
    pub(crate) fn ims_list_users(&self, ctx: &CallContext, p: &Params) -> Result<Value, ApiError> {
        only(p, "ListUsers", &["Marker", "MaxItems", "Status", "Tag.*"])?;
        let filter = TagFilter::from_repeat_list(p)?;
        // With a Tag filter both states are listed (IMS SDK text); otherwise Status, default active.
        let status = match param(p, "Status").filter(|s| !s.is_empty()) {
            Some(s) => s,
            None if filter.is_some() => "active,freeze",
            None => "active",
        };
        let mut want = (false, false);
        for s in status.split(',') {
            match s.trim() {
                "active" => want.0 = true,
                "freeze" => want.1 = true,
                _ => {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameter.Status",
                        "The parameter - \"Status\" is incorrect.",
                    ));
                }
            }
        }
        let n = max_items(p, "MaxItems", 1000, 1000, ctx.page_limit)?;
        let page = self.users.page_where(param(p, "Marker"), n, |_, u| {
            ((u.frozen && want.1) || (!u.frozen && want.0)) && tags::passes(filter.as_ref(), &u.tags)
        })?;
        Ok(page.body("Users", "User", |name, _| {
            self.ims_user(name, false).unwrap_or(Value::Null)
        }))
    }
}

/// The RAM actions on one user, by `UserName`.
pub(super) const USER_OP_ACTIONS: &[Action] = &user_op_actions!(ram_user_op);

/// The RAM user actions (keys, login profiles, groups and MFA of a user: their own files).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("ListUsers", Read, |st, ctx, p| {
        only(p, "ListUsers", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let page = st.users.page(param(p, "Marker"), n)?;
        Ok(page.body("Users", "User", |name, u| {
                json!({"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "", "Email": "",
                       "MobilePhone": "", "CreateDate": utc(u.created), "UpdateDate": utc(u.created)})
            }))
    }),
    Action::account("GetUser", Read, |st, _ctx, p| {
        let name = user_name(p)?;
        let u = st.users.get(name).ok_or_else(no_user)?;
        Ok(
            json!({"User": {"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "",
                "CreateDate": utc(u.created), "UpdateDate": utc(u.created), "LastLoginDate": ""}}),
        )
    }),
    Action::account("CreateUser", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let display = param(p, "DisplayName").filter(|s| !s.is_empty()).unwrap_or(name);
        st.add_user(name, display, ctx.now)?;
        let u = st.users.get(name).ok_or_else(no_user)?;
        Ok(
            json!({"User": {"UserName": name, "UserId": u.id, "DisplayName": u.display_name, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("UpdateUser", Mutating, |st, ctx, p| {
        let name = user_name(p)?.to_owned();
        if !st.users.contains(&name) {
            return Err(no_user());
        }
        let new_name = match param(p, "NewUserName").filter(|s| !s.is_empty()) {
            Some(n) => {
                check_name("NewUserName", n, 64, ".@_-")?;
                n.to_owned()
            }
            None => name.clone(),
        };
        if new_name != name {
            st.rename_user(&name, &new_name)?;
        }
        let u = st.users.get_mut(&new_name).ok_or_else(no_user)?;
        if let Some(d) = param(p, "NewDisplayName").filter(|s| !s.is_empty()) {
            d.clone_into(&mut u.display_name);
        }
        u.updated = ctx.now;
        Ok(
            json!({"User": {"UserName": new_name, "UserId": u.id, "DisplayName": u.display_name, "Comments": "",
                  "CreateDate": utc(u.created), "UpdateDate": utc(u.updated)}}),
        )
    }),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::catalog::testing::{ctx, params as p, ram as dispatch, seeded};

    #[test]
    fn user_conflicts_come_in_documented_order() {
        let mut st = seeded(
            "users: [{name: a, accessKeys: [{}], loginProfile: true, groups: [g], policies: [{name: ReadOnlyAccess, type: System}]}]\ngroups: [{name: g}]",
        );
        let c = ctx();
        let del = |st: &mut RamState| {
            dispatch(st, &c, "DeleteUser", &p(&[("UserName", "a")]))
                .unwrap_err()
                .code
        };
        assert_eq!(del(&mut st), "DeleteConflict.User.Group");
        dispatch(
            &mut st,
            &c,
            "RemoveUserFromGroup",
            &p(&[("UserName", "a"), ("GroupName", "g")]),
        )
        .unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.AccessKey");
        let k = st.users.get("a").unwrap().keys[0].id.clone();
        dispatch(
            &mut st,
            &c,
            "DeleteAccessKey",
            &p(&[("UserName", "a"), ("UserAccessKeyId", &k)]),
        )
        .unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.LoginProfile");
        dispatch(&mut st, &c, "DeleteLoginProfile", &p(&[("UserName", "a")])).unwrap();
        assert_eq!(del(&mut st), "DeleteConflict.User.Policy");
        dispatch(
            &mut st,
            &c,
            "DetachPolicyFromUser",
            &p(&[
                ("UserName", "a"),
                ("PolicyName", "ReadOnlyAccess"),
                ("PolicyType", "System"),
            ]),
        )
        .unwrap();
        dispatch(&mut st, &c, "DeleteUser", &p(&[("UserName", "a")])).unwrap();
        assert_eq!(del(&mut st), "EntityNotExist.User");
    }

    #[test]
    fn update_user_renames_in_place_and_get_policy_version_answers() {
        let mut st = seeded(
            "users: [{name: a, groups: [g], policies: [{name: cp}], mfaDevice: d}, {name: b}]\ngroups: [{name: g}]\npolicies: [{name: cp, versions: 2}]\nvirtualMfaDevices: [{name: d}]",
        );
        let c = ctx();
        let id = st.users.get("a").unwrap().id.clone();
        let v = dispatch(
            &mut st,
            &c,
            "UpdateUser",
            &p(&[
                ("UserName", "a"),
                ("NewUserName", "a2"),
                ("NewDisplayName", "A two"),
            ]),
        )
        .unwrap();
        assert_eq!(v["User"]["UserId"], id.as_str());
        assert_eq!(st.users.iter().map(|x| x.0).collect::<Vec<_>>(), ["a2", "b"]);
        assert!(st.groups.get("g").unwrap().members.contains("a2"));
        assert!(
            st.policies
                .get("cp")
                .unwrap()
                .attached
                .contains(&(0, "a2".into()))
        );
        let e = dispatch(
            &mut st,
            &c,
            "UpdateUser",
            &p(&[("UserName", "a2"), ("NewUserName", "b")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists.User");
        let mut version = |id: &str| {
            let q = p(&[("PolicyName", "cp"), ("PolicyType", "Custom"), ("VersionId", id)]);
            dispatch(&mut st, &c, "GetPolicyVersion", &q)
        };
        assert_eq!(version("v2").unwrap()["PolicyVersion"]["IsDefaultVersion"], true);
        assert_eq!(version("v9").unwrap_err().code, "EntityNotExist.Policy.Version");
    }
}
