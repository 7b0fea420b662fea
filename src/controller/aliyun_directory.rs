//! The [`Directory`] and [`Connector`] implemented by the signed Alibaba Cloud client: the
//! management account's ResourceManager calls, and STS AssumeRole into members.
//!
//! Member clients are cached per (account, role) inside the management client, so an STS session
//! is reused across passes and refreshed by its provider before it expires. Directories are cached
//! per (AccessKey id, endpoints) by the connector; a rotated Secret (new key id, secret or token)
//! yields a fresh client, so old sessions made with the old key are dropped with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::crd::{CheckItem, EndpointsSpec, FailReason};
use ado_aliyun::client::AliyunClient;
use ado_aliyun::config::{ClientConfig, Endpoints};
use ado_aliyun::credentials::{CredentialProvider, Credentials};
use ado_aliyun::error::AliyunError;
use ado_aliyun::http_pool::HttpPool;
use ado_aliyun::product::Product;
use ado_aliyun::ratelimit::RateLimits;
use ado_aliyun::rm;
use ado_aliyun::sts::sanitize_session_name;
use ado_aliyun::transport::{CallObserver, Transport};

use super::directory::{
    AccountInfo, AccountType, CheckResult, CheckState, DeletionState, DeletionStatusInfo, Directory,
    DirectoryInfo, MemberDeletion,
};
use super::runtime::Connector;
use super::secret::SecretCredentials;

/// STS `RoleSessionName` of member sessions: shows in the member's ActionTrail who acted.
pub const SESSION_NAME: &str = "account-deletion-operator";

/// The management account's client as a [`Directory`].
#[derive(Clone)]
pub struct AliyunDirectory {
    client: AliyunClient,
    session_name: String,
}

impl std::fmt::Debug for AliyunDirectory {
    // Only non-secret facts: the endpoints and the AccessKey id are not credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunDirectory")
            .field("endpoints", &self.client.config().endpoints)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl AliyunDirectory {
    /// Wraps a client signed in with the management account's credentials.
    #[must_use]
    pub fn new(client: AliyunClient) -> AliyunDirectory {
        AliyunDirectory {
            client,
            session_name: sanitize_session_name(SESSION_NAME),
        }
    }

    /// The management client (for calls the trait does not cover).
    #[must_use]
    pub fn client(&self) -> &AliyunClient {
        &self.client
    }
}

fn check_items(items: Vec<rm::CheckItem>) -> Vec<CheckItem> {
    items
        .into_iter()
        .map(|c| CheckItem {
            check_id: c.check_id,
            check_name: c.check_name,
            description: c.description,
        })
        .collect()
}

/// Maps `GetResourceDirectory`.
fn directory_info(rd: rm::ResourceDirectory) -> DirectoryInfo {
    DirectoryInfo {
        id: rd.resource_directory_id,
        management_account_id: rd.master_account_id,
        member_deletion_status: MemberDeletion::parse(&rd.member_deletion_status),
    }
}

/// Maps `GetAccount`.
fn account_info(a: rm::Account) -> AccountInfo {
    AccountInfo {
        display_name: a.display_name,
        account_type: AccountType::parse(&a.account_type),
        status: a.status,
    }
}

/// Maps `GetAccountDeletionCheckResult`.
fn check_result(r: rm::DeletionCheckResult) -> CheckResult {
    CheckResult {
        status: CheckState::parse(&r.status),
        allow_delete: r.allow_delete,
        blocking: check_items(r.not_allow_reason.0),
        abandonable: check_items(r.abandonable_checks.0),
    }
}

/// Maps `GetAccountDeletionStatus`.
fn deletion_status_info(s: rm::DeletionStatus) -> DeletionStatusInfo {
    DeletionStatusInfo {
        status: DeletionState::parse(&s.status),
        deletion_type: s.deletion_type,
        create_time: s.create_time.filter(|t| !t.is_empty()),
        deletion_time: s.deletion_time.filter(|t| !t.is_empty()),
        fail_reasons: s
            .fail_reason_list
            .0
            .into_iter()
            .map(|r| FailReason {
                name: r.name,
                description: r.description,
            })
            .collect(),
    }
}

impl Directory for AliyunDirectory {
    type Error = AliyunError;
    type Member = AliyunClient;

