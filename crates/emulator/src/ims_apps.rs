//! IMS OAuth applications (alibaba-api.md §10.2), which Alibaba's "cannot close my account" page
//! asks to delete: enterprise (internal) applications with up to two secrets, internal `ServerApp`s
//! provisioned (installed) in the account, and third-party (external) applications of other
//! accounts installed here.
//!
//! Wire shapes as §10.2: `ListApplications` and `ListAppSecretIds` are not paginated,
//! `ListApplicationProvisionInfos` (`SourceType` `inner`/`external`, both when absent) and
//! `ListExternalApplications` print `CreateDate`/`UpdateDate` as epoch-millisecond strings,
//! `ListExternalApplications` always answers `IsTruncated: false`. Unknown IDs are 404
//! (`EntityNotExist.Application`, `.AppSecret`, `.ExternalApplication`,
//! `.ApplicationProvisionInfo`). By default `DeleteApplication` takes the app's secrets and its own
//! provisioning with it (the only evidence: real cleanup code deletes apps bare); a seed's
//! `ram.conflicts` can make it refuse instead (`DeleteConflict.Application.AppSecret`,
//! `DeleteConflict.Application.Provision`).

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ActionClass::{Mutating, Read};
use super::api::{ApiError, Params, only, param, required};
use super::catalog::Action;
use super::ram::utc;
use super::table::Table;

/// Secrets one application may have.
pub const MAX_SECRETS: usize = 2;

/// An enterprise application in the seed (`ram.applications`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSeed {
    /// `AppName` (unique in the account; what retain patterns match).
    pub name: String,
    /// `DisplayName` (default: the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `WebApp`, `NativeApp` or `ServerApp`.
    #[serde(default = "web_app")]
    pub app_type: String,
    /// `AppId` (19 digits generated when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Number of secrets (0–2).
    #[serde(default)]
    pub secrets: u32,
    /// `ServerApp` only: installed in this account (`ListApplicationProvisionInfos SourceType=inner`).
    #[serde(default)]
    pub provisioned: bool,
    /// `IsMultiTenant`.
    #[serde(default)]
    pub multi_tenant: bool,
}

/// An installed third-party application in the seed (`ram.externalApplications`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalAppSeed {
    /// The application's name in its owner account (`AppName`).
    pub name: String,
    /// `DisplayName` (default: the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The account that owns it (16 digits).
    #[serde(default = "owner")]
    pub owner_account_id: String,
    /// `ForeignAppId` / `AppId` (19 digits generated when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// `AppCategory`: `ThirdParty` or `Official`.
    #[serde(default = "third_party")]
    pub category: String,
}

fn web_app() -> String {
    "WebApp".into()
}
fn owner() -> String {
    "1730000000000001".into()
}
fn third_party() -> String {
    "ThirdParty".into()
}

#[derive(Debug, Clone)]
struct Secret {
    id: String,
    value: String,
    created: Timestamp,
}

#[derive(Debug, Clone)]
struct App {
    name: String,
    display: String,
    app_type: String,
    multi_tenant: bool,
    secret_required: bool,
    created: Timestamp,
    secrets: Vec<Secret>,
    provisioned: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct External {
    name: String,
    display: String,
    owner: String,
    category: String,
    created: Timestamp,
}

/// One account's applications.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    apps: Table<App>,
    external: Table<External>,
    seq: u64,
    /// Conflict rules beyond the documented ones (`Application.AppSecret`, `Application.Provision`).
    strict_secrets: bool,
    strict_provision: bool,
}

fn no_app() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.Application",
        "The application does not exist.",
    )
}
fn no_secret() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.AppSecret",
        "The application secret does not exist.",
    )
}
fn no_external() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.ExternalApplication",
        "The external application is not installed in this account.",
    )
}
fn no_provision() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExist.ApplicationProvisionInfo",
        "The application is not provisioned in this account.",
    )
}
fn not_server_app() -> ApiError {
    ApiError::new(
        409,
        "NotSupportedOperation.DeprovisionApplication",
        "Only external applications and internal ServerApp applications can be provisioned or deprovisioned.",
    )
}

/// Epoch milliseconds as a string, the form of the provisioning and external-application listings.
fn epoch_ms(t: Timestamp) -> String {
    t.as_millisecond().to_string()
}

fn scopes() -> Value {
    json!({"PredefinedScopes": {"PredefinedScope": [
        {"Name": "openid", "Description": "Obtain the OpenID of the user.", "Required": true},
        {"Name": "aliuid", "Description": "Obtain the ID of the Alibaba Cloud account.", "Required": false},
    ]}})
}

