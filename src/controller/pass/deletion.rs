//! The ResourceManager half of a pass: the deletion pre-check, `DeleteAccount` (written ahead in
//! the audit record, never sent twice) and following the deletion to its end. Decisions come from
//! [`super::decide`]; this file makes the calls and renders the outcome.

use std::time::Duration;

use ado_core::execute::AuditEntry;
use ado_core::journal::CallIntent;
use ado_core::{CallError, Plan};

use crate::crd::{ClaimWaiter, DeletionCheckStatus, DeletionResult, Phase};

use super::super::block::{Block, BlockReason};
use super::super::conditions::{Cond, Truth};
use super::super::directory::{
    AccountInfo, AccountType, CheckResult, CheckState, DeletionState, DeletionStatusInfo, Directory,
    DirectoryInfo, MemberDeletion, is_no_task,
};
use super::decide::{self, DeletionStep};
use super::report::{Halt, Pass, audit_unavailable, ts};
use super::{EventKind, StatusSink, deletion_type_words};

/// Mode Plan: the plan is in status; the pre-check (which deletes nothing) says whether the account
/// could be deleted, refreshed once per resync interval.
pub(super) async fn plan_mode<D: Directory>(
    p: &mut Pass<'_>,
    dir: &D,
    rd: &DirectoryInfo,
    acc: &AccountInfo,
    plan: &Plan,
) -> Halt {
    let id = p.obj.spec.account_id.clone();
    let summary = format!(
        "plan {}: {} call(s) to empty RAM; nothing is changed in mode Plan. Set spec.mode to PurgeRam or Delete to \
         execute",
        plan.hash,
        plan.actions.len()
    );
    p.cond(
        Cond::RamEmpty,
        Truth::from_bool(plan.is_empty()),
        if plan.is_empty() { "Empty" } else { "NotEmpty" },
        "",
    );
    let resync = Some(p.opts.resync);
    if rd.member_deletion_status != MemberDeletion::Enabled {
        p.cond(
            Cond::DeletionAllowed,
            Truth::False,
            BlockReason::MemberDeletionDisabled.as_str(),
            "member deletion is disabled for the resource directory",
        );
        return p.settled(Phase::Planned, "Planned", summary, resync);
    }
    if acc.account_type != AccountType::ResourceAccount {
        p.cond(
            Cond::DeletionAllowed,
            Truth::False,
            BlockReason::NotDeletableMemberType.as_str(),
            "invited members cannot be deleted",
        );
        return p.settled(Phase::Planned, "Planned", summary, resync);
    }
    let fresh_after = p
        .now
        .checked_sub(jiff::SignedDuration::try_from(p.opts.resync).unwrap_or_default())
        .ok();
    match deletion_check(p, dir, fresh_after).await {
        Err(h) => h,
        Ok(None) => {
            let poll = p.opts.poll;
            p.progressing(
                Phase::Planned,
                "CheckingDeletion",
                format!("{summary}; deletion pre-check of account {id} running"),
                poll,
            )
        }
        Ok(Some(_)) => p.settled(Phase::Planned, "Planned", summary, resync),
    }
}

