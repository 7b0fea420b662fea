//! Virtual MFA devices: creation, binding to a user (one device a user, one user a device), the RAM
//! and IMS listings, and deletion (a bound device answers `DeleteConflict.VirtualMFADevice.User`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{conflict, exists, no_device, no_user, no_user_device};
use super::params::{check_name, user_name};
use super::{Mfa, RamState, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, CallContext, Params, only, param, required};
use crate::catalog::Action;
use crate::table::max_items;

impl RamState {
    /// Binds the device `serial` to `user` (one device a user, one user a device).
    pub(super) fn bind(&mut self, user: &str, serial: &str, now: Timestamp) -> Result<(), ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        if u.mfa.is_some() {
            return Err(exists("User.MFADevice"));
        }
        let d = self.mfa.get_mut(serial).ok_or_else(no_device)?;
        if d.user.is_some() {
            return Err(exists("VirtualMFADevice.User"));
        }
        d.user = Some(user.to_owned());
        d.activated = Some(now);
        if let Some(u) = self.users.get_mut(user) {
            u.mfa = Some(serial.to_owned());
        }
        Ok(())
    }

    /// Unbinds the device of `user` and answers its serial number.
    pub(super) fn unbind(&mut self, user: &str) -> Result<String, ApiError> {
        let u = self.users.get_mut(user).ok_or_else(no_user)?;
        let serial = u.mfa.take().ok_or_else(no_user_device)?;
        if let Some(d) = self.mfa.get_mut(&serial) {
            d.user = None;
            d.activated = None;
        }
        Ok(serial)
    }

    /// Deletes an unbound device (`DeleteConflict.VirtualMFADevice.User` when bound).
    fn delete_mfa(&mut self, serial: &str) -> Result<(), ApiError> {
        let d = self.mfa.get(serial).ok_or_else(no_device)?;
        if d.user.is_some() {
            return Err(conflict(
                "VirtualMFADevice.User",
                "The virtual mfa device CAN NOT been bound to any user while deleting it.",
            ));
        }
        self.mfa.remove(serial);
        Ok(())
    }

    /// `GetUserMFAInfo` (IMS adds `IsMFAEnable`).
    pub(super) fn mfa_info_of(&self, user: &str, ims: bool) -> Result<Value, ApiError> {
        let u = self.users.get(user).ok_or_else(no_user)?;
        let serial = u.mfa.clone().ok_or_else(no_user_device)?;
        let mut v = json!({ "MFADevice": { "SerialNumber": serial, "Type": "VMFA" } });
        if ims && let Some(o) = v.as_object_mut() {
            o.insert("IsMFAEnable".into(), Value::Bool(true));
        }
        Ok(v)
    }

    /// `ListVirtualMFADevices` (RAM: everything; IMS: Marker pages).
    pub(crate) fn list_mfa(&self, ctx: &CallContext, p: &Params, ims: bool) -> Result<Value, ApiError> {
        only(
            p,
            "ListVirtualMFADevices",
            if ims { &["Marker", "MaxItems"] } else { &[] },
        )?;
        let n = if ims {
            max_items(p, "MaxItems", 100, 100, ctx.page_limit)?
        } else {
            usize::MAX
        };
        let page = self.mfa.page(if ims { param(p, "Marker") } else { None }, n)?;
        let mut body = page.body("VirtualMFADevices", "VirtualMFADevice", |serial, d| {
            let mut v = json!({ "SerialNumber": serial });
            if let (Some(user), Some(o)) = (&d.user, v.as_object_mut()) {
                let u = self.users.get(user);
                let mut who = json!({"UserId": u.map(|u| u.id.clone()), "DisplayName": u.map(|u| u.display_name.clone())});
                if let Some(w) = who.as_object_mut() {
                    if ims {
                        w.insert("UserPrincipalName".into(), Value::String(self.upn(user)));
                    } else {
                        w.insert("UserName".into(), Value::String(user.clone()));
                    }
                }
                o.insert("User".into(), who);
                o.insert("ActivateDate".into(), Value::String(d.activated.map(utc).unwrap_or_default()));
            }
            v
        });
        if !ims && let Some(o) = body.as_object_mut() {
            o.remove("IsTruncated");
        }
        Ok(body)
    }

    /// `DeleteVirtualMFADevice` (RAM and IMS).
    pub(crate) fn delete_mfa_op(&mut self, p: &Params) -> Result<Value, ApiError> {
        self.delete_mfa(required(p, "SerialNumber")?)?;
        Ok(json!({}))
    }
}

/// The RAM virtual MFA device actions (a user's device and unbinding it: [`super::UserOp`]).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("CreateVirtualMFADevice", Mutating, |st, _ctx, p| {
        let name = required(p, "VirtualMFADeviceName")?;
        check_name("VirtualMFADeviceName", name, 64, ".@_-")?;
        let serial = st.serial(name);
        if st.mfa.contains(&serial) {
            return Err(exists("VirtualMFADevice"));
        }
        st.mfa.insert(
            &serial,
            Mfa {
                user: None,
                activated: None,
            },
        );
        Ok(
            json!({"VirtualMFADevice": {"SerialNumber": serial, "Base32StringSeed": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "QRCodePNG": ""}}),
        )
    }),
    Action::account("BindMFADevice", Mutating, |st, ctx, p| {
        let name = user_name(p)?;
        let serial = required(p, "SerialNumber")?;
        required(p, "AuthenticationCode1")?;
        required(p, "AuthenticationCode2")?;
        st.bind(name, serial, ctx.now)?;
        Ok(json!({}))
    }),
    Action::account("ListVirtualMFADevices", Read, |st, ctx, p| {
        st.list_mfa(ctx, p, false)
    }),
    Action::account("DeleteVirtualMFADevice", Mutating, |st, _ctx, p| {
        st.delete_mfa_op(p)
    }),
];
