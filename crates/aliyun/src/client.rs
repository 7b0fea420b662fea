//! The client handle: a transport plus a credential provider. Cheap to clone; a member-account
//! client is the same transport with an AssumeRole provider layered on the base credentials.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::config::ClientConfig;
use super::credentials::{AssumeRoleProvider, CredentialProvider, Credentials, role_arn};
use super::error::AliyunError;
use super::ims::Ims;
use super::pagination::{MarkerPage, Wrapped, collect_marker, lenient};
use super::product::Product;
use super::ram::Ram;
use super::rm::ResourceManager;
use super::sts::Sts;
use super::transport::{CallObserver, Transport};

/// The default role every Resource Directory member has for its management account (§7.1).
pub const DEFAULT_ACCESS_ROLE: &str = "ResourceDirectoryAccountAccessRole";

/// A signed, retrying Alibaba Cloud client for one identity (the management account, or a member
/// through AssumeRole).
#[derive(Debug, Clone)]
pub struct AliyunClient {
    transport: Arc<Transport>,
    creds: CredentialProvider,
    /// Member clients by (account, role), so sessions are shared across reconcile passes.
    members: Arc<std::sync::Mutex<HashMap<(String, String), AliyunClient>>>,
}

/// Builds `(name, value)` parameter lists.
pub(crate) fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

impl AliyunClient {
    /// A client for static credentials.
    ///
    /// # Errors
    /// `Transport.Build` when the HTTP client cannot be built.
    pub fn new(config: ClientConfig, credentials: Credentials) -> Result<AliyunClient, AliyunError> {
        Ok(AliyunClient::from_parts(
            Arc::new(Transport::new(config)?),
            CredentialProvider::fixed(credentials),
        ))
    }

    /// A client for static credentials that reports every attempt to `observer`.
    ///
    /// # Errors
    /// `Transport.Build` when the HTTP client cannot be built.
    pub fn with_observer(
        config: ClientConfig,
        credentials: Credentials,
        observer: Arc<dyn CallObserver>,
    ) -> Result<AliyunClient, AliyunError> {
        let transport = Transport::new(config)?.with_observer(observer);
        Ok(AliyunClient::from_parts(
            Arc::new(transport),
            CredentialProvider::fixed(credentials),
        ))
    }

    /// A client from an existing transport and provider.
    #[must_use]
    pub fn from_parts(transport: Arc<Transport>, creds: CredentialProvider) -> AliyunClient {
        AliyunClient {
            transport,
            creds,
            members: Arc::default(),
        }
    }

    /// The credential provider.
    #[must_use]
    pub fn credentials(&self) -> &CredentialProvider {
        &self.creds
    }