impl Apps {
    fn next_id(&mut self, account_id: &str) -> String {
        self.seq += 1;
        let tail = &account_id[account_id.len().saturating_sub(10)..];
        format!("4{tail}{:08}", self.seq)
    }

    fn secret_id(&mut self) -> String {
        self.seq += 1;
        format!("{:08x}-0e70-4a5e-8c2d-{:012x}", self.seq, self.seq)
    }

    /// Builds the seeded applications; `conflicts` is the seed's `ram.conflicts` list.
    ///
    /// # Errors
    /// A duplicate name or ID, a bad type, too many secrets, a provisioned non-`ServerApp`.
    pub fn from_seed(
        account_id: &str,
        apps: &[ApplicationSeed],
        external: &[ExternalAppSeed],
        conflicts: &[String],
        now: Timestamp,
    ) -> Result<Apps, String> {
        let mut out = Apps {
            strict_secrets: conflicts.iter().any(|c| c == "Application.AppSecret"),
            strict_provision: conflicts.iter().any(|c| c == "Application.Provision"),
            ..Apps::default()
        };
        for a in apps {
            if a.secrets as usize > MAX_SECRETS {
                return Err(format!("application {}: at most {MAX_SECRETS} secrets", a.name));
            }
            if a.provisioned && a.app_type != "ServerApp" {
                return Err(format!(
                    "application {}: only a ServerApp can be provisioned",
                    a.name
                ));
            }
            let id = a.id.clone().unwrap_or_else(|| out.next_id(account_id));
            out.create(
                &id,
                &a.name,
                a.display_name.as_deref().unwrap_or(&a.name),
                &a.app_type,
                a.multi_tenant,
                now,
            )
            .map_err(|e| format!("application {}: {}", a.name, e.message))?;
            for _ in 0..a.secrets {
                out.add_secret(&id, now).map_err(|e| e.message)?;
            }
            if let (true, Some(x)) = (a.provisioned, out.apps.get_mut(&id)) {
                x.provisioned = Some(now);
            }
        }
        for e in external {
            if !super::seed::is_account_id(&e.owner_account_id) || e.owner_account_id == account_id {
                return Err(format!(
                    "external application {}: ownerAccountId must be another account's 16-digit ID",
                    e.name
                ));
            }
            if !matches!(e.category.as_str(), "ThirdParty" | "Official") {
                return Err(format!(
                    "external application {}: category must be ThirdParty or Official",
                    e.name
                ));
            }
            let id = e.id.clone().unwrap_or_else(|| out.next_id(&e.owner_account_id));
            if out.external.contains(&id) || out.apps.contains(&id) {
                return Err(format!(
                    "external application {}: AppId {id} listed twice",
                    e.name
                ));
            }
            out.external.insert(
                &id,
                External {
                    name: e.name.clone(),
                    display: e.display_name.clone().unwrap_or_else(|| e.name.clone()),
                    owner: e.owner_account_id.clone(),
                    category: e.category.clone(),
                    created: now,
                },
            );
        }
        Ok(out)
    }

    fn create(
        &mut self,
        id: &str,
        name: &str,
        display: &str,
        app_type: &str,
        multi_tenant: bool,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if !matches!(app_type, "WebApp" | "NativeApp" | "ServerApp") {
            return Err(ApiError::new(
                400,
                "InvalidParameter.AppType",
                "The parameter AppType must be WebApp, NativeApp or ServerApp.",
            ));
        }
        if name.is_empty() || name.len() > 64 {
            return Err(ApiError::new(
                400,
                "InvalidParameter.AppName.Length",
                "The parameter AppName must be 1-64 characters.",
            ));
        }
        if self.apps.contains(id) || self.apps.iter().any(|(_, a)| a.name == name) {
            return Err(ApiError::new(
                409,
                "EntityAlreadyExists.Application",
                "The application does already EXIST.",
            ));
        }
        self.apps.insert(
            id,
            App {
                name: name.to_owned(),
                display: display.to_owned(),
                app_type: app_type.to_owned(),
                multi_tenant,
                secret_required: app_type != "NativeApp",
                created: now,
                secrets: vec![],
                provisioned: None,
            },
        );
        Ok(())
    }

