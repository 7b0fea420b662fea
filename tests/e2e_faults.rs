//! Issue 7, fault tests, end to end: the real etcd + kube-apiserver v1.20.2, the real
//! `aliyun-emulator` and the real operator binary. Deletion is irreversible, so the operator must
//! finish exactly once whatever fails around it:
//!
//! - soak: transient faults on every Alibaba API (throttling, 500, 503, dropped connections,
//!   latency); a rich member still reaches `Deleted`, the retained user is never touched,
//!   `DeleteAccount` succeeds exactly once and the calls stay within 1.5 x a fault-free run;
//! - crash-restart: SIGKILL at deterministic pseudo-random points (purge, service-linked role task in
//!   flight, deletion polling); the status never goes backwards and no asynchronous deletion is
//!   issued twice.
//!
//! Outages (API server and etcd restarts, the Alibaba endpoint unreachable, an STS session
//! expiring) are in tests/e2e_faults_outages.rs; the member, its seed and the shared checks are
//! `ado_testkit::faults`.
//!
//! Every test prints its figures (`eprintln!`, shown with `--nocapture`) for the closing note.
//! The emulator clock is never advanced by more than ~850 s in total: the operator signs with the
//! real time, and the emulator refuses timestamps more than 15 minutes off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use account_deletion_operator::crd::{AccountDeletionStatus, Phase};
use serde_json::json;

use support::calls;
use support::deletion::{Recorder, assert_monotonic, audit_log, status, walk_rank};
use support::faults::{
    Member, SERIAL, assert_delete_account_once, cluster, create_deletion, seed, start_operator,
};
use support::metrics::metric_sum;
use support::{Emulator, KubeCluster, Operator, http_get, wait_deleted, wait_for, wait_phase};

#[tokio::test]
async fn soak_with_transient_faults_on_every_api() {
    let _serial = SERIAL.lock().await;
    let ns = "soak";
    let t0 = Instant::now();
    let k = cluster(ns).await;
    // Fault-free baseline of the same shape, on its own emulator; both emulators start before the
    // operator, which may only use the endpoints it was given.
    let base_id = "3100000000000011";
    let base_emu = Emulator::start(&seed(&Member::rich(base_id)), &[]).await;
    let id = "3100000000000012";
    let emu = Emulator::start(&seed(&Member::rich(id)), &[]).await;
    let mut op = start_operator(&k, ns, &[]);
    let metrics = op.metrics_url().await;
    let objects = base_emu.ram_objects(base_id).await;
    let tb = Instant::now();
    let api = create_deletion(&k, ns, "baseline", base_id, base_emu.url()).await;
    wait_deleted(&api, "baseline", 150).await;
    let base_wall = tb.elapsed();
    let base_calls = base_emu.calls().await;
    let base_total = calls::total(&base_calls);
    drop(base_emu);

    // The same shape under faults.
    let faults = json!({
        "errors": { "Throttling.User": 0.1, "InternalError": 0.05, "ServiceUnavailable": 0.05 },
        "dropRate": 0.02, "latencyMs": 5, "seed": 7,
    });
    emu.put_faults(&faults).await;
    let tf = Instant::now();
    let api = create_deletion(&k, ns, "soak", id, emu.url()).await;
    let rec = Recorder::start(&api, "soak");
    let st = wait_deleted(&api, "soak", 170).await;
    let wall = tf.elapsed();
    assert_monotonic(&rec.phases());
    let calls = emu.calls().await;
    let total = calls::total(&calls);
    assert_delete_account_once(&calls);

    // The retained user: listed as retained, never the target of an audited (mutating) call, and
    // still there in the member's RAM when the account went.
    let retained = &st.retained;
    assert!(
        retained.iter().any(|r| r.contains("keep-me")),
        "keep-me retained: {retained:?}"
    );
    let audit = audit_log(&k, ns, "soak").await;
    assert!(audit.lines().count() > 100, "audit log too short:\n{audit}");
    let touched: Vec<&str> = audit.lines().filter(|l| l.contains("keep-me")).collect();
    assert!(touched.is_empty(), "retained user touched: {touched:#?}");
    let dump = emu.dump(id).await;
    let users = &dump["ram"]["users"];
    eprintln!("member after deletion: status {} users {users}", dump["status"]);
    if let Some(u) = users.as_array() {
        assert!(u.iter().any(|n| n == "keep-me"), "keep-me gone: {users}");
    }

    let text = http_get(&format!("{metrics}/metrics")).await.1;
    let retries = metric_sum(&text, "ado_alibaba_retries_total", &[]);
    let ratio = total as f64 / base_total as f64;
    eprintln!(
        "SOAK objects={objects} baseline: calls={base_total} wall={base_wall:?} codes={} | \
         faults {faults}: calls={total} ({ratio:.2}x) wall={wall:?} codes={} retries(operator)={retries} \
         audit lines={} phases={:?} lastErrors seen={:?} | test wall={:?}",
        base_calls["byCode"],
        calls["byCode"],
        audit.lines().count(),
        rec.phases(),
        rec.errors(),
        t0.elapsed()
    );
    assert!(
        ratio <= 1.5,
        "calls under faults {total} > 1.5 x fault-free {base_total}"
    );
}

