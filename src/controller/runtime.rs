//! Kubernetes plumbing around [`super::pass`]: the watch, Secret loading, status patches, Events,
//! metrics, readiness and graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::Instrument;

use crate::crd::{
    AccountClaim, AccountDeletion, AccountDeletionStatus, ClaimWaiter, EndpointsSpec, Mode, Phase, claim_name,
};
use crate::http::Readiness;
use crate::metrics::{KindLabel, Metrics, PhaseLabel, ReasonLabel, ResultLabel};

use super::audit;
use super::block::{Block, BlockReason};
use super::claim::{self, ClaimOutcome};
use super::directory::Directory;
use super::pass::{self, EventKind, PassOptions, PassOutcome, StatusSink, Stop};
use super::secret::{self, SecretCredentials};
use super::validate;
use ado_core::journal::Journal;

/// Builds a [`Directory`] for a set of credentials and endpoints (the signed client in production,
/// anything in tests).
pub trait Connector: Send + Sync + 'static {
    /// The directory client.
    type Dir: Directory + 'static;
    /// Creates a client; called again only when the credentials or endpoints change.
    ///
    /// # Errors
    /// A message for `status` when the client cannot be built (bad endpoint URL).
    fn connect(
        &self,
        creds: &SecretCredentials,
        endpoint: Option<&str>,
        endpoints: Option<&EndpointsSpec>,
    ) -> Result<Arc<Self::Dir>, String>;
}

/// How the controller runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Watch these namespaces; empty = cluster-wide.
    pub namespaces: Vec<String>,
    /// Label selector, to split a fleet across several releases.
    pub selector: Option<String>,
    /// Accounts never touched and the only endpoints a spec may name.
    pub guards: validate::Guards,
    /// Sizes and timing of the audit record.
    pub journal: audit::JournalConfig,
    /// Pass tunables.
    pub pass: PassOptions,
    /// Objects reconciled at once.
    pub concurrency: u16,
    /// Reporter name for Events (`account-deletion-operator`).
    pub reporter: String,
    /// Pod name, for Events.
    pub instance: Option<String>,
}

struct Ctx<C: Connector> {
    client: Client,
    /// The controllers' caches of AccountDeletion objects: a running pass watches its object here
    /// and stops starting calls within a fraction of a second when it is deleted or changed.
    stores: std::sync::RwLock<Vec<Store<AccountDeletion>>>,
    /// Every account claim (cluster-wide watch): a pass stops when a new object starts waiting for
    /// its account, so what that object retains is planned in before anything else is deleted.
    claims: Store<AccountClaim>,
    connector: C,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    recorder: Recorder,
    dirs: Mutex<HashMap<String, Arc<C::Dir>>>,
    phases: Mutex<HashMap<String, String>>,
    failures: Mutex<HashMap<String, u32>>,
}

/// Reconcile errors that kube-runtime retries with backoff (the API server failing).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading or writing the account claim failed.
    #[error("account claim of {name}: {source}")]
    Claim {
        /// Object.
        name: String,
        /// Cause.
        #[source]
        source: claim::ClaimError,
    },
    /// Reading the credentials Secret failed (the API server, not the user).
    #[error("credentials Secret of {name}: {source}")]
    Secret {
        /// Object.
        name: String,
        /// Cause.
        #[source]
        source: secret::SecretError,
    },
    /// Reading the object itself failed.
    #[error("reading {name}: {source}")]
    Read {
        /// Object.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Writing status failed.
    #[error("writing status of {name}: {source}")]
    Status {
        /// Object.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// The metric label of the failure.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Claim { .. } => "ClaimUnavailable",
            ReconcileError::Secret { .. } => "SecretUnavailable",
            ReconcileError::Read { .. } => "ObjectUnavailable",
            ReconcileError::Status { .. } => "StatusWriteFailed",
        }
    }
}

