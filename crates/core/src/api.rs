//! The narrow seam between the planner and Alibaba Cloud: the read calls discovery needs and one
//! `apply` per [`Action`]. The signed client implements it (`plan::client`); tests and the
//! controller's unit tests can use the in-memory [`super::fake::FakeAccount`], which enforces the
//! RAM conflict rules of alibaba-api.md §4.3.

use std::future::Future;

use ado_aliyun::error::ErrorClass;
use serde::{Deserialize, Serialize};

use super::action::Action;
use super::model::{CustomPolicy, PolicyRef, PolicyType, PrincipalKind, VirtualMfaDevice};

/// What the executor and the report need to know about a failed call, whatever the client's
/// error type is.
pub trait CallError: std::error::Error + Send + Sync + 'static {
    /// True for `EntityNotExist*` / 404: on a delete it means the work is already done.
    fn is_not_found(&self) -> bool;
    /// Alibaba error code (`DeleteConflict.User.Group`), or a local code for transport errors.
    fn code(&self) -> &str;
    /// Alibaba error message.
    fn message(&self) -> &str;
    /// RequestId, for ActionTrail and support tickets.
    fn request_id(&self) -> Option<&str>;
    /// What kind of failure this is: the one classification of Alibaba errors, used by the
    /// executor, the reconciler and the metrics alike.
    fn class(&self) -> ErrorClass;
}

/// A user as listed (IMS `ListUsers` with `Status=active,freeze`, so frozen users are visible).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedUser {
    /// RAM user name.
    pub name: String,
    /// `UserId`.
    pub id: Option<String>,
    /// `UserPrincipalName`.
    pub upn: Option<String>,
    /// Frozen (`Status=freeze`).
    pub frozen: bool,
}

/// A role as listed (`ListRoles`): the id is what identifies it, whatever the name's spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRole {
    /// `RoleName`.
    pub name: String,
    /// `RoleId`, when the listing gave one.
    pub id: Option<String>,
}

/// The role a member session really is (STS `AssumedRoleUser`): the planner never touches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRole {
    /// The account the session is in (from the ARN).
    pub account_id: String,
    /// `RoleId`.
    pub role_id: String,
    /// The role name as the service spelled it in the session ARN.
    pub role_name: String,
}

/// An OAuth application as listed (enterprise, or installed: internal ServerApp or third-party).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedApplication {
    /// `AppId`.
    pub id: String,
    /// `AppName`.
    pub name: String,
}

/// A service credential as listed account-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedCredential {
    /// `ServiceCredentialId`.
    pub id: String,
    /// The owner's UPN.
    pub upn: String,
}

/// Which installed applications to list (`ListApplicationProvisionInfos SourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppSource {
    /// `inner`: this account's own installed ServerApps.
    Inner,
    /// `external`: third-party applications installed here.
    External,
}

/// The counters of IMS `GetAccountSummary` the convergence check uses (alibaba-api.md §10.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryCounts {
    /// RAM users.
    pub users: Option<u64>,
    /// Groups.
    pub groups: Option<u64>,
    /// Roles (service-linked ones included).
    pub roles: Option<u64>,
    /// Custom policies.
    pub policies: Option<u64>,
    /// Virtual MFA devices.
    pub mfa_devices: Option<u64>,
}

/// A user in the IMS recycle bin as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRecycledUser {
    /// `UserId`.
    pub id: String,
    /// `UserPrincipalName`.
    pub upn: String,
}

/// Result of a successful mutating call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// RequestId of the call.
    pub request_id: String,
    /// `DeletionTaskId` for asynchronous calls (`DeleteServiceLinkedRole`).
    pub task_id: Option<String>,
}

/// Where a service-linked role is still used (`Reason.RoleUsages.RoleUsage[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoleUsage {
    /// Region (`global`, `cn-hangzhou`).
    pub region: String,
    /// Resource ARNs.
    pub resources: Vec<String>,
}

crate::wire_enum! {
    /// Where a service-linked role deletion task stands, as `GetServiceLinkedRoleDeletionStatus`
    /// spells it (`UNKNOWN`: the operator's own, when the poll itself failed). Parsed once at the
    /// client.
    SlrPhase {
        /// `NOT_STARTED`.
        NotStarted = "NOT_STARTED",
        /// `IN_PROGRESS`.
        InProgress = "IN_PROGRESS",
        /// `SUCCEEDED`: the role is gone.
        Succeeded = "SUCCEEDED",
        /// `FAILED`: the role is in use.
        Failed = "FAILED",
        /// `INTERNAL_ERROR`.
        InternalError = "INTERNAL_ERROR",
        /// `UNKNOWN`: the poll failed; poll again.
        Unknown = "UNKNOWN",
    }
}

impl SlrPhase {
    /// Not finished: keep the task and poll it again.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        matches!(
            self,
            SlrPhase::InProgress | SlrPhase::NotStarted | SlrPhase::Unknown
        )
    }

    /// Ended without deleting the role.
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self, SlrPhase::Failed | SlrPhase::InternalError)
    }
}

