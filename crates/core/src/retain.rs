//! Which objects are never touched: names or glob patterns per kind from `spec.ram.retain`.
//!
//! Patterns support `*` (any run of characters, also empty), `?` (exactly one character) and
//! character classes `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`. Patterns are validated up front so a
//! typo is reported with its place in the spec instead of silently retaining nothing.
//!
//! **Names match case-insensitively, for every kind.** The service treats names that differ only in
//! case as the same object where it matters here (STS `AssumeRole` accepts
//! `.../role/resourcedirectoryaccountaccessrole` for `ResourceDirectoryAccountAccessRole`; domains
//! are case-insensitive), and a wider match can only keep more, never delete more: `Alice` retains
//! `alice`.
//!
//! The access role the operator itself signs in with is always retained, recognised by its
//! `RoleId` (learned from the STS session) as well as by its name in any spelling.

use serde::{Deserialize, Serialize};

use super::model::Kind;

/// The access role Resource Directory creates in every member account.
pub const DEFAULT_ACCESS_ROLE: &str = "ResourceDirectoryAccountAccessRole";

/// `spec.ram.retain`: per kind, names or glob patterns that are never deleted or changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RetainSpec {
    /// RAM users to keep (with their keys, login profile, MFA device, memberships, attachments).
    pub users: Vec<String>,
    /// Groups to keep (with their attachments).
    pub groups: Vec<String>,
    /// Normal roles to keep (with their attachments).
    pub roles: Vec<String>,
    /// Service-linked roles to keep.
    pub service_linked_roles: Vec<String>,
    /// Custom policies to keep (they stay attached where they are).
    pub custom_policies: Vec<String>,
    /// SAML providers to keep.
    pub saml_providers: Vec<String>,
    /// OIDC providers to keep.
    pub oidc_providers: Vec<String>,
    /// Virtual MFA devices to keep, by serial number.
    pub virtual_mfa_devices: Vec<String>,
    /// Default domain values to keep (matched against the current domain).
    pub default_domain: Vec<String>,
    /// OAuth applications to keep, by `AppName` (enterprise and third-party).
    pub applications: Vec<String>,
}

impl RetainSpec {
    /// Adds `other`'s patterns (what another object naming the same account retains).
    pub fn extend(&mut self, other: &RetainSpec) {
        for kind in Kind::ALL {
            for p in other.patterns(kind) {
                let mine = self.patterns_mut(kind);
                if !mine.contains(p) {
                    mine.push(p.clone());
                }
            }
        }
    }

    /// The patterns of `kind`, to add to.
    pub fn patterns_mut(&mut self, kind: Kind) -> &mut Vec<String> {
        match kind {
            Kind::Users => &mut self.users,
            Kind::Groups => &mut self.groups,
            Kind::Roles => &mut self.roles,
            Kind::ServiceLinkedRoles => &mut self.service_linked_roles,
            Kind::CustomPolicies => &mut self.custom_policies,
            Kind::SamlProviders => &mut self.saml_providers,
            Kind::OidcProviders => &mut self.oidc_providers,
            Kind::VirtualMfaDevices => &mut self.virtual_mfa_devices,
            Kind::DefaultDomain => &mut self.default_domain,
            Kind::Applications => &mut self.applications,
        }
    }

    /// The patterns given for `kind`.
    #[must_use]
    pub fn patterns(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Users => &self.users,
            Kind::Groups => &self.groups,
            Kind::Roles => &self.roles,
            Kind::ServiceLinkedRoles => &self.service_linked_roles,
            Kind::CustomPolicies => &self.custom_policies,
            Kind::SamlProviders => &self.saml_providers,
            Kind::OidcProviders => &self.oidc_providers,
            Kind::VirtualMfaDevices => &self.virtual_mfa_devices,
            Kind::DefaultDomain => &self.default_domain,
            Kind::Applications => &self.applications,
        }
    }

    /// Validates every pattern and compiles the matcher; `access_role` is always retained (see
    /// [`Retain::with_access_role_id`] for the identity check).
    ///
    /// # Errors
    /// The first malformed pattern, naming its place (`spec.ram.retain.users[2]`).
    pub fn compile(&self, access_role: &str) -> Result<Retain, RetainError> {
        let mut per_kind = Vec::with_capacity(Kind::ALL.len());
        for kind in Kind::ALL {
            let mut pats = Vec::new();
            for (index, p) in self.patterns(kind).iter().enumerate() {
                let glob = Glob::parse(p).map_err(|reason| RetainError {
                    kind,
                    index,
                    pattern: p.clone(),
                    reason,
                })?;
                pats.push(glob);
            }
            per_kind.push((kind, pats));
        }
        Ok(Retain {
            per_kind,
            access_role: access_role.to_string(),
            access_role_id: None,
        })
    }
}

