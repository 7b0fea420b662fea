//! The renderer of a pass: every transition (progressing, settled, blocked, stopped) writes the
//! phase, the three kstatus conditions, the message, the Event and the metric labels together, so
//! they cannot disagree. No I/O here.

use std::collections::BTreeMap;
use std::time::Duration;

use ado_core::{CallError, Kind, Plan};

use crate::crd::{AccountDeletion, AccountDeletionStatus, AlibabaErrorStatus, Phase, PlanStatus};

use super::super::block::{Block, BlockReason};
use super::super::conditions::{self, Cond, Truth};
use super::super::hints::hint;
use super::decide::{self, Failure};
use super::{EventKind, PassEvent, PassOptions, PassOutcome, Stop};

/// The pass has concluded: its status, Events and requeue are rendered into the [`Pass`].
pub(super) struct Halt;

/// What one pass has rendered so far: the new status, the Events, when to come back and the
/// metric labels. The deciding code never writes status fields by hand for a transition; it
/// calls one of the renderers below, which keep the conditions, phase and message consistent.
pub(super) struct Pass<'a> {
    pub(super) obj: &'a AccountDeletion,
    pub(super) stop: Stop,
    pub(super) st: AccountDeletionStatus,
    pub(super) events: Vec<PassEvent>,
    pub(super) now: jiff::Timestamp,
    pub(super) opts: &'a PassOptions,
    pub(super) requeue: Option<Duration>,
    pub(super) result: &'static str,
    pub(super) reason: Option<String>,
    pub(super) deleted_now: BTreeMap<Kind, u64>,
}

/// A timestamp as status shows it (whole seconds).
pub(super) fn ts(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

impl<'a> Pass<'a> {
    /// A pass over `obj`, starting from its current status.
    pub(super) fn new(obj: &'a AccountDeletion, opts: &'a PassOptions, now: jiff::Timestamp) -> Self {
        let mut st = obj.status.clone().unwrap_or_default();
        st.observed_generation = obj.metadata.generation;
        Pass {
            obj,
            stop: Stop::new(),
            st,
            events: Vec::new(),
            now,
            opts,
            requeue: None,
            result: "ok",
            reason: None,
            deleted_now: BTreeMap::new(),
        }
    }
}

impl Pass<'_> {
    pub(super) fn cond(&mut self, type_: Cond, status: Truth, reason: &str, message: &str) {
        let generation = self.obj.metadata.generation;
        conditions::set(
            &mut self.st.conditions,
            type_,
            status,
            reason,
            message,
            generation,
            &self.now,
        );
    }

    pub(super) fn event(&mut self, kind: EventKind, reason: &str, action: &str, note: String) {
        self.events.push(PassEvent {
            kind,
            reason: reason.to_string(),
            note,
            action: action.to_string(),
        });
    }

    /// Work continues; come back after `after`.
    pub(super) fn progressing(
        &mut self,
        phase: Phase,
        reason: &str,
        message: String,
        after: Duration,
    ) -> Halt {
        self.st.phase = Some(phase);
        self.cond(Cond::Ready, Truth::False, reason, &message);
        self.cond(Cond::Reconciling, Truth::True, reason, &message);
        self.cond(Cond::Stalled, Truth::False, reason, "");
        self.st.message = Some(message);
        self.requeue = Some(after);
        Halt
    }

    /// The desired state for this mode is reached.
    pub(super) fn settled(
        &mut self,
        phase: Phase,
        reason: &str,
        message: String,
        after: Option<Duration>,
    ) -> Halt {
        self.st.phase = Some(phase);
        self.cond(Cond::Ready, Truth::True, reason, &message);
        self.cond(Cond::Reconciling, Truth::False, reason, "");
        self.cond(Cond::Stalled, Truth::False, reason, "");
        self.st.message = Some(message);
        self.requeue = after;
        Halt
    }

    /// Cannot go on until the user (or the account owner) changes something.
    pub(super) fn blocked(&mut self, block: Block, action: &str) -> Halt {
        self.blocked_as(Phase::Blocked, block, action)
    }

    pub(super) fn blocked_as(&mut self, phase: Phase, block: Block, action: &str) -> Halt {
        self.st.phase = Some(phase);
        self.cond(Cond::Ready, Truth::False, block.reason.as_str(), &block.message);
        self.cond(Cond::Reconciling, Truth::False, block.reason.as_str(), "");
        self.cond(Cond::Stalled, Truth::True, block.reason.as_str(), &block.message);
        // One Warning per distinct message; the recorder aggregates repeats.
        self.event(
            EventKind::Warning,
            block.reason.as_str(),
            action,
            block.message.clone(),
        );
        self.st.message = Some(block.message);
        self.result = "blocked";
        self.reason = Some(block.reason.as_str().to_string());
        self.requeue = Some(self.opts.blocked_retry);
        Halt
    }

    pub(super) fn record_error<E: CallError>(&mut self, action: &str, e: &E) {
        self.st.last_error = Some(AlibabaErrorStatus {
            action: action.to_string(),
            code: e.code().to_string(),
            message: e.message().to_string(),
            request_id: e.request_id().map(str::to_string),
            hint: hint(e.code()).map(str::to_string),
            time: ts(self.now),
        });
    }

    /// A failed call: transient ones are retried soon, the rest block with the code and a hint
    /// ([`decide::failure`] chooses which).
    pub(super) fn call_failed<E: CallError>(&mut self, action: &str, e: &E, otherwise: BlockReason) -> Halt {
        self.record_error(action, e);
        let rid = e
            .request_id()
            .map(|r| format!(", RequestId {r}"))
            .unwrap_or_default();
        let mut message = format!("{action} failed: {} ({}{rid})", e.code(), e.message());
        if let Some(h) = hint(e.code()) {
            message.push_str(&format!(": {h}"));
        }
        match decide::failure(e.class(), e.code(), otherwise) {
            Failure::RetrySoon => {
                let phase = self.st.phase.unwrap_or(Phase::Planned);
                self.result = "error";
                self.reason = Some(e.code().to_string());
                let after = self.opts.poll.max(self.opts.error_retry / 3);
                self.progressing(phase, "Retrying", message, after)
            }
            Failure::RetryWithBackoff => {
                let phase = self.st.phase.unwrap_or(Phase::Planned);
                self.result = "error";
                self.reason = Some(e.code().to_string());
                self.event(EventKind::Warning, "TransientError", action, message.clone());
                let after = self.opts.error_retry;
                let h = self.progressing(phase, "Retrying", message, after);
                self.requeue = Some(after);
                h
            }
            Failure::Block(reason) => self.blocked(Block::new(reason, message), action),
        }
    }

    /// The pass was asked to stop: nothing more is started; the next pass reads the new spec.
    pub(super) fn stopped(&mut self, why: &str) -> Halt {
        let phase = self.st.phase.unwrap_or(Phase::Planned);
        let id = self.obj.spec.account_id.clone();
        self.event(
            EventKind::Normal,
            "Stopped",
            "Reconcile",
            format!(
                "stopped work on account {id}: {why}; calls already sent finished, no new call was started"
            ),
        );
        self.progressing(
            phase,
            "Stopped",
            format!("stopped: {why}; no new call to Alibaba Cloud was started"),
            Duration::from_millis(200),
        )
    }

    pub(super) fn finish(self) -> PassOutcome {
        PassOutcome {
            status: self.st,
            events: self.events,
            requeue: self.requeue,
            result: self.result,
            reason: self.reason,
            deleted_now: self.deleted_now,
        }
    }
}

