//! Request routing and authentication of the emulator (`alibaba-api.md` §8.1-8.7, §8.12): which
//! product and action, V1 or V3 signature, AccessKey state, STS token, timestamp skew, nonce replay
//! and the `allow` patterns of the key.
//!
//! Canonicalisation lives in [`ado_signing::sign`] only, shared with the client, so the emulator can
//! never drift from what the client signs.

use std::collections::{HashMap, VecDeque};

use http::HeaderMap;

use super::api::{ApiError, Caller, KeyRecord, Params, Principal, Product};
use super::patterns;
use super::policy::{Decision, SessionPolicy};
use ado_signing::sign;

/// Prefix of the `SignatureDoesNotMatch` message; the legacy SDKs parse the text after it.
pub const SIGNATURE_MISMATCH_PREFIX: &str =
    "Specified signature is not matched with our calculation. server string to sign is:";

/// How long a timestamp may differ from the server clock, and how long nonces are remembered.
pub const SKEW_SECONDS: i64 = 15 * 60;

/// Which signature scheme a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC signature V1 (`Signature` parameter, HMAC-SHA1).
    V1,
    /// `ACS3-HMAC-SHA256` in the `Authorization` header.
    V3,
}

/// The parts of an HTTP request authentication needs (already decoded).
#[derive(Debug)]
pub struct RequestParts<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// URL path (`/`).
    pub path: &'a str,
    /// Query parameters, form-decoded, in wire order.
    pub query: &'a [(String, String)],
    /// Form-body parameters, form-decoded (empty unless the body is `x-www-form-urlencoded`).
    pub form: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw body bytes (hashed for V3).
    pub body: &'a [u8],
}

/// Product and action of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Signature scheme.
    pub scheme: Scheme,
    /// Action name (`ListUsers`).
    pub action: String,
    /// Product from the version.
    pub product: Product,
}

