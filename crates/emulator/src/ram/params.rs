//! Parameter checks shared by the RAM actions: names, flags, version IDs and policy documents.

use serde_json::Value;

use crate::api::{ApiError, Params, param, required};

/// Checks a RAM name: `InvalidParameter.<Field>.Length` / `.InvalidChars` as the real service words it.
pub(super) fn check_name(field: &str, v: &str, max: usize, extra: &str) -> Result<(), ApiError> {
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::new(
            400,
            &format!("InvalidParameter.{field}.Length"),
            format!("The parameter - \"{field}\" beyond the length limit."),
        ));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c)) {
        return Err(ApiError::new(
            400,
            &format!("InvalidParameter.{field}.InvalidChars"),
            format!("The parameter - \"{field}\" contains invalid chars."),
        ));
    }
    Ok(())
}

/// The required name parameter `field`, checked with [`check_name`].
fn name<'a>(p: &'a Params, field: &str, max: usize, extra: &str) -> Result<&'a str, ApiError> {
    let v = required(p, field)?;
    check_name(field, v, max, extra)?;
    Ok(v)
}

/// `UserName`, checked like the service checks it.
pub(super) fn user_name(p: &Params) -> Result<&str, ApiError> {
    name(p, "UserName", 64, ".@_-")
}

/// `GroupName`, checked like the service checks it.
pub(super) fn group_name(p: &Params) -> Result<&str, ApiError> {
    name(p, "GroupName", 64, "-")
}

/// `RoleName`, checked like the service checks it.
pub(super) fn role_name(p: &Params) -> Result<&str, ApiError> {
    name(p, "RoleName", 64, ".-")
}

/// `PolicyName`, checked like the service checks it.
pub(super) fn policy_name(p: &Params) -> Result<&str, ApiError> {
    name(p, "PolicyName", 128, "-")
}

/// A boolean parameter: absent or empty is `false`; anything but true/false is refused.
pub(super) fn flag(p: &Params, name: &str) -> Result<bool, ApiError> {
    match param(p, name) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::new(
            400,
            &format!("InvalidParameter.{name}"),
            format!("The parameter - \"{name}\" must be true or false."),
        )),
    }
}

/// `v1`, `v2`, ...: anything else is `InvalidParameter.VersionId.Format`.
pub(super) fn check_version_id(version: &str) -> Result<(), ApiError> {
    if version
        .strip_prefix('v')
        .is_some_and(|n| n.parse::<u32>().is_ok())
    {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "InvalidParameter.VersionId.Format",
            "The format of the parameter - \"VersionId\" is incorrect.",
        ))
    }
}

/// A policy document (trust or permission) must at least be JSON: `MalformedPolicyDocument`.
pub(super) fn check_document(doc: &str) -> Result<(), ApiError> {
    if serde_json::from_str::<Value>(doc).is_err() {
        return Err(ApiError::new(
            400,
            "MalformedPolicyDocument",
            "The policy document is not valid JSON.",
        ));
    }
    Ok(())
}
