//! What the reconciler needs from Alibaba Cloud, as a trait: the management account's
//! ResourceManager calls and a way into the member (STS AssumeRole). The signed client implements
//! it (`aliyun_directory.rs`); unit tests implement it in memory around `plan::fake`.

use std::future::Future;

use crate::crd::{CheckItem, FailReason};
use ado_core::{CallError, PlanApi};

ado_core::wire_enum! {
    /// `MemberDeletionStatus` of the directory.
    MemberDeletion {
        /// Members may be deleted.
        Enabled = "Enabled",
        /// Member deletion is switched off.
        Disabled = "Disabled",
    }
}

ado_core::wire_enum! {
    /// `Type` of a member account.
    AccountType {
        /// Created in the directory: deletable.
        ResourceAccount = "ResourceAccount",
        /// Invited: can only be removed from the directory.
        CloudAccount = "CloudAccount",
    }
}

ado_core::wire_enum! {
    /// `Status` of a deletion pre-check.
    CheckState {
        /// Still running.
        PreChecking = "PreChecking",
        /// Done: the result is final.
        PreCheckComplete = "PreCheckComplete",
    }
}

ado_core::wire_enum! {
    /// `Status` of an account deletion.
    DeletionState {
        /// ResourceManager checks again before deleting.
        Checking = "Checking",
        /// Being deleted (or in its silence period).
        Deleting = "Deleting",
        /// Deleted.
        Success = "Success",
        /// The final check failed.
        CheckFailed = "CheckFailed",
        /// The deletion failed.
        DeleteFailed = "DeleteFailed",
    }
}

impl DeletionState {
    /// The deletion ended without deleting the account (the user may fix and retry).
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self, DeletionState::CheckFailed | DeletionState::DeleteFailed)
    }
}

/// `GetResourceDirectory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryInfo {
    /// Resource directory id.
    pub id: String,
    /// The management account (never deleted by this operator).
    pub management_account_id: String,
    /// Whether members may be deleted.
    pub member_deletion_status: MemberDeletion,
}

/// `GetAccount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// `DisplayName`.
    pub display_name: String,
    /// `ResourceAccount` or `CloudAccount`.
    pub account_type: AccountType,
    /// `CreateSuccess`, `InviteSuccess`, ...
    pub status: String,
}

/// `GetAccountDeletionCheckResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// `PreChecking` or `PreCheckComplete`.
    pub status: CheckState,
    /// `AllowDelete` (parsed from the string).
    pub allow_delete: bool,
    /// `NotAllowReason`.
    pub blocking: Vec<CheckItem>,
    /// `AbandonableChecks`.
    pub abandonable: Vec<CheckItem>,
}

/// `GetAccountDeletionStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletionStatusInfo {
    /// `Checking`, `Deleting`, `Success`, `CheckFailed`, `DeleteFailed`.
    pub status: DeletionState,
    /// `0` direct, `1` silence period.
    pub deletion_type: Option<i64>,
    /// `CreateTime`.
    pub create_time: Option<String>,
    /// `DeletionTime`.
    pub deletion_time: Option<String>,
    /// `FailReasonList`.
    pub fail_reasons: Vec<FailReason>,
}

/// The calls made with the management account's credentials.
pub trait Directory: Send + Sync {
    /// Error type of every call.
    type Error: CallError;
    /// A client signed in to one member account.
    type Member: PlanApi<Error = Self::Error> + Send + Sync;

    /// `GetResourceDirectory`.
    fn resource_directory(&self) -> impl Future<Output = Result<DirectoryInfo, Self::Error>> + Send;
    /// `GetAccount` (`EntityNotExists.Account` when the id is not a member).
    fn get_account(&self, account_id: &str) -> impl Future<Output = Result<AccountInfo, Self::Error>> + Send;
    /// `CheckAccountDelete`: starts a pre-check; deletes nothing.
    fn check_account_delete(&self, account_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `GetAccountDeletionCheckResult` (`EntityNotExists.CheckAccount` when none was started).
    fn deletion_check_result(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<CheckResult, Self::Error>> + Send;
    /// `DeleteAccount`; returns `DeletionType` and the RequestId (for the audit record).
    fn delete_account(
        &self,
        account_id: &str,
        abandonable_check_ids: &[String],
    ) -> impl Future<Output = Result<(Option<i64>, Option<String>), Self::Error>> + Send;
    /// `GetAccountDeletionStatus` (`EntityNotExists.CheckAccount` when no deletion was requested).
    fn deletion_status(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<DeletionStatusInfo, Self::Error>> + Send;
    /// STS `AssumeRole` into `acs:ram::<account_id>:role/<role>` (cached by the implementation).
    fn member(
        &self,
        account_id: &str,
        role: &str,
    ) -> impl Future<Output = Result<std::sync::Arc<Self::Member>, Self::Error>> + Send;
}

/// Error codes meaning "no check / no deletion task for this account yet".
#[must_use]
pub fn is_no_task(code: &str) -> bool {
    code == "EntityNotExists.CheckAccount"
}
