//! The request pipeline of one API call: parse the request, route it by version and action,
//! authenticate ([`crate::auth`]), check the key's `allow` patterns and the session policy, throttle
//! ([`crate::throttle`]), inject faults ([`crate::faults`]), run the action on the world, and count
//! the call ([`crate::counters`]) whatever the outcome. Each stage either lets the call go on or
//! decides its [`Outcome`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, HeaderValue};

use super::listen::ConnHandle;
use super::opts::Limits;
use super::render::{Outcome, respond};
use super::{Emulator, lock};
use crate::api::{ActionClass, ApiError, CallContext, Caller, Product};
use crate::auth::{self, RequestParts, Scheme};
use crate::catalog;
use crate::counters;
use crate::faults::{self, Fault};
use crate::policy::Decision;
use crate::throttle;
use ado_signing::sign;

/// The largest request body accepted.
const MAX_BODY: usize = 4 << 20;

/// A stage's result: go on with `T`, or answer now with the outcome (boxed: it is large, and only
/// refused calls pay for the allocation).
type Stage<T> = Result<T, Box<Outcome>>;

/// A call that was routed and authenticated: what the later stages need to run and count it.
struct Call {
    product: Product,
    action: String,
    class: ActionClass,
    scheme: Scheme,
    /// The caller's account, the throttling and counting key.
    account: String,
    /// `product:Action`, what quotas and fault filters match.
    label: String,
}

impl Emulator {
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

    /// Counts an authenticated call that is answered with `e` and makes that the outcome.
    fn refuse(&self, call: &Call, e: ApiError, headers: HeaderMap) -> Outcome {
        self.count(
            Some(call.product),
            &call.action,
            Some(call.class),
            &e.code,
            Some(&call.account),
        );
        Outcome::Error(e, Some(call.product), headers)
    }

    /// Runs one API request through the whole pipeline.
    async fn handle(&self, rp: &RequestParts<'_>) -> Outcome {
        let (call, caller) = match self.admit(rp) {
            Ok(c) => c,
            Err(outcome) => return *outcome,
        };
        let limits = self.limits();
        if let Err(outcome) = self.throttle(&call, &limits) {
            return *outcome;
        }
        if let Err(outcome) = self.inject_faults(&call, &limits).await {
            return *outcome;
        }
        self.dispatch(rp, &call, caller, &limits)
    }

    /// Routing, the signature, the key's `allow` patterns and an STS session policy.
    fn admit(&self, rp: &RequestParts<'_>) -> Stage<(Call, Caller)> {
        let route = auth::route(rp).map_err(|e| {
            let (raw_action, _) = auth::action_and_version(rp);
            self.count(None, &raw_action.unwrap_or_default(), None, &e.code, None);
            Box::new(Outcome::Error(e, None, HeaderMap::new()))
        })?;
        let product = route.product;
        let action = route.action.as_str();
        let Some(class) = catalog::classify(product, action) else {
            let e = ApiError::new(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            );
            self.count(Some(product), action, None, &e.code, None);
            return Err(Box::new(Outcome::Error(e, Some(product), HeaderMap::new())));
        };
        let verified = {
            let now = self.clock.now();
            let world = lock(&self.world);
            let mut nonces = lock(&self.nonces);
            auth::verify(rp, route.scheme, |id| world.lookup_key(id), now, &mut nonces)
        };
        let verified = verified.map_err(|e| {
            self.count(Some(product), action, Some(class), &e.code, None);
            Box::new(Outcome::Error(e, Some(product), HeaderMap::new()))
        })?;
        let call = Call {
            product,
            action: route.action.clone(),
            class,
            scheme: route.scheme,
            account: verified.caller.account_id.clone(),
            label: auth::action_label(product, action),
        };
        // GetCallerIdentity needs no permission (STS API reference: "no authorization").
        let open = product == Product::Sts && action == "GetCallerIdentity";
        if !open && !auth::permitted(&verified.allow, product, action) {
            let e = auth::no_permission(&verified.caller, product, action);
            return Err(Box::new(self.refuse(&call, e, HeaderMap::new())));
        }
        // A session policy narrows what an STS key may do.
        if let Some(sp) = &verified.session_policy
            && !open
        {
            let decision = sp.decide(product, action);
            if decision != Decision::Allow {
                let e = auth::session_denied(&verified.caller, product, action, decision);
                return Err(Box::new(self.refuse(&call, e, HeaderMap::new())));
            }
        }
        Ok((call, verified.caller))
    }

