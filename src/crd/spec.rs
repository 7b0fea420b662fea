//! `spec`: what the user asks for. Everything is safe by default: `mode` defaults to `Plan`, every
//! kind is emptied only when selected, and retained names are never touched.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use ado_core::{Kind, RetainSpec};

/// The operator's default access role in member accounts (created by Resource Directory).
pub const DEFAULT_ACCESS_ROLE: &str = ado_core::DEFAULT_ACCESS_ROLE;

/// Empties and optionally deletes one Resource Directory member account.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "accountdeletion.dev",
    version = "v1alpha1",
    kind = "AccountDeletion",
    namespaced,
    shortname = "acd",
    status = "crate::crd::status::AccountDeletionStatus",
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".spec.accountId"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Emptied","type":"string","jsonPath":".status.progress.display"}"#,
    printcolumn = r#"{"name":"Remaining","type":"integer","jsonPath":".status.plan.actions"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeletionSpec {
    /// The member account to empty (16 digits). Cannot change once work has started.
    #[schemars(regex(pattern = r"^[0-9]{16}$"))]
    pub account_id: String,
    /// Must equal the live account's display name before anything is deleted: a second,
    /// independent identifier that catches a mistyped `accountId`.
    #[schemars(length(min = 1))]
    pub account_display_name: String,
    /// `Plan` (default: inventory, diff and deletion pre-check; nothing changes), `PurgeRam`
    /// (empty RAM, keep the account) or `Delete` (empty RAM, then delete the account).
    #[serde(default)]
    pub mode: Mode,
    /// Secret in this namespace with the management account's `accessKeyId`, `accessKeySecret`
    /// and optional `securityToken`.
    pub credentials_secret_ref: SecretRef,
    /// Role assumed in the member through STS; always retained until the account is deleted.
    #[serde(default = "default_access_role")]
    pub access_role_name: String,
    /// One base URL for all four APIs (the emulator, a proxy). Overrides the public endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Per-product endpoint overrides (take precedence over `endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<EndpointsSpec>,
    /// Which RAM kinds to empty and what to keep.
    #[serde(default)]
    pub ram: RamSpec,
    /// Account deletion settings (`mode: Delete`).
    #[serde(default)]
    pub deletion: DeletionSpec,
    /// RFC 3339 time before which no mutating call is made: a cancellation window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Stops all calls to Alibaba Cloud until cleared; status is kept.
    #[serde(default)]
    pub suspend: bool,
    /// When set, execution runs only while the live plan hashes to this value; a plan that changed
    /// waits for re-approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_plan_hash: Option<String>,
    /// The audit record (`<name>-audit` ConfigMaps).
    #[serde(default)]
    pub audit: AuditSpec,
}

/// `spec.audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    /// Delete the audit record together with this object (owner references). By default the
    /// record outlives the object: auditors need it after the account is gone.
    #[serde(default)]
    pub delete_with_object: bool,
}

fn default_access_role() -> String {
    DEFAULT_ACCESS_ROLE.to_string()
}

/// What the operator may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Inventory, diff and deletion pre-check only; nothing changes.
    #[default]
    Plan,
    /// Empty RAM of the selected kinds; keep the account.
    PurgeRam,
    /// Empty RAM, then delete the account through ResourceManager.
    Delete,
}

impl Mode {
    /// The value as written in the spec.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plan => "Plan",
            Mode::PurgeRam => "PurgeRam",
            Mode::Delete => "Delete",
        }
    }
}

/// A Secret in the resource's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Per-product base URLs (`https://ram.aliyuncs.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointsSpec {
    /// RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram: Option<String>,
    /// IMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ims: Option<String>,
    /// ResourceManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_manager: Option<String>,
    /// STS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts: Option<String>,
}

/// `spec.ram`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RamSpec {
    /// Kinds to empty; absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<Kind>>,
    /// Names or glob patterns (`*`, `?`, `[a-z]`) per kind that are never touched.
    #[serde(default)]
    pub retain: RetainSpec,
}

impl RamSpec {
    /// The selected kinds (all when absent).
    #[must_use]
    pub fn selected_kinds(&self) -> std::collections::BTreeSet<Kind> {
        match &self.kinds {
            Some(k) => k.iter().copied().collect(),
            None => Kind::ALL.into_iter().collect(),
        }
    }
}

/// `spec.deletion`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionSpec {
    /// Abandonable check ids the user waives (`CheckAccountDelete` → `AbandonableChecks`). Nothing
    /// is waived implicitly.
    #[serde(default)]
    pub abandonable_check_ids: Vec<String>,
}
