//! The one error type of the Alibaba layer, classified so callers (the retry loop, the executor,
//! the reconciler) decide on a class instead of string-matching codes.
//!
//! Classification follows alibaba-api.md §3 (gateway codes), §4.3 (RAM), §5.3 (IMS), §6 (RM): the
//! service documents codes, not statuses, for throttling, so the code wins over the HTTP status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure a call hit; drives retries and how the reconciler reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// `EntityNotExist*` / `EntityNotExists*`: on a delete the work is already done.
    NotFound,
    /// `DeleteConflict*` and other 409s: something still depends on the object.
    Conflict,
    /// `Throttling*` (any status): retried with backoff.
    Throttled,
    /// 5xx, `ServiceUnavailable`, `InternalError`, timeouts and connection failures: retried.
    Transient,
    /// Bad or unauthorised credentials (`InvalidAccessKeyId*`, `SignatureDoesNotMatch`,
    /// `NoPermission`, `Forbidden*`, `InvalidSecurityToken*`): needs a human.
    Auth,
    /// Any other 400: the request itself is wrong.
    InvalidInput,
    /// Everything else.
    Other,
}

impl ErrorClass {
    /// The label used in metrics, status and the `CallError` trait.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::NotFound => "NotFound",
            ErrorClass::Conflict => "Conflict",
            ErrorClass::Throttled => "Throttled",
            ErrorClass::Transient => "Transient",
            ErrorClass::Auth => "Auth",
            ErrorClass::InvalidInput => "InvalidInput",
            ErrorClass::Other => "Other",
        }
    }

    /// Only throttling and transient failures are worth repeating unchanged.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }

    /// Classifies an Alibaba error code with the HTTP status as a fallback.
    #[must_use]
    pub fn classify(code: &str, http_status: Option<u16>) -> ErrorClass {
        if code.starts_with("Throttling") || code.contains(".Throttling") || code == "Throttled" {
            return ErrorClass::Throttled;
        }
        if code.starts_with("EntityNotExist") {
            return ErrorClass::NotFound;
        }
        if code.starts_with("DeleteConflict") {
            return ErrorClass::Conflict;
        }
        if code.starts_with("InvalidAccessKeyId")
            || code.starts_with("InvalidAccessKeySecret")
            || code == "SignatureDoesNotMatch"
            || code.starts_with("NoPermission")
            || code.starts_with("Forbidden")
            || code.starts_with("InvalidSecurityToken")
            || code == "MissingSecurityToken"
        {
            return ErrorClass::Auth;
        }
        if code.starts_with("Transport.")
            || code.starts_with("ServiceUnavailable")
            || code.starts_with("InternalError")
            || code == "UnknownError"
            || code == "RequestTimeout"
        {
            return ErrorClass::Transient;
        }
        match http_status {
            Some(429) => ErrorClass::Throttled,
            Some(s) if s >= 500 => ErrorClass::Transient,
            Some(404) => ErrorClass::NotFound,
            Some(409) => ErrorClass::Conflict,
            Some(401 | 403) => ErrorClass::Auth,
            Some(400) => ErrorClass::InvalidInput,
            _ => ErrorClass::Other,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `AccessDeniedDetail` of a permission error (§3.1): which action and principal were refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessDeniedDetail {
    /// The refused action (`ram:DeleteUser`).
    #[serde(default)]
    pub auth_action: Option<String>,
    /// Who called.
    #[serde(default)]
    pub auth_principal_display_name: Option<String>,
    /// The caller's account.
    #[serde(default)]
    pub auth_principal_owner_id: Option<String>,
    /// `SubUser`, `AssumedRoleUser`, ...
    #[serde(default)]
    pub auth_principal_type: Option<String>,
    /// `ImplicitDeny`, `ExplicitDeny`.
    #[serde(default)]
    pub no_permission_type: Option<String>,
    /// `AccountLevelIdentityBasedPolicy`, `ControlPolicy`, ...
    #[serde(default)]
    pub policy_type: Option<String>,
}

/// A failed call: an Alibaba error answer or a local transport failure (`Transport.*` codes).
/// Holds no secrets: messages of transport errors are built without the request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AliyunError {
    /// Class derived from `code` and `http_status`.
    pub class: ErrorClass,
    /// Alibaba `Code`, or a local `Transport.Timeout` / `Transport.Connect` / `Transport.Body` /
    /// `Transport.Decode` / `Credentials.*`.
    pub code: String,
    /// Alibaba `Message` or a description of the local failure.
    pub message: String,
    /// `RequestId` of the answer, when there was one.
    pub request_id: Option<String>,
    /// HTTP status, when a response arrived.
    pub http_status: Option<u16>,
    /// `Recommend` (error-center link; boxed to keep the error small).
    pub recommend: Option<Box<str>>,
    /// `AccessDeniedDetail` on permission errors (boxed: it is rare and large).
    pub access_denied_detail: Option<Box<AccessDeniedDetail>>,
    /// Server-requested delay in ms before the next attempt (`x-acs-retry-after`, `x-ratelimit-*`);
    /// see [`AliyunError::retry_after`].
    pub retry_after_ms: Option<u32>,
    /// The `Limit` of a per-API throttling answer (`x-ratelimit-user-api: Limit:20,...`): the
    /// operation's own quota, which the client's budget for that API starts from.
    pub api_limit: Option<u32>,
}

impl fmt::Display for AliyunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(s) = self.http_status {
            write!(f, " (HTTP {s}")?;
            if let Some(r) = &self.request_id {
                write!(f, ", RequestId {r}")?;
            }
            f.write_str(")")?;
        } else if let Some(r) = &self.request_id {
            write!(f, " (RequestId {r})")?;
        }
        Ok(())
    }
}

