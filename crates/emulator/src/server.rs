//! The emulator's HTTP front: one port for RAM, IMS, ResourceManager and STS plus the admin API.
//!
//! Per API request: merge query and form parameters, route by version and action, authenticate
//! ([`super::auth`]), check the key's `allow` patterns, throttle ([`super::throttle`]), inject faults
//! ([`super::faults`]), run the action on the [`World`] (a synchronous state machine behind a std
//! mutex, never held across an `.await`), add the `RequestId` and count the call
//! ([`super::counters`]).

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use axum::serve::{IncomingStream, Listener};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::api::{ActionClass, ApiError, CallContext, Product};
use super::auth::{self, NonceStore, RequestParts, Scheme};
use super::catalog;
use super::counters::{self, Counters};
use super::faults::{self, Fault, FaultConfig, FaultError, Faults};
use super::policy::Decision;
use super::seed::Seed;
use super::throttle::{self, Throttle};
use super::world::World;
use ado_signing::sign;

/// Command line of `aliyun-emulator` (also used by tests that start the server in-process).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "aliyun-emulator",
    version,
    about = "Local emulator of Alibaba Cloud RAM, IMS, ResourceManager and STS"
)]
pub struct Opts {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Seed YAML describing the Resource Directory, keys and accounts.
    #[arg(long)]
    pub seed: PathBuf,
    /// Largest page handed out whatever MaxItems/PageSize asks (forces clients to paginate).
    #[arg(long)]
    pub page_limit: Option<u32>,
    /// Calls per second per (account, action) before `Throttling.User` (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub qps_per_account_action: u32,
    /// Calls per second per account, all actions together, before `Throttling.User` (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub qps_per_account: u32,
    /// A per-operation quota below the account's, e.g. `--quota ram:DeleteUser=20/1s` (answered
    /// with `Throttling.Api` like the service's per-API limits).
    #[arg(long = "quota", value_name = "PRODUCT:ACTION=COUNT/SECONDS", num_args = 1..)]
    pub quota: Vec<String>,
    /// HTTP status of throttling answers (400 or 429).
    #[arg(long, default_value_t = 400, value_parser = parse_throttle_status)]
    pub throttle_status: u16,
    /// Latency added to every API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Injected error rate by code, e.g. `--fault Throttling.User=0.1 --fault ServiceUnavailable=0.05`.
    #[arg(long = "fault", value_name = "CODE=RATE", num_args = 1..)]
    pub fault: Vec<String>,
    /// Probability of closing the connection without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Probability of answering only after `--stall-ms`.
    #[arg(long, default_value_t = 0.0)]
    pub stall_rate: f64,
    /// Length of a stall in milliseconds (default 30000).
    #[arg(long)]
    pub stall_ms: Option<u64>,
    /// Seed of the fault injector's random source (default 0: runs are reproducible).
    #[arg(long)]
    pub fault_seed: Option<u64>,
}

fn parse_throttle_status(s: &str) -> Result<u16, String> {
    match s {
        "400" => Ok(400),
        "429" => Ok(429),
        _ => Err(format!("throttle status must be 400 or 429, not {s:?}")),
    }
}

impl Opts {
    /// The fault configuration the flags describe.
    ///
    /// # Errors
    /// A malformed `--fault` or a rate outside `[0, 1]`.
    pub fn fault_config(&self) -> Result<FaultConfig, FaultError> {
        let mut cfg = FaultConfig {
            latency_ms: self.latency_ms,
            drop_rate: self.drop_rate,
            stall_rate: self.stall_rate,
            stall_ms: self.stall_ms,
            seed: self.fault_seed,
            ..FaultConfig::default()
        };
        for spec in &self.fault {
            cfg.add_spec(spec)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The per-operation quotas the `--quota` flags describe.
    ///
    /// # Errors
    /// A flag that is not `product:Action=count/seconds`.
    pub fn quotas(&self) -> Result<Quotas, String> {
        let mut q = Quotas::new();
        for spec in &self.quota {
            let (label, quota) = spec
                .split_once('=')
                .ok_or_else(|| format!("--quota {spec:?}: write it as ram:DeleteUser=20/1s"))?;
            q.insert(label.trim().to_owned(), quota.parse()?);
        }
        Ok(q)
    }

    /// The limits the flags describe.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            qps_per_account_action: self.qps_per_account_action,
            qps_per_account: self.qps_per_account,
            page_limit: self.page_limit.filter(|&n| n > 0),
            throttle_status: self.throttle_status,
        }
    }
}

