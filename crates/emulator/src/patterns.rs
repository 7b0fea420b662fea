//! `product:Action` patterns, matched with [`globset`] and ignoring case, in two syntaxes:
//!
//! - the emulator's own configuration (key `allow` lists, fault filters' `actions`) takes globs:
//!   `*` matches any run of characters (`:` included, so `ram:*` and `*:Delete*` both work), `?` one
//!   character, `[...]` a class and `{a,b}` alternatives. They are checked where they enter (the
//!   seed, the fault configuration), so a typo is an error naming the pattern rather than a filter
//!   that silently matches nothing;
//! - RAM policy documents (STS session policies) know only the `*` wildcard, everything else is
//!   literal, as in the service's policy grammar ([`ActionPatterns::wildcards`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A pattern globset refuses, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action pattern {pattern:?} is invalid: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled list of patterns; it matches a label when one of them does (an empty list matches
/// nothing).
#[derive(Debug, Clone)]
pub struct ActionPatterns {
    set: GlobSet,
}

/// One glob with the emulator's options: no path separator semantics, case-insensitive.
fn glob(pattern: &str) -> Result<globset::Glob, PatternError> {
    build(pattern, pattern, true)
}

/// One pattern of the policy grammar: `*` (one or several in a row) is the only wildcard.
fn wildcard(pattern: &str) -> Result<globset::Glob, PatternError> {
    let mut glob = String::with_capacity(pattern.len());
    for (i, literal) in pattern.split('*').enumerate() {
        if i > 0 && !glob.ends_with('*') {
            glob.push('*');
        }
        glob.push_str(&globset::escape(literal));
    }
    build(pattern, &glob, false)
}

/// `glob` compiled for `pattern` (the name errors give).
fn build(pattern: &str, glob: &str, backslash_escape: bool) -> Result<globset::Glob, PatternError> {
    GlobBuilder::new(glob)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(backslash_escape)
        .build()
        .map_err(|e| PatternError {
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

impl ActionPatterns {
    /// Compiles `patterns`.
    ///
    /// # Errors
    /// The first pattern globset refuses.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        Self::compile(patterns, glob)
    }

    /// Compiles patterns of the policy grammar, where `*` is the only wildcard.
    ///
    /// # Errors
    /// Only when the set is too large for globset (a policy is at most 2048 characters).
    pub fn wildcards<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        Self::compile(patterns, wildcard)
    }

    /// Compiles each pattern with `one` into one set.
    fn compile<S: AsRef<str>>(
        patterns: &[S],
        one: fn(&str) -> Result<globset::Glob, PatternError>,
    ) -> Result<Self, PatternError> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            b.add(one(p.as_ref())?);
        }
        let set = b.build().map_err(|e| PatternError {
            pattern: patterns.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", "),
            reason: e.to_string(),
        })?;
        Ok(Self { set })
    }

    /// Like [`ActionPatterns::new`], but a pattern that does not compile matches nothing (for lists
    /// that were not checked where they entered).
    #[must_use]
    pub fn lenient<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            match glob(p.as_ref()) {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => tracing::warn!(error = %e, "ignoring an action pattern"),
            }
        }
        Self {
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    /// True when one of the patterns matches `label` (`product:Action`).
    #[must_use]
    pub fn is_match(&self, label: &str) -> bool {
        self.set.is_match(label)
    }
}

/// Checks every pattern of a list.
///
/// # Errors
/// The first pattern globset refuses.
pub fn check<S: AsRef<str>>(patterns: &[S]) -> Result<(), PatternError> {
    patterns.iter().try_for_each(|p| glob(p.as_ref()).map(drop))
}

/// Lists compiled at most this many at once before the cache starts over.
const CACHE_LIMIT: usize = 1024;

/// True when one of `patterns` matches `label`. A key's `allow` list is checked on every call, so
/// each distinct list is compiled once and kept (there is one a seeded key; `*` alone needs none).
#[must_use]
pub fn any_match(patterns: &[String], label: &str) -> bool {
    static CACHE: OnceLock<RwLock<HashMap<Vec<String>, Arc<ActionPatterns>>>> = OnceLock::new();
    if patterns.iter().any(|p| p == "*") {
        return true;
    }
    let cache = CACHE.get_or_init(RwLock::default);
    let hit = cache
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(patterns)
        .cloned();
    let compiled = hit.unwrap_or_else(|| {
        let compiled = Arc::new(ActionPatterns::lenient(patterns));
        let mut w = cache.write().unwrap_or_else(PoisonError::into_inner);
        if w.len() >= CACHE_LIMIT {
            w.clear();
        }
        w.insert(patterns.to_vec(), Arc::clone(&compiled));
        compiled
    });
    compiled.is_match(label)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        ActionPatterns::new(&[pattern]).unwrap().is_match(text)
    }

    #[test]
    fn glob() {
        assert!(m("*", "ram:ListUsers"));
        assert!(m("ram:List*", "ram:ListUsers"));
        assert!(!m("ram:List*", "ram:DeleteUser"));
        assert!(!m("ram:List*", "ims:ListUsers"));
        assert!(m("sts:AssumeRole", "sts:AssumeRole"));
        assert!(m("*:Delete*", "ims:DeleteUser"));
        assert!(!m("sts:AssumeRole", "sts:AssumeRoleX"));
        // as before: case does not matter, `*` crosses `:` and `/`, stars in a row are one
        assert!(m("RAM:list*", "ram:ListUsers"));
        assert!(m("r*s", "ram:ListUsers"));
        assert!(m("a/*", "a/b/c"));
        assert!(m("ram:**Users", "ram:ListUsers"));
        assert!(m("", "") && !m("", "x"));
        // the glob syntax beyond `*`
        assert!(m("ram:{List,Get}User*", "ram:GetUser"));
        assert!(m("ram:?etUser", "ram:GetUser"));
        // refused up front, naming the pattern
        let e = ActionPatterns::new(&["ram:List*", "ram:[Delete"]).unwrap_err();
        assert_eq!(e.pattern, "ram:[Delete");
        assert!(e.to_string().contains("\"ram:[Delete\""), "{e}");
        assert!(check(&["ims:*", "ram:{a"]).is_err());
        assert!(check(&["ims:*"]).is_ok());
        // the cached form agrees, and a list that was never checked matches only what compiles
        let allow = vec!["ram:List*".to_owned(), "ram:[x".to_owned()];
        assert!(any_match(&allow, "ram:ListUsers") && any_match(&allow, "ram:ListUsers"));
        assert!(!any_match(&allow, "ram:DeleteUser"));
        assert!(!any_match(&[], "ram:ListUsers"));
        // the policy grammar: `*` only, the rest literal, `**` is `*`
        let w = |p: &str, t: &str| ActionPatterns::wildcards(&[p]).unwrap().is_match(t);
        assert!(w("ram:List*", "RAM:listusers") && w("*", "sts:AssumeRole"));
        assert!(w("ram:Get?", "ram:Get?") && !w("ram:Get?", "ram:GetX"));
        assert!(w("ram:[a]{b,c}\\", "ram:[a]{b,c}\\") && !w("ram:[a]", "ram:a"));
        assert!(w("**/x", "a/x") && !w("**/x", "x") && w("a**b", "a:b"));
    }
}
