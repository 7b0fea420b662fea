//! The safety holes of issue 12, each shown closed on a real etcd + kube-apiserver v1.20.2 with the
//! real operator binary and the emulator:
//! 1. the access role survives whatever spelling `spec.accessRoleName` uses, until DeleteAccount;
//! 2. one owner per account: two objects in two namespaces never both change it, DeleteAccount is
//!    sent once, what either retains survives, and the next one proceeds when the owner goes;
//! 3. endpoint overrides only go where the operator's allow-list says (a loopback listener that is
//!    not allowed receives no connection at all), and transport errors name the endpoint;
//! 4. the audit record is bounded, rolls over with counts of what it summarised, and outlives its
//!    object unless asked otherwise (the crash test in e2e_faults.rs shows it survives SIGKILLs);
//! 5. deleting, suspending or re-planning an object stops new mutating calls within about a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use account_deletion_operator::crd::{AccountDeletion, AccountDeletionStatus, Mode, Phase};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use support::calls::{codes, mutating};
use support::deletion::{self, reason, status};
use support::operator::{DEBUG_LOG, quick_env};
use support::{Emulator, KubeCluster, Operator, wait_for, wait_phase, wait_status};

const KEY_ID: &str = "LTAI5tSafetyMgmtKey0001";
const KEY_SECRET: &str = "safety-management-secret-01";
const MGMT: &str = "1000000000000001";

/// A member with a few users, one of each kind, and quick asynchronous steps.
fn member(id: &str, users: u32) -> String {
    format!(
        r#"
  - accountId: "{id}"
    displayName: member-{id}
    ram:
      users:
        - {{ name: user-a, accessKeys: [{{}}], loginProfile: true }}
        - {{ name: user-b, accessKeys: [{{}}], groups: [ops] }}
      groups: [{{ name: ops }}]
      roles: [{{ name: app-role, policies: [{{ name: ReadOnlyAccess, type: System }}] }}]
      serviceLinkedRoles: [{{ name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: 1 }}]
      policies: [{{ name: app-policy, versions: 2 }}]
      virtualMfaDevices: [{{ name: orphan-mfa }}]
      generate: {{ users: {users}, accessKeysPerUser: 1, groups: 2, groupsPerUser: 1, roles: 2 }}
    deletion: {{ checkSeconds: 1, deletingSeconds: 1 }}"#
    )
}

fn seed(members: &[String]) -> String {
    format!(
        r#"
resourceDirectory: {{ id: rd-Safe0001, rootFolderId: r-Safe0001, managementAccountId: "{MGMT}" }}
accessKeys:
  - {{ accessKeyId: {KEY_ID}, accessKeySecret: {KEY_SECRET}, accountId: "{MGMT}" }}
accounts:{}
"#,
        members.concat()
    )
}

async fn cluster(namespaces: &[&str]) -> KubeCluster {
    KubeCluster::start_with_credentials(namespaces, KEY_ID, KEY_SECRET).await
}

fn operator(k: &KubeCluster, namespaces: &str, extra: &[(&str, &str)]) -> Operator {
    let mut env = quick_env(&[("ADO_BLOCKED_RETRY_SECONDS", "1"), DEBUG_LOG]);
    env.extend_from_slice(extra);
    Operator::watching(k.kubeconfig(), namespaces, &env)
}

/// Creates `ns/name` for `account` with `spec` merged over the defaults (mode Delete, the emulator).
async fn create(
    k: &KubeCluster,
    ns: &str,
    name: &str,
    account: &str,
    endpoint: &str,
    spec: Value,
) -> Api<AccountDeletion> {
    let display = format!("member-{account}");
    let spec = deletion::spec(account, &display, Mode::Delete, endpoint, spec);
    deletion::create(k, ns, name, spec).await
}

async fn wait_blocked(api: &Api<AccountDeletion>, name: &str, why: &str, secs: u64) -> AccountDeletionStatus {
    wait_status(api, name, &format!("{name} stalled with {why}"), secs, |s| {
        reason(s, "Stalled") == Some(why)
    })
    .await
}

async fn warning_events(k: &KubeCluster, ns: &str, name: &str, why: &str) -> Vec<String> {
    deletion::events_for(k, ns, name)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(why))
        .filter_map(|e| e.message)
        .collect()
}

// ------------------------------------------------------------------ 1. the access role