/// Why the emulator could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The seed file could not be read or is invalid.
    #[error("seed: {0}")]
    Seed(String),
    /// Binding or serving failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A bad fault flag.
    #[error("fault: {0}")]
    Fault(#[from] FaultError),
    /// A bad `--quota` flag.
    #[error("{0}")]
    Quota(String),
}

/// Per-operation quotas by action label (`ram:DeleteUser`), below the account's limit.
pub type Quotas = std::collections::BTreeMap<String, throttle::Quota>;

/// Run-time limits (`PUT /__emulator/limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Calls per second per (account, action); 0 = unlimited.
    pub qps_per_account_action: u32,
    /// Calls per second per account over all actions; 0 = unlimited.
    pub qps_per_account: u32,
    /// Largest page handed out (`None` = the API's own maximum).
    pub page_limit: Option<u32>,
    /// HTTP status of throttling answers.
    pub throttle_status: u16,
}

/// A partial update of [`Limits`]; absent fields keep their value, `pageLimit: 0` removes the limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsPatch {
    /// New calls per second (0 = unlimited).
    #[serde(alias = "qps", alias = "qps_per_account_action")]
    pub qps_per_account_action: Option<u32>,
    /// New calls per second per account, all actions together (0 = unlimited).
    #[serde(alias = "qps_per_account")]
    pub qps_per_account: Option<u32>,
    /// New page limit (0 = none).
    #[serde(alias = "page_limit")]
    pub page_limit: Option<u32>,
    /// New throttling status (400 or 429).
    #[serde(alias = "throttle_status")]
    pub throttle_status: Option<u16>,
    /// Per-operation quotas by action label, replacing the previous ones:
    /// `{"ram:DeleteUser": "20/1 s"}` (`{}` removes them all).
    #[serde(default)]
    pub quotas: Option<std::collections::BTreeMap<String, String>>,
}

