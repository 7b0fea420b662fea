//! The decisions of a pass, as pure functions of what was observed: no I/O, no clock, no
//! Kubernetes. [`super::act`] gathers the observations in order (each gate decides whether the
//! next observation is worth making) and performs the one step chosen; these functions say which
//! step that is, and why. They are tested with plain tables (`decide/tests.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use ado_core::api::{SessionRole, SlrPhase};
use ado_core::inventory::Attachments;
use ado_core::{ErrorClass, Kind, Plan};

use crate::crd::{AccountDeletionStatus, AlibabaErrorStatus, ClaimWaiter, Mode};

use super::super::block::{Block, BlockReason};
use super::super::conditions::{self, Cond};
use super::super::directory::{
    AccountInfo, AccountType, CheckResult, DeletionState, DeletionStatusInfo, DirectoryInfo, MemberDeletion,
};
use super::super::hints::is_retryable;
use super::SILENCE_PERIOD_DAYS;

/// Where a pass starts, from the recorded status and the spec alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The account was deleted: nothing more to do, ever.
    Deleted,
    /// `spec.suspend`: no call at all.
    Suspended,
    /// `DeleteAccount` was accepted: only its status is read.
    FollowDeletion,
    /// Verify the target, then inventory.
    Verify,
}

/// Where a pass starts.
#[must_use]
pub fn start(st: &AccountDeletionStatus, suspend: bool) -> Start {
    if st.phase == Some(crate::crd::Phase::Deleted) {
        Start::Deleted
    } else if suspend {
        Start::Suspended
    } else if st.delete_requested_time.is_some() {
        Start::FollowDeletion
    } else {
        Start::Verify
    }
}

/// The directory is known: the account must not be its management account.
///
/// # Errors
/// `ManagementAccount`.
pub fn verify_directory(id: &str, rd: &DirectoryInfo) -> Result<(), Block> {
    if rd.management_account_id == id {
        return Err(Block::new(
            BlockReason::ManagementAccount,
            format!(
                "account {id} is the management account of resource directory {}; it is never emptied or deleted",
                rd.id
            ),
        ));
    }
    Ok(())
}

/// `GetAccount` said the account is not a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Work started on it and mode is Delete: it was deleted (maybe by hand).
    AlreadyDeleted,
    /// Nothing started on it: the spec names the wrong account.
    NotInDirectory(Block),
}

/// What a missing account means.
#[must_use]
pub fn account_missing(id: &str, st: &AccountDeletionStatus, mode: Mode, rd: &DirectoryInfo) -> Missing {
    if st.started_account_id.as_deref() == Some(id) && mode == Mode::Delete {
        return Missing::AlreadyDeleted;
    }
    Missing::NotInDirectory(Block::new(
        BlockReason::AccountNotInDirectory,
        format!(
            "account {id} is not a member of resource directory {}; check spec.accountId",
            rd.id
        ),
    ))
}

/// The account is known: both identifiers must name it, and mode Delete needs a deletable member.
///
/// # Errors
/// `DisplayNameMismatch`, `NotDeletableMemberType`.
pub fn verify_account(id: &str, display_name: &str, mode: Mode, acc: &AccountInfo) -> Result<(), Block> {
    if acc.display_name != display_name {
        return Err(Block::new(
            BlockReason::DisplayNameMismatch,
            format!(
                "spec.accountDisplayName is {display_name:?} but account {id} is named {:?}; nothing is touched until \
                 both identifiers name the same account",
                acc.display_name
            ),
        ));
    }
    if mode == Mode::Delete && acc.account_type != AccountType::ResourceAccount {
        return Err(Block::new(
            BlockReason::NotDeletableMemberType,
            format!(
                "account {id} is a {} member (joined by invitation); ResourceManager deletes only members created \
                 in the directory. Remove it from the directory instead, or use mode PurgeRam",
                acc.account_type
            ),
        ));
    }
    Ok(())
}

