//! `bench --worker`: the operator's deletion code (inventory, plan, dependency-graph executor, rate
//! limiter) on some accounts in a process of its own, so its peak RSS and CPU are the operator's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use ado_aliyun::client::{AliyunClient, DEFAULT_ACCESS_ROLE};
use ado_aliyun::credentials::{CredentialProvider, Credentials};
use ado_aliyun::ratelimit::RateLimits;
use ado_aliyun::transport::Transport;
use ado_core::execute::{AuditEntry, ExecOptions, run as execute};
use ado_core::journal::{CallIntent, IntentId, Journal};
use ado_core::{Kind, Plan, PlanApi, PlanOptions};

use super::{Args, BoxErr, MGMT_KEY_ID, MGMT_KEY_SECRET};

/// Longest chain of dependent actions in the plan (1 = everything can run at once).
fn plan_depth(plan: &Plan) -> usize {
    let n = plan.actions.len();
    let mut depth = vec![0usize; n];
    let mut missing: Vec<usize> = plan.actions.iter().map(|a| a.deps.len()).collect();
    let dependents = plan.dependents();
    let mut ready: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    for &i in &ready {
        depth[i] = 1;
    }
    while let Some(i) = ready.pop() {
        for &j in &dependents[i] {
            depth[j] = depth[j].max(depth[i] + 1);
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push(j);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
}

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

async fn purge_account(mgmt: AliyunClient, account: String, concurrency: usize, t0: Instant) -> Value {
    let journal: Arc<dyn Journal> = Arc::new(DiscardingJournal::default());
    let kinds: std::collections::BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    let popts = PlanOptions::default();
    let member = match mgmt
        .member(&account, DEFAULT_ACCESS_ROLE, "account-deletion-operator")
        .await
    {
        Ok(m) => m,
        Err(e) => return json!({"account": account, "error": format!("AssumeRole: {e}")}),
    };
    let mut deleted: u64 = 0;
    let mut actions: usize = 0;
    let mut depth = 0usize;
    let mut passes = 0u32;
    let mut failures: Vec<String> = Vec::new();
    let mut slr: BTreeMap<String, String> = BTreeMap::new();
    let mut empty = false;
    let mut phases: Vec<String> = Vec::new();
    while passes < 6 {
        passes += 1;
        let pass_start = Instant::now();
        // Discovery fans out like the controller's pass: the account's concurrency per stage.
        let inv = match ado_core::inventory::discover_with(
            &member,
            &kinds,
            &account,
            concurrency,
            ado_core::inventory::Attachments::Auto,
            &std::collections::BTreeSet::new(),
        )
        .await
        {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("inventory: {e}"));
                continue;
            }
        };
        let plan = match ado_core::build(&inv, &popts) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("plan: {e}"));
                break;
            }
        };
        drop(inv);
        if plan.is_empty() {
            empty = true;
            break;
        }
        depth = depth.max(plan_depth(&plan));
        actions += plan.actions.len();
        let opts = ExecOptions {
            concurrency,
            journal: Some(journal.clone()),
            existing_slr_tasks: slr.clone(),
            ..Default::default()
        };
        let discovered = pass_start.elapsed().as_secs_f64();
        let report = execute(&member, &plan, &opts).await;
        let executed = pass_start.elapsed().as_secs_f64() - discovered;
        deleted += report.deleted.values().sum::<u64>();
        failures.extend(
            report
                .failures
                .iter()
                .map(|f| format!("{}: {}", f.action, f.code)),
        );
        // Service-linked role tasks run on Alibaba's side: poll them like the controller does.
        slr = report
            .slr_tasks
            .iter()
            .filter(|t| t.in_flight())
            .map(|t| (t.role.clone(), t.task_id.clone()))
            .collect();
        let mut polls = 0;
        while !slr.is_empty() && polls < 120 {
            polls += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut still = BTreeMap::new();
            for (role, task) in &slr {
                match member.slr_deletion_status(task).await {
                    Ok(s) if s.status == ado_core::api::SlrPhase::Succeeded => deleted += 1,
                    Ok(s)
                        if matches!(
                            s.status,
                            ado_core::api::SlrPhase::InProgress | ado_core::api::SlrPhase::NotStarted
                        ) =>
                    {
                        still.insert(role.clone(), task.clone());
                    }
                    Ok(s) => failures.push(format!("service-linked role {role}: {}", s.status)),
                    Err(e) => failures.push(format!("service-linked role {role}: {e}")),
                }
            }
            slr = still;
        }
        phases.push(format!(
            "pass {passes}: discovery+plan {discovered:.1}s, {} calls {executed:.1}s, task wait {:.1}s",
            plan.actions.len(),
            pass_start.elapsed().as_secs_f64() - discovered - executed
        ));
    }
    json!({
        "account": account,
        "deleted": deleted,
        "actions": actions,
        "depth": depth,
        "passes": passes,
        "phases": phases,
        "empty": empty,
        "finishedSeconds": t0.elapsed().as_secs_f64(),
        "failures": failures.iter().take(10).collect::<Vec<_>>(),
        "failureCount": failures.len(),
    })
}

/// `VmHWM` (KiB) and user+system CPU seconds of this process, from /proc.
pub fn self_usage() -> (u64, f64) {
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    (hwm, proc_cpu_seconds("/proc/self/stat"))
}

/// User + system CPU seconds from a `/proc/<pid>/stat` file (0 when unreadable).
pub fn proc_cpu_seconds(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start at ") ".
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat; rest starts at field 3.
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0)
}

pub async fn worker(args: &Args) -> Result<(), BoxErr> {
    let endpoint = args.endpoint.clone().ok_or("--endpoint is required")?;
    let config =
        account_deletion_operator::controller::aliyun_directory::client_config(Some(&endpoint), None)?;
    let limits = Arc::new(RateLimits::new(args.account_qps, args.global_qps));
    let transport = Transport::new(config)?.with_limits(limits);
    let mgmt = AliyunClient::from_parts(
        Arc::new(transport),
        CredentialProvider::fixed(Credentials::new(MGMT_KEY_ID, MGMT_KEY_SECRET)),
    );
    let t0 = Instant::now();
    // Like the controller's work queue: at most `in_flight` accounts at once, the next one starts
    // when one finishes (a task is spawned only when the stream polls it).
    let in_flight = if args.in_flight == 0 {
        args.accounts.len().max(1)
    } else {
        args.in_flight
    };
    let results: Vec<Value> = futures::stream::iter(args.accounts.iter().cloned())
        .map(|a| tokio::spawn(purge_account(mgmt.clone(), a, args.concurrency, t0)))
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    let wall = t0.elapsed().as_secs_f64();
    let (hwm, cpu) = self_usage();
    println!(
        "{}",
        json!({"accounts": results, "wallSeconds": wall, "peakRssKib": hwm, "cpuSeconds": cpu})
    );
    Ok(())
}