/// `GetServiceLinkedRoleDeletionStatus` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlrStatus {
    /// Where the task stands.
    pub status: SlrPhase,
    /// `Reason.Message` on failure.
    pub reason: Option<String>,
    /// `Reason.RoleUsages` on failure.
    pub usages: Vec<RoleUsage>,
}

/// The calls the planner makes in one member account (through the access role).
///
/// List methods return complete lists (the implementation pages with the largest page size).
pub trait PlanApi: Sync {
    /// The client's error type.
    type Error: CallError;

    /// All users, active and frozen.
    fn list_users(&self) -> impl Future<Output = Result<Vec<ListedUser>, Self::Error>> + Send;
    /// AccessKey ids of `user`.
    fn list_access_keys(&self, user: &str) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// Whether `user` has a console login profile (a 404 from `GetLoginProfile` is `false`).
    fn has_login_profile(&self, user: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Policies attached to `user`.
    fn list_policies_for_user(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<PolicyRef>, Self::Error>> + Send;
    /// All group names.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// Member user names of `group`.
    fn list_users_for_group(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// Policies attached to `group`.
    fn list_policies_for_group(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<PolicyRef>, Self::Error>> + Send;
    /// All roles, service-linked ones included.
    fn list_roles(&self) -> impl Future<Output = Result<Vec<ListedRole>, Self::Error>> + Send;
    /// Policies attached to `role`.
    fn list_policies_for_role(
        &self,
        role: &str,
    ) -> impl Future<Output = Result<Vec<PolicyRef>, Self::Error>> + Send;
    /// Custom policies with default version and attachment count (`attached_to` left `None`).
    fn list_custom_policies(&self) -> impl Future<Output = Result<Vec<CustomPolicy>, Self::Error>> + Send;
    /// System policies attached to at least one principal, with their `AttachmentCount`: what
    /// decides whether reading attachments per policy is cheaper than per principal.
    fn list_system_policy_attachments(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, u32)>, Self::Error>> + Send;
    /// Principals a policy is attached to.
    fn list_entities_for_policy(
        &self,
        policy: &str,
        policy_type: PolicyType,
    ) -> impl Future<Output = Result<Vec<(PrincipalKind, String)>, Self::Error>> + Send;
    /// Virtual MFA devices with the user name they are bound to.
    fn list_virtual_mfa_devices(
        &self,
    ) -> impl Future<Output = Result<Vec<VirtualMfaDevice>, Self::Error>> + Send;
    /// SAML provider names.
    fn list_saml_providers(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// OIDC provider names.
    fn list_oidc_providers(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// The current default domain.
    fn get_default_domain(&self) -> impl Future<Output = Result<String, Self::Error>> + Send;
    /// Users in the IMS recycle bin.
    fn list_users_in_recycle_bin(
        &self,
    ) -> impl Future<Output = Result<Vec<ListedRecycledUser>, Self::Error>> + Send;
    /// AccessKey ids recycled with the user `user_id`.
    fn list_access_keys_in_recycle_bin(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;

    /// Which role this member session is (`None` when the implementation cannot tell: then the
    /// caller must not plan role changes by name alone).
    fn session_role(&self) -> impl Future<Output = Result<Option<SessionRole>, Self::Error>> + Send {
        async { Ok(None) }
    }

    /// Every service credential of every user (one account-wide listing).
    fn list_service_credentials(
        &self,
    ) -> impl Future<Output = Result<Vec<ListedCredential>, Self::Error>> + Send;
    /// Passkey ids of the user `upn` (one call per user: only asked for when needed).
    fn list_passkeys(&self, upn: &str) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// Enterprise OAuth applications of the account.
    fn list_applications(&self) -> impl Future<Output = Result<Vec<ListedApplication>, Self::Error>> + Send;
    /// Secret ids of one application.
    fn list_app_secret_ids(
        &self,
        app_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    /// Installed applications of one source.
    fn list_provisioned_applications(
        &self,
        source: AppSource,
    ) -> impl Future<Output = Result<Vec<ListedApplication>, Self::Error>> + Send;
    /// The account summary counters (`None` when the implementation has none).
    fn account_summary(&self) -> impl Future<Output = Result<Option<SummaryCounts>, Self::Error>> + Send {
        async { Ok(None) }
    }

    /// Performs one mutating call.
    fn apply(&self, action: &Action) -> impl Future<Output = Result<Applied, Self::Error>> + Send;
    /// Reads a service-linked role deletion task.
    fn slr_deletion_status(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<SlrStatus, Self::Error>> + Send;
    /// The last deletion task the service knows for a service-linked role (`GetRole`
    /// `LatestDeletionTask`), so a task started by a process that crashed before recording it is
    /// polled instead of started again. `None` when the API cannot tell; a not-found error when the
    /// role itself is gone (its deletion finished).
    fn latest_slr_task(
        &self,
        role: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send {
        let _ = role;
        async { Ok(None) }
    }
}
