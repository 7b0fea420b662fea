//! Lookups in the emulator's call counters (`GET /__emulator/calls`, [`crate::Emulator::calls`]):
//! `total`, `totals.{mutating,...}`, `byAction`, `byAccount` and `calls` (one entry per product,
//! action, class and result code with its count). Labels are `product:Action`, e.g.
//! `resourcemanager:DeleteAccount`.

use std::collections::BTreeMap;

use serde_json::Value;

/// All calls the emulator answered.
pub fn total(calls: &Value) -> u64 {
    calls["total"]
        .as_u64()
        .expect("total in the emulator's call counters")
}

/// Calls of `product:Action`, whatever their result (0 when never called).
pub fn by_action(calls: &Value, label: &str) -> u64 {
    calls["byAction"][label].as_u64().unwrap_or(0)
}

/// Mutating calls, whatever their result.
pub fn mutating(calls: &Value) -> u64 {
    calls["totals"]["mutating"].as_u64().unwrap_or(0)
}

/// Mutating calls that reached member `account`.
pub fn mutating_for(calls: &Value, account: &str) -> u64 {
    calls["byAccount"][account]["mutating"].as_u64().unwrap_or(0)
}

fn entries(calls: &Value) -> &Vec<Value> {
    calls["calls"]
        .as_array()
        .expect("calls[] in the emulator's call counters")
}

fn label(c: &Value) -> String {
    format!(
        "{}:{}",
        c["product"].as_str().unwrap_or(""),
        c["action"].as_str().unwrap_or("")
    )
}

fn count(c: &Value) -> u64 {
    c["count"].as_u64().expect("count of a call entry")
}

/// Successful mutating calls.
pub fn mutating_ok(calls: &Value) -> u64 {
    mutating_ok_by_call(calls).values().sum()
}

/// Successful mutating calls per (product, action).
pub fn mutating_ok_by_call(calls: &Value) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for c in entries(calls) {
        if c["class"] == "mutating" && c["code"] == "OK" {
            let key = (
                c["product"].as_str().unwrap_or("").to_string(),
                c["action"].as_str().unwrap_or("").to_string(),
            );
            *out.entry(key).or_insert(0) += count(c);
        }
    }
    out
}

/// Successful calls per `product:Action`, of every class.
pub fn ok_by_label(calls: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in entries(calls) {
        if c["code"] == "OK" {
            *out.entry(label(c)).or_insert(0) += count(c);
        }
    }
    out
}

/// Calls of `product:Action` per result code (`OK`, `Throttling.User`, `(dropped)`, ...).
pub fn codes(calls: &Value, product_action: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in entries(calls) {
        if label(c) == product_action {
            *out.entry(c["code"].as_str().unwrap_or("").to_string())
                .or_insert(0) += count(c);
        }
    }
    out
}

/// Successful calls of `product:Action`.
pub fn ok_count(calls: &Value, product_action: &str) -> u64 {
    codes(calls, product_action).get("OK").copied().unwrap_or(0)
}