    fn add_secret(&mut self, app: &str, now: Timestamp) -> Result<Secret, ApiError> {
        let sid = self.secret_id();
        let a = self.apps.get_mut(app).ok_or_else(no_app)?;
        if a.secrets.len() >= MAX_SECRETS {
            return Err(ApiError::new(
                409,
                "LimitExceeded.Application.AppSecret",
                format!("An application has at most {MAX_SECRETS} secrets."),
            ));
        }
        let s = Secret {
            id: sid,
            value: uuid::Uuid::new_v4().simple().to_string(),
            created: now,
        };
        a.secrets.push(s.clone());
        Ok(s)
    }

    /// (applications, secrets, installed external applications).
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.apps.len(),
            self.apps.iter().map(|(_, a)| a.secrets.len()).sum(),
            self.external.len(),
        )
    }

    /// `AppName`s of the enterprise applications, then of the installed external ones.
    #[must_use]
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        (
            self.apps.iter().map(|(_, a)| a.name.clone()).collect(),
            self.external.iter().map(|(_, e)| e.name.clone()).collect(),
        )
    }
}

fn app_json(account_id: &str, id: &str, a: &App) -> Value {
    json!({
        "AppId": id, "AppName": a.name, "DisplayName": a.display, "AppType": a.app_type, "AccountId": account_id,
        "AccessTokenValidity": 3600, "RefreshTokenValidity": 7_776_000, "SecretRequired": a.secret_required,
        "IsMultiTenant": a.multi_tenant, "ProtocolVersion": "2.0", "CreateDate": utc(a.created), "UpdateDate": utc(a.created),
        "RedirectUris": {"RedirectUri": if a.app_type == "ServerApp" { vec![] } else { vec!["https://www.example.com/callback"] }},
        "DelegatedScope": scopes(),
    })
}

fn secret_json(app: &str, s: &Secret, value: Option<&str>) -> Value {
    let mut v = json!({"AppId": app, "AppSecretId": s.id, "CreateDate": utc(s.created)});
    if let (Some(val), Some(o)) = (value, v.as_object_mut()) {
        o.insert("AppSecretValue".into(), Value::String(val.to_owned()));
    }
    v
}

fn provision_inner(account_id: &str, id: &str, a: &App, at: Timestamp) -> Value {
    json!({"AppId": id, "AppName": a.name, "DisplayName": a.display, "AccountId": account_id,
           "AppCategory": "ThirdParty", "AssignmentType": "AllowAll", "NeedPrincipalConsent": false,
           "CreateDate": epoch_ms(at), "UpdateDate": epoch_ms(at), "DelegatedScope": scopes()})
}

fn provision_external(id: &str, e: &External) -> Value {
    json!({"AppId": id, "AppName": e.name, "DisplayName": e.display, "AccountId": e.owner,
           "AppCategory": e.category, "AssignmentType": "AllowAll", "NeedPrincipalConsent": false,
           "CreateDate": epoch_ms(e.created), "UpdateDate": epoch_ms(e.created), "DelegatedScope": scopes()})
}

fn external_json(tenant: &str, id: &str, e: &External) -> Value {
    json!({"ForeignAppId": id, "DisplayName": e.display, "TenantId": tenant,
           "AppPrincipalName": format!("{}@app.{}.onaliyun.com", e.name, e.owner),
           "CreateDate": epoch_ms(e.created), "UpdateDate": epoch_ms(e.created), "DelegatedScope": scopes()})
}

fn source_type(p: &Params) -> Result<(bool, bool), ApiError> {
    match param(p, "SourceType").filter(|s| !s.is_empty()) {
        None => Ok((true, true)),
        Some("inner") => Ok((true, false)),
        Some("external") => Ok((false, true)),
        Some(_) => Err(ApiError::new(
            400,
            "InvalidParameter.SourceType",
            "The parameter SourceType must be inner or external.",
        )),
    }
}