#[tokio::test]
async fn the_access_role_survives_any_spelling_until_the_account_is_deleted() {
    let k = cluster(&["role"]).await;
    let (purge, delete) = ("3300000000000001", "3300000000000002");
    let emu = Emulator::start(&seed(&[member(purge, 2), member(delete, 2)]), &[]).await;
    let _op = operator(&k, "role", &[]);
    let a = create(
        &k,
        "role",
        "lower",
        purge,
        emu.url(),
        json!({
            "mode": "PurgeRam", "accessRoleName": "resourcedirectoryaccountaccessrole"
        }),
    )
    .await;
    let b = create(
        &k,
        "role",
        "upper",
        delete,
        emu.url(),
        json!({
            "accessRoleName": "RESOURCEDIRECTORYACCOUNTACCESSROLE"
        }),
    )
    .await;

    let st = wait_phase(&a, "lower", Phase::RamEmpty, 120).await;
    assert!(
        st.retained
            .iter()
            .any(|r| r == "roles/ResourceDirectoryAccountAccessRole"),
        "PurgeRam: the access role is not listed as retained: {:?}",
        st.retained
    );
    let roles = emu.dump(purge).await["ram"]["roles"].clone();
    assert!(
        roles.to_string().contains("ResourceDirectoryAccountAccessRole"),
        "PurgeRam deleted the access role: roles left {roles}"
    );

    let st = wait_phase(&b, "upper", Phase::Deleted, 150).await;
    assert!(
        st.retained
            .iter()
            .any(|r| r == "roles/ResourceDirectoryAccountAccessRole"),
        "Delete: {:?}",
        st.retained
    );
    for name in ["lower", "upper"] {
        let (lines, _) = deletion::audit_record(&k, "role", name).await;
        let hit: Vec<&String> = lines
            .iter()
            .filter(|l| {
                l.to_ascii_lowercase()
                    .contains("resourcedirectoryaccountaccessrole")
            })
            .collect();
        assert!(hit.is_empty(), "{name}: a call touched the access role: {hit:#?}");
        assert!(!lines.is_empty(), "{name}: no audit lines");
    }
    // The role went with the account, by DeleteAccount, not before it.
    let calls = emu.calls().await;
    assert_eq!(codes(&calls, "resourcemanager:DeleteAccount").get("OK"), Some(&1));
    eprintln!(
        "ACCESS ROLE: PurgeRam(lower-case) retained={:?}; Delete(upper-case) phase Deleted; DeleteRole calls={:?}",
        status(&a, "lower").await.map(|s| s.retained),
        codes(&calls, "ram:DeleteRole")
    );
}

// ------------------------------------------------------------------ 2. one owner per account

