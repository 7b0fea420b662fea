//! IMS per-user objects that no documented `DeleteConflict.User.*` code names (alibaba-api.md
//! §10.3–§10.4) and the account summary (§10.5):
//!
//! * passkeys: `ListPasskeys` (one user, plain `Passkeys[]`, epoch-second strings), `UpdatePasskey`,
//!   `DeletePasskey` (`MissingPasskeyId` without an ID). There is no create API: they are seeded.
//! * service credentials: `ListServiceCredentials` (`AllUsers=true` for the whole account,
//!   `NextToken`/`MaxResults` 1–100 default 10, plain `ServiceCredentials[]`),
//!   `Get`/`Create`/`DeleteServiceCredential`. Without `UserPrincipalName` they act on the caller's own
//!   credentials, as documented: a root or role caller has none.
//! * `GetAccountSummary`: live counters in `SummaryMap`.
//!
//! By default both kinds go with their user on `DeleteUser`; a seed's `ram.conflicts` can make
//! `DeleteUser` refuse instead (`DeleteConflict.User.Passkey`, `DeleteConflict.User.ServiceCredential`).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ActionClass::{Mutating, Read};
use super::api::{ApiError, CallContext, Params, Principal, only, param, required};
use super::catalog::Action;
use super::ram::{RamState, utc};
use super::table::{Table, max_items};

/// Service credentials one user may hold per service (`ServiceCredentialsPerUserPerServiceQuota`).
pub const CREDENTIALS_PER_USER_PER_SERVICE: usize = 2;

/// A passkey in the seed (`users[].passkeys`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasskeySeed {
    /// `PasskeyName`, unique per user.
    pub name: String,
    /// `PasskeyId` (generated `PASSKEY-...` when absent).
    #[serde(default)]
    pub id: Option<String>,
}

/// A service credential in the seed (`users[].serviceCredentials`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceCredentialSeed {
    /// `ServiceName`, e.g. `bailian.aliyuncs.com`.
    pub service_name: String,
    /// `ServiceCredentialName` (default `<service>-key`).
    #[serde(default)]
    pub name: Option<String>,
    /// `ServiceCredentialId` (generated `SC...` when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// `Active`, `Inactive` or `Expired`.
    #[serde(default = "active")]
    pub status: String,
    /// Days until it expires; absent: never.
    #[serde(default)]
    pub age_days: Option<u32>,
}

fn active() -> String {
    "Active".into()
}

#[derive(Debug, Clone)]
struct Passkey {
    id: String,
    name: String,
    created: Timestamp,
}

#[derive(Debug, Clone)]
struct Credential {
    user: String,
    name: String,
    service: String,
    status: String,
    created: Timestamp,
    expires: Option<Timestamp>,
}

/// Passkeys and service credentials of one account, by user name.
#[derive(Debug, Clone, Default)]
pub struct UserExtras {
    passkeys: HashMap<String, Vec<Passkey>>,
    creds: Table<Credential>,
    creds_by_user: HashMap<String, Vec<String>>,
    seq: u64,
}

fn no_passkey() -> ApiError {
    ApiError::new(404, "EntityNotExist.Passkey", "The passkey does not exist.")
}

fn no_credential() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.ServiceCredential",
        "The service credential does not exist.",
    )
}

impl UserExtras {
    fn next(&mut self, account_id: &str) -> String {
        self.seq += 1;
        let tail = &account_id[account_id.len().saturating_sub(6)..];
        format!("{tail}{:013}", self.seq)
    }

    /// Adds a user's seeded passkeys and credentials.
    ///
    /// # Errors
    /// A duplicate passkey name or ID, a bad status, or more credentials than the quota.
    pub fn seed_user(
        &mut self,
        account_id: &str,
        user: &str,
        passkeys: &[PasskeySeed],
        creds: &[ServiceCredentialSeed],
        now: Timestamp,
    ) -> Result<(), String> {
        for k in passkeys {
            let id =
                k.id.clone()
                    .unwrap_or_else(|| format!("PASSKEY-E{}", self.next(account_id)));
            self.add_passkey(user, &id, &k.name, now)?;
        }
        for c in creds {
            if !matches!(c.status.as_str(), "Active" | "Inactive" | "Expired") {
                return Err(format!(
                    "service credential status {:?} must be Active, Inactive or Expired",
                    c.status
                ));
            }
            let name = c
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-key", c.service_name.split('.').next().unwrap_or("service")));
            let expires = c
                .age_days
                .map(|d| now + SignedDuration::from_hours(24 * i64::from(d)));
            self.add_credential(
                account_id,
                c.id.clone(),
                user,
                &name,
                &c.service_name,
                &c.status,
                now,
                expires,
            )
            .map_err(|e| e.message)?;
        }
        Ok(())
    }

