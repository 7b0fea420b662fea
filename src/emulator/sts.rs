//! STS (2015-04-01): `AssumeRole` into a role the caller's account is trusted by (the Resource
//! Directory access role trusts the management account), and `GetCallerIdentity`.

use jiff::SignedDuration;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::api::{ActionClass, ApiError, CallContext, KeyRecord, Params, Principal, param, required};
use super::catalog::Action;
use super::ram::{trusted_account, utc};
use super::world::World;

/// The STS actions.
pub const ACTIONS: &[Action] = &[
    Action::world("AssumeRole", ActionClass::Credentials, assume_role),
    Action::world("GetCallerIdentity", ActionClass::Credentials, caller_identity),
];

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn no_role() -> ApiError {
    ApiError::new(404, "EntityNotExist.Role", "The role not exists.")
}

/// `GetCallerIdentity`.
fn caller_identity(w: &mut World, ctx: &CallContext, _p: &Params) -> Result<Value, ApiError> {
    let c = &ctx.caller;
    let a = &c.account_id;
    Ok(match &c.principal {
        Principal::Root => {
            json!({"AccountId": a, "Arn": format!("acs:ram::{a}:root"), "IdentityType": "Account", "PrincipalId": a})
        }
        Principal::User { name } => {
            json!({"AccountId": a, "Arn": format!("acs:ram::{a}:user/{name}"), "IdentityType": "RAMUser",
                    "PrincipalId": format!("{a}{name}"), "UserId": format!("{a}{name}")})
        }
        Principal::AssumedRole { role, session } => {
            let role_id = w
                .accounts
                .get(a)
                .and_then(|x| x.ram.role_for_sts(role))
                .map(|r| r.3)
                .unwrap_or_default();
            json!({"AccountId": a, "Arn": format!("acs:ram::{a}:role/{}/{session}", role.to_lowercase()),
                           "IdentityType": "AssumedRoleUser", "PrincipalId": format!("{role_id}:{session}"), "RoleId": role_id})
        }
    })
}

/// `AssumeRole` into a role that trusts the caller's account.
fn assume_role(w: &mut World, ctx: &CallContext, p: &Params) -> Result<Value, ApiError> {
    let arn = required(p, "RoleArn")?;
    let session = required(p, "RoleSessionName")?;
    let bad_arn = || {
        ApiError::new(
            400,
            "InvalidParameter.RoleArn",
            "The parameter RoleArn is wrongly formed.",
        )
    };
    let rest = arn.strip_prefix("acs:ram::").ok_or_else(bad_arn)?;
    let (account, role) = rest.split_once(":role/").ok_or_else(bad_arn)?;
    if account.len() != 16 || !account.bytes().all(|b| b.is_ascii_digit()) || role.is_empty() {
        return Err(bad_arn());
    }
    if !(2..=64).contains(&session.len())
        || !session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
    {
        return Err(ApiError::new(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName must be 2-64 characters of letters, digits and . @ - _.",
        ));
    }
    let target = w
        .accounts
        .get(account)
        .filter(|a| !a.deleted)
        .ok_or_else(no_role)?;
    let (role_name, max, trust, role_id) = target.ram.role_for_sts(role).ok_or_else(no_role)?;
    let trusted = trusted_account(&trust).unwrap_or_else(|| account.to_owned());
    if ctx.caller.account_id != trusted && ctx.caller.account_id != account {
        let mut e = ApiError::new(
            403,
            "NoPermission",
            "You are not authorized to do this action. The role does not trust the caller.",
        );
        e.access_denied_detail = Some(
            json!({"AuthAction": "sts:AssumeRole", "AuthPrincipalOwnerId": ctx.caller.account_id,
                    "PolicyType": "AssumeRolePolicy", "NoPermissionType": "ImplicitDeny"}),
        );
        return Err(e);
    }
    let duration = match param(p, "DurationSeconds").filter(|s| !s.is_empty()) {
        None => 3600.min(max),
        Some(s) => s.parse::<u32>().map_err(|_| duration_error(max))?,
    };
    if duration < 900 || duration > max {
        return Err(duration_error(max));
    }
    let expires = ctx.now + SignedDuration::from_secs(i64::from(duration));
    let key_id = format!("STS.NT{}", random(24));
    let secret = random(40);
    let token = format!("CAIS{}", random(320));
    // Expired keys are forgotten an hour after expiry (the front rejects them before that).
    let horizon = ctx.now - SignedDuration::from_hours(1);
    w.sts_keys.retain(|_, k| k.expires_at.is_none_or(|t| t > horizon));
    w.sts_keys.insert(
        key_id.clone(),
        KeyRecord {
            secret: secret.clone(),
            account_id: account.to_owned(),
            principal: Principal::AssumedRole {
                role: role_name.clone(),
                session: session.to_owned(),
            },
            security_token: Some(token.clone()),
            expires_at: Some(expires),
            active: true,
            allow: vec!["*".into()],
        },
    );
    Ok(json!({
        "Credentials": {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token, "Expiration": utc(expires)},
        "AssumedRoleUser": {"Arn": format!("acs:ram::{account}:role/{}/{session}", role_name.to_lowercase()),
                            "AssumedRoleId": format!("{role_id}:{session}")},
    }))
}

fn duration_error(max: u32) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter.DurationSeconds",
        format!("The Min/Max value of DurationSeconds is 15min/{max}s for this role."),
    )
}