/// RAM is confirmed empty in mode Delete: adopt a deletion an earlier life already started, else
/// run the pre-check, and send `DeleteAccount` once it allows it.
pub(super) async fn delete<D: Directory, S: StatusSink>(
    p: &mut Pass<'_>,
    dir: &D,
    sink: &S,
    waiters: &[ClaimWaiter],
) -> Halt {
    let id = p.obj.spec.account_id.clone();
    // A deletion accepted in an earlier life whose status write was lost: adopt it, never re-issue.
    match dir.deletion_status(&id).await {
        Ok(ds) if !ds.status.failed() => {
            p.st.delete_requested_time = Some(ds.create_time.clone().unwrap_or_else(|| ts(p.now)));
            return apply_deletion_status(p, ds);
        }
        Ok(_) => {}
        Err(e) if is_no_task(e.code()) || e.is_not_found() => {}
        Err(e) => {
            return p.call_failed(
                "GetAccountDeletionStatus",
                &e,
                BlockReason::DeletionStatusUnavailable,
            );
        }
    }
    let ram_empty_since =
        p.st.conditions
            .iter()
            .find(|c| c.type_ == Cond::RamEmpty.as_str())
            .map(|c| c.last_transition_time.0)
            .unwrap_or(p.now);
    let check = match deletion_check(p, dir, Some(ram_empty_since)).await {
        Err(h) => return h,
        Ok(Some(check)) => check,
        Ok(None) => {
            let poll = p.opts.poll;
            return p.progressing(
                Phase::CheckingDeletion,
                "CheckingDeletion",
                format!("ResourceManager is checking whether account {id} can be deleted"),
                poll,
            );
        }
    };
    let waived = p.obj.spec.deletion.abandonable_check_ids.clone();
    let abandon = match decide::deletion(&id, &check, &waived, waiters) {
        Ok(a) => a,
        Err(b) => {
            let action = if b.reason == BlockReason::ConflictingAccountDeletion {
                "DeleteAccount"
            } else {
                "CheckAccountDelete"
            };
            return p.blocked(b, action);
        }
    };
    if let Some(why) = p.stop.requested() {
        return p.stopped(&why);
    }
    send_delete_account(p, dir, sink, &abandon).await
}

/// `DeleteAccount`, written ahead in the audit record: the intent is durable before the call.
async fn send_delete_account<D: Directory, S: StatusSink>(
    p: &mut Pass<'_>,
    dir: &D,
    sink: &S,
    abandon: &[String],
) -> Halt {
    let id = p.obj.spec.account_id.clone();
    let journal = match sink.journal().await {
        Ok(j) => j,
        Err(e) => return audit_unavailable(p, &e),
    };
    let intent = match &journal {
        Some(j) => match j
            .intend(&[CallIntent {
                action: "DeleteAccount".into(),
                target: id.clone(),
            }])
            .await
        {
            Ok(ids) => ids.first().copied(),
            Err(e) => return audit_unavailable(p, &e),
        },
        None => None,
    };
    let answer = dir.delete_account(&id, abandon).await;
    let entry = AuditEntry {
        time: ts(jiff::Timestamp::now()),
        action: "DeleteAccount".into(),
        target: id.clone(),
        result: match &answer {
            Ok(_) => "OK".to_string(),
            Err(e) => e.code().to_string(),
        },
        request_id: match &answer {
            Ok((_, rid)) => rid.clone(),
            Err(e) => e.request_id().map(str::to_string),
        },
    };
    tracing::info!(account = %id, action = "DeleteAccount", target = %id, result = %entry.result,
        request_id = entry.request_id.as_deref().unwrap_or(""), "call");
    if let (Some(j), Some(i)) = (&journal, intent) {
        j.record(i, &entry);
        if let Err(e) = j.flush().await {
            tracing::warn!(account = %id, error = %e, "audit record flush after DeleteAccount failed; the next flush retries");
        }
    }
    match answer {
        Ok((deletion_type, _)) => {
            p.st.delete_requested_time = Some(ts(p.now));
            p.st.deletion = Some(DeletionResult {
                status: DeletionState::Deleting.to_string(),
                deletion_type,
                deletion_type_description: deletion_type.map(deletion_type_words),
                ..Default::default()
            });
            p.event(
                EventKind::Normal,
                "DeleteAccountAccepted",
                "DeleteAccount",
                format!(
                    "ResourceManager accepted the deletion of account {id}{}",
                    deletion_type
                        .map(|t| format!(" ({})", deletion_type_words(t)))
                        .unwrap_or_default()
                ),
            );
            tracing::info!(account = id, action = "DeleteAccount", "deletion accepted");
            let _ = sink.save(&p.st).await;
            deleting(p)
        }
        Err(e) if e.code() == "AccountNotExist.DeleteAccount" || e.code() == "EntityNotExists.Account" => {
            p.record_error("DeleteAccount", &e);
            already_gone(p, "the account no longer exists")
        }
        Err(e) if e.code() == "NotSupportedOperation.DeletingAccount" => {
            // Already being deleted (by an earlier life of this object, or by hand): adopt it,
            // never send DeleteAccount again.
            p.event(
                EventKind::Normal,
                "DeletionAdopted",
                "DeleteAccount",
                format!(
                    "account {id} is already being deleted ({}{}); following that deletion instead of sending \
                     DeleteAccount again",
                    e.code(),
                    e.request_id().map(|r| format!(", RequestId {r}")).unwrap_or_default()
                ),
            );
            p.st.delete_requested_time = Some(ts(p.now));
            let _ = sink.save(&p.st).await;
            deleting(p)
        }
        Err(e) => p.call_failed("DeleteAccount", &e, BlockReason::DeleteAccountRejected),
    }
}

