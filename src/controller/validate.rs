//! Spec checks the API server cannot do (Kubernetes 1.20 runs no CEL rules): every rule is
//! enforced here, before any call to Alibaba Cloud, and a failure names the field and the fix.

use std::collections::BTreeSet;

use crate::crd::{AccountDeletion, Mode};
use ado_aliyun::egress::{AllowedEndpoints, EndpointRefusal};
use ado_core::{Kind, PlanOptions};

/// What the operator's own configuration decides, whatever an `AccountDeletion` asks: accounts
/// never touched and the only base URLs a spec may send signed requests to.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// `--protected-account-ids`.
    pub protected: BTreeSet<String>,
    /// `--allowed-endpoints`.
    pub allowed_endpoints: AllowedEndpoints,
}

pub use super::block::{Block, BlockReason};

/// The spec after validation, ready for planning.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Kinds and retain rules for the planner.
    pub plan_options: PlanOptions,
    /// `spec.notBefore`, parsed.
    pub not_before: Option<jiff::Timestamp>,
    /// The mode asked for.
    pub mode: Mode,
}

/// Checks the spec against itself, the recorded status and the operator's own guards (protected
/// accounts, allowed endpoints). Runs before any connection is made.
///
/// # Errors
/// The first problem found, as a [`Block`] naming the field.
pub fn validate(obj: &AccountDeletion, guards: &Guards) -> Result<Validated, Block> {
    let protected = &guards.protected;
    let spec = &obj.spec;
    if spec.account_id.len() != 16 || !spec.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Block::new(
            BlockReason::InvalidAccountId,
            format!(
                "spec.accountId {:?} is not a 16-digit Alibaba Cloud account id",
                spec.account_id
            ),
        ));
    }
    if let Some(started) = obj.status.as_ref().and_then(|s| s.started_account_id.as_deref())
        && started != spec.account_id
    {
        return Err(Block::new(
            BlockReason::AccountIdChanged,
            format!(
                "spec.accountId changed from {started} to {} after work started; set it back to {started}, \
                 or create a new AccountDeletion for the other account",
                spec.account_id
            ),
        ));
    }
    if protected.contains(&spec.account_id) {
        return Err(Block::new(
            BlockReason::ProtectedAccount,
            format!(
                "account {} is in the operator's protected account list (--protected-account-ids / \
                 values protectedAccountIds); nothing will be touched",
                spec.account_id
            ),
        ));
    }
    if spec.account_display_name.trim().is_empty() {
        return Err(Block::new(
            BlockReason::InvalidDisplayName,
            "spec.accountDisplayName is empty: set it to the member's display name as shown in Resource Directory",
        ));
    }
    if spec.credentials_secret_ref.name.trim().is_empty() {
        return Err(Block::new(
            BlockReason::InvalidSecretRef,
            "spec.credentialsSecretRef.name is empty",
        ));
    }
    if spec.access_role_name.trim().is_empty() {
        return Err(Block::new(
            BlockReason::InvalidAccessRole,
            "spec.accessRoleName is empty: remove it to use ResourceDirectoryAccountAccessRole",
        ));
    }
    if let Some(kinds) = &spec.ram.kinds
        && kinds.is_empty()
        && spec.mode != Mode::Delete
    {
        return Err(Block::new(
            BlockReason::NoKindsSelected,
            "spec.ram.kinds is an empty list: remove it to empty every kind, or list the kinds to empty",
        ));
    }
    let kinds: BTreeSet<Kind> = spec.ram.selected_kinds();
    if spec.mode == Mode::Delete && kinds.len() != Kind::ALL.len() {
        // Deleting an account with RAM left is allowed by Alibaba, but a user who narrowed kinds
        // most likely meant PurgeRam; make it explicit rather than guess.
        let missing: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| !kinds.contains(k))
            .map(|k| k.as_str())
            .collect();
        return Err(Block::new(
            BlockReason::KindsNarrowedForDelete,
            format!(
                "mode Delete needs every RAM kind selected but spec.ram.kinds leaves out {}; remove spec.ram.kinds \
                 or use mode PurgeRam",
                missing.join(", ")
            ),
        ));
    }
    let plan_options = PlanOptions {
        kinds,
        retain: spec.ram.retain.clone(),
        access_role: spec.access_role_name.clone(),
        access_role_id: None,
    };
    if let Err(e) = plan_options.retain.compile(&plan_options.access_role) {
        return Err(Block::new(BlockReason::InvalidRetainPattern, e.to_string()));
    }
    let not_before = match &spec.not_before {
        None => None,
        Some(s) => Some(s.parse::<jiff::Timestamp>().map_err(|e| {
            Block::new(
                BlockReason::InvalidNotBefore,
                format!("spec.notBefore {s:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z ({e})"),
            )
        })?),
    };
    if let Some(h) = &spec.approved_plan_hash
        && (h.len() != 16 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Block::new(
            BlockReason::InvalidApprovedPlanHash,
            format!(
                "spec.approvedPlanHash {h:?} is not a plan hash; copy status.plan.hash (16 hex characters)"
            ),
        ));
    }
    for (field, url) in endpoint_fields(obj) {
        match guards.allowed_endpoints.check(field, url) {
            Ok(_) => {}
            Err(EndpointRefusal::Malformed(m)) => {
                return Err(Block::new(
                    BlockReason::InvalidEndpoint,
                    format!("{m}; use a base URL such as https://ram.aliyuncs.com"),
                ));
            }
            Err(EndpointRefusal::NotAllowed(m)) => {
                return Err(Block::new(BlockReason::EndpointNotAllowed, m));
            }
        }
    }
    for (i, id) in spec.deletion.abandonable_check_ids.iter().enumerate() {
        if id.trim().is_empty() {
            return Err(Block::new(
                BlockReason::InvalidAbandonableCheckId,
                format!("spec.deletion.abandonableCheckIds[{i}] is empty"),
            ));
        }
    }
    Ok(Validated {
        plan_options,
        not_before,
        mode: spec.mode,
    })
}