/// The emulator clock: real time plus an offset the admin API advances, so asynchronous flows and
/// STS expiry can be tested without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The emulator's current time.
    #[must_use]
    pub fn now(&self) -> jiff::Timestamp {
        let real = jiff::Timestamp::now();
        let off = jiff::SignedDuration::from_secs(self.offset_secs.load(Ordering::SeqCst));
        real.checked_add(off).unwrap_or(real)
    }

    /// Seconds the clock is ahead of real time.
    #[must_use]
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_secs.store(0, Ordering::SeqCst);
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form SDK timestamps use.
#[must_use]
pub fn format_utc(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Locks a mutex, recovering the data of a poisoned one (a panicking request must not wedge the
/// emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of one emulator: the world and everything the front keeps around it.
pub struct Emulator {
    world: Mutex<World>,
    clock: Clock,
    nonces: Mutex<NonceStore>,
    counters: Mutex<Counters>,
    throttle: Mutex<Throttle>,
    faults: Mutex<Faults>,
    limits: Mutex<Limits>,
    quotas: Mutex<Quotas>,
}

impl Emulator {
    /// An emulator over the world of `seed` with these limits and faults.
    ///
    /// # Errors
    /// [`ServerError::Seed`] when the seed is invalid.
    pub fn new(seed: Seed, limits: Limits, faults: FaultConfig) -> Result<Self, ServerError> {
        let clock = Clock::default();
        let world = World::from_seed(seed, clock.now()).map_err(|e| ServerError::Seed(e.to_string()))?;
        Ok(Self {
            world: Mutex::new(world),
            clock,
            nonces: Mutex::new(NonceStore::new()),
            counters: Mutex::new(Counters::new()),
            throttle: Mutex::new(Throttle::new()),
            faults: Mutex::new(Faults::new(faults)),
            limits: Mutex::new(limits),
            quotas: Mutex::new(Quotas::new()),
        })
    }

    /// Builds the emulator the command line describes (reads the seed file).
    ///
    /// # Errors
    /// Unreadable or invalid seed, bad fault flags.
    pub fn from_opts(opts: &Opts) -> Result<Self, ServerError> {
        let seed = Seed::from_file(&opts.seed).map_err(|e| ServerError::Seed(e.to_string()))?;
        let emu = Self::new(seed, opts.limits(), opts.fault_config()?)?;
        *lock(&emu.quotas) = opts.quotas().map_err(ServerError::Quota)?;
        Ok(emu)
    }

    /// The per-operation quotas in force.
    #[must_use]
    pub fn quotas(&self) -> Quotas {
        lock(&self.quotas).clone()
    }

    /// The emulator clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Replaces the world with a new seed (YAML) and resets the clock, nonces, throttling buckets and
    /// counters; faults and limits stay (they are run configuration, not world state).
    ///
    /// # Errors
    /// The seed's parse or validation message.
    pub fn reload_seed(&self, yaml: &str) -> Result<(), String> {
        let seed = Seed::from_yaml(yaml).map_err(|e| e.to_string())?;
        let world = World::from_seed(seed, jiff::Timestamp::now()).map_err(|e| e.to_string())?;
        let mut w = lock(&self.world);
        *w = world;
        self.clock.reset();
        lock(&self.nonces).reset();
        lock(&self.throttle).reset();
        lock(&self.counters).reset();
        Ok(())
    }

    /// `GET /__emulator/accounts/{id}`.
    #[must_use]
    pub fn dump_account(&self, account_id: &str) -> Option<Value> {
        lock(&self.world).dump_account(account_id)
    }

    /// `GET /__emulator/calls`.
    #[must_use]
    pub fn calls(&self) -> Value {
        lock(&self.counters).to_json()
    }

    /// `DELETE /__emulator/calls`.
    pub fn reset_calls(&self) {
        lock(&self.counters).reset();
    }

    /// The current fault configuration.
    #[must_use]
    pub fn faults(&self) -> FaultConfig {
        lock(&self.faults).config().clone()
    }

    /// Replaces the fault configuration (reseeds the random source).
    ///
    /// # Errors
    /// A rate outside `[0, 1]`.
    pub fn set_faults(&self, cfg: FaultConfig) -> Result<(), FaultError> {
        cfg.validate()?;
        lock(&self.faults).set(cfg);
        Ok(())
    }

    /// The current limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        *lock(&self.limits)
    }

    /// Applies a partial limits update; empties the throttling buckets.
    ///
    /// # Errors
    /// A throttling status other than 400 or 429.
    pub fn patch_limits(&self, p: &LimitsPatch) -> Result<Limits, String> {
        if let Some(s) = p.throttle_status
            && s != 400
            && s != 429
        {
            return Err(format!("throttleStatus must be 400 or 429, not {s}"));
        }
        if let Some(q) = &p.quotas {
            let mut parsed = Quotas::new();
            for (label, quota) in q {
                parsed.insert(label.clone(), quota.parse()?);
            }
            *lock(&self.quotas) = parsed;
        }
        let mut l = lock(&self.limits);
        if let Some(q) = p.qps_per_account_action {
            l.qps_per_account_action = q;
        }
        if let Some(q) = p.qps_per_account {
            l.qps_per_account = q;
        }
        if let Some(pl) = p.page_limit {
            l.page_limit = (pl > 0).then_some(pl);
        }
        if let Some(s) = p.throttle_status {
            l.throttle_status = s;
        }
        lock(&self.throttle).reset();
        Ok(*l)
    }

    fn count(
        &self,
        product: Option<Product>,
        action: &str,
        class: Option<ActionClass>,
        code: &str,
        account: Option<&str>,
    ) {
        lock(&self.counters).record(product, action, class, code, account);
    }

    /// Runs one API request through the whole pipeline.
    async fn handle(&self, rp: &RequestParts<'_>) -> Outcome {
        let (raw_action, _) = auth::action_and_version(rp);
        let raw_action = raw_action.unwrap_or_default();
        let route = match auth::route(rp) {
            Ok(r) => r,
            Err(e) => {
                self.count(None, &raw_action, None, &e.code, None);
                return Outcome::Error(e, None, HeaderMap::new());
            }
        };
        let product = route.product;
        let action = route.action.as_str();
        let Some(class) = catalog::classify(product, action) else {
            let e = ApiError::new(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            );
            self.count(Some(product), action, None, &e.code, None);
            return Outcome::Error(e, Some(product), HeaderMap::new());
        };
        let verified = {
            let now = self.clock.now();
            let world = lock(&self.world);
            let mut nonces = lock(&self.nonces);
            auth::verify(rp, route.scheme, |id| world.lookup_key(id), now, &mut nonces)
        };
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                self.count(Some(product), action, Some(class), &e.code, None);
                return Outcome::Error(e, Some(product), HeaderMap::new());
            }
        };
        let account = verified.caller.account_id.clone();
        let fail = |e: ApiError, headers: HeaderMap| {
            self.count(Some(product), action, Some(class), &e.code, Some(&account));
            Outcome::Error(e, Some(product), headers)
        };
        // GetCallerIdentity needs no permission (STS API reference: "no authorization").
        let open = product == Product::Sts && action == "GetCallerIdentity";
        if !open && !auth::permitted(&verified.allow, product, action) {
            return fail(
                auth::no_permission(&verified.caller, product, action),
                HeaderMap::new(),
            );
        }
        // A session policy narrows what an STS key may do.
        if let Some(sp) = &verified.session_policy
            && !open
        {
            let decision = sp.decide(product, action);
            if decision != Decision::Allow {
                return fail(
                    auth::session_denied(&verified.caller, product, action, decision),
                    HeaderMap::new(),
                );
            }
        }
        let label = auth::action_label(product, action);
        let limits = self.limits();
        // A per-API limit answers `Throttling.Api` (header `x-ratelimit-user-api`), the account's
        // limit `Throttling.User` (`x-ratelimit-user`), as alibaba-api.md §3.3 describes them.
        let throttled = {
            let now = Instant::now();
            let quota = lock(&self.quotas)
                .get(&label)
                .copied()
                .unwrap_or(throttle::Quota::per_second(limits.qps_per_account_action));
            let mut t = lock(&self.throttle);
            t.check_quota(&account, &label, quota, now)
                .map_err(|t| (t, "Throttling.Api", "x-ratelimit-user-api"))
                .and_then(|()| {
                    t.check(&account, throttle::ACCOUNT_KEY, limits.qps_per_account, now)
                        .map_err(|t| (t, "Throttling.User", "x-ratelimit-user"))
                })
        };
        if let Err((t, code, header)) = throttled {
            let e = faults::fault_error(code, limits.throttle_status);
            return fail(e, throttle_headers(&t, header, self.clock.now()));
        }
        let (latency, fault) = {
            let mut f = lock(&self.faults);
            (f.latency(&label), f.decide(&label))
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Fault::None => {}
            Fault::Drop => {
                self.count(
                    Some(product),
                    action,
                    Some(class),
                    counters::DROPPED,
                    Some(&account),
                );
                tracing::info!(%label, account, "fault: dropping the connection");
                return Outcome::Drop;
            }
            Fault::Stall(d) => {
                tracing::info!(%label, account, ms = d.as_millis(), "fault: stalling");
                tokio::time::sleep(d).await;
            }
            Fault::Error(code) => {
                let e = faults::fault_error(&code, limits.throttle_status);
                let headers = if code.starts_with("Throttling") {
                    let t = throttle::Throttled {
                        limit: limits.qps_per_account_action.max(limits.qps_per_account).max(1),
                        retry_after_ms: 1000,
                    };
                    let header = if code == "Throttling.Api" {
                        "x-ratelimit-user-api"
                    } else {
                        "x-ratelimit-user"
                    };
                    throttle_headers(&t, header, self.clock.now())
                } else {
                    HeaderMap::new()
                };
                return fail(e, headers);
            }
        }
        let params = auth::business_params(rp, route.scheme);
        let ctx = CallContext {
            now: self.clock.now(),
            caller: verified.caller,
            page_limit: limits.page_limit,
        };
        let result = lock(&self.world).dispatch(&ctx, product, action, &params);
        match result {
            Ok(body) => {
                self.count(Some(product), action, Some(class), counters::OK, Some(&account));
                Outcome::Ok(body, product, route.action.clone())
            }
            Err(e) => fail(e, HeaderMap::new()),
        }
    }
}

