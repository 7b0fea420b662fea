//! Session policies of `AssumeRole` (`Policy`, alibaba-api.md §7): the minted credentials may do only
//! what both the role and the session policy allow. The emulator's roles allow every action, so the
//! session policy alone narrows: an explicit `Deny` wins, otherwise an `Allow` must match, otherwise
//! the call is implicitly denied.
//!
//! Actions match case-insensitively with `*` wildcards against the RAM authorization name of the
//! call: `ram:<Action>` for RAM **and IMS** (IMS is authorized with `ram:` actions),
//! `resourcemanager:<Action>`, `sts:<Action>`. `Resource` must be present but is not evaluated (every
//! resource matches); statements with `Condition`, `NotAction` or `NotResource` are refused rather than
//! evaluated wrongly.

use serde_json::Value;

use super::api::{ApiError, Product};
use super::patterns::ActionPatterns;

/// Longest session policy `AssumeRole` accepts (characters).
pub const MAX_POLICY_LEN: usize = 2048;

/// What a session policy says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matches and no `Deny` does.
    Allow,
    /// No statement matches.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

/// A parsed session policy: the `Action` patterns of its `Deny` and of its `Allow` statements.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    deny: ActionPatterns,
    allow: ActionPatterns,
}

fn grammar(detail: &str) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter.PolicyGrammar",
        format!("The parameter Policy has not been parsed: {detail}."),
    )
}

/// A string or a list of strings (`Action`, `Resource`).
fn strings(v: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| grammar(&format!("{what} must be strings")))
            })
            .collect(),
        _ => Err(grammar(&format!("{what} must be a string or a non-empty list"))),
    }
}

impl SessionPolicy {
    /// Parses and checks a policy document.
    ///
    /// # Errors
    /// `InvalidParameter.PolicySize` (longer than 2048), `InvalidParameter.PolicyGrammar`,
    /// `InvalidParameter.Unsupported` for parts the emulator does not evaluate.
    pub fn parse(doc: &str) -> Result<Self, ApiError> {
        if doc.chars().count() > MAX_POLICY_LEN {
            return Err(ApiError::new(
                400,
                "InvalidParameter.PolicySize",
                format!("The parameter Policy is longer than {MAX_POLICY_LEN} characters."),
            ));
        }
        let v: Value = serde_json::from_str(doc).map_err(|_| grammar("not valid JSON"))?;
        if v.get("Version").and_then(Value::as_str) != Some("1") {
            return Err(grammar("Version must be \"1\""));
        }
        let list = v
            .get("Statement")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| grammar("Statement must be a non-empty list"))?;
        let (mut deny, mut allow) = (Vec::new(), Vec::new());
        for st in list {
            for unsupported in ["Condition", "NotAction", "NotResource"] {
                if st.get(unsupported).is_some() {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameter.Unsupported",
                        format!("aliyun-emulator does not evaluate {unsupported} in session policies."),
                    ));
                }
            }
            let allow_effect = match st.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err(grammar("Effect must be Allow or Deny")),
            };
            let actions = strings(
                st.get("Action").ok_or_else(|| grammar("Action is required"))?,
                "Action",
            )?;
            strings(
                st.get("Resource")
                    .ok_or_else(|| grammar("Resource is required"))?,
                "Resource",
            )?;
            if allow_effect {
                allow.extend(actions);
            } else {
                deny.extend(actions);
            }
        }
        let compile = |actions: &[String]| {
            ActionPatterns::wildcards(actions).map_err(|e| grammar(&format!("Action {e}")))
        };
        Ok(Self {
            deny: compile(&deny)?,
            allow: compile(&allow)?,
        })
    }

    /// The RAM authorization name of a call (`ram:ListUsers` for RAM and IMS).
    #[must_use]
    pub fn auth_action(product: Product, action: &str) -> String {
        let ns = match product {
            Product::Ram | Product::Ims => "ram",
            Product::ResourceManager => "resourcemanager",
            Product::Sts => "sts",
        };
        format!("{ns}:{action}")
    }

    /// What the policy says about `product`/`action`.
    #[must_use]
    pub fn decide(&self, product: Product, action: &str) -> Decision {
        let name = Self::auth_action(product, action);
        if self.deny.is_match(&name) {
            Decision::ExplicitDeny
        } else if self.allow.is_match(&name) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deny_wins_allow_lists_restrict_and_ims_is_ram() {
        let p = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["ram:List*","ram:Get*"],"Resource":"*"},
                {"Effect":"Deny","Action":"ram:ListUsers","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.decide(Product::Ram, "ListRoles"), Decision::Allow);
        assert_eq!(p.decide(Product::Ims, "ListPasskeys"), Decision::Allow);
        assert_eq!(p.decide(Product::Ram, "ListUsers"), Decision::ExplicitDeny);
        assert_eq!(p.decide(Product::Ims, "ListUsers"), Decision::ExplicitDeny);
        assert_eq!(p.decide(Product::Ram, "DeleteUser"), Decision::ImplicitDeny);
        let all = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(all.decide(Product::Sts, "AssumeRole"), Decision::ExplicitDeny);
        for (doc, code) in [
            ("nope", "InvalidParameter.PolicyGrammar"),
            (
                r#"{"Version":"1","Statement":[]}"#,
                "InvalidParameter.PolicyGrammar",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                "InvalidParameter.PolicyGrammar",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}"#,
                "InvalidParameter.Unsupported",
            ),
        ] {
            assert_eq!(SessionPolicy::parse(doc).unwrap_err().code, code, "{doc}");
        }
        let long = format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"{}","Resource":"*"}}]}}"#,
            "a".repeat(2100)
        );
        assert_eq!(
            SessionPolicy::parse(&long).unwrap_err().code,
            "InvalidParameter.PolicySize"
        );
    }
}
