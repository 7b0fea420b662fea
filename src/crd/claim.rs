//! `AccountClaim` (`accountdeletion.dev/v1alpha1`, cluster-scoped): which `AccountDeletion` owns a
//! member account. Exactly one object may make mutating calls for an account at a time, across
//! namespaces, restarts, leader changes and several releases of the operator; the claim is the
//! durable rule. It is named after the account (`account-<id>`), created by the first object that
//! is about to change the account (creation is atomic: the API server refuses a second one), and
//! deleted when its owner is deleted or the account is deleted.
//!
//! Objects refused by a claim record themselves in `spec.waiting`, so the owner also keeps what
//! they retain and does not delete an account another object only wants emptied.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::Mode;
use ado_core::RetainSpec;

/// The owner of a member account and the objects waiting for it.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "accountdeletion.dev",
    version = "v1alpha1",
    kind = "AccountClaim",
    shortname = "acdclaim",
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".spec.accountId"}"#,
    printcolumn = r#"{"name":"Owner-Namespace","type":"string","jsonPath":".spec.owner.namespace"}"#,
    printcolumn = r#"{"name":"Owner","type":"string","jsonPath":".spec.owner.name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AccountClaimSpec {
    /// The member account (16 digits).
    #[schemars(regex(pattern = r"^[0-9]{16}$"))]
    pub account_id: String,
    /// The `AccountDeletion` that may change the account.
    pub owner: ClaimHolder,
    /// Other `AccountDeletion` objects naming the same account, refused while the owner exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<ClaimWaiter>,
}

/// An `AccountDeletion` by identity (a re-created object with the same name is another object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimHolder {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// When the claim was taken (RFC 3339).
    pub since: String,
}

impl ClaimHolder {
    /// `namespace/name`, as messages show it.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// An object refused by the claim, with what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimWaiter {
    /// Who.
    #[serde(flatten)]
    pub object: ClaimHolder,
    /// Its `spec.mode`: the owner does not delete the account while a waiter wants it kept.
    pub mode: Mode,
    /// Its `spec.ram.retain`: the owner keeps these too.
    #[serde(default)]
    pub retain: RetainSpec,
}

/// The claim's object name for an account.
#[must_use]
pub fn claim_name(account_id: &str) -> String {
    format!("account-{account_id}")
}