fn deleting(p: &mut Pass<'_>) -> Halt {
    let id = p.obj.spec.account_id.clone();
    let poll = p.opts.poll;
    p.progressing(
        Phase::Deleting,
        "Deleting",
        format!("account {id} is being deleted"),
        poll,
    )
}

/// The account is gone from the directory: deleted (by us earlier, or by hand).
pub(super) fn already_gone(p: &mut Pass<'_>, why: &str) -> Halt {
    let id = p.obj.spec.account_id.clone();
    p.cond(Cond::Deleted, Truth::True, "AlreadyGone", why);
    p.settled(
        Phase::Deleted,
        "Deleted",
        format!("account {id} no longer exists: deleted"),
        None,
    )
}

/// Starts (when missing or older than `fresh_after`) and reads the deletion pre-check.
/// `Ok(None)` while it runs; `Err` when the pass concluded on a failed call.
async fn deletion_check<D: Directory>(
    p: &mut Pass<'_>,
    dir: &D,
    fresh_after: Option<jiff::Timestamp>,
) -> Result<Option<CheckResult>, Halt> {
    let id = p.obj.spec.account_id.clone();
    let started: Option<jiff::Timestamp> =
        p.st.deletion_check
            .as_ref()
            .and_then(|c| c.started_time.as_deref())
            .and_then(|t| t.parse().ok());
    let stale = match (started, fresh_after) {
        (None, _) => true,
        (Some(s), Some(f)) => s < f,
        (Some(_), None) => false,
    };
    if stale {
        if let Err(e) = dir.check_account_delete(&id).await {
            return Err(p.call_failed("CheckAccountDelete", &e, BlockReason::DeletionCheckRejected));
        }
        p.st.deletion_check = Some(DeletionCheckStatus {
            status: CheckState::PreChecking.to_string(),
            started_time: Some(ts(p.now)),
            ..Default::default()
        });
        tracing::info!(account = %id, action = "CheckAccountDelete", "deletion pre-check started");
    }
    let res = match dir.deletion_check_result(&id).await {
        Ok(r) => r,
        Err(e) if is_no_task(e.code()) => {
            // The check vanished (expired on the service side): start over next pass.
            p.st.deletion_check = None;
            return Ok(None);
        }
        Err(e) => {
            return Err(p.call_failed(
                "GetAccountDeletionCheckResult",
                &e,
                BlockReason::DeletionCheckRejected,
            ));
        }
    };
    let started_time = p.st.deletion_check.as_ref().and_then(|c| c.started_time.clone());
    let complete = res.status == CheckState::PreCheckComplete;
    p.st.deletion_check = Some(DeletionCheckStatus {
        status: res.status.to_string(),
        allow_delete: complete.then_some(res.allow_delete),
        started_time,
        blocking: res.blocking.clone(),
        abandonable: res.abandonable.clone(),
    });
    if !complete {
        return Ok(None);
    }
    let (allowed, reason, msg) = decide::deletion_allowed(&res, &p.obj.spec.deletion.abandonable_check_ids);
    p.cond(Cond::DeletionAllowed, Truth::from_bool(allowed), reason, &msg);
    Ok(Some(res))
}

