//! The executor: runs a [`Plan`] as a dependency graph. Every action whose prerequisites are done
//! starts at once, bounded by `concurrency`; one audit entry per mutating call.
//!
//! - A not-found answer (`EntityNotExist*`) counts as done: someone (or an earlier pass) did it.
//! - Any other failure is recorded and the action's dependents are skipped. Conflicts are not
//!   retried here: the next pass re-inventories, and the missing prerequisite appears in its plan.
//!   Throttling and transient errors were already retried by the client.
//! - Service-linked roles: `DeleteServiceLinkedRole` unless the caller already holds a task for the
//!   role (then the task is only polled); the task is polled once, without waiting, and unfinished
//!   tasks are returned for the caller to persist and poll on its next pass.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use super::action::{Action, Plan};
use super::api::{Applied, CallError, PlanApi, RoleUsage, SlrPhase, SlrStatus};
use super::journal::{CallIntent, IntentId, Journal, NOT_SENT};
use super::model::Kind;
use ado_aliyun::error::ErrorClass;

/// Per-account concurrency when the caller does not say.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Calls in flight at most (per account).
    pub concurrency: usize,
    /// Service-linked role deletion tasks already started in earlier passes: role name → task id
    /// (from `status`), so a restart polls them instead of deleting again.
    pub existing_slr_tasks: BTreeMap<String, String>,
    /// Set to stop starting new actions (in-flight calls finish and are reported).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Receives one event per finished action, for Kubernetes Events per batch.
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    /// Where intents and results go: when set, no call is sent before its intent is durable.
    pub journal: Option<Arc<dyn Journal>>,
    /// The member account, for the per-call log line.
    pub account: String,
}

impl std::fmt::Debug for dyn Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            concurrency: DEFAULT_CONCURRENCY,
            existing_slr_tasks: BTreeMap::new(),
            cancel: None,
            progress: None,
            journal: None,
            account: String::new(),
        }
    }
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Succeeded (or the object was already gone).
    Done,
    /// The call failed with this code.
    Failed(String),
    /// Not attempted because a prerequisite failed or the run was cancelled.
    Skipped,
}

/// One finished action, sent on [`ExecOptions::progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Index in [`Plan::actions`].
    pub index: usize,
    /// The action.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// Actions finished so far (any outcome).
    pub finished: usize,
    /// Actions in the plan.
    pub total: usize,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFailure {
    /// What was attempted.
    pub action: Action,
    /// Alibaba error code.
    pub code: String,
    /// Alibaba error message.
    pub message: String,
    /// RequestId.
    pub request_id: Option<String>,
    /// What kind of failure it was.
    pub class: ErrorClass,
}

/// A service-linked role deletion task as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlrTaskState {
    /// Role name.
    pub role: String,
    /// `DeletionTaskId`.
    pub task_id: String,
    /// Where the task stands (`Unknown` when the poll itself failed).
    pub status: SlrPhase,
    /// `Reason.Message` on failure.
    pub reason: Option<String>,
    /// Where the role is still used.
    pub usages: Vec<RoleUsage>,
}

impl SlrTaskState {
    /// True while the caller should keep the task and poll it next pass.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        self.status.in_flight()
    }
}

/// One mutating call, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 time the call returned.
    pub time: String,
    /// API action (`DeleteUser`).
    pub action: String,
    /// Target (`alice/LTAI…`).
    pub target: String,
    /// `OK` or the error code.
    pub result: String,
    /// RequestId, when the call reached Alibaba.
    pub request_id: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// Top-level objects deleted per kind (service-linked roles once their task succeeded;
    /// the default domain counts 1 when reset).
    pub deleted: BTreeMap<Kind, u64>,
    /// Actions done, including not-found ones.
    pub actions_done: u64,
    /// Actions skipped (failed prerequisite or cancellation).
    pub actions_skipped: u64,
    /// Failed calls.
    pub failures: Vec<ActionFailure>,
    /// Service-linked role tasks seen this pass.
    pub slr_tasks: Vec<SlrTaskState>,
    /// One entry per mutating call, in completion order, when the run has no journal. With one,
    /// the journal is the record: keeping a copy here would hold every call of a large account in
    /// memory (75,000 entries for an account at Alibaba's limits).
    pub audit: Vec<AuditEntry>,
    /// True if the run stopped early because of `cancel`.
    pub cancelled: bool,
    /// Set when the journal could not record intents: the run stopped sending calls.
    pub journal_error: Option<String>,
}

