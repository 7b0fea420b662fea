//! The planner's seam implemented by the signed client: each [`PlanApi`] listing is the cheapest
//! complete call (largest page size), each [`Action`] the matching mutating call.

use ado_aliyun::client::AliyunClient;
use ado_aliyun::error::{AliyunError, ErrorClass};
use ado_aliyun::ims::ALL_USER_STATUSES;

use super::action::Action;
use super::api::{
    AppSource, Applied, CallError, ListedApplication, ListedCredential, ListedRecycledUser, ListedRole,
    ListedUser, PlanApi, RoleUsage, SessionRole, SlrPhase, SlrStatus, SummaryCounts,
};
use super::model::{CustomPolicy, PolicyRef, PolicyType, PrincipalKind, VirtualMfaDevice};

impl CallError for AliyunError {
    fn is_not_found(&self) -> bool {
        AliyunError::is_not_found(self)
    }
    fn code(&self) -> &str {
        &self.code
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    fn class(&self) -> ErrorClass {
        self.class
    }
}

fn policy_refs(list: Vec<ado_aliyun::ram::AttachedPolicy>) -> Vec<PolicyRef> {
    list.into_iter()
        .map(|p| PolicyRef {
            policy_type: PolicyType::from_wire(&p.policy_type),
            name: p.policy_name,
        })
        .collect()
}

fn applied(request_id: String) -> Applied {
    Applied {
        request_id,
        task_id: None,
    }
}

/// The "console login not enabled" answer of `GetLoginProfile`.
pub const NO_LOGIN_PROFILE: &str = "EntityNotExist.User.LoginProfile";

impl PlanApi for AliyunClient {
    type Error = AliyunError;

    async fn list_users(&self) -> Result<Vec<ListedUser>, AliyunError> {
        let users = self.ims().list_users_all(Some(ALL_USER_STATUSES)).await?;
        Ok(users
            .into_iter()
            .map(|u| ListedUser {
                name: u.name().to_string(),
                frozen: u.is_frozen(),
                id: Some(u.user_id).filter(|s| !s.is_empty()),
                upn: Some(u.user_principal_name).filter(|s| !s.is_empty()),
            })
            .collect())
    }

