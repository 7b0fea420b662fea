//! The committed CRD must be exactly what the Rust types generate (`account-deletion-operator crd`),
//! and the Helm chart's copy must be byte-identical. Regenerate with
//! `cargo run -- crd > crds/accountdeletion.dev_accountdeletions.yaml` (or `ADO_BLESS=1 cargo test --test crd_drift`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn crds_dir_matches_the_rust_types() {
    let generated = account_deletion_operator::crd::crd_yaml().expect("render CRD");
    let path = root().join("crds/accountdeletion.dev_accountdeletions.yaml");
    if std::env::var("ADO_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write CRD");
    }
    let committed =
        std::fs::read_to_string(&path).expect("crds/accountdeletion.dev_accountdeletions.yaml exists");
    assert!(
        committed == generated,
        "crds/ is stale: run `cargo run -- crd > crds/accountdeletion.dev_accountdeletions.yaml`"
    );
}

#[test]
fn crd_has_the_schema_rules_the_api_server_enforces() {
    let y = account_deletion_operator::crd::crd_yaml().expect("render CRD");
    assert!(y.contains("^[0-9]{16}$"), "accountId pattern missing");
    for mode in ["Plan", "PurgeRam", "Delete"] {
        assert!(y.contains(mode), "mode enum lacks {mode}");
    }
    for col in ["Account", "Mode", "Phase", "Remaining", "Age"] {
        assert!(
            y.contains(&format!("name: {col}")),
            "printer column {col} missing"
        );
    }
    assert!(y.contains("shortNames"), "short name acd missing");
}
