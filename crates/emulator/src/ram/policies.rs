//! Custom policies and their versions (at most five, `v1`, `v2`, ...), and the system policies every
//! account has: listing (system first, one `SYS<n>` marker over both), reading and deletion (a policy
//! still attached answers `DeleteConflict.Policy.*`).

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::errors::{conflict, exists, first_conflict, limit_exceeded, no_policy, no_version};
use super::params::{check_document, check_version_id, flag, policy_name};
use super::{Policy, PolicyType, RamState, Version, utc};
use crate::api::ActionClass::{Mutating, Read};
use crate::api::{ApiError, only, param, required};
use crate::catalog::Action;
use crate::table::max_items;
use crate::tags::{self, TagFilter};

/// Versions a custom policy may have (`LimitExceeded.Policy.Version` beyond).
const LIMIT_VERSIONS: usize = 5;

/// The document of seeded policies and of every system policy's `v1`.
pub(super) const DEFAULT_DOC: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;

/// A custom policy as `ListPolicies`, `GetPolicy` and `CreatePolicy` answer it.
fn custom_policy_json(name: &str, pol: &Policy) -> Value {
    let mut v = json!({"PolicyName": name, "PolicyType": "Custom", "DefaultVersion": pol.default_version, "Description": pol.description,
           "AttachmentCount": pol.attached.len(), "CreateDate": utc(pol.created), "UpdateDate": utc(pol.created)});
    tags::insert_ram(&mut v, &pol.tags);
    v
}

impl RamState {
    /// Creates a custom policy with `v1` as its default version.
    pub(super) fn add_policy(
        &mut self,
        name: &str,
        description: &str,
        doc: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if self.policies.contains(name) || self.system.contains(name) {
            return Err(exists("Policy"));
        }
        self.policies.insert(
            name,
            Policy {
                description: description.to_owned(),
                created: now,
                versions: vec![Version {
                    id: "v1".into(),
                    doc: doc.to_owned(),
                    created: now,
                }],
                default_version: "v1".into(),
                next_version: 2,
                attached: BTreeSet::new(),
                tags: vec![],
            },
        );
        Ok(())
    }

    /// Adds the next version (`LimitExceeded.Policy.Version` past five).
    pub(super) fn add_version(
        &mut self,
        name: &str,
        doc: &str,
        set_default: bool,
        now: Timestamp,
    ) -> Result<Version, ApiError> {
        let p = self.policies.get_mut(name).ok_or_else(no_policy)?;
        if p.versions.len() >= LIMIT_VERSIONS {
            return Err(limit_exceeded(
                "Policy.Version",
                "The count of versions of the policy beyond the current limits.",
            ));
        }
        let v = Version {
            id: format!("v{}", p.next_version),
            doc: doc.to_owned(),
            created: now,
        };
        p.next_version += 1;
        if set_default {
            p.default_version = v.id.clone();
        }
        p.versions.push(v.clone());
        Ok(v)
    }

    /// Deletes a custom policy nobody holds; without `cascade`, only with its default version left.
    fn delete_policy(&mut self, name: &str, cascade: bool) -> Result<(), ApiError> {
        let p = self.policies.get(name).ok_or_else(no_policy)?;
        first_conflict(&[
            (
                p.attached.iter().any(|(k, _)| *k == 0),
                "Policy.User",
                "The policy CAN NOT been attached to any user while deleting the policy.",
            ),
            (
                p.attached.iter().any(|(k, _)| *k == 1),
                "Policy.Group",
                "The policy CAN NOT been attached to any group while deleting the policy.",
            ),
            (
                p.attached.iter().any(|(k, _)| *k == 2),
                "Policy.Role",
                "The policy CAN NOT been attached to any role while deleting the policy.",
            ),
            (
                !cascade && p.versions.len() > 1,
                "Policy.Version",
                "The policy CAN NOT has any version except the default version.",
            ),
        ])?;
        self.policies.remove(name);
        Ok(())
    }

    /// Deletes a version other than the default one.
    fn delete_version(&mut self, name: &str, version: &str) -> Result<(), ApiError> {
        check_version_id(version)?;
        let p = self.policies.get_mut(name).ok_or_else(no_policy)?;
        let Some(i) = p.versions.iter().position(|v| v.id == version) else {
            return Err(no_version());
        };
        if p.default_version == version {
            return Err(conflict(
                "Policy.Version.Default",
                "The default policy version CAN NOT been deleted directly.",
            ));
        }
        p.versions.remove(i);
        Ok(())
    }
}