#[tokio::test]
async fn one_owner_per_account_across_namespaces() {
    let k = cluster(&["team-a", "team-b"]).await;
    let accounts: Vec<String> = (1..=4).map(|i| format!("33000000000001{i:02}")).collect();
    let shared = "3300000000000200";
    let mut members: Vec<String> = accounts.iter().map(|a| member(a, 3)).collect();
    members.push(member(shared, 3));
    let emu = Emulator::start(&seed(&members), &[]).await;
    // DeleteAccount takes 2 s: two owners would both have sent it.
    emu.put_faults(&json!({ "latencyMs": 2000, "actions": ["resourcemanager:DeleteAccount"] }))
        .await;
    let _op = operator(&k, "team-a,team-b", &[("ADO_CONCURRENCY", "8")]);

    // Four races: each account named by an object in each namespace, created at the same moment.
    let mut pairs = Vec::new();
    for (i, acct) in accounts.iter().enumerate() {
        let name = format!("race-{i}");
        let (a, b) = futures::join!(
            create(&k, "team-a", &name, acct, emu.url(), json!({})),
            create(&k, "team-b", &name, acct, emu.url(), json!({}))
        );
        pairs.push((name, a, b));
    }
    let mut owners = Vec::new();
    for (name, a, b) in &pairs {
        let (owner, loser, lns) = wait_for(
            &format!("{name}: one object Deleted"),
            Duration::from_secs(180),
            Duration::from_millis(250),
            || async {
                let sa = status(a, name).await?;
                let sb = status(b, name).await?;
                match (sa.phase, sb.phase) {
                    (Some(Phase::Deleted), _) => Some(("team-a", b.clone(), "team-b")),
                    (_, Some(Phase::Deleted)) => Some(("team-b", a.clone(), "team-a")),
                    _ => None,
                }
            },
        )
        .await;
        // The other one was refused, by name of the owner, and never wrote an audit line.
        let notes = wait_for(
            "the AccountClaimed Warning Event",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || async {
                let n = warning_events(&k, lns, name, "AccountClaimed").await;
                (!n.is_empty()).then_some(n)
            },
        )
        .await;
        assert!(
            notes.iter().any(|n| n.contains(&format!("{owner}/{name}"))),
            "{lns}/{name} was not refused naming {owner}/{name}: {notes:?}; status {:?}",
            status(&loser, name).await
        );
        let (lines, _) = deletion::audit_record(&k, lns, name).await;
        assert!(lines.is_empty(), "{lns}/{name} made calls: {lines:#?}");
        owners.push(owner);
    }
    let calls = emu.calls().await;
    let da = codes(&calls, "resourcemanager:DeleteAccount");
    assert_eq!(
        da,
        BTreeMap::from([("OK".to_string(), 4)]),
        "DeleteAccount once per account: {da:?}"
    );

    // Different retain lists on one account: while either works, what both retain survives. Both
    // have a short cancellation window (notBefore), so both have named the account before anything
    // can be deleted: the one that owns it then plans the other's retention in.
    let not_before = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(6))
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string();
    let (a, b) = futures::join!(
        create(
            &k,
            "team-a",
            "keep-a",
            shared,
            emu.url(),
            json!({
                "mode": "PurgeRam", "notBefore": not_before, "ram": { "retain": { "users": ["user-a"] } }
            })
        ),
        create(
            &k,
            "team-b",
            "keep-b",
            shared,
            emu.url(),
            json!({
                "mode": "PurgeRam", "notBefore": not_before, "ram": { "retain": { "users": ["user-b"] } }
            })
        )
    );
    let (owner_api, owner, waiter_api, waiter) = wait_for(
        "one of keep-a / keep-b RamEmpty",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async {
            let sa = status(&a, "keep-a").await?;
            let sb = status(&b, "keep-b").await?;
            if sa.phase == Some(Phase::RamEmpty) {
                Some((a.clone(), "keep-a", b.clone(), "keep-b"))
            } else if sb.phase == Some(Phase::RamEmpty) {
                Some((b.clone(), "keep-b", a.clone(), "keep-a"))
            } else {
                None
            }
        },
    )
    .await;
    let users = emu.dump(shared).await["ram"]["users"].to_string();
    assert!(
        users.contains("user-a") && users.contains("user-b"),
        "the owner ({owner}) deleted what the waiter ({waiter}) retains: users left {users}"
    );
    let ws = wait_blocked(&waiter_api, waiter, "AccountClaimed", 30).await;
    assert!(ws.message.as_deref().unwrap_or("").contains(owner), "{ws:?}");
    // The owner goes: the waiter takes over and empties the account but for its own user.
    owner_api.delete(owner, &DeleteParams::default()).await.unwrap();
    wait_phase(&waiter_api, waiter, Phase::RamEmpty, 120).await;
    let users = emu.dump(shared).await["ram"]["users"].to_string();
    let (kept, gone) = if waiter == "keep-a" {
        ("user-a", "user-b")
    } else {
        ("user-b", "user-a")
    };
    assert!(
        users.contains(kept) && !users.contains(gone),
        "after the hand-over: users {users}"
    );
    eprintln!(
        "ONE OWNER: 4 races, owners {owners:?}, DeleteAccount {da:?}; shared account: owner {owner}, \
         waiter {waiter} took over, users left {users}"
    );
}

// ------------------------------------------------------------------ 3. endpoint overrides

/// A listener on another loopback address that counts the connections it accepts.
fn counting_listener(addr: &str) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind(addr).expect("bind a loopback listener");
    let url = format!("http://{}", l.local_addr().unwrap());
    let n = Arc::new(AtomicU64::new(0));
    let seen = n.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            if conn.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (url, n)
}

