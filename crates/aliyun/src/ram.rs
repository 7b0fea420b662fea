//! RAM 2015-05-01 (§4): the listings discovery needs and the deletes, detaches and unbinds a plan
//! is made of. Users, groups, roles and policies are addressed by name.

use serde::Deserialize;

use super::client::{AliyunClient, params};
use super::error::AliyunError;
use super::pagination::{Wrapped, lenient};
use super::product::Product;

const P: Product = Product::Ram;

/// `ListAccessKeys` item (never a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AccessKeyInfo {
    /// Key id.
    pub access_key_id: String,
    /// `Active` / `Inactive`.
    pub status: String,
    /// Creation time.
    pub create_date: String,
}

/// `GetLoginProfile.LoginProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LoginProfile {
    /// User name.
    #[serde(rename = "UserName")]
    pub user_name: String,
    /// `MFABindRequired`.
    #[serde(rename = "MFABindRequired", deserialize_with = "lenient::bool")]
    pub mfa_bind_required: bool,
    /// `PasswordResetRequired`.
    #[serde(rename = "PasswordResetRequired", deserialize_with = "lenient::bool")]
    pub password_reset_required: bool,
}

/// A policy attached to a principal (`ListPoliciesFor{User,Group,Role}` item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AttachedPolicy {
    /// Policy name.
    pub policy_name: String,
    /// `System` / `Custom`.
    pub policy_type: String,
    /// Default version.
    pub default_version: String,
    /// When it was attached.
    pub attach_date: String,
}

/// `ListGroups` / `ListGroupsForUser` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RamGroup {
    /// Group name.
    pub group_name: String,
    /// Group id.
    #[serde(deserialize_with = "lenient::string")]
    pub group_id: String,
    /// Comments.
    pub comments: String,
}

/// `ListUsersForGroup` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupMember {
    /// User name.
    pub user_name: String,
    /// Display name.
    pub display_name: String,
}

/// `ListRoles` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RamRole {
    /// Role name.
    pub role_name: String,
    /// Role id.
    #[serde(deserialize_with = "lenient::string")]
    pub role_id: String,
    /// ARN.
    pub arn: String,
    /// Description.
    pub description: String,
    /// `MaxSessionDuration` (seconds).
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub max_session_duration: Option<i64>,
}

/// `GetRole.Role.LatestDeletionTask`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeletionTaskRef {
    /// Task id.
    pub deletion_task_id: String,
    /// Start.
    pub create_date: String,
}

/// `GetRole.Role`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleDetail {
    /// Role name.
    pub role_name: String,
    /// ARN.
    pub arn: String,
    /// Trust policy (JSON text).
    pub assume_role_policy_document: String,
    /// True for `AliyunServiceRoleFor*` roles.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_service_linked_role: bool,
    /// `MaxSessionDuration`.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub max_session_duration: Option<i64>,
    /// Last SLR deletion task.
    pub latest_deletion_task: Option<DeletionTaskRef>,
}

/// `ListPolicies` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RamPolicy {
    /// Policy name.
    pub policy_name: String,
    /// `System` / `Custom`.
    pub policy_type: String,
    /// Default version (`v3`).
    pub default_version: String,
    /// Principals it is attached to.
    #[serde(deserialize_with = "lenient::i64")]
    pub attachment_count: i64,
    /// Description.
    pub description: String,
}

/// `ListEntitiesForPolicy`: principal names per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEntities {
    /// User names.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Role names.
    pub roles: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NamedUser {
    user_name: String,
}
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NamedGroup {
    group_name: String,
}
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NamedRole {
    role_name: String,
}
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EntitiesAnswer {
    users: Wrapped<NamedUser>,
    groups: Wrapped<NamedGroup>,
    roles: Wrapped<NamedRole>,
}

/// The user a virtual MFA device is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MfaUser {
    /// User name.
    pub user_name: String,
    /// User id.
    #[serde(deserialize_with = "lenient::string")]
    pub user_id: String,
}

/// `ListVirtualMFADevices` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VirtualMfaDeviceInfo {
    /// Serial (`acs:ram::<account>:mfa/<name>`).
    pub serial_number: String,
    /// Bound user (absent when unbound).
    pub user: Option<MfaUser>,
    /// When it was bound.
    pub activate_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LoginProfileAnswer {
    #[serde(rename = "LoginProfile", default)]
    login_profile: LoginProfile,
}
#[derive(Debug, Default, Deserialize)]
struct RoleAnswer {
    #[serde(rename = "Role", default)]
    role: RoleDetail,
}
/// RAM calls made with a client's credentials.
#[derive(Debug, Clone, Copy)]
pub struct Ram<'a> {
    pub(crate) client: &'a AliyunClient,
}