/// The JSON error body (§3.1); both PascalCase and camelCase keys are read, as the SDK does.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(alias = "code", default)]
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(alias = "message", default)]
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(alias = "requestId", default)]
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
    #[serde(default, rename = "Recommend")]
    recommend: Option<String>,
    #[serde(alias = "accessDeniedDetail", default)]
    #[serde(rename = "AccessDeniedDetail")]
    access_denied_detail: Option<serde_json::Value>,
}

impl AliyunError {
    /// A local error with `code`, classified like a service error.
    #[must_use]
    pub fn local(code: &str, message: impl Into<String>) -> AliyunError {
        AliyunError {
            class: ErrorClass::classify(code, None),
            code: code.to_string(),
            message: message.into(),
            request_id: None,
            http_status: None,
            recommend: None,
            access_denied_detail: None,
            retry_after_ms: None,
            api_limit: None,
        }
    }

    /// Maps a reqwest failure to a `Transport.*` error. The URL (which carries the signature and,
    /// with V1, the AccessKeyId and STS token) is stripped before the message is built.
    #[must_use]
    pub fn from_transport(err: reqwest::Error) -> AliyunError {
        let code = if err.is_timeout() {
            "Transport.Timeout"
        } else if err.is_connect() {
            "Transport.Connect"
        } else if err.is_body() {
            "Transport.Body"
        } else if err.is_decode() {
            "Transport.Decode"
        } else if err.is_builder() {
            "Transport.Build"
        } else {
            "Transport.Request"
        };
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        let mut e = AliyunError::local(code, message);
        if code == "Transport.Build" {
            e.class = ErrorClass::Other;
        }
        e
    }

    /// Prefixes the message with the endpoint that could not be reached (a base URL: no query,
    /// so no signature).
    #[must_use]
    pub fn reaching(mut self, endpoint: &str) -> AliyunError {
        self.message = format!("cannot reach {endpoint}: {}", self.message);
        self
    }

