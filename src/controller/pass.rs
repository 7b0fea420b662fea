//! One reconcile pass for one `AccountDeletion`, independent of Kubernetes plumbing: it reads the
//! live account, decides, acts, and returns the new status, the Events to publish and when to come
//! back. Level-triggered: every pass starts from the live inventory, so a restart at any point
//! resumes correctly; `status` only carries what Alibaba Cloud cannot tell us again (started
//! service-linked role tasks, that `DeleteAccount` was accepted, the account id work started on).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::crd::{
    AccountDeletion, AccountDeletionStatus, AlibabaErrorStatus, ApprovedPlan, DeletionCheckStatus,
    DeletionResult, Mode, ObservedAccount, Phase, PlanStatus, SlrTaskStatus,
};
use ado_core::execute::{AuditEntry, ExecOptions};
use ado_core::journal::{CallIntent, Journal};
use ado_core::{CallError, Kind, Plan, PlanApi};

use super::claim::ClaimOutcome;
use super::conditions::{self, Truth};
use super::directory::{CheckResult, DeletionStatusInfo, Directory, is_no_task};
use super::hints::{hint, is_retryable};
use super::validate::{Block, Validated};

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

struct Halt;

struct Pass<'a> {
    obj: &'a AccountDeletion,
    stop: Stop,
    st: AccountDeletionStatus,
    events: Vec<PassEvent>,
    now: jiff::Timestamp,
    opts: &'a PassOptions,
    requeue: Option<Duration>,
    result: &'static str,
    reason: Option<String>,
    deleted_now: BTreeMap<Kind, u64>,
}