#[tokio::test]
async fn endpoint_overrides_only_go_where_the_operator_allows() {
    let k = cluster(&["ep"]).await;
    let acct = "3300000000000301";
    let emu = Emulator::start(&seed(&[member(acct, 1)]), &[]).await;
    let (foreign, accepted) = counting_listener("127.0.0.2:0");
    // Allowed but down: the error must name the endpoint.
    let dead = format!("http://127.0.0.1:{}", support::free_ports(1)[0]);
    let allowed = format!("{},{dead}", emu.url());
    let _op = operator(&k, "ep", &[("ADO_ALLOWED_ENDPOINTS", allowed.as_str())]);

    let one = create(&k, "ep", "one-url", acct, &foreign, json!({})).await;
    let per = create(
        &k,
        "ep",
        "per-product",
        acct,
        emu.url(),
        json!({ "endpoints": { "sts": foreign } }),
    )
    .await;
    let ok = create(&k, "ep", "allowed", acct, emu.url(), json!({ "mode": "Plan" })).await;
    let down = create(&k, "ep", "down", acct, &dead, json!({ "mode": "Plan" })).await;

    let st = wait_blocked(&one, "one-url", "EndpointNotAllowed", 60).await;
    let msg = st.message.clone().unwrap_or_default();
    assert!(
        msg.starts_with("spec.endpoint ") && msg.contains(&foreign),
        "{msg}"
    );
    let st = wait_blocked(&per, "per-product", "EndpointNotAllowed", 60).await;
    assert!(
        st.message
            .as_deref()
            .unwrap_or("")
            .starts_with("spec.endpoints.sts "),
        "{st:?}"
    );
    wait_for(
        "the EndpointNotAllowed Warning Event",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            (!warning_events(&k, "ep", "one-url", "EndpointNotAllowed")
                .await
                .is_empty())
            .then_some(())
        },
    )
    .await;
    wait_phase(&ok, "allowed", Phase::Planned, 60).await;
    let st = wait_status(&down, "down", "the unreachable endpoint named", 90, |s| {
        s.last_error
            .as_ref()
            .is_some_and(|e| e.message.contains(&format!("cannot reach {dead}")))
    })
    .await;
    // Several retries later, the foreign listener still saw nothing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused endpoint received a connection"
    );
    eprintln!(
        "ENDPOINTS: refused {foreign} (spec.endpoint and spec.endpoints.sts) with 0 connections; \
         down endpoint error: {:?}",
        st.last_error.map(|e| e.message)
    );
}

// ------------------------------------------------------------------ 4. the audit record