/// The pass cannot record what it would send: nothing is sent; retry soon.
pub(super) fn audit_unavailable(p: &mut Pass<'_>, e: &str) -> Halt {
    let phase = p.st.phase.unwrap_or(Phase::Planned);
    p.result = "error";
    p.reason = Some("AuditUnavailable".into());
    let after = p.opts.error_retry;
    p.event(
        EventKind::Warning,
        "AuditUnavailable",
        "Audit",
        format!("the audit record cannot be written ({e}); no call is sent until it can"),
    );
    p.progressing(
        phase,
        "AuditUnavailable",
        format!("the audit record cannot be written ({e}); no call to Alibaba Cloud is sent until it can; retrying"),
        after,
    )
}

/// `status.plan` of a plan, with its first `n` entries.
pub(super) fn plan_status(plan: &Plan, n: usize) -> PlanStatus {
    PlanStatus {
        hash: plan.hash.clone(),
        actions: plan.actions.len() as u64,
        remaining: plan
            .remaining()
            .into_iter()
            .map(|(k, n)| (k.as_str().to_string(), n as u64))
            .collect(),
        first: plan.first_entries(n),
        kept: plan
            .kept
            .iter()
            .map(|k| format!("{} {}: {}", k.kind.noun(), k.name, k.reason))
            .collect(),
    }
}

/// Accounts with at least this many objects to delete get an Event at 25, 50, 75 and 100 %.
pub const PROGRESS_EVENTS_FROM: u64 = 100;

/// Updates `status.progress` from the objects deleted so far and `remaining` (top-level objects the
/// current plan still deletes), announcing milestones of large accounts.
pub(super) fn update_progress(p: &mut Pass<'_>, remaining: u64) {
    if let Some(e) = progress_now(p, 0, remaining) {
        p.events.push(e);
    }
}

/// Sets `status.progress` with `extra` deletions not yet in `status.deleted`; returns the milestone
/// Event to announce, if one was crossed.
pub(super) fn progress_now(p: &mut Pass<'_>, extra: u64, remaining: u64) -> Option<PassEvent> {
    let deleted: u64 = p.st.deleted.values().sum::<u64>() + extra;
    let total = deleted + remaining;
    let percent = (deleted * 100)
        .checked_div(total)
        .map_or(100, |p| u32::try_from(p).unwrap_or(100));
    let mut milestone = p.st.progress.as_ref().map_or(0, |g| g.milestone);
    let mut event = None;
    if total >= PROGRESS_EVENTS_FROM
        && let Some(m) = [100, 75, 50, 25]
            .into_iter()
            .find(|m| percent >= *m && milestone < *m)
    {
        milestone = m;
        event = Some(PassEvent {
            kind: EventKind::Normal,
            reason: "Progress".into(),
            note: format!(
                "account {}: {percent}% of RAM emptied ({deleted} of {total} objects)",
                p.obj.spec.account_id
            ),
            action: "Purge".into(),
        });
    }
    p.st.progress = Some(crate::crd::Progress {
        percent,
        display: format!("{percent}%"),
        deleted,
        total,
        milestone,
    });
    event
}

/// How often a running purge writes its progress to `status`.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