fn throttle_headers(t: &throttle::Throttled, header: &'static str, now: jiff::Timestamp) -> HeaderMap {
    let mut h = HeaderMap::new();
    let rl = throttle::ratelimit_header(t, now.as_second());
    if let Ok(v) = HeaderValue::from_str(&rl) {
        h.insert(header, v);
    }
    h.insert("x-acs-retry-after", HeaderValue::from(t.retry_after_ms));
    h
}

/// What the pipeline decided for one request.
enum Outcome {
    Ok(Value, Product, String),
    Error(ApiError, Option<Product>, HeaderMap),
    Drop,
}

/// A new request ID: an upper-case UUID, like the real service's.
#[must_use]
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

/// The error body of §3.1 (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`,
/// `AccessDeniedDetail` for permission errors).
#[must_use]
pub fn error_body(e: &ApiError, product: Option<Product>, request_id: &str) -> Value {
    let mut v = json!({
        "RequestId": request_id,
        "HostId": product.map_or("aliyuncs.com", Product::host),
        "Code": e.code,
        "Message": e.message,
        "Recommend": format!("https://error-center.aliyun.com/status/search?Keyword={}&source=PopGw", e.code),
    });
    if let (Some(d), Some(obj)) = (&e.access_denied_detail, v.as_object_mut()) {
        obj.insert("AccessDeniedDetail".into(), d.clone());
    }
    v
}