impl Ram<'_> {
    /// `ListAccessKeys` of `user` (not paginated).
    ///
    /// # Errors
    /// The classified failure (`EntityNotExist.User`).
    pub async fn list_access_keys(self, user: &str) -> Result<Vec<AccessKeyInfo>, AliyunError> {
        self.client
            .list(P, "ListAccessKeys", "AccessKeys", &params(&[("UserName", user)]))
            .await
    }

    /// `GetLoginProfile`; `EntityNotExist.User.LoginProfile` (404) means console login is off.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn get_login_profile(self, user: &str) -> Result<LoginProfile, AliyunError> {
        let a: LoginProfileAnswer = self
            .client
            .call(P, "GetLoginProfile", &params(&[("UserName", user)]))
            .await?;
        Ok(a.login_profile)
    }

    async fn policies_for(
        self,
        action: &str,
        key: &str,
        name: &str,
    ) -> Result<Vec<AttachedPolicy>, AliyunError> {
        self.client
            .list(P, action, "Policies", &params(&[(key, name)]))
            .await
    }

    /// `ListPoliciesForUser`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_policies_for_user(self, user: &str) -> Result<Vec<AttachedPolicy>, AliyunError> {
        self.policies_for("ListPoliciesForUser", "UserName", user).await
    }

    /// `ListPoliciesForGroup`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_policies_for_group(self, group: &str) -> Result<Vec<AttachedPolicy>, AliyunError> {
        self.policies_for("ListPoliciesForGroup", "GroupName", group)
            .await
    }

    /// `ListPoliciesForRole`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_policies_for_role(self, role: &str) -> Result<Vec<AttachedPolicy>, AliyunError> {
        self.policies_for("ListPoliciesForRole", "RoleName", role).await
    }

    /// Every group (`ListGroups`, MaxItems 1–100).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_groups_all(self) -> Result<Vec<RamGroup>, AliyunError> {
        self.client.marker_all(P, "ListGroups", "Groups", &[], 100).await
    }

    /// `ListGroupsForUser` (not paginated).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_groups_for_user(self, user: &str) -> Result<Vec<RamGroup>, AliyunError> {
        self.client
            .list(P, "ListGroupsForUser", "Groups", &params(&[("UserName", user)]))
            .await
    }

    /// Every member of `group` (`ListUsersForGroup`, MaxItems 1–1000).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_users_for_group_all(self, group: &str) -> Result<Vec<GroupMember>, AliyunError> {
        self.client
            .marker_all(
                P,
                "ListUsersForGroup",
                "Users",
                &params(&[("GroupName", group)]),
                1000,
            )
            .await
    }

    /// Every role, service-linked ones included (`ListRoles`, MaxItems 1–1000).
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_roles_all(self) -> Result<Vec<RamRole>, AliyunError> {
        self.client.marker_all(P, "ListRoles", "Roles", &[], 1000).await
    }

    /// `GetRole`.
    ///
    /// # Errors
    /// The classified failure (`EntityNotExist.Role`).
    pub async fn get_role(self, role: &str) -> Result<RoleDetail, AliyunError> {
        let a: RoleAnswer = self
            .client
            .call(P, "GetRole", &params(&[("RoleName", role)]))
            .await?;
        Ok(a.role)
    }

    /// Every policy of `policy_type` (`System`/`Custom`; `None` lists both), MaxItems 1–1000.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_policies_all(self, policy_type: Option<&str>) -> Result<Vec<RamPolicy>, AliyunError> {
        let base = policy_type
            .map(|t| params(&[("PolicyType", t)]))
            .unwrap_or_default();
        self.client
            .marker_all(P, "ListPolicies", "Policies", &base, 1000)
            .await
    }

    /// `ListEntitiesForPolicy`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_entities_for_policy(
        self,
        policy: &str,
        policy_type: &str,
    ) -> Result<PolicyEntities, AliyunError> {
        let p = params(&[("PolicyName", policy), ("PolicyType", policy_type)]);
        let a: EntitiesAnswer = self.client.call(P, "ListEntitiesForPolicy", &p).await?;
        Ok(PolicyEntities {
            users: a.users.0.into_iter().map(|u| u.user_name).collect(),
            groups: a.groups.0.into_iter().map(|g| g.group_name).collect(),
            roles: a.roles.0.into_iter().map(|r| r.role_name).collect(),
        })
    }

    /// `ListVirtualMFADevices` (not paginated in RAM).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn list_virtual_mfa_devices(self) -> Result<Vec<VirtualMfaDeviceInfo>, AliyunError> {
        self.client
            .list(P, "ListVirtualMFADevices", "VirtualMFADevices", &[])
            .await
    }

    /// `DeleteAccessKey`; returns the RequestId.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_access_key(self, user: &str, key_id: &str) -> Result<String, AliyunError> {
        self.ack(
            "DeleteAccessKey",
            &[("UserName", user), ("UserAccessKeyId", key_id)],
        )
        .await
    }

    /// `DeleteLoginProfile`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_login_profile(self, user: &str) -> Result<String, AliyunError> {
        self.ack("DeleteLoginProfile", &[("UserName", user)]).await
    }

    /// `UnbindMFADevice` (the virtual device stays until `DeleteVirtualMFADevice`).
    ///
    /// # Errors
    /// The classified failure.
    pub async fn unbind_mfa_device(self, user: &str) -> Result<String, AliyunError> {
        self.ack("UnbindMFADevice", &[("UserName", user)]).await
    }

    /// `RemoveUserFromGroup`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn remove_user_from_group(self, user: &str, group: &str) -> Result<String, AliyunError> {
        self.ack("RemoveUserFromGroup", &[("UserName", user), ("GroupName", group)])
            .await
    }

    async fn detach(
        self,
        action: &str,
        principal_key: &str,
        principal: &str,
        policy: &str,
        policy_type: &str,
    ) -> Result<String, AliyunError> {
        let p = [
            (principal_key, principal),
            ("PolicyName", policy),
            ("PolicyType", policy_type),
        ];
        self.ack(action, &p).await
    }

    /// A mutation; returns the RequestId.
    async fn ack(self, action: &str, pairs: &[(&str, &str)]) -> Result<String, AliyunError> {
        self.client.call_ack(P, action, &params(pairs)).await
    }

    /// `DetachPolicyFromUser`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn detach_policy_from_user(
        self,
        user: &str,
        policy: &str,
        policy_type: &str,
    ) -> Result<String, AliyunError> {
        self.detach("DetachPolicyFromUser", "UserName", user, policy, policy_type)
            .await
    }

    /// `DetachPolicyFromGroup`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn detach_policy_from_group(
        self,
        group: &str,
        policy: &str,
        policy_type: &str,
    ) -> Result<String, AliyunError> {
        self.detach("DetachPolicyFromGroup", "GroupName", group, policy, policy_type)
            .await
    }

    /// `DetachPolicyFromRole`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn detach_policy_from_role(
        self,
        role: &str,
        policy: &str,
        policy_type: &str,
    ) -> Result<String, AliyunError> {
        self.detach("DetachPolicyFromRole", "RoleName", role, policy, policy_type)
            .await
    }

    /// `DeleteUser`.
    ///
    /// # Errors
    /// The classified failure (`DeleteConflict.User.*` while something hangs off the user).
    pub async fn delete_user(self, user: &str) -> Result<String, AliyunError> {
        self.ack("DeleteUser", &[("UserName", user)]).await
    }

    /// `DeleteGroup`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_group(self, group: &str) -> Result<String, AliyunError> {
        self.ack("DeleteGroup", &[("GroupName", group)]).await
    }

    /// `DeleteRole`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_role(self, role: &str) -> Result<String, AliyunError> {
        self.ack("DeleteRole", &[("RoleName", role)]).await
    }

    /// `DeletePolicy`; `cascading` also removes non-default versions.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_policy(self, policy: &str, cascading: bool) -> Result<String, AliyunError> {
        let mut p = params(&[("PolicyName", policy)]);
        if cascading {
            p.push(("CascadingDelete".into(), "true".into()));
        }
        self.client.call_ack(P, "DeletePolicy", &p).await
    }

    /// `DeleteVirtualMFADevice`.
    ///
    /// # Errors
    /// The classified failure.
    pub async fn delete_virtual_mfa_device(self, serial: &str) -> Result<String, AliyunError> {
        self.ack("DeleteVirtualMFADevice", &[("SerialNumber", serial)])
            .await
    }
}