    /// The per-operation quota, then the account's limit. A per-API limit answers `Throttling.Api`
    /// (header `x-ratelimit-user-api`), the account's limit `Throttling.User` (`x-ratelimit-user`),
    /// as alibaba-api.md §3.3 describes them.
    fn throttle(&self, call: &Call, limits: &Limits) -> Stage<()> {
        let throttled = {
            let now = Instant::now();
            let quota = lock(&self.quotas)
                .get(&call.label)
                .copied()
                .unwrap_or(throttle::Quota::per_second(limits.qps_per_account_action));
            let mut t = lock(&self.throttle);
            t.check_quota(&call.account, &call.label, quota, now)
                .map_err(|t| (t, "Throttling.Api"))
                .and_then(|()| {
                    t.check(&call.account, throttle::ACCOUNT_KEY, limits.qps_per_account, now)
                        .map_err(|t| (t, "Throttling.User"))
                })
        };
        throttled.map_err(|(t, code)| {
            let (e, headers) = self.throttled(code, &t, limits);
            Box::new(self.refuse(call, e, headers))
        })
    }

    /// Added latency, then a dropped connection, a stall or an injected error, as configured.
    async fn inject_faults(&self, call: &Call, limits: &Limits) -> Stage<()> {
        let (latency, fault) = {
            let mut f = lock(&self.faults);
            (f.latency(&call.label), f.decide(&call.label))
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Fault::None => Ok(()),
            Fault::Drop => {
                self.count(
                    Some(call.product),
                    &call.action,
                    Some(call.class),
                    counters::DROPPED,
                    Some(&call.account),
                );
                tracing::info!(label = %call.label, account = call.account, "fault: dropping the connection");
                Err(Box::new(Outcome::Drop))
            }
            Fault::Stall(d) => {
                tracing::info!(label = %call.label, account = call.account, ms = d.as_millis(), "fault: stalling");
                tokio::time::sleep(d).await;
                Ok(())
            }
            Fault::Error(code) if code.starts_with("Throttling") => {
                let t = throttle::Throttled {
                    limit: limits.qps_per_account_action.max(limits.qps_per_account).max(1),
                    retry_after_ms: 1000,
                };
                let (e, headers) = self.throttled(&code, &t, limits);
                Err(Box::new(self.refuse(call, e, headers)))
            }
            Fault::Error(code) => {
                let e = faults::fault_error(&code, limits.throttle_status);
                Err(Box::new(self.refuse(call, e, HeaderMap::new())))
            }
        }
    }

    /// Runs the action on the world and counts it.
    fn dispatch(&self, rp: &RequestParts<'_>, call: &Call, caller: Caller, limits: &Limits) -> Outcome {
        let params = auth::business_params(rp, call.scheme);
        let ctx = CallContext {
            now: self.clock.now(),
            caller,
            page_limit: limits.page_limit,
        };
        let result = lock(&self.world).dispatch(&ctx, call.product, &call.action, &params);
        match result {
            Ok(body) => {
                self.count(
                    Some(call.product),
                    &call.action,
                    Some(call.class),
                    counters::OK,
                    Some(&call.account),
                );
                Outcome::Ok(body, call.action.clone())
            }
            Err(e) => self.refuse(call, e, HeaderMap::new()),
        }
    }

    /// A throttling answer (`code`, measured or injected) with its rate-limit headers: the per-API
    /// header for `Throttling.Api`, the account's for the others.
    fn throttled(&self, code: &str, t: &throttle::Throttled, limits: &Limits) -> (ApiError, HeaderMap) {
        let header = if code == "Throttling.Api" {
            "x-ratelimit-user-api"
        } else {
            "x-ratelimit-user"
        };
        let mut h = HeaderMap::new();
        let rl = throttle::ratelimit_header(t, self.clock.now().as_second());
        if let Ok(v) = HeaderValue::from_str(&rl) {
            h.insert(header, v);
        }
        h.insert("x-acs-retry-after", HeaderValue::from(t.retry_after_ms));
        (faults::fault_error(code, limits.throttle_status), h)
    }
}

/// Handler of every non-admin path: the Alibaba API surface.
pub(super) async fn api(State(emu): State<Arc<Emulator>>, req: Request) -> Response {
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        let e = ApiError::new(400, "InvalidParameter", "The request body could not be read.");
        return respond(Outcome::Error(e, None, HeaderMap::new()), false, None);
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
    respond(outcome, xml, conn.as_ref())
}
