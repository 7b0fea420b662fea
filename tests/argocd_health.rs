//! The Argo CD health check in `examples/gitops/argocd-health.lua`, run by a real Lua 5.4
//! (`lua5.4`, installed by `scripts/setup.sh`) on status documents the operator writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::{Value, json};

/// Renders JSON as a Lua table constructor (the shape Argo CD hands to health scripts).
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn health(obj: &Value) -> (String, String) {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/gitops/argocd-health.lua"
    ))
    .expect("health script");
    let driver = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nprint(hs.status)\nprint(hs.message)\n",
        lua(obj)
    );
    let out = Command::new("lua5.4")
        .arg("-e")
        .arg(&driver)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run lua5.4 ({e}); `bash scripts/setup.sh` installs it (apt package lua5.4)")
        });
    assert!(
        out.status.success(),
        "lua failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    (
        lines.next().unwrap_or_default().to_string(),
        lines.next().unwrap_or_default().to_string(),
    )
}

fn obj(mode: &str, generation: i64, status: Value) -> Value {
    json!({"metadata": {"generation": generation}, "spec": {"mode": mode}, "status": status})
}

fn cond(t: &str, s: &str, msg: &str) -> Value {
    json!({"type": t, "status": s, "reason": "R", "message": msg})
}

#[test]
fn health_follows_the_conditions() {
    let cases = [
        (
            json!({"metadata": {"generation": 1}, "spec": {"mode": "Plan"}}),
            "Progressing",
        ),
        (
            obj(
                "Plan",
                1,
                json!({"observedGeneration": 1, "phase": "Planned", "message": "plan abc",
                "conditions": [cond("Ready", "True", "plan abc"), cond("Stalled", "False", "")]}),
            ),
            "Healthy",
        ),
        (
            obj(
                "Delete",
                2,
                json!({"observedGeneration": 1, "phase": "Planned",
                "conditions": [cond("Ready", "True", "plan abc")]}),
            ),
            "Progressing",
        ),
        (
            obj(
                "Delete",
                2,
                json!({"observedGeneration": 2, "phase": "PurgingRam",
                "conditions": [cond("Ready", "False", ""), cond("Reconciling", "True", "")]}),
            ),
            "Progressing",
        ),
        (
            obj(
                "Delete",
                2,
                json!({"observedGeneration": 2, "phase": "Blocked",
                "conditions": [cond("Ready", "False", ""), cond("Stalled", "True", "display name mismatch")]}),
            ),
            "Degraded",
        ),
        (
            obj(
                "Delete",
                2,
                json!({"observedGeneration": 2, "phase": "Failed", "message": "DeleteFailed"}),
            ),
            "Degraded",
        ),
        (
            obj(
                "Delete",
                3,
                json!({"observedGeneration": 3, "phase": "Deleted",
                "conditions": [cond("Ready", "True", "deleted"), cond("Deleted", "True", "")]}),
            ),
            "Healthy",
        ),
        (
            json!({"metadata": {"generation": 1}, "spec": {"mode": "Delete", "suspend": true}, "status": {}}),
            "Suspended",
        ),
    ];
    for (o, want) in cases {
        let (got, msg) = health(&o);
        assert_eq!(got, want, "object {o} gave {got} ({msg})");
    }
    let (_, msg) = health(&cases_blocked());
    assert_eq!(msg, "display name mismatch");
}

fn cases_blocked() -> Value {
    obj(
        "Delete",
        2,
        json!({"observedGeneration": 2, "phase": "Blocked",
        "conditions": [cond("Stalled", "True", "display name mismatch")]}),
    )
}
