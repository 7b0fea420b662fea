//! STS 2015-04-01 (§7): `AssumeRole` into a member account and `GetCallerIdentity`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::client::AliyunClient;
use super::credentials::{AssumedCredentials, CredentialProvider, Credentials};
use super::error::{AliyunError, ErrorClass};
use super::pagination::lenient;
use super::product::Product;
use super::transport::Transport;

/// `Credentials` of an AssumeRole answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StsCredentials {
    /// `STS.…` key id.
    pub access_key_id: String,
    /// Temporary secret.
    pub access_key_secret: SecretString,
    /// Session token.
    pub security_token: SecretString,
    /// UTC `YYYY-MM-DDThh:mm:ssZ`.
    pub expiration: String,
}

/// `AssumedRoleUser`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssumedRoleUser {
    /// `acs:ram::<account>:role/<role>/<session>`.
    pub arn: String,
    /// `<roleId>:<session>`.
    pub assumed_role_id: String,
}

impl AssumedRoleUser {
    /// The role id (`AssumedRoleId` up to its first `:`), `None` when the answer had none.
    #[must_use]
    pub fn role_id(&self) -> Option<&str> {
        let id = self.assumed_role_id.split(':').next().unwrap_or_default().trim();
        (!id.is_empty()).then_some(id)
    }

    /// The account and role name in the ARN (`acs:ram::<account>:role/<role>/<session>`, also the
    /// `assumed-role/` form of GetCallerIdentity).
    #[must_use]
    pub fn account_and_role(&self) -> Option<(&str, &str)> {
        arn_account_and_role(&self.arn)
    }
}

/// `acs:ram::<account>:role/<role>[/<session>]` or `...:assumed-role/<role>/<session>` → the
/// account id and the role name as the service spelled them.
#[must_use]
pub fn arn_account_and_role(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (account, resource) = rest.split_once(':')?;
    let role_path = resource
        .strip_prefix("role/")
        .or_else(|| resource.strip_prefix("assumed-role/"))?;
    let role = role_path.split('/').next()?;
    (!account.is_empty() && !role.is_empty()).then_some((account, role))
}

/// `AssumeRole` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssumeRoleResponse {
    /// RequestId.
    pub request_id: String,
    /// The temporary credentials.
    pub credentials: StsCredentials,
    /// Who the session is.
    pub assumed_role_user: AssumedRoleUser,
}

/// `GetCallerIdentity` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallerIdentity {
    /// RequestId.
    pub request_id: String,
    /// The caller's account.
    #[serde(deserialize_with = "lenient::string")]
    pub account_id: String,
    /// Caller ARN.
    pub arn: String,
    /// `Account`, `RAMUser`, `AssumedRoleUser`.
    pub identity_type: String,
    /// Principal id.
    pub principal_id: String,
    /// Set for RAM users.
    pub user_id: Option<String>,
    /// Set for assumed roles.
    pub role_id: Option<String>,
}

/// Session name rules (§7): 2–64 of letters, digits, `.`, `@`, `-`, `_`. Other characters become
/// `-` and the result is padded or cut to fit.
#[must_use]
pub fn sanitize_session_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('-');
    }
    s
}

fn lifetime_of(expiration: &str, requested: u32) -> Duration {
    let requested = Duration::from_secs(u64::from(requested.max(1)));
    let Ok(exp) = expiration.parse::<jiff::Timestamp>() else {
        return requested;
    };
    let secs = exp.as_second() - jiff::Timestamp::now().as_second();
    if secs <= 0 {
        // Clock skew: trust the requested duration rather than a negative lifetime.
        return requested;
    }
    Duration::from_secs(secs.unsigned_abs()).min(requested)
}