/// Waits until the CRD is served (readiness stays false with the reason meanwhile), then runs the
/// controller until `shutdown` resolves. In-flight reconciles finish before this returns.
pub async fn run<C: Connector>(
    client: Client,
    connector: C,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let apis: Vec<Api<AccountDeletion>> = if opts.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        opts.namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    'wait: loop {
        let mut problem = None;
        for api in &apis {
            if let Err(e) = api.list(&ListParams::default().limit(1)).await {
                problem = Some(e);
                break;
            }
        }
        let Some(e) = problem else { break 'wait };
        let reason = format!(
            "cannot list accountdeletions.accountdeletion.dev ({e}); apply crds/ or install the chart with \
             crds.enabled=true, and check RBAC"
        );
        tracing::warn!(%reason, "not ready");
        readiness.set(false, &reason);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.clone() => return,
        }
    }
    let reporter = Reporter {
        controller: opts.reporter.clone(),
        instance: opts.instance.clone(),
    };
    let (claims, claims_writer) = reflector::store::<AccountClaim>();
    let claims_watch = reflector(
        claims_writer,
        watcher(
            Api::<AccountClaim>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .for_each(|ev| async move {
        if let Err(e) = ev {
            tracing::debug!(error = %e, "account claim watch");
        }
    });
    let claims_task = tokio::spawn(claims_watch);
    let ctx = Arc::new(Ctx {
        claims,
        recorder: Recorder::new(client.clone(), reporter),
        client,
        connector,
        metrics,
        stores: std::sync::RwLock::new(Vec::new()),
        dirs: Mutex::new(HashMap::new()),
        phases: Mutex::new(HashMap::new()),
        failures: Mutex::new(HashMap::new()),
        opts: opts.clone(),
    });
    let mut wc = watcher::Config::default();
    if let Some(sel) = &opts.selector {
        wc = wc.labels(sel);
    }
    readiness.set(true, "watching AccountDeletion objects");
    tracing::info!(
        namespaces = %if opts.namespaces.is_empty() { "<all>".to_string() } else { opts.namespaces.join(",") },
        "controller started"
    );
    let runs = apis.into_iter().map(|api| {
        // Secrets of the same scope: a created or rotated credentials Secret starts a pass of every
        // object that names it, without waiting for the scheduled retry.
        let secrets: Api<Secret> = match api.namespace() {
            Some(ns) => Api::namespaced(ctx.client.clone(), ns),
            None => Api::all(ctx.client.clone()),
        };
        // Our own status writes must not start a pass: only a new generation (a spec change; a
        // new or re-listed object) triggers one from this stream. Secrets and requeues trigger
        // the rest. The store still sees every event (the stop watcher reads it).
        let (store, writer) = reflector::store();
        let trigger = reflector(writer, watcher(api, wc.clone()))
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default());
        let controller = Controller::for_stream(trigger, store.clone());
        if let Ok(mut stores) = ctx.stores.write() {
            stores.push(store.clone());
        }
        controller
            .watches(secrets, watcher::Config::default(), move |secret: Secret| {
                let ns = secret.namespace();
                let name = secret.name_any();
                let refs: Vec<ObjectRef<AccountDeletion>> = store
                    .state()
                    .iter()
                    .filter(|o| o.namespace() == ns && o.spec.credentials_secret_ref.name == name)
                    .map(|o| ObjectRef::from_obj(o.as_ref()))
                    .collect();
                refs
            })
            .with_config(ControllerConfig::default().concurrency(opts.concurrency.max(1)))
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile::<C>, error_policy::<C>, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "reconcile stream");
                }
            })
    });
    futures::future::join_all(runs).await;
    claims_task.abort();
    readiness.set(false, "shutting down");
    tracing::info!("controller stopped");
}

fn error_policy<C: Connector>(obj: Arc<AccountDeletion>, err: &ReconcileError, ctx: Arc<Ctx<C>>) -> Action {
    tracing::warn!(name = %obj.name_any(), error = %err, "reconcile failed; retrying");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReasonLabel {
            reason: err.reason().into(),
        })
        .inc();
    Action::requeue(Duration::from_secs(10))
}

struct ApiSink {
    client: Client,
    api: Api<AccountDeletion>,
    obj: Arc<AccountDeletion>,
    journal_config: audit::JournalConfig,
    audit_writes: prometheus_client::metrics::counter::Counter,
    /// Opened on the first mutating call of the pass (one read of the head ConfigMap).
    journal: tokio::sync::OnceCell<Arc<audit::KubeJournal>>,
    /// The waiters the pass planned for, once it owns the claim (read by [`watch_for_stop`]).
    waiters: Arc<Mutex<Option<Vec<ClaimWaiter>>>>,
    recorder: Recorder,
}

impl StatusSink for ApiSink {
    async fn save(&self, status: &AccountDeletionStatus) -> Result<(), String> {
        write_status(&self.api, &self.obj.name_any(), status)
            .await
            .map_err(|e| e.to_string())
    }

    async fn publish(&self, event: &pass::PassEvent) {
        publish(&self.recorder, &self.obj, &self.obj.object_ref(&()), event).await;
    }

