//! The error answers RAM gives, worded as the real service words them, shared by every family.

use crate::api::ApiError;

/// `EntityNotExist.<what>` (404).
pub(super) fn not_exist(what: &str, msg: &str) -> ApiError {
    ApiError::new(404, &format!("EntityNotExist.{what}"), msg)
}

/// `DeleteConflict.<code>` (409): a delete refused while a dependency is left.
pub(super) fn conflict(code: &str, msg: &str) -> ApiError {
    ApiError::new(409, &format!("DeleteConflict.{code}"), msg)
}

/// The first dependency still left, in the documented order: each `(left, code, message)` row
/// whose `left` holds answers `DeleteConflict.<code>`.
pub(super) fn first_conflict(deps: &[(bool, &str, &str)]) -> Result<(), ApiError> {
    match deps.iter().find(|(left, _, _)| *left) {
        Some((_, code, msg)) => Err(conflict(code, msg)),
        None => Ok(()),
    }
}

/// `EntityAlreadyExists.<what>` (409).
pub(super) fn exists(what: &str) -> ApiError {
    ApiError::new(
        409,
        &format!("EntityAlreadyExists.{what}"),
        format!("The {what} does already EXIST."),
    )
}

/// `LimitExceeded.<what>` (409): one more would pass the service's quota.
pub(super) fn limit_exceeded(what: &str, msg: &str) -> ApiError {
    ApiError::new(409, &format!("LimitExceeded.{what}"), msg)
}

/// No such user.
pub(super) fn no_user() -> ApiError {
    not_exist("User", "The user does not exist.")
}

/// No such group.
pub(super) fn no_group() -> ApiError {
    not_exist("Group", "The group does not exist.")
}

/// No such role.
pub(super) fn no_role() -> ApiError {
    not_exist("Role", "The role does not exist.")
}

/// No such policy (system or custom).
pub(super) fn no_policy() -> ApiError {
    not_exist("Policy", "The policy does not exist.")
}

/// No such policy version.
pub(super) fn no_version() -> ApiError {
    not_exist("Policy.Version", "The policy version does not exist.")
}

/// The user has no console login profile.
pub(super) fn no_login() -> ApiError {
    not_exist("User.LoginProfile", "The user login profile does not exist.")
}

/// No such virtual MFA device.
pub(super) fn no_device() -> ApiError {
    not_exist("VirtualMFADevice", "The virtual mfa device does not exist.")
}

/// The user has no bound MFA device.
pub(super) fn no_user_device() -> ApiError {
    not_exist("User.MFADevice", "The user has not bound any MFA device.")
}
