//! The admin API under `/__emulator/` (no signature): health, account dumps, reseeding, call
//! counters, faults, limits and the clock. The shapes are the ones `tests/conformance/conftest.py` and
//! `tests/support/emulator.rs` use; `docs/emulator.md` documents them for users.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post, put};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::faults::FaultConfig;
use super::server::{Emulator, LimitsPatch, format_utc};

/// Routes of the admin API, to be nested under `/__emulator`.
pub fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/health", get(health))
        .route("/accounts/{id}", get(account))
        .route("/seed", put(seed))
        .route("/calls", get(calls).delete(reset_calls))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/limits", get(get_limits).put(put_limits))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

fn bad(msg: impl Into<String>) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": msg.into() }))
}

fn clock_json(emu: &Emulator) -> Value {
    json!({ "now": format_utc(emu.clock().now()), "offsetSeconds": emu.clock().offset_secs() })
}

async fn health(State(emu): State<Arc<Emulator>>) -> Response {
    ok(&json!({ "status": "ok", "now": format_utc(emu.clock().now()) }))
}

async fn account(State(emu): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    match emu.dump_account(&id) {
        Some(v) => ok(&v),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no account {id}") }),
        ),
    }
}

async fn seed(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match emu.reload_seed(&text) {
        Ok(()) => {
            tracing::info!("world replaced by PUT /__emulator/seed");
            let mut v = clock_json(&emu);
            if let Some(o) = v.as_object_mut() {
                o.insert("status".into(), json!("ok"));
            }
            ok(&v)
        }
        Err(e) => bad(e),
    }
}

async fn calls(State(emu): State<Arc<Emulator>>) -> Response {
    ok(&emu.calls())
}

async fn reset_calls(State(emu): State<Arc<Emulator>>) -> Response {
    emu.reset_calls();
    ok(&emu.calls())
}

/// A JSON request body; an empty one is the default (`PUT` with no body resets). A body that does
/// not parse is refused with a message naming `what`.
fn json_body<T: Default + DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("{what}: {e}"))
}

fn faults_json(emu: &Emulator) -> Value {
    serde_json::to_value(emu.faults()).unwrap_or(Value::Null)
}

async fn get_faults(State(emu): State<Arc<Emulator>>) -> Response {
    ok(&faults_json(&emu))
}

async fn put_faults(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    let cfg: FaultConfig = match json_body(&body, "faults") {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    match emu.set_faults(cfg) {
        Ok(()) => ok(&faults_json(&emu)),
        Err(e) => bad(e.to_string()),
    }
}

/// The limits with the per-operation quotas (`"ram:DeleteUser": "20/1 s"`).
fn limits_json(emu: &Emulator) -> Value {
    let mut v = serde_json::to_value(emu.limits()).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        let quotas: serde_json::Map<String, Value> = emu
            .quotas()
            .into_iter()
            .map(|(k, q)| (k, Value::String(q.to_string())))
            .collect();
        m.insert("quotas".into(), Value::Object(quotas));
    }
    v
}

async fn get_limits(State(emu): State<Arc<Emulator>>) -> Response {
    ok(&limits_json(&emu))
}

async fn put_limits(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    let patch: LimitsPatch = match json_body(&body, "limits") {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    match emu.patch_limits(&patch) {
        Ok(_) => ok(&limits_json(&emu)),
        Err(e) => bad(e),
    }
}

async fn clock(State(emu): State<Arc<Emulator>>) -> Response {
    ok(&clock_json(&emu))
}

async fn advance(State(emu): State<Arc<Emulator>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(secs) = q.get("seconds").and_then(|s| s.trim().parse::<i64>().ok()) else {
        return bad("POST /__emulator/clock/advance needs ?seconds=N (an integer)");
    };
    emu.clock().advance(secs);
    tracing::info!(secs, "clock advanced");
    ok(&clock_json(&emu))
}