/// The OAuth application actions.
pub const ACTIONS: &[Action] = &[
    Action::account("ListApplications", Read, |st, _ctx, p| {
        only(p, "ListApplications", &[])?;
        let account = st.account_id();
        let list: Vec<Value> = st
            .apps
            .apps
            .iter()
            .map(|(id, a)| app_json(account, id, a))
            .collect();
        Ok(json!({"Applications": {"Application": list}}))
    }),
    Action::account("GetApplication", Read, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let a = st.apps.apps.get(id).ok_or_else(no_app)?;
        Ok(json!({"Application": app_json(st.account_id(), id, a)}))
    }),
    Action::account("CreateApplication", Mutating, |st, ctx, p| {
        let name = required(p, "AppName")?;
        let display = required(p, "DisplayName")?;
        let app_type = required(p, "AppType")?;
        let multi = param(p, "IsMultiTenant").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let account = st.account_id().to_owned();
        let id = st.apps.next_id(&account);
        st.apps.create(&id, name, display, app_type, multi, ctx.now)?;
        let a = st.apps.apps.get(&id).ok_or_else(no_app)?;
        Ok(json!({"Application": app_json(&account, &id, a)}))
    }),
    Action::account("DeleteApplication", Mutating, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let a = st.apps.apps.get(id).ok_or_else(no_app)?;
        if st.apps.strict_secrets && !a.secrets.is_empty() {
            return Err(ApiError::new(
                409,
                "DeleteConflict.Application.AppSecret",
                "The application CAN NOT has any secret while deleting the application.",
            ));
        }
        if st.apps.strict_provision && a.provisioned.is_some() {
            return Err(ApiError::new(
                409,
                "DeleteConflict.Application.Provision",
                "The application CAN NOT be provisioned while deleting the application.",
            ));
        }
        st.apps.apps.remove(id);
        Ok(json!({}))
    }),
    Action::account("ListAppSecretIds", Read, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let a = st.apps.apps.get(id).ok_or_else(no_app)?;
        let list: Vec<Value> = a.secrets.iter().map(|s| secret_json(id, s, None)).collect();
        Ok(json!({"AppSecrets": {"AppSecret": list}}))
    }),
    Action::account("GetAppSecret", Read, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let sid = required(p, "AppSecretId")?;
        let a = st.apps.apps.get(id).ok_or_else(no_app)?;
        let s = a.secrets.iter().find(|s| s.id == sid).ok_or_else(no_secret)?;
        // The value is shown in full only by CreateAppSecret (user guide); later reads are masked.
        let masked = format!("****{}", &s.value[s.value.len().saturating_sub(4)..]);
        Ok(json!({"AppSecret": secret_json(id, s, Some(&masked))}))
    }),
    Action::account("CreateAppSecret", Mutating, |st, ctx, p| {
        let id = required(p, "AppId")?.to_owned();
        let s = st.apps.add_secret(&id, ctx.now)?;
        Ok(json!({"AppSecret": secret_json(&id, &s, Some(&s.value))}))
    }),
    Action::account("DeleteAppSecret", Mutating, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let sid = required(p, "AppSecretId")?;
        let a = st.apps.apps.get_mut(id).ok_or_else(no_app)?;
        let before = a.secrets.len();
        a.secrets.retain(|s| s.id != sid);
        if a.secrets.len() == before {
            return Err(no_secret());
        }
        Ok(json!({}))
    }),
    Action::account("ListApplicationProvisionInfos", Read, |st, _ctx, p| {
        only(p, "ListApplicationProvisionInfos", &["SourceType"])?;
        let (inner, external) = source_type(p)?;
        let account = st.account_id();
        let mut list: Vec<Value> = Vec::new();
        if inner {
            list.extend(
                st.apps
                    .apps
                    .iter()
                    .filter_map(|(id, a)| a.provisioned.map(|at| provision_inner(account, id, a, at))),
            );
        }
        if external {
            list.extend(st.apps.external.iter().map(|(id, e)| provision_external(id, e)));
        }
        Ok(json!({"ApplicationProvisionInfos": {"ApplicationProvisionInfo": list}}))
    }),
    Action::account("GetApplicationProvisionInfo", Read, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        if let Some(e) = st.apps.external.get(id) {
            return Ok(json!({"ApplicationProvisionInfo": provision_external(id, e)}));
        }
        let a = st.apps.apps.get(id).ok_or_else(no_app)?;
        let at = a.provisioned.ok_or_else(no_provision)?;
        Ok(json!({"ApplicationProvisionInfo": provision_inner(st.account_id(), id, a, at)}))
    }),
    Action::account("ProvisionApplication", Mutating, |st, ctx, p| {
        let id = required(p, "AppId")?;
        let a = st.apps.apps.get_mut(id).ok_or_else(no_app)?;
        if a.app_type != "ServerApp" {
            return Err(not_server_app());
        }
        if a.provisioned.is_some() {
            return Err(ApiError::new(
                409,
                "EntityAlreadyExists.ApplicationProvisionInfo",
                "The application is already provisioned in this account.",
            ));
        }
        a.provisioned = Some(ctx.now);
        Ok(json!({}))
    }),
    Action::account("DeprovisionApplication", Mutating, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        if st.apps.external.remove(id).is_some() {
            return Ok(json!({}));
        }
        let a = st.apps.apps.get_mut(id).ok_or_else(no_app)?;
        if a.app_type != "ServerApp" {
            return Err(not_server_app());
        }
        a.provisioned.take().ok_or_else(no_provision)?;
        Ok(json!({}))
    }),
    Action::account("ListExternalApplications", Read, |st, _ctx, p| {
        only(p, "ListExternalApplications", &[])?;
        let tenant = st.account_id();
        let list: Vec<Value> = st
            .apps
            .external
            .iter()
            .map(|(id, e)| external_json(tenant, id, e))
            .collect();
        Ok(json!({"ExternalApplications": {"ExternalApplication": list}, "IsTruncated": false}))
    }),
    Action::account("GetExternalApplication", Read, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        let e = st.apps.external.get(id).ok_or_else(no_external)?;
        Ok(json!({"ExternalApplication": external_json(st.account_id(), id, e)}))
    }),
    Action::account("DeprovisionExternalApplication", Mutating, |st, _ctx, p| {
        let id = required(p, "AppId")?;
        st.apps
            .external
            .remove(id)
            .map(|_| json!({}))
            .ok_or_else(no_external)
    }),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::Product;
    use crate::catalog::testing::{ctx, params, seeded};
    use crate::ram::{RamSeed, RamState};

    fn run(st: &mut RamState, action: &str, pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        crate::catalog::run(Product::Ims, st, &ctx(), action, &params(pairs))
    }

    const SEED: &str = "applications:\n  - {name: web, secrets: 2, id: \"4000000000000000001\"}\n  - {name: scim, appType: ServerApp, provisioned: true, id: \"4000000000000000002\"}\nexternalApplications: [{name: gitee, id: \"4000000000000000009\"}]\n";

    #[test]
    fn applications_secrets_and_provisioning() {
        let mut st = seeded(SEED);
        let apps = run(&mut st, "ListApplications", &[]).unwrap();
        assert_eq!(apps["Applications"]["Application"].as_array().unwrap().len(), 2);
        let e = run(&mut st, "CreateAppSecret", &[("AppId", "4000000000000000001")]).unwrap_err();
        assert_eq!(e.code, "LimitExceeded.Application.AppSecret");
        let inner = run(
            &mut st,
            "ListApplicationProvisionInfos",
            &[("SourceType", "inner")],
        )
        .unwrap();
        let list = inner["ApplicationProvisionInfos"]["ApplicationProvisionInfo"]
            .as_array()
            .unwrap();
        assert_eq!(list.len(), 1);
        assert!(list[0]["CreateDate"].as_str().unwrap().parse::<i64>().unwrap() > 1_000_000_000_000);
        let e = run(
            &mut st,
            "DeprovisionApplication",
            &[("AppId", "4000000000000000001")],
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (409, "NotSupportedOperation.DeprovisionApplication")
        );
        run(
            &mut st,
            "DeprovisionApplication",
            &[("AppId", "4000000000000000002")],
        )
        .unwrap();
        run(
            &mut st,
            "DeprovisionExternalApplication",
            &[("AppId", "4000000000000000009")],
        )
        .unwrap();
        let e = run(
            &mut st,
            "DeprovisionExternalApplication",
            &[("AppId", "4000000000000000009")],
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityNotExist.ExternalApplication");
        // by default the secrets go with the application
        run(&mut st, "DeleteApplication", &[("AppId", "4000000000000000001")]).unwrap();
        let e = run(&mut st, "DeleteApplication", &[("AppId", "4000000000000000001")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "EntityNotExist.Application"));

        let mut st = seeded(&format!(
            "{SEED}conflicts: [Application.AppSecret, Application.Provision]\n"
        ));
        let e = run(&mut st, "DeleteApplication", &[("AppId", "4000000000000000001")]).unwrap_err();
        assert_eq!(e.code, "DeleteConflict.Application.AppSecret");
        let e = run(&mut st, "DeleteApplication", &[("AppId", "4000000000000000002")]).unwrap_err();
        assert_eq!(e.code, "DeleteConflict.Application.Provision");
        assert!(
            RamState::from_seed(
                "2000000000000001",
                &serde_saphyr::from_str::<RamSeed>("applications: [{name: w, secrets: 3}]").unwrap(),
                None,
                Timestamp::now()
            )
            .is_err()
        );
    }
}
