//! ResourceManager 2020-03-31 (§6): the Resource Directory, member accounts, the member deletion
//! flow (pre-check → delete → status) and service-linked-role deletion tasks.

use serde::Deserialize;

use super::client::{AliyunClient, params};
use super::error::AliyunError;
use super::pagination::{NumberedPage, Wrapped, collect_numbered, lenient};
use super::product::Product;

const P: Product = Product::ResourceManager;

/// `GetResourceDirectory.ResourceDirectory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceDirectory {
    /// `rd-…`.
    pub resource_directory_id: String,
    /// Root folder `r-…`.
    pub root_folder_id: String,
    /// Management account id.
    #[serde(deserialize_with = "lenient::string")]
    pub master_account_id: String,
    /// Management account name.
    pub master_account_name: String,
    /// `Enabled` / `Disabled`.
    pub member_deletion_status: String,
    /// Control policy state.
    pub control_policy_status: String,
    /// Creation time.
    pub create_time: String,
}

/// A tag (`{Key, Value}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `GetAccount.Account` / `ListAccounts` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Account {
    /// 16-digit id.
    #[serde(deserialize_with = "lenient::string")]
    pub account_id: String,
    /// Display name.
    pub display_name: String,
    /// `ResourceAccount` / `CloudAccount`.
    #[serde(rename = "Type")]
    pub account_type: String,
    /// `CreateSuccess`, `InviteSuccess`, …
    pub status: String,
    /// Folder.
    pub folder_id: String,
    /// `created` / `invited`.
    pub join_method: String,
    /// Join time.
    pub join_time: String,
    /// RD path.
    pub resource_directory_path: String,
    /// Tags (`GetAccount`: plain array; `ListAccounts`: `Tags.Tag[]`).
    pub tags: Wrapped<Tag>,
}

/// A deletion check item (`NotAllowReason[]` / `AbandonableChecks[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckItem {
    /// `NON_SP_efc`…
    pub check_id: String,
    /// Service name.
    pub check_name: String,
    /// Description.
    pub description: String,
}

/// `GetAccountDeletionCheckResult.AccountDeletionCheckResultInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeletionCheckResult {
    /// `PreChecking` / `PreCheckComplete`.
    pub status: String,
    /// `AllowDelete` (a string on the wire).
    #[serde(deserialize_with = "lenient::bool")]
    pub allow_delete: bool,
    /// Blocking checks.
    pub not_allow_reason: Wrapped<CheckItem>,
    /// Checks the caller may waive.
    pub abandonable_checks: Wrapped<CheckItem>,
}

/// A deletion failure reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FailReason {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// `GetAccountDeletionStatus.RdAccountDeletionStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeletionStatus {
    /// Account id.
    #[serde(deserialize_with = "lenient::string")]
    pub account_id: String,
    /// `Checking`, `Deleting`, `Success`, `CheckFailed`, `DeleteFailed`.
    pub status: String,
    /// `0` direct, `1` silence period (string or number on the wire).
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub deletion_type: Option<i64>,
    /// Start.
    pub create_time: Option<String>,
    /// End.
    pub deletion_time: Option<String>,
    /// Why it failed.
    pub fail_reason_list: Wrapped<FailReason>,
}

/// `DeleteAccount` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteAccountResult {
    /// RequestId.
    pub request_id: String,
    /// `0` / `1`.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub deletion_type: Option<i64>,
}

/// A resource that still uses a service-linked role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleUsage {
    /// Region (`global`).
    pub region: String,
    /// Resource ARNs (`Resources.Resource[]`).
    pub resources: Wrapped<String>,
}

/// `GetServiceLinkedRoleDeletionStatus.Reason`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SlrFailureReason {
    /// Message.
    pub message: String,
    /// Usages (`RoleUsages.RoleUsage[]`).
    pub role_usages: Wrapped<RoleUsage>,
}

/// `GetServiceLinkedRoleDeletionStatus` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SlrDeletionStatus {
    /// RequestId.
    pub request_id: String,
    /// `SUCCEEDED`, `IN_PROGRESS`, `FAILED`, `NOT_STARTED`, `INTERNAL_ERROR`.
    pub status: String,
    /// Failure detail.
    pub reason: Option<SlrFailureReason>,
}