fn endpoint_fields(obj: &AccountDeletion) -> Vec<(&'static str, &str)> {
    let mut v = Vec::new();
    if let Some(e) = &obj.spec.endpoint {
        v.push(("spec.endpoint", e.as_str()));
    }
    if let Some(e) = &obj.spec.endpoints {
        for (f, u) in [
            ("spec.endpoints.ram", &e.ram),
            ("spec.endpoints.ims", &e.ims),
            ("spec.endpoints.resourceManager", &e.resource_manager),
            ("spec.endpoints.sts", &e.sts),
        ] {
            if let Some(u) = u {
                v.push((f, u.as_str()));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AccountDeletionSpec, AccountDeletionStatus, SecretRef};

    fn obj() -> AccountDeletion {
        AccountDeletion::new(
            "x",
            AccountDeletionSpec {
                account_id: "1234567890123456".into(),
                account_display_name: "legacy".into(),
                mode: Mode::Plan,
                credentials_secret_ref: SecretRef { name: "creds".into() },
                access_role_name: "ResourceDirectoryAccountAccessRole".into(),
                endpoint: None,
                endpoints: None,
                ram: Default::default(),
                deletion: Default::default(),
                not_before: None,
                suspend: false,
                approved_plan_hash: None,
                audit: Default::default(),
            },
        )
    }

    fn reason(o: &AccountDeletion) -> &'static str {
        validate(o, &Guards::default())
            .err()
            .map(|b| b.reason.as_str())
            .unwrap_or("ok")
    }

    #[test]
    fn good_spec_passes() {
        assert_eq!(reason(&obj()), "ok");
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut o = obj();
        o.spec.account_id = "12345".into();
        assert_eq!(reason(&o), "InvalidAccountId");

        let mut o = obj();
        o.status = Some(AccountDeletionStatus {
            started_account_id: Some("6543210987654321".into()),
            ..Default::default()
        });
        let b = validate(&o, &Guards::default()).unwrap_err();
        assert_eq!(b.reason, BlockReason::AccountIdChanged);
        assert!(b.message.contains("6543210987654321"));

        let o = obj();
        let prot = Guards {
            protected: ["1234567890123456".to_string()].into(),
            ..Guards::default()
        };
        assert_eq!(
            validate(&o, &prot).unwrap_err().reason,
            BlockReason::ProtectedAccount
        );

        let mut o = obj();
        o.spec.ram.retain.users = vec!["ok".into(), "bad[".into()];
        let b = validate(&o, &Guards::default()).unwrap_err();
        assert_eq!(b.reason, BlockReason::InvalidRetainPattern);
        assert!(b.message.contains("spec.ram.retain.users[1]"), "{}", b.message);

        let mut o = obj();
        o.spec.not_before = Some("tomorrow".into());
        assert_eq!(reason(&o), "InvalidNotBefore");

        let mut o = obj();
        o.spec.approved_plan_hash = Some("xyz".into());
        assert_eq!(reason(&o), "InvalidApprovedPlanHash");

        let mut o = obj();
        o.spec.endpoint = Some("ram.aliyuncs.com".into());
        assert_eq!(reason(&o), "InvalidEndpoint");

        // Overrides need the operator's allow-list; metadata addresses never pass.
        let allowed = Guards {
            allowed_endpoints: AllowedEndpoints::parse(&["http://127.0.0.1:18080"]).unwrap(),
            ..Guards::default()
        };
        let mut o = obj();
        o.spec.endpoint = Some("http://127.0.0.1:18080".into());
        assert_eq!(reason(&o), "EndpointNotAllowed");
        assert!(validate(&o, &allowed).is_ok());
        for (field, url) in [
            ("spec.endpoint", "http://127.0.0.2:18080"),
            ("spec.endpoint", "http://169.254.169.254"),
            ("spec.endpoints.sts", "http://100.100.100.200"),
        ] {
            let mut o = obj();
            if field == "spec.endpoint" {
                o.spec.endpoint = Some(url.into());
            } else {
                o.spec.endpoints = Some(crate::crd::EndpointsSpec {
                    sts: Some(url.into()),
                    ..Default::default()
                });
            }
            let b = validate(&o, &allowed).unwrap_err();
            assert_eq!(b.reason, BlockReason::EndpointNotAllowed, "{url}");
            assert!(b.message.starts_with(field), "{}", b.message);
        }

        let mut o = obj();
        o.spec.mode = Mode::Delete;
        o.spec.ram.kinds = Some(vec![Kind::Users]);
        assert_eq!(reason(&o), "KindsNarrowedForDelete");
    }
}