    fn add_passkey(&mut self, user: &str, id: &str, name: &str, now: Timestamp) -> Result<(), String> {
        let list = self.passkeys.entry(user.to_owned()).or_default();
        if list.iter().any(|p| p.name == name || p.id == id) {
            return Err(format!("passkey {name:?} / {id:?} listed twice"));
        }
        list.push(Passkey {
            id: id.to_owned(),
            name: name.to_owned(),
            created: now,
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_credential(
        &mut self,
        account_id: &str,
        id: Option<String>,
        user: &str,
        name: &str,
        service: &str,
        status: &str,
        now: Timestamp,
        expires: Option<Timestamp>,
    ) -> Result<String, ApiError> {
        let same_service = self.creds_by_user.get(user).map_or(0, |ids| {
            ids.iter()
                .filter(|i| self.creds.get(i).is_some_and(|c| c.service == service))
                .count()
        });
        if same_service >= CREDENTIALS_PER_USER_PER_SERVICE {
            return Err(ApiError::new(
                409,
                "LimitExceeded.ServiceCredential",
                format!(
                    "The user already has {CREDENTIALS_PER_USER_PER_SERVICE} service credentials for {service}."
                ),
            ));
        }
        let id = id.unwrap_or_else(|| format!("SC{}", self.next(account_id)));
        if self.creds.contains(&id) {
            return Err(ApiError::new(
                409,
                "EntityAlreadyExists.ServiceCredential",
                format!("The service credential {id} does already EXIST."),
            ));
        }
        self.creds.insert(
            &id,
            Credential {
                user: user.to_owned(),
                name: name.to_owned(),
                service: service.to_owned(),
                status: status.to_owned(),
                created: now,
                expires,
            },
        );
        self.creds_by_user
            .entry(user.to_owned())
            .or_default()
            .push(id.clone());
        Ok(id)
    }

    fn remove_credential(&mut self, id: &str) {
        if let Some(c) = self.creds.remove(id)
            && let Some(ids) = self.creds_by_user.get_mut(&c.user)
        {
            ids.retain(|x| x != id);
        }
    }

    /// True when the user has a passkey.
    #[must_use]
    pub fn has_passkeys(&self, user: &str) -> bool {
        self.passkeys.get(user).is_some_and(|l| !l.is_empty())
    }

    /// True when the user has a service credential.
    #[must_use]
    pub fn has_credentials(&self, user: &str) -> bool {
        self.creds_by_user.get(user).is_some_and(|l| !l.is_empty())
    }

    /// A deleted user's passkeys and credentials go with it.
    pub fn drop_user(&mut self, user: &str) {
        self.passkeys.remove(user);
        for id in self.creds_by_user.remove(user).unwrap_or_default() {
            self.creds.remove(&id);
        }
    }

    /// `UpdateUser` renamed a user.
    pub fn rename_user(&mut self, old: &str, new: &str) {
        if let Some(p) = self.passkeys.remove(old) {
            self.passkeys.insert(new.to_owned(), p);
        }
        if let Some(ids) = self.creds_by_user.remove(old) {
            for id in &ids {
                if let Some(c) = self.creds.get_mut(id) {
                    new.clone_into(&mut c.user);
                }
            }
            self.creds_by_user.insert(new.to_owned(), ids);
        }
    }

    /// (passkeys, service credentials) in the account.
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        (self.passkeys.values().map(Vec::len).sum(), self.creds.len())
    }
}

/// The user an action is about: `UserPrincipalName` when given (it must exist), otherwise the
/// caller itself when it is a RAM user of this account; `None` for a root or role caller.
fn subject(st: &RamState, ctx: &CallContext, p: &Params) -> Result<Option<String>, ApiError> {
    if param(p, "UserPrincipalName").is_some_and(|s| !s.is_empty()) {
        return st.user_by_ims(p).map(Some);
    }
    Ok(match &ctx.caller.principal {
        Principal::User { name } if st.user_id(name).is_some() => Some(name.clone()),
        _ => None,
    })
}

fn epoch_secs(t: Timestamp) -> String {
    t.as_second().to_string()
}

fn credential_json(st: &RamState, id: &str, c: &Credential) -> Value {
    let mut v = json!({
        "ServiceCredentialId": id, "ServiceCredentialName": c.name, "ServiceName": c.service,
        "UserPrincipalName": st.upn(&c.user), "Status": c.status, "CreateTime": utc(c.created),
    });
    if let (Some(e), Some(o)) = (c.expires, v.as_object_mut()) {
        o.insert("ExpirationTime".into(), Value::String(utc(e)));
    }
    v
}

fn bool_param(p: &Params, name: &str) -> Result<bool, ApiError> {
    match param(p, name).filter(|s| !s.is_empty()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::new(
            400,
            &format!("InvalidParameter.{name}"),
            format!("The parameter {name} must be true or false."),
        )),
    }
}

/// Passkeys, service credentials and the account summary.
pub const ACTIONS: &[Action] = &[
    Action::account("ListPasskeys", Read, |st, ctx, p| {
        only(p, "ListPasskeys", &["UserPrincipalName"])?;
        let list: Vec<Value> = match subject(st, ctx, p)? {
            None => vec![],
            Some(user) => st
                .extras
                .passkeys
                .get(&user)
                .map(|l| {
                    l.iter()
                        .map(|k| json!({"PasskeyId": k.id, "PasskeyName": k.name, "CreateDate": epoch_secs(k.created),
                                        "LastUseDate": epoch_secs(k.created)}))
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(json!({ "Passkeys": list }))
    }),
    Action::account("DeletePasskey", Mutating, |st, ctx, p| {
        let id = param(p, "PasskeyId").filter(|s| !s.is_empty()).ok_or_else(|| {
            ApiError::new(400, "MissingPasskeyId", "PasskeyId is mandatory for this action.")
        })?;
        let user = subject(st, ctx, p)?.ok_or_else(no_passkey)?;
        let list = st.extras.passkeys.get_mut(&user).ok_or_else(no_passkey)?;
        let before = list.len();
        list.retain(|k| k.id != id);
        if list.len() == before {
            return Err(no_passkey());
        }
        Ok(json!({}))
    }),
    Action::account("UpdatePasskey", Mutating, |st, ctx, p| {
        let id = param(p, "PasskeyId").filter(|s| !s.is_empty()).ok_or_else(|| {
            ApiError::new(400, "MissingPasskeyId", "PasskeyId is mandatory for this action.")
        })?;
        let name = required(p, "PasskeyName")?;
        let user = subject(st, ctx, p)?.ok_or_else(no_passkey)?;
        let list = st.extras.passkeys.get_mut(&user).ok_or_else(no_passkey)?;
        if list.iter().any(|k| k.name == name && k.id != id) {
            return Err(ApiError::new(
                409,
                "EntityAlreadyExists.Passkey",
                "The passkey name does already EXIST for this user.",
            ));
        }
        let k = list.iter_mut().find(|k| k.id == id).ok_or_else(no_passkey)?;
        name.clone_into(&mut k.name);
        Ok(json!({}))
    }),
    Action::account("ListServiceCredentials", Read, |st, ctx, p| {
        only(
            p,
            "ListServiceCredentials",
            &[
                "AllUsers",
                "MaxResults",
                "NextToken",
                "ServiceName",
                "UserPrincipalName",
            ],
        )?;
        let all = bool_param(p, "AllUsers")?;
        if all && param(p, "UserPrincipalName").is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::new(
                400,
                "InvalidParameter.UserPrincipalName",
                "UserPrincipalName cannot be specified when AllUsers is true.",
            ));
        }
        let n = max_items(p, "MaxResults", 100, 10, ctx.page_limit)?;
        let who = if all { None } else { Some(subject(st, ctx, p)?) };
        let service = param(p, "ServiceName").filter(|s| !s.is_empty());
        let page = st
            .extras
            .creds
            .page_where(param(p, "NextToken"), n, |_, c| {
                who.as_ref().is_none_or(|w| w.as_deref() == Some(c.user.as_str()))
                    && service.is_none_or(|s| c.service == s)
            })
            .map_err(|_| {
                ApiError::new(
                    400,
                    "InvalidParameter.NextToken",
                    "The parameter NextToken is invalid.",
                )
            })?;
        let list: Vec<Value> = page
            .items
            .iter()
            .map(|(id, c)| credential_json(st, id, c))
            .collect();
        let mut v = json!({"ServiceCredentials": list, "IsTruncated": page.next.is_some(), "MaxResults": n});
        if let (Some(t), Some(o)) = (page.next, v.as_object_mut()) {
            o.insert("NextToken".into(), Value::String(t));
        }
        Ok(v)
    }),
    Action::account("GetServiceCredential", Read, |st, ctx, p| {
        let id = required(p, "ServiceCredentialId")?;
        let user = subject(st, ctx, p)?.ok_or_else(no_credential)?;
        let c = st
            .extras
            .creds
            .get(id)
            .filter(|c| c.user == user)
            .ok_or_else(no_credential)?;
        Ok(json!({ "ServiceCredential": credential_json(st, id, c) }))
    }),
    Action::account("CreateServiceCredential", Mutating, |st, ctx, p| {
        let service = required(p, "ServiceName")?.to_owned();
        let user = subject(st, ctx, p)?.ok_or_else(|| ApiError::missing("UserPrincipalName"))?;
        let name = param(p, "ServiceCredentialName")
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("{service}-key"), str::to_owned);
        let expires = match param(p, "CredentialAgeDays").filter(|s| !s.is_empty()) {
            None => None,
            Some(d) => {
                let d: i64 = d
                    .parse()
                    .ok()
                    .filter(|d| (1..=36_600).contains(d))
                    .ok_or_else(|| {
                        ApiError::new(
                            400,
                            "InvalidParameter.CredentialAgeDays",
                            "The parameter CredentialAgeDays must be 1 to 36600.",
                        )
                    })?;
                Some(ctx.now + SignedDuration::from_hours(24 * d))
            }
        };
        let account = st.account_id().to_owned();
        let id = st
            .extras
            .add_credential(&account, None, &user, &name, &service, "Active", ctx.now, expires)?;
        let c = st.extras.creds.get(&id).ok_or_else(no_credential)?;
        let mut v = credential_json(st, &id, c);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "ServiceCredentialSecret".into(),
                Value::String(uuid::Uuid::new_v4().simple().to_string()),
            );
        }
        Ok(json!({ "ServiceCredential": v }))
    }),
    Action::account("DeleteServiceCredential", Mutating, |st, ctx, p| {
        let id = required(p, "ServiceCredentialId")?.to_owned();
        let user = subject(st, ctx, p)?.ok_or_else(no_credential)?;
        if st.extras.creds.get(&id).is_none_or(|c| c.user != user) {
            return Err(no_credential());
        }
        st.extras.remove_credential(&id);
        Ok(json!({}))
    }),
    Action::account("GetAccountSummary", Read, |st, _ctx, p| {
        only(p, "GetAccountSummary", &[])?;
        let c = st.summary_counts();
        Ok(json!({ "SummaryMap": {
            "Users": c.users, "Groups": c.groups, "Roles": c.roles, "Policies": c.policies,
            "MFADevices": c.mfa_devices, "MFADevicesInUse": c.mfa_in_use,
            "UsersQuota": 5000, "GroupsQuota": 300, "RolesQuota": 1000, "PoliciesQuota": 1500,
            "VirtualMFADevicesQuota": 5000, "AccessKeysPerUserQuota": 2, "GroupsPerUserQuota": 10,
            "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10,
            "AttachedPoliciesPerRoleQuota": 10, "AttachedSystemPoliciesPerUserQuota": 20,
            "AttachedSystemPoliciesPerGroupQuota": 20, "AttachedSystemPoliciesPerRoleQuota": 20,
            "PolicySizeQuota": 6144, "VersionsPerPolicyQuota": 5, "AccountAccessKeysPerAccountQuota": 2,
            "AuthorizedClientPerUserQuota": 10, "ConditionsPerAKPolicyQuota": 10, "IPItemsPerAKPolicyQuota": 20,
            "ServiceCredentialsPerUserPerServiceQuota": CREDENTIALS_PER_USER_PER_SERVICE,
        }}))
    }),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::Product;
    use crate::catalog::testing::{ctx, params, seeded};

    fn run(st: &mut RamState, action: &str, pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        let p = params(pairs);
        let product = if action == "DeleteUser" {
            Product::Ram
        } else {
            Product::Ims
        };
        crate::catalog::run(product, st, &ctx(), action, &p)
    }

    const SEED: &str = "users:\n  - {name: a, passkeys: [{name: yubikey}], serviceCredentials: [{serviceName: x.aliyuncs.com}]}\n  - {name: b}\n";

    #[test]
    fn passkeys_and_credentials_go_with_their_user_unless_the_seed_says_otherwise() {
        let mut st = seeded(SEED);
        let upn = st.upn("a");
        let keys = run(&mut st, "ListPasskeys", &[("UserPrincipalName", &upn)]).unwrap();
        assert_eq!(keys["Passkeys"][0]["PasskeyName"], "yubikey");
        assert!(
            keys["Passkeys"][0]["CreateDate"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .is_ok()
        );
        // a root caller without UserPrincipalName lists its own: none
        let own = run(&mut st, "ListPasskeys", &[]).unwrap();
        assert_eq!(own["Passkeys"], json!([]));
        run(&mut st, "DeleteUser", &[("UserName", "a")]).unwrap();
        assert_eq!(st.extras.counts(), (0, 0));

        let mut st = seeded(&format!(
            "{SEED}conflicts: [User.Passkey, User.ServiceCredential]\n"
        ));
        let upn = st.upn("a");
        let e = run(&mut st, "DeleteUser", &[("UserName", "a")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "DeleteConflict.User.Passkey"));
        let id =
            run(&mut st, "ListPasskeys", &[("UserPrincipalName", &upn)]).unwrap()["Passkeys"][0]["PasskeyId"]
                .as_str()
                .unwrap()
                .to_owned();
        assert_eq!(
            run(&mut st, "DeletePasskey", &[("UserPrincipalName", &upn)])
                .unwrap_err()
                .code,
            "MissingPasskeyId"
        );
        run(
            &mut st,
            "DeletePasskey",
            &[("UserPrincipalName", &upn), ("PasskeyId", &id)],
        )
        .unwrap();
        let e = run(&mut st, "DeleteUser", &[("UserName", "a")]).unwrap_err();
        assert_eq!(e.code, "DeleteConflict.User.ServiceCredential");
        let list = run(&mut st, "ListServiceCredentials", &[("AllUsers", "true")]).unwrap();
        let cid = list["ServiceCredentials"][0]["ServiceCredentialId"]
            .as_str()
            .unwrap()
            .to_owned();
        // without UserPrincipalName a root caller deletes its own credential: that one is not found
        let e = run(
            &mut st,
            "DeleteServiceCredential",
            &[("ServiceCredentialId", &cid)],
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityNotExist.ServiceCredential");
        run(
            &mut st,
            "DeleteServiceCredential",
            &[("ServiceCredentialId", &cid), ("UserPrincipalName", &upn)],
        )
        .unwrap();
        run(&mut st, "DeleteUser", &[("UserName", "a")]).unwrap();
    }

    #[test]
    fn service_credentials_page_with_next_token_default_ten() {
        let mut st = seeded("generate: { users: 12, serviceCredentialsPerUser: 2 }");
        let first = run(&mut st, "ListServiceCredentials", &[("AllUsers", "true")]).unwrap();
        assert_eq!(first["ServiceCredentials"].as_array().unwrap().len(), 10);
        assert_eq!(
            (first["IsTruncated"].clone(), first["MaxResults"].clone()),
            (json!(true), json!(10))
        );
        let mut seen = 10;
        let mut token = first["NextToken"].as_str().unwrap().to_owned();
        loop {
            let v = run(
                &mut st,
                "ListServiceCredentials",
                &[("AllUsers", "true"), ("NextToken", &token), ("MaxResults", "7")],
            )
            .unwrap();
            seen += v["ServiceCredentials"].as_array().unwrap().len();
            match v["NextToken"].as_str() {
                Some(t) => token = t.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, 24);
        let (u12, u1) = (st.upn("user-0012"), st.upn("user-0001"));
        let one = run(
            &mut st,
            "ListServiceCredentials",
            &[("UserPrincipalName", &u12), ("ServiceName", "svc2.aliyuncs.com")],
        )
        .unwrap();
        assert_eq!(one["ServiceCredentials"].as_array().unwrap().len(), 1, "{one}");
        let e = run(
            &mut st,
            "ListServiceCredentials",
            &[("AllUsers", "true"), ("UserPrincipalName", &u1)],
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameter.UserPrincipalName");
        let sum = run(&mut st, "GetAccountSummary", &[]).unwrap();
        assert_eq!(sum["SummaryMap"]["Users"], 12);
    }
}