#[tokio::test]
async fn the_audit_record_rolls_over_with_counts_and_outlives_its_object() {
    let k = cluster(&["audit"]).await;
    let (big, small) = ("3300000000000401", "3300000000000402");
    let emu = Emulator::start(&seed(&[member(big, 60), member(small, 1)]), &[]).await;
    let mut op = operator(
        &k,
        "audit",
        &[("ADO_AUDIT_CHUNK_BYTES", "4096"), ("ADO_AUDIT_MAX_CHUNKS", "2")],
    );
    let metrics = op.metrics_url().await;
    let api = create(&k, "audit", "big", big, emu.url(), json!({})).await;
    let t0 = Instant::now();
    wait_phase(&api, "big", Phase::Deleted, 180).await;
    let wall = t0.elapsed();
    let (lines, head) = deletion::audit_record(&k, "audit", "big").await;
    let num = |key: &str| head.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap();
    let summarised: BTreeMap<String, u64> = serde_json::from_str(&head["summarised"]).unwrap();
    let dropped = num("dropped");
    assert!(
        dropped > 0,
        "the ring of 2 chunks of 4 KiB never filled: {head:?}"
    );
    assert_eq!(summarised.values().sum::<u64>(), dropped, "{summarised:?}");
    assert_eq!(
        lines.len() as u64 + dropped,
        num("calls"),
        "every call is a line or a count"
    );
    // Per action, kept lines and summarised counts cover every call the emulator answered.
    let calls = emu.calls().await;
    let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
    for l in &lines {
        let action = l.split(' ').nth(1).unwrap().to_string();
        *by_action.entry(action).or_insert(0) += 1;
    }
    for (k, v) in &summarised {
        *by_action
            .entry(k.split(' ').next().unwrap().to_string())
            .or_insert(0) += v;
    }
    for (product, action) in support::calls::mutating_ok_by_call(&calls).keys() {
        let ok = support::calls::ok_count(&calls, &format!("{product}:{action}"));
        assert!(
            by_action.get(action).copied().unwrap_or(0) >= ok,
            "{action}: {ok} answered OK, the record has {:?}",
            by_action.get(action)
        );
    }
    assert!(
        lines.iter().all(|l| !l.contains(" SENT ")),
        "open intents after the pass"
    );
    let text = support::http_get(&format!("{metrics}/metrics")).await.1;
    let writes: f64 = text
        .lines()
        .find(|l| l.starts_with("ado_audit_writes_total"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();

    // The record outlives the object by default; with deleteWithObject it is owned by it.
    let cms: Api<ConfigMap> = Api::namespaced(k.client(), "audit");
    api.delete("big", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kept = cms.get("big-audit").await.unwrap();
    assert!(kept.metadata.owner_references.is_none(), "{:?}", kept.metadata);
    let owned = create(
        &k,
        "audit",
        "owned",
        small,
        emu.url(),
        json!({ "audit": { "deleteWithObject": true } }),
    )
    .await;
    wait_phase(&owned, "owned", Phase::Deleted, 120).await;
    let cm = cms.get("owned-audit").await.unwrap();
    let refs = cm.metadata.owner_references.unwrap_or_default();
    assert!(
        refs.iter()
            .any(|r| r.kind == "AccountDeletion" && r.name == "owned"),
        "{refs:?}"
    );
    eprintln!(
        "AUDIT: {} mutating OK at the emulator, record: {} lines kept + {dropped} summarised = {} calls, \
         chunks {}, {writes} ConfigMap writes in {:.1}s ({:.0}/min)",
        mutating(&calls),
        lines.len(),
        num("calls"),
        head["chunks"],
        wall.as_secs_f64(),
        writes / wall.as_secs_f64() * 60.0
    );
}

// ------------------------------------------------------------------ 5. a prompt stop

#[tokio::test]
async fn deleting_suspending_or_replanning_stops_new_calls_within_a_second() {
    let k = cluster(&["stop"]).await;
    let triggers = ["delete", "suspend", "plan"];
    let ids = ["3300000000000501", "3300000000000502", "3300000000000503"];
    let mut emus = Vec::new();
    for id in ids {
        let e = Emulator::start(&seed(&[member(id, 200)]), &[]).await;
        // Every call takes 300 ms: a pass has plenty of calls left when the user acts.
        e.put_faults(&json!({ "latencyMs": 300 })).await;
        emus.push(e);
    }
    let _op = operator(&k, "stop", &[("ADO_ACCOUNT_CONCURRENCY", "8")]);
    let mut report = Vec::new();
    for ((trigger, id), emu) in triggers.iter().zip(ids).zip(&emus) {
        let api = create(&k, "stop", trigger, id, emu.url(), json!({})).await;
        wait_for(
            &format!("{trigger}: the purge under way"),
            Duration::from_secs(120),
            Duration::from_millis(100),
            || async { (mutating(&emu.calls().await) > 30).then_some(()) },
        )
        .await;
        let at = mutating(&emu.calls().await);
        match *trigger {
            "delete" => api
                .delete(trigger, &DeleteParams::default())
                .await
                .map(|_| ())
                .unwrap(),
            "suspend" => {
                let p = json!({ "spec": { "suspend": true } });
                api.patch(trigger, &PatchParams::default(), &Patch::Merge(&p))
                    .await
                    .map(|_| ())
                    .unwrap();
            }
            _ => {
                let p = json!({ "spec": { "mode": "Plan" } });
                api.patch(trigger, &PatchParams::default(), &Patch::Merge(&p))
                    .await
                    .map(|_| ())
                    .unwrap();
            }
        }
        let t = Instant::now();
        // Calls already sent finish (≤ 8 in flight × 300 ms); nothing new starts after ~1 s.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let settled = mutating(&emu.calls().await);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let later = mutating(&emu.calls().await);
        assert_eq!(
            later,
            settled,
            "{trigger}: {} mutating calls after the stop settled",
            later - settled
        );
        assert!(
            settled - at <= 24,
            "{trigger}: {} calls reached the emulator in the 2 s after the stop",
            settled - at
        );
        if *trigger != "delete" {
            let st = status(&api, trigger).await.unwrap();
            assert!(st.phase != Some(Phase::Deleted), "{trigger}: {st:?}");
        }
        report.push(format!(
            "{trigger}: {} calls after the stop ({:?} observed)",
            settled - at,
            t.elapsed()
        ));
    }
    eprintln!("STOP: {}", report.join("; "));
}
