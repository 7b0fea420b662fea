//! Credentials: a static AccessKey, and STS AssumeRole sessions that are cached and refreshed
//! ahead of expiry, one refresh at a time.
//!
//! Nothing here prints a secret: the AccessKey secret and the security token are
//! [`SecretString`]s, whose `Debug` says `[REDACTED]`. They are exposed only to sign a request
//! (`transport::sign_request`), to compare two [`Credentials`] and to check that an AssumeRole
//! answer is complete.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::error::AliyunError;
use super::transport::Transport;

/// An AccessKey pair, optionally with an STS security token.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `AccessKeyId` (`LTAI…`, or `STS.…` for temporary keys); not a secret.
    pub access_key_id: String,
    /// `AccessKeySecret`.
    pub access_key_secret: SecretString,
    /// `SecurityToken` of temporary credentials.
    pub security_token: Option<SecretString>,
}

impl Credentials {
    /// A long-lived AccessKey.
    #[must_use]
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<SecretString>) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
        }
    }

    /// Adds an STS security token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<SecretString>) -> Credentials {
        self.security_token = Some(token.into());
        self
    }
}

/// The same key, secret and token (the operator compares the credentials a cached client was built
/// with to spot a rotated Secret).
impl PartialEq for Credentials {
    fn eq(&self, other: &Credentials) -> bool {
        fn token(c: &Credentials) -> Option<&str> {
            c.security_token.as_ref().map(|t| t.expose_secret())
        }
        self.access_key_id == other.access_key_id
            && self.access_key_secret.expose_secret() == other.access_key_secret.expose_secret()
            && token(self) == token(other)
    }
}

impl Eq for Credentials {}

/// Where a client gets the credentials it signs with; cheap to clone.
#[derive(Clone, Debug)]
pub enum CredentialProvider {
    /// An AccessKey.
    Static(Arc<Credentials>),
    /// An STS session obtained with another provider.
    AssumeRole(Arc<AssumeRoleProvider>),
}

impl CredentialProvider {
    /// A static provider.
    #[must_use]
    pub fn fixed(creds: Credentials) -> CredentialProvider {
        CredentialProvider::Static(Arc::new(creds))
    }

    /// The credentials to sign the next attempt with (refreshing an STS session when due).
    ///
    /// # Errors
    /// The AssumeRole failure when a session had to be (re)created and no usable one is cached.
    pub async fn credentials(&self) -> Result<Credentials, AliyunError> {
        match self {
            CredentialProvider::Static(c) => Ok(Credentials::clone(c)),
            CredentialProvider::AssumeRole(p) => p.credentials().await,
        }
    }

    /// Drops the cached session that signed with `failed_key_id`, so the next call assumes the role
    /// again (after the server rejected its token or key). No-op for static credentials.
    pub async fn invalidate(&self, failed_key_id: &str) {
        if let CredentialProvider::AssumeRole(p) = self {
            p.invalidate(failed_key_id).await;
        }
    }

    /// True for STS sessions.
    #[must_use]
    pub fn is_assumed_role(&self) -> bool {
        matches!(self, CredentialProvider::AssumeRole(_))
    }

    /// Whose rate budget a call spends: the member account of an assumed role, `management` for
    /// the base credentials.
    #[must_use]
    pub fn budget_key(&self) -> &str {
        match self {
            CredentialProvider::Static(_) => "management",
            CredentialProvider::AssumeRole(p) => {
                let arn = p.role_arn();
                arn.strip_prefix("acs:ram::")
                    .and_then(|r| r.split(':').next())
                    .unwrap_or(arn)
            }
        }
    }
}

/// The shortest session every role allows (`DurationSeconds` minimum).
pub const MIN_SESSION_SECONDS: u32 = 900;

/// Refresh when less than this is left…
pub const REFRESH_MIN_REMAINING: Duration = Duration::from_secs(300);
/// …or less than this fraction (in percent) of the session lifetime.
pub const REFRESH_PERCENT_REMAINING: u32 = 20;

/// True when a session of `lifetime` with `remaining` left should be replaced.
#[must_use]
pub fn needs_refresh(lifetime: Duration, remaining: Duration) -> bool {
    remaining < REFRESH_MIN_REMAINING || remaining < lifetime * REFRESH_PERCENT_REMAINING / 100
}

#[derive(Clone, Debug)]
struct Session {
    creds: Credentials,
    lifetime: Duration,
    expires_at: Instant,
}

/// The result of one AssumeRole call as the provider needs it.
#[derive(Clone, Debug)]
pub struct AssumedCredentials {
    /// The temporary key, secret and token.
    pub credentials: Credentials,
    /// Time left until `Expiration`, computed against the caller's clock at the call.
    pub lifetime: Duration,
    /// Who the session is (`AssumedRoleUser`), when the answer said.
    pub identity: Option<super::sts::AssumedRoleUser>,
}