/// A malformed retain pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.ram.retain.{kind}[{index}]: invalid pattern {pattern:?}: {reason}")]
pub struct RetainError {
    /// Kind the pattern was given for.
    pub kind: Kind,
    /// Index in that kind's list.
    pub index: usize,
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compiled retain rules.
#[derive(Debug, Clone)]
pub struct Retain {
    per_kind: Vec<(Kind, Vec<Glob>)>,
    access_role: String,
    access_role_id: Option<String>,
}

impl Default for Retain {
    fn default() -> Self {
        Retain {
            per_kind: Vec::new(),
            access_role: DEFAULT_ACCESS_ROLE.to_string(),
            access_role_id: None,
        }
    }
}

impl Retain {
    /// Also protects the role with this `RoleId`: the role the STS session really is, whatever
    /// `spec.accessRoleName` says.
    #[must_use]
    pub fn with_access_role_id(mut self, role_id: Option<String>) -> Retain {
        self.access_role_id = role_id.filter(|r| !r.is_empty());
        self
    }

    /// True if the object `name` of `kind` must not be touched.
    #[must_use]
    pub fn is_retained(&self, kind: Kind, name: &str) -> bool {
        if kind == Kind::Roles && name.eq_ignore_ascii_case(&self.access_role) {
            return true;
        }
        self.per_kind
            .iter()
            .filter(|(k, _)| *k == kind)
            .any(|(_, pats)| pats.iter().any(|g| g.matches(name)))
    }

    /// True for the operator's own access role: the same `RoleId` as the session, or the same name
    /// in any spelling.
    #[must_use]
    pub fn is_access_role(&self, name: &str, role_id: Option<&str>) -> bool {
        name.eq_ignore_ascii_case(&self.access_role)
            || matches!((role_id, self.access_role_id.as_deref()), (Some(a), Some(b)) if a == b)
    }

    /// The access role name (always retained).
    #[must_use]
    pub fn access_role(&self) -> &str {
        &self.access_role
    }
}

/// One validated glob pattern, matched by `globset` (case-insensitive, no path separators, no
/// escapes). RAM names are letters, digits and `.-_@`, so the few spellings `globset` would read
/// differently from a shell (`{a,b}`, a lone `]`, `[` inside a class, an empty pattern) are
/// refused up front with a reason instead of silently meaning something else.
#[derive(Debug, Clone)]
pub struct Glob {
    matcher: globset::GlobMatcher,
}

impl Glob {
    /// Parses `pattern`.
    ///
    /// # Errors
    /// A plain-words reason: empty pattern, unclosed or empty `[...]`, reversed range, `{`/`}`.
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        precheck(pattern)?;
        let glob = globset::GlobBuilder::new(pattern)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(false)
            .empty_alternates(false)
            .build()
            .map_err(|e| e.kind().to_string())?;
        Ok(Glob {
            matcher: glob.compile_matcher(),
        })
    }

