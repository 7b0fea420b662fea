//! The read side of the fake: the listings discovery makes, each counted as a read.

use super::*;

impl PlanApi for FakeAccount {
    type Error = FakeError;

    async fn list_users(&self) -> Result<Vec<ListedUser>, FakeError> {
        Ok(self.with(true, |s| {
            s.users
                .iter()
                .map(|(n, u)| ListedUser {
                    name: n.clone(),
                    id: Some(u.id.clone()),
                    upn: Some(s.upn(n)),
                    frozen: u.frozen,
                })
                .collect()
        }))
    }
    async fn list_access_keys(&self, user: &str) -> Result<Vec<String>, FakeError> {
        self.user_read(user, |u| u.keys.iter().cloned().collect())
    }
    async fn has_login_profile(&self, user: &str) -> Result<bool, FakeError> {
        self.user_read(user, |u| u.login)
    }
    async fn list_policies_for_user(&self, user: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.user_read(user, |u| u.policies.iter().cloned().collect())
    }
    async fn list_groups(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.groups.keys().cloned().collect()))
    }
    async fn list_users_for_group(&self, group: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| match s.groups.get(group) {
            Some(g) => Ok(g.members.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Group", "The group does not exist.")),
        })
    }
    async fn list_policies_for_group(&self, group: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.with(true, |s| match s.groups.get(group) {
            Some(g) => Ok(g.policies.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Group", "The group does not exist.")),
        })
    }
    async fn list_roles(&self) -> Result<Vec<ListedRole>, FakeError> {
        Ok(self.with(true, |s| {
            s.roles
                .keys()
                .map(|name| ListedRole {
                    name: name.clone(),
                    id: Some(fake_role_id(name)),
                })
                .collect()
        }))
    }
    async fn list_service_credentials(&self) -> Result<Vec<ListedCredential>, FakeError> {
        Ok(self.with(true, |s| {
            s.users
                .iter()
                .flat_map(|(name, u)| {
                    let upn = s.upn(name);
                    u.service_credentials.iter().map(move |id| ListedCredential {
                        id: id.clone(),
                        upn: upn.clone(),
                    })
                })
                .collect()
        }))
    }
    async fn list_passkeys(&self, upn: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| {
            let name = ado_core::model::user_name_from_upn(upn).to_string();
            match s.users.get(&name) {
                Some(u) => Ok(u.passkeys.iter().cloned().collect()),
                None => Err(s.err("EntityNotExist.User", "The user does not exist.")),
            }
        })
    }
    async fn list_applications(&self) -> Result<Vec<ListedApplication>, FakeError> {
        Ok(self.with(true, |s| {
            s.apps
                .iter()
                .map(|(id, a)| ListedApplication {
                    id: id.clone(),
                    name: a.name.clone(),
                })
                .collect()
        }))
    }
    async fn list_app_secret_ids(&self, app_id: &str) -> Result<Vec<String>, FakeError> {
        self.with(true, |s| match s.apps.get(app_id) {
            Some(a) => Ok(a.secrets.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Application", "no such application")),
        })
    }
    async fn list_provisioned_applications(
        &self,
        source: AppSource,
    ) -> Result<Vec<ListedApplication>, FakeError> {
        Ok(self.with(true, |s| match source {
            AppSource::Inner => s
                .apps
                .iter()
                .filter(|(_, a)| a.provisioned)
                .map(|(id, a)| ListedApplication {
                    id: id.clone(),
                    name: a.name.clone(),
                })
                .collect(),
            AppSource::External => s
                .external_apps
                .iter()
                .map(|(id, name)| ListedApplication {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
        }))
    }
    async fn account_summary(&self) -> Result<Option<SummaryCounts>, FakeError> {
        Ok(self.with(true, |s| {
            Some(SummaryCounts {
                users: Some(s.users.len() as u64),
                groups: Some(s.groups.len() as u64),
                roles: Some(s.roles.len() as u64),
                policies: Some(s.policies.len() as u64),
                mfa_devices: Some(s.mfa_devices.len() as u64),
            })
        }))
    }
    async fn session_role(&self) -> Result<Option<SessionRole>, FakeError> {
        // Free like the real one: the identity comes with the STS session.
        Ok(self.with(false, |s| {
            s.session_role.as_ref().map(|name| SessionRole {
                account_id: s.account_id.clone(),
                role_id: fake_role_id(name),
                role_name: name.clone(),
            })
        }))
    }
    async fn list_policies_for_role(&self, role: &str) -> Result<Vec<PolicyRef>, FakeError> {
        self.with(true, |s| match s.roles.get(role) {
            Some(r) => Ok(r.iter().cloned().collect()),
            None => Err(s.err("EntityNotExist.Role", "The role does not exist.")),
        })
    }
    async fn list_custom_policies(&self) -> Result<Vec<CustomPolicy>, FakeError> {
        Ok(self.with(true, |s| {
            s.policies
                .iter()
                .map(|(n, v)| {
                    let count =
                        |set: &BTreeSet<PolicyRef>| u32::from(set.contains(&p(n, PolicyType::Custom)));
                    let attachment_count = s.users.values().map(|u| count(&u.policies)).sum::<u32>()
                        + s.groups.values().map(|g| count(&g.policies)).sum::<u32>()
                        + s.roles.values().map(count).sum::<u32>();
                    CustomPolicy {
                        name: n.clone(),
                        default_version: format!("v{v}"),
                        attachment_count: if s.stale_attachment_counts {
                            0
                        } else {
                            attachment_count
                        },
                        attached_to: None,
                    }
                })
                .collect()
        }))
    }
    async fn list_system_policy_attachments(&self) -> Result<Vec<(String, u32)>, FakeError> {
        Ok(self.with(true, |s| {
            let mut counts: BTreeMap<String, u32> = BTreeMap::new();
            let held = s
                .users
                .values()
                .flat_map(|u| u.policies.iter())
                .chain(s.groups.values().flat_map(|g| g.policies.iter()))
                .chain(s.roles.values().flat_map(|r| r.iter()));
            for pr in held.filter(|pr| pr.policy_type == PolicyType::System && !s.stale_attachment_counts) {
                *counts.entry(pr.name.clone()).or_insert(0) += 1;
            }
            counts.into_iter().collect()
        }))
    }
    async fn list_entities_for_policy(
        &self,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<Vec<(PrincipalKind, String)>, FakeError> {
        let key = p(policy, policy_type);
        Ok(self.with(true, |s| {
            let mut v: Vec<(PrincipalKind, String)> = Vec::new();
            v.extend(
                s.users
                    .iter()
                    .filter(|(_, u)| u.policies.contains(&key))
                    .map(|(n, _)| (PrincipalKind::User, n.clone())),
            );
            v.extend(
                s.groups
                    .iter()
                    .filter(|(_, g)| g.policies.contains(&key))
                    .map(|(n, _)| (PrincipalKind::Group, n.clone())),
            );
            v.extend(
                s.roles
                    .iter()
                    .filter(|(_, r)| r.contains(&key))
                    .map(|(n, _)| (PrincipalKind::Role, n.clone())),
            );
            v
        }))
    }
    async fn list_virtual_mfa_devices(&self) -> Result<Vec<VirtualMfaDevice>, FakeError> {
        Ok(self.with(true, |s| {
            s.mfa_devices
                .iter()
                .map(|(serial, user)| VirtualMfaDevice {
                    serial: serial.clone(),
                    user: user.clone(),
                })
                .collect()
        }))
    }
    async fn list_saml_providers(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.saml.iter().cloned().collect()))
    }
    async fn list_oidc_providers(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| s.oidc.iter().cloned().collect()))
    }
    async fn get_default_domain(&self) -> Result<String, FakeError> {
        Ok(self.with(true, |s| s.domain.clone()))
    }
    async fn list_users_in_recycle_bin(&self) -> Result<Vec<ListedRecycledUser>, FakeError> {
        Ok(self.with(true, |s| {
            s.bin
                .iter()
                .map(|(id, (upn, _))| ListedRecycledUser {
                    id: id.clone(),
                    upn: upn.clone(),
                })
                .collect()
        }))
    }
    async fn list_access_keys_in_recycle_bin(&self, user_id: &str) -> Result<Vec<String>, FakeError> {
        Ok(self.with(true, |s| {
            s.bin
                .get(user_id)
                .map(|(_, k)| k.iter().cloned().collect())
                .unwrap_or_default()
        }))
    }
    async fn apply(&self, action: &Action) -> Result<Applied, FakeError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Yield a few times so concurrent actions really overlap.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let r = self.with(false, |s| s.apply(action));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn slr_deletion_status(&self, task_id: &str) -> Result<SlrStatus, FakeError> {
        self.with(true, |s| match s.tasks.get(task_id).cloned() {
            None => Err(s.err("EntityNotExist.ServiceLinkedRole.DeletionTask", "no such task")),
            Some((role, status)) => {
                let (reason, usages) = if status == SlrPhase::Failed {
                    (
                        Some(format!(
                            "Service-Linked Role acs:ram::{}:role/{} cannot be deleted as it is in use.",
                            s.account_id,
                            role.to_lowercase()
                        )),
                        s.slr_in_use.get(&role).cloned().unwrap_or_default(),
                    )
                } else {
                    (None, Vec::new())
                };
                Ok(SlrStatus {
                    status,
                    reason,
                    usages,
                })
            }
        })
    }
}