    async fn resource_directory(&self) -> Result<DirectoryInfo, AliyunError> {
        Ok(directory_info(self.client.rm().get_resource_directory().await?))
    }

    async fn get_account(&self, account_id: &str) -> Result<AccountInfo, AliyunError> {
        Ok(account_info(self.client.rm().get_account(account_id).await?))
    }

    async fn check_account_delete(&self, account_id: &str) -> Result<(), AliyunError> {
        self.client.rm().check_account_delete(account_id).await?;
        Ok(())
    }

    async fn deletion_check_result(&self, account_id: &str) -> Result<CheckResult, AliyunError> {
        Ok(check_result(
            self.client
                .rm()
                .get_account_deletion_check_result(account_id)
                .await?,
        ))
    }

    async fn delete_account(
        &self,
        account_id: &str,
        abandonable_check_ids: &[String],
    ) -> Result<(Option<i64>, Option<String>), AliyunError> {
        let r = self
            .client
            .rm()
            .delete_account(account_id, abandonable_check_ids)
            .await?;
        Ok((r.deletion_type, Some(r.request_id).filter(|id| !id.is_empty())))
    }

    async fn deletion_status(&self, account_id: &str) -> Result<DeletionStatusInfo, AliyunError> {
        Ok(deletion_status_info(
            self.client.rm().get_account_deletion_status(account_id).await?,
        ))
    }

    async fn member(&self, account_id: &str, role: &str) -> Result<Arc<AliyunClient>, AliyunError> {
        // `AliyunClient::member` caches per (account, role); the session refreshes itself.
        let c = self.client.member(account_id, role, &self.session_name).await?;
        Ok(Arc::new(c))
    }
}

/// Checks a base URL: `http(s)://host[:port]` and nothing the signer would trip over.
fn check_url(field: &str, url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| format!("{field} {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{field} {url:?} must start with https:// (or http:// for an emulator)"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{field} {url:?} has no host"));
    }
    if parsed.path() != "/" && !parsed.path().is_empty() || parsed.query().is_some() {
        return Err(format!(
            "{field} {url:?} must be scheme://host[:port] without a path or query"
        ));
    }
    Ok(trimmed.to_string())
}

/// The client configuration for `spec.endpoint` (every product on one base URL, e.g. the emulator)
/// and `spec.endpoints` (per-product overrides); the real public endpoints otherwise.
///
/// # Errors
/// A message naming the malformed field.
pub fn client_config(
    endpoint: Option<&str>,
    endpoints: Option<&EndpointsSpec>,
) -> Result<ClientConfig, String> {
    let mut eps = match endpoint.filter(|e| !e.trim().is_empty()) {
        Some(e) => Endpoints::single(&check_url("spec.endpoint", e)?),
        None => Endpoints::default(),
    };
    if let Some(o) = endpoints {
        let overrides = [
            (Product::Ram, "spec.endpoints.ram", &o.ram),
            (Product::Ims, "spec.endpoints.ims", &o.ims),
            (
                Product::ResourceManager,
                "spec.endpoints.resourceManager",
                &o.resource_manager,
            ),
            (Product::Sts, "spec.endpoints.sts", &o.sts),
        ];
        for (product, field, url) in overrides {
            if let Some(u) = url.as_deref().filter(|u| !u.trim().is_empty()) {
                eps = eps.with(product, &check_url(field, u)?);
            }
        }
    }
    Ok(ClientConfig {
        endpoints: eps,
        ..ClientConfig::default()
    })
}

/// The management credentials of a Secret as client credentials.
fn credentials_of(creds: &SecretCredentials) -> Credentials {
    let c = Credentials::new(creds.access_key_id.clone(), creds.access_key_secret.clone());
    match &creds.security_token {
        Some(t) => c.with_token(t.clone()),
        None => c,
    }
}

struct CacheEntry {
    /// What the client was built with; compared on every connect to spot a rotated secret.
    credentials: Credentials,
    dir: Arc<AliyunDirectory>,
}

/// Builds [`AliyunDirectory`] clients from `AccountDeletion` Secrets and endpoints.
///
/// Every client it builds shares one set of rate budgets ([`RateLimits`]): per member account and
/// global, whatever Secret the object uses.
pub struct AliyunConnector {
    account_qps: f64,
    global_qps: f64,
    limits: Arc<RateLimits>,
    observer: Option<Arc<dyn CallObserver>>,
    cache: Mutex<HashMap<String, CacheEntry>>,
    /// One connection pool for every account's client (see [`HttpPool`]).
    http: HttpPool,
}

impl std::fmt::Debug for AliyunConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.cache.lock().map_or(0, |c| c.len());
        f.debug_struct("AliyunConnector")
            .field("account_qps", &self.account_qps)
            .field("global_qps", &self.global_qps)
            .field("cached_directories", &n)
            .finish()
    }
}