/// `DeleteAccount` was accepted: follow `GetAccountDeletionStatus`.
pub(super) async fn follow<D: Directory>(p: &mut Pass<'_>, dir: &D) -> Halt {
    let id = p.obj.spec.account_id.clone();
    match dir.deletion_status(&id).await {
        Ok(ds) => apply_deletion_status(p, ds),
        Err(e) if e.is_not_found() && e.code() == "EntityNotExists.Account" => {
            // The member is gone from the directory: the deletion finished.
            let d = p.st.deletion.clone().unwrap_or_default();
            apply_deletion_status(
                p,
                DeletionStatusInfo {
                    status: DeletionState::Success,
                    deletion_type: d.deletion_type,
                    create_time: d.create_time,
                    deletion_time: d.deletion_time,
                    fail_reasons: d.fail_reasons,
                },
            )
        }
        Err(e) => p.call_failed(
            "GetAccountDeletionStatus",
            &e,
            BlockReason::DeletionStatusUnavailable,
        ),
    }
}

fn apply_deletion_status(p: &mut Pass<'_>, ds: DeletionStatusInfo) -> Halt {
    let id = p.obj.spec.account_id.clone();
    p.st.deletion = Some(DeletionResult {
        status: ds.status.to_string(),
        deletion_type: ds.deletion_type,
        deletion_type_description: ds.deletion_type.map(deletion_type_words),
        create_time: ds.create_time.clone(),
        deletion_time: ds.deletion_time.clone(),
        expected_completion_time: if ds.deletion_type == Some(1) {
            decide::silence_end(&ds).map(|(t, _)| t)
        } else {
            None
        },
        fail_reasons: ds.fail_reasons.clone(),
    });
    match decide::deletion_step(&ds) {
        DeletionStep::Deleted => {
            p.cond(
                Cond::Deleted,
                Truth::True,
                "Deleted",
                "ResourceManager reports the account deleted",
            );
            p.event(
                EventKind::Normal,
                "AccountDeleted",
                "GetAccountDeletionStatus",
                format!("account {id} is deleted"),
            );
            tracing::info!(account = %id, "account deleted");
            p.settled(
                Phase::Deleted,
                "Deleted",
                format!("account {id} is deleted"),
                None,
            )
        }
        DeletionStep::Failed(reasons) => {
            p.cond(Cond::Deleted, Truth::False, "DeleteFailed", &reasons.join("; "));
            // A failed deletion may be retried by the user: clear the request so a new pass re-checks.
            p.st.delete_requested_time = None;
            p.blocked_as(
                Phase::Failed,
                Block::new(
                    BlockReason::DeleteFailed,
                    format!(
                        "ResourceManager could not delete account {id}: {}. Resolve the reasons; the operator checks \
                         again and retries",
                        if reasons.is_empty() { "no reason given".to_string() } else { reasons.join("; ") }
                    ),
                ),
                "GetAccountDeletionStatus",
            )
        }
        DeletionStep::Silence(end) => {
            p.cond(Cond::Deleted, Truth::False, "Deleting", "deletion in progress");
            let when = match end {
                Some((t, false)) => format!("; ResourceManager expects it to end at {t}"),
                Some((t, true)) => format!(
                    "; expected to end around {t} (an estimate: the deletion was requested at {} and Alibaba \
                     documents a 45-day silence period; ResourceManager gives no date)",
                    ds.create_time.as_deref().unwrap_or("?")
                ),
                None => String::new(),
            };
            let after = p.opts.poll.max(Duration::from_secs(30)).min(p.opts.resync);
            p.progressing(
                Phase::SilencePeriod,
                "SilencePeriod",
                format!("account {id} is in its silence period before deletion{when}"),
                after,
            )
        }
        DeletionStep::Deleting => {
            p.cond(Cond::Deleted, Truth::False, "Deleting", "deletion in progress");
            deleting(p)
        }
    }
}