    /// True if `name` matches the whole pattern, ignoring case (see the module doc).
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

/// The pattern rules `globset` is more lenient about, with the position of the first problem.
fn precheck(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty pattern".to_string());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' | '}' => {
                return Err(format!(
                    "'{}' at position {i}: alternatives are not supported",
                    chars[i]
                ));
            }
            ']' => return Err(format!("unmatched ']' at position {i}")),
            '[' => {
                let start = i;
                i += 1;
                if matches!(chars.get(i), Some('!' | '^')) {
                    i += 1;
                }
                let first = i;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unclosed '[' at position {start}")),
                        Some(']') if i == first => {
                            return Err(format!("empty character class at position {start}"));
                        }
                        Some(']') => break,
                        Some('[') => return Err(format!("'[' inside a character class at position {i}")),
                        Some(&c) => {
                            if chars.get(i + 1) == Some(&'-')
                                && let Some(&end) = chars.get(i + 2).filter(|&&e| e != ']')
                            {
                                if end < c {
                                    return Err(format!("reversed range {c}-{end} at position {i}"));
                                }
                                i += 3;
                            } else {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::parse(p).unwrap().matches(s)
    }

    #[test]
    fn literal_is_exact_but_ignores_case() {
        assert!(m("alice", "alice"));
        assert!(m("alice", "Alice"));
        assert!(m("BREAK-*", "break-glass"));
        assert!(m("ops-[a-c]", "OPS-B"));
        assert!(m("ops-[A-C]", "ops-b"));
        assert!(!m("ops-[!a-c]", "ops-B"));
        assert!(!m("alice", "alice2"));
        assert!(!m("alice", "alic"));
    }

    #[test]
    fn star_and_question_mark() {
        assert!(m("break*", "breakglass"));
        assert!(m("break*", "break"));
        assert!(m("*glass", "breakglass"));
        assert!(m("b*k*s", "breakglass"));
        assert!(!m("b*k*x", "breakglass"));
        assert!(m("svc-?", "svc-a"));
        assert!(!m("svc-?", "svc-ab"));
        assert!(!m("svc-?", "svc-"));
        assert!(m("*", ""));
        assert!(m("a**b", "ab"));
        assert!(m("*a*a*a", "aaaa"));
        assert!(!m("*a*a*a", "aab"));
    }

    #[test]
    fn character_classes() {
        assert!(m("ops-[abc]", "ops-b"));
        assert!(!m("ops-[abc]", "ops-d"));
        assert!(m("ops-[a-c0-9]", "ops-7"));
        assert!(m("ops-[!a-c]", "ops-x"));
        assert!(!m("ops-[^a-c]", "ops-a"));
        assert!(m("[-a]x", "-x"));
        assert!(m("[a-]x", "-x"));
    }

    #[test]
    fn malformed_patterns_name_kind_index_and_pattern() {
        let spec = RetainSpec {
            users: vec!["ok".into(), "fine*".into(), "bad[a-".into()],
            ..RetainSpec::default()
        };
        let err = spec.compile(DEFAULT_ACCESS_ROLE).unwrap_err();
        assert_eq!(err.kind, Kind::Users);
        assert_eq!(err.index, 2);
        let msg = err.to_string();
        assert!(
            msg.starts_with("spec.ram.retain.users[2]: invalid pattern \"bad[a-\""),
            "{msg}"
        );
        assert!(msg.contains("unclosed"), "{msg}");

        for bad in ["", "x[]", "[z-a]", "a]b", "[[a]"] {
            let spec = RetainSpec {
                service_linked_roles: vec![bad.into()],
                ..RetainSpec::default()
            };
            let err = spec.compile(DEFAULT_ACCESS_ROLE).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("spec.ram.retain.serviceLinkedRoles[0]"),
                "{err}"
            );
        }
    }

    #[test]
    fn access_role_is_always_retained_and_kinds_are_separate() {
        let spec = RetainSpec {
            users: vec!["break*".into()],
            ..RetainSpec::default()
        };
        let r = spec.compile("CustomAccess").unwrap();
        assert!(r.is_retained(Kind::Roles, "CustomAccess"));
        assert!(r.is_retained(Kind::Roles, "customaccess"));
        assert!(r.is_access_role("CUSTOMACCESS", None));
        assert!(!r.is_access_role("Other", Some("42")));
        let r = r.with_access_role_id(Some("42".into()));
        assert!(r.is_access_role("Other", Some("42")));
        assert!(!r.is_access_role("Other", Some("43")));
        assert!(!r.is_retained(Kind::Roles, DEFAULT_ACCESS_ROLE));
        assert!(!r.is_retained(Kind::Users, "CustomAccess"));
        assert!(r.is_retained(Kind::Users, "breakglass"));
        assert!(!r.is_retained(Kind::Groups, "breakglass"));
        assert!(Retain::default().is_retained(Kind::Roles, DEFAULT_ACCESS_ROLE));
    }

    #[test]
    fn spec_deserializes_from_camel_case_with_missing_kinds() {
        let s: RetainSpec =
            serde_json::from_str(r#"{"users":["a"],"serviceLinkedRoles":["AliyunServiceRoleFor*"]}"#)
                .unwrap();
        assert_eq!(s.users, vec!["a"]);
        assert_eq!(s.patterns(Kind::ServiceLinkedRoles), ["AliyunServiceRoleFor*"]);
        assert!(s.groups.is_empty());
    }
}
