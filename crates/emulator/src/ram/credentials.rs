//! Credentials of a RAM user: AccessKeys (at most two a user) and the console login profile.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{exists, limit_exceeded, no_login, no_user, not_exist};
use super::params::{flag, user_name};
use super::{Key, RamState, utc};
use crate::api::ActionClass::Mutating;
use crate::api::{ApiError, Params, required};
use crate::catalog::Action;

/// AccessKeys a user may have (`LimitExceeded.User.AccessKey` beyond).
const LIMIT_KEYS_PER_USER: usize = 2;

impl RamState {
    /// Adds an AccessKey (a generated ID when `id` is `None`); a third is `LimitExceeded.User.AccessKey`.
    pub(super) fn add_key(
        &mut self,
        user: &str,
        id: Option<String>,
        status: &str,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let id = match id {
            Some(i) => i,
            None => self.key_id(),
        };
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        if u.keys.len() >= LIMIT_KEYS_PER_USER {
            return Err(limit_exceeded(
                "User.AccessKey",
                "The count of access keys of the user beyond the current limits.",
            ));
        }
        u.keys.push(Key {
            id: id.clone(),
            status: status.to_owned(),
            created: now,
        });
        Ok(id)
    }

    /// Deletes one AccessKey of `user`.
    fn delete_key(&mut self, user: &str, key: &str) -> Result<(), ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        let before = u.keys.len();
        u.keys.retain(|k| k.id != key);
        if u.keys.len() == before {
            return Err(not_exist("User.AccessKey", "The user access key does not exist."));
        }
        Ok(())
    }

    /// Deletes the console login profile of `user`.
    pub(super) fn delete_login(&mut self, user: &str) -> Result<(), ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        u.login.take().map(|_| ()).ok_or_else(no_login)
    }

    /// `DeleteAccessKey` of `user` (the key is `UserAccessKeyId` in RAM and IMS).
    pub(super) fn delete_key_op(&mut self, user: &str, p: &Params) -> Result<Value, ApiError> {
        let k = required(p, "UserAccessKeyId")?;
        self.delete_key(user, k)?;
        Ok(json!({}))
    }

    /// `ListAccessKeys` (IMS adds `UpdateDate`).
    pub(super) fn access_keys_of(&self, user: &str, ims: bool) -> Result<Value, ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        let keys: Vec<Value> = u
            .keys
            .iter()
            .map(|k| {
                let mut v = json!({"AccessKeyId": k.id, "Status": k.status, "CreateDate": utc(k.created)});
                if ims && let Some(o) = v.as_object_mut() {
                    o.insert("UpdateDate".into(), Value::String(utc(k.created)));
                }
                v
            })
            .collect();
        Ok(json!({ "AccessKeys": { "AccessKey": keys } }))
    }

    /// `GetLoginProfile` in the RAM or the IMS form.
    pub(super) fn login_profile_of(&self, user: &str, ims: bool) -> Result<Value, ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        let created = u.login.ok_or_else(no_login)?;
        Ok(if ims {
            json!({ "LoginProfile": {
                "UserPrincipalName": self.upn(user), "UpdateDate": utc(created), "PasswordResetRequired": false,
                "MFABindRequired": false, "Status": "Active", "PasswordStatus": "NotInitial",
                "AutoDisableLoginStatus": "", "LastLoginTime": "",
            }})
        } else {
            json!({ "LoginProfile": {
                "UserName": user, "CreateDate": utc(created), "PasswordResetRequired": false, "MFABindRequired": false,
            }})
        })
    }
}

/// The RAM actions creating AccessKeys and login profiles (listing and deleting them: [`super::UserOp`]).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("CreateAccessKey", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let id = st.add_key(name, None, "Active", ctx.now)?;
        let secret: String = uuid::Uuid::new_v4().simple().to_string();
        Ok(
            json!({"AccessKey": {"AccessKeyId": id, "AccessKeySecret": secret, "Status": "Active", "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("CreateLoginProfile", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        required(p, "Password")?;
        let u = st.users.get_mut(name).ok_or_else(no_user)?;
        if u.login.is_some() {
            return Err(exists("User.LoginProfile"));
        }
        u.login = Some(ctx.now);
        Ok(
            json!({"LoginProfile": {"UserName": name, "CreateDate": utc(ctx.now), "PasswordResetRequired": flag(p, "PasswordResetRequired")?, "MFABindRequired": flag(p, "MFABindRequired")?}}),
        )
    }),
];
