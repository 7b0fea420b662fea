//! The committed CRDs must be exactly what the Rust types generate (`account-deletion-operator crd`),
//! and the Helm chart's copies must be byte-identical (tests/helm_chart.rs). Regenerate with
//! `ADO_BLESS=1 cargo test --test crd_drift`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn crds_dir_matches_the_rust_types() {
    for (file, generated) in account_deletion_operator::crd::all_crds().expect("render CRDs") {
        let path = root().join("crds").join(file);
        if std::env::var("ADO_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, &generated).expect("write CRD");
            std::fs::write(
                root().join("charts/account-deletion-operator/files").join(file),
                &generated,
            )
            .expect("write the chart's CRD copy");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("crds/{file} exists"));
        assert!(
            committed == generated,
            "crds/{file} is stale: run `ADO_BLESS=1 cargo test --test crd_drift`"
        );
    }
}

#[test]
fn the_claim_crd_is_cluster_scoped() {
    let y = account_deletion_operator::crd::claim_crd_yaml().expect("render CRD");
    assert!(y.contains("scope: Cluster"), "{y}");
    assert!(y.contains("accountclaims"), "{y}");
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