/// Calls `AssumeRole` with `base` credentials; used by the caching provider.
///
/// # Errors
/// The STS failure; `Credentials.Incomplete` when the answer lacks a key, secret or token.
pub async fn assume_role_with(
    transport: &Transport,
    base: &CredentialProvider,
    role_arn: &str,
    session_name: &str,
    duration_seconds: u32,
) -> Result<AssumedCredentials, AliyunError> {
    let params = vec![
        ("RoleArn".to_string(), role_arn.to_string()),
        ("RoleSessionName".to_string(), sanitize_session_name(session_name)),
        ("DurationSeconds".to_string(), duration_seconds.to_string()),
    ];
    let r: AssumeRoleResponse = transport.call(base, Product::Sts, "AssumeRole", &params).await?;
    let c = r.credentials;
    if c.access_key_id.is_empty()
        || c.access_key_secret.expose_secret().is_empty()
        || c.security_token.expose_secret().is_empty()
    {
        let mut e = AliyunError::local(
            "Credentials.Incomplete",
            format!("AssumeRole {role_arn} answered without complete credentials"),
        );
        e.class = ErrorClass::Other;
        e.request_id = Some(r.request_id);
        return Err(e);
    }
    let identity = Some(r.assumed_role_user).filter(|u| u.role_id().is_some());
    Ok(AssumedCredentials {
        lifetime: lifetime_of(&c.expiration, duration_seconds),
        credentials: Credentials::new(c.access_key_id, c.access_key_secret).with_token(c.security_token),
        identity,
    })
}

/// STS calls made with a client's credentials.
#[derive(Debug, Clone, Copy)]
pub struct Sts<'a> {
    pub(crate) client: &'a AliyunClient,
}

impl Sts<'_> {
    /// `GetCallerIdentity`: who these credentials are (and the account id).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_caller_identity(self) -> Result<CallerIdentity, AliyunError> {
        self.client.call(Product::Sts, "GetCallerIdentity", &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_identity_is_parsed() {
        let u = AssumedRoleUser {
            arn: "acs:ram::1234567890123456:role/resourcedirectoryaccountaccessrole/ado".into(),
            assumed_role_id: "300000000000000001:ado".into(),
        };
        assert_eq!(u.role_id(), Some("300000000000000001"));
        assert_eq!(
            u.account_and_role(),
            Some(("1234567890123456", "resourcedirectoryaccountaccessrole"))
        );
        assert_eq!(
            arn_account_and_role("acs:ram::1:assumed-role/Admin/s"),
            Some(("1", "Admin"))
        );
        assert_eq!(arn_account_and_role("acs:ram::1:user/alice"), None);
        assert_eq!(AssumedRoleUser::default().role_id(), None);
    }

    #[test]
    fn session_names_are_made_valid() {
        assert_eq!(sanitize_session_name("ado-ns/name"), "ado-ns-name");
        assert_eq!(sanitize_session_name("a"), "a-");
        assert_eq!(sanitize_session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn lifetime_is_capped_by_the_request_and_survives_skew() {
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(600);
        let l = lifetime_of(&soon.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), 3600);
        assert!(l <= Duration::from_secs(600) && l >= Duration::from_secs(590));
        assert_eq!(lifetime_of("2000-01-01T00:00:00Z", 900), Duration::from_secs(900));
        assert_eq!(lifetime_of("garbage", 900), Duration::from_secs(900));
        let far = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(7200);
        assert_eq!(lifetime_of(&far.to_string(), 3600), Duration::from_secs(3600));
    }

    #[test]
    fn sts_credentials_debug_is_redacted() {
        let r: AssumeRoleResponse = serde_json::from_str(
            r#"{"RequestId":"r","Credentials":{"AccessKeyId":"STS.a","AccessKeySecret":"sekrit","SecurityToken":"tokn","Expiration":"x"}}"#,
        )
        .unwrap();
        assert_eq!(r.credentials.access_key_secret.expose_secret(), "sekrit");
        assert_eq!(r.credentials.security_token.expose_secret(), "tokn");
        let s = format!("{r:?}");
        assert!(
            !s.contains("sekrit") && !s.contains("tokn") && s.contains("STS.a"),
            "{s}"
        );
    }
}