fn ts(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

impl<'a> Pass<'a> {
    /// A pass over `obj`, starting from its current status.
    fn new(obj: &'a AccountDeletion, opts: &'a PassOptions, now: jiff::Timestamp) -> Self {
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
    fn cond(&mut self, type_: &str, status: Truth, reason: &str, message: &str) {
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

    fn event(&mut self, kind: EventKind, reason: &str, action: &str, note: String) {
        self.events.push(PassEvent {
            kind,
            reason: reason.to_string(),
            note,
            action: action.to_string(),
        });
    }

    /// Work continues; come back after `after`.
    fn progressing(&mut self, phase: Phase, reason: &str, message: String, after: Duration) -> Halt {
        self.st.phase = Some(phase);
        self.cond("Ready", Truth::False, reason, &message);
        self.cond("Reconciling", Truth::True, reason, &message);
        self.cond("Stalled", Truth::False, reason, "");
        self.st.message = Some(message);
        self.requeue = Some(after);
        Halt
    }

    /// The desired state for this mode is reached.
    fn settled(&mut self, phase: Phase, reason: &str, message: String, after: Option<Duration>) -> Halt {
        self.st.phase = Some(phase);
        self.cond("Ready", Truth::True, reason, &message);
        self.cond("Reconciling", Truth::False, reason, "");
        self.cond("Stalled", Truth::False, reason, "");
        self.st.message = Some(message);
        self.requeue = after;
        Halt
    }

    /// Cannot go on until the user (or the account owner) changes something.
    fn blocked(&mut self, block: Block, action: &str) -> Halt {
        self.blocked_as(Phase::Blocked, block, action)
    }

    fn blocked_as(&mut self, phase: Phase, block: Block, action: &str) -> Halt {
        self.st.phase = Some(phase);
        self.cond("Ready", Truth::False, block.reason, &block.message);
        self.cond("Reconciling", Truth::False, block.reason, "");
        self.cond("Stalled", Truth::True, block.reason, &block.message);
        // One Warning per distinct message; the recorder aggregates repeats.
        self.event(EventKind::Warning, block.reason, action, block.message.clone());
        self.st.message = Some(block.message);
        self.result = "blocked";
        self.reason = Some(block.reason.to_string());
        self.requeue = Some(self.opts.blocked_retry);
        Halt
    }

    fn record_error<E: CallError>(&mut self, action: &str, e: &E) {
        self.st.last_error = Some(AlibabaErrorStatus {
            action: action.to_string(),
            code: e.code().to_string(),
            message: e.message().to_string(),
            request_id: e.request_id().map(str::to_string),
            hint: hint(e.code()).map(str::to_string),
            time: ts(self.now),
        });
    }

    /// A failed call: transient ones are retried soon, the rest block with the code and a hint.
    fn call_failed<E: CallError>(&mut self, action: &str, e: &E, block_reason: &'static str) -> Halt {
        self.record_error(action, e);
        let rid = e
            .request_id()
            .map(|r| format!(", RequestId {r}"))
            .unwrap_or_default();
        let mut message = format!("{action} failed: {} ({}{rid})", e.code(), e.message());
        if let Some(h) = hint(e.code()) {
            message.push_str(&format!(": {h}"));
        }
        match e.class_name() {
            _ if is_retryable(e.code()) => {
                let phase = self.st.phase.unwrap_or(Phase::Planned);
                self.result = "error";
                self.reason = Some(e.code().to_string());
                let after = self.opts.poll.max(self.opts.error_retry / 3);
                self.progressing(phase, "Retrying", message, after)
            }
            "Throttled" | "Transient" => {
                let phase = self.st.phase.unwrap_or(Phase::Planned);
                self.result = "error";
                self.reason = Some(e.code().to_string());
                self.event(EventKind::Warning, "TransientError", action, message.clone());
                let after = self.opts.error_retry;
                let h = self.progressing(phase, "Retrying", message, after);
                self.requeue = Some(after);
                h
            }
            _ => self.blocked(
                Block::new(auth_reason(e.code()).unwrap_or(block_reason), message),
                action,
            ),
        }
    }

    /// The pass was asked to stop: nothing more is started; the next pass reads the new spec.
    fn stopped(&mut self, why: &str) -> Halt {
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

    fn finish(self) -> PassOutcome {
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
    let _ = drive(&mut p, dir, v, sink).await;
    p.finish()
}

async fn drive<D: Directory, S: StatusSink>(
    p: &mut Pass<'_>,
    dir: &D,
    v: &Validated,
    sink: &S,
) -> Result<Halt, Halt> {
    let spec = &p.obj.spec;
    let id = spec.account_id.as_str();
    if p.st.phase == Some(Phase::Deleted) {
        return Ok(p.settled(
            Phase::Deleted,
            "Deleted",
            format!("account {id} is deleted"),
            None,
        ));
    }
    if spec.suspend {
        let phase = p.st.phase.unwrap_or(Phase::Planned);
        let msg = "spec.suspend is true: no calls to Alibaba Cloud until it is cleared".to_string();
        p.st.phase = Some(phase);
        p.cond("Reconciling", Truth::False, "Suspended", &msg);
        p.cond("Stalled", Truth::False, "Suspended", "");
        p.cond("Ready", Truth::False, "Suspended", &msg);
        p.st.message = Some(msg);
        return Ok(Halt);
    }

    // Deletion already accepted: only ResourceManager can tell us more.
    if p.st.delete_requested_time.is_some() {
        return poll_deletion(p, dir).await;
    }

    // 1. The target: the right directory, the right account, the right kind of member.
    let rd = match dir.resource_directory().await {
        Ok(rd) => rd,
        Err(e) => return Err(p.call_failed("GetResourceDirectory", &e, "ResourceDirectoryUnavailable")),
    };
    if rd.management_account_id == id {
        return Err(p.blocked(
            Block::new(
                "ManagementAccount",
                format!("account {id} is the management account of resource directory {}; it is never emptied or deleted", rd.id),
            ),
            "Verify",
        ));
    }
    let acc = match dir.get_account(id).await {
        Ok(a) => a,
        Err(e)
            if e.is_not_found()
                && p.st.started_account_id.as_deref() == Some(id)
                && v.mode == Mode::Delete =>
        {
            // Work started on this account and it is gone now: it was deleted (maybe by hand).
            p.cond(
                "Deleted",
                Truth::True,
                "AlreadyGone",
                "the account is no longer in the resource directory",
            );
            return Ok(p.settled(
                Phase::Deleted,
                "Deleted",
                format!("account {id} no longer exists: deleted"),
                None,
            ));
        }
        Err(e) if e.is_not_found() => {
            p.record_error("GetAccount", &e);
            return Err(p.blocked(
                Block::new(
                    "AccountNotInDirectory",
                    format!(
                        "account {id} is not a member of resource directory {}; check spec.accountId",
                        rd.id
                    ),
                ),
                "Verify",
            ));
        }
        Err(e) => return Err(p.call_failed("GetAccount", &e, "AccountLookupFailed")),
    };
    p.st.account = Some(ObservedAccount {
        display_name: acc.display_name.clone(),
        account_type: acc.account_type.clone(),
        status: acc.status.clone(),
    });
    if acc.display_name != spec.account_display_name {
        return Err(p.blocked(
            Block::new(
                "DisplayNameMismatch",
                format!(
                    "spec.accountDisplayName is {:?} but account {id} is named {:?}; nothing is touched until both \
                     identifiers name the same account",
                    spec.account_display_name, acc.display_name
                ),
            ),
            "Verify",
        ));
    }
    if v.mode == Mode::Delete && acc.account_type != "ResourceAccount" {
        return Err(p.blocked(
            Block::new(
                "NotDeletableMemberType",
                format!(
                    "account {id} is a {} member (joined by invitation); ResourceManager deletes only members created \
                     in the directory. Remove it from the directory instead, or use mode PurgeRam",
                    acc.account_type
                ),
            ),
            "Verify",
        ));
    }

    // One owner per account: before anything can change, this object must own the account's
    // claim. Objects waiting for it are honoured: what they retain is kept too, and the account is
    // not deleted while one of them wants it kept.
    let mut waiters = Vec::new();
    if v.mode != Mode::Plan {
        match sink.claim().await {
            Ok(ClaimOutcome::Owned { waiters: w }) => waiters = w,
            Ok(ClaimOutcome::Refused { owner }) => {
                return Err(p.blocked(
                    Block::new(
                        "AccountClaimed",
                        format!(
                            "account {id} is owned by AccountDeletion {} (since {}); this object makes no change \
                             until that one is deleted or its account is deleted. Meanwhile the owner also keeps \
                             what this object retains. To hand over, delete {}",
                            owner.key(),
                            owner.since,
                            owner.key()
                        ),
                    ),
                    "Claim",
                ));
            }
            Err(e) => {
                let phase = p.st.phase.unwrap_or(Phase::Planned);
                p.result = "error";
                p.reason = Some("ClaimUnavailable".into());
                let after = p.opts.error_retry;
                return Err(p.progressing(
                    phase,
                    "Retrying",
                    format!("cannot read the account claim ({e}); retrying"),
                    after,
                ));
            }
        }
    }

    // 2. Inventory and plan, through the member's access role.
    let member = match dir.member(id, &spec.access_role_name).await {
        Ok(m) => m,
        Err(e) => return Err(p.call_failed("AssumeRole", &e, "AccessRoleUnavailable")),
    };
    // Which role the session really is: that role is never planned for change, whatever
    // spec.accessRoleName says, and the session must be in the account we were asked to empty.
    let session = match member.session_role().await {
        Ok(s) => s,
        Err(e) => return Err(p.call_failed("GetCallerIdentity", &e, "AccessRoleUnavailable")),
    };
    let mut plan_options = v.plan_options.clone();
    for w in &waiters {
        plan_options.retain.extend(&w.retain);
    }
    match &session {
        Some(s) if s.account_id != id => {
            return Err(p.blocked(
                Block::new(
                    "WrongAccount",
                    format!(
                        "AssumeRole into account {id} returned a session in account {} (role {}); nothing is touched. \
                         Check spec.accessRoleName and the endpoints",
                        s.account_id, s.role_name
                    ),
                ),
                "AssumeRole",
            ));
        }
        Some(s) => plan_options.access_role_id = Some(s.role_id.clone()),
        None if v.mode != Mode::Plan
            && (plan_options.kinds.contains(&Kind::Roles)
                || plan_options.kinds.contains(&Kind::ServiceLinkedRoles)) =>
        {
            return Err(p.blocked(
                Block::new(
                    "AccessRoleUnidentified",
                    format!(
                        "the STS session in account {id} did not say which role it is (no AssumedRoleUser, no \
                         GetCallerIdentity RoleId), so the operator cannot protect its own access role; nothing is \
                         touched. Leave roles and serviceLinkedRoles out of spec.ram.kinds, or report this"
                    ),
                ),
                "AssumeRole",
            ));
        }
        None => {}
    }
    // Discovery fans out as wide as execution does (the rate budget paces both). After the service
    // refused a delete because a policy is still attached, read attachments per principal: that
    // path does not depend on `AttachmentCount`.
    let attachments = match &p.st.last_error {
        Some(e) if e.code.starts_with("DeleteConflict.") && e.code.contains(".Policy") => {
            ado_core::inventory::Attachments::ByPrincipal
        }
        _ => ado_core::inventory::Attachments::Auto,
    };
    // A later look at an account found empty: GetAccountSummary plus the few listings it does not
    // cover, instead of the whole inventory (controller::converge). Any difference: full inventory.
    let window_over =
        p.st.empty_observed_time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .is_some_and(|t| {
                p.now.as_millisecond() - t.as_millisecond()
                    >= i64::try_from(p.opts.empty_confirm.as_millis()).unwrap_or(i64::MAX)
            });
    let cheap_eligible = v.mode != Mode::Plan
        && plan_options.kinds.len() == Kind::ALL.len()
        && !p.st.inventory.is_empty()
        && !p
            .st
            .service_linked_role_tasks
            .iter()
            .any(|t| slr_in_flight(&t.status))
        && (window_over || conditions::status_of(&p.st.conditions, "RamEmpty") == Some("True"));
    let cheap_confirmed = cheap_eligible
        && match super::converge::still_empty(member.as_ref(), &p.st.inventory, &plan_options, id).await {
            Ok(same) => same,
            Err(e) => return Err(p.call_failed("GetAccountSummary", &e, "InventoryFailed")),
        };
    if cheap_confirmed {
        tracing::debug!(account = %id, check = super::converge::CHECK_CALLS, "RAM still empty");
        p.st.inventory_time = Some(ts(p.now));
    } else {
        // Users whose deletion the service refused because of passkeys: list theirs (one call each).
        let passkeys_for: std::collections::BTreeSet<String> =
            p.st.users_with_passkeys.iter().cloned().collect();
        let inv = match ado_core::inventory::discover_with(
            member.as_ref(),
            &plan_options.kinds,
            id,
            p.opts.concurrency,
            attachments,
            &passkeys_for,
        )
        .await
        {
            Ok(i) => i,
            Err(e) => return Err(p.call_failed("Inventory", &e, "InventoryFailed")),
        };
        p.st.users_with_passkeys
            .retain(|u| inv.users.iter().any(|x| &x.name == u));
        let plan = match ado_core::build(&inv, &plan_options) {
            Ok(plan) => plan,
            Err(e) => return Err(p.blocked(Block::new("InvalidRetainPattern", e.to_string()), "Plan")),
        };
        p.st.inventory = inv
            .counts()
            .into_iter()
            .map(|(k, n)| (k.as_str().to_string(), n as u64))
            .collect();
        p.st.inventory_time = Some(ts(p.now));
        p.st.plan = Some(plan_status(&plan, p.opts.plan_entries));
        update_progress(p, plan.remaining().values().sum::<usize>() as u64);
        p.st.retained = plan
            .retained
            .iter()
            .map(|(k, n)| format!("{}/{n}", k.as_str()))
            .chain(
                plan.kept
                    .iter()
                    .map(|k| format!("{}/{} ({})", k.kind.as_str(), k.name, k.reason)),
            )
            .collect();

        if v.mode == Mode::Plan {
            return plan_mode(p, dir, &rd.member_deletion_status, &acc.account_type, &plan).await;
        }

        // 3. Guards before the first mutating call.
        // Mode Delete on a directory that cannot delete members would empty RAM for nothing: refuse
        // before touching anything (PurgeRam stays possible).
        if v.mode == Mode::Delete && rd.member_deletion_status != "Enabled" {
            return Err(p.blocked(
                Block::new(
                    "MemberDeletionDisabled",
                    format!(
                        "member deletion is {} for resource directory {}: nothing was changed. Enable it in the \
                         Resource Directory console (SetMemberDeletionPermission Status=Enabled), or use \
                         spec.mode PurgeRam to only empty RAM",
                        rd.member_deletion_status, rd.id
                    ),
                ),
                "DeleteAccount",
            ));
        }
        if let Some(nb) = v.not_before
            && p.now < nb
        {
            let wait = Duration::from_secs(nb.as_second().saturating_sub(p.now.as_second()).max(1) as u64);
            let msg = format!(
                "spec.notBefore is {}: no change before then (plan hash {})",
                ts(nb),
                plan.hash
            );
            p.st.phase = Some(Phase::Planned);
            p.cond("Ready", Truth::False, "WaitingForNotBefore", &msg);
            p.cond("Reconciling", Truth::True, "WaitingForNotBefore", &msg);
            p.cond("Stalled", Truth::False, "WaitingForNotBefore", "");
            p.st.message = Some(msg);
            p.requeue = Some(wait.min(p.opts.resync));
            return Ok(Halt);
        }
        if let Some(approved) = &spec.approved_plan_hash
            && let Err(block) = check_approval(&mut p.st, approved, &plan)
        {
            return Err(p.blocked(block, "Plan"));
        }

        // 4. Empty RAM. Tasks of service-linked roles that no longer appear in the inventory are not
        // in the plan any more, so the executor will not poll them: settle them here.
        settle_finished_slr_tasks(p, member.as_ref(), &inv).await;
        let in_flight =
            p.st.service_linked_role_tasks
                .iter()
                .any(|t| slr_in_flight(&t.status));
        if !plan.is_empty() || in_flight {
            let was_empty = p.st.empty_observed_time.take().is_some()
                || conditions::status_of(&p.st.conditions, "RamEmpty") == Some("True");
            if was_empty && !plan.is_empty() {
                let objects: usize = plan.remaining().values().sum();
                p.event(
                    EventKind::Warning,
                    "ResourcesReappeared",
                    "Inventory",
                    format!(
                        "{objects} RAM object(s) appeared in account {id} after it was found empty ({}); purging again",
                        plan.first_entries(3).join("; ")
                    ),
                );
            }
            if p.st.started_account_id.is_none() {
                p.st.started_account_id = Some(id.to_string());
            }
            p.st.phase = Some(Phase::PurgingRam);
            p.cond("RamEmpty", Truth::False, "Purging", "RAM objects remain");
            if let Err(e) = sink.save(&p.st).await {
                return Err(p.progressing(
                    Phase::PurgingRam,
                    "StatusWriteFailed",
                    format!("could not record progress before deleting ({e}); retrying"),
                    p.opts.error_retry,
                ));
            }
            if let Some(why) = p.stop.requested() {
                return Ok(p.stopped(&why));
            }
            return purge(p, member.as_ref(), &plan, sink).await;
        }
    }
    // Empty once is not enough: eventual consistency and concurrent creators are real.
    let first_empty: Option<jiff::Timestamp> =
        p.st.empty_observed_time.as_deref().and_then(|t| t.parse().ok());
    let confirm = jiff::SignedDuration::try_from(p.opts.empty_confirm).unwrap_or_default();
    let confirmed = conditions::status_of(&p.st.conditions, "RamEmpty") == Some("True");
    if !confirmed {
        match first_empty {
            None => {
                p.st.empty_observed_time = Some(ts(p.now));
                let after = p.opts.empty_confirm;
                return Ok(p.progressing(
                    Phase::PurgingRam,
                    "VerifyingEmpty",
                    format!("RAM of account {id} looks empty; verifying with a second inventory"),
                    after,
                ));
            }
            Some(t) if p.now.as_millisecond() - t.as_millisecond() < confirm.as_millis() as i64 => {
                let left =
                    confirm - jiff::SignedDuration::from_millis(p.now.as_millisecond() - t.as_millisecond());
                let after = Duration::try_from(left)
                    .unwrap_or(p.opts.empty_confirm)
                    .max(Duration::from_millis(200));
                return Ok(p.progressing(
                    Phase::PurgingRam,
                    "VerifyingEmpty",
                    format!("RAM of account {id} looks empty; verifying with a second inventory"),
                    after,
                ));
            }
            Some(_) => {}
        }
    }
    p.cond(
        "RamEmpty",
        Truth::True,
        "Empty",
        "the selected RAM kinds are empty except what is retained",
    );
    update_progress(p, 0);

    if v.mode == Mode::PurgeRam {
        let msg = format!(
            "RAM of account {id} is empty except {} retained object(s)",
            p.st.retained.len()
        );
        return Ok(p.settled(Phase::RamEmpty, "RamEmpty", msg, Some(p.opts.resync)));
    }

    // 5. Delete the account (member deletion was checked before the first mutating call).
    // A deletion accepted in an earlier life whose status write was lost: adopt it, never re-issue.
    match dir.deletion_status(id).await {
        Ok(ds) if ds.status != "CheckFailed" && ds.status != "DeleteFailed" => {
            p.st.delete_requested_time = Some(ds.create_time.clone().unwrap_or_else(|| ts(p.now)));
            return apply_deletion_status(p, ds);
        }
        Ok(_) => {}
        Err(e) if is_no_task(e.code()) || e.is_not_found() => {}
        Err(e) => return Err(p.call_failed("GetAccountDeletionStatus", &e, "DeletionStatusUnavailable")),
    }
    let ram_empty_since =
        p.st.conditions
            .iter()
            .find(|c| c.type_ == "RamEmpty")
            .map(|c| c.last_transition_time.0)
            .unwrap_or(p.now);
    let Some(check) = deletion_check(p, dir, Some(ram_empty_since)).await? else {
        return Ok(p.progressing(
            Phase::CheckingDeletion,
            "CheckingDeletion",
            format!("ResourceManager is checking whether account {id} can be deleted"),
            p.opts.poll,
        ));
    };
    if !check.blocking.is_empty() {
        let list: Vec<String> = check
            .blocking
            .iter()
            .map(|c| format!("{} ({}): {}", c.check_name, c.check_id, c.description))
            .collect();
        return Err(p.blocked(
            Block::new(
                "DeletionBlocked",
                format!(
                    "ResourceManager does not allow deleting account {id}: {}",
                    list.join("; ")
                ),
            ),
            "CheckAccountDelete",
        ));
    }
    let waived = &spec.deletion.abandonable_check_ids;
    let not_waived: Vec<String> = check
        .abandonable
        .iter()
        .filter(|c| !waived.contains(&c.check_id))
        .map(|c| format!("{} ({}): {}", c.check_id, c.check_name, c.description))
        .collect();
    if !not_waived.is_empty() {
        return Err(p.blocked(
            Block::new(
                "AbandonableChecksNotWaived",
                format!(
                    "deleting account {id} abandons resources: {}. Add the check ids to spec.deletion.abandonableCheckIds \
                     to accept this",
                    not_waived.join("; ")
                ),
            ),
            "CheckAccountDelete",
        ));
    }
    if !check.allow_delete && check.abandonable.is_empty() {
        return Err(p.blocked(
            Block::new(
                "DeletionBlocked",
                format!("ResourceManager does not allow deleting account {id}"),
            ),
            "CheckAccountDelete",
        ));
    }
    let abandon: Vec<String> = check
        .abandonable
        .iter()
        .map(|c| c.check_id.clone())
        .filter(|c| waived.contains(c))
        .collect();
    if let Some(w) = waiters.iter().find(|w| w.mode != Mode::Delete) {
        return Err(p.blocked(
            Block::new(
                "ConflictingAccountDeletion",
                format!(
                    "AccountDeletion {} (mode {}) also names account {id} and does not want it deleted; RAM is \
                     emptied but DeleteAccount is not sent. Delete {} or set its mode to Delete",
                    w.object.key(),
                    w.mode.as_str(),
                    w.object.key()
                ),
            ),
            "DeleteAccount",
        ));
    }
    if let Some(why) = p.stop.requested() {
        return Ok(p.stopped(&why));
    }
    // Write ahead: the intent to delete the account is durable before the call is sent.
    let journal = match sink.journal().await {
        Ok(j) => j,
        Err(e) => return Err(audit_unavailable(p, &e)),
    };
    let intent = match &journal {
        Some(j) => match j
            .intend(&[CallIntent {
                action: "DeleteAccount".into(),
                target: id.to_string(),
            }])
            .await
        {
            Ok(ids) => ids.first().copied(),
            Err(e) => return Err(audit_unavailable(p, &e)),
        },
        None => None,
    };
    let answer = dir.delete_account(id, &abandon).await;
    let entry = AuditEntry {
        time: ts(jiff::Timestamp::now()),
        action: "DeleteAccount".into(),
        target: id.to_string(),
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
                status: "Deleting".into(),
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
            Ok(p.progressing(
                Phase::Deleting,
                "Deleting",
                format!("account {id} is being deleted"),
                p.opts.poll,
            ))
        }
        Err(e) if e.code() == "AccountNotExist.DeleteAccount" || e.code() == "EntityNotExists.Account" => {
            p.record_error("DeleteAccount", &e);
            p.cond(
                "Deleted",
                Truth::True,
                "AlreadyGone",
                "the account no longer exists",
            );
            Ok(p.settled(
                Phase::Deleted,
                "Deleted",
                format!("account {id} no longer exists: deleted"),
                None,
            ))
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
            Ok(p.progressing(
                Phase::Deleting,
                "Deleting",
                format!("account {id} is being deleted"),
                p.opts.poll,
            ))
        }
        Err(e) => Err(p.call_failed("DeleteAccount", &e, "DeleteAccountRejected")),
    }
}

/// Digests of the objects a plan touches (`kind/name`), sorted and deduplicated.
fn object_digests(plan: &Plan) -> Vec<u32> {
    use sha2::Digest;
    let mut v: Vec<u32> = plan
        .actions
        .iter()
        .map(|a| {
            let (kind, name, _) = a.action.sort_key();
            // Recycle-bin leftovers belong to the user whose deletion was approved.
            let name = match &a.action {
                ado_core::Action::DeleteAccessKeyInRecycleBin { .. }
                | ado_core::Action::DeleteUserInRecycleBin { .. } => {
                    ado_core::model::user_name_from_upn(name)
                }
                _ => name,
            };
            let h = sha2::Sha256::digest(format!("{}/{name}", kind.as_str()).as_bytes());
            u32::from_be_bytes([h[0], h[1], h[2], h[3]])
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Execution under `spec.approvedPlanHash` continues only while the live plan is part of the
/// approved one: nothing new appeared and no deleted service-linked role came back.
fn check_approval(st: &mut AccountDeletionStatus, approved: &str, plan: &Plan) -> Result<(), Block> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let live = object_digests(plan);
    let grew = |what: String| {
        Block::new(
            "PlanNotApproved",
            format!(
                "{what}; review status.plan and set spec.approvedPlanHash to {} to go on",
                plan.hash
            ),
        )
    };
    if plan.hash == approved {
        if st.approved_plan.as_ref().is_none_or(|a| a.hash != approved) {
            let bytes: Vec<u8> = live.iter().flat_map(|d| d.to_be_bytes()).collect();
            st.approved_plan = Some(ApprovedPlan {
                hash: approved.to_string(),
                objects: live.len() as u64,
                digest: engine.encode(bytes),
            });
        }
        return Ok(());
    }
    let Some(rec) = st.approved_plan.as_ref().filter(|a| a.hash == approved) else {
        if plan.is_empty() {
            return Ok(());
        }
        return Err(grew(format!(
            "the live plan hashes to {} but spec.approvedPlanHash is {approved}: the account is not what was approved",
            plan.hash
        )));
    };
    let known: Vec<u32> = engine
        .decode(&rec.digest)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let new_objects = live.iter().filter(|d| known.binary_search(d).is_err()).count();
    if new_objects > 0 {
        return Err(grew(format!(
            "{new_objects} object(s) appeared that the approved plan {approved} did not contain"
        )));
    }
    for a in &plan.actions {
        if let ado_core::Action::DeleteServiceLinkedRole { role } = &a.action
            && st
                .service_linked_role_tasks
                .iter()
                .any(|t| &t.role == role && t.status == "SUCCEEDED")
        {
            return Err(grew(format!(
                "service-linked role {role} was deleted and has been recreated"
            )));
        }
    }
    Ok(())
}

fn plan_status(plan: &Plan, n: usize) -> PlanStatus {
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

/// Credential and permission failures get a reason of their own, whatever call hit them, so an
/// alert can say "fix the key" rather than "ResourceManager unavailable".
fn auth_reason(code: &str) -> Option<&'static str> {
    if code == "SignatureDoesNotMatch"
        || code == "InvalidAccessKeySecret"
        || code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidSecurityToken")
    {
        Some("CredentialsRejected")
    } else if code == "NoPermission" || code.starts_with("Forbidden") {
        Some("PermissionDenied")
    } else {
        None
    }
}

fn slr_in_flight(status: &str) -> bool {
    matches!(status, "IN_PROGRESS" | "NOT_STARTED" | "UNKNOWN")
}

/// Documented length of the silence period (deletion type 1).
pub const SILENCE_PERIOD_DAYS: i64 = 45;

/// When a silence period ends: `DeletionTime` when the service gives it (`false`), else
/// `CreateTime` + [`SILENCE_PERIOD_DAYS`] (`true`: an estimate).
fn silence_end(ds: &DeletionStatusInfo) -> Option<(String, bool)> {
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

/// `0` / `1` in words.
#[must_use]
pub fn deletion_type_words(t: i64) -> String {
    match t {
        0 => "direct deletion".into(),
        1 => "silence period before deletion".into(),
        other => format!("deletion type {other}"),
    }
}

async fn plan_mode<D: Directory>(
    p: &mut Pass<'_>,
    dir: &D,
    member_deletion: &str,
    account_type: &str,
    plan: &Plan,
) -> Result<Halt, Halt> {
    let id = p.obj.spec.account_id.clone();
    let summary = format!(
        "plan {}: {} call(s) to empty RAM; nothing is changed in mode Plan. Set spec.mode to PurgeRam or Delete to \
         execute",
        plan.hash,
        plan.actions.len()
    );
    p.cond(
        "RamEmpty",
        Truth::from_bool(plan.is_empty()),
        if plan.is_empty() { "Empty" } else { "NotEmpty" },
        "",
    );
    if member_deletion != "Enabled" {
        p.cond(
            "DeletionAllowed",
            Truth::False,
            "MemberDeletionDisabled",
            "member deletion is disabled for the resource directory",
        );
        return Ok(p.settled(Phase::Planned, "Planned", summary, Some(p.opts.resync)));
    }
    if account_type != "ResourceAccount" {
        p.cond(
            "DeletionAllowed",
            Truth::False,
            "NotDeletableMemberType",
            "invited members cannot be deleted",
        );
        return Ok(p.settled(Phase::Planned, "Planned", summary, Some(p.opts.resync)));
    }
    // The pre-check deletes nothing; refresh it once per resync interval.
    let fresh_after = p
        .now
        .checked_sub(jiff::SignedDuration::try_from(p.opts.resync).unwrap_or_default())
        .ok();
    match deletion_check(p, dir, fresh_after).await? {
        None => Ok(p.progressing(
            Phase::Planned,
            "CheckingDeletion",
            format!("{summary}; deletion pre-check of account {id} running"),
            p.opts.poll,
        )),
        Some(_) => Ok(p.settled(Phase::Planned, "Planned", summary, Some(p.opts.resync))),
    }
}

/// Starts (when missing or older than `fresh_after`) and reads the deletion pre-check.
/// `Ok(None)` while it runs.
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
            return Err(p.call_failed("CheckAccountDelete", &e, "DeletionCheckRejected"));
        }
        p.st.deletion_check = Some(DeletionCheckStatus {
            status: "PreChecking".into(),
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
        Err(e) => return Err(p.call_failed("GetAccountDeletionCheckResult", &e, "DeletionCheckRejected")),
    };
    let started_time = p.st.deletion_check.as_ref().and_then(|c| c.started_time.clone());
    p.st.deletion_check = Some(DeletionCheckStatus {
        status: res.status.clone(),
        allow_delete: (res.status == "PreCheckComplete").then_some(res.allow_delete),
        started_time,
        blocking: res.blocking.clone(),
        abandonable: res.abandonable.clone(),
    });
    if res.status != "PreCheckComplete" {
        return Ok(None);
    }
    let waived = &p.obj.spec.deletion.abandonable_check_ids;
    let unwaived = res
        .abandonable
        .iter()
        .filter(|c| !waived.contains(&c.check_id))
        .count();
    let (truth, reason, msg) = if !res.blocking.is_empty() {
        (
            Truth::False,
            "DeletionBlocked",
            format!("{} blocking check(s)", res.blocking.len()),
        )
    } else if unwaived > 0 {
        (
            Truth::False,
            "AbandonableChecksNotWaived",
            format!("{unwaived} abandonable check(s) not waived"),
        )
    } else {
        (
            Truth::True,
            "Allowed",
            "ResourceManager allows the deletion".to_string(),
        )
    };
    p.cond("DeletionAllowed", truth, reason, &msg);
    Ok(Some(res))
}

/// Polls in-flight service-linked role tasks whose role is gone from the inventory: the task
/// finished (the role is deleted) or its status can no longer be read; either way it is done.
async fn settle_finished_slr_tasks<M: ado_core::PlanApi>(
    p: &mut Pass<'_>,
    member: &M,
    inv: &ado_core::Inventory,
) {
    for t in &mut p.st.service_linked_role_tasks {
        if !slr_in_flight(&t.status) || inv.service_linked_roles.iter().any(|r| r.name == t.role) {
            continue;
        }
        t.status = match member.slr_deletion_status(&t.task_id).await {
            Ok(s) if slr_in_flight(&s.status) => continue,
            Ok(s) => s.status,
            Err(e) if e.is_not_found() => "SUCCEEDED".to_string(),
            Err(_) => continue,
        };
        if t.status == "SUCCEEDED" {
            *p.st
                .deleted
                .entry(Kind::ServiceLinkedRoles.as_str().to_string())
                .or_insert(0) += 1;
        }
    }
}

/// The pass cannot record what it would send: nothing is sent; retry soon.
fn audit_unavailable(p: &mut Pass<'_>, e: &str) -> Halt {
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

async fn purge<M: ado_core::PlanApi, S: StatusSink>(
    p: &mut Pass<'_>,
    member: &M,
    plan: &Plan,
    sink: &S,
) -> Result<Halt, Halt> {
    let id = p.obj.spec.account_id.clone();
    let journal = match sink.journal().await {
        Ok(j) => j,
        Err(e) => return Err(audit_unavailable(p, &e)),
    };
    let existing =
        p.st.service_linked_role_tasks
            .iter()
            .filter(|t| slr_in_flight(&t.status))
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
            _ = tick.tick() => {
                if let Some(ev) = progress_now(p, gone_now, planned.saturating_sub(gone_now)) {
                    sink.publish(&ev).await;
                }
                if let Err(e) = sink.save(&p.st).await {
                    tracing::debug!(account = %id, error = %e, "progress write failed; the next one retries");
                }
            }
        }
    };
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
            status: t.status.clone(),
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
    if let Some(t) = report.slr_tasks.iter().find(|t| t.status == "FAILED") {
        let used: Vec<String> = t
            .usages
            .iter()
            .map(|u| format!("{}: {}", u.region, u.resources.join(", ")))
            .collect();
        return Err(p.blocked(
            Block::new(
                "ServiceLinkedRoleInUse",
                format!(
                    "service-linked role {} cannot be deleted: {}{}. Delete those resources, or add the role to \
                     spec.ram.retain.serviceLinkedRoles",
                    t.role,
                    t.reason.clone().unwrap_or_else(|| "the deletion task failed".into()),
                    if used.is_empty() { String::new() } else { format!(" (used by {})", used.join("; ")) }
                ),
            ),
            "DeleteServiceLinkedRole",
        ));
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
    if let Some(f) = report.failures.iter().find(|f| f.class != "NotFound") {
        p.st.last_error = Some(AlibabaErrorStatus {
            action: f.action.api_action().to_string(),
            code: f.code.clone(),
            message: f.message.clone(),
            request_id: f.request_id.clone(),
            hint: hint(&f.code).map(str::to_string),
            time: ts(p.now),
        });
        let transient = matches!(f.class.as_str(), "Throttled" | "Transient" | "Conflict");
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
            return Err(p.blocked(Block::new("RamCallRejected", msg), f.action.api_action()));
        }
        p.event(EventKind::Warning, "RetryingCalls", f.action.api_action(), msg);
    }
    if let Some(e) = &report.journal_error {
        return Err(audit_unavailable(p, e));
    }
    if report.cancelled {
        let why = p.stop.requested().unwrap_or_else(|| "stop requested".into());
        return Ok(p.stopped(&format!(
            "{why} ({} call(s) of this pass not started)",
            report.actions_skipped
        )));
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
    Ok(p.progressing(Phase::PurgingRam, "PurgingRam", msg, after))
}

async fn poll_deletion<D: Directory>(p: &mut Pass<'_>, dir: &D) -> Result<Halt, Halt> {
    let id = p.obj.spec.account_id.clone();
    match dir.deletion_status(&id).await {
        Ok(ds) => apply_deletion_status(p, ds),
        Err(e) if e.is_not_found() && e.code() == "EntityNotExists.Account" => {
            // The member is gone from the directory: the deletion finished.
            let mut d = p.st.deletion.clone().unwrap_or_default();
            d.status = "Success".into();
            apply_deletion_status(
                p,
                DeletionStatusInfo {
                    status: d.status,
                    deletion_type: d.deletion_type,
                    create_time: d.create_time,
                    deletion_time: d.deletion_time,
                    fail_reasons: d.fail_reasons,
                },
            )
        }
        Err(e) => Err(p.call_failed("GetAccountDeletionStatus", &e, "DeletionStatusUnavailable")),
    }
}

fn apply_deletion_status(p: &mut Pass<'_>, ds: DeletionStatusInfo) -> Result<Halt, Halt> {
    let id = p.obj.spec.account_id.clone();
    p.st.deletion = Some(DeletionResult {
        status: ds.status.clone(),
        deletion_type: ds.deletion_type,
        deletion_type_description: ds.deletion_type.map(deletion_type_words),
        create_time: ds.create_time.clone(),
        deletion_time: ds.deletion_time.clone(),
        expected_completion_time: if ds.deletion_type == Some(1) {
            silence_end(&ds).map(|(t, _)| t)
        } else {
            None
        },
        fail_reasons: ds.fail_reasons.clone(),
    });
    match ds.status.as_str() {
        "Success" => {
            p.cond(
                "Deleted",
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
            Ok(p.settled(
                Phase::Deleted,
                "Deleted",
                format!("account {id} is deleted"),
                None,
            ))
        }
        "DeleteFailed" | "CheckFailed" => {
            let reasons: Vec<String> = ds
                .fail_reasons
                .iter()
                .map(|r| format!("{}: {}", r.name, r.description))
                .collect();
            p.cond("Deleted", Truth::False, "DeleteFailed", &reasons.join("; "));
            // A failed deletion may be retried by the user: clear the request so a new pass re-checks.
            p.st.delete_requested_time = None;
            Err(p.blocked_as(
                Phase::Failed,
                Block::new(
                    "DeleteFailed",
                    format!(
                        "ResourceManager could not delete account {id}: {}. Resolve the reasons; the operator checks \
                         again and retries",
                        if reasons.is_empty() { "no reason given".to_string() } else { reasons.join("; ") }
                    ),
                ),
                "GetAccountDeletionStatus",
            ))
        }
        _ => {
            p.cond("Deleted", Truth::False, "Deleting", "deletion in progress");
            if ds.deletion_type == Some(1) {
                let when = match silence_end(&ds) {
                    Some((t, false)) => format!("; ResourceManager expects it to end at {t}"),
                    Some((t, true)) => format!(
                        "; expected to end around {t} (an estimate: the deletion was requested at {} and Alibaba \
                         documents a 45-day silence period; ResourceManager gives no date)",
                        ds.create_time.as_deref().unwrap_or("?")
                    ),
                    None => String::new(),
                };
                Ok(p.progressing(
                    Phase::SilencePeriod,
                    "SilencePeriod",
                    format!("account {id} is in its silence period before deletion{when}"),
                    p.opts.poll.max(Duration::from_secs(30)).min(p.opts.resync),
                ))
            } else {
                Ok(p.progressing(
                    Phase::Deleting,
                    "Deleting",
                    format!("account {id} is being deleted"),
                    p.opts.poll,
                ))
            }
        }
    }
}

/// Accounts with at least this many objects to delete get an Event at 25, 50, 75 and 100 %.
pub const PROGRESS_EVENTS_FROM: u64 = 100;

/// Updates `status.progress` from the objects deleted so far and `remaining` (top-level objects the
/// current plan still deletes), announcing milestones of large accounts.
fn update_progress(p: &mut Pass<'_>, remaining: u64) {
    if let Some(e) = progress_now(p, 0, remaining) {
        p.events.push(e);
    }
}

/// Sets `status.progress` with `extra` deletions not yet in `status.deleted`; returns the milestone
/// Event to announce, if one was crossed.
fn progress_now(p: &mut Pass<'_>, extra: u64, remaining: u64) -> Option<PassEvent> {
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
