//! The audit record: one ConfigMap per `AccountDeletion` (`<name>-audit`) listing every mutating
//! call with time, action, target, result and Alibaba RequestId, for compliance reviews and
//! ActionTrail lookups. Bounded: the oldest lines are dropped beyond [`MAX_BYTES`], and a counter
//! says how many.
//!
//! The record outlives its `AccountDeletion` (an auditor asks about an account after the object
//! that deleted it is gone): it carries no owner reference, so Kubernetes' garbage collector keeps
//! it. Annotating the object with [`RETENTION_ANNOTATION`]`: DeleteWithObject` opts out: the record
//! is then owned by the object and deleted with it. The choice is applied at every write.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::AccountDeletion;
use crate::plan::execute::AuditEntry;

/// Size cap of the log in the ConfigMap (well under the 1 MiB object limit).
pub const MAX_BYTES: usize = 512 * 1024;

/// Annotation on an `AccountDeletion` choosing what happens to its audit record when the object is
/// deleted: `Retain` (default, also for any other value) or `DeleteWithObject`.
pub const RETENTION_ANNOTATION: &str = "accountdeletion.dev/audit-retention";

/// The owner reference the record gets: only with `DeleteWithObject`.
fn owner_references(
    obj: &AccountDeletion,
) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>> {
    let opted_out = obj
        .annotations()
        .get(RETENTION_ANNOTATION)
        .is_some_and(|v| v == "DeleteWithObject");
    if opted_out {
        obj.controller_owner_ref(&()).map(|o| vec![o])
    } else {
        None
    }
}

/// The ConfigMap's name for an object.
#[must_use]
pub fn name_for(obj: &AccountDeletion) -> String {
    format!("{}-audit", obj.name_any())
}

fn line(e: &AuditEntry) -> String {
    format!(
        "{} {} {} {} {}\n",
        e.time,
        e.action,
        e.target,
        e.result,
        e.request_id.as_deref().unwrap_or("-")
    )
}

/// Appends entries, trimming the oldest lines beyond the cap.
///
/// # Errors
/// The Kubernetes API refused the read or write.
pub async fn append(
    client: &Client,
    obj: &AccountDeletion,
    entries: &[AuditEntry],
) -> Result<(), kube::Error> {
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let name = name_for(obj);
    let existing = api.get_opt(&name).await?;
    let mut data = existing.as_ref().and_then(|c| c.data.clone()).unwrap_or_default();
    let mut log = data.remove("audit.log").unwrap_or_default();
    for e in entries {
        log.push_str(&line(e));
    }
    let mut dropped: u64 = data.get("dropped").and_then(|d| d.parse().ok()).unwrap_or(0);
    while log.len() > MAX_BYTES {
        match log.find('\n') {
            Some(i) => {
                log.drain(..=i);
                dropped += 1;
            }
            None => break,
        }
    }
    let total: u64 = data.get("calls").and_then(|d| d.parse().ok()).unwrap_or(0) + entries.len() as u64;
    let mut new_data = BTreeMap::new();
    new_data.insert("audit.log".to_string(), log);
    new_data.insert("calls".to_string(), total.to_string());
    new_data.insert("dropped".to_string(), dropped.to_string());
    new_data.insert("accountId".to_string(), obj.spec.account_id.clone());
    new_data.insert(
        "format".to_string(),
        "time action target result requestId".to_string(),
    );
    match existing {
        Some(mut cm) => {
            cm.data = Some(new_data);
            cm.metadata.owner_references = owner_references(obj);
            api.replace(&name, &PostParams::default(), &cm).await?;
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(ns),
                    owner_references: owner_references(obj),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_string(),
                        "account-deletion-operator".to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(new_data),
                ..Default::default()
            };
            api.create(&PostParams::default(), &cm).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(annotation: Option<&str>) -> AccountDeletion {
        let mut o: AccountDeletion = serde_json::from_value(serde_json::json!({
            "apiVersion": "accountdeletion.dev/v1alpha1", "kind": "AccountDeletion",
            "metadata": {"name": "legacy", "namespace": "ns", "uid": "5f1c2a36-0000-4000-8000-000000000001"},
            "spec": {"accountId": "2000000000000001", "accountDisplayName": "legacy",
                     "credentialsSecretRef": {"name": "k"}}
        }))
        .unwrap();
        if let Some(a) = annotation {
            o.annotations_mut().insert(RETENTION_ANNOTATION.into(), a.into());
        }
        o
    }

    #[test]
    fn the_record_is_not_owned_by_default_so_it_outlives_the_object() {
        assert_eq!(owner_references(&obj(None)), None);
        assert_eq!(owner_references(&obj(Some("Retain"))), None);
        assert_eq!(
            owner_references(&obj(Some("deletewithobject"))),
            None,
            "values are exact"
        );
    }

    #[test]
    fn delete_with_object_makes_the_object_its_controlling_owner() {
        let refs = owner_references(&obj(Some("DeleteWithObject"))).expect("owner reference");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "AccountDeletion");
        assert_eq!(refs[0].name, "legacy");
        assert_eq!(refs[0].uid, "5f1c2a36-0000-4000-8000-000000000001");
        assert_eq!(refs[0].controller, Some(true));
    }
}
