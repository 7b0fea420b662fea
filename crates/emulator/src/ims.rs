//! IMS (2019-08-15) on the same state as RAM: users by principal name, identity providers, the default
//! domain and the recycle bin. A user deleted through RAM is gone from IMS too, as on the real service.

use serde_json::{Value, json};

use super::api::ActionClass::{Mutating, Read};
use super::api::{ApiError, Params, only, param, required};
use super::catalog::Action;
use super::ram::{user_op_actions, utc};
use super::table::max_items;

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

/// `Filter` of `ListUsersInRecycleBin`. Only the documented form `UserPrincipalName eq <upn>` is
/// implemented; anything else answers `InvalidParameter.Filter` rather than listing everything.
fn recycle_filter(p: &Params) -> Result<Option<String>, ApiError> {
    let Some(f) = param(p, "Filter").map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match f.split_whitespace().collect::<Vec<_>>().as_slice() {
        [field, op, value]
            if field.eq_ignore_ascii_case("UserPrincipalName") && op.eq_ignore_ascii_case("eq") =>
        {
            Ok(Some(value.trim_matches(|c| c == '\'' || c == '"').to_owned()))
        }
        _ => Err(ApiError::new(
            400,
            "InvalidParameter.Filter",
            format!(
                "The parameter - \"Filter\" ({f}) is not supported: aliyun-emulator implements only \"UserPrincipalName eq <name>@<domain>\"."
            ),
        )),
    }
}

/// The IMS actions on one user, named by principal name, user ID or AccessKey ID.
pub const USER_OP_ACTIONS: &[Action] = &user_op_actions!(ims_user_op);