impl AliyunConnector {
    /// A connector with the `--account-qps` / `--global-qps` limits (0 = unlimited).
    #[must_use]
    pub fn new(account_qps: f64, global_qps: f64) -> AliyunConnector {
        // reqwest panics when building a client without a process-wide rustls provider; main
        // installs one, this covers library users and tests. An error means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let clean = |q: f64| if q.is_finite() && q > 0.0 { q } else { 0.0 };
        let (account_qps, global_qps) = (clean(account_qps), clean(global_qps));
        AliyunConnector {
            account_qps,
            global_qps,
            limits: Arc::new(RateLimits::new(account_qps, global_qps)),
            observer: None,
            cache: Mutex::new(HashMap::new()),
            http: HttpPool::default(),
        }
    }

    /// Reports every Alibaba Cloud attempt of every client to `observer` (the metrics).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> AliyunConnector {
        self.observer = Some(observer);
        self
    }

    /// Requests per second per account (0 = unlimited).
    #[must_use]
    pub fn account_qps(&self) -> f64 {
        self.account_qps
    }

    /// Requests per second across all accounts (0 = unlimited).
    #[must_use]
    pub fn global_qps(&self) -> f64 {
        self.global_qps
    }

    /// Number of HTTP clients (connection pools) the cached directory clients share.
    #[must_use]
    pub fn http_clients(&self) -> usize {
        self.http.clients()
    }

    /// Number of cached directory clients.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Connector for AliyunConnector {
    type Dir = AliyunDirectory;

    fn connect(
        &self,
        creds: &SecretCredentials,
        endpoint: Option<&str>,
        endpoints: Option<&EndpointsSpec>,
    ) -> Result<Arc<AliyunDirectory>, String> {
        let key = format!("{}|{:?}|{:?}", creds.access_key_id, endpoint, endpoints);
        let credentials = credentials_of(creds);
        if let Some(e) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && e.credentials == credentials
        {
            return Ok(e.dir.clone());
        }
        let config = client_config(endpoint, endpoints)?;
        let transport = Transport::in_pool(config, &self.http)
            .map_err(|e| format!("cannot build the Alibaba Cloud client: {e}"))?
            .with_limits(self.limits.clone());
        let transport = match &self.observer {
            Some(o) => transport.with_observer(o.clone()),
            None => transport,
        };
        let client = AliyunClient::from_parts(
            Arc::new(transport),
            CredentialProvider::fixed(credentials.clone()),
        );
        let dir = Arc::new(AliyunDirectory::new(client));
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // A new key id replaces clients of the key it rotated from only when the endpoints match;
        // other keys (other Secrets) keep theirs.
        cache.insert(
            key,
            CacheEntry {
                credentials,
                dir: dir.clone(),
            },
        );
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(id: &str, secret: &str) -> SecretCredentials {
        SecretCredentials {
            access_key_id: id.into(),
            access_key_secret: secret.into(),
            security_token: None,
            version: "1".into(),
        }
    }

    #[test]
    fn config_single_endpoint_and_overrides() {
        let c = client_config(None, None).unwrap();
        assert_eq!(c.endpoints, Endpoints::default());
        let c = client_config(Some("http://127.0.0.1:18080/"), None).unwrap();
        assert_eq!(c.endpoints, Endpoints::single("http://127.0.0.1:18080"));
        let o = EndpointsSpec {
            sts: Some("https://sts-vpc.cn-hangzhou.aliyuncs.com".into()),
            ..EndpointsSpec::default()
        };
        let c = client_config(None, Some(&o)).unwrap();
        assert_eq!(c.endpoints.sts, "https://sts-vpc.cn-hangzhou.aliyuncs.com");
        assert_eq!(c.endpoints.ram, "https://ram.aliyuncs.com");
        let e = client_config(Some("ftp://x"), None).unwrap_err();
        assert!(e.contains("spec.endpoint"), "{e}");
        let bad = EndpointsSpec {
            ram: Some("https://ram.aliyuncs.com/v1".into()),
            ..EndpointsSpec::default()
        };
        let e = client_config(None, Some(&bad)).unwrap_err();
        assert!(e.contains("spec.endpoints.ram"), "{e}");
    }

    #[test]
    fn connector_reuses_and_rotates() {
        let c = AliyunConnector::new(0.0, 0.0);
        let a = c
            .connect(&creds("LTAIa", "s1"), Some("http://127.0.0.1:1"), None)
            .unwrap();
        let b = c
            .connect(&creds("LTAIa", "s1"), Some("http://127.0.0.1:1"), None)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let rotated = c
            .connect(&creds("LTAIa", "s2"), Some("http://127.0.0.1:1"), None)
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &rotated));
        let other = c
            .connect(&creds("LTAIb", "s2"), Some("http://127.0.0.1:1"), None)
            .unwrap();
        assert!(!Arc::ptr_eq(&rotated, &other));
        assert_eq!(c.cached(), 2);
        // Two keys, one connection pool: a fleet holds about its peak of calls in flight in
        // connections, not the sum of every account's own peak.
        assert_eq!(c.http_clients(), 1);
        let dbg = format!("{:?} {:?} {:?}", c, rotated, rotated.client());
        assert!(!dbg.contains("s2"), "{dbg}");
    }

    #[test]
    fn maps_rm_answers() {
        let r = check_result(rm::DeletionCheckResult {
            status: "PreCheckComplete".into(),
            allow_delete: false,
            not_allow_reason: ado_aliyun::pagination::Wrapped(vec![rm::CheckItem {
                check_id: "NON_SP_efc".into(),
                check_name: "EFC".into(),
                description: "d".into(),
            }]),
            abandonable_checks: ado_aliyun::pagination::Wrapped(vec![]),
        });
        assert_eq!(r.blocking.len(), 1);
        assert_eq!(r.blocking[0].check_id, "NON_SP_efc");
        assert!(!r.allow_delete);
        let s = deletion_status_info(rm::DeletionStatus {
            status: "Deleting".into(),
            deletion_type: Some(1),
            create_time: Some(String::new()),
            ..rm::DeletionStatus::default()
        });
        assert_eq!(s.deletion_type, Some(1));
        assert_eq!(s.create_time, None);
    }

    /// A tiny stand-in for ResourceManager and STS answering by `Action`; counts AssumeRole calls.
    async fn fake_server(assumed: Arc<std::sync::atomic::AtomicUsize>) -> String {
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let assumed = assumed.clone();
            async move {
                let params = ado_aliyun::sign::form_decode(uri.query().unwrap_or(""));
                let action = params
                    .iter()
                    .find(|(k, _)| k == "Action")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let body = match action.as_str() {
                    "AssumeRole" => {
                        assumed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        serde_json::json!({"RequestId": "r1", "Credentials": {
                            "AccessKeyId": "STS.k", "AccessKeySecret": "tmp", "SecurityToken": "tok",
                            "Expiration": "2099-01-01T00:00:00Z"},
                            "AssumedRoleUser": {"Arn": "a", "AssumedRoleId": "b"}})
                    }
                    "GetResourceDirectory" => serde_json::json!({"RequestId": "r2", "ResourceDirectory": {
                        "ResourceDirectoryId": "rd-1", "MasterAccountId": "1000000000000001",
                        "MemberDeletionStatus": "Enabled"}}),
                    "GetAccountDeletionCheckResult" => serde_json::json!({"RequestId": "r3",
                        "AccountDeletionCheckResultInfo": {"Status": "PreCheckComplete", "AllowDelete": "true",
                        "AbandonableChecks": [{"CheckId": "SP_x", "CheckName": "X", "Description": "d"}]}}),
                    _ => serde_json::json!({"RequestId": "r4"}),
                };
                (
                    [("content-type", "application/json;charset=utf-8")],
                    body.to_string(),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn directory_calls_and_member_cache() {
        let assumed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let url = fake_server(assumed.clone()).await;
        let c = AliyunConnector::new(0.0, 0.0);
        let d = c.connect(&creds("LTAIa", "s1"), Some(&url), None).unwrap();
        let rd = d.resource_directory().await.unwrap();
        assert_eq!(rd.id, "rd-1");
        assert_eq!(rd.management_account_id, "1000000000000001");
        assert_eq!(rd.member_deletion_status, MemberDeletion::Enabled);
        let r = d.deletion_check_result("2000000000000001").await.unwrap();
        assert!(r.allow_delete);
        assert_eq!(r.abandonable[0].check_id, "SP_x");
        d.member("2000000000000001", "R").await.unwrap();
        d.member("2000000000000001", "R").await.unwrap();
        assert_eq!(assumed.load(std::sync::atomic::Ordering::SeqCst), 1);
        d.member("2000000000000002", "R").await.unwrap();
        assert_eq!(assumed.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// The whole `Directory` against the real emulator, served in-process from the conformance seed.
    #[tokio::test]
    async fn against_the_emulator() {
        let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/seed.yaml");
        let opts = <ado_emulator::server::Opts as clap::Parser>::parse_from([
            "aliyun-emulator",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            seed,
        ]);
        let running = ado_emulator::server::start(&opts).await.unwrap();
        let url = running.url();
        let c = AliyunConnector::new(0.0, 0.0);
        let d = c
            .connect(
                &creds("LTAI5tConfMgmtKey00000001", "conf-mgmt-secret-0001"),
                Some(&url),
                None,
            )
            .unwrap();
        let rd = d.resource_directory().await.unwrap();
        assert!(
            !rd.id.is_empty() && !rd.management_account_id.is_empty(),
            "{rd:?}"
        );
        let acct = d.get_account("2000000000000001").await.unwrap();
        assert!(!acct.status.is_empty(), "{acct:?}");
        let missing = d.get_account("2999999999999999").await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        let m = d
            .member("2000000000000001", ado_aliyun::client::DEFAULT_ACCESS_ROLE)
            .await
            .unwrap();
        let kinds = ado_core::Kind::ALL.into_iter().collect();
        let inv = ado_core::discover(m.as_ref(), &kinds, "2000000000000001")
            .await
            .unwrap();
        assert!(!inv.users.is_empty());
        d.check_account_delete("2000000000000001").await.unwrap();
        let r = d.deletion_check_result("2000000000000001").await.unwrap();
        assert!(!r.status.as_str().is_empty(), "{r:?}");
        eprintln!("{rd:?}\n{acct:?}\n{r:?}");
    }
}