    async fn list_access_keys(&self, user: &str) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ram()
            .list_access_keys(user)
            .await?
            .into_iter()
            .map(|k| k.access_key_id)
            .collect())
    }

    async fn has_login_profile(&self, user: &str) -> Result<bool, AliyunError> {
        match self.ram().get_login_profile(user).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == NO_LOGIN_PROFILE => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn list_policies_for_user(&self, user: &str) -> Result<Vec<PolicyRef>, AliyunError> {
        Ok(policy_refs(self.ram().list_policies_for_user(user).await?))
    }

    async fn list_groups(&self) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ram()
            .list_groups_all()
            .await?
            .into_iter()
            .map(|g| g.group_name)
            .collect())
    }

    async fn list_users_for_group(&self, group: &str) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ram()
            .list_users_for_group_all(group)
            .await?
            .into_iter()
            .map(|u| u.user_name)
            .collect())
    }

    async fn list_policies_for_group(&self, group: &str) -> Result<Vec<PolicyRef>, AliyunError> {
        Ok(policy_refs(self.ram().list_policies_for_group(group).await?))
    }

    async fn list_roles(&self) -> Result<Vec<ListedRole>, AliyunError> {
        Ok(self
            .ram()
            .list_roles_all()
            .await?
            .into_iter()
            .map(|r| ListedRole {
                name: r.role_name,
                id: Some(r.role_id).filter(|id| !id.is_empty()),
            })
            .collect())
    }

    async fn list_service_credentials(&self) -> Result<Vec<ListedCredential>, AliyunError> {
        Ok(self
            .ims()
            .list_service_credentials_all()
            .await?
            .into_iter()
            .map(|c| ListedCredential {
                id: c.service_credential_id,
                upn: c.user_principal_name,
            })
            .collect())
    }

    async fn list_passkeys(&self, upn: &str) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ims()
            .list_passkeys(upn)
            .await?
            .into_iter()
            .map(|p| p.passkey_id)
            .collect())
    }

    async fn list_applications(&self) -> Result<Vec<ListedApplication>, AliyunError> {
        Ok(self
            .ims()
            .list_applications()
            .await?
            .into_iter()
            .map(|a| ListedApplication {
                id: a.app_id,
                name: a.app_name,
            })
            .collect())
    }

    async fn list_app_secret_ids(&self, app_id: &str) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ims()
            .list_app_secret_ids(app_id)
            .await?
            .into_iter()
            .map(|s| s.app_secret_id)
            .collect())
    }

    async fn list_provisioned_applications(
        &self,
        source: AppSource,
    ) -> Result<Vec<ListedApplication>, AliyunError> {
        let source = match source {
            AppSource::Inner => "inner",
            AppSource::External => "external",
        };
        Ok(self
            .ims()
            .list_application_provision_infos(source)
            .await?
            .into_iter()
            .map(|a| ListedApplication {
                id: a.app_id,
                name: a.app_name,
            })
            .collect())
    }

    async fn account_summary(&self) -> Result<Option<SummaryCounts>, AliyunError> {
        let s = self.ims().get_account_summary().await?;
        let n = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
        Ok(Some(SummaryCounts {
            users: n(s.users),
            groups: n(s.groups),
            roles: n(s.roles),
            policies: n(s.policies),
            mfa_devices: n(s.mfa_devices),
        }))
    }

    async fn session_role(&self) -> Result<Option<SessionRole>, AliyunError> {
        let Some(who) = self.session_identity().await? else {
            return Ok(None);
        };
        let (Some(role_id), Some((account, role))) = (who.role_id(), who.account_and_role()) else {
            return Ok(None);
        };
        Ok(Some(SessionRole {
            account_id: account.to_string(),
            role_id: role_id.to_string(),
            role_name: role.to_string(),
        }))
    }

    async fn list_policies_for_role(&self, role: &str) -> Result<Vec<PolicyRef>, AliyunError> {
        Ok(policy_refs(self.ram().list_policies_for_role(role).await?))
    }

    async fn list_custom_policies(&self) -> Result<Vec<CustomPolicy>, AliyunError> {
        Ok(self
            .ram()
            .list_policies_all(Some("Custom"))
            .await?
            .into_iter()
            .filter(|p| PolicyType::from_wire(&p.policy_type) == PolicyType::Custom)
            .map(|p| CustomPolicy {
                name: p.policy_name,
                default_version: p.default_version,
                attachment_count: u32::try_from(p.attachment_count.max(0)).unwrap_or(u32::MAX),
                attached_to: None,
            })
            .collect())
    }

    async fn list_system_policy_attachments(&self) -> Result<Vec<(String, u32)>, AliyunError> {
        Ok(self
            .ram()
            .list_policies_all(Some("System"))
            .await?
            .into_iter()
            .filter(|p| p.attachment_count > 0 && PolicyType::from_wire(&p.policy_type) == PolicyType::System)
            .map(|p| {
                (
                    p.policy_name,
                    u32::try_from(p.attachment_count).unwrap_or(u32::MAX),
                )
            })
            .collect())
    }

    async fn list_entities_for_policy(
        &self,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<Vec<(PrincipalKind, String)>, AliyunError> {
        let e = self
            .ram()
            .list_entities_for_policy(policy, policy_type.as_str())
            .await?;
        let mut out: Vec<(PrincipalKind, String)> = Vec::new();
        out.extend(e.users.into_iter().map(|n| (PrincipalKind::User, n)));
        out.extend(e.groups.into_iter().map(|n| (PrincipalKind::Group, n)));
        out.extend(e.roles.into_iter().map(|n| (PrincipalKind::Role, n)));
        Ok(out)
    }

    async fn list_virtual_mfa_devices(&self) -> Result<Vec<VirtualMfaDevice>, AliyunError> {
        Ok(self
            .ram()
            .list_virtual_mfa_devices()
            .await?
            .into_iter()
            .map(|d| VirtualMfaDevice {
                serial: d.serial_number,
                user: d.user.map(|u| u.user_name).filter(|n| !n.is_empty()),
            })
            .collect())
    }

    async fn list_saml_providers(&self) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ims()
            .list_saml_providers_all()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect())
    }

    async fn list_oidc_providers(&self) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ims()
            .list_oidc_providers_all()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect())
    }

    async fn get_default_domain(&self) -> Result<String, AliyunError> {
        self.ims().get_default_domain().await
    }

    async fn list_users_in_recycle_bin(&self) -> Result<Vec<ListedRecycledUser>, AliyunError> {
        Ok(self
            .ims()
            .list_users_in_recycle_bin_all()
            .await?
            .into_iter()
            .map(|u| ListedRecycledUser {
                id: u.user_id,
                upn: u.user_principal_name,
            })
            .collect())
    }

    async fn list_access_keys_in_recycle_bin(&self, user_id: &str) -> Result<Vec<String>, AliyunError> {
        Ok(self
            .ims()
            .list_access_keys_in_recycle_bin(user_id)
            .await?
            .into_iter()
            .map(|k| k.access_key_id)
            .collect())
    }

    async fn apply(&self, action: &Action) -> Result<Applied, AliyunError> {
        let ram = self.ram();
        let ims = self.ims();
        let rid = match action {
            Action::DeleteAccessKey { user, key_id } => ram.delete_access_key(user, key_id).await?,
            Action::DeleteLoginProfile { user } => ram.delete_login_profile(user).await?,
            Action::UnbindMfaDevice { user, .. } => ram.unbind_mfa_device(user).await?,
            Action::RemoveUserFromGroup { user, group } => ram.remove_user_from_group(user, group).await?,
            Action::DetachPolicyFromUser {
                user,
                policy,
                policy_type,
            } => {
                ram.detach_policy_from_user(user, policy, policy_type.as_str())
                    .await?
            }
            Action::DeleteUser { user } => ram.delete_user(user).await?,
            Action::DetachPolicyFromGroup {
                group,
                policy,
                policy_type,
            } => {
                ram.detach_policy_from_group(group, policy, policy_type.as_str())
                    .await?
            }
            Action::DeleteGroup { group } => ram.delete_group(group).await?,
            Action::DetachPolicyFromRole {
                role,
                policy,
                policy_type,
            } => {
                ram.detach_policy_from_role(role, policy, policy_type.as_str())
                    .await?
            }
            Action::DeleteRole { role } => ram.delete_role(role).await?,
            Action::DeleteServiceLinkedRole { role } => {
                let t = self.rm().delete_service_linked_role(role).await?;
                return Ok(Applied {
                    request_id: t.request_id,
                    task_id: Some(t.deletion_task_id).filter(|s| !s.is_empty()),
                });
            }
            Action::DeletePolicy { policy } => ram.delete_policy(policy, true).await?,
            Action::DeleteVirtualMfaDevice { serial } => ram.delete_virtual_mfa_device(serial).await?,
            Action::DeleteSamlProvider { name } => ims.delete_saml_provider(name).await?,
            Action::DeleteOidcProvider { name } => ims.delete_oidc_provider(name).await?,
            Action::SetDefaultDomain { domain } => ims.set_default_domain(domain).await?,
            Action::DeleteAccessKeyInRecycleBin { user_id, key_id, .. } => {
                ims.delete_access_key_in_recycle_bin(user_id, key_id).await?
            }
            Action::DeleteUserInRecycleBin { user_id, .. } => ims.delete_user_in_recycle_bin(user_id).await?,
            Action::DeleteServiceCredential {
                upn, credential_id, ..
            } => {
                ims.call_ack(
                    "DeleteServiceCredential",
                    &[("ServiceCredentialId", credential_id), ("UserPrincipalName", upn)],
                )
                .await?
            }
            Action::DeletePasskey { upn, passkey_id, .. } => {
                ims.call_ack(
                    "DeletePasskey",
                    &[("PasskeyId", passkey_id), ("UserPrincipalName", upn)],
                )
                .await?
            }
            Action::DeleteAppSecret {
                app_id, secret_id, ..
            } => {
                ims.call_ack(
                    "DeleteAppSecret",
                    &[("AppId", app_id), ("AppSecretId", secret_id)],
                )
                .await?
            }
            Action::DeprovisionApplication { app_id, .. } => {
                ims.call_ack("DeprovisionApplication", &[("AppId", app_id)])
                    .await?
            }
            Action::DeleteApplication { app_id, .. } => {
                ims.call_ack("DeleteApplication", &[("AppId", app_id)]).await?
            }
            Action::DeprovisionExternalApplication { app_id, .. } => {
                ims.call_ack("DeprovisionExternalApplication", &[("AppId", app_id)])
                    .await?
            }
        };
        Ok(applied(rid))
    }

    async fn latest_slr_task(&self, role: &str) -> Result<Option<String>, AliyunError> {
        match self.ram().get_role(role).await {
            Ok(r) => Ok(r
                .latest_deletion_task
                .map(|t| t.deletion_task_id)
                .filter(|id| !id.is_empty())),
            Err(e) => Err(e),
        }
    }

    async fn slr_deletion_status(&self, task_id: &str) -> Result<SlrStatus, AliyunError> {
        let s = self.rm().get_service_linked_role_deletion_status(task_id).await?;
        let (reason, usages) = match s.reason {
            Some(r) => (
                Some(r.message).filter(|m| !m.is_empty()),
                r.role_usages
                    .0
                    .into_iter()
                    .map(|u| RoleUsage {
                        region: u.region,
                        resources: u.resources.0,
                    })
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(SlrStatus {
            status: SlrPhase::parse(&s.status),
            reason,
            usages,
        })
    }
}
