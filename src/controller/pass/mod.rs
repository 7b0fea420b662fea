//! One reconcile pass for one `AccountDeletion`, independent of Kubernetes plumbing: it reads the
//! live account, decides, acts, and returns the new status, the Events to publish and when to come
//! back.
//!
//! - [`decide`]: the choices, pure functions of what was observed (table-tested);
//! - `act`, `purge`, `deletion`: the observations and the one step chosen, in order;
//! - `report`: renders each transition into status, conditions, Events and metric labels;
//! - [`approval`]: `spec.approvedPlanHash` against the live plan.
//!
//! Level-triggered: every pass starts from the live inventory, so a restart at any point
//! resumes correctly; `status` only carries what Alibaba Cloud cannot tell us again (started
//! service-linked role tasks, that `DeleteAccount` was accepted, the account id work started on).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ado_core::Kind;
use ado_core::journal::Journal;

use crate::crd::{AccountDeletion, AccountDeletionStatus, Phase};

use super::claim::ClaimOutcome;
use super::directory::Directory;
use super::validate::{Block, Validated};

mod act;
pub mod approval;
pub mod decide;
mod deletion;
mod purge;
mod report;

pub use report::{PROGRESS_EVENTS_FROM, PROGRESS_INTERVAL};

use report::Pass;

/// Tunables of a pass.
#[derive(Debug, Clone)]
pub struct PassOptions {
    /// How soon to look again while something asynchronous runs.
    pub poll: Duration,
    /// How often to re-inventory a settled account (drift, refreshed plan).
    pub resync: Duration,
    /// How soon to retry after a block the user must fix (bounded: no hot loop).
    pub blocked_retry: Duration,
    /// How soon to retry after a transient error.
    pub error_retry: Duration,
    /// Calls in flight per account.
    pub concurrency: usize,
    /// Plan entries shown in `status.plan.first`.
    pub plan_entries: usize,
    /// RAM counts as empty only when two inventories this far apart both find it empty.
    pub empty_confirm: Duration,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            poll: Duration::from_secs(3),
            resync: Duration::from_secs(600),
            blocked_retry: Duration::from_secs(120),
            error_retry: Duration::from_secs(15),
            concurrency: ado_core::execute::DEFAULT_CONCURRENCY,
            plan_entries: 20,
            empty_confirm: Duration::from_secs(5),
        }
    }
}

/// Normal or Warning, as Kubernetes Events have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Progress.
    Normal,
    /// Something the user should look at.
    Warning,
}

/// An Event to publish on the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassEvent {
    /// Normal or Warning.
    pub kind: EventKind,
    /// CamelCase reason.
    pub reason: String,
    /// What happened, in words.
    pub note: String,
    /// The action that produced the event (`DeleteUser`, `Reconcile`).
    pub action: String,
}

/// What a pass decided.
#[derive(Debug, Clone)]
pub struct PassOutcome {
    /// The new status.
    pub status: AccountDeletionStatus,
    /// Events in order.
    pub events: Vec<PassEvent>,
    /// When to run again (`None`: only on change).
    pub requeue: Option<Duration>,
    /// `ok`, `blocked` or `error`, for metrics.
    pub result: &'static str,
    /// Condition reason when blocked or failed, for metrics.
    pub reason: Option<String>,
    /// Objects deleted in this pass, for metrics.
    pub deleted_now: BTreeMap<Kind, u64>,
}

/// What a pass needs from Kubernetes while it runs: persisting intermediate status (before the
/// first mutating call, after a `DeleteAccount`, so a crash right after cannot lose what only we
/// know) and the account's claim (one owner per account).
pub trait StatusSink: Sync {
    /// Writes `status`.
    fn save(&self, status: &AccountDeletionStatus) -> impl Future<Output = Result<(), String>> + Send;

    /// Publishes an Event now (while a long pass runs); the others go out when the pass ends.
    fn publish(&self, event: &PassEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }

    /// The audit journal mutating calls are recorded in (write-ahead); `None` keeps no record.
    fn journal(&self) -> impl Future<Output = Result<Option<Arc<dyn Journal>>, String>> + Send {
        async { Ok(None) }
    }

    /// Takes or confirms this object's claim on its account; called before any mutating call.
    fn claim(&self) -> impl Future<Output = Result<ClaimOutcome, String>> + Send {
        async { Ok(ClaimOutcome::Owned { waiters: Vec::new() }) }
    }
}

/// A sink that keeps nothing and owns every account (unit tests, the `plan` CLI).
pub struct NoSink;

impl StatusSink for NoSink {
    async fn save(&self, _status: &AccountDeletionStatus) -> Result<(), String> {
        Ok(())
    }
}

/// Set from outside while a pass runs (the object was deleted, suspended, switched to mode Plan or
/// edited): no new mutating call starts once it is set; calls already sent finish.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    reason: Arc<std::sync::Mutex<Option<String>>>,
}

impl Stop {
    /// A signal nobody has set.
    #[must_use]
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Asks the pass to stop; the first reason wins.
    pub fn request(&self, reason: impl Into<String>) {
        let mut r = self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason.into());
        }
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Why the pass must stop, once asked.
    #[must_use]
    pub fn requested(&self) -> Option<String> {
        if !self.flag.load(Ordering::SeqCst) {
            return None;
        }
        self.reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .or_else(|| Some("stop requested".into()))
    }

    /// The flag the executor polls before every call.
    #[must_use]
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
}

/// Runs one pass. `validated` comes from [`super::validate::validate`] (a validation failure is
/// reported by the caller without calling this).
pub async fn run<D: Directory, S: StatusSink>(
    dir: &D,
    obj: &AccountDeletion,
    v: &Validated,
    opts: &PassOptions,
    sink: &S,
    now: jiff::Timestamp,
    stop: &Stop,
) -> PassOutcome {
    let mut p = Pass::new(obj, opts, now);
    p.stop = stop.clone();
    let _concluded = act::drive(&mut p, dir, v, sink).await;
    p.finish()
}

/// The outcome of a pass that stopped before any call (invalid spec, unreadable Secret).
#[must_use]
pub fn blocked_outcome(
    obj: &AccountDeletion,
    block: Block,
    opts: &PassOptions,
    now: jiff::Timestamp,
) -> PassOutcome {
    let mut p = Pass::new(obj, opts, now);
    if p.st.phase == Some(Phase::Deleted) {
        let _ = p.settled(
            Phase::Deleted,
            "Deleted",
            format!("account {} is deleted", obj.spec.account_id),
            None,
        );
    } else {
        let _ = p.blocked(block, "Validate");
    }
    p.finish()
}

/// Documented length of the silence period (deletion type 1).
pub const SILENCE_PERIOD_DAYS: i64 = 45;

/// `0` / `1` in words.
#[must_use]
pub fn deletion_type_words(t: i64) -> String {
    match t {
        0 => "direct deletion".into(),
        1 => "silence period before deletion".into(),
        other => format!("deletion type {other}"),
    }
}