    /// The shared transport.
    #[must_use]
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        self.transport.config()
    }

    /// A client acting as `role_arn`; the first session is created on first use.
    #[must_use]
    pub fn assume_role(&self, role_arn: &str, session_name: &str) -> AliyunClient {
        let provider = AssumeRoleProvider::new(
            self.transport.clone(),
            self.creds.clone(),
            role_arn,
            session_name,
            self.config().sts_duration_seconds,
        );
        AliyunClient::from_parts(
            self.transport.clone(),
            CredentialProvider::AssumeRole(Arc::new(provider)),
        )
    }

    /// A client inside member `account_id` through `acs:ram::<account_id>:role/<role>`; assumes the
    /// role once now so a missing role or permission shows here, then refreshes on its own.
    ///
    /// # Errors
    /// The AssumeRole failure (`EntityNotExist.Role`, `NoPermission`, ...).
    pub async fn assume_role_client(
        &self,
        account_id: &str,
        role: &str,
        session_name: &str,
    ) -> Result<AliyunClient, AliyunError> {
        let member = self.assume_role(&role_arn(account_id, role), session_name);
        member.creds.credentials().await?;
        Ok(member)
    }

    /// Like [`AliyunClient::assume_role_client`], but returns the cached client for the same
    /// account and role when there is one (its session refreshes itself). A failed AssumeRole is not
    /// cached.
    ///
    /// # Errors
    /// The AssumeRole failure.
    pub async fn member(
        &self,
        account_id: &str,
        role: &str,
        session_name: &str,
    ) -> Result<AliyunClient, AliyunError> {
        let key = (account_id.to_string(), role.to_string());
        if let Some(c) = self
            .members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(c.clone());
        }
        let c = self.assume_role_client(account_id, role, session_name).await?;
        let mut g = self
            .members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(g.entry(key).or_insert(c).clone())
    }

    /// Who an assumed-role client really is: the `AssumedRoleUser` of its session (assumed now if
    /// none is cached), or `GetCallerIdentity` when the AssumeRole answer did not say. `None` for
    /// static credentials.
    ///
    /// # Errors
    /// The AssumeRole or GetCallerIdentity failure.
    pub async fn session_identity(&self) -> Result<Option<super::sts::AssumedRoleUser>, AliyunError> {
        let CredentialProvider::AssumeRole(p) = &self.creds else {
            return Ok(None);
        };
        self.creds.credentials().await?;
        if let Some(id) = p.identity() {
            return Ok(Some(id));
        }
        let me = self.sts().get_caller_identity().await?;
        let Some(role_id) = me.role_id.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let session = me.principal_id.split_once(':').map_or("", |(_, s)| s);
        Ok(Some(super::sts::AssumedRoleUser {
            arn: me.arn,
            assumed_role_id: format!("{role_id}:{session}"),
        }))
    }

    /// RAM operations.
    #[must_use]
    pub fn ram(&self) -> Ram<'_> {
        Ram { client: self }
    }

    /// IMS operations.
    #[must_use]
    pub fn ims(&self) -> Ims<'_> {
        Ims { client: self }
    }

    /// ResourceManager operations.
    #[must_use]
    pub fn rm(&self) -> ResourceManager<'_> {
        ResourceManager { client: self }
    }

    /// STS operations.
    #[must_use]
    pub fn sts(&self) -> Sts<'_> {
        Sts { client: self }
    }

    /// One call, deserialised.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn call<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        params: &[(String, String)],
    ) -> Result<T, AliyunError> {
        self.transport.call(&self.creds, product, action, params).await
    }

    /// A mutating call whose answer only matters for its RequestId.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn call_ack(
        &self,
        product: Product,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, AliyunError> {
        let a: Ack = self.call(product, action, params).await?;
        Ok(a.request_id)
    }

    /// A listing that is not paginated: the items under `key` (`AccessKeys` → `AccessKeys.AccessKey[]`).
    ///
    /// # Errors
    /// The classified failure; `Transport.Decode` when the answer does not have that shape.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        key: &str,
        params: &[(String, String)],
    ) -> Result<Vec<T>, AliyunError> {
        let v = self
            .transport
            .call_value(&self.creds, product, action, params)
            .await?;
        list_from_value(v, key)
    }

    /// One page of a Marker listing: items are under `key` (`Users` → `Users.User[]`).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn marker_page<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        key: &str,
        base: &[(String, String)],
        marker: Option<&str>,
        max_items: u32,
    ) -> Result<MarkerPage<T>, AliyunError> {
        let mut p = base.to_vec();
        p.push(("MaxItems".into(), max_items.to_string()));
        if let Some(m) = marker {
            p.push(("Marker".into(), m.to_string()));
        }
        let v = self
            .transport
            .call_value(&self.creds, product, action, &p)
            .await?;
        page_from_value(v, key)
    }

    /// Every page of a Marker listing, with the page size capped by the configuration.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn marker_all<T: DeserializeOwned>(
        &self,
        product: Product,
        action: &str,
        key: &str,
        base: &[(String, String)],
        operation_max: u32,
    ) -> Result<Vec<T>, AliyunError> {
        let size = self.config().page_size(operation_max);
        collect_marker(|m| async move {
            self.marker_page(product, action, key, base, m.as_deref(), size)
                .await
        })
        .await
    }
}

/// Any answer: only the RequestId is read.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Ack {
    #[serde(rename = "RequestId")]
    request_id: String,
}

#[derive(serde::Deserialize)]
struct PageMeta {
    #[serde(rename = "IsTruncated", default, deserialize_with = "lenient::bool")]
    is_truncated: bool,
    #[serde(rename = "Marker", default, deserialize_with = "lenient::opt_string")]
    marker: Option<String>,
}

/// Splits a Marker-page answer into items (under `key`) and paging metadata.
///
/// # Errors
/// `Transport.Decode` when the answer does not have the expected shape.
pub fn page_from_value<T: DeserializeOwned>(
    mut v: serde_json::Value,
    key: &str,
) -> Result<MarkerPage<T>, AliyunError> {
    let decode = |e: serde_json::Error| {
        let mut err = AliyunError::local("Transport.Decode", format!("unexpected list answer ({key}): {e}"));
        err.class = super::error::ErrorClass::Other;
        err
    };
    let items = v
        .get_mut(key)
        .map(serde_json::Value::take)
        .unwrap_or(serde_json::Value::Null);
    let items: Wrapped<T> = serde_json::from_value(items).map_err(decode)?;
    let meta: PageMeta = serde_json::from_value(v).map_err(decode)?;
    Ok(MarkerPage {
        items: items.0,
        is_truncated: meta.is_truncated,
        marker: meta.marker,
    })
}

/// Extracts a wrapped list (`key` → inner array) from a non-paginated answer.
///
/// # Errors
/// `Transport.Decode` when the answer does not have the expected shape.
pub fn list_from_value<T: DeserializeOwned>(v: serde_json::Value, key: &str) -> Result<Vec<T>, AliyunError> {
    page_from_value(v, key).map(|p| p.items)
}

#[cfg(test)]
mod tests;