/// The RAM policy and policy version actions (attachments: [`super::attachments`]).
pub(super) const ACTIONS: &[Action] = &[
    Action::account("ListPolicies", Read, |st, ctx, p| {
        let t = param(p, "PolicyType")
            .filter(|s| !s.is_empty())
            .map(PolicyType::parse)
            .transpose()?;
        only(p, "ListPolicies", &["Marker", "MaxItems", "PolicyType", "Tag"])?;
        let n = max_items(p, "MaxItems", 1000, 100, ctx.page_limit)?;
        let filter = TagFilter::from_json(p)?;
        let keep = |_: &str, pol: &Policy| tags::passes(filter.as_ref(), &pol.tags);
        match t {
            Some(PolicyType::Custom) => {
                let page = st.policies.page_where(param(p, "Marker"), n, keep)?;
                Ok(page.body("Policies", "Policy", custom_policy_json))
            }
            _ => {
                // System policies (and, without a type, custom ones after them) in one list.
                let mut all: Vec<Value> = Vec::new();
                let counts = st.system_attachment_counts();
                // System policies carry no tags: a tag filter leaves only custom ones.
                for s in st.system.iter().filter(|_| filter.is_none()) {
                    let n = counts.get(s.as_str()).copied().unwrap_or(0);
                    all.push(json!({"PolicyName": s, "PolicyType": "System", "DefaultVersion": "v1", "Description": "", "AttachmentCount": n}));
                }
                if t.is_none() {
                    all.extend(
                        st.policies
                            .iter()
                            .filter(|(n, pol)| keep(n, pol))
                            .map(|(n, pol)| custom_policy_json(n, pol)),
                    );
                }
                let start = match param(p, "Marker").filter(|m| !m.is_empty()) {
                    None => 0,
                    Some(m) => m
                        .strip_prefix("SYS")
                        .and_then(|x| x.parse::<usize>().ok())
                        .ok_or_else(|| {
                            ApiError::new(
                                400,
                                "InvalidParameter.Marker",
                                "The parameter - \"Marker\" is incorrect.",
                            )
                        })?,
                };
                let end = (start + n).min(all.len());
                let items: Vec<Value> = all.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
                let mut v = json!({"Policies": {"Policy": items}, "IsTruncated": end < all.len()});
                if end < all.len()
                    && let Some(o) = v.as_object_mut()
                {
                    o.insert("Marker".into(), Value::String(format!("SYS{end}")));
                }
                Ok(v)
            }
        }
    }),
    Action::account("GetPolicy", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        match t {
            PolicyType::Custom => {
                let pol = st.policies.get(name).ok_or_else(no_policy)?;
                Ok(json!({"Policy": custom_policy_json(name, pol)}))
            }
            PolicyType::System if st.system.contains(name) => {
                Ok(json!({"Policy": {"PolicyName": name, "PolicyType": "System", "DefaultVersion": "v1"}}))
            }
            PolicyType::System => Err(no_policy()),
        }
    }),
    Action::account("GetPolicyVersion", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        let id = required(p, "VersionId")?;
        check_version_id(id)?;
        if t == PolicyType::System {
            if !st.system.contains(name) {
                return Err(no_policy());
            }
            if id != "v1" {
                return Err(no_version());
            }
            return Ok(
                json!({"PolicyVersion": {"VersionId": "v1", "IsDefaultVersion": true, "PolicyDocument": DEFAULT_DOC}}),
            );
        }
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        let v = pol.versions.iter().find(|v| v.id == id).ok_or_else(no_version)?;
        Ok(
            json!({"PolicyVersion": {"VersionId": v.id, "IsDefaultVersion": v.id == pol.default_version,
                  "PolicyDocument": v.doc, "CreateDate": utc(v.created)}}),
        )
    }),
    Action::account("CreatePolicy", Mutating, |st, ctx, p| {
        let name = policy_name(p)?;
        let doc = required(p, "PolicyDocument")?;
        check_document(doc)?;
        st.add_policy(name, param(p, "Description").unwrap_or(""), doc, ctx.now)?;
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        Ok(json!({"Policy": custom_policy_json(name, pol)}))
    }),
    Action::account("CreatePolicyVersion", Mutating, |st, ctx, p| {
        let name = policy_name(p)?;
        let doc = required(p, "PolicyDocument")?;
        let v = st.add_version(name, doc, flag(p, "SetAsDefault")?, ctx.now)?;
        let is_default = st.policies.get(name).is_some_and(|x| x.default_version == v.id);
        Ok(
            json!({"PolicyVersion": {"VersionId": v.id, "IsDefaultVersion": is_default, "PolicyDocument": v.doc, "CreateDate": utc(ctx.now)}}),
        )
    }),
    Action::account("ListPolicyVersions", Read, |st, _ctx, p| {
        let name = policy_name(p)?;
        let t = PolicyType::parse(required(p, "PolicyType")?)?;
        if t == PolicyType::System {
            if !st.system.contains(name) {
                return Err(no_policy());
            }
            return Ok(
                json!({"PolicyVersions": {"PolicyVersion": [{"VersionId": "v1", "IsDefaultVersion": true, "PolicyDocument": DEFAULT_DOC}]}}),
            );
        }
        let pol = st.policies.get(name).ok_or_else(no_policy)?;
        let vs: Vec<Value> = pol
                .versions
                .iter()
                .map(|v| json!({"VersionId": v.id, "IsDefaultVersion": v.id == pol.default_version, "PolicyDocument": v.doc, "CreateDate": utc(v.created)}))
                .collect();
        Ok(json!({"PolicyVersions": {"PolicyVersion": vs}}))
    }),
    Action::account("DeletePolicyVersion", Mutating, |st, _ctx, p| {
        let name = policy_name(p)?;
        st.delete_version(name, required(p, "VersionId")?)?;
        Ok(json!({}))
    }),
    Action::account("DeletePolicy", Mutating, |st, _ctx, p| {
        st.delete_policy(policy_name(p)?, flag(p, "CascadingDelete")?)?;
        Ok(json!({}))
    }),
];
