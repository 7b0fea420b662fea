//! IMS (2019-08-15) on the same state as RAM: users by principal name, identity providers, the default
//! domain and the recycle bin. A user deleted through RAM is gone from IMS too, as on the real service.

use serde_json::{Value, json};

use super::api::{ActionClass, ApiError, CallContext, Params, param, required};
use super::ram::{RamState, utc};
use super::table::max_items;

/// Read / Mutating class of an IMS action; `None` = not an IMS action the emulator knows.
#[must_use]
pub fn classify(action: &str) -> Option<ActionClass> {
    use ActionClass::{Mutating, Read};
    Some(match action {
        "ListUsers"
        | "GetUser"
        | "ListGroups"
        | "ListGroupsForUser"
        | "ListUsersForGroup"
        | "ListAccessKeys"
        | "GetLoginProfile"
        | "GetUserMFAInfo"
        | "ListVirtualMFADevices"
        | "ListSAMLProviders"
        | "ListOIDCProviders"
        | "GetDefaultDomain"
        | "ListUsersInRecycleBin"
        | "ListAccessKeysInRecycleBin" => Read,
        "DeleteUser"
        | "DeleteGroup"
        | "RemoveUserFromGroup"
        | "DeleteAccessKey"
        | "DeleteLoginProfile"
        | "UnbindMFADevice"
        | "DeleteVirtualMFADevice"
        | "DeleteSAMLProvider"
        | "DeleteOIDCProvider"
        | "SetDefaultDomain"
        | "DeleteUserInRecycleBin"
        | "DeleteAccessKeyInRecycleBin"
        | "CreateSAMLProvider"
        | "CreateOIDCProvider" => Mutating,
        _ => return None,
    })
}

fn no_saml() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.SAMLProvider",
        "The SAML provider does not exist.",
    )
}

fn no_oidc() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.OIDCProvider",
        "The OIDC provider does not exist.",
    )
}

fn no_recycled() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.RecycleBin.User",
        "The user does not exist in the recycle bin.",
    )
}

/// Checks a default domain the way `SetDefaultDomain` does.
fn check_domain(d: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::new(
            400,
            "InvalidParameter.DefaultDomainName.Format",
            "The parameter - \"DefaultDomainName\" must end with .onaliyun.com and contain letters, digits, '.', '_' or '-'.",
        )
    };
    let prefix = d.strip_suffix(".onaliyun.com").ok_or_else(bad)?;
    if prefix.is_empty()
        || d.len() > 64
        || prefix.starts_with('-')
        || prefix.ends_with('-')
        || prefix.contains("--")
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(bad());
    }
    Ok(())
}

