//! Behaviour of the client against a tiny local fake server (axum on 127.0.0.1:0).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use super::*;
use crate::config::{ParamPlacement, RetryConfig, SignatureVersion};
use crate::error::ErrorClass;
use crate::sign;
use crate::transport::CallEvent;

/// One received request: decoded query+form parameters and lower-cased headers.
#[derive(Debug, Clone)]
struct Seen {
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    path_query: String,
    body: Vec<u8>,
}

impl Seen {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn header(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn action(&self) -> String {
        self.param("Action")
            .or(self.header("x-acs-action"))
            .unwrap_or_default()
            .to_string()
    }
}

type Responder = dyn Fn(&Seen, usize) -> (u16, Vec<(String, String)>, String) + Send + Sync;

struct Fake {
    seen: Mutex<Vec<Seen>>,
    n: AtomicUsize,
    respond: Box<Responder>,
}

async fn handle(State(f): State<Arc<Fake>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut params = sign::form_decode(uri.query().unwrap_or(""));
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/x-www-form-urlencoded") {
        params.extend(sign::form_decode(std::str::from_utf8(&body).unwrap_or("")));
    }
    let seen = Seen {
        params,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        path_query: uri.to_string(),
        body: body.to_vec(),
    };
    let i = f.n.fetch_add(1, Ordering::SeqCst);
    let (status, hdrs, text) = (f.respond)(&seen, i);
    f.seen.lock().unwrap().push(seen);
    let mut resp = (axum::http::StatusCode::from_u16(status).unwrap(), text).into_response();
    resp.headers_mut()
        .insert("content-type", "application/json;charset=utf-8".parse().unwrap());
    for (k, v) in hdrs {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

async fn start(respond: Box<Responder>) -> (String, Arc<Fake>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Arc::new(Fake {
        seen: Mutex::new(Vec::new()),
        n: AtomicUsize::new(0),
        respond,
    });
    let app = axum::Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn ok(body: &str) -> (u16, Vec<(String, String)>, String) {
    (200, Vec::new(), body.to_string())
}

fn err(status: u16, code: &str) -> (u16, Vec<(String, String)>, String) {
    (
        status,
        Vec::new(),
        format!(r#"{{"RequestId":"RID-{code}","HostId":"ram.aliyuncs.com","Code":"{code}","Message":"m"}}"#),
    )
}

fn config(base: &str) -> ClientConfig {
    ClientConfig {
        retry: RetryConfig {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_server_delay: Duration::from_secs(5),
        },
        timeout: Duration::from_secs(5),
        ..ClientConfig::for_emulator(base)
    }
}

const SECRET: &str = "the-base-secret-value";

fn creds() -> Credentials {
    Credentials::new("LTAIbase", SECRET)
}

type Event = (String, u32, Option<String>, bool);
#[derive(Default)]
struct Counter(Mutex<Vec<Event>>);
impl CallObserver for Counter {
    fn on_call(&self, e: &CallEvent<'_>) {
        self.0.lock().unwrap().push((
            e.action.to_string(),
            e.attempt,
            e.code.map(str::to_string),
            e.will_retry,
        ));
    }
}

const ONE_ROLE: &str =
    r#"{"RequestId":"ok","Roles":{"Role":[{"RoleName":"alice","RoleId":123}]},"IsTruncated":false}"#;

#[tokio::test]
async fn throttling_is_retried_with_a_fresh_nonce_each_attempt() {
    let (base, fake) = start(Box::new(|_, i| {
        if i < 2 {
            err(400, "Throttling.User")
        } else {
            ok(ONE_ROLE)
        }
    }))
    .await;
    let obs = Arc::new(Counter::default());
    let c = AliyunClient::with_observer(config(&base), creds(), obs.clone()).unwrap();
    let roles = c.ram().list_roles_all().await.unwrap();
    assert_eq!(roles[0].role_name, "alice");
    assert_eq!(roles[0].role_id, "123");
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let nonces: std::collections::BTreeSet<_> = seen
        .iter()
        .map(|s| s.param("SignatureNonce").unwrap().to_string())
        .collect();
    assert_eq!(nonces.len(), 3, "every attempt needs a new nonce");
    for s in &seen {
        // V1 verifies like the emulator would.
        let sig = s.param("Signature").unwrap().to_string();
        assert_eq!(
            sign::v1_sign(SECRET, &sign::v1_string_to_sign("POST", &s.params)),
            sig
        );
        assert_eq!(s.param("Format"), Some("JSON"));
        assert_eq!(s.param("Version"), Some("2015-05-01"));
        assert!(s.body.is_empty());
    }
    let events = obs.0.lock().unwrap().clone();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0],
        ("ListRoles".into(), 1, Some("Throttling.User".into()), true)
    );
    assert_eq!(events[2], ("ListRoles".into(), 3, None, false));
}

#[tokio::test]
async fn conflicts_are_not_retried_and_parse() {
    let (base, fake) = start(Box::new(|_, _| err(409, "DeleteConflict.User.Group"))).await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let e = c.ram().delete_user("alice").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict);
    assert_eq!(e.code, "DeleteConflict.User.Group");
    assert_eq!(e.request_id.as_deref(), Some("RID-DeleteConflict.User.Group"));
    assert_eq!(e.http_status, Some(409));
    assert_eq!(fake.seen.lock().unwrap().len(), 1);
    assert_eq!(fake.seen.lock().unwrap()[0].param("UserName"), Some("alice"));
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let (base, fake) = start(Box::new(|_, _| err(503, "ServiceUnavailable"))).await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let e = c.ims().get_default_domain().await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(fake.seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn retry_after_header_is_honoured() {
    let (base, fake) = start(Box::new(|_, i| {
        if i == 0 {
            let (s, _, b) = err(429, "Throttling.Api");
            (s, vec![("x-acs-retry-after".into(), "400".into())], b)
        } else {
            ok(r#"{"RequestId":"r","DefaultDomainName":"x.onaliyun.com"}"#)
        }
    }))
    .await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let t = std::time::Instant::now();
    assert_eq!(c.ims().get_default_domain().await.unwrap(), "x.onaliyun.com");
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    assert_eq!(fake.seen.lock().unwrap().len(), 2);
}

fn sts_answer(expires_in: i64, n: usize) -> String {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(expires_in);
    format!(
        r#"{{"RequestId":"sts","Credentials":{{"AccessKeyId":"STS.key{n}","AccessKeySecret":"sts-secret-{n}","SecurityToken":"token-{n}","Expiration":"{}"}},"AssumedRoleUser":{{"Arn":"a","AssumedRoleId":"b"}}}}"#,
        exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
}

fn sts_fake(expires_in: i64) -> Box<Responder> {
    let assumed = Arc::new(AtomicUsize::new(0));
    Box::new(move |s, _| {
        if s.action() == "AssumeRole" {
            let n = assumed.fetch_add(1, Ordering::SeqCst);
            ok(&sts_answer(expires_in, n))
        } else {
            ok(r#"{"RequestId":"r","DefaultDomainName":"d.onaliyun.com"}"#)
        }
    })
}

fn count(fake: &Fake, action: &str) -> usize {
    fake.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.action() == action)
        .count()
}

#[tokio::test]
async fn sts_sessions_are_cached_and_shared_by_concurrent_callers() {
    let (base, fake) = start(sts_fake(7200)).await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let m = c
        .assume_role_client("1234567890123456", DEFAULT_ACCESS_ROLE, "ado test/1")
        .await
        .unwrap();
    let calls = (0..10).map(|_| m.ims().get_default_domain());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(count(&fake, "AssumeRole"), 1);
    let seen = fake.seen.lock().unwrap().clone();
    let ar = seen.iter().find(|s| s.action() == "AssumeRole").unwrap();
    assert_eq!(
        ar.param("RoleArn"),
        Some("acs:ram::1234567890123456:role/ResourceDirectoryAccountAccessRole")
    );
    assert_eq!(ar.param("RoleSessionName"), Some("ado-test-1"));
    assert_eq!(ar.param("AccessKeyId"), Some("LTAIbase"));
    let member_call = seen.iter().find(|s| s.action() == "GetDefaultDomain").unwrap();
    assert_eq!(member_call.param("AccessKeyId"), Some("STS.key0"));
    assert_eq!(member_call.param("SecurityToken"), Some("token-0"));
    assert_eq!(
        sign::v1_sign(
            "sts-secret-0",
            &sign::v1_string_to_sign("POST", &member_call.params)
        ),
        member_call.param("Signature").unwrap()
    );
}

#[tokio::test]
async fn member_clients_are_cached() {
    let (base, fake) = start(sts_fake(7200)).await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let a = c.member("1234567890123456", "R", "s").await.unwrap();
    let b = c.member("1234567890123456", "R", "s").await.unwrap();
    a.ims().get_default_domain().await.unwrap();
    b.ims().get_default_domain().await.unwrap();
    assert_eq!(count(&fake, "AssumeRole"), 1);
    c.member("1234567890123456", "Other", "s").await.unwrap();
    assert_eq!(count(&fake, "AssumeRole"), 2);
}

#[tokio::test]
async fn sts_sessions_are_refreshed_before_expiry() {
    // 2 minutes left is inside the 5-minute refresh window: every use assumes the role again.
    let (base, fake) = start(sts_fake(120)).await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let m = c.assume_role_client("1234567890123456", "R", "s1").await.unwrap();
    m.ims().get_default_domain().await.unwrap();
    m.ims().get_default_domain().await.unwrap();
    assert_eq!(count(&fake, "AssumeRole"), 3);
    let seen = fake.seen.lock().unwrap().clone();
    let keys: Vec<_> = seen
        .iter()
        .filter(|s| s.action() == "GetDefaultDomain")
        .map(|s| s.param("AccessKeyId").unwrap().to_string())
        .collect();
    assert_eq!(keys, vec!["STS.key1", "STS.key2"]);
}

#[tokio::test]
async fn expired_token_answers_trigger_one_new_session() {
    let assumed = Arc::new(AtomicUsize::new(0));
    let member_calls = Arc::new(AtomicUsize::new(0));
    let (base, fake) = start(Box::new(move |s, _| {
        if s.action() == "AssumeRole" {
            ok(&sts_answer(7200, assumed.fetch_add(1, Ordering::SeqCst)))
        } else if member_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            err(400, "InvalidSecurityToken.Expired")
        } else {
            ok(r#"{"RequestId":"r","DefaultDomainName":"d"}"#)
        }
    }))
    .await;
    let c = AliyunClient::new(config(&base), creds()).unwrap();
    let m = c.assume_role_client("1234567890123456", "R", "s").await.unwrap();
    assert_eq!(m.ims().get_default_domain().await.unwrap(), "d");
    assert_eq!(count(&fake, "AssumeRole"), 2);
}

#[tokio::test]
async fn v3_and_form_body_requests_verify_server_side() {
    let (base, fake) = start(Box::new(|_, _| ok(r#"{"RequestId":"r"}"#))).await;
    for placement in [ParamPlacement::Query, ParamPlacement::FormBody] {
        let cfg = ClientConfig {
            signature: SignatureVersion::V3,
            params: placement,
            ..config(&base)
        };
        let c = AliyunClient::new(cfg, creds().with_token("tok+/=")).unwrap();
        assert_eq!(c.ram().delete_policy("p 1", true).await.unwrap(), "r");
        let s = fake.seen.lock().unwrap().last().unwrap().clone();
        let auth = sign::parse_v3_authorization(s.header("authorization").unwrap()).unwrap();
        let signed: Vec<(String, String)> = auth
            .signed_headers
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    s.header(h)
                        .unwrap_or_else(|| panic!("signed header {h} not sent"))
                        .to_string(),
                )
            })
            .collect();
        let query = sign::form_decode(s.path_query.split_once('?').map_or("", |(_, q)| q));
        let hash = sign::sha256_hex(&s.body);
        assert_eq!(s.header("x-acs-content-sha256"), Some(hash.as_str()));
        let expect = sign::v3_authorization("LTAIbase", SECRET, "POST", "/", &query, &signed, &hash);
        assert_eq!(s.header("authorization").unwrap(), expect);
        assert_eq!(s.param("PolicyName"), Some("p 1"));
        assert_eq!(s.param("CascadingDelete"), Some("true"));
        assert_eq!(s.header("x-acs-security-token"), Some("tok+/="));
        assert_eq!(s.header("x-acs-version"), Some("2015-05-01"));
    }
}

#[tokio::test]
async fn transport_errors_are_transient_and_leak_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let cfg = ClientConfig {
        retry: RetryConfig {
            max_attempts: 2,
            ..config(&base).retry
        },
        ..config(&base)
    };
    let c = AliyunClient::new(cfg, creds().with_token("secret-token")).unwrap();
    let e = c.ram().delete_user("alice").await.unwrap_err();
    assert_eq!(e.code, "Transport.Connect");
    assert_eq!(e.class, ErrorClass::Transient);
    let text = format!("{e} {e:?}");
    for needle in [SECRET, "secret-token", "Signature", "LTAIbase"] {
        assert!(!text.contains(needle), "{needle} leaked: {text}");
    }
}

#[tokio::test]
async fn client_debug_is_redacted() {
    let (base, _fake) = start(sts_fake(7200)).await;
    let c = AliyunClient::new(config(&base), creds().with_token("base-token-value")).unwrap();
    let m = c.assume_role_client("1234567890123456", "R", "s").await.unwrap();
    for s in [format!("{c:?}"), format!("{m:?}")] {
        assert!(
            !s.contains(SECRET)
                && !s.contains("base-token-value")
                && !s.contains("sts-secret-0")
                && !s.contains("token-0"),
            "{s}"
        );
    }
    // The member's cached session is shown, with its secret and token redacted.
    let s = format!("{m:?}");
    assert!(s.contains("STS.key0") && s.contains("REDACTED"), "{s}");
}

#[tokio::test]
async fn marker_pagination_and_delete_account_encoding() {
    let (base, fake) = start(Box::new(|s, _| match (s.action().as_str(), s.param("Marker")) {
        ("ListRoles", None) => {
            ok(r#"{"RequestId":"1","Roles":{"Role":[{"RoleName":"a"}]},"IsTruncated":true,"Marker":"m 1"}"#)
        }
        ("ListRoles", Some("m 1")) => {
            ok(r#"{"RequestId":"2","Roles":{"Role":[{"RoleName":"b"}]},"IsTruncated":false}"#)
        }
        ("DeleteAccount", _) => ok(r#"{"RequestId":"3","DeletionType":"1"}"#),
        _ => err(400, "Unexpected"),
    }))
    .await;
    let cfg = ClientConfig {
        max_page_size: Some(1),
        ..config(&base)
    };
    let c = AliyunClient::new(cfg, creds()).unwrap();
    let roles = c.list_roles_names().await;
    assert_eq!(roles, vec!["a", "b"]);
    assert_eq!(fake.seen.lock().unwrap()[0].param("MaxItems"), Some("1"));
    let d = c
        .rm()
        .delete_account("1234567890123456", &["NON_SP_cs".into(), "SP_x".into()])
        .await
        .unwrap();
    assert_eq!(d.deletion_type, Some(1));
    let s = fake.seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(s.param("AbandonableCheckId"), Some(r#"["NON_SP_cs","SP_x"]"#));
    assert_eq!(s.param("Version"), Some("2020-03-31"));
}

impl AliyunClient {
    async fn list_roles_names(&self) -> Vec<String> {
        self.ram()
            .list_roles_all()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.role_name)
            .collect()
    }
}

/// Requests a loopback server holds until released, and the most it held at once.
#[derive(Default)]
struct Held {
    now: AtomicUsize,
    most: AtomicUsize,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

async fn hold(State(h): State<Arc<Held>>) -> Response {
    let now = h.now.fetch_add(1, Ordering::SeqCst) + 1;
    h.most.fetch_max(now, Ordering::SeqCst);
    let wait = h.release.notified();
    if !h.released.load(Ordering::SeqCst) {
        wait.await;
    }
    h.now.fetch_sub(1, Ordering::SeqCst);
    ([("content-type", "application/json")], r#"{"RequestId":"RID"}"#).into_response()
}

/// A burst of calls (a stalled process catching up with its budgets) never has more than
/// `MAX_IN_FLIGHT` requests, and so connections, on the wire at once; the rest wait their turn and
/// all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_keeps_at_most_max_in_flight_on_the_wire() {
    use crate::http_pool::MAX_IN_FLIGHT;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let held = Arc::new(Held::default());
    let app = axum::Router::new().fallback(hold).with_state(held.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = config(&format!("http://{addr}"));
    cfg.timeout = Duration::from_secs(60);
    let c = Arc::new(AliyunClient::new(cfg, creds()).unwrap());
    let tasks: Vec<_> = (0..MAX_IN_FLIGHT + 64)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.ram().delete_user("u").await.map(|_| ()) })
        })
        .collect();
    // Wait until the server holds a full set, then give any call past the cap time to arrive.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while held.now.load(Ordering::SeqCst) < MAX_IN_FLIGHT && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let most = held.most.load(Ordering::SeqCst);
    held.released.store(true, Ordering::SeqCst);
    held.release.notify_waiters();
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(most, MAX_IN_FLIGHT, "most requests on the wire at once");
}
