//! `bench --worker`: the operator's own pass (`controller::pass::run`, what the controller runs for
//! every `AccountDeletion`) over some accounts, in a process of its own so that its peak RSS and
//! CPU are the operator's. The objects live in memory instead of an API server; the pass, its
//! client (`AliyunConnector`: one rate budget per account and one global, as in the operator) and
//! its audit journal seam are the operator's.
//!
//! The protocol with the parent: passes in mode Plan until every plan is ready, `{"planned":N}`
//! on stdout; the parent resets the emulator's counters and writes `go`; then each plan is
//! approved by its hash (mode Delete) and passes run until the object's `RamEmpty` condition is
//! True; then one JSON document on stdout. The worker empties RAM and never deletes the account:
//! from the first pass that found RAM empty on, each pass runs with its stop set, so the pass that
//! confirms emptiness goes as far as the deletion pre-check and stops before `DeleteAccount`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use account_deletion_operator::controller::aliyun_directory::{AliyunConnector, AliyunDirectory};
use account_deletion_operator::controller::conditions::{Cond, is_true};
use account_deletion_operator::controller::pass::{self, EventKind, PassOptions, StatusSink, Stop};
use account_deletion_operator::controller::runtime::Connector;
use account_deletion_operator::controller::secret::SecretCredentials;
use account_deletion_operator::controller::validate::{Guards, Validated, validate};
use account_deletion_operator::crd::{AccountDeletion, AccountDeletionStatus, Mode};
use ado_aliyun::egress::AllowedEndpoints;
use ado_core::execute::AuditEntry;
use ado_core::journal::{CallIntent, IntentId, Journal};
use ado_testkit::deletion;

use super::shapes::{self, deletion_spec, display_name};
use super::{Args, BoxErr, MGMT_KEY_ID, MGMT_KEY_SECRET, usage};

/// Passes one account may take in either phase before the worker gives up on it.
const MAX_PASSES: usize = 200;

/// Stands in for the operator's audit journal (a bounded ring of ConfigMaps) so the executor keeps
/// no in-memory copy of every call, as in the operator: intents get ids, results are dropped.
#[derive(Default)]
struct DiscardingJournal {
    next: std::sync::atomic::AtomicU64,
}

impl Journal for DiscardingJournal {
    fn intend<'a>(&'a self, calls: &'a [CallIntent]) -> BoxFuture<'a, Result<Vec<IntentId>, String>> {
        let first = self
            .next
            .fetch_add(calls.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(
            (first..first + calls.len() as u64).collect()
        )))
    }

    fn record(&self, _: IntentId, _: &AuditEntry) {}

    fn flush(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The pass's Kubernetes side in memory: status is kept by the caller (the pass returns it), the
/// journal discards, every account is owned (one object per account).
#[derive(Default)]
struct MemorySink {
    journal: Arc<DiscardingJournal>,
}

impl StatusSink for MemorySink {
    async fn save(&self, _status: &AccountDeletionStatus) -> Result<(), String> {
        Ok(())
    }

    async fn journal(&self) -> Result<Option<Arc<dyn Journal>>, String> {
        let j: Arc<dyn Journal> = self.journal.clone();
        Ok(Some(j))
    }
}

/// One account's object and what its passes did.
struct Account {
    obj: AccountDeletion,
    passes: Vec<String>,
    failures: Vec<String>,
    error: Option<String>,
}

impl Account {
    fn new(i: usize, endpoint: &str) -> Result<Account, BoxErr> {
        let mut obj: AccountDeletion = serde_json::from_value(deletion::manifest(
            &display_name(i),
            deletion_spec(i, endpoint, Mode::Plan),
        ))?;
        obj.metadata.generation = Some(1);
        Ok(Account {
            obj,
            passes: Vec::new(),
            failures: Vec::new(),
            error: None,
        })
    }

    fn status(&self) -> AccountDeletionStatus {
        self.obj.status.clone().unwrap_or_default()
    }

    /// Runs passes (sleeping the requeue each asks for) until `done` holds for the status, the
    /// object is stalled, or [`MAX_PASSES`]. `stop_when`: whether the next pass runs with its stop
    /// set.
    async fn passes_until(
        &mut self,
        dir: &AliyunDirectory,
        guards: &Guards,
        opts: &PassOptions,
        done: impl Fn(&AccountDeletionStatus) -> bool,
        stop_when: impl Fn(&AccountDeletionStatus) -> bool,
    ) -> bool {
        let v: Validated = match validate(&self.obj, guards) {
            Ok(v) => v,
            Err(b) => {
                self.error = Some(format!("{}: {}", b.reason.as_str(), b.message));
                return false;
            }
        };
        let sink = MemorySink::default();
        for _ in 0..MAX_PASSES {
            let stop = Stop::new();
            if stop_when(&self.status()) {
                stop.request("the benchmark empties RAM only");
            }
            let started = Instant::now();
            let out = pass::run(dir, &self.obj, &v, opts, &sink, jiff::Timestamp::now(), &stop).await;
            let reason = out
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == Cond::Reconciling.as_str())
                .map_or("?", |c| c.reason.as_str());
            self.passes.push(format!(
                "{} {:.2}s",
                if reason.is_empty() { "-" } else { reason },
                started.elapsed().as_secs_f64()
            ));
            self.failures.extend(
                out.events
                    .iter()
                    .filter(|e| e.kind == EventKind::Warning)
                    .map(|e| format!("{}: {}", e.reason, e.note)),
            );
            let stalled = is_true(&out.status.conditions, Cond::Stalled);
            let finished = done(&out.status);
            let message = out.status.message.clone().unwrap_or_default();
            self.obj.status = Some(out.status);
            if finished {
                return true;
            }
            if stalled {
                self.error = Some(format!("stalled: {message}"));
                return false;
            }
            tokio::time::sleep(out.requeue.unwrap_or(opts.poll)).await;
        }
        self.error = Some(format!("not done after {MAX_PASSES} passes"));
        false
    }

    /// Mode Plan until the plan is ready for approval.
    async fn plan(mut self, dir: &AliyunDirectory, guards: &Guards, opts: &PassOptions) -> Account {
        self.passes_until(dir, guards, opts, shapes::planned, |_| false)
            .await;
        self
    }

    /// Approves the plan (the patch a user writes), then passes until RAM is confirmed empty.
    async fn purge(
        mut self,
        dir: &AliyunDirectory,
        guards: &Guards,
        opts: &PassOptions,
        t0: Instant,
    ) -> Value {
        let account = self.obj.spec.account_id.clone();
        let approved = match shapes::approval(&self.status()) {
            Some(patch) => self.approve(patch),
            None => Err(self
                .error
                .clone()
                .unwrap_or_else(|| "the plan is not ready".into())
                .into()),
        };
        let plan_actions = self.status().plan.map_or(0, |p| p.actions);
        let empty = match approved {
            Ok(()) => {
                self.passes.clear();
                self.failures.clear();
                let ram_empty = |st: &AccountDeletionStatus| is_true(&st.conditions, Cond::RamEmpty);
                let seen_empty = |st: &AccountDeletionStatus| st.empty_observed_time.is_some();
                self.passes_until(dir, guards, opts, ram_empty, seen_empty).await
            }
            Err(e) => {
                self.error = Some(format!("approval: {e}"));
                false
            }
        };
        let st = self.status();
        let mut out = json!({
            "account": account,
            "deleted": st.deleted.values().sum::<u64>(),
            "planActions": plan_actions,
            "passes": self.passes.len(),
            "phases": self.passes,
            "empty": empty,
            "finishedSeconds": t0.elapsed().as_secs_f64(),
            "failures": self.failures.iter().take(10).collect::<Vec<_>>(),
            "failureCount": self.failures.len(),
        });
        if let Some(e) = &self.error {
            out["error"] = json!(e);
        }
        out
    }

    /// Applies the approval patch to the object, as the API server would (a new generation).
    fn approve(&mut self, patch: Value) -> Result<(), BoxErr> {
        let mut v = serde_json::to_value(&self.obj)?;
        deletion::merge(&mut v, patch);
        let generation = self.obj.metadata.generation.unwrap_or(1) + 1;
        self.obj = serde_json::from_value(v)?;
        self.obj.metadata.generation = Some(generation);
        Ok(())
    }
}