/// The member session is known: it must be in the account, and (when roles may be changed) say
/// which role it is. Returns the RoleId the plan must never touch.
///
/// # Errors
/// `WrongAccount`, `AccessRoleUnidentified`.
pub fn verify_session(
    id: &str,
    session: Option<&SessionRole>,
    mode: Mode,
    kinds: &BTreeSet<Kind>,
) -> Result<Option<String>, Block> {
    match session {
        Some(s) if s.account_id != id => Err(Block::new(
            BlockReason::WrongAccount,
            format!(
                "AssumeRole into account {id} returned a session in account {} (role {}); nothing is touched. \
                 Check spec.accessRoleName and the endpoints",
                s.account_id, s.role_name
            ),
        )),
        Some(s) => Ok(Some(s.role_id.clone())),
        None if mode != Mode::Plan
            && (kinds.contains(&Kind::Roles) || kinds.contains(&Kind::ServiceLinkedRoles)) =>
        {
            Err(Block::new(
                BlockReason::AccessRoleUnidentified,
                format!(
                    "the STS session in account {id} did not say which role it is (no AssumedRoleUser, no \
                     GetCallerIdentity RoleId), so the operator cannot protect its own access role; nothing is \
                     touched. Leave roles and serviceLinkedRoles out of spec.ram.kinds, or report this"
                ),
            ))
        }
        None => Ok(None),
    }
}

/// How to read policy attachments: after the service refused a delete because a policy is still
/// attached, per principal (that path does not depend on `AttachmentCount`).
#[must_use]
pub fn attachments(last_error: Option<&AlibabaErrorStatus>) -> Attachments {
    match last_error {
        Some(e) if e.code.starts_with("DeleteConflict.") && e.code.contains(".Policy") => {
            Attachments::ByPrincipal
        }
        _ => Attachments::Auto,
    }
}

/// Milliseconds since an RFC 3339 time recorded in status, if it parses.
fn ms_since(t: Option<&str>, now: jiff::Timestamp) -> Option<i64> {
    t.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| now.as_millisecond() - t.as_millisecond())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a later look at an account found empty may use the cheap check (`GetAccountSummary`
/// plus the listings it does not cover) instead of the whole inventory.
#[must_use]
pub fn cheap_check(
    st: &AccountDeletionStatus,
    mode: Mode,
    kinds: &BTreeSet<Kind>,
    now: jiff::Timestamp,
    empty_confirm: Duration,
) -> bool {
    let window_over =
        ms_since(st.empty_observed_time.as_deref(), now).is_some_and(|ms| ms >= millis(empty_confirm));
    mode != Mode::Plan
        && kinds.len() == Kind::ALL.len()
        && !st.inventory.is_empty()
        && !st
            .service_linked_role_tasks
            .iter()
            .any(|t| slr_in_flight(&t.status))
        && (window_over || conditions::is_true(&st.conditions, Cond::RamEmpty))
}

/// What stands between a fresh plan and the first mutating call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead.
    Open,
    /// `spec.notBefore` is in the future: come back after this long.
    NotBefore {
        /// The message for status.
        message: String,
        /// When to look again.
        after: Duration,
    },
    /// Refused.
    Blocked(Block),
}

/// The guards before the first change: member deletion possible for mode Delete (emptying RAM
/// for nothing is refused), `spec.notBefore`, `spec.approvedPlanHash` (see [`super::approval`]).
#[must_use]
pub fn before_first_change(
    mode: Mode,
    rd: &DirectoryInfo,
    not_before: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    resync: Duration,
    plan_hash: &str,
) -> Gate {
    if mode == Mode::Delete && rd.member_deletion_status != MemberDeletion::Enabled {
        return Gate::Blocked(Block::new(
            BlockReason::MemberDeletionDisabled,
            format!(
                "member deletion is {} for resource directory {}: nothing was changed. Enable it in the Resource \
                 Directory console (SetMemberDeletionPermission Status=Enabled), or use spec.mode PurgeRam to only \
                 empty RAM",
                rd.member_deletion_status, rd.id
            ),
        ));
    }
    if let Some(nb) = not_before
        && now < nb
    {
        let wait = Duration::from_secs(
            nb.as_second()
                .saturating_sub(now.as_second())
                .max(1)
                .unsigned_abs(),
        );
        return Gate::NotBefore {
            message: format!(
                "spec.notBefore is {}: no change before then (plan hash {plan_hash})",
                super::report::ts(nb)
            ),
            after: wait.min(resync),
        };
    }
    Gate::Open
}