impl ExecutionReport {
    /// True if nothing failed (API failures or failed service-linked role tasks).
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty() && !self.slr_tasks.iter().any(|t| t.status == SlrPhase::Failed)
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

#[allow(clippy::large_enum_variant)] // one per call in flight, short-lived
enum Finished<E> {
    Call {
        index: usize,
        result: Result<Applied, E>,
    },
    Slr {
        index: usize,
        /// Entries for the audit record (the delete call, if one was made).
        audit: Option<AuditEntry>,
        /// The journal intent of that call.
        intent: Option<IntentId>,
        result: Result<SlrTaskState, (E, Option<String>)>,
    },
    /// The journal refused the intent of a call, which was therefore not sent.
    Unrecorded { index: usize, error: String },
}

async fn run_slr<A: PlanApi>(
    api: &A,
    index: usize,
    role: String,
    existing: Option<String>,
    journal: Option<Arc<dyn Journal>>,
) -> Finished<A::Error> {
    // A task from an earlier pass (recorded in status, or only known to the service because the
    // process that started it died first): poll it; start a new one only if it failed or is unknown.
    let existing = match existing {
        Some(t) => Some(t),
        None => match api.latest_slr_task(&role).await {
            Ok(t) => t,
            // The role is gone since the inventory listed it: its deletion finished, send nothing.
            Err(e) if e.is_not_found() => {
                return Finished::Slr {
                    index,
                    audit: None,
                    intent: None,
                    result: Err((e, None)),
                };
            }
            Err(_) => None,
        },
    };
    if let Some(task_id) = existing {
        match api.slr_deletion_status(&task_id).await {
            Ok(s) if !s.status.failed() => {
                return Finished::Slr {
                    index,
                    audit: None,
                    intent: None,
                    result: Ok(slr_state(role, task_id, s)),
                };
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Finished::Slr {
                    index,
                    audit: None,
                    intent: None,
                    result: Err((e, Some(task_id))),
                };
            }
        }
    }
    let action = Action::DeleteServiceLinkedRole { role: role.clone() };
    // Only now is a mutating call certain: its intent goes to the journal first.
    let intent = match &journal {
        Some(j) => {
            let call = [CallIntent {
                action: action.api_action().to_string(),
                target: action.target(),
            }];
            match j.intend(&call).await {
                Ok(ids) => ids.first().copied(),
                Err(error) => return Finished::Unrecorded { index, error },
            }
        }
        None => None,
    };
    let applied = api.apply(&action).await;
    let audit = Some(audit_entry(&action, &applied));
    let applied = match applied {
        Ok(a) => a,
        Err(e) => {
            return Finished::Slr {
                index,
                audit,
                intent,
                result: Err((e, None)),
            };
        }
    };
    let Some(task_id) = applied.task_id else {
        // No task id: treat as finished synchronously.
        return Finished::Slr {
            index,
            audit,
            intent,
            result: Ok(SlrTaskState {
                role,
                task_id: String::new(),
                status: SlrPhase::Succeeded,
                reason: None,
                usages: Vec::new(),
            }),
        };
    };
    let state = match api.slr_deletion_status(&task_id).await {
        Ok(s) => slr_state(role, task_id, s),
        Err(e) => SlrTaskState {
            role,
            task_id,
            status: SlrPhase::Unknown,
            reason: Some(format!("{}: {}", e.code(), e.message())),
            usages: Vec::new(),
        },
    };
    Finished::Slr {
        index,
        audit,
        intent,
        result: Ok(state),
    }
}

fn slr_state(role: String, task_id: String, s: SlrStatus) -> SlrTaskState {
    SlrTaskState {
        role,
        task_id,
        status: s.status,
        reason: s.reason,
        usages: s.usages,
    }
}

fn audit_entry<E: CallError>(action: &Action, r: &Result<Applied, E>) -> AuditEntry {
    let (result, request_id) = match r {
        Ok(a) => ("OK".to_string(), Some(a.request_id.clone())),
        Err(e) => (e.code().to_string(), e.request_id().map(str::to_string)),
    };
    AuditEntry {
        time: now(),
        action: action.api_action().to_string(),
        target: action.target(),
        result,
        request_id,
    }
}

fn not_sent(action: &Action) -> AuditEntry {
    AuditEntry {
        time: now(),
        action: action.api_action().to_string(),
        target: action.target(),
        result: NOT_SENT.to_string(),
        request_id: None,
    }
}

fn failure<E: CallError>(action: &Action, e: &E) -> ActionFailure {
    ActionFailure {
        action: action.clone(),
        code: e.code().to_string(),
        message: e.message().to_string(),
        request_id: e.request_id().map(str::to_string),
        class: e.class(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Consecutive calls failing as unavailable (after the client's retries) that stop a pass.
pub const UNAVAILABLE_STREAK: u32 = 3;

/// Most intents made durable in one journal write (a write carries the head's `SENT` lines, so
/// this also bounds how large one write of the record can be).
pub const INTENT_BATCH: usize = 256;

/// Longest time ready calls wait for their intents while the executor still has work in hand.
/// Intents are written sooner once fewer than half of the call slots are busy or queued, so a
/// fast (latency-bound) run is never starved, while a rate-bound run, whose slots stay full of
/// calls waiting for budget, writes about once a second instead of once per completed call;
/// across a fleet this is what keeps the API server's write load flat.
const INTENT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

type IntentWrite<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Vec<usize>, Result<Vec<IntentId>, String>)> + Send + 'a>,
>;

/// Runs `plan` against `api`. Never fails as a whole: every outcome is in the report.
pub async fn run<A: PlanApi>(api: &A, plan: &Plan, opts: &ExecOptions) -> ExecutionReport {
    let n = plan.actions.len();
    let limit = opts.concurrency.max(1);
    let mut report = ExecutionReport::default();
    let mut state = vec![State::Waiting; n];
    let mut missing: Vec<usize> = plan.actions.iter().map(|a| a.deps.len()).collect();
    let dependents = plan.dependents();
    let journal = opts.journal.clone();
    // Ready actions whose intent is durable (may be sent) and those still waiting for it.
    let mut ready: VecDeque<usize> = VecDeque::new();
    let mut unrecorded: VecDeque<usize> = VecDeque::new();
    // Service-linked role deletions journal their own call (a task already running is only polled).
    let needs_intent = |i: usize| {
        journal.is_some() && !matches!(plan.actions[i].action, Action::DeleteServiceLinkedRole { .. })
    };
    for i in (0..n).filter(|&i| missing[i] == 0) {
        if needs_intent(i) {
            unrecorded.push_back(i);
        } else {
            ready.push_back(i);
        }
    }
    let mut intent_of: Vec<Option<IntentId>> = vec![None; n];
    let mut intent_write: Option<IntentWrite<'_>> = None;
    let mut last_intent = std::time::Instant::now() - INTENT_INTERVAL;
    let mut in_flight = FuturesUnordered::new();
    let mut finished = 0usize;
    let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    // Circuit breaker: when the service keeps failing after the client's own retries (an outage),
    // stop starting calls so the pass ends, says so in status, and retries with backoff.
    let mut unavailable_streak = 0u32;

    let emit = |index: usize, outcome: Outcome, finished: usize| {
        if let Some(tx) = &opts.progress {
            // A dropped receiver only means nobody listens any more.
            let _ = tx.send(Progress {
                index,
                action: plan.actions[index].action.clone(),
                outcome,
                finished,
                total: n,
            });
        }
    };
    let record = |index: usize, entry: &AuditEntry, intent_of: &[Option<IntentId>]| {
        tracing::info!(
            account = %opts.account, action = %entry.action, target = %entry.target,
            result = %entry.result, request_id = entry.request_id.as_deref().unwrap_or(""), "call"
        );
        if let (Some(j), Some(id)) = (&journal, intent_of[index]) {
            j.record(id, entry);
        }
    };

    loop {
        let may_start =
            || !cancelled() && unavailable_streak < UNAVAILABLE_STREAK && report.journal_error.is_none();
        while in_flight.len() < limit && may_start() {
            let Some(i) = ready.pop_front() else { break };
            state[i] = State::Running;
            let action = &plan.actions[i].action;
            let fut: std::pin::Pin<Box<dyn std::future::Future<Output = Finished<A::Error>> + Send + '_>> =
                match action {
                    Action::DeleteServiceLinkedRole { role } => Box::pin(run_slr(
                        api,
                        i,
                        role.clone(),
                        opts.existing_slr_tasks.get(role).cloned(),
                        journal.clone(),
                    )),
                    _ => Box::pin(async move {
                        Finished::Call {
                            index: i,
                            result: api.apply(action).await,
                        }
                    }),
                };
            in_flight.push(fut);
        }
        // Write ahead: make the intents of ready actions durable before they may be sent, in
        // batches, when the sendable pool runs low.
        if let Some(j) = &journal
            && intent_write.is_none()
            && !unrecorded.is_empty()
            && may_start()
            && ready.len() < limit
            && (in_flight.len() + ready.len() <= limit / 2 || last_intent.elapsed() >= INTENT_INTERVAL)
        {
            let take = unrecorded.len().min(INTENT_BATCH);
            let batch: Vec<usize> = unrecorded.drain(..take).collect();
            let intents: Vec<CallIntent> = batch
                .iter()
                .map(|&i| CallIntent {
                    action: plan.actions[i].action.api_action().to_string(),
                    target: plan.actions[i].action.target(),
                })
                .collect();
            let j = j.clone();
            last_intent = std::time::Instant::now();
            intent_write = Some(Box::pin(async move {
                let r = j.intend(&intents).await;
                (batch, r)
            }));
        }
        if in_flight.is_empty() && intent_write.is_none() {
            break;
        }
        let done = tokio::select! {
            Some(done) = in_flight.next(), if !in_flight.is_empty() => done,
            (batch, r) = async { match intent_write.as_mut() { Some(w) => w.await, None => std::future::pending().await } },
                if intent_write.is_some() => {
                intent_write = None;
                match r {
                    Ok(ids) => {
                        for (i, id) in batch.iter().zip(ids) {
                            intent_of[*i] = Some(id);
                        }
                        ready.extend(batch);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the audit journal cannot record intents; no call is sent");
                        report.journal_error = Some(e);
                        unrecorded.extend(batch);
                    }
                }
                continue;
            }
        };
        let (index, ok) = match done {
            Finished::Call { index, result } => {
                let action = &plan.actions[index].action;
                let entry = audit_entry(action, &result);
                record(index, &entry, &intent_of);
                if journal.is_none() {
                    report.audit.push(entry);
                }
                if result.as_ref().is_err_and(|e| e.class().is_retryable()) {
                    unavailable_streak += 1;
                } else {
                    unavailable_streak = 0;
                }
                match result {
                    Ok(_) => (index, true),
                    Err(e) if e.is_not_found() && !matches!(action, Action::SetDefaultDomain { .. }) => {
                        (index, true)
                    }
                    Err(e) => {
                        report.failures.push(failure(action, &e));
                        (index, false)
                    }
                }
            }
            Finished::Unrecorded { index, error } => {
                tracing::warn!(error = %error, "the audit journal cannot record intents; no call is sent");
                report.journal_error.get_or_insert(error);
                (index, false)
            }
            Finished::Slr {
                index,
                audit,
                intent,
                result,
            } => {
                if let Some(entry) = &audit {
                    intent_of[index] = intent;
                    record(index, entry, &intent_of);
                }
                if journal.is_none() {
                    report.audit.extend(audit);
                }
                match result {
                    Ok(t) => {
                        let ok = !t.status.failed();
                        if t.status == SlrPhase::Succeeded {
                            *report.deleted.entry(Kind::ServiceLinkedRoles).or_insert(0) += 1;
                        }
                        report.slr_tasks.push(t);
                        (index, ok)
                    }
                    Err((e, _)) if e.is_not_found() => (index, true),
                    Err((e, task)) => {
                        report.failures.push(failure(&plan.actions[index].action, &e));
                        if let (Some(task_id), Action::DeleteServiceLinkedRole { role }) =
                            (task, &plan.actions[index].action)
                        {
                            report.slr_tasks.push(SlrTaskState {
                                role: role.clone(),
                                task_id,
                                status: SlrPhase::Unknown,
                                reason: Some(format!("{}: {}", e.code(), e.message())),
                                usages: Vec::new(),
                            });
                        }
                        (index, false)
                    }
                }
            }
        };
        finished += 1;
        if ok {
            state[index] = State::Done;
            report.actions_done += 1;
            let action = &plan.actions[index].action;
            if let Some(k) = action.deletes_top_level().filter(|_| !action.is_async()) {
                *report.deleted.entry(k).or_insert(0) += 1;
            }
            emit(index, Outcome::Done, finished);
            for &d in &dependents[index] {
                missing[d] -= 1;
                if missing[d] == 0 && state[d] == State::Waiting {
                    if needs_intent(d) {
                        unrecorded.push_back(d);
                    } else {
                        ready.push_back(d);
                    }
                }
            }
        } else {
            state[index] = State::Failed;
            let code = report
                .failures
                .last()
                .filter(|f| f.action == plan.actions[index].action)
                .map_or_else(|| "FAILED".to_string(), |f| f.code.clone());
            emit(index, Outcome::Failed(code), finished);
            // Skip everything that (transitively) needs it.
            let mut stack = dependents[index].clone();
            while let Some(d) = stack.pop() {
                if state[d] == State::Waiting {
                    state[d] = State::Skipped;
                    report.actions_skipped += 1;
                    finished += 1;
                    emit(d, Outcome::Skipped, finished);
                    stack.extend(dependents[d].iter().copied());
                }
            }
        }
    }

    // Intents that were recorded but never sent are closed as such.
    for &i in &ready {
        record(i, &not_sent(&plan.actions[i].action), &intent_of);
    }
    if let Some(j) = &journal
        && let Err(e) = j.flush().await
    {
        tracing::warn!(error = %e, "the audit journal could not be flushed at the end of the run");
        report.journal_error.get_or_insert(e);
    }
    if report.journal_error.is_some() {
        for (i, s) in state.iter_mut().enumerate() {
            if *s == State::Waiting {
                *s = State::Skipped;
                report.actions_skipped += 1;
                finished += 1;
                emit(i, Outcome::Skipped, finished);
            }
        }
    }
    if cancelled() {
        report.cancelled = true;
        for (i, s) in state.iter_mut().enumerate() {
            if *s == State::Waiting {
                *s = State::Skipped;
                report.actions_skipped += 1;
                finished += 1;
                emit(i, Outcome::Skipped, finished);
            }
        }
    }
    report
}
