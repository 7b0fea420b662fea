//! Reads the management account's credentials from the Secret named by
//! `spec.credentialsSecretRef`, on every pass, so a rotated Secret takes effect without a restart.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secrecy::SecretString;

use super::block::{Block, BlockReason};

/// The AccessKey from the Secret. The secret and the token are [`SecretString`]s: `Debug` and
/// logs show `[REDACTED]`, and only the signing code exposes them.
#[derive(Clone, Debug)]
pub struct SecretCredentials {
    /// `accessKeyId`.
    pub access_key_id: String,
    /// `accessKeySecret`.
    pub access_key_secret: SecretString,
    /// Optional `securityToken` (an STS credential of the management account).
    pub security_token: Option<SecretString>,
    /// The Secret's `resourceVersion`: a change means the credentials rotated.
    pub version: String,
}

/// Why the Secret could not be used: something the user must fix, or the API server failing for
/// a moment (retried with backoff; not a user-facing block).
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The Secret is missing, unreadable by policy or incomplete: the user must act.
    #[error("{}", .0.message)]
    Blocked(Block),
    /// Reading it failed for a reason that may pass (API server unavailable, timeout).
    #[error("reading Secret {name:?} failed: {source}")]
    Unavailable {
        /// The Secret.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

impl From<Block> for SecretError {
    fn from(b: Block) -> Self {
        SecretError::Blocked(b)
    }
}

/// Loads and checks the Secret.
///
/// # Errors
/// [`SecretError::Blocked`] naming the Secret and the missing key; [`SecretError::Unavailable`]
/// when the API server did not answer.
pub async fn load(api: &Api<Secret>, name: &str) -> Result<SecretCredentials, SecretError> {
    let secret = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Block::new(BlockReason::SecretNotFound,
                format!(
                    "Secret {name:?} (spec.credentialsSecretRef.name) does not exist in this namespace; create it with \
                     keys accessKeyId and accessKeySecret"
                ),
            ).into());
        }
        Err(kube::Error::Api(s)) if s.code == 403 => {
            return Err(Block::new(BlockReason::SecretForbidden,
                format!(
                    "the operator may not read Secret {name:?} in this namespace; install the chart with this \
                     namespace in watchNamespaces (or cluster-wide)"
                ),
            ).into());
        }
        Err(e) => {
            return Err(SecretError::Unavailable {
                name: name.to_string(),
                source: e,
            });
        }
    };
    let data = secret.data.unwrap_or_default();
    let get = |k: &str| -> Option<String> {
        data.get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|s| s.trim().to_string())
    };
    let key = |k: &'static str| -> Result<String, Block> {
        match get(k) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Block::new(
                BlockReason::SecretKeyMissing,
                format!(
                    "Secret {name:?} has no {k:?} key (expected keys: accessKeyId, accessKeySecret, optional securityToken)"
                ),
            )),
        }
    };
    Ok(SecretCredentials {
        access_key_id: key("accessKeyId")?,
        access_key_secret: key("accessKeySecret")?.into(),
        security_token: get("securityToken")
            .filter(|s| !s.is_empty())
            .map(SecretString::from),
        version: secret.metadata.resource_version.unwrap_or_default(),
    })
}
