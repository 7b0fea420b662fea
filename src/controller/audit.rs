//! The audit record: one ConfigMap per `AccountDeletion` (`<name>-audit`, owned by it, so it goes
//! away with it) listing every mutating call with time, action, target, result and Alibaba
//! RequestId, for compliance reviews and ActionTrail lookups. Bounded: the oldest lines are dropped
//! beyond [`MAX_BYTES`], and a counter says how many.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::AccountDeletion;
use crate::plan::execute::AuditEntry;

/// Size cap of the log in the ConfigMap (well under the 1 MiB object limit).
pub const MAX_BYTES: usize = 512 * 1024;

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
            api.replace(&name, &PostParams::default(), &cm).await?;
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(ns),
                    owner_references: obj.controller_owner_ref(&()).map(|o| vec![o]),
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
