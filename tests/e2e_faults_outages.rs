//! Issue 7, fault tests, end to end (continued from tests/e2e_faults.rs): outages around a purge,
//! on the real etcd + kube-apiserver v1.20.2, the real `aliyun-emulator` and the real operator
//! binary. The operator must finish exactly once whatever goes away for a while:
//!
//! - Kubernetes side: API server and etcd restarts mid-purge; the watch still works afterwards;
//! - Alibaba side: the endpoint unreachable (refused, or every connection dropped) for a minute:
//!   bounded retries, the status says what is wrong, then it resumes;
//! - STS: the member session expires mid-purge and is refreshed without a failed step.
//!
//! The member, its seed and the shared checks are `ado_testkit::faults`. Every test prints its
//! figures (`eprintln!`, shown with `--nocapture`). The emulator clock is never advanced by more
//! than ~850 s in total: the operator signs with the real time, and the emulator refuses
//! timestamps more than 15 minutes off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::time::{Duration, Instant};

use account_deletion_operator::crd::Phase;
use serde_json::json;

use support::calls;
use support::deletion::{Recorder, assert_monotonic, audit_log, status, walk_rank};
use support::faults::{
    Member, SERIAL, assert_delete_account_once, cluster, create_deletion, seed, start_operator,
    wait_mutating_above,
};
use support::metrics::metric_sum;
use support::{Emulator, http_get, wait_deleted, wait_for, wait_phase};

#[tokio::test]
async fn api_server_and_etcd_restarts_mid_purge_then_watches_still_work() {
    let _serial = SERIAL.lock().await;
    let ns = "kube";
    let t0 = Instant::now();
    let mut k = cluster(ns).await;
    let id = "3100000000000031";
    let emu = Emulator::start(&seed(&Member::rich(id)), &[]).await;
    // For the object created after the restarts (started now: the operator only uses endpoints it
    // knows at start).
    let id2 = "3100000000000032";
    let emu2 = Emulator::start(
        &seed(&Member {
            generate: "users: 2",
            ..Member::rich(id2)
        }),
        &[],
    )
    .await;
    let extra = [("ADO_ACCOUNT_QPS", "20")];
    let mut op = start_operator(&k, ns, &extra);
    let api = create_deletion(&k, ns, "kube", id, emu.url()).await;
    let rec = Recorder::start(&api, "kube");

    let m0 = wait_mutating_above(&emu, 5, "the purge to start").await;
    let left0 = emu.ram_objects(id).await;
    let tr = Instant::now();
    k.restart_apiserver().await;
    let apiserver_down = tr.elapsed();
    let m1 = wait_mutating_above(&emu, m0 + 10, "the purge to go on after the API server restart").await;
    let left1 = emu.ram_objects(id).await;
    let te = Instant::now();
    k.restart_etcd().await;
    let etcd_down = te.elapsed();
    wait_deleted(&api, "kube", 150).await;
    assert!(op.is_running(), "the operator survived the restarts");
    let calls = emu.calls().await;
    assert_delete_account_once(&calls);
    assert_monotonic(&rec.phases());

    // The watch is back: an object created after the restarts is picked up at once (the periodic
    // resync is 10 minutes away).
    let t2 = Instant::now();
    let api2 = create_deletion(&k, ns, "after-restart", id2, emu2.url()).await;
    wait_phase(&api2, "after-restart", Phase::Deleted, 60).await;
    let second = t2.elapsed();
    eprintln!(
        "KUBE purge under way: mutating calls {m0}, RAM objects {left0} -> API server restart ({apiserver_down:?}) \
         -> mutating {m1}, RAM objects {left1} -> etcd restart ({etcd_down:?}) -> Deleted; calls={} codes={} \
         phases={:?}; object created after the restarts Deleted in {second:?}; wall={:?}",
        calls["total"],
        calls["byCode"],
        rec.phases(),
        t0.elapsed()
    );
}

