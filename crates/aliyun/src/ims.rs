//! IMS 2019-08-15 (§5): users with their status (frozen users included), SSO providers, the
//! default domain and the recycle bin.

use serde::Deserialize;

use super::client::{AliyunClient, params};
use super::error::AliyunError;
use super::pagination::lenient;
use super::product::Product;

const P: Product = Product::Ims;

/// `Status` value that lists active and frozen users together.
pub const ALL_USER_STATUSES: &str = "active,freeze";

/// `ListUsers` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImsUser {
    /// `name@<domain>`.
    pub user_principal_name: String,
    /// `UserId`.
    #[serde(deserialize_with = "lenient::string")]
    pub user_id: String,
    /// RAM user name (only `GetUser` documents it; derive it from the UPN otherwise).
    pub user_name: Option<String>,
    /// Display name.
    pub display_name: String,
    /// `active` / `freeze` (listing only).
    pub status: String,
}

/// `alice@example.onaliyun.com` → `alice`; user names may contain `@`, the domain cannot.
#[must_use]
pub fn user_name_from_upn(upn: &str) -> &str {
    upn.rsplit_once('@').map_or(upn, |(name, _)| name)
}

impl ImsUser {
    /// The RAM user name: `UserName` when sent, else the UPN before its last `@`.
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.user_name {
            Some(n) if !n.is_empty() => n,
            _ => user_name_from_upn(&self.user_principal_name),
        }
    }

    /// True for frozen users.
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.status.eq_ignore_ascii_case("freeze")
    }
}

/// `ListSAMLProviders` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SamlProvider {
    /// Name.
    #[serde(rename = "SAMLProviderName")]
    pub name: String,
    /// ARN.
    #[serde(rename = "Arn")]
    pub arn: String,
}

/// `ListOIDCProviders` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OidcProvider {
    /// Name.
    #[serde(rename = "OIDCProviderName")]
    pub name: String,
    /// ARN.
    #[serde(rename = "Arn")]
    pub arn: String,
    /// Issuer.
    #[serde(rename = "IssuerUrl")]
    pub issuer_url: String,
    /// Comma-separated client ids.
    #[serde(rename = "ClientIds")]
    pub client_ids: String,
}

/// `ListUsersInRecycleBin` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecycledUser {
    /// `UserId`.
    #[serde(deserialize_with = "lenient::string")]
    pub user_id: String,
    /// UPN.
    pub user_principal_name: String,
    /// Display name.
    pub display_name: String,
    /// When it was moved to the bin.
    pub recycle_date: String,
    /// When it will be purged.
    pub delete_date: String,
}

/// `ListAccessKeysInRecycleBin` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecycledAccessKey {
    /// Key id.
    pub access_key_id: String,
    /// When it was recycled.
    pub recycle_date: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DomainAnswer {
    #[serde(rename = "RequestId")]
    request_id: String,
    #[serde(rename = "DefaultDomainName")]
    default_domain_name: String,
}

/// IMS calls made with a client's credentials.
#[derive(Debug, Clone, Copy)]
pub struct Ims<'a> {
    pub(crate) client: &'a AliyunClient,
}

impl Ims<'_> {
    /// Every user with `status` (`None` = the service default, active only).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_users_all(self, status: Option<&str>) -> Result<Vec<ImsUser>, AliyunError> {
        let base = status.map(|s| params(&[("Status", s)])).unwrap_or_default();
        self.client.marker_all(P, "ListUsers", "Users", &base, 1000).await
    }

    /// Every SAML provider (MaxItems 1–100).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_saml_providers_all(self) -> Result<Vec<SamlProvider>, AliyunError> {
        self.client
            .marker_all(P, "ListSAMLProviders", "SAMLProviders", &[], 100)
            .await
    }

    /// `DeleteSAMLProvider`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_saml_provider(self, name: &str) -> Result<String, AliyunError> {
        self.call_ack("DeleteSAMLProvider", &[("SAMLProviderName", name)])
            .await
    }

    /// Every OIDC provider (MaxItems 1–100).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_oidc_providers_all(self) -> Result<Vec<OidcProvider>, AliyunError> {
        self.client
            .marker_all(P, "ListOIDCProviders", "OIDCProviders", &[], 100)
            .await
    }

    /// `DeleteOIDCProvider`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_oidc_provider(self, name: &str) -> Result<String, AliyunError> {
        self.call_ack("DeleteOIDCProvider", &[("OIDCProviderName", name)])
            .await
    }

    /// `GetDefaultDomain`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_default_domain(self) -> Result<String, AliyunError> {
        let a: DomainAnswer = self.client.call(P, "GetDefaultDomain", &[]).await?;
        Ok(a.default_domain_name)
    }

    /// `SetDefaultDomain`; returns the RequestId.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn set_default_domain(self, domain: &str) -> Result<String, AliyunError> {
        let a: DomainAnswer = self
            .client
            .call(P, "SetDefaultDomain", &params(&[("DefaultDomainName", domain)]))
            .await?;
        Ok(a.request_id)
    }

    /// Every user in the recycle bin (MaxItems 1–100).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_users_in_recycle_bin_all(self) -> Result<Vec<RecycledUser>, AliyunError> {
        self.client
            .marker_all(P, "ListUsersInRecycleBin", "Users", &[], 100)
            .await
    }

    /// `DeleteUserInRecycleBin` (purges the user for good).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_user_in_recycle_bin(self, user_id: &str) -> Result<String, AliyunError> {
        self.call_ack("DeleteUserInRecycleBin", &[("UserId", user_id)])
            .await
    }

    /// `ListAccessKeysInRecycleBin` of a recycled user (not paginated).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_access_keys_in_recycle_bin(
        self,
        user_id: &str,
    ) -> Result<Vec<RecycledAccessKey>, AliyunError> {
        self.client
            .list(
                P,
                "ListAccessKeysInRecycleBin",
                "AccessKeys",
                &params(&[("UserId", user_id)]),
            )
            .await
    }

    /// `DeleteAccessKeyInRecycleBin`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_access_key_in_recycle_bin(
        self,
        user_id: &str,
        key_id: &str,
    ) -> Result<String, AliyunError> {
        let p = [("UserId", user_id), ("UserAccessKeyId", key_id)];
        self.call_ack("DeleteAccessKeyInRecycleBin", &p).await
    }
}