/// An STS session for one role, cached; concurrent callers share one refresh.
#[derive(Debug)]
pub struct AssumeRoleProvider {
    transport: Arc<Transport>,
    base: CredentialProvider,
    role_arn: String,
    session_name: String,
    duration_seconds: std::sync::atomic::AtomicU32,
    cache: tokio::sync::RwLock<Option<Session>>,
    /// The identity of the last session (the role does not change between refreshes).
    identity: std::sync::Mutex<Option<super::sts::AssumedRoleUser>>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl AssumeRoleProvider {
    /// A provider that assumes `role_arn` with the `base` credentials (no call is made yet).
    #[must_use]
    pub fn new(
        transport: Arc<Transport>,
        base: CredentialProvider,
        role_arn: impl Into<String>,
        session_name: impl Into<String>,
        duration_seconds: u32,
    ) -> AssumeRoleProvider {
        AssumeRoleProvider {
            transport,
            base,
            role_arn: role_arn.into(),
            session_name: session_name.into(),
            duration_seconds: std::sync::atomic::AtomicU32::new(duration_seconds),
            cache: tokio::sync::RwLock::new(None),
            identity: std::sync::Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The role this provider assumes.
    #[must_use]
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// `AssumedRoleUser` of the last session: which role the session really is, whatever spelling
    /// of the role name the ARN used (the service matches role names case-insensitively).
    #[must_use]
    pub fn identity(&self) -> Option<super::sts::AssumedRoleUser> {
        self.identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn fresh(&self) -> Option<Credentials> {
        let g = self.cache.read().await;
        let s = g.as_ref()?;
        let remaining = s.expires_at.saturating_duration_since(Instant::now());
        (!needs_refresh(s.lifetime, remaining)).then(|| s.creds.clone())
    }

    /// The session credentials, assuming the role when none is cached or the cached one is due.
    ///
    /// # Errors
    /// The AssumeRole failure, unless the cached session still has at least a minute left (then it
    /// is used and the failure only logged).
    pub async fn credentials(&self) -> Result<Credentials, AliyunError> {
        if let Some(c) = self.fresh().await {
            return Ok(c);
        }
        let _one_refresh = self.refresh_lock.lock().await;
        if let Some(c) = self.fresh().await {
            return Ok(c);
        }
        let mut assumed = self.assume().await;
        // A role whose MaxSessionDuration is below the asked duration: fall back to the minimum
        // every role allows instead of failing forever.
        if let Err(e) = &assumed
            && e.code == "InvalidParameter.DurationSeconds"
            && self.duration_seconds.load(Ordering::Relaxed) > MIN_SESSION_SECONDS
        {
            tracing::info!(role = %self.role_arn, "the role allows shorter sessions; assuming it for 900 s");
            self.duration_seconds
                .store(MIN_SESSION_SECONDS, Ordering::Relaxed);
            assumed = self.assume().await;
        }
        match assumed {
            Ok(a) => {
                let session = Session {
                    creds: a.credentials.clone(),
                    lifetime: a.lifetime,
                    expires_at: Instant::now() + a.lifetime,
                };
                *self.cache.write().await = Some(session);
                if let Some(id) = a.identity {
                    *self
                        .identity
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(id);
                }
                Ok(a.credentials)
            }
            Err(e) => {
                let g = self.cache.read().await;
                if let Some(s) = g.as_ref()
                    && s.expires_at.saturating_duration_since(Instant::now()) > Duration::from_secs(60)
                {
                    tracing::warn!(role = %self.role_arn, error = %e, "STS refresh failed; using the cached session");
                    return Ok(s.creds.clone());
                }
                Err(e)
            }
        }
    }

    /// Forgets the cached session if it is still the one with key `failed_key_id` (concurrent calls
    /// that failed with the same old session must not throw away a fresh one).
    pub async fn invalidate(&self, failed_key_id: &str) {
        let mut g = self.cache.write().await;
        if g.as_ref().is_some_and(|s| s.creds.access_key_id == failed_key_id) {
            *g = None;
        }
    }

    /// Boxed so the provider → transport → provider recursion (role chaining) has a finite type.
    fn assume(&self) -> Pin<Box<dyn Future<Output = Result<AssumedCredentials, AliyunError>> + Send + '_>> {
        Box::pin(super::sts::assume_role_with(
            &self.transport,
            &self.base,
            &self.role_arn,
            &self.session_name,
            self.duration_seconds.load(Ordering::Relaxed),
        ))
    }
}

/// `acs:ram::<account_id>:role/<role>`.
#[must_use]
pub fn role_arn(account_id: &str, role: &str) -> String {
    format!("acs:ram::{account_id}:role/{role}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("LTAIkey", "very-secret-value").with_token("CAIStoken-value");
        let s = format!("{c:?}");
        assert!(s.contains("LTAIkey"));
        assert!(!s.contains("very-secret-value"));
        assert!(!s.contains("CAIStoken-value"));
        let p = CredentialProvider::fixed(c.clone());
        let s = format!("{p:?}");
        assert!(
            !s.contains("very-secret-value") && !s.contains("CAIStoken-value"),
            "{s}"
        );
        let a = AssumedCredentials {
            credentials: c,
            lifetime: Duration::from_secs(1),
            identity: None,
        };
        let s = format!("{a:?}");
        assert!(
            !s.contains("very-secret-value") && !s.contains("CAIStoken-value") && s.contains("REDACTED"),
            "{s}"
        );
    }

    #[test]
    fn refresh_threshold() {
        let hour = Duration::from_secs(3600);
        assert!(!needs_refresh(hour, Duration::from_secs(1800)));
        assert!(needs_refresh(hour, Duration::from_secs(700))); // < 20% of an hour
        assert!(needs_refresh(Duration::from_secs(900), Duration::from_secs(299)));
        assert!(!needs_refresh(Duration::from_secs(900), Duration::from_secs(600)));
    }

    #[test]
    fn equality_compares_the_secrets() {
        let c = Credentials::new("a", "b");
        assert_eq!(c, Credentials::new("a", "b"));
        assert_ne!(c, Credentials::new("a", "c"));
        assert_ne!(c, Credentials::new("a", "b").with_token("t"));
        assert_eq!(
            c.clone().with_token("t"),
            Credentials::new("a", "b").with_token("t")
        );
    }

    #[test]
    fn arn_format() {
        assert_eq!(
            role_arn("1234567890123456", "ResourceDirectoryAccountAccessRole"),
            "acs:ram::1234567890123456:role/ResourceDirectoryAccountAccessRole"
        );
    }
}