/// Reads lines from stdin until `go`.
async fn wait_for_go() -> Result<(), BoxErr> {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "go" {
            return Ok(());
        }
    }
    Err("stdin closed before `go`".into())
}

pub async fn worker(args: &Args) -> Result<(), BoxErr> {
    let endpoint = args.endpoint.clone().ok_or("--endpoint is required")?;
    let connector = AliyunConnector::new(args.account_qps, args.global_qps);
    let creds = SecretCredentials {
        access_key_id: MGMT_KEY_ID.into(),
        access_key_secret: MGMT_KEY_SECRET.into(),
        security_token: None,
        version: "1".into(),
    };
    let dir = connector.connect(&creds, Some(&endpoint), None)?;
    let guards = Guards {
        protected: BTreeSet::new(),
        allowed_endpoints: AllowedEndpoints::parse(&[endpoint.as_str()])?,
    };
    // The operator's tunables with the short waits of a test (`--poll-seconds 1`,
    // `--error-retry-seconds 1`), and the second look at an empty RAM right after the first
    // (`--empty-confirm-seconds 0`): the rows time the work, not the operator's safety wait.
    let opts = PassOptions {
        concurrency: args.concurrency,
        poll: Duration::from_secs(1),
        error_retry: Duration::from_secs(1),
        empty_confirm: Duration::ZERO,
        ..PassOptions::default()
    };
    let n = args.accounts;
    // Like the controller's work queue: at most `in_flight` accounts at once, the next one starts
    // when one finishes (a task is spawned only when the stream polls it).
    let in_flight = if args.in_flight == 0 {
        n.max(1)
    } else {
        args.in_flight
    };

    let accounts: Vec<Account> = (0..n)
        .map(|i| Account::new(i, &endpoint))
        .collect::<Result<_, _>>()?;
    let planned: Vec<Account> = futures::stream::iter(accounts)
        .map(|a| {
            let (dir, guards, opts) = (dir.clone(), guards.clone(), opts.clone());
            tokio::spawn(async move { a.plan(&dir, &guards, &opts).await })
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    println!(
        "{}",
        json!({"planned": planned.iter().filter(|a| shapes::planned(&a.status())).count()})
    );
    wait_for_go().await?;

    usage::reset_peak_rss();
    let cpu0 = usage::self_usage().1;
    let t0 = Instant::now();
    let results: Vec<Value> = futures::stream::iter(planned)
        .map(|a| {
            let (dir, guards, opts) = (dir.clone(), guards.clone(), opts.clone());
            tokio::spawn(async move { a.purge(&dir, &guards, &opts, t0).await })
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    let wall = t0.elapsed().as_secs_f64();
    let (hwm, cpu) = usage::self_usage();
    println!(
        "{}",
        json!({"accounts": results, "wallSeconds": wall, "peakRssKib": hwm, "cpuSeconds": cpu - cpu0})
    );
    Ok(())
}
