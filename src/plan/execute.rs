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
use super::api::{Applied, CallError, PlanApi, RoleUsage, SlrStatus};
use super::model::Kind;

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
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            concurrency: DEFAULT_CONCURRENCY,
            existing_slr_tasks: BTreeMap::new(),
            cancel: None,
            progress: None,
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
    /// Error class (`Conflict`, `Throttled`, ...).
    pub class: String,
}

/// A service-linked role deletion task as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlrTaskState {
    /// Role name.
    pub role: String,
    /// `DeletionTaskId`.
    pub task_id: String,
    /// `SUCCEEDED`, `IN_PROGRESS`, `NOT_STARTED`, `FAILED`, `INTERNAL_ERROR`, or `UNKNOWN` when the
    /// poll itself failed.
    pub status: String,
    /// `Reason.Message` on failure.
    pub reason: Option<String>,
    /// Where the role is still used.
    pub usages: Vec<RoleUsage>,
}

impl SlrTaskState {
    /// True while the caller should keep the task and poll it next pass.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        matches!(self.status.as_str(), "IN_PROGRESS" | "NOT_STARTED" | "UNKNOWN")
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
    /// One entry per mutating call, in completion order.
    pub audit: Vec<AuditEntry>,
    /// True if the run stopped early because of `cancel`.
    pub cancelled: bool,
}

impl ExecutionReport {
    /// True if nothing failed (API failures or failed service-linked role tasks).
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty() && !self.slr_tasks.iter().any(|t| t.status == "FAILED")
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

enum Finished<E> {
    Call {
        index: usize,
        result: Result<Applied, E>,
    },
    Slr {
        index: usize,
        /// Entries for the audit record (the delete call, if one was made).
        audit: Option<AuditEntry>,
        result: Result<SlrTaskState, (E, Option<String>)>,
    },
}

async fn run_slr<A: PlanApi>(
    api: &A,
    index: usize,
    role: String,
    existing: Option<String>,
) -> Finished<A::Error> {
    // A task from an earlier pass (recorded in status, or only known to the service because the
    // process that started it died first): poll it; start a new one only if it failed or is unknown.
    let existing = match existing {
        Some(t) => Some(t),
        None => api.latest_slr_task(&role).await.ok().flatten(),
    };
    if let Some(task_id) = existing {
        match api.slr_deletion_status(&task_id).await {
            Ok(s) if s.status != "FAILED" && s.status != "INTERNAL_ERROR" => {
                return Finished::Slr {
                    index,
                    audit: None,
                    result: Ok(slr_state(role, task_id, s)),
                };
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Finished::Slr {
                    index,
                    audit: None,
                    result: Err((e, Some(task_id))),
                };
            }
        }
    }
    let action = Action::DeleteServiceLinkedRole { role: role.clone() };
    let applied = api.apply(&action).await;
    let audit = Some(audit_entry(&action, &applied));
    let applied = match applied {
        Ok(a) => a,
        Err(e) => {
            return Finished::Slr {
                index,
                audit,
                result: Err((e, None)),
            };
        }
    };
    let Some(task_id) = applied.task_id else {
        // No task id: treat as finished synchronously.
        return Finished::Slr {
            index,
            audit,
            result: Ok(SlrTaskState {
                role,
                task_id: String::new(),
                status: "SUCCEEDED".into(),
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
            status: "UNKNOWN".into(),
            reason: Some(format!("{}: {}", e.code(), e.message())),
            usages: Vec::new(),
        },
    };
    Finished::Slr {
        index,
        audit,
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

fn failure<E: CallError>(action: &Action, e: &E) -> ActionFailure {
    ActionFailure {
        action: action.clone(),
        code: e.code().to_string(),
        message: e.message().to_string(),
        request_id: e.request_id().map(str::to_string),
        class: e.class_name().to_string(),
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

/// Runs `plan` against `api`. Never fails as a whole: every outcome is in the report.
pub async fn run<A: PlanApi>(api: &A, plan: &Plan, opts: &ExecOptions) -> ExecutionReport {
    let n = plan.actions.len();
    let limit = opts.concurrency.max(1);
    let mut report = ExecutionReport::default();
    let mut state = vec![State::Waiting; n];
    let mut missing: Vec<usize> = plan.actions.iter().map(|a| a.deps.len()).collect();
    let dependents = plan.dependents();
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
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

    loop {
        while in_flight.len() < limit && !cancelled() && unavailable_streak < UNAVAILABLE_STREAK {
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
        let Some(done) = in_flight.next().await else {
            break;
        };
        let (index, ok) = match done {
            Finished::Call { index, result } => {
                let action = &plan.actions[index].action;
                report.audit.push(audit_entry(action, &result));
                if result
                    .as_ref()
                    .is_err_and(|e| matches!(e.class_name(), "Transient" | "Throttled"))
                {
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
            Finished::Slr { index, audit, result } => {
                report.audit.extend(audit);
                match result {
                    Ok(t) => {
                        let ok = t.status != "FAILED" && t.status != "INTERNAL_ERROR";
                        if t.status == "SUCCEEDED" {
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
                                status: "UNKNOWN".into(),
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
                    ready.push_back(d);
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
