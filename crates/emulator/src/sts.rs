//! STS (2015-04-01): `AssumeRole` into a role the caller's account is trusted by (the Resource
//! Directory access role trusts the management account), and `GetCallerIdentity`.

use std::sync::Arc;

use jiff::SignedDuration;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::api::{ActionClass, ApiError, CallContext, KeyRecord, Params, Principal, param, required};
use super::catalog::Action;
use super::policy::SessionPolicy;
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

/// `GetCallerIdentity` in the documented shapes (STS API reference): `IdentityType` `Account`,
/// `RAMUser` or `AssumedRoleUser`; `UserId` for the account (its ID) and RAM users (the numeric
/// user ID), `RoleId` for assumed roles; `PrincipalId` the user ID or `<RoleId>:<session>`.
fn caller_identity(w: &mut World, ctx: &CallContext, _p: &Params) -> Result<Value, ApiError> {
    let c = &ctx.caller;
    let a = &c.account_id;
    Ok(match &c.principal {
        Principal::Root => {
            json!({"AccountId": a, "Arn": format!("acs:ram::{a}:root"), "IdentityType": "Account",
                                  "PrincipalId": a, "UserId": a})
        }
        Principal::User { name } => {
            let id = w
                .accounts
                .get(a)
                .and_then(|x| x.ram.user_id(name))
                .map_or_else(|| key_user_id(a, name), str::to_owned);
            json!({"AccountId": a, "Arn": format!("acs:ram::{a}:user/{name}"), "IdentityType": "RAMUser",
                   "PrincipalId": id, "UserId": id})
        }
        Principal::AssumedRole {
            role,
            role_id,
            session,
        } => {
            json!({"AccountId": a, "Arn": assumed_arn(a, role, session), "IdentityType": "AssumedRoleUser",
                   "PrincipalId": format!("{role_id}:{session}"), "RoleId": role_id})
        }
    })
}

/// `acs:ram::<account>:role/<role name, lower case>/<session>`, the form of the current STS API
/// reference for both `AssumeRole.AssumedRoleUser.Arn` and `GetCallerIdentity.Arn` (older pages
/// showed `acs:sts::<account>:assumed-role/<Role>/<session>`).
fn assumed_arn(account: &str, role: &str, session: &str) -> String {
    format!("acs:ram::{account}:role/{}/{session}", role.to_ascii_lowercase())
}

/// The user ID of a seeded key whose user is not a RAM user of the emulated account (management
/// keys usually): 16 digits derived from the account and name, stable across runs.
fn key_user_id(account: &str, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account.bytes().chain([b':']).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("2{:015}", h % 1_000_000_000_000_000)
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
    if let Some(x) = param(p, "ExternalId").filter(|s| !s.is_empty())
        && (!(2..=1224).contains(&x.len())
            || !x
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)))
    {
        return Err(ApiError::new(
            400,
            "InvalidParameter.ExternalId",
            "The parameter ExternalId must be 2-1224 characters of letters, digits and _ + = , . @ : / -.",
        ));
    }
    let session_policy = match param(p, "Policy").filter(|s| !s.is_empty()) {
        None => None,
        Some(doc) => Some(Arc::new(SessionPolicy::parse(doc)?)),
    };
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
                role_id: role_id.clone(),
                session: session.to_owned(),
            },
            security_token: Some(token.clone()),
            expires_at: Some(expires),
            active: true,
            allow: vec!["*".into()],
            session_policy,
        },
    );
    let mut out = json!({
        "Credentials": {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token, "Expiration": utc(expires)},
        "AssumedRoleUser": {"Arn": assumed_arn(account, &role_name, session), "AssumedRoleId": format!("{role_id}:{session}")},
    });
    if let (Some(si), Some(o)) = (
        param(p, "SourceIdentity").filter(|s| !s.is_empty()),
        out.as_object_mut(),
    ) {
        o.insert("SourceIdentity".into(), Value::String(si.to_owned()));
    }
    Ok(out)
}

fn duration_error(max: u32) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter.DurationSeconds",
        format!("The Min/Max value of DurationSeconds is 15min/{max}s for this role."),
    )
}
