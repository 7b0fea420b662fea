//! Types shared by the emulator's HTTP front (auth, throttling, faults, admin) and its domain model
//! (accounts, RAM, IMS, ResourceManager, STS), so the two halves meet at one narrow seam.

use std::collections::BTreeMap;

pub use ado_signing::product::Product;

/// Decoded request parameters (query and form body merged), without the V1 signing parameters.
pub type Params = BTreeMap<String, String>;

/// What an action does, for the per-class call counters that tests and benchmarks assert on
/// ("Plan mode makes no deleting or changing call").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionClass {
    /// Lists and gets: no effect on state.
    Read,
    /// Starts or reads a deletion pre-check (`CheckAccountDelete`, `GetAccountDeletionCheckResult`):
    /// allowed in Plan mode because it deletes nothing.
    PreCheck,
    /// Deletes or changes something (detach, remove, unbind, delete, set, create, assume role is not).
    Mutating,
    /// Obtains credentials (`AssumeRole`, `GetCallerIdentity`).
    Credentials,
}

impl ActionClass {
    /// Lower-case label used in counters.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::PreCheck => "precheck",
            Self::Mutating => "mutating",
            Self::Credentials => "credentials",
        }
    }
}

/// Who is calling, as resolved from the AccessKey (or STS key) by the front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root identity.
    Root,
    /// A RAM user of the account.
    User {
        /// RAM user name.
        name: String,
    },
    /// An STS session of an assumed role.
    AssumedRole {
        /// Role name in the account that owns the role.
        role: String,
        /// The role's `RoleId` (RAM `GetRole`/`ListRoles`), fixed when the session was minted.
        role_id: String,
        /// `RoleSessionName` given to `AssumeRole`.
        session: String,
    },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account the identity belongs to (for an assumed role: the account owning the role).
    pub account_id: String,
    /// The identity inside that account.
    pub principal: Principal,
    /// The AccessKey ID used (an `STS.` ID for assumed roles).
    pub access_key_id: String,
}

/// A credential the front can verify a signature with.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// The AccessKey secret (never logged).
    pub secret: String,
    /// Owner account and identity.
    pub account_id: String,
    /// The identity the key belongs to.
    pub principal: Principal,
    /// For STS keys: the token that must accompany the key.
    pub security_token: Option<String>,
    /// For STS keys: when the key stops working.
    pub expires_at: Option<jiff::Timestamp>,
    /// `false` for disabled keys (`InvalidAccessKeyId.Inactive`).
    pub active: bool,
    /// Action patterns this identity may call (`ram:List*`, `sts:AssumeRole`, `*`); anything else
    /// answers `NoPermission` (403). STS keys minted by `AssumeRole` carry `["*"]`.
    pub allow: Vec<String>,
    /// For STS keys minted with a `Policy`: what the session may do on top of `allow`.
    pub session_policy: Option<std::sync::Arc<super::policy::SessionPolicy>>,
}

/// An error answered to the caller, rendered as Alibaba's error body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Alibaba error code, e.g. `DeleteConflict.User.Group`.
    pub code: String,
    /// Human message, as the real service words it.
    pub message: String,
    /// Optional `AccessDeniedDetail` object for permission errors.
    pub access_denied_detail: Option<serde_json::Value>,
}

impl ApiError {
    /// Builds an error with a status, code and message.
    #[must_use]
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            access_denied_detail: None,
        }
    }

    /// `MissingParameter` with the documented message form.
    #[must_use]
    pub fn missing(name: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }
}

/// Per-call context handed to the domain model: the injectable clock and the caller.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The emulator's clock (real time plus an offset that tests can advance).
    pub now: jiff::Timestamp,
    /// The authenticated caller.
    pub caller: Caller,
    /// Largest page the emulator hands out whatever `MaxItems`/`PageSize` asks for (`None`: the
    /// API's own maximum). Small values make every client walk `Marker`/`PageNumber` pages.
    pub page_limit: Option<u32>,
}

/// Convenience lookup of a parameter by name.
#[must_use]
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

/// Required parameter lookup: absent or empty answers `MissingParameter`.
///
/// # Errors
/// `MissingParameter` when the parameter is absent or empty.
pub fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    match params.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::missing(name)),
    }
}

/// Refuses parameters a list operation does not implement (`allowed` names; `Tag.*` admits every
/// `Tag.N.Key`/`Tag.N.Value`), so an unimplemented filter answers a clear error instead of being
/// ignored and answering everything.
///
/// # Errors
/// `InvalidParameter.Unsupported` naming the first such parameter.
pub fn only(p: &Params, action: &str, allowed: &[&str]) -> Result<(), ApiError> {
    let ok = |k: &str| {
        allowed.iter().any(|a| match a.strip_suffix('*') {
            Some(prefix) => k.starts_with(prefix),
            None => *a == k,
        })
    };
    match p.keys().find(|k| !ok(k)) {
        None => Ok(()),
        Some(k) => Err(ApiError::new(
            400,
            "InvalidParameter.Unsupported",
            format!(
                "aliyun-emulator does not implement the parameter \"{k}\" of {action} (it accepts {}); it refuses it rather than ignore a filter and list everything.",
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        )),
    }
}