/// V1 common parameters that are not business parameters.
const V1_COMMON: [&str; 11] = [
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "Signature",
];

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn param<'p>(parts: &'p RequestParts<'_>, name: &str) -> Option<&'p str> {
    parts
        .query
        .iter()
        .chain(parts.form.iter())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The scheme: `Authorization: ACS3-...` is V3, anything else V1.
#[must_use]
pub fn scheme(parts: &RequestParts<'_>) -> Scheme {
    match header(parts.headers, "authorization") {
        Some(a) if a.starts_with("ACS3-") => Scheme::V3,
        _ => Scheme::V1,
    }
}

/// The raw action and version strings, before they are checked (for counters and error bodies).
#[must_use]
pub fn action_and_version(parts: &RequestParts<'_>) -> (Option<String>, Option<String>) {
    let (ha, hv) = (
        header(parts.headers, "x-acs-action"),
        header(parts.headers, "x-acs-version"),
    );
    let (pa, pv) = (param(parts, "Action"), param(parts, "Version"));
    let (a, v) = match scheme(parts) {
        Scheme::V3 => (ha.or(pa), hv.or(pv)),
        Scheme::V1 => (pa.or(ha), pv.or(hv)),
    };
    (
        a.filter(|s| !s.is_empty()).map(str::to_owned),
        v.filter(|s| !s.is_empty()).map(str::to_owned),
    )
}

/// Finds product and action (§8.1).
///
/// # Errors
/// `MissingParameter` (no action or version), `InvalidVersion` (unknown version).
pub fn route(parts: &RequestParts<'_>) -> Result<Route, ApiError> {
    let (action, version) = action_and_version(parts);
    let action = action.ok_or_else(|| ApiError::missing("Action"))?;
    let version = version.ok_or_else(|| ApiError::missing("Version"))?;
    let product = Product::from_version(&version)
        .ok_or_else(|| ApiError::new(400, "InvalidVersion", "Specified parameter Version is not valid."))?;
    Ok(Route {
        scheme: scheme(parts),
        action,
        product,
    })
}

/// The business parameters handed to the domain: query and form merged (a name given twice keeps
/// its first value), without V1's common parameters.
#[must_use]
pub fn business_params(parts: &RequestParts<'_>, scheme: Scheme) -> Params {
    let mut out = Params::new();
    for (k, v) in parts.query.iter().chain(parts.form.iter()) {
        if scheme == Scheme::V1 && (V1_COMMON.contains(&k.as_str()) || k == "RegionId") {
            continue;
        }
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out
}

/// (AccessKeyId, nonce) pairs seen within the skew window, to refuse replays (§8.7).
#[derive(Debug, Default)]
pub struct NonceStore {
    seen: HashMap<(String, String), jiff::Timestamp>,
    /// The same keys in the order they were seen (the emulator clock never goes back), so
    /// forgetting expired nonces costs only what expired, not a scan of the whole window.
    order: VecDeque<(jiff::Timestamp, (String, String))>,
}

impl NonceStore {
    /// Empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every nonce (new seed).
    pub fn reset(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    /// Records a nonce; `false` when it was already used within the window.
    pub fn check_and_insert(&mut self, key_id: &str, nonce: &str, now: jiff::Timestamp) -> bool {
        let horizon = now.as_second() - 2 * SKEW_SECONDS;
        while let Some((t, _)) = self.order.front()
            && t.as_second() < horizon
        {
            if let Some((t, k)) = self.order.pop_front()
                && self.seen.get(&k) == Some(&t)
            {
                self.seen.remove(&k);
            }
        }
        let k = (key_id.to_owned(), nonce.to_owned());
        if let Some(t) = self.seen.get(&k)
            && (now.as_second() - t.as_second()).abs() <= 2 * SKEW_SECONDS
        {
            return false;
        }
        self.seen.insert(k.clone(), now);
        self.order.push_back((now, k));
        true
    }
}

/// A request whose signature, key, token, timestamp and nonce all checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The caller the domain sees.
    pub caller: Caller,
    /// The key's `allow` patterns.
    pub allow: Vec<String>,
    /// The session policy of an STS key minted with `Policy`.
    pub session_policy: Option<std::sync::Arc<super::policy::SessionPolicy>>,
}

fn err(status: u16, code: &str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

/// Parses `YYYY-MM-DDThh:mm:ssZ` (fractional seconds tolerated).
fn parse_timestamp(s: &str) -> Option<jiff::Timestamp> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b.last() == Some(&b'Z');
    if !shape {
        return None;
    }
    s.parse::<jiff::Timestamp>().ok()
}

/// Verifies the request (§8.2-8.7) against the key `lookup` returns and the server clock `now`.
///
/// Order: required fields, timestamp format, key existence and state, signature, STS token and
/// expiry, timestamp skew, nonce replay (a nonce is only burnt by a correctly signed request).
///
/// # Errors
/// The gateway error the real service answers (`InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`,
/// `InvalidTimeStamp.Expired`, `SignatureNonceUsed`, `MissingSecurityToken`, ...).
pub fn verify(
    parts: &RequestParts<'_>,
    scheme: Scheme,
    lookup: impl FnOnce(&str) -> Option<KeyRecord>,
    now: jiff::Timestamp,
    nonces: &mut NonceStore,
) -> Result<Verified, ApiError> {
    let signed = match scheme {
        Scheme::V1 => v1_fields(parts)?,
        Scheme::V3 => v3_fields(parts)?,
    };
    let ts = parse_timestamp(&signed.timestamp).ok_or_else(|| {
        err(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let key = lookup(&signed.key_id).ok_or_else(|| {
        err(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    })?;
    if !key.active {
        return Err(err(
            400,
            "InvalidAccessKeyId.Inactive",
            "Specified access key is disabled.",
        ));
    }
    let string_to_sign = (signed.string_to_sign)();
    let expected = match scheme {
        Scheme::V1 => sign::v1_sign(&key.secret, &string_to_sign),
        Scheme::V3 => sign::v3_sign(&key.secret, &string_to_sign),
    };
    let matches = match scheme {
        Scheme::V1 => expected == signed.signature,
        Scheme::V3 => expected.eq_ignore_ascii_case(&signed.signature),
    };
    if !matches {
        return Err(ApiError::new(
            400,
            "SignatureDoesNotMatch",
            format!("{SIGNATURE_MISMATCH_PREFIX}{string_to_sign}"),
        ));
    }
    if let Some(token) = &key.security_token {
        match signed.token.as_deref() {
            None | Some("") => {
                return Err(err(
                    400,
                    "MissingSecurityToken",
                    "SecurityToken is mandatory for this action.",
                ));
            }
            Some(t) if t != token => {
                return Err(err(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(exp) = key.expires_at
        && now >= exp
    {
        return Err(err(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        ));
    }
    if (now.as_second() - ts.as_second()).abs() > SKEW_SECONDS {
        return Err(err(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    if !nonces.check_and_insert(&signed.key_id, &signed.nonce, now) {
        return Err(err(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(Verified {
        caller: Caller {
            account_id: key.account_id.clone(),
            principal: key.principal.clone(),
            access_key_id: signed.key_id,
        },
        allow: key.allow,
        session_policy: key.session_policy,
    })
}

/// What each scheme contributes to verification; the string to sign is computed lazily, after the
/// key lookup, so unknown keys do not pay for it.
struct Signed<'a> {
    key_id: String,
    signature: String,
    timestamp: String,
    nonce: String,
    token: Option<String>,
    string_to_sign: Box<dyn FnOnce() -> String + 'a>,
}

fn required_param(parts: &RequestParts<'_>, name: &str) -> Result<String, ApiError> {
    match param(parts, name) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::missing(name)),
    }
}

fn v1_fields<'a>(parts: &'a RequestParts<'a>) -> Result<Signed<'a>, ApiError> {
    if param(parts, "Signature").is_none() {
        return Err(err(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    }
    let key_id = required_param(parts, "AccessKeyId")?;
    let signature = required_param(parts, "Signature")?;
    let method = required_param(parts, "SignatureMethod")?;
    if method != "HMAC-SHA1" {
        return Err(err(
            400,
            "InvalidSignatureMethod",
            "Specified signature method is not supported.",
        ));
    }
    let version = required_param(parts, "SignatureVersion")?;
    if version != "1.0" {
        return Err(err(
            400,
            "InvalidSignatureVersion",
            "Specified signature version is not supported.",
        ));
    }
    let nonce = required_param(parts, "SignatureNonce")?;
    let timestamp = required_param(parts, "Timestamp")?;
    let token = param(parts, "SecurityToken").map(str::to_owned);
    Ok(Signed {
        key_id,
        signature,
        timestamp,
        nonce,
        token,
        string_to_sign: Box::new(move || {
            let all: Vec<(String, String)> = parts.query.iter().chain(parts.form.iter()).cloned().collect();
            sign::v1_string_to_sign(parts.method, &all)
        }),
    })
}

/// Headers that must be signed in V3 (§8.4).
const V3_REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

fn v3_fields<'a>(parts: &'a RequestParts<'a>) -> Result<Signed<'a>, ApiError> {
    let incomplete = || {
        err(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    };
    let auth = header(parts.headers, "authorization").ok_or_else(incomplete)?;
    let parsed = sign::parse_v3_authorization(auth).ok_or_else(incomplete)?;
    if parsed.algorithm != sign::V3_ALGORITHM {
        return Err(err(
            400,
            "InvalidSignatureMethod",
            "Specified signature method is not supported.",
        ));
    }
    let mut required: Vec<&str> = V3_REQUIRED_SIGNED.to_vec();
    if parts.headers.contains_key("x-acs-security-token") {
        required.push("x-acs-security-token");
    }
    if required
        .iter()
        .any(|h| !parsed.signed_headers.iter().any(|s| s == h))
    {
        return Err(incomplete());
    }
    let payload_hash = header(parts.headers, "x-acs-content-sha256")
        .unwrap_or_default()
        .to_owned();
    if payload_hash != sign::sha256_hex(parts.body) {
        return Err(err(
            400,
            "InvalidParameter.ContentSHA256",
            "The x-acs-content-sha256 header does not match the SHA-256 of the request body.",
        ));
    }
    let timestamp = header(parts.headers, "x-acs-date")
        .ok_or_else(|| ApiError::missing("x-acs-date"))?
        .to_owned();
    let nonce = header(parts.headers, "x-acs-signature-nonce")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?
        .to_owned();
    let token = header(parts.headers, "x-acs-security-token").map(str::to_owned);
    let signed_headers = parsed.signed_headers.clone();
    Ok(Signed {
        key_id: parsed.credential,
        signature: parsed.signature,
        timestamp,
        nonce,
        token,
        string_to_sign: Box::new(move || {
            let mut hs: Vec<(String, String)> = Vec::new();
            for name in &signed_headers {
                let mut any = false;
                for v in parts.headers.get_all(name.as_str()) {
                    any = true;
                    hs.push((name.clone(), String::from_utf8_lossy(v.as_bytes()).into_owned()));
                }
                if !any {
                    hs.push((name.clone(), String::new()));
                }
            }
            let creq = sign::v3_canonical_request(parts.method, parts.path, parts.query, &hs, &payload_hash);
            sign::v3_string_to_sign(&creq)
        }),
    })
}

/// `<product>:<Action>`, the name `allow` patterns and fault filters match against.
#[must_use]
pub fn action_label(product: Product, action: &str) -> String {
    format!("{}:{action}", product.name())
}

/// True when one of the `allow` patterns matches `<product>:<Action>` (§8.12).
#[must_use]
pub fn permitted(allow: &[String], product: Product, action: &str) -> bool {
    let label = action_label(product, action);
    patterns::any_match(allow, &label)
}

/// `NoPermission` (403) with the `AccessDeniedDetail` object the SDKs read (§3.1).
#[must_use]
pub fn no_permission(caller: &Caller, product: Product, action: &str) -> ApiError {
    let (ptype, name) = match &caller.principal {
        Principal::Root => ("Account", caller.account_id.clone()),
        Principal::User { name } => ("SubUser", name.clone()),
        Principal::AssumedRole { role, session, .. } => ("AssumedRoleUser", format!("{role}:{session}")),
    };
    let auth_action = action_label(product, action);
    let mut e = ApiError::new(
        403,
        "NoPermission",
        format!("You are not authorized to do this action. You should be authorized by RAM. ({auth_action})"),
    );
    e.access_denied_detail = Some(serde_json::json!({
        "AuthAction": auth_action,
        "AuthPrincipalDisplayName": name,
        "AuthPrincipalOwnerId": caller.account_id,
        "AuthPrincipalType": ptype,
        "NoPermissionType": "ImplicitDeny",
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "EncodedDiagnosticMessage": "",
    }));
    e
}

/// `NoPermission` for a call the session policy of an STS key does not allow.
#[must_use]
pub fn session_denied(caller: &Caller, product: Product, action: &str, decision: Decision) -> ApiError {
    let mut e = no_permission(caller, product, action);
    let auth_action = SessionPolicy::auth_action(product, action);
    e.message =
        format!("You are not authorized to do this action. The session policy does not allow {auth_action}.");
    if let Some(d) = e
        .access_denied_detail
        .as_mut()
        .and_then(serde_json::Value::as_object_mut)
    {
        d.insert("AuthAction".into(), auth_action.into());
        d.insert("PolicyType".into(), "SessionPolicy".into());
        let kind = if decision == Decision::ExplicitDeny {
            "ExplicitDeny"
        } else {
            "ImplicitDeny"
        };
        d.insert("NoPermissionType".into(), kind.into());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_refused_within_the_window_and_forgotten_after_it() {
        let mut store = NonceStore::new();
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let at = |s: i64| jiff::Timestamp::from_second(t0.as_second() + s).unwrap();
        for i in 0..10_000 {
            assert!(store.check_and_insert("k", &format!("n{i}"), at(i / 100)));
        }
        assert!(
            !store.check_and_insert("k", "n5", at(200)),
            "replay within the window"
        );
        assert!(
            store.check_and_insert("other-key", "n5", at(200)),
            "nonces are per key"
        );
        // Past the window the old nonces are forgotten as time moves, without a full scan.
        let later = 2 * SKEW_SECONDS + 150;
        assert!(store.check_and_insert("k", "n5", at(later)));
        assert!(store.seen.len() < 6_000, "{} nonces kept", store.seen.len());
        assert_eq!(store.seen.len(), store.order.len());
    }

    fn key() -> KeyRecord {
        KeyRecord {
            secret: "testsecret".into(),
            account_id: "1000000000000001".into(),
            principal: Principal::Root,
            security_token: None,
            expires_at: None,
            active: true,
            allow: vec!["*".into()],
            session_policy: None,
        }
    }

    fn v1_query(ts: &str, nonce: &str, secret: &str) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = [
            ("Action", "ListUsers"),
            ("Version", "2015-05-01"),
            ("Format", "JSON"),
            ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", ts),
            ("MaxItems", "5"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let s = sign::v1_sign(secret, &sign::v1_string_to_sign("POST", &q));
        q.push(("Signature".into(), s));
        q
    }

    /// A V1 `POST /` with the parameters in the query.
    fn v1_parts<'a>(q: &'a [(String, String)], headers: &'a HeaderMap) -> RequestParts<'a> {
        RequestParts {
            method: "POST",
            path: "/",
            query: q,
            form: &[],
            headers,
            body: b"",
        }
    }

    #[test]
    fn v1_ok_mismatch_skew_and_replay() {
        let now: jiff::Timestamp = "2024-01-01T00:05:00Z".parse().unwrap();
        let headers = HeaderMap::new();
        let mut nonces = NonceStore::new();
        let q = v1_query("2024-01-01T00:00:00Z", "n1", "testsecret");
        let parts = v1_parts(&q, &headers);
        let r = route(&parts).unwrap();
        assert_eq!(r.product, Product::Ram);
        assert_eq!(business_params(&parts, r.scheme).len(), 1);
        let v = verify(&parts, r.scheme, |_| Some(key()), now, &mut nonces).unwrap();
        assert_eq!(v.caller.access_key_id, "testid");
        let e = verify(&parts, r.scheme, |_| Some(key()), now, &mut nonces).unwrap_err();
        assert_eq!(e.code, "SignatureNonceUsed");

        let q = v1_query("2024-01-01T00:00:00Z", "n2", "wrong");
        let parts = v1_parts(&q, &headers);
        let e = verify(&parts, Scheme::V1, |_| Some(key()), now, &mut nonces).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert!(e.message.starts_with(SIGNATURE_MISMATCH_PREFIX));
        assert!(e.message.ends_with("%26Version%3D2015-05-01"), "{}", e.message);

        let q = v1_query("2023-12-31T23:40:00Z", "n3", "testsecret");
        let parts = v1_parts(&q, &headers);
        let e = verify(&parts, Scheme::V1, |_| Some(key()), now, &mut nonces).unwrap_err();
        assert_eq!(e.code, "InvalidTimeStamp.Expired");

        let q = v1_query("2024/01/01 00:00:00", "n4", "testsecret");
        let parts = v1_parts(&q, &headers);
        let e = verify(&parts, Scheme::V1, |_| Some(key()), now, &mut nonces).unwrap_err();
        assert_eq!(e.code, "InvalidTimeStamp.Format");
        let e = verify(&parts, Scheme::V1, |_| None, now, &mut nonces).unwrap_err();
        assert_eq!(e.code, "InvalidTimeStamp.Format");
    }

    #[test]
    fn permissions() {
        assert!(permitted(&["ram:List*".into()], Product::Ram, "ListUsers"));
        assert!(!permitted(&["ram:List*".into()], Product::Sts, "AssumeRole"));
        let caller = Caller {
            account_id: "1".into(),
            principal: Principal::Root,
            access_key_id: "k".into(),
        };
        let e = no_permission(&caller, Product::Sts, "AssumeRole");
        assert_eq!(e.status, 403);
        assert_eq!(e.access_denied_detail.unwrap()["AuthAction"], "sts:AssumeRole");
    }
}