/// Kills the running operator and starts a fresh one (same flags); returns the number of kills.
fn crash_and_restart(
    op: &mut Operator,
    k: &KubeCluster,
    ns: &str,
    extra: &[(&'static str, &'static str)],
    kills: &mut u32,
    why: &str,
) {
    assert!(
        op.is_running(),
        "operator died by itself before kill {kills}:\n{}",
        op.logs()
    );
    op.kill9();
    *kills += 1;
    eprintln!("CRASH kill #{kills}: {why}");
    *op = start_operator(k, ns, extra);
}

/// Whether the status shows a service-linked role deletion task still running.
fn slr_in_flight(st: &AccountDeletionStatus) -> bool {
    st.service_linked_role_tasks
        .iter()
        .any(|t| t.status == "IN_PROGRESS")
}

/// Whether the status shows the purge is over (a phase after `PurgingRam`).
fn past_purge(st: &AccountDeletionStatus) -> bool {
    st.phase.and_then(walk_rank) > walk_rank(Phase::PurgingRam)
}

#[tokio::test]
async fn crash_restart_at_random_points_converges_without_repeating_async_deletions() {
    let _serial = SERIAL.lock().await;
    use rand::{Rng as _, SeedableRng as _};
    let ns = "crash";
    let t0 = Instant::now();
    let k = cluster(ns).await;
    let id = "3100000000000021";
    let emu = Emulator::start(
        &seed(&Member {
            slr_seconds: 20,
            deleting_seconds: 20,
            ..Member::rich(id)
        }),
        &[],
    )
    .await;
    // Paced so the purge lasts long enough to be interrupted many times.
    let extra = [("ADO_ACCOUNT_QPS", "25")];
    let mut op = start_operator(&k, ns, &extra);
    let api = create_deletion(&k, ns, "crash", id, emu.url()).await;
    let rec = Recorder::start(&api, "crash");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ad0_7e57);
    let mut kills = 0u32;
    let mut slr_kills = 0u32;
    let mut deleting_kills = 0u32;

    // 1. Random points of the purge (and of whatever follows it while the purge kills run).
    while kills < 6 {
        let st = status(&api, "crash").await.unwrap_or_default();
        if slr_in_flight(&st) || past_purge(&st) {
            break;
        }
        // Wait for this process to mutate (its inventory done), then strike at a random moment.
        let before = calls::mutating(&emu.calls().await);
        let started = wait_for(
            "the new operator process deletes something, or the purge is over",
            Duration::from_secs(60),
            Duration::from_millis(50),
            || {
                let (api, emu) = (api.clone(), &emu);
                async move {
                    let m = calls::mutating(&emu.calls().await);
                    if m > before {
                        return Ok(true);
                    }
                    let st = status(&api, "crash").await.unwrap_or_default();
                    let past = slr_in_flight(&st) || past_purge(&st);
                    past.then_some(false).ok_or(m)
                }
            },
        )
        .await;
        if !started {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..2500))).await;
        let ph = rec.latest();
        let left = emu.ram_objects(id).await;
        crash_and_restart(
            &mut op,
            &k,
            ns,
            &extra,
            &mut kills,
            &format!("purge, phase {ph:?}, RAM objects left {left}"),
        );
    }
    // 2. While a service-linked role deletion task is in flight (5 s on the emulator clock): first
    // as soon as the emulator saw the first DeleteServiceLinkedRole (the operator may not have
    // recorded the task yet), then once the status shows a task in flight.
    let first_slr = wait_for(
        "the first DeleteServiceLinkedRole, or the purge over",
        Duration::from_secs(90),
        Duration::from_millis(25),
        || {
            let (api, emu) = (api.clone(), &emu);
            async move {
                let calls = emu.calls().await;
                let n: u64 = calls::codes(&calls, "resourcemanager:DeleteServiceLinkedRole")
                    .values()
                    .sum();
                if n > 0 {
                    return Ok(true);
                }
                let st = status(&api, "crash").await.ok_or("no status")?;
                past_purge(&st).then_some(false).ok_or("not yet")
            }
        },
    )
    .await;
    if first_slr {
        slr_kills += 1;
        let st = status(&api, "crash").await.unwrap_or_default();
        crash_and_restart(
            &mut op,
            &k,
            ns,
            &extra,
            &mut kills,
            &format!(
                "right after the first DeleteServiceLinkedRole reached the emulator (status tasks: {:?})",
                st.service_linked_role_tasks
            ),
        );
    }
    for _ in 0..2 {
        let st = wait_for(
            "a service-linked role task in flight, or the purge over",
            Duration::from_secs(90),
            Duration::from_millis(100),
            || {
                let api = api.clone();
                async move {
                    let st = status(&api, "crash").await.ok_or("no status")?;
                    (slr_in_flight(&st) || past_purge(&st))
                        .then_some(st)
                        .ok_or("not yet")
                }
            },
        )
        .await;
        if !slr_in_flight(&st) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        slr_kills += 1;
        crash_and_restart(
            &mut op,
            &k,
            ns,
            &extra,
            &mut kills,
            "service-linked role task in flight",
        );
        // Let the new process get going before the next look.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // 3. While polling the deletion status (Deleting lasts 20 s on the emulator clock).
    wait_phase(&api, "crash", Phase::Deleting, 150).await;
    while kills < 10 || deleting_kills < 3 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(800..2500))).await;
        if rec.latest() != Some(Phase::Deleting) {
            break;
        }
        deleting_kills += 1;
        crash_and_restart(&mut op, &k, ns, &extra, &mut kills, "polling the deletion status");
    }
    let st = wait_deleted(&api, "crash", 120).await;
    let phases = rec.phases();
    let calls = emu.calls().await;
    let slr = calls::codes(&calls, "resourcemanager:DeleteServiceLinkedRole");
    let da = calls::codes(&calls, "resourcemanager:DeleteAccount");
    let dump = emu.dump(id).await;
    let audit = audit_log(&k, ns, "crash").await;
    eprintln!(
        "CRASH audit lines={} vs successful mutating calls at the emulator={}",
        audit.lines().count(),
        calls::mutating_ok(&calls)
    );
    eprintln!(
        "CRASH kills={kills} (slr in flight: {slr_kills}, deleting: {deleting_kills}) phases={phases:?} \
         DeleteServiceLinkedRole={slr:?} DeleteAccount={da:?} calls={} codes={} slrTasks={:?} \
         deleted={:?} users left={} wall={:?}",
        calls["total"],
        calls["byCode"],
        st.service_linked_role_tasks,
        st.deleted,
        dump["ram"]["users"],
        t0.elapsed()
    );
    assert!(kills >= 10, "only {kills} kills");
    assert!(deleting_kills >= 1, "no kill while polling the deletion status");
    assert_monotonic(&phases);
    assert_eq!(
        da.values().sum::<u64>(),
        1,
        "DeleteAccount issued exactly once: {da:?}"
    );
    assert!(
        slr.values().sum::<u64>() <= 2,
        "DeleteServiceLinkedRole at most once per role (2 roles): {slr:?}"
    );
    assert_eq!(dump["status"], "Deleted");
    assert_eq!(dump["ram"]["users"], json!(["keep-me"]));
    // Crash-safe audit: every call the emulator answered OK has its line, whatever process sent it
    // and wherever it was killed (its result, or UNKNOWN when the process died before recording
    // it); no line is left open (SENT).
    let mut recorded: BTreeMap<String, u64> = BTreeMap::new();
    for l in audit.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        assert!(f.len() >= 6, "malformed audit line {l:?}");
        assert_ne!(f[3], "SENT", "an intent was left open: {l}");
        if f[3] != "NOT_SENT" {
            *recorded.entry(f[1].to_string()).or_insert(0) += 1;
        }
    }
    for (product, action) in calls::mutating_ok_by_call(&calls).keys() {
        let ok = calls::ok_count(&calls, &format!("{product}:{action}"));
        assert!(
            recorded.get(action).copied().unwrap_or(0) >= ok,
            "{action}: {ok} answered OK at the emulator, {:?} in the audit record after {kills} kills",
            recorded.get(action)
        );
    }
    let unknown = audit
        .lines()
        .filter(|l| l.split(' ').nth(3) == Some("UNKNOWN"))
        .count();
    eprintln!(
        "CRASH audit: {} lines, {unknown} UNKNOWN (sent by a killed process), per action {recorded:?}",
        audit.lines().count()
    );
}
