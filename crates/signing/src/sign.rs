//! Alibaba Cloud request signing: RPC signature V1 (HMAC-SHA1) and V3 (`ACS3-HMAC-SHA256`).
//!
//! These are pure functions shared by the client (to sign) and the emulator (to verify), so the
//! canonicalisation rules live in exactly one place. Both schemes are proven against the vectors
//! produced by the official SDK (`alibaba-api.md` §2.5) in the tests below, and independently by the
//! official SDKs talking to the emulator in the conformance suite.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The V3 algorithm name, as it appears in the `Authorization` header and the string to sign.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// SHA-256 of an empty body, the `x-acs-content-sha256` of every body-less request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3986 percent-encoding of the UTF-8 bytes: only `A-Z a-z 0-9 - _ . ~` stay literal, hex is upper
/// case. Alibaba signs with this encoding, not with form encoding (space is `%20`, never `+`).
#[must_use]
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes an `application/x-www-form-urlencoded` string (query or body): `+` is a space, `%XX` a byte.
/// The server must decode this way before re-encoding for verification (`alibaba-api.md` §1.2).
#[must_use]
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Builds the V1 canonicalised query string: every parameter except `Signature`, sorted byte-wise by
/// name (then value, for determinism with repeated names), `pct(name)=pct(value)` joined with `&`.
#[must_use]
pub fn v1_canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The V1 string to sign: `METHOD&%2F&pct(canonical query)`. The real HTTP method is part of it, so a
/// GET and a POST of the same parameters have different signatures.
#[must_use]
pub fn v1_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&v1_canonical_query(params))
    )
}

/// V1 signature: base64(HMAC-SHA1(secret + "&", string_to_sign)).
#[must_use]
pub fn v1_sign(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// HMAC accepts keys of any length, so `new_from_slice` cannot fail; this keeps `unwrap` out of the code.
fn unreachable_hmac<T>() -> T {
    unreachable!("HMAC accepts keys of any length")
}

/// Lower-case hex SHA-256 of `data` (the V3 payload hash and canonical-request hash).
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The V3 canonical query string: parameters sorted by name (then value), `name=pct(value)` joined by
/// `&`. The SDK leaves the name unencoded; names of these APIs are plain ASCII, so encoding it is equal.
#[must_use]
pub fn v3_canonical_query(query: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = query.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical headers and the `SignedHeaders` list from `(name, value)` pairs: names lower-cased, values
/// trimmed, repeated names joined with `,` in sorted order, everything sorted by name.
#[must_use]
pub fn v3_canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (k, v) in headers {
        by_name
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.trim().to_owned());
    }
    let mut canonical = String::new();
    let mut names = Vec::with_capacity(by_name.len());
    for (name, mut values) in by_name {
        values.sort();
        canonical.push_str(&name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
        names.push(name);
    }
    (canonical, names.join(";"))
}

/// The V3 canonical request. `headers` must be exactly the signed headers.
#[must_use]
pub fn v3_canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let (canonical_headers, signed) = v3_canonical_headers(headers);
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        v3_canonical_query(query),
        canonical_headers,
        signed,
        payload_hash
    )
}