/// An empty plan: RAM counts as empty only when two inventories `confirm` apart agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emptiness {
    /// First sighting: record it and look again after `confirm`.
    FirstSeen,
    /// Seen before, too recently: look again after this long.
    Verifying(Duration),
    /// Confirmed (now or earlier).
    Confirmed,
}

/// Whether an empty inventory confirms emptiness.
#[must_use]
pub fn emptiness(st: &AccountDeletionStatus, now: jiff::Timestamp, confirm: Duration) -> Emptiness {
    if conditions::is_true(&st.conditions, Cond::RamEmpty) {
        return Emptiness::Confirmed;
    }
    let Some(elapsed) = st
        .empty_observed_time
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| now.as_millisecond() - t.as_millisecond())
    else {
        return Emptiness::FirstSeen;
    };
    let left = millis(confirm) - elapsed;
    if left > 0 {
        let after = Duration::from_millis(left.unsigned_abs()).max(Duration::from_millis(200));
        return Emptiness::Verifying(after);
    }
    Emptiness::Confirmed
}

/// A finished pre-check and the waiters: the check ids to abandon, or why `DeleteAccount` must not
/// be sent.
///
/// # Errors
/// `DeletionBlocked`, `AbandonableChecksNotWaived`, `ConflictingAccountDeletion`.
pub fn deletion(
    id: &str,
    check: &CheckResult,
    waived: &[String],
    waiters: &[ClaimWaiter],
) -> Result<Vec<String>, Block> {
    if !check.blocking.is_empty() {
        let list: Vec<String> = check
            .blocking
            .iter()
            .map(|c| format!("{} ({}): {}", c.check_name, c.check_id, c.description))
            .collect();
        return Err(Block::new(
            BlockReason::DeletionBlocked,
            format!(
                "ResourceManager does not allow deleting account {id}: {}",
                list.join("; ")
            ),
        ));
    }
    let not_waived: Vec<String> = check
        .abandonable
        .iter()
        .filter(|c| !waived.contains(&c.check_id))
        .map(|c| format!("{} ({}): {}", c.check_id, c.check_name, c.description))
        .collect();
    if !not_waived.is_empty() {
        return Err(Block::new(
            BlockReason::AbandonableChecksNotWaived,
            format!(
                "deleting account {id} abandons resources: {}. Add the check ids to spec.deletion.abandonableCheckIds \
                 to accept this",
                not_waived.join("; ")
            ),
        ));
    }
    if !check.allow_delete && check.abandonable.is_empty() {
        return Err(Block::new(
            BlockReason::DeletionBlocked,
            format!("ResourceManager does not allow deleting account {id}"),
        ));
    }
    if let Some(w) = waiters.iter().find(|w| w.mode != Mode::Delete) {
        return Err(Block::new(
            BlockReason::ConflictingAccountDeletion,
            format!(
                "AccountDeletion {} (mode {}) also names account {id} and does not want it deleted; RAM is emptied \
                 but DeleteAccount is not sent. Delete {} or set its mode to Delete",
                w.object.key(),
                w.mode.as_str(),
                w.object.key()
            ),
        ));
    }
    Ok(check
        .abandonable
        .iter()
        .map(|c| c.check_id.clone())
        .filter(|c| waived.contains(c))
        .collect())
}

