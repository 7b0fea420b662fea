//! The RAM conflict rules (alibaba-api.md §4.3): one mutating call applied to the fake state, or
//! the code RAM would answer when it comes out of dependency order.

use super::*;

impl FakeState {
    /// Applies one action with RAM's rules.
    ///
    /// # Errors
    /// The code RAM would answer.
    pub fn apply(&mut self, action: &Action) -> Result<Applied, FakeError> {
        self.mutating += 1;
        if let Some(code) = self
            .fail
            .get(&(action.api_action().to_string(), action.target()))
            .cloned()
        {
            return Err(self.err(&code, "injected failure"));
        }
        let nf = |s: &mut Self, what: &str| Err(s.err(&format!("EntityNotExist.{what}"), "not found"));
        match action {
            Action::DeleteAccessKey { user, key_id } => {
                match self.users.get_mut(user).map(|u| u.keys.remove(key_id)) {
                    None => nf(self, "User"),
                    Some(false) => nf(self, "User.AccessKey"),
                    Some(true) => Ok(self.ok()),
                }
            }
            Action::DeleteLoginProfile { user } => match self.users.get_mut(user) {
                None => nf(self, "User"),
                Some(u) if !u.login => nf(self, "User.LoginProfile"),
                Some(u) => {
                    u.login = false;
                    Ok(self.ok())
                }
            },
            Action::UnbindMfaDevice { user, .. } => match self.users.get_mut(user) {
                None => nf(self, "User"),
                Some(u) => match u.mfa.take() {
                    None => nf(self, "User.MFADevice"),
                    Some(serial) => {
                        if let Some(d) = self.mfa_devices.get_mut(&serial) {
                            *d = None;
                        }
                        Ok(self.ok())
                    }
                },
            },
            Action::RemoveUserFromGroup { user, group } => {
                if !self.users.contains_key(user) {
                    return nf(self, "User");
                }
                match self.groups.get_mut(group).map(|g| g.members.remove(user)) {
                    None => nf(self, "Group"),
                    Some(false) => nf(self, "User.Group"),
                    Some(true) => Ok(self.ok()),
                }
            }
            Action::DetachPolicyFromUser {
                user,
                policy,
                policy_type,
            } => match self
                .users
                .get_mut(user)
                .map(|u| u.policies.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "User"),
                Some(false) => nf(self, "User.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteUser { user } => {
                let Some(u) = self.users.get(user) else {
                    return nf(self, "User");
                };
                let conflict = if self.groups.values().any(|g| g.members.contains(user)) {
                    Some("Group")
                } else if !u.keys.is_empty() {
                    Some("AccessKey")
                } else if u.login {
                    Some("LoginProfile")
                } else if u.mfa.is_some() {
                    Some("MFADevice")
                } else if !u.policies.is_empty() {
                    Some("Policy")
                } else if self.passkeys_block_delete_user && !u.passkeys.is_empty() {
                    Some("Passkey")
                } else {
                    None
                };
                if let Some(c) = conflict {
                    return Err(self.err(&format!("DeleteConflict.User.{c}"), "conflict"));
                }
                let upn = self.upn(user);
                if let Some(u) = self.users.remove(user) {
                    self.bin.insert(u.id, (upn, BTreeSet::new()));
                }
                Ok(self.ok())
            }
            Action::DetachPolicyFromGroup {
                group,
                policy,
                policy_type,
            } => match self
                .groups
                .get_mut(group)
                .map(|g| g.policies.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "Group"),
                Some(false) => nf(self, "Group.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteGroup { group } => match self.groups.get(group) {
                None => nf(self, "Group"),
                Some(g) if !g.members.is_empty() => Err(self.err("DeleteConflict.Group.User", "conflict")),
                Some(g) if !g.policies.is_empty() => Err(self.err("DeleteConflict.Group.Policy", "conflict")),
                Some(_) => {
                    self.groups.remove(group);
                    Ok(self.ok())
                }
            },
            Action::DetachPolicyFromRole {
                role,
                policy,
                policy_type,
            } => match self
                .roles
                .get_mut(role)
                .map(|r| r.remove(&p(policy, *policy_type)))
            {
                None => nf(self, "Role"),
                Some(false) => nf(self, "Role.Policy"),
                Some(true) => Ok(self.ok()),
            },
            Action::DeleteRole { role } => match self.roles.get(role) {
                None => nf(self, "Role"),
                Some(r) if !r.is_empty() => Err(self.err("DeleteConflict.Role.Policy", "conflict")),
                Some(_) => {
                    self.roles.remove(role);
                    Ok(self.ok())
                }
            },
            Action::DeleteServiceLinkedRole { role } => {
                if !self.roles.contains_key(role) {
                    return nf(self, "Role");
                }
                let task = format!("task/acs-service-role/{role}/{:08}", self.next_id);
                let status = if self.slr_in_use.contains_key(role) {
                    SlrPhase::Failed
                } else {
                    self.roles.remove(role);
                    SlrPhase::Succeeded
                };
                self.tasks.insert(task.clone(), (role.clone(), status));
                let mut a = self.ok();
                a.task_id = Some(task);
                Ok(a)
            }
            Action::DeletePolicy { policy } => {
                if !self.policies.contains_key(policy) {
                    return nf(self, "Policy");
                }
                if let Some(code) = self.attached_anywhere(policy) {
                    return Err(self.err(code, "conflict"));
                }
                self.policies.remove(policy);
                Ok(self.ok())
            }
            Action::DeleteVirtualMfaDevice { serial } => match self.mfa_devices.get(serial) {
                None => nf(self, "VirtualMFADevice"),
                Some(Some(_)) => Err(self.err("DeleteConflict.VirtualMFADevice.User", "conflict")),
                Some(None) => {
                    self.mfa_devices.remove(serial);
                    Ok(self.ok())
                }
            },
            Action::DeleteSamlProvider { name } => {
                if self.saml.remove(name) {
                    Ok(self.ok())
                } else {
                    nf(self, "SAMLProvider")
                }
            }
            Action::DeleteOidcProvider { name } => {
                if self.oidc.remove(name) {
                    Ok(self.ok())
                } else {
                    nf(self, "OIDCProvider")
                }
            }
            Action::SetDefaultDomain { domain } => {
                self.domain.clone_from(domain);
                Ok(self.ok())
            }
            Action::DeleteAccessKeyInRecycleBin { user_id, key_id, .. } => {
                match self.bin.get_mut(user_id).map(|(_, keys)| keys.remove(key_id)) {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "AccessKey"),
                }
            }
            Action::DeleteUserInRecycleBin { user_id, .. } => {
                if self.bin.remove(user_id).is_some() {
                    Ok(self.ok())
                } else {
                    nf(self, "User")
                }
            }
            Action::DeleteServiceCredential {
                user, credential_id, ..
            } => {
                match self
                    .users
                    .get_mut(user)
                    .map(|u| u.service_credentials.remove(credential_id))
                {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "ServiceCredential"),
                }
            }
            Action::DeletePasskey { user, passkey_id, .. } => {
                match self.users.get_mut(user).map(|u| u.passkeys.remove(passkey_id)) {
                    Some(true) => Ok(self.ok()),
                    _ => nf(self, "Passkey"),
                }
            }
            Action::DeleteAppSecret {
                app_id, secret_id, ..
            } => match self.apps.get_mut(app_id).map(|a| a.secrets.remove(secret_id)) {
                Some(true) => Ok(self.ok()),
                _ => nf(self, "AppSecret"),
            },
            Action::DeprovisionApplication { app_id, .. } => match self.apps.get_mut(app_id) {
                Some(a) if a.provisioned => {
                    a.provisioned = false;
                    Ok(self.ok())
                }
                Some(_) => Err(self.err(
                    "InvalidParameter.AppId",
                    "only an installed ServerApp can be uninstalled",
                )),
                None => nf(self, "Application"),
            },
            Action::DeleteApplication { app_id, .. } => match self.apps.get(app_id) {
                // Strict: an installed ServerApp must be uninstalled first.
                Some(a) if a.provisioned => {
                    Err(self.err("DeleteConflict.Application.Provisioned", "installed"))
                }
                Some(_) => {
                    self.apps.remove(app_id);
                    Ok(self.ok())
                }
                None => nf(self, "Application"),
            },
            Action::DeprovisionExternalApplication { app_id, .. } => {
                if self.external_apps.remove(app_id).is_some() {
                    Ok(self.ok())
                } else {
                    nf(self, "ExternalApplication")
                }
            }
        }
    }
}
