//! Emptying RAM: the executor runs the plan (prerequisites first, bounded concurrency, every
//! mutating call in the audit record); this file feeds it the tasks already started, writes
//! progress while it runs and turns its report into status.

use ado_core::execute::ExecOptions;
use futures::future::{BoxFuture, OptionFuture};
use std::time::Duration;

use ado_core::api::SlrPhase;
use ado_core::{CallError, ErrorClass, Kind, Plan, PlanApi};

use crate::crd::{AlibabaErrorStatus, Phase, SlrTaskStatus};

use super::super::block::{Block, BlockReason};
use super::super::hints::hint;
use super::decide;
use super::report::{Halt, Pass, audit_unavailable, progress_now, ts, update_progress};
use super::{EventKind, PROGRESS_INTERVAL, StatusSink};

/// Runs the plan, writing progress while it runs, and renders what it did.
pub(super) async fn purge<M: PlanApi, S: StatusSink>(
    p: &mut Pass<'_>,
    member: &M,
    plan: &Plan,
    sink: &S,
) -> Halt {
    let id = p.obj.spec.account_id.clone();
    let journal = match sink.journal().await {
        Ok(j) => j,
        Err(e) => return audit_unavailable(p, &e),
    };
    let existing =
        p.st.service_linked_role_tasks
            .iter()
            .filter(|t| decide::slr_in_flight(&t.status))
            .map(|t| (t.role.clone(), t.task_id.clone()))
            .collect();
    let opts = ExecOptions {
        concurrency: p.opts.concurrency,
        existing_slr_tasks: existing,
        cancel: Some(p.stop.flag()),
        journal,
        account: id.clone(),
        ..Default::default()
    };
    // While the plan runs, status.progress is written every few seconds and milestones announced.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ExecOptions {
        progress: Some(tx),
        ..opts
    };
    let planned: u64 = plan.remaining().values().sum::<usize>() as u64;
    let run = ado_core::execute::run(member, plan, &opts);
    tokio::pin!(run);
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    let mut gone_now = 0u64;
    // A progress write runs beside the plan, never in its way: awaiting it inside this loop would
    // stop polling the calls in flight for as long as the API server takes to answer. One write
    // at a time (a tick that finds one still running skips), and the last one finishes before
    // the pass writes anything else, so an older progress can never land over newer status.
    let mut writing: Option<BoxFuture<'_, ()>> = None;
    let report = loop {
        tokio::select! {
            report = &mut run => break report,
            Some(ev) = rx.recv() => {
                if ev.outcome == ado_core::execute::Outcome::Done
                    && ev.action.deletes_top_level().is_some()
                    && !ev.action.is_async()
                {
                    gone_now += 1;
                }
            }
            Some(()) = OptionFuture::from(writing.as_mut()) => writing = None,
            _ = tick.tick(), if writing.is_none() => {
                let event = progress_now(p, gone_now, planned.saturating_sub(gone_now));
                let status = p.st.clone();
                let account = id.clone();
                writing = Some(Box::pin(async move {
                    if let Some(ev) = event {
                        sink.publish(&ev).await;
                    }
                    if let Err(e) = sink.save(&status).await {
                        tracing::debug!(%account, error = %e, "progress write failed; the next one retries");
                    }
                }));
            }
        }
    };
    if let Some(w) = writing {
        w.await;
    }
    for (k, n) in &report.deleted {
        *p.st.deleted.entry(k.as_str().to_string()).or_insert(0) += n;
        *p.deleted_now.entry(*k).or_insert(0) += n;
    }
    // Keep every task ever started (latest state wins) so a restart polls instead of re-issuing.
    for t in &report.slr_tasks {
        let usages: Vec<String> = t
            .usages
            .iter()
            .map(|u| format!("{}: {}", u.region, u.resources.join(", ")))
            .collect();
        let entry = SlrTaskStatus {
            role: t.role.clone(),
            task_id: t.task_id.clone(),
            status: t.status.to_string(),
            reason: t.reason.clone(),
            used_by: usages,
        };
        match p
            .st
            .service_linked_role_tasks
            .iter_mut()
            .find(|x| x.role == t.role && x.task_id == t.task_id)
        {
            Some(x) => *x = entry,
            None => p.st.service_linked_role_tasks.push(entry),
        }
    }
    let deleted: u64 = report.deleted.values().sum();
    if deleted > 0 {
        let per_kind: Vec<String> = report
            .deleted
            .iter()
            .map(|(k, n)| format!("{}: {n}", k.as_str()))
            .collect();
        p.event(
            EventKind::Normal,
            "Deleted",
            "Purge",
            format!(
                "deleted {deleted} RAM object(s) in account {id} ({})",
                per_kind.join(", ")
            ),
        );
    }
    if let Some(t) = report.slr_tasks.iter().find(|t| t.status == SlrPhase::Failed) {
        let used: Vec<String> = t
            .usages
            .iter()
            .map(|u| format!("{}: {}", u.region, u.resources.join(", ")))
            .collect();
        return p.blocked(
            Block::new(
                BlockReason::ServiceLinkedRoleInUse,
                format!(
                    "service-linked role {} cannot be deleted: {}{}. Delete those resources, or add the role to \
                     spec.ram.retain.serviceLinkedRoles",
                    t.role,
                    t.reason.clone().unwrap_or_else(|| "the deletion task failed".into()),
                    if used.is_empty() { String::new() } else { format!(" (used by {})", used.join("; ")) }
                ),
            ),
            "DeleteServiceLinkedRole",
        );
    }
    // A user refused because of its passkeys: the next pass lists and deletes them first.
    for f in &report.failures {
        if let ado_core::Action::DeleteUser { user } = &f.action
            && f.code.to_ascii_lowercase().contains("passkey")
            && !p.st.users_with_passkeys.contains(user)
        {
            p.st.users_with_passkeys.push(user.clone());
        }
    }
    if let Some(f) = report.failures.iter().find(|f| f.class != ErrorClass::NotFound) {
        p.st.last_error = Some(AlibabaErrorStatus {
            action: f.action.api_action().to_string(),
            code: f.code.clone(),
            message: f.message.clone(),
            request_id: f.request_id.clone(),
            hint: hint(&f.code).map(str::to_string),
            time: ts(p.now),
        });
        let transient = decide::plan_call_retried(f.class);
        let msg = format!(
            "{} of {} failed: {} ({}){}",
            f.action.api_action(),
            f.action.target(),
            f.code,
            f.message,
            f.request_id
                .as_ref()
                .map(|r| format!(", RequestId {r}"))
                .unwrap_or_default()
        );
        if !transient {
            return p.blocked(
                Block::new(BlockReason::RamCallRejected, msg),
                f.action.api_action(),
            );
        }
        p.event(EventKind::Warning, "RetryingCalls", f.action.api_action(), msg);
    }
    if let Some(e) = &report.journal_error {
        return audit_unavailable(p, e);
    }
    if report.cancelled {
        let why = p.stop.requested().unwrap_or_else(|| "stop requested".into());
        return p.stopped(&format!(
            "{why} ({} call(s) of this pass not started)",
            report.actions_skipped
        ));
    }
    let gone: u64 = report.deleted.values().sum();
    update_progress(p, planned.saturating_sub(gone));
    let remaining = plan.actions.len() as u64 - report.actions_done.min(plan.actions.len() as u64);
    let msg = format!(
        "emptying RAM of account {id}: {} object(s) deleted so far, {remaining} call(s) of this pass left",
        p.st.deleted.values().sum::<u64>()
    );
    // Re-inventory right away: the next pass verifies the result and plans what is left.
    let after = if report.slr_tasks.iter().any(|t| t.in_flight()) {
        p.opts.poll
    } else {
        Duration::from_millis(200)
    };
    p.progressing(Phase::PurgingRam, "PurgingRam", msg, after)
}

/// Polls in-flight service-linked role tasks whose role is gone from the inventory: the task
/// finished (the role is deleted) or its status can no longer be read; either way it is done.
pub(super) async fn settle_finished_slr_tasks<M: PlanApi>(
    p: &mut Pass<'_>,
    member: &M,
    inv: &ado_core::Inventory,
) {
    for t in &mut p.st.service_linked_role_tasks {
        if !decide::slr_in_flight(&t.status) || inv.service_linked_roles.iter().any(|r| r.name == t.role) {
            continue;
        }
        t.status = match member.slr_deletion_status(&t.task_id).await {
            Ok(s) if s.status.in_flight() => continue,
            Ok(s) => s.status.to_string(),
            Err(e) if e.is_not_found() => SlrPhase::Succeeded.to_string(),
            Err(_) => continue,
        };
        if SlrPhase::parse(&t.status) == SlrPhase::Succeeded {
            *p.st
                .deleted
                .entry(Kind::ServiceLinkedRoles.as_str().to_string())
                .or_insert(0) += 1;
        }
    }
}