/// How the Alibaba endpoint becomes unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// The emulator process is killed (connection refused) and restarted on the same port from its
    /// seed: objects deleted before reappear and the STS keys it minted are forgotten.
    Refused,
    /// The emulator closes every connection without an answer; its state is kept.
    Dropped,
}

async fn outage_scenario(kind: Outage, account: &str) {
    let ns = "outage";
    let t0 = Instant::now();
    let k = cluster(ns).await;
    let mut emu = Emulator::start(&seed(&Member::rich(account)), &[]).await;
    let extra = [("ADO_ACCOUNT_QPS", "20")];
    let mut op = start_operator(&k, ns, &extra);
    let metrics = op.metrics_url().await;
    let api = create_deletion(&k, ns, "outage", account, emu.url()).await;
    let rec = Recorder::start(&api, "outage");
    wait_mutating_above(&emu, 20, "the purge to be under way").await;

    let scrape = || async {
        let text = http_get(&format!("{metrics}/metrics")).await.1;
        (
            metric_sum(&text, "ado_alibaba_calls_total", &[]),
            metric_sum(&text, "ado_reconciles_total", &[]),
        )
    };
    let (c0, r0) = scrape().await;
    match kind {
        Outage::Refused => emu.kill(),
        Outage::Dropped => {
            emu.put_faults(&json!({ "dropRate": 1.0 })).await;
        }
    }
    // A minute, as the issue asks: long enough for several backoff rounds.
    let outage = Duration::from_secs(60);
    // The outage itself: nothing to poll for, the point is what the operator does meanwhile.
    tokio::time::sleep(outage).await;
    let (c1, r1) = scrape().await;
    let during = rec.errors();
    match kind {
        Outage::Refused => emu.restart().await,
        Outage::Dropped => {
            emu.put_faults(&json!({})).await;
        }
    }
    let attempts = c1 - c0;
    let passes = r1 - r0;
    eprintln!(
        "OUTAGE {kind:?} {outage:?}: attempts during the outage={attempts} reconcile passes={passes} \
         lastError(s) shown={during:?}"
    );
    // No hot loop: a handful of attempts per second at most, and few passes; and the status says
    // what is wrong while it lasts. Checked after the recovery, so one run shows everything.
    let mut problems = Vec::new();
    // At most 5 attempts a second on average over the outage.
    let bound = 5.0 * outage.as_secs_f64();
    if attempts > bound {
        problems.push(format!("{attempts} attempts in {outage:?} (bound {bound})"));
    }
    if passes > 20.0 {
        problems.push(format!("{passes} reconcile passes in {outage:?} (bound 20)"));
    }
    if during.is_empty() {
        problems.push(format!("status.lastError stayed empty for the {outage:?} outage"));
    }
    eprintln!("OUTAGE {kind:?} problems so far: {problems:?}");

    let tr = Instant::now();
    wait_deleted(&api, "outage", 120).await;
    let resume = tr.elapsed();
    assert!(op.is_running());
    let calls = emu.calls().await;
    assert_delete_account_once(&calls);
    assert_monotonic(&rec.phases());
    eprintln!(
        "OUTAGE {kind:?}: after recovery Deleted in {resume:?}; emulator calls={} codes={}; phases={:?}; wall={:?}",
        calls["total"],
        calls["byCode"],
        rec.phases(),
        t0.elapsed()
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every connection to Alibaba Cloud dropped for 20 s (state kept): bounded retries, then it
/// resumes.
#[tokio::test]
async fn alibaba_dropping_every_connection_for_a_while_backs_off_and_resumes() {
    let _serial = SERIAL.lock().await;
    outage_scenario(Outage::Dropped, "3100000000000042").await;
}

/// The endpoint refuses connections for 20 s, then comes back (restarted from its seed, so the
/// STS session the operator holds is unknown to it): bounded retries, then it resumes.
#[tokio::test]
async fn alibaba_unreachable_for_a_while_backs_off_and_resumes() {
    let _serial = SERIAL.lock().await;
    outage_scenario(Outage::Refused, "3100000000000041").await;
}

#[tokio::test]
async fn sts_session_expiring_mid_purge_is_refreshed_without_a_failed_step() {
    let _serial = SERIAL.lock().await;
    let ns = "sts";
    let t0 = Instant::now();
    let k = cluster(ns).await;
    let id = "3100000000000051";
    let emu = Emulator::start(
        &seed(&Member {
            extra: "    accessRole: { name: ResourceDirectoryAccountAccessRole, present: true, maxSessionDuration: 900 }",
            ..Member::rich(id)
        }),
        &[],
    )
    .await;
    emu.put_faults(&json!({ "latencyMs": 20 })).await;
    // Paced so the purge outlives the minute the session must age before it can expire.
    let extra = [("ADO_ACCOUNT_QPS", "8")];
    let mut op = start_operator(&k, ns, &extra);
    let metrics = op.metrics_url().await;
    let api = create_deletion(&k, ns, "sts", id, emu.url()).await;
    let rec = Recorder::start(&api, "sts");

    let assume_ok = || async {
        let calls = emu.calls().await;
        calls::ok_count(&calls, "sts:AssumeRole")
    };
    wait_for(
        "the first AssumeRole",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let n = assume_ok().await;
            if n >= 1 {
                return Ok(n);
            }
            let st = status(&api, "sts").await;
            Err(format!(
                "AssumeRole codes {:?}; status lastError {:?}",
                calls::codes(&emu.calls().await, "sts:AssumeRole"),
                st.and_then(|s| s.last_error)
            ))
        },
    )
    .await;
    let minted = Instant::now();
    // The session (900 s) ages on the emulator clock; the operator's own clock says it is fresh.
    emu.advance_clock(600).await;
    // Real time must add the last minute: the total advance stays below the 15-minute window the
    // emulator allows between a request's timestamp and its clock.
    wait_for(
        "the session to be a minute old (real time) while the purge goes on",
        Duration::from_secs(75),
        Duration::from_millis(500),
        || async {
            let ph = rec.latest();
            assert!(
                ph.and_then(walk_rank).unwrap_or(0) <= Phase::PurgingRam.rank(),
                "the purge finished before the session could expire (phase {ph:?}): slow it down"
            );
            (minted.elapsed() >= Duration::from_secs(60)).then_some(())
        },
    )
    .await;
    emu.advance_clock(250).await;
    let left = emu.ram_objects(id).await;
    wait_for(
        "a second AssumeRole after the session expired",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let n = assume_ok().await;
            (n >= 2).then_some(n).ok_or(n)
        },
    )
    .await;
    wait_deleted(&api, "sts", 150).await;
    let calls = emu.calls().await;
    assert_delete_account_once(&calls);
    assert_monotonic(&rec.phases());
    let text = http_get(&format!("{metrics}/metrics")).await.1;
    let expired_seen = metric_sum(&text, "ado_alibaba_calls_total", &["code=\"InvalidSecurityToken"]);
    let audit = audit_log(&k, ns, "sts").await;
    let failed: Vec<&str> = audit.lines().filter(|l| !l.contains(" OK ")).collect();
    eprintln!(
        "STS maxSessionDuration 900, clock +600 then +250 after {:?} of real time, RAM objects left {left}: \
         AssumeRole={:?} InvalidSecurityToken answers seen by the operator={expired_seen} \
         emulator codes={} lastErrors={:?} failed audit lines={} phases={:?} wall={:?}",
        Duration::from_secs(60),
        calls::codes(&calls, "sts:AssumeRole"),
        calls["byCode"],
        rec.errors(),
        failed.len(),
        rec.phases(),
        t0.elapsed()
    );
    assert!(
        calls::ok_count(&calls, "sts:AssumeRole") >= 2,
        "the session was refreshed"
    );
    assert!(
        rec.errors().is_empty(),
        "status.lastError was set: {:?}",
        rec.errors()
    );
    assert!(failed.is_empty(), "failed steps in the audit record: {failed:#?}");
}
