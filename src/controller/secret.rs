//! Reads the management account's credentials from the Secret named by
//! `spec.credentialsSecretRef`, on every pass, so a rotated Secret takes effect without a restart.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::validate::Block;

/// The AccessKey from the Secret. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretCredentials {
    /// `accessKeyId`.
    pub access_key_id: String,
    /// `accessKeySecret`.
    pub access_key_secret: String,
    /// Optional `securityToken` (an STS credential of the management account).
    pub security_token: Option<String>,
    /// The Secret's `resourceVersion`: a change means the credentials rotated.
    pub version: String,
}

impl std::fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("version", &self.version)
            .finish()
    }
}

/// Loads and checks the Secret.
///
/// # Errors
/// A [`Block`] naming the Secret and the missing key, or `Err(Ok(message))`-style transient errors
/// are returned as `Block` with reason `SecretUnavailable`.
pub async fn load(api: &Api<Secret>, name: &str) -> Result<SecretCredentials, Block> {
    let secret = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Block::new(
                "SecretNotFound",
                format!(
                    "Secret {name:?} (spec.credentialsSecretRef.name) does not exist in this namespace; create it with \
                     keys accessKeyId and accessKeySecret"
                ),
            ));
        }
        Err(kube::Error::Api(s)) if s.code == 403 => {
            return Err(Block::new(
                "SecretForbidden",
                format!(
                    "the operator may not read Secret {name:?} in this namespace; install the chart with this \
                     namespace in watchNamespaces (or cluster-wide)"
                ),
            ));
        }
        Err(e) => {
            return Err(Block::new(
                "SecretUnavailable",
                format!("reading Secret {name:?} failed: {e}"),
            ));
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
                "SecretKeyMissing",
                format!(
                    "Secret {name:?} has no {k:?} key (expected keys: accessKeyId, accessKeySecret, optional securityToken)"
                ),
            )),
        }
    };
    Ok(SecretCredentials {
        access_key_id: key("accessKeyId")?,
        access_key_secret: key("accessKeySecret")?,
        security_token: get("securityToken").filter(|s| !s.is_empty()),
        version: secret.metadata.resource_version.unwrap_or_default(),
    })
}