const JSON_CT: &str = "application/json;charset=utf-8";
const XML_CT: &str = "text/xml;charset=utf-8";

fn render(status: StatusCode, body: &Value, root: &str, xml: bool, request_id: &str) -> Response {
    let (ct, text) = if xml {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        xml_element(&mut s, root, body);
        (XML_CT, s)
    } else {
        (JSON_CT, body.to_string())
    };
    let mut resp = (status, text).into_response();
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-acs-request-id", v);
    }
    resp
}

/// JSON to Alibaba's XML form: objects become nested elements, arrays repeat their element name.
fn xml_element(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Array(items) => {
            for i in items {
                xml_element(out, name, i);
            }
        }
        Value::Object(m) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            for (k, child) in m {
                xml_element(out, k, child);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::String(s) => xml_leaf(out, name, s),
        other => xml_leaf(out, name, &other.to_string()),
    }
}

fn xml_leaf(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The largest request body accepted.
const MAX_BODY: usize = 4 << 20;

/// Handler of every non-admin path: the Alibaba API surface.
async fn api(State(emu): State<Arc<Emulator>>, req: Request) -> Response {
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        let e = ApiError::new(400, "InvalidParameter", "The request body could not be read.");
        let id = request_id();
        return render(
            StatusCode::BAD_REQUEST,
            &error_body(&e, None, &id),
            "Error",
            false,
            &id,
        );
    };
    let query = parts.uri.query().map(sign::form_decode).unwrap_or_default();
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form = if is_form {
        sign::form_decode(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let method = parts.method.as_str().to_ascii_uppercase();
    let rp = RequestParts {
        method: &method,
        path: parts.uri.path(),
        query: &query,
        form: &form,
        headers: &parts.headers,
        body: &body,
    };
    let xml = auth::scheme(&rp) == Scheme::V1
        && query
            .iter()
            .chain(form.iter())
            .any(|(k, v)| k == "Format" && v.eq_ignore_ascii_case("xml"));
    let outcome = emu.handle(&rp).await;
    let id = request_id();
    match outcome {
        Outcome::Ok(mut body, _product, action) => {
            if let Some(obj) = body.as_object_mut() {
                obj.insert("RequestId".into(), Value::String(id.clone()));
            }
            render(StatusCode::OK, &body, &format!("{action}Response"), xml, &id)
        }
        Outcome::Error(e, product, headers) => {
            tracing::debug!(code = %e.code, status = e.status, "api error");
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut resp = render(status, &error_body(&e, product, &id), "Error", xml, &id);
            resp.headers_mut().extend(headers);
            resp
        }
        Outcome::Drop => drop_response(conn.as_ref()),
    }
}

/// Closes the connection without an answer: marks the connection so its next write fails (hyper then
/// closes it before any byte of the response); without connection info, a body that errors aborts it.
fn drop_response(conn: Option<&ConnHandle>) -> Response {
    if let Some(c) = conn {
        c.kill();
    }
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, io::Error>(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: dropped"))
    });
    Response::new(Body::from_stream(stream))
}

/// The full router: the API on every path except `/__emulator/...` (the admin API).
pub fn router(state: Arc<Emulator>) -> Router {
    Router::new()
        .nest("/__emulator", super::admin::router())
        .fallback(api)
        .with_state(state)
}

/// Per-connection handle given to handlers as connect info: lets the fault injector kill the
/// connection the current request arrived on.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Peer address.
    pub remote: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Makes every further read/write on the connection fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be killed from a handler (for dropped-connection faults).
#[derive(Debug)]
pub struct KillableListener {
    inner: TcpListener,
}

impl KillableListener {
    /// Wraps a bound listener.
    #[must_use]
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let io = KillableStream {
                        inner: stream,
                        killed: Arc::clone(&killed),
                    };
                    return (io, ConnHandle { remote, killed });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle {
            remote: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every operation once its [`ConnHandle`] was killed.
#[derive(Debug)]
pub struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A started emulator (in-process).
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state (for tests that want to look inside).
    pub state: Arc<Emulator>,
    /// The server task.
    pub task: tokio::task::JoinHandle<io::Result<()>>,
}

impl Running {
    /// `http://ADDR`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `opts.listen` and serves the emulator on a background task.
///
/// # Errors
/// Seed, fault flag or bind errors.
pub async fn start(opts: &Opts) -> Result<Running, ServerError> {
    let state = Arc::new(Emulator::from_opts(opts)?);
    let listener = TcpListener::bind(&opts.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::clone(&state)).into_make_service_with_connect_info::<ConnHandle>();
    let task = tokio::spawn(async move { axum::serve(KillableListener::new(listener), app).await });
    Ok(Running { addr, state, task })
}

/// Runs the emulator until the process ends: prints `listening on http://ADDR` on stdout once bound.
///
/// # Errors
/// Seed, fault flag, bind or serve errors.
pub async fn serve(opts: Opts) -> Result<(), ServerError> {
    let running = start(&opts).await?;
    tracing::info!(addr = %running.addr, seed = %opts.seed.display(), "aliyun-emulator started");
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {}", running.url())?;
        out.flush()?;
    }
    match running.task.await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ServerError::Io(io::Error::other(e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_rendering_repeats_list_items() {
        let mut s = String::new();
        xml_element(
            &mut s,
            "ListUsersResponse",
            &json!({"Users": {"User": [{"UserName": "a&b"}, {"UserName": "c"}]}, "IsTruncated": false}),
        );
        assert_eq!(
            s,
            "<ListUsersResponse><IsTruncated>false</IsTruncated><Users><User><UserName>a&amp;b</UserName></User><User><UserName>c</UserName></User></Users></ListUsersResponse>"
        );
    }

    #[test]
    fn throttle_status_flag() {
        assert_eq!(parse_throttle_status("429"), Ok(429));
        assert!(parse_throttle_status("500").is_err());
    }
}
