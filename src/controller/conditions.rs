//! Status conditions with kstatus semantics (`Ready`, `Reconciling`, `Stalled`) plus the domain
//! conditions (`RamEmpty`, `DeletionAllowed`, `Deleted`). `lastTransitionTime` moves only when a
//! condition's status flips, so Argo CD, Flux and `kubectl wait` see stable history.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `True` / `False` / `Unknown` as Kubernetes spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl Truth {
    fn as_str(self) -> &'static str {
        match self {
            Truth::True => "True",
            Truth::False => "False",
            Truth::Unknown => "Unknown",
        }
    }

    /// `True` when `b`, else `False`.
    #[must_use]
    pub fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

/// The condition types this operator writes: the three kstatus ones and its domain conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// kstatus: the desired state for the mode is reached.
    Ready,
    /// kstatus: work is in progress.
    Reconciling,
    /// kstatus: cannot progress until something changes.
    Stalled,
    /// The selected RAM kinds are empty except what is retained.
    RamEmpty,
    /// ResourceManager's pre-check allows the deletion.
    DeletionAllowed,
    /// The account is deleted.
    Deleted,
}

impl Cond {
    /// The `type` as status shows it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Cond::Ready => "Ready",
            Cond::Reconciling => "Reconciling",
            Cond::Stalled => "Stalled",
            Cond::RamEmpty => "RamEmpty",
            Cond::DeletionAllowed => "DeletionAllowed",
            Cond::Deleted => "Deleted",
        }
    }
}

/// Sets (or adds) condition `type_`, keeping `lastTransitionTime` when the status is unchanged.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: Cond,
    status: Truth,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &jiff::Timestamp,
) {
    let type_ = type_.as_str();
    let status_s = status.as_str().to_string();
    // A condition always says something: the reason when no message was given.
    let message = if message.is_empty() { reason } else { message };
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status_s {
            c.last_transition_time = Time(*now);
            c.status = status_s;
        }
        c.reason = reason.to_string();
        c.message = message.to_string();
        c.observed_generation = generation;
        return;
    }
    conditions.push(Condition {
        type_: type_.to_string(),
        status: status_s,
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: Time(*now),
    });
}

/// The status of condition `type_` (`True`, `False`, `Unknown`), if present.
#[must_use]
pub fn status_of(conditions: &[Condition], type_: Cond) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == type_.as_str())
        .map(|c| c.status.as_str())
}

/// True when condition `type_` is present with status `True`.
#[must_use]
pub fn is_true(conditions: &[Condition], type_: Cond) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_.as_str() && c.status == Truth::True.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_flip() {
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let t2: jiff::Timestamp = "2026-01-01T00:09:00Z".parse().unwrap();
        let mut c = Vec::new();
        set(&mut c, Cond::Ready, Truth::False, "Planning", "a", Some(1), &t0);
        set(&mut c, Cond::Ready, Truth::False, "Purging", "b", Some(1), &t1);
        assert_eq!(c[0].last_transition_time.0, t0);
        assert_eq!(c[0].reason, "Purging");
        set(&mut c, Cond::Ready, Truth::True, "Deleted", "c", Some(2), &t2);
        assert_eq!(c[0].last_transition_time.0, t2);
        assert_eq!(status_of(&c, Cond::Ready), Some("True"));
        assert_eq!(c.len(), 1);
    }
}