/// The `DeletionAllowed` condition a finished pre-check yields: (true?, reason, message).
#[must_use]
pub fn deletion_allowed(check: &CheckResult, waived: &[String]) -> (bool, &'static str, String) {
    let unwaived = check
        .abandonable
        .iter()
        .filter(|c| !waived.contains(&c.check_id))
        .count();
    if !check.blocking.is_empty() {
        (
            false,
            BlockReason::DeletionBlocked.as_str(),
            format!("{} blocking check(s)", check.blocking.len()),
        )
    } else if unwaived > 0 {
        (
            false,
            BlockReason::AbandonableChecksNotWaived.as_str(),
            format!("{unwaived} abandonable check(s) not waived"),
        )
    } else {
        (true, "Allowed", "ResourceManager allows the deletion".to_string())
    }
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A code that passes by itself (a check still running): look again at the poll interval.
    RetrySoon,
    /// Throttled or transient: retry after the error delay, with a Warning.
    RetryWithBackoff,
    /// The user must act.
    Block(BlockReason),
}

/// Classifies a failed call: retried, or a block whose reason says what to fix (credentials and
/// permissions get their own reason whatever call hit them; `otherwise` names the call's).
#[must_use]
pub fn failure(class: ErrorClass, code: &str, otherwise: BlockReason) -> Failure {
    if is_retryable(code) {
        Failure::RetrySoon
    } else if class.is_retryable() {
        Failure::RetryWithBackoff
    } else {
        Failure::Block(auth_reason(code).unwrap_or(otherwise))
    }
}

/// Credential and permission failures, so an alert can say "fix the key" rather than
/// "ResourceManager unavailable".
fn auth_reason(code: &str) -> Option<BlockReason> {
    if code == "SignatureDoesNotMatch"
        || code == "InvalidAccessKeySecret"
        || code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidSecurityToken")
    {
        Some(BlockReason::CredentialsRejected)
    } else if code == "NoPermission" || code.starts_with("Forbidden") {
        Some(BlockReason::PermissionDenied)
    } else {
        None
    }
}

/// A failed call of the plan: the rest of the pass goes on (retried next pass), or the purge stops
/// with `RamCallRejected`. A conflict is the dependency order at work: retried.
#[must_use]
pub fn plan_call_retried(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::Conflict
    )
}

/// A service-linked role deletion task (as status records it) that has not finished.
#[must_use]
pub fn slr_in_flight(status: &str) -> bool {
    SlrPhase::parse(status).in_flight()
}

/// Where a requested deletion stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionStep {
    /// Deleted.
    Deleted,
    /// Failed, with the reasons in words.
    Failed(Vec<String>),
    /// In its silence period, ending at (time, whether that is an estimate).
    Silence(Option<(String, bool)>),
    /// Being deleted.
    Deleting,
}

/// Reads a deletion status.
#[must_use]
pub fn deletion_step(ds: &DeletionStatusInfo) -> DeletionStep {
    match &ds.status {
        DeletionState::Success => DeletionStep::Deleted,
        s if s.failed() => DeletionStep::Failed(
            ds.fail_reasons
                .iter()
                .map(|r| format!("{}: {}", r.name, r.description))
                .collect(),
        ),
        _ if ds.deletion_type == Some(1) => DeletionStep::Silence(silence_end(ds)),
        _ => DeletionStep::Deleting,
    }
}

/// When a silence period ends: `DeletionTime` when the service gives it (`false`), else
/// `CreateTime` + [`SILENCE_PERIOD_DAYS`] (`true`: an estimate).
#[must_use]
pub fn silence_end(ds: &DeletionStatusInfo) -> Option<(String, bool)> {
    use super::report::ts;
    if let Some(t) = ds
        .deletion_time
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        return Some((ts(t), false));
    }
    ds.create_time
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|t| {
            t.checked_add(jiff::SignedDuration::from_hours(SILENCE_PERIOD_DAYS * 24))
                .ok()
        })
        .map(|t| (ts(t), true))
}

/// A plan that deletes something after the account was found empty: objects reappeared.
#[must_use]
pub fn reappeared(st: &AccountDeletionStatus, plan: &Plan) -> bool {
    !plan.is_empty()
        && (st.empty_observed_time.is_some() || conditions::is_true(&st.conditions, Cond::RamEmpty))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