/// The V3 string to sign: the algorithm name and the hex SHA-256 of the canonical request.
#[must_use]
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!("{V3_ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// V3 signature: lower-case hex HMAC-SHA256 keyed with the bare secret (no `&`).
#[must_use]
pub fn v3_sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The full V3 `Authorization` header value for a request whose signed headers are `headers`.
#[must_use]
pub fn v3_authorization(
    access_key_id: &str,
    secret: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let creq = v3_canonical_request(method, path, query, headers, payload_hash);
    let (_, signed) = v3_canonical_headers(headers);
    let signature = v3_sign(secret, &v3_string_to_sign(&creq));
    format!("{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={signature}")
}

/// A parsed V3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization {
    /// The algorithm, e.g. `ACS3-HMAC-SHA256`.
    pub algorithm: String,
    /// The AccessKey ID from `Credential=`.
    pub credential: String,
    /// Lower-case header names from `SignedHeaders=`.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=a;b,Signature=..`; `None` when any part is
/// missing (the server answers `IncompleteSignature`).
#[must_use]
pub fn parse_v3_authorization(value: &str) -> Option<V3Authorization> {
    let (algorithm, rest) = value.trim().split_once(' ')?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v.to_owned()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_ascii_lowercase).collect()),
            "Signature" => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(V3Authorization {
        algorithm: algorithm.to_owned(),
        credential: credential?,
        signed_headers: signed?,
        signature: signature?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const MARKER: &str = "a b*c~d/\u{e9}+&=";

    fn vector1() -> Vec<(String, String)> {
        p(&[
            ("Action", "ListUsers"),
            ("Version", "2015-05-01"),
            ("Format", "json"),
            ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "3156853299f313e23d1673dc12e1703d"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("MaxItems", "100"),
            ("Marker", MARKER),
        ])
    }

    #[test]
    fn percent_encoding_matches_rfc3986_rules() {
        assert_eq!(percent_encode(MARKER), "a%20b%2Ac~d%2F%C3%A9%2B%26%3D");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn vector_1_v1_post_and_get() {
        let params = vector1();
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("POST", &params)),
            "FlowD73Q7kgKQIWQn4TyPLF9tm8="
        );
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("GET", &params)),
            "/vaKq5MLsW4969Ejyv1bblNBG/4="
        );
    }

    #[test]
    fn vector_1_string_to_sign_is_exact() {
        let expected = "POST&%2F&AccessKeyId%3Dtestid%26Action%3DListUsers%26Format%3Djson%26Marker%3Da%2520b%252Ac~d%252F%25C3%25A9%252B%2526%253D%26MaxItems%3D100%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3156853299f313e23d1673dc12e1703d%26SignatureVersion%3D1.0%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2015-05-01";
        assert_eq!(v1_string_to_sign("POST", &vector1()), expected);
    }

    #[test]
    fn vector_1b_official_doc_example() {
        let params = p(&[
            ("UserName", "test"),
            ("SignatureVersion", "1.0"),
            ("Format", "JSON"),
            ("Timestamp", "2015-08-18T03:15:45Z"),
            ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("Version", "2015-05-01"),
            ("Action", "CreateUser"),
            ("SignatureNonce", "6a6e0ca6-4557-11e5-86a2-b8e8563dc8d2"),
        ]);
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("GET", &params)),
            "kRA2cnpJVacIhDMzXnoNZG9tDCI="
        );
    }

    #[test]
    fn vector_1c_legacy_core_with_empty_signature_type() {
        let query = "Action=ListUsers&Version=2015-05-01&RegionId=cn-hangzhou&MaxItems=100&Timestamp=2024-01-01T00%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=3156853299f313e23d1673dc12e1703d&AccessKeyId=testid&Format=JSON&Signature=TMLYQQpU9a1XrKRcgDIQvHPwm%2FM%3D";
        let params = form_decode(query);
        let given = params
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone());
        assert_eq!(given.as_deref(), Some("TMLYQQpU9a1XrKRcgDIQvHPwm/M="));
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("POST", &params)),
            "TMLYQQpU9a1XrKRcgDIQvHPwm/M="
        );
    }

    #[test]
    fn vector_3_v1_with_sts_token_from_the_wire() {
        let query = "Action=ListUsers&Format=json&Version=2015-05-01&Timestamp=2024-01-01T00%3A00%3A00Z&SignatureNonce=3156853299f313e23d1673dc12e1703d&MaxItems=100&SecurityToken=CAIS%2Btoken%2Fwith%3Dchars&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=xx633vgqr1IRqyOuhXwZNV%2FTyNs%3D";
        let params = form_decode(query);
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("POST", &params)),
            "xx633vgqr1IRqyOuhXwZNV/TyNs="
        );
    }

    #[test]
    fn v1_marker_from_the_wire_decodes_plus_as_space() {
        let query = "Action=ListUsers&Format=json&Version=2015-05-01&Timestamp=2024-01-01T00%3A00%3A00Z&SignatureNonce=3156853299f313e23d1673dc12e1703d&Marker=a+b%2Ac~d%2F%C3%A9%2B%26%3D&MaxItems=100&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=FlowD73Q7kgKQIWQn4TyPLF9tm8%3D";
        let params = form_decode(query);
        assert_eq!(
            v1_sign("testsecret", &v1_string_to_sign("POST", &params)),
            "FlowD73Q7kgKQIWQn4TyPLF9tm8="
        );
    }

    fn v3_headers(action: &str, hash: &str) -> Vec<(String, String)> {
        p(&[
            ("host", "ram.aliyuncs.com"),
            ("x-acs-action", action),
            ("x-acs-version", "2015-05-01"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", hash),
        ])
    }

    #[test]
    fn vector_2_v3_query_params() {
        let query = p(&[("MaxItems", "100"), ("Marker", MARKER)]);
        let headers = v3_headers("ListUsers", EMPTY_SHA256);
        let creq = v3_canonical_request("POST", "/", &query, &headers, EMPTY_SHA256);
        assert_eq!(
            v3_string_to_sign(&creq),
            "ACS3-HMAC-SHA256\n186aaf5420976f5a49671890ec8e0888afec1f35b37b12c1e3c5066ea022f807"
        );
        assert_eq!(
            v3_authorization(
                "testid",
                "testsecret",
                "POST",
                "/",
                &query,
                &headers,
                EMPTY_SHA256
            ),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=8a44994e19493c7c228d88c8727b0aea89f29f13ec57e8825b2e3baad240e608"
        );
    }

    #[test]
    fn vector_2b_v3_form_body() {
        let body = b"UserName=alice&Comments=hello%20world";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "deaffae7a017277ae1c19b352e46e586a5b2054c4fb387f98bb722627582dcfe"
        );
        let mut headers = v3_headers("CreateUser", &hash);
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        let auth = v3_authorization("testid", "testsecret", "POST", "/", &[], &headers, &hash);
        assert!(
            auth.ends_with("Signature=5aaa2fff2c4e6b9d7f851e65f69189ddcf7c174ea26fc75ea227e590feff4fd0"),
            "{auth}"
        );
    }

    #[test]
    fn vector_4_v3_with_sts_token_and_sdk_headers() {
        let headers = p(&[
            ("accept", "application/json"),
            ("host", "ram.aliyuncs.com"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2 vector-capture",
            ),
            ("x-acs-accesskey-id", "testid"),
            ("x-acs-action", "ListUsers"),
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-credentials-provider", "static_sts"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-security-token", "CAIS+token/with=chars"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-version", "2015-05-01"),
        ]);
        let query = p(&[("MaxItems", "100")]);
        let auth = v3_authorization(
            "testid",
            "testsecret",
            "POST",
            "/",
            &query,
            &headers,
            EMPTY_SHA256,
        );
        assert!(
            auth.ends_with("Signature=f47229e3e2f0606b744d98f5bee57413e31ac64b04d8103afbb2988dd42c7289"),
            "{auth}"
        );
        let parsed = parse_v3_authorization(&auth).expect("parses");
        assert_eq!(parsed.credential, "testid");
        assert_eq!(parsed.signed_headers.len(), 11);
    }

    #[test]
    fn incomplete_authorization_is_rejected() {
        assert!(parse_v3_authorization("ACS3-HMAC-SHA256 Credential=a,Signature=b").is_none());
        assert!(parse_v3_authorization("garbage").is_none());
    }
}
