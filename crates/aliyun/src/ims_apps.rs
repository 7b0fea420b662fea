//! IMS 2019-08-15 objects of Alibaba's newer "cannot close my account" checklist (alibaba-api.md
//! §10): OAuth applications (enterprise apps, their secrets, installed internal ServerApps and
//! third-party apps), per-user service credentials and passkeys, and the account summary.

use serde::Deserialize;

use super::client::params;
use super::error::AliyunError;
use super::ims::Ims;
use super::pagination::lenient;
use super::product::Product;

const P: Product = Product::Ims;

/// `ListApplications` item (an enterprise application of this account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Application {
    /// `AppId`.
    #[serde(deserialize_with = "lenient::string")]
    pub app_id: String,
    /// `AppName`.
    pub app_name: String,
    /// `DisplayName`.
    pub display_name: String,
    /// `WebApp`, `NativeApp` or `ServerApp`.
    pub app_type: String,
}

/// `ListAppSecretIds` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AppSecret {
    /// `AppSecretId` (a UUID; never the secret value).
    pub app_secret_id: String,
}

/// `ListApplicationProvisionInfos` item: an installed application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProvisionInfo {
    /// `AppId`.
    #[serde(deserialize_with = "lenient::string")]
    pub app_id: String,
    /// `AppName`.
    pub app_name: String,
    /// `DisplayName`.
    pub display_name: String,
    /// The owning account.
    #[serde(deserialize_with = "lenient::string")]
    pub account_id: String,
}

/// `ListServiceCredentials` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceCredential {
    /// `ServiceCredentialId`.
    pub service_credential_id: String,
    /// `ServiceCredentialName`.
    pub service_credential_name: String,
    /// `ServiceName` (`xxx.aliyuncs.com`).
    pub service_name: String,
    /// The owner's UPN.
    pub user_principal_name: String,
}

/// `ListPasskeys` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Passkey {
    /// `PasskeyId`.
    pub passkey_id: String,
    /// `PasskeyName`.
    pub passkey_name: String,
}

/// The counters of `GetAccountSummary.SummaryMap` the convergence check reads (unknown keys are
/// ignored, missing ones are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AccountSummary {
    /// RAM users.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub users: Option<i64>,
    /// User groups.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub groups: Option<i64>,
    /// RAM roles.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub roles: Option<i64>,
    /// Custom policies.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub policies: Option<i64>,
    /// Virtual MFA devices, bound or not.
    #[serde(rename = "MFADevices", deserialize_with = "lenient::opt_i64")]
    pub mfa_devices: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryAnswer {
    #[serde(rename = "SummaryMap")]
    summary: AccountSummary,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CredentialPage {
    service_credentials: super::pagination::Wrapped<ServiceCredential>,
    #[serde(deserialize_with = "lenient::bool")]
    is_truncated: bool,
    next_token: Option<String>,
}

impl Ims<'_> {
    /// `ListApplications` (not paginated).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_applications(self) -> Result<Vec<Application>, AliyunError> {
        self.list("ListApplications", "Applications", &[]).await
    }

    /// `ListAppSecretIds` of one application (at most two).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_app_secret_ids(self, app_id: &str) -> Result<Vec<AppSecret>, AliyunError> {
        self.list("ListAppSecretIds", "AppSecrets", &[("AppId", app_id)])
            .await
    }

    /// `ListApplicationProvisionInfos` with `SourceType` `inner` (installed ServerApps of this
    /// account) or `external` (third-party applications installed here).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_application_provision_infos(
        self,
        source_type: &str,
    ) -> Result<Vec<ProvisionInfo>, AliyunError> {
        self.list(
            "ListApplicationProvisionInfos",
            "ApplicationProvisionInfos",
            &[("SourceType", source_type)],
        )
        .await
    }

    /// Every service credential of every user (`AllUsers=true`, NextToken pages of 100).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_service_credentials_all(self) -> Result<Vec<ServiceCredential>, AliyunError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p = params(&[("AllUsers", "true"), ("MaxResults", "100")]);
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let page: CredentialPage = self.client.call(P, "ListServiceCredentials", &p).await?;
            out.extend(page.service_credentials.0);
            match page.next_token.filter(|t| page.is_truncated && !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `ListPasskeys` of one user (plain array, not paginated).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_passkeys(self, upn: &str) -> Result<Vec<Passkey>, AliyunError> {
        self.list("ListPasskeys", "Passkeys", &[("UserPrincipalName", upn)])
            .await
    }

    /// `GetAccountSummary`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_account_summary(self) -> Result<AccountSummary, AliyunError> {
        let a: SummaryAnswer = self.client.call(P, "GetAccountSummary", &[]).await?;
        Ok(a.summary)
    }

    /// One of the mutating calls of this family; returns the RequestId.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn call_ack(self, action: &str, pairs: &[(&str, &str)]) -> Result<String, AliyunError> {
        self.client.call_ack(P, action, &params(pairs)).await
    }

    async fn list<T: serde::de::DeserializeOwned>(
        self,
        action: &str,
        key: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<T>, AliyunError> {
        self.client.list(P, action, key, &params(pairs)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::list_from_value;

    #[test]
    fn shapes_of_section_10_parse() {
        let v = serde_json::json!({"RequestId": "r", "Applications": {"Application": [
            {"AppId": "472457090344041", "AppName": "myapp", "DisplayName": "My app", "AppType": "WebApp"}]}});
        let apps: Vec<Application> = list_from_value(v, "Applications").unwrap();
        assert_eq!(apps[0].app_name, "myapp");
        let v = serde_json::json!({"RequestId": "r", "Passkeys": [{"PasskeyId": "PASSKEY-x", "PasskeyName": "d1"}]});
        let keys: Vec<Passkey> = list_from_value(v, "Passkeys").unwrap();
        assert_eq!(keys[0].passkey_id, "PASSKEY-x");
        let p: CredentialPage =
            serde_json::from_value(serde_json::json!({"IsTruncated": true, "NextToken": "n",
            "ServiceCredentials": [{"ServiceCredentialId": "SC1", "UserPrincipalName": "u@x.onaliyun.com"}]}))
            .unwrap();
        assert!(p.is_truncated && p.service_credentials.0.len() == 1);
        let s: SummaryAnswer =
            serde_json::from_value(serde_json::json!({"SummaryMap": {"Users": 3, "Groups": "0",
            "Roles": 2, "Policies": 0, "MFADevices": 1, "NewKey": 9}}))
            .unwrap();
        assert_eq!(s.summary.users, Some(3));
        assert_eq!(s.summary.groups, Some(0));
        assert_eq!(s.summary.mfa_devices, Some(1));
    }
}