    /// Parses an error answer. A body that is not the §3.1 JSON (a proxy's HTML page) gives the
    /// code `HttpStatus.<status>`.
    #[must_use]
    pub fn from_response(status: u16, body: &[u8], header_request_id: Option<&str>) -> AliyunError {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let code = parsed.code.unwrap_or_else(|| format!("HttpStatus.{status}"));
        let message = parsed.message.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() {
                format!("HTTP {status} without an error body")
            } else {
                text
            }
        });
        let access_denied_detail = parsed.access_denied_detail.and_then(|v| match v {
            serde_json::Value::Object(_) => serde_json::from_value(v).ok().map(Box::new),
            // Some gateways send the detail as a JSON string.
            serde_json::Value::String(s) => serde_json::from_str(&s).ok().map(Box::new),
            _ => None,
        });
        AliyunError {
            class: ErrorClass::classify(&code, Some(status)),
            code,
            message,
            request_id: parsed
                .request_id
                .or_else(|| header_request_id.map(str::to_string)),
            http_status: Some(status),
            recommend: parsed.recommend.map(String::into_boxed_str),
            access_denied_detail,
            retry_after_ms: None,
            api_limit: None,
        }
    }

    /// The server-requested delay before retrying, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after_ms
            .map(|ms| std::time::Duration::from_millis(u64::from(ms)))
    }

    /// True for `EntityNotExist*` / `EntityNotExists*`.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }

    /// True if the code is exactly `code`.
    #[must_use]
    pub fn has_code(&self, code: &str) -> bool {
        self.code == code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_error_body() {
        let body = br#"{
          "RequestId": "7463B73D-35CC-4D19-A010-6B8D65D242EF",
          "HostId": "ram.aliyuncs.com",
          "Code": "InvalidParameter",
          "Message": "The specified parameter \"Action or Version\" is not valid.",
          "Recommend": "https://error-center.aliyun.com/status/search?Keyword=InvalidParameter&source=PopGw"
        }"#;
        let e = AliyunError::from_response(400, body, None);
        assert_eq!(e.class, ErrorClass::InvalidInput);
        assert_eq!(e.code, "InvalidParameter");
        assert_eq!(
            e.request_id.as_deref(),
            Some("7463B73D-35CC-4D19-A010-6B8D65D242EF")
        );
        assert!(e.recommend.as_deref().unwrap().contains("error-center"));
        assert_eq!(e.http_status, Some(400));
        assert!(e.to_string().contains("RequestId 7463B73D"));
    }

    #[test]
    fn parses_access_denied_detail_and_camel_case() {
        let body = br#"{"requestId":"r1","code":"NoPermission","message":"no","AccessDeniedDetail":{"AuthAction":"ram:DeleteUser","NoPermissionType":"ImplicitDeny"}}"#;
        let e = AliyunError::from_response(403, body, None);
        assert_eq!(e.class, ErrorClass::Auth);
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        let d = e.access_denied_detail.unwrap();
        assert_eq!(d.auth_action.as_deref(), Some("ram:DeleteUser"));
    }

    #[test]
    fn non_json_bodies_keep_the_status() {
        let e = AliyunError::from_response(502, b"<html>bad gateway</html>", Some("hdr"));
        assert_eq!(e.code, "HttpStatus.502");
        assert_eq!(e.class, ErrorClass::Transient);
        assert_eq!(e.request_id.as_deref(), Some("hdr"));
    }

    #[test]
    fn classification_table() {
        use ErrorClass::*;
        let cases = [
            ("EntityNotExist.User", 404, NotFound),
            ("EntityNotExists.Account", 404, NotFound),
            ("EntityNotExists.CheckAccount", 409, NotFound),
            ("DeleteConflict.User.Group", 409, Conflict),
            ("Throttling.User", 400, Throttled),
            ("Throttling", 429, Throttled),
            ("Rejected.Throttling", 400, Throttled),
            ("ServiceUnavailable", 503, Transient),
            ("InternalError", 500, Transient),
            ("SomethingNew", 502, Transient),
            ("InvalidAccessKeyId.NotFound", 404, Auth),
            ("SignatureDoesNotMatch", 400, Auth),
            ("NoPermission", 403, Auth),
            ("Forbidden.RAM", 403, Auth),
            ("InvalidSecurityToken.Expired", 400, Auth),
            ("InvalidParameter.UserName.Length", 400, InvalidInput),
            ("SignatureNonceUsed", 400, InvalidInput),
            ("NotSupportedOperation.DeletingAccount", 409, Conflict),
            ("Weird", 418, Other),
        ];
        for (code, status, class) in cases {
            assert_eq!(ErrorClass::classify(code, Some(status)), class, "{code}");
        }
        assert_eq!(AliyunError::local("Transport.Timeout", "t").class, Transient);
    }
}