/// The IMS actions on users, groups, keys, MFA, identity providers, the default domain and the
/// recycle bin (applications: [`super::ims_apps`]; passkeys, service credentials and the account
/// summary: [`super::ims_users`]).
pub const ACTIONS: &[Action] = &[
    Action::account("ListUsers", Read, |st, ctx, p| st.ims_list_users(ctx, p)),
    Action::account("GetUser", Read, |st, _ctx, p| {
        let name = st.user_by_ims(p)?;
        st.ims_user(&name, true)
            .map(|u| json!({ "User": u }))
            .ok_or_else(|| ApiError::new(404, "EntityNotExist.User", "The user does not exist."))
    }),
    Action::account("ListGroups", Read, |st, ctx, p| st.list_groups(ctx, p, true)),
    Action::account("DeleteGroup", Mutating, |st, _ctx, p| st.delete_group_op(p)),
    Action::account("ListUsersForGroup", Read, |st, ctx, p| {
        st.users_for_group(ctx, p, 100, true)
    }),
    Action::account("ListVirtualMFADevices", Read, |st, ctx, p| {
        st.list_mfa(ctx, p, true)
    }),
    Action::account("DeleteVirtualMFADevice", Mutating, |st, _ctx, p| {
        st.delete_mfa_op(p)
    }),
    Action::account("ListSAMLProviders", Read, |st, ctx, p| {
        only(p, "ListSAMLProviders", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
        let account = st.account_id().to_owned();
        let page = st.saml.page(param(p, "Marker"), n)?;
        Ok(page.body("SAMLProviders", "SAMLProvider", |name, x| {
                json!({"SAMLProviderName": name, "Arn": format!("acs:ram::{account}:saml-provider/{name}"),
                       "Description": x.description, "CreateDate": utc(x.created), "UpdateDate": utc(x.created)})
            }))
    }),
    Action::account("CreateSAMLProvider", Mutating, |st, ctx, p| {
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
                created: ctx.now,
                issuer_url: String::new(),
                client_ids: vec![],
            },
        );
        Ok(json!({"SAMLProvider": {"SAMLProviderName": name, "CreateDate": utc(ctx.now)}}))
    }),
    Action::account("DeleteSAMLProvider", Mutating, |st, _ctx, p| {
        let name = required(p, "SAMLProviderName")?;
        st.saml.remove(name).map(|_| json!({})).ok_or_else(no_saml)
    }),
    Action::account("ListOIDCProviders", Read, |st, ctx, p| {
        only(p, "ListOIDCProviders", &["Marker", "MaxItems"])?;
        let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
        let account = st.account_id().to_owned();
        let page = st.oidc.page(param(p, "Marker"), n)?;
        Ok(page.body("OIDCProviders", "OIDCProvider", |name, x| {
                json!({"OIDCProviderName": name, "Arn": format!("acs:ram::{account}:oidc-provider/{name}"),
                       "IssuerUrl": x.issuer_url, "ClientIds": x.client_ids.join(","), "Fingerprints": "",
                       "IssuanceLimitTime": 12, "Description": x.description, "CreateDate": utc(x.created),
                       "UpdateDate": utc(x.created), "GmtCreate": utc(x.created), "GmtModified": utc(x.created)})
            }))
    }),
    Action::account("CreateOIDCProvider", Mutating, |st, ctx, p| {
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
                created: ctx.now,
                issuer_url: issuer.to_owned(),
                client_ids,
            },
        );
        Ok(
            json!({"OIDCProvider": {"OIDCProviderName": name, "IssuerUrl": issuer, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("DeleteOIDCProvider", Mutating, |st, _ctx, p| {
        let name = required(p, "OIDCProviderName")?;
        st.oidc.remove(name).map(|_| json!({})).ok_or_else(no_oidc)
    }),
    Action::account("GetDefaultDomain", Read, |st, _ctx, _p| {
        Ok(json!({ "DefaultDomainName": st.default_domain }))
    }),
    Action::account("SetDefaultDomain", Mutating, |st, _ctx, p| {
        let d = required(p, "DefaultDomainName")?;
        check_domain(d)?;
        st.default_domain = d.to_owned();
        Ok(json!({ "DefaultDomainName": d }))
    }),
    Action::account("ListUsersInRecycleBin", Read, |st, ctx, p| {
        let n = max_items(p, "MaxItems", 100, 100, ctx.page_limit)?;
        only(p, "ListUsersInRecycleBin", &["Filter", "Marker", "MaxItems"])?;
        let filter = recycle_filter(p)?;
        // The filter applies to the whole bin before paging: a match on a later page is found.
        let page = st.recycle.page_where(param(p, "Marker"), n, |_, u| {
            filter.as_deref().is_none_or(|f| u.upn.eq_ignore_ascii_case(f))
        })?;
        Ok(page.body("Users", "User", |id, u| {
                json!({"UserId": id, "UserPrincipalName": u.upn, "DisplayName": u.display_name, "CreateDate": utc(u.created),
                       "RecycleDate": utc(u.recycled), "DeleteDate": utc(u.recycled + jiff::SignedDuration::from_hours(24 * 7))})
            }))
    }),
    Action::account("DeleteUserInRecycleBin", Mutating, |st, _ctx, p| {
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
    }),
    Action::account("ListAccessKeysInRecycleBin", Read, |st, _ctx, p| {
        let id = required(p, "UserId")?;
        let u = st.recycle.get(id).ok_or_else(no_recycled)?;
        let keys: Vec<Value> = u
                .keys
                .iter()
                .map(|(k, at)| json!({"AccessKeyId": k, "CreateDate": utc(*at), "RecycleDate": utc(u.recycled),
                                       "DeleteDate": utc(u.recycled + jiff::SignedDuration::from_hours(24 * 7))}))
                .collect();
        Ok(json!({ "AccessKeys": { "AccessKey": keys } }))
    }),
    Action::account("DeleteAccessKeyInRecycleBin", Mutating, |st, _ctx, p| {
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
    }),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::catalog::testing::{ctx, ims as dispatch, params as p, seeded};

    #[test]
    fn recycle_bin_filter_finds_a_match_on_a_later_page() {
        let mut st = seeded("generate: { recycledUsers: 150 }");
        let upn = format!("gone-0150@{}", st.default_domain);
        let v = dispatch(
            &mut st,
            &ctx(),
            "ListUsersInRecycleBin",
            &p(&[("Filter", &format!("UserPrincipalName eq {upn}"))]),
        )
        .unwrap();
        let users = v["Users"]["User"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{v}");
        assert_eq!(users[0]["UserPrincipalName"], upn.as_str());
        assert_eq!(v["IsTruncated"], false, "{v}");
        let e = dispatch(
            &mut st,
            &ctx(),
            "ListUsersInRecycleBin",
            &p(&[("Filter", "DisplayName eq x")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameter.Filter");
    }

    #[test]
    fn ims_list_users_status_filter_pages_without_empty_pages() {
        let mut st = seeded("generate: { users: 120 }");
        // every 50th generated user is frozen: user-0050, user-0100
        let v = dispatch(
            &mut st,
            &ctx(),
            "ListUsers",
            &p(&[("Status", "freeze"), ("MaxItems", "1")]),
        )
        .unwrap();
        assert_eq!(
            v["Users"]["User"][0]["UserPrincipalName"]
                .as_str()
                .unwrap()
                .split('@')
                .next(),
            Some("user-0050")
        );
        let m = v["Marker"].as_str().unwrap().to_owned();
        let v = dispatch(
            &mut st,
            &ctx(),
            "ListUsers",
            &p(&[("Status", "freeze"), ("MaxItems", "1"), ("Marker", &m)]),
        )
        .unwrap();
        assert_eq!(v["Users"]["User"].as_array().unwrap().len(), 1);
        assert_eq!(v["IsTruncated"], false, "{v}");
    }
}