    async fn journal(&self) -> Result<Option<Arc<dyn Journal>>, String> {
        let j = self
            .journal
            .get_or_try_init(|| {
                audit::KubeJournal::open(
                    &self.client,
                    &self.obj,
                    self.journal_config.clone(),
                    self.audit_writes.clone(),
                )
            })
            .await
            .map_err(|e| format!("reading the audit record {}: {e}", audit::name_for(&self.obj)))?;
        let j: Arc<dyn Journal> = j.clone();
        Ok(Some(j))
    }

    async fn claim(&self) -> Result<ClaimOutcome, String> {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let outcome = claim::acquire(&self.client, &self.obj, &now.to_string())
            .await
            .map_err(|e| e.to_string())?;
        if let ClaimOutcome::Owned { waiters } = &outcome
            && let Ok(mut w) = self.waiters.lock()
        {
            *w = Some(waiters.clone());
        }
        Ok(outcome)
    }
}

/// Logs `ev` and publishes it as a Kubernetes Event on `oref`.
async fn publish(
    recorder: &Recorder,
    obj: &AccountDeletion,
    oref: &k8s_openapi::api::core::v1::ObjectReference,
    ev: &pass::PassEvent,
) {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    match ev.kind {
        EventKind::Normal => {
            tracing::info!(namespace = %ns, name = %name, account = %obj.spec.account_id, reason = %ev.reason, "{}", ev.note)
        }
        EventKind::Warning => {
            tracing::warn!(namespace = %ns, name = %name, account = %obj.spec.account_id, reason = %ev.reason, "{}", ev.note)
        }
    }
    let event = Event {
        type_: if ev.kind == EventKind::Warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: ev.reason.clone(),
        note: Some(truncate(&ev.note, 1000)),
        action: ev.action.clone(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, oref).await {
        tracing::warn!(error = %e, "publishing Event failed");
    }
}

/// Watches `key` in the controllers' caches while a pass runs and asks it to stop when the object
/// is deleted, re-created, suspended, switched to mode Plan, or edited (a new generation: the new
/// spec must be planned before anything else is deleted).
async fn watch_for_stop(
    stores: Vec<Store<AccountDeletion>>,
    claims: Store<AccountClaim>,
    waiters: Arc<Mutex<Option<Vec<ClaimWaiter>>>>,
    oref: ObjectRef<AccountDeletion>,
    start: Arc<AccountDeletion>,
    stop: Stop,
) {
    let claim_ref = ObjectRef::new(&claim_name(&start.spec.account_id));
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A waiter the pass did not plan for: its retention must be planned in first.
        let planned = waiters.lock().ok().and_then(|w| w.clone());
        if let (Some(planned), Some(claim)) = (planned, claims.get(&claim_ref))
            && claim.spec.owner.uid == start.uid().unwrap_or_default()
            && let Some(w) = claim.spec.waiting.iter().find(|w| {
                !planned
                    .iter()
                    .any(|p| p.object.uid == w.object.uid && p.retain == w.retain && p.mode == w.mode)
            })
        {
            stop.request(format!(
                "AccountDeletion {} now also names this account; re-planning to keep what it retains",
                w.object.key()
            ));
            return;
        }
        let live = stores.iter().find_map(|s| s.get(&oref));
        let why = match &live {
            None => Some("the AccountDeletion was deleted".to_string()),
            Some(o) if o.uid() != start.uid() => Some("the AccountDeletion was re-created".to_string()),
            Some(o) if o.metadata.deletion_timestamp.is_some() => {
                Some("the AccountDeletion is being deleted".to_string())
            }
            Some(o) if o.spec.suspend && !start.spec.suspend => Some("spec.suspend is true".to_string()),
            Some(o) if o.spec.mode == Mode::Plan && start.spec.mode != Mode::Plan => {
                Some("spec.mode was set to Plan".to_string())
            }
            Some(o) if o.metadata.generation != start.metadata.generation => {
                Some("the spec changed; the new spec is planned first".to_string())
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            stop.request(why);
            return;
        }
    }
}

/// A JSON merge patch keeps map keys it does not mention: mark every key (at any depth) that
/// `new` no longer has as `null`, so a shrinking map (`plan.remaining`) really shrinks.
/// The field manager of the operator's status writes.
pub const FIELD_MANAGER: &str = "account-deletion-operator";

/// Server-side-applies `status`: the operator owns the fields it writes, so a field it no longer
/// sends (a map key, an optional section) is removed by the API server, without a diff by hand.
async fn write_status(
    api: &Api<AccountDeletion>,
    name: &str,
    status: &AccountDeletionStatus,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": AccountDeletion::api_version(&()),
        "kind": AccountDeletion::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// One reconcile of one object, inside its tracing span (namespace, name, account).
async fn reconcile<C: Connector>(
    obj: Arc<AccountDeletion>,
    ctx: Arc<Ctx<C>>,
) -> Result<Action, ReconcileError> {
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %obj.name_any(), account = %obj.spec.account_id);
    reconcile_in_span(obj, ctx, ns).instrument(span).await
}

async fn reconcile_in_span<C: Connector>(
    obj: Arc<AccountDeletion>,
    ctx: Arc<Ctx<C>>,
    ns: String,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let name = obj.name_any();
    let key = format!("{ns}/{name}");
    let api: Api<AccountDeletion> = Api::namespaced(ctx.client.clone(), &ns);
    // The watch cache can lag the operator's own last status write: a pass requeued right after
    // a purge would start from the status before it and apply that back (server-side apply
    // sends the whole status), losing the purge's counts. Every pass starts from the object as
    // the API server has it now; one read per pass.
    let obj = match api.get_opt(&name).await {
        Ok(Some(fresh)) => Arc::new(fresh),
        Ok(None) => return Ok(Action::await_change()),
        Err(source) => return Err(ReconcileError::Read { name, source }),
    };
    let outcome = run_pass(&ctx, &obj, &api, &ns).await?;
    persist(&ctx, &obj, &api, &outcome).await?;
    announce(&ctx, &obj, &outcome).await;
    record_metrics(&ctx, &key, &outcome, started);
    Ok(schedule_next(&ctx, key, &outcome))
}

/// Validates the spec, reads the Secret, connects and runs the pass (or renders why it cannot).
async fn run_pass<C: Connector>(
    ctx: &Arc<Ctx<C>>,
    obj: &Arc<AccountDeletion>,
    api: &Api<AccountDeletion>,
    ns: &str,
) -> Result<PassOutcome, ReconcileError> {
    let now = jiff::Timestamp::now();
    let v = match validate::validate(obj, &ctx.opts.guards) {
        Err(block) => return Ok(pass::blocked_outcome(obj, block, &ctx.opts.pass, now)),
        Ok(v) => v,
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let creds = match secret::load(&secrets, &obj.spec.credentials_secret_ref.name).await {
        Ok(creds) => creds,
        Err(secret::SecretError::Blocked(block)) => {
            return Ok(pass::blocked_outcome(obj, block, &ctx.opts.pass, now));
        }
        Err(source) => {
            return Err(ReconcileError::Secret {
                name: obj.name_any(),
                source,
            });
        }
    };
    let dir = match directory_for(ctx, obj, &creds) {
        Ok(dir) => dir,
        Err(msg) => {
            let block = Block::new(BlockReason::InvalidEndpoint, msg);
            return Ok(pass::blocked_outcome(obj, block, &ctx.opts.pass, now));
        }
    };
    let sink = ApiSink {
        client: ctx.client.clone(),
        api: api.clone(),
        obj: obj.clone(),
        journal_config: ctx.opts.journal.clone(),
        audit_writes: ctx.metrics.audit_writes.clone(),
        journal: tokio::sync::OnceCell::new(),
        waiters: Arc::new(Mutex::new(None)),
        recorder: ctx.recorder.clone(),
    };
    let stop = Stop::new();
    let stores = ctx.stores.read().map(|s| s.clone()).unwrap_or_default();
    let watcher = tokio::spawn(watch_for_stop(
        stores,
        ctx.claims.clone(),
        sink.waiters.clone(),
        ObjectRef::from_obj(obj.as_ref()),
        obj.clone(),
        stop.clone(),
    ));
    let outcome = pass::run(dir.as_ref(), obj, &v, &ctx.opts.pass, &sink, now, &stop).await;
    watcher.abort();
    Ok(outcome)
}

/// Status first (what only we know); a deleted account's claim goes (nothing more can happen to
/// it).
async fn persist<C: Connector>(
    ctx: &Ctx<C>,
    obj: &AccountDeletion,
    api: &Api<AccountDeletion>,
    outcome: &PassOutcome,
) -> Result<(), ReconcileError> {
    let name = obj.name_any();
    if obj.status.as_ref() != Some(&outcome.status) {
        write_status(api, &name, &outcome.status)
            .await
            .map_err(|source| ReconcileError::Status {
                name: name.clone(),
                source,
            })?;
    }
    if outcome.status.phase == Some(Phase::Deleted) {
        claim::release(&ctx.client, obj)
            .await
            .map_err(|source| ReconcileError::Claim { name, source })?;
    }
    Ok(())
}

/// The pass's Events, preceded by `PhaseChanged` when the phase moved.
async fn announce<C: Connector>(ctx: &Ctx<C>, obj: &AccountDeletion, outcome: &PassOutcome) {
    let oref = obj.object_ref(&());
    let old_phase = obj.status.as_ref().and_then(|s| s.phase);
    let mut events = outcome.events.clone();
    if let Some(new_phase) = outcome.status.phase
        && old_phase != Some(new_phase)
    {
        events.insert(
            0,
            pass::PassEvent {
                kind: EventKind::Normal,
                reason: "PhaseChanged".into(),
                note: format!(
                    "{} -> {}: {}",
                    old_phase.map_or("(new)", |p| p.as_str()),
                    new_phase.as_str(),
                    outcome.status.message.clone().unwrap_or_default()
                ),
                action: "Reconcile".into(),
            },
        );
    }
    for ev in &events {
        publish(&ctx.recorder, obj, &oref, ev).await;
    }
}

fn record_metrics<C: Connector>(ctx: &Ctx<C>, key: &str, outcome: &PassOutcome, started: Instant) {
    let m = &ctx.metrics;
    m.reconciles
        .get_or_create(&ResultLabel {
            result: outcome.result.into(),
        })
        .inc();
    m.reconcile_duration.observe(started.elapsed().as_secs_f64());
    if let Some(r) = &outcome.reason {
        m.reconcile_errors
            .get_or_create(&ReasonLabel { reason: r.clone() })
            .inc();
    }
    for (k, n) in &outcome.deleted_now {
        m.resources_deleted
            .get_or_create(&KindLabel {
                kind: k.as_str().into(),
            })
            .inc_by(*n);
    }
    if let Some(phase) = outcome.status.phase {
        update_phase_gauge(ctx, key, phase.as_str());
    }
}

/// When to come back: the pass's requeue, with per-object exponential backoff on errors (1x, 2x,
/// 4x ... the error delay, at most 5 minutes).
fn schedule_next<C: Connector>(ctx: &Ctx<C>, key: String, outcome: &PassOutcome) -> Action {
    let requeue = match ctx.failures.lock() {
        Ok(mut f) => {
            if outcome.result == "error" {
                let n = f.entry(key.clone()).or_insert(0);
                *n = (*n + 1).min(10);
                outcome
                    .requeue
                    .map(|d| (d * 2u32.pow(*n - 1)).min(Duration::from_secs(300)))
            } else {
                f.remove(&key);
                outcome.requeue
            }
        }
        Err(_) => outcome.requeue,
    };
    match requeue {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn update_phase_gauge<C: Connector>(ctx: &Ctx<C>, key: &str, phase: &str) {
    let Ok(mut phases) = ctx.phases.lock() else { return };
    phases.insert(key.to_string(), phase.to_string());
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for p in phases.values() {
        *counts.entry(p.as_str()).or_insert(0) += 1;
    }
    for p in [
        "Planned",
        "PurgingRam",
        "RamEmpty",
        "CheckingDeletion",
        "Blocked",
        "Deleting",
        "SilencePeriod",
        "Deleted",
        "Failed",
    ] {
        ctx.metrics
            .accounts
            .get_or_create(&PhaseLabel { phase: p.into() })
            .set(*counts.get(p).unwrap_or(&0));
    }
}

fn directory_for<C: Connector>(
    ctx: &Ctx<C>,
    obj: &AccountDeletion,
    creds: &SecretCredentials,
) -> Result<Arc<C::Dir>, String> {
    let key = format!(
        "{}|{}|{:?}|{:?}",
        creds.access_key_id, creds.version, obj.spec.endpoint, obj.spec.endpoints
    );
    if let Ok(dirs) = ctx.dirs.lock()
        && let Some(d) = dirs.get(&key)
    {
        return Ok(d.clone());
    }
    let dir = ctx
        .connector
        .connect(creds, obj.spec.endpoint.as_deref(), obj.spec.endpoints.as_ref())?;
    if let Ok(mut dirs) = ctx.dirs.lock() {
        // Old credentials of the same key id are dropped on rotation.
        dirs.retain(|k, _| !k.starts_with(&format!("{}|", creds.access_key_id)));
        dirs.insert(key, dir.clone());
    }
    Ok(dir)
}