/// Runs one IMS action for the caller's account. `Ok` is the body without `RequestId`.
///
/// # Errors
/// The API's error for the request.
pub fn dispatch(st: &mut RamState, ctx: &CallContext, action: &str, p: &Params) -> Result<Value, ApiError> {
    let now = ctx.now;
    match action {
        "ListUsers" => st.ims_list_users(ctx, p),
        "GetUser" => {
            let name = st.user_by_ims(p)?;
            st.ims_user(&name, true)
                .map(|u| json!({ "User": u }))
                .ok_or_else(|| ApiError::new(404, "EntityNotExist.User", "The user does not exist."))
        }
        "DeleteUser"
        | "ListGroupsForUser"
        | "RemoveUserFromGroup"
        | "ListAccessKeys"
        | "DeleteAccessKey"
        | "GetLoginProfile"
        | "DeleteLoginProfile"
        | "GetUserMFAInfo"
        | "UnbindMFADevice" => {
            let name = st.user_by_ims(p)?;
            st.user_op(ctx, action, &name, p, true)
        }
        "ListGroups" => st.list_groups(ctx, p, true),
        "DeleteGroup" => st.delete_group_op(p),
        "ListUsersForGroup" => st.users_for_group(ctx, p, 100, true),
        "ListVirtualMFADevices" => st.list_mfa(ctx, p, true),
        "DeleteVirtualMFADevice" => st.delete_mfa_op(p),
        "ListSAMLProviders" => {
            let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
            let account = st.account_id().to_owned();
            let page = st.saml.page(param(p, "Marker"), n)?;
            Ok(page.body("SAMLProviders", "SAMLProvider", |name, x| {
                json!({"SAMLProviderName": name, "Arn": format!("acs:ram::{account}:saml-provider/{name}"),
                       "Description": x.description, "CreateDate": utc(x.created), "UpdateDate": utc(x.created)})
            }))
        }
        "CreateSAMLProvider" => {
            let name = required(p, "SAMLProviderName")?;
            required(p, "EncodedSAMLMetadataDocument")?;
            if st.saml.contains(name) {
                return Err(ApiError::new(
                    409,
                    "EntityAlreadyExists.SAMLProvider",
                    "The SAML provider does already EXIST.",
                ));
            }
            st.saml.insert(
                name,
                super::ram::Provider {
                    description: param(p, "Description").unwrap_or("").to_owned(),
                    created: now,
                    issuer_url: String::new(),
                    client_ids: vec![],
                },
            );
            Ok(json!({"SAMLProvider": {"SAMLProviderName": name, "CreateDate": utc(now)}}))
        }
        "DeleteSAMLProvider" => {
            let name = required(p, "SAMLProviderName")?;
            st.saml.remove(name).map(|_| json!({})).ok_or_else(no_saml)
        }
        "ListOIDCProviders" => {
            let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
            let account = st.account_id().to_owned();
            let page = st.oidc.page(param(p, "Marker"), n)?;
            Ok(page.body("OIDCProviders", "OIDCProvider", |name, x| {
                json!({"OIDCProviderName": name, "Arn": format!("acs:ram::{account}:oidc-provider/{name}"),
                       "IssuerUrl": x.issuer_url, "ClientIds": x.client_ids.join(","), "Fingerprints": "",
                       "IssuanceLimitTime": 12, "Description": x.description, "CreateDate": utc(x.created),
                       "UpdateDate": utc(x.created), "GmtCreate": utc(x.created), "GmtModified": utc(x.created)})
            }))
        }
        "CreateOIDCProvider" => {
            let name = required(p, "OIDCProviderName")?;
            let issuer = required(p, "IssuerUrl")?;
            if st.oidc.contains(name) {
                return Err(ApiError::new(
                    409,
                    "EntityAlreadyExists.OIDCProvider",
                    "The OIDC provider does already EXIST.",
                ));
            }
            let client_ids = param(p, "ClientIds")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            st.oidc.insert(
                name,
                super::ram::Provider {
                    description: String::new(),
                    created: now,
                    issuer_url: issuer.to_owned(),
                    client_ids,
                },
            );
            Ok(
                json!({"OIDCProvider": {"OIDCProviderName": name, "IssuerUrl": issuer, "CreateDate": utc(now)}}),
            )
        }
        "DeleteOIDCProvider" => {
            let name = required(p, "OIDCProviderName")?;
            st.oidc.remove(name).map(|_| json!({})).ok_or_else(no_oidc)
        }
        "GetDefaultDomain" => Ok(json!({ "DefaultDomainName": st.default_domain })),
        "SetDefaultDomain" => {
            let d = required(p, "DefaultDomainName")?;
            check_domain(d)?;
            st.default_domain = d.to_owned();
            Ok(json!({ "DefaultDomainName": d }))
        }
        "ListUsersInRecycleBin" => {
            let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
            let filter = param(p, "Filter")
                .and_then(|f| f.strip_prefix("UserPrincipalName eq "))
                .map(str::to_owned);
            let page = st.recycle.page(param(p, "Marker"), n)?;
            let mut v = page.body("Users", "User", |id, u| {
                json!({"UserId": id, "UserPrincipalName": u.upn, "DisplayName": u.display_name, "CreateDate": utc(u.created),
                       "RecycleDate": utc(u.recycled), "DeleteDate": utc(u.recycled + jiff::SignedDuration::from_hours(24 * 7))})
            });
            if let (Some(f), Some(list)) =
                (filter, v.pointer_mut("/Users/User").and_then(Value::as_array_mut))
            {
                list.retain(|u| u.get("UserPrincipalName").and_then(Value::as_str) == Some(f.as_str()));
            }
            Ok(v)
        }
        "DeleteUserInRecycleBin" => {
            let id = required(p, "UserId")?;
            let u = st.recycle.get(id).ok_or_else(no_recycled)?;
            if !u.keys.is_empty() {
                return Err(ApiError::new(
                    409,
                    "DeleteConflict.RecycleBin.User.AccessKey",
                    "The user in the recycle bin CAN NOT has any access key while deleting it.",
                ));
            }
            st.recycle.remove(id);
            Ok(json!({}))
        }
        "ListAccessKeysInRecycleBin" => {
            let id = required(p, "UserId")?;
            let u = st.recycle.get(id).ok_or_else(no_recycled)?;
            let keys: Vec<Value> = u
                .keys
                .iter()
                .map(|(k, at)| json!({"AccessKeyId": k, "CreateDate": utc(*at), "RecycleDate": utc(u.recycled),
                                       "DeleteDate": utc(u.recycled + jiff::SignedDuration::from_hours(24 * 7))}))
                .collect();
            Ok(json!({ "AccessKeys": { "AccessKey": keys } }))
        }
        "DeleteAccessKeyInRecycleBin" => {
            let id = required(p, "UserId")?;
            let key = required(p, "UserAccessKeyId")?;
            let u = st.recycle.get_mut(id).ok_or_else(no_recycled)?;
            let before = u.keys.len();
            u.keys.retain(|(k, _)| k != key);
            if u.keys.len() == before {
                return Err(ApiError::new(
                    404,
                    "EntityNotExist.RecycleBin.AccessKey",
                    "The access key does not exist in the recycle bin.",
                ));
            }
            Ok(json!({}))
        }
        _ => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {action} is not found."),
        )),
    }
}