/// `DeleteServiceLinkedRole` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SlrDeletionTask {
    /// RequestId.
    pub request_id: String,
    /// Task id to poll.
    pub deletion_task_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RdAnswer {
    #[serde(rename = "ResourceDirectory")]
    rd: ResourceDirectory,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccountAnswer {
    #[serde(rename = "Account")]
    account: Account,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccountsAnswer {
    #[serde(rename = "Accounts")]
    accounts: Wrapped<Account>,
    #[serde(rename = "TotalCount", deserialize_with = "lenient::i64")]
    total_count: i64,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckAnswer {
    #[serde(rename = "AccountDeletionCheckResultInfo")]
    info: DeletionCheckResult,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusAnswer {
    #[serde(rename = "RdAccountDeletionStatus")]
    status: DeletionStatus,
}

/// The `AbandonableCheckId` wire value: one compact JSON array (§1.2), not `.N` parameters.
#[must_use]
pub fn abandonable_check_ids_param(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_string())
}

/// ResourceManager calls made with a client's credentials.
#[derive(Debug, Clone, Copy)]
pub struct ResourceManager<'a> {
    pub(crate) client: &'a AliyunClient,
}

impl ResourceManager<'_> {
    /// A read whose only parameter is `AccountId`.
    async fn for_account<T: serde::de::DeserializeOwned>(
        self,
        action: &str,
        account_id: &str,
    ) -> Result<T, AliyunError> {
        self.client
            .call(P, action, &params(&[("AccountId", account_id)]))
            .await
    }

    /// `GetResourceDirectory`.
    ///
    /// # Errors
    /// The classified failure (`EntityNotExists.ResourceDirectory`).
    pub async fn get_resource_directory(self) -> Result<ResourceDirectory, AliyunError> {
        let a: RdAnswer = self.client.call(P, "GetResourceDirectory", &[]).await?;
        Ok(a.rd)
    }

    /// `GetAccount`.
    ///
    /// # Errors
    /// The classified failure (`EntityNotExists.Account`).
    pub async fn get_account(self, account_id: &str) -> Result<Account, AliyunError> {
        let a: AccountAnswer = self.for_account("GetAccount", account_id).await?;
        Ok(a.account)
    }

    /// One page of `ListAccounts` (PageSize 1–100).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_accounts_page(
        self,
        page_number: u32,
        page_size: u32,
    ) -> Result<NumberedPage<Account>, AliyunError> {
        let p = params(&[
            ("PageNumber", &page_number.to_string()),
            ("PageSize", &page_size.to_string()),
        ]);
        let a: AccountsAnswer = self.client.call(P, "ListAccounts", &p).await?;
        Ok(NumberedPage {
            items: a.accounts.0,
            total_count: u64::try_from(a.total_count).unwrap_or(0),
        })
    }

    /// Every member account.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_accounts_all(self) -> Result<Vec<Account>, AliyunError> {
        let size = self.client.config().page_size(100);
        collect_numbered(size, |n| async move { self.list_accounts_page(n, size).await }).await
    }

    /// `CheckAccountDelete`: starts the asynchronous pre-check; returns the RequestId.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn check_account_delete(self, account_id: &str) -> Result<String, AliyunError> {
        self.client
            .call_ack(P, "CheckAccountDelete", &params(&[("AccountId", account_id)]))
            .await
    }

    /// `GetAccountDeletionCheckResult` (`EntityNotExists.CheckAccount` when no check ran).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_account_deletion_check_result(
        self,
        account_id: &str,
    ) -> Result<DeletionCheckResult, AliyunError> {
        let a: CheckAnswer = self
            .for_account("GetAccountDeletionCheckResult", account_id)
            .await?;
        Ok(a.info)
    }

    /// `DeleteAccount`, waiving `abandonable_check_ids`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_account(
        self,
        account_id: &str,
        abandonable_check_ids: &[String],
    ) -> Result<DeleteAccountResult, AliyunError> {
        let mut p = params(&[("AccountId", account_id)]);
        if !abandonable_check_ids.is_empty() {
            p.push((
                "AbandonableCheckId".into(),
                abandonable_check_ids_param(abandonable_check_ids),
            ));
        }
        self.client.call(P, "DeleteAccount", &p).await
    }

    /// `GetAccountDeletionStatus`.
    ///
    /// # Errors
    /// The classified failure (`EntityNotExists.CheckAccount` when no deletion was requested).
    pub async fn get_account_deletion_status(self, account_id: &str) -> Result<DeletionStatus, AliyunError> {
        let a: StatusAnswer = self.for_account("GetAccountDeletionStatus", account_id).await?;
        Ok(a.status)
    }

    /// `DeleteServiceLinkedRole` (in the caller's account): starts a deletion task.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_service_linked_role(self, role: &str) -> Result<SlrDeletionTask, AliyunError> {
        self.client
            .call(P, "DeleteServiceLinkedRole", &params(&[("RoleName", role)]))
            .await
    }

    /// `GetServiceLinkedRoleDeletionStatus`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_service_linked_role_deletion_status(
        self,
        task_id: &str,
    ) -> Result<SlrDeletionStatus, AliyunError> {
        self.client
            .call(
                P,
                "GetServiceLinkedRoleDeletionStatus",
                &params(&[("DeletionTaskId", task_id)]),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandonable_ids_are_one_compact_json_array() {
        assert_eq!(
            abandonable_check_ids_param(&["NON_SP_cs".into(), "SP_x".into()]),
            r#"["NON_SP_cs","SP_x"]"#
        );
    }

    #[test]
    fn documented_answers_parse() {
        let a: CheckAnswer = serde_json::from_str(r#"{"RequestId":"54AC","AccountDeletionCheckResultInfo":{"Status":"PreCheckComplete","AllowDelete":"false","NotAllowReason":[{"Description":"d","CheckId":"NON_SP_efc","CheckName":"Enterprise finance"}],"AbandonableChecks":[{"Description":"d","CheckId":"NON_SP_cs","CheckName":"Container Service for Kubernetes"}]}}"#).unwrap();
        assert!(!a.info.allow_delete);
        assert_eq!(a.info.not_allow_reason.0[0].check_id, "NON_SP_efc");
        assert_eq!(a.info.abandonable_checks.0.len(), 1);
        let s: StatusAnswer = serde_json::from_str(r#"{"RdAccountDeletionStatus":{"Status":"Success","AccountId":"169946124551","CreateTime":"2022-08-23T17:05:30+08:00","DeletionTime":"2022-08-23T17:06:01+08:00","FailReasonList":[{"Name":"Others","Description":"x"}],"DeletionType":"0"},"RequestId":"8AA4"}"#).unwrap();
        assert_eq!(s.status.deletion_type, Some(0));
        assert_eq!(s.status.fail_reason_list.0[0].name, "Others");
        let d: DeleteAccountResult = serde_json::from_str(r#"{"RequestId":"r","DeletionType":1}"#).unwrap();
        assert_eq!(d.deletion_type, Some(1));
        let g: AccountAnswer = serde_json::from_str(
            r#"{"Account":{"AccountId":"1234567890123456","Type":"ResourceAccount","Tags":[{"Key":"k","Value":"v"}]}}"#,
        )
        .unwrap();
        assert_eq!(g.account.tags.0[0].key, "k");
        let l: AccountsAnswer = serde_json::from_str(
            r#"{"Accounts":{"Account":[{"AccountId":"1","Tags":{"Tag":[{"Key":"k","Value":"v"}]}}]},"TotalCount":1}"#,
        )
        .unwrap();
        assert_eq!(l.accounts.0[0].tags.0.len(), 1);
        let slr: SlrDeletionStatus = serde_json::from_str(r#"{"RequestId":"r","Status":"FAILED","Reason":{"Message":"in use","RoleUsages":{"RoleUsage":[{"Region":"global","Resources":{"Resource":["acs:hdr:x"]}}]}}}"#).unwrap();
        let r = slr.reason.unwrap();
        assert_eq!(r.role_usages.0[0].resources.0, vec!["acs:hdr:x".to_string()]);
    }
}
