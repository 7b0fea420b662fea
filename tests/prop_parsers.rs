//! Property tests of the parsers on both sides of the wire (issue #7): whatever parameters the
//! client signs (V1 or V3, query or form), the emulator's request parser and verifier accept them
//! and recover them exactly; a tampered value is refused; the client's error and page parsers never
//! panic on arbitrary bodies. Bounded for CI; run longer with
//! `PROPTEST_CASES=20000 cargo test --release --test prop_parsers`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_aliyun::config::{ClientConfig, ParamPlacement, SignatureVersion};
use ado_aliyun::credentials::Credentials;
use ado_aliyun::error::AliyunError;
use ado_aliyun::product::Product;
use ado_aliyun::sign::form_decode;
use ado_aliyun::transport::{SignedRequest, sign_request};
use ado_emulator::api::{KeyRecord, Principal};
use ado_emulator::auth::{self, NonceStore, RequestParts};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const KEY: &str = "LTAI5tPropKey0000000001";
const SECRET: &str = "prop-secret";

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    // Business parameter names never collide with the signing parameters.
    prop::collection::vec(("Biz[A-Za-z0-9]{0,10}", any::<String>()), 0..6).prop_map(|mut v| {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    })
}

fn key() -> KeyRecord {
    KeyRecord {
        secret: SECRET.into(),
        account_id: "1000000000000001".into(),
        principal: Principal::Root,
        security_token: None,
        expires_at: None,
        active: true,
        allow: vec!["*".into()],
        session_policy: None,
    }
}

fn config(sig: SignatureVersion, placement: ParamPlacement) -> ClientConfig {
    ClientConfig {
        signature: sig,
        params: placement,
        ..ClientConfig::for_emulator("http://127.0.0.1:8080")
    }
}

/// Splits a signed request into what the emulator's HTTP front hands to the parser.
/// Decoded parameters, in wire order.
type Pairs = Vec<(String, String)>;

fn wire(req: &SignedRequest) -> (Pairs, Pairs, HeaderMap) {
    let url = reqwest::Url::parse(&req.url).unwrap();
    let query = form_decode(url.query().unwrap_or(""));
    let mut headers = HeaderMap::new();
    let mut form_body = false;
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("content-type") && v.starts_with("application/x-www-form-urlencoded") {
            form_body = true;
        }
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    if !headers.contains_key("host") {
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    }
    let form = if form_body {
        form_decode(std::str::from_utf8(&req.body).unwrap())
    } else {
        Vec::new()
    };
    (query, form, headers)
}

fn check(req: &SignedRequest, now: jiff::Timestamp) -> Result<Vec<(String, String)>, String> {
    check_tampered(req, now, |_| {})
}

/// Like [`check`], after `tamper` changed the decoded parameters (query and form together).
fn check_tampered(
    req: &SignedRequest,
    now: jiff::Timestamp,
    tamper: impl FnOnce(&mut Vec<(String, String)>),
) -> Result<Vec<(String, String)>, String> {
    let (mut query, mut form, headers) = wire(req);
    let mut body = req.body.clone();
    if form.is_empty() {
        tamper(&mut query);
    } else {
        // The form is what the body says: change both, as a man in the middle would.
        let before = form.clone();
        tamper(&mut form);
        let enc = ado_aliyun::sign::percent_encode;
        if form != before {
            body = form
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes();
        }
    }
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: &query,
        form: &form,
        headers: &headers,
        body: &body,
    };
    let route = auth::route(&parts).map_err(|e| e.code)?;
    let mut nonces = NonceStore::new();
    auth::verify(&parts, route.scheme, |_| Some(key()), now, &mut nonces)
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
    Ok(auth::business_params(&parts, route.scheme).into_iter().collect())
}

fn flavours() -> impl Strategy<Value = (SignatureVersion, ParamPlacement)> {
    prop_oneof![
        Just((SignatureVersion::V1, ParamPlacement::Query)),
        Just((SignatureVersion::V1, ParamPlacement::FormBody)),
        Just((SignatureVersion::V3, ParamPlacement::Query)),
        Just((SignatureVersion::V3, ParamPlacement::FormBody)),
    ]
}

proptest! {
    #[test]
    fn emulator_accepts_and_recovers_whatever_the_client_signs(p in params(), (sig, placement) in flavours()) {
        let now = jiff::Timestamp::now();
        let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let creds = Credentials::new(KEY, SECRET);
        let req = sign_request(&config(sig, placement), &creds, Product::Ram, "ListUsers", &p, "nonce-1", &stamp).unwrap();
        let got = check(&req, now).map_err(TestCaseError::fail)?;
        let mut want = p.clone();
        want.sort();
        let mut got = got;
        got.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn a_changed_value_breaks_the_signature(p in params(), (sig, placement) in flavours(), extra in any::<String>()) {
        prop_assume!(!p.is_empty());
        let now = jiff::Timestamp::now();
        let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let creds = Credentials::new(KEY, SECRET);
        let req = sign_request(&config(sig, placement), &creds, Product::Ram, "ListUsers", &p, "nonce-2", &stamp).unwrap();
        let (name, value) = p[0].clone();
        let mut applied = false;
        let r = check_tampered(&req, now, |ps| {
            for (k, v) in ps.iter_mut() {
                if *k == name && *v == value {
                    v.push_str(&extra);
                    v.push('x');
                    applied = true;
                }
            }
        });
        prop_assert!(applied, "the parameter was not found on the wire");
        prop_assert!(r.is_err(), "tampered request accepted: {:?}", r);
        let e = r.unwrap_err();
        prop_assert!(e.starts_with("SignatureDoesNotMatch") || e.starts_with("IncompleteSignature") || e.starts_with("InvalidParameter"), "{}", e);
    }

    #[test]
    fn error_parser_never_panics_and_keeps_what_it_finds(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..200)) {
        let e = AliyunError::from_response(status, &body, None);
        prop_assert!(!e.code.is_empty());
    }

    #[test]
    fn error_parser_reads_the_alibaba_error_body(code in "[A-Z][A-Za-z]{1,12}(\\.[A-Z][A-Za-z]{1,12}){0,2}", msg in "[ -~]{0,60}", rid in "[A-F0-9-]{8,36}", status in 400u16..600) {
        let body = serde_json::json!({"Code": code, "Message": msg, "RequestId": rid, "HostId": "ram.aliyuncs.com"});
        let e = AliyunError::from_response(status, body.to_string().as_bytes(), None);
        prop_assert_eq!(&e.code, &code);
        prop_assert_eq!(e.request_id.as_deref(), Some(rid.as_str()));
        prop_assert_eq!(e.http_status, Some(status));
    }

    #[test]
    fn request_parser_never_panics_on_arbitrary_queries(q in prop::collection::vec((any::<String>(), any::<String>()), 0..8), v3 in any::<bool>()) {
        let mut headers = HeaderMap::new();
        if v3 {
            headers.insert("authorization", HeaderValue::from_static("ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host,Signature=00"));
        }
        let parts = RequestParts { method: "POST", path: "/", query: &q, form: &[], headers: &headers, body: b"" };
        if let Ok(route) = auth::route(&parts) {
            let mut nonces = NonceStore::new();
            let _ = auth::verify(&parts, route.scheme, |_| Some(key()), jiff::Timestamp::now(), &mut nonces);
            let _ = auth::business_params(&parts, route.scheme);
        }
    }
}
