//! `status`: everything a platform engineer needs from `kubectl get -o yaml` — where the account
//! is, what is left, what was done, and why it stopped.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Inventory and plan written; nothing changed (mode `Plan`).
    Planned,
    /// Deleting RAM objects.
    PurgingRam,
    /// The selected RAM kinds are empty (mode `PurgeRam` ends here).
    RamEmpty,
    /// ResourceManager deletion check running.
    CheckingDeletion,
    /// Something the operator cannot resolve alone; the `Stalled` condition says what and how.
    Blocked,
    /// `DeleteAccount` accepted; ResourceManager is deleting.
    Deleting,
    /// Deletion type 1: the account is in its silence period before it is released.
    SilencePeriod,
    /// The account is deleted. Terminal.
    Deleted,
    /// ResourceManager reported the deletion failed (`failReasons`).
    Failed,
}

impl Phase {
    /// The value as shown in status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Planned => "Planned",
            Phase::PurgingRam => "PurgingRam",
            Phase::RamEmpty => "RamEmpty",
            Phase::CheckingDeletion => "CheckingDeletion",
            Phase::Blocked => "Blocked",
            Phase::Deleting => "Deleting",
            Phase::SilencePeriod => "SilencePeriod",
            Phase::Deleted => "Deleted",
            Phase::Failed => "Failed",
        }
    }

    /// Order used to assert that status never goes backwards (Blocked/Failed are side states).
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Phase::Planned | Phase::Blocked | Phase::Failed => 0,
            Phase::PurgingRam => 1,
            Phase::RamEmpty => 2,
            Phase::CheckingDeletion => 3,
            Phase::Deleting | Phase::SilencePeriod => 4,
            Phase::Deleted => 5,
        }
    }
}

/// Observed status of the resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeletionStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled` (kstatus) and `RamEmpty`, `DeletionAllowed`, `Deleted`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// One sentence: what is happening or what the user must do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The account id work started on; `spec.accountId` may not change afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_account_id: Option<String>,
    /// The live account as ResourceManager reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<ObservedAccount>,
    /// Live RAM objects per kind at the last inventory.
    #[serde(default)]
    pub inventory: BTreeMap<String, u64>,
    /// When the last inventory ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_time: Option<String>,
    /// The plan from the last inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
    /// When an inventory first found the selected kinds empty; RAM counts as empty only when a
    /// second inventory some seconds later agrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_observed_time: Option<String>,
    /// The plan the user approved with `spec.approvedPlanHash`: later passes may only shrink it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_plan: Option<ApprovedPlan>,
    /// Objects deleted so far per kind (cumulative across passes).
    #[serde(default)]
    pub deleted: BTreeMap<String, u64>,
    /// Objects deliberately kept (`kind/name`), retained by pattern or needed by retained ones.
    #[serde(default)]
    pub retained: Vec<String>,
    /// Service-linked role deletion tasks; a restart polls these instead of deleting again.
    #[serde(default)]
    pub service_linked_role_tasks: Vec<SlrTaskStatus>,
    /// The ResourceManager deletion check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_check: Option<DeletionCheckStatus>,
    /// When `DeleteAccount` was accepted (it is never called twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_requested_time: Option<String>,
    /// `GetAccountDeletionStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionResult>,
    /// How much of the account's RAM is emptied (`kubectl get acd` column `Emptied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Users the service refused to delete because of their passkeys: the next inventory lists
    /// their passkeys (one call per user) so the plan deletes them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users_with_passkeys: Vec<String>,
    /// The last Alibaba Cloud error and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<AlibabaErrorStatus>,
}

/// The live member account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAccount {
    /// `DisplayName`.
    pub display_name: String,
    /// `ResourceAccount` or `CloudAccount`.
    pub account_type: String,
    /// `CreateSuccess`, `InviteSuccess`, ...
    pub status: String,
}

/// Summary of the current plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// What `spec.approvedPlanHash` must name to approve this plan.
    pub hash: String,
    /// Calls left to make.
    pub actions: u64,
    /// Top-level objects left to delete, per kind.
    #[serde(default)]
    pub remaining: BTreeMap<String, u64>,
    /// The first calls in execution order, in plain words.
    #[serde(default)]
    pub first: Vec<String>,
    /// Objects of selected kinds that stay, with the reason.
    #[serde(default)]
    pub kept: Vec<String>,
}

/// The objects of an approved plan, so a plan that grew is caught even after part of it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovedPlan {
    /// The approved hash.
    pub hash: String,
    /// Objects the approved plan touches.
    pub objects: u64,
    /// Sorted 32-bit digests of those objects (`kind/name`), base64: compact and order-free.
    pub digest: String,
}

/// One service-linked role deletion task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlrTaskStatus {
    /// Role name.
    pub role: String,
    /// `DeletionTaskId`.
    pub task_id: String,
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, ...
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Resources still using the role (`region: arn, arn`).
    #[serde(default)]
    pub used_by: Vec<String>,
}

/// `GetAccountDeletionCheckResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionCheckStatus {
    /// `PreChecking` or `PreCheckComplete`.
    pub status: String,
    /// `AllowDelete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_delete: Option<bool>,
    /// When the check was started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_time: Option<String>,
    /// Checks that block deletion (`NotAllowReason`).
    #[serde(default)]
    pub blocking: Vec<CheckItem>,
    /// Checks the user may waive in `spec.deletion.abandonableCheckIds`.
    #[serde(default)]
    pub abandonable: Vec<CheckItem>,
}

/// One deletion check item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckItem {
    /// `CheckId`.
    pub check_id: String,
    /// `CheckName`.
    pub check_name: String,
    /// `Description`.
    #[serde(default)]
    pub description: String,
}

/// `GetAccountDeletionStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionResult {
    /// `Deleting`, `Success`, `DeleteFailed`.
    pub status: String,
    /// `0` direct deletion, `1` silence period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_type: Option<i64>,
    /// The deletion type in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_type_description: Option<String>,
    /// `CreateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// `DeletionTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_time: Option<String>,
    /// For a silence period: when it is expected to end: `DeletionTime` when ResourceManager gives
    /// it, else an estimate, `CreateTime` + the documented 45 days (`message` says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_completion_time: Option<String>,
    /// `FailReasonList`.
    #[serde(default)]
    pub fail_reasons: Vec<FailReason>,
}

/// One deletion failure reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailReason {
    /// `Name`.
    pub name: String,
    /// `Description`.
    #[serde(default)]
    pub description: String,
}

/// The last error answered by Alibaba Cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlibabaErrorStatus {
    /// The API action that failed.
    pub action: String,
    /// Alibaba error code.
    pub code: String,
    /// Alibaba error message.
    pub message: String,
    /// RequestId (quote it to Alibaba support).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What the user can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// When it happened.
    pub time: String,
}

/// Progress of emptying RAM: objects deleted so far against those plus what the latest plan still
/// deletes (retained objects count in neither).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Whole percent emptied.
    pub percent: u32,
    /// `percent` with a `%` sign, for the printer column.
    pub display: String,
    /// Top-level objects deleted so far.
    pub deleted: u64,
    /// `deleted` plus what is left to delete.
    pub total: u64,
    /// The last milestone (25, 50, 75, 100) announced by an Event.
    #[serde(default)]
    pub milestone: u32,
}
