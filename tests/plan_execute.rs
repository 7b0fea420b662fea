//! Discover → build → execute against the in-memory fake account, which answers out-of-order
#![allow(clippy::unwrap_used)]
//! calls with RAM's real `DeleteConflict.*` codes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ado_core::api::SlrPhase;
use ado_core::execute::{ExecOptions, Outcome, run};
use ado_core::inventory::{Attachments, discover_with};
use ado_core::{
    ErrorClass, Inventory, Kind, Plan, PlanOptions, PolicyRef, PolicyType, RetainSpec, build, discover,
};
use ado_testkit::fake::FakeUser;
use ado_testkit::fake::{FakeAccount, FakeState};

const ACCT: &str = "1234567890123456";

/// Inventory of every kind, 8 reads at a time, attachments read `attachments`.
async fn discover_all(fake: &FakeAccount, attachments: Attachments) -> Inventory {
    let kinds = Kind::ALL.into_iter().collect();
    discover_with(fake, &kinds, ACCT, 8, attachments, &Default::default())
        .await
        .unwrap()
}

fn opts() -> PlanOptions {
    PlanOptions {
        retain: RetainSpec {
            users: vec!["break*".into()],
            ..RetainSpec::default()
        },
        ..PlanOptions::default()
    }
}

async fn plan_for(fake: &FakeAccount, o: &PlanOptions) -> Plan {
    let inv = discover(fake, &o.kinds, ACCT).await.unwrap();
    build(&inv, o).unwrap()
}

fn mutating(fake: &FakeAccount) -> u64 {
    fake.state.lock().unwrap().mutating
}

#[tokio::test]
async fn rich_member_converges_to_retained_items_in_three_passes() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let o = opts();
    let mut passes = 0;
    let mut last = None;
    for _ in 0..3 {
        let plan = plan_for(&fake, &o).await;
        let only_hdr = plan
            .actions
            .iter()
            .all(|a| a.action.target() == "AliyunServiceRoleForHDR");
        if only_hdr && passes > 0 {
            break;
        }
        passes += 1;
        let before = mutating(&fake);
        let report = run(&fake, &plan, &ExecOptions::default()).await;
        assert_eq!(
            report.audit.len() as u64,
            mutating(&fake) - before,
            "one audit entry per call"
        );
        // The only failure the account allows is the service-linked role still in use.
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        last = Some(report);
    }
    assert!(passes <= 3, "needed {passes} passes");
    let report = last.unwrap();
    let hdr = report
        .slr_tasks
        .iter()
        .find(|t| t.role == "AliyunServiceRoleForHDR")
        .expect("HDR task reported");
    assert_eq!(hdr.status, SlrPhase::Failed);
    assert!(hdr.reason.as_deref().unwrap_or("").contains("in use"));
    assert_eq!(hdr.usages[0].region, "global");
    assert_eq!(
        hdr.usages[0].resources,
        vec![format!("acs:hdr:cn-hangzhou:{ACCT}:site/s-1")]
    );
    assert!(!report.is_clean());

    let s = fake.state.lock().unwrap();
    // Retained user untouched, with everything it owns.
    let bg = &s.users["breakglass"];
    assert_eq!(s.users.len(), 1);
    assert!(bg.login && bg.keys.len() == 1 && bg.policies.len() == 1);
    // Kept: the group that contains it, and the policies attached to retained or kept principals.
    assert_eq!(s.groups.keys().collect::<Vec<_>>(), vec!["ops"]);
    assert_eq!(
        s.groups["ops"].members.iter().collect::<Vec<_>>(),
        vec!["breakglass"]
    );
    assert_eq!(
        s.policies.keys().collect::<Vec<_>>(),
        vec!["bg-policy", "ops-policy"]
    );
    assert_eq!(
        s.roles.keys().collect::<Vec<_>>(),
        vec!["AliyunServiceRoleForHDR", "ResourceDirectoryAccountAccessRole"]
    );
    assert!(s.mfa_devices.is_empty() && s.saml.is_empty() && s.oidc.is_empty());
    assert_eq!(s.domain, format!("{ACCT}.onaliyun.com"));
    // Users deleted in pass 1 landed in the recycle bin and were purged by a later pass.
    assert!(s.bin.is_empty(), "{:?}", s.bin);
}

#[tokio::test]
async fn without_retention_everything_but_the_access_role_goes() {
    let mut st = FakeState::rich(ACCT);
    st.slr_in_use.clear();
    let fake = FakeAccount::new(st);
    let o = PlanOptions::default();
    for _ in 0..2 {
        let plan = plan_for(&fake, &o).await;
        let report = run(&fake, &plan, &ExecOptions::default()).await;
        assert!(report.is_clean(), "{report:#?}");
    }
    assert!(plan_for(&fake, &o).await.is_empty());
    assert!(fake.state.lock().unwrap().is_empty_except_access_role());
}

#[tokio::test]
async fn plan_only_makes_no_mutating_call() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    assert!(!plan.is_empty());
    let s = fake.state.lock().unwrap();
    assert_eq!(s.mutating, 0);
    assert!(s.reads > 0);
}

#[tokio::test]
async fn discovery_lists_frozen_users_recycle_bin_and_mfa_bindings() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let inv = discover_all(&fake, Attachments::ByPrincipal).await;
    let fred = inv.users.iter().find(|u| u.name == "frozen-fred").unwrap();
    assert!(fred.frozen);
    let alice = inv.users.iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(
        alice.mfa_serial.as_deref(),
        Some(&*format!("acs:ram::{ACCT}:mfa/alice-mfa"))
    );
    // Login profiles are not looked up: the plan deletes them, "not found" counts as done.
    assert_eq!(alice.login_profile, None);
    assert_eq!(inv.recycle_bin.len(), 1);
    assert_eq!(inv.recycle_bin[0].access_keys, vec!["LTAI5tBob00000000000001"]);
    assert_eq!(inv.service_linked_roles.len(), 2);
    assert_eq!(inv.roles.len(), 2, "normal roles exclude service-linked ones");
    // Attachments read per principal and all principal kinds discovered: no ListEntitiesForPolicy.
    assert!(inv.custom_policies.iter().all(|p| p.attached_to.is_none()));
    let c = inv.counts();
    assert_eq!(c[&Kind::Users], 3);
    assert_eq!(c[&Kind::DefaultDomain], 1);

    // Only custom policies asked for: attachments come from ListEntitiesForPolicy.
    let kinds = [Kind::CustomPolicies].into_iter().collect();
    let inv = discover(&fake, &kinds, ACCT).await.unwrap();
    assert!(inv.users.is_empty());
    let app = inv
        .custom_policies
        .iter()
        .find(|p| p.name == "app-policy")
        .unwrap();
    assert_eq!(app.attached_to.as_ref().map(Vec::len), Some(3));
    let unused = inv.custom_policies.iter().find(|p| p.name == "unused").unwrap();
    assert!(unused.attached_to.is_none());
}

#[tokio::test]
async fn failed_prerequisite_skips_its_dependents_and_is_reported() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    fake.state.lock().unwrap().fail.insert(
        ("UnbindMFADevice".into(), "alice".into()),
        "Throttling.User".into(),
    );
    let report = run(&fake, &plan, &ExecOptions::default()).await;
    assert_eq!(report.failures.len(), 1, "{:#?}", report.failures);
    let f = &report.failures[0];
    assert_eq!(f.code, "Throttling.User");
    assert_eq!(f.class, ErrorClass::Throttled);
    assert!(f.request_id.as_deref().unwrap_or("").starts_with("FAKE-"));
    // DeleteUser alice (and so its recycle-bin purge) and DeleteVirtualMFADevice alice-mfa were
    // not attempted.
    assert_eq!(report.actions_skipped, 3);
    assert!(
        !report
            .audit
            .iter()
            .any(|a| a.action == "DeleteUser" && a.target == "alice")
    );
    assert!(
        !report
            .audit
            .iter()
            .any(|a| a.action == "DeleteVirtualMFADevice" && a.target.ends_with("alice-mfa"))
    );
    let s = fake.state.lock().unwrap();
    assert!(s.users.contains_key("alice"));
    assert!(!s.users.contains_key("frozen-fred"));
}

#[tokio::test]
async fn conflict_from_a_stale_plan_is_recorded_and_the_next_pass_fixes_it() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    // Someone adds a key to alice after the inventory.
    fake.state
        .lock()
        .unwrap()
        .users
        .get_mut("alice")
        .unwrap()
        .keys
        .insert("LTAI5tAliceLate00000001".into());
    let report = run(&fake, &plan, &ExecOptions::default()).await;
    let f = report
        .failures
        .iter()
        .find(|f| f.action.api_action() == "DeleteUser")
        .unwrap();
    assert_eq!(f.code, "DeleteConflict.User.AccessKey");
    assert_eq!(f.class, ErrorClass::Conflict);
    let next = plan_for(&fake, &opts()).await;
    assert!(
        next.actions
            .iter()
            .any(|a| a.action.target() == "alice/LTAI5tAliceLate00000001")
    );
    let report = run(&fake, &next, &ExecOptions::default()).await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(!fake.state.lock().unwrap().users.contains_key("alice"));
}

#[tokio::test]
async fn not_found_counts_as_done() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    fake.state.lock().unwrap().saml.clear();
    let report = run(&fake, &plan, &ExecOptions::default()).await;
    let saml = report
        .audit
        .iter()
        .find(|a| a.action == "DeleteSAMLProvider")
        .unwrap();
    assert_eq!(saml.result, "EntityNotExist.SAMLProvider");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.deleted[&Kind::SamlProviders], 1);
}

#[tokio::test]
async fn existing_slr_task_is_polled_not_reissued() {
    let mut st = FakeState::rich(ACCT);
    st.tasks.insert(
        "task/acs-service-role/ecs/1".into(),
        ("AliyunServiceRoleForECS".into(), "IN_PROGRESS".into()),
    );
    let fake = FakeAccount::new(st);
    let plan = plan_for(&fake, &opts()).await;
    let exec = ExecOptions {
        existing_slr_tasks: BTreeMap::from([(
            "AliyunServiceRoleForECS".to_string(),
            "task/acs-service-role/ecs/1".to_string(),
        )]),
        ..ExecOptions::default()
    };
    let report = run(&fake, &plan, &exec).await;
    assert!(!report.audit.iter().any(|a| a.target == "AliyunServiceRoleForECS"));
    let ecs = report
        .slr_tasks
        .iter()
        .find(|t| t.role == "AliyunServiceRoleForECS")
        .unwrap();
    assert_eq!(ecs.status, SlrPhase::InProgress);
    assert!(ecs.in_flight());
    assert!(!report.deleted.contains_key(&Kind::ServiceLinkedRoles));
    assert!(
        fake.state
            .lock()
            .unwrap()
            .roles
            .contains_key("AliyunServiceRoleForECS")
    );

    // A fresh deletion that succeeds counts as deleted.
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    let report = run(&fake, &plan, &ExecOptions::default()).await;
    let ecs = report
        .slr_tasks
        .iter()
        .find(|t| t.role == "AliyunServiceRoleForECS")
        .unwrap();
    assert_eq!(ecs.status, SlrPhase::Succeeded);
    assert!(ecs.task_id.starts_with("task/"));
    assert_eq!(report.deleted[&Kind::ServiceLinkedRoles], 1);
}

#[tokio::test]
async fn cancel_stops_before_any_call_and_progress_reports_every_action() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let plan = plan_for(&fake, &opts()).await;
    let cancel = Arc::new(AtomicBool::new(true));
    let report = run(
        &fake,
        &plan,
        &ExecOptions {
            cancel: Some(cancel),
            ..ExecOptions::default()
        },
    )
    .await;
    assert!(report.cancelled);
    assert_eq!(report.actions_skipped as usize, plan.actions.len());
    assert_eq!(mutating(&fake), 0);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = run(
        &fake,
        &plan,
        &ExecOptions {
            concurrency: 3,
            progress: Some(tx),
            ..ExecOptions::default()
        },
    )
    .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert_eq!(events.len(), plan.actions.len());
    assert_eq!(events.last().unwrap().finished, plan.actions.len());
    let done = events.iter().filter(|e| e.outcome == Outcome::Done).count() as u64;
    assert_eq!(done, report.actions_done);
    // Top-level deletions: alice, frozen-fred, admins, app-role, ECS, app-policy, unused,
    // two MFA devices, two providers, the domain, and three OAuth applications (two enterprise,
    // one third-party).
    let total: u64 = report.deleted.values().sum();
    assert_eq!(total, 15, "{:?}", report.deleted);
    assert_eq!(report.deleted.get(&Kind::Applications), Some(&3));
}

#[tokio::test]
async fn independent_actions_run_concurrently_within_the_bound() {
    for limit in [1usize, 4] {
        let fake = FakeAccount::new(FakeState::rich(ACCT));
        let plan = plan_for(&fake, &opts()).await;
        let report = run(
            &fake,
            &plan,
            &ExecOptions {
                concurrency: limit,
                ..ExecOptions::default()
            },
        )
        .await;
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        let max = fake.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(max, limit, "concurrency {limit}: max in flight {max}");
    }
}

/// Many users holding the same two policies: reading attachments per policy is cheaper.
fn shared_policies(users: usize) -> FakeState {
    let mut s = FakeState::rich(ACCT);
    s.slr_in_use.clear();
    let held = [
        PolicyRef {
            name: "AliyunOSSReadOnlyAccess".into(),
            policy_type: PolicyType::System,
        },
        PolicyRef {
            name: "app-policy".into(),
            policy_type: PolicyType::Custom,
        },
    ];
    for i in 0..users {
        s.users.insert(
            format!("user-{i:03}"),
            FakeUser {
                id: format!("2{i:015}"),
                keys: [format!("LTAI5tShared{i:011}")].into(),
                policies: held.iter().cloned().collect(),
                ..FakeUser::default()
            },
        );
    }
    s
}

#[tokio::test]
async fn attachments_per_policy_when_cheaper_and_the_plan_is_the_same() {
    let kinds = Kind::ALL.into_iter().collect();
    let by_principal = FakeAccount::new(shared_policies(40));
    let inv_p = discover_all(&by_principal, Attachments::ByPrincipal).await;
    let auto = FakeAccount::new(shared_policies(40));
    let inv_a = discover_all(&auto, Attachments::Auto).await;
    let reads_p = by_principal.state.lock().unwrap().reads;
    let reads_a = auto.state.lock().unwrap().reads;
    // 40 users: per principal that is 40 ListPoliciesForUser; per policy a handful of calls.
    assert!(
        reads_a + 30 < reads_p,
        "auto {reads_a} reads, per principal {reads_p}"
    );
    let o = opts();
    let (plan_p, plan_a) = (build(&inv_p, &o).unwrap(), build(&inv_a, &o).unwrap());
    assert_eq!(
        plan_a.hash, plan_p.hash,
        "both ways of reading attachments plan the same calls"
    );
    assert!(
        plan_a
            .actions
            .iter()
            .any(|a| a.action.api_action() == "DetachPolicyFromUser"
                && a.action.target().contains("AliyunOSSReadOnlyAccess")),
        "system policy attachments found per policy too"
    );

    // And it empties the account.
    let report = run(&auto, &plan_a, &ExecOptions::default()).await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    let left = build(&discover(&auto, &kinds, ACCT).await.unwrap(), &o).unwrap();
    assert!(left.is_empty(), "{:#?}", left.actions);
}

#[tokio::test]
async fn users_without_login_profile_are_deleted_without_asking() {
    let fake = FakeAccount::new(FakeState::rich(ACCT));
    let o = opts();
    let plan = plan_for(&fake, &o).await;
    let without: Vec<String> = {
        let s = fake.state.lock().unwrap();
        s.users
            .iter()
            .filter(|(_, u)| !u.login)
            .map(|(n, _)| n.clone())
            .collect()
    };
    assert!(
        !without.is_empty(),
        "the rich fake has a user without a login profile"
    );
    let report = run(&fake, &plan, &ExecOptions::default()).await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    let s = fake.state.lock().unwrap();
    for u in &without {
        assert!(!s.users.contains_key(u), "{u} deleted");
    }
    // Deleted users are purged from the recycle bin in the same pass (and bob, already there).
    assert!(s.bin.is_empty(), "recycle bin left: {:?}", s.bin);
}

/// A journal that checks the write-ahead rule against the fake: at no moment has the account
/// seen more mutating calls than intents were made durable.
struct CheckingJournal {
    fake: Arc<FakeAccount>,
    durable: std::sync::Mutex<u64>,
    results: std::sync::Mutex<BTreeMap<u64, String>>,
    violations: std::sync::Mutex<Vec<String>>,
    fail: bool,
}

impl CheckingJournal {
    /// A journal over `fake`; `fail`: every write fails.
    fn new(fake: &Arc<FakeAccount>, fail: bool) -> Arc<CheckingJournal> {
        Arc::new(CheckingJournal {
            fake: fake.clone(),
            durable: Default::default(),
            results: Default::default(),
            violations: Default::default(),
            fail,
        })
    }

    fn check(&self, when: &str) {
        let sent = mutating(&self.fake);
        let durable = *self.durable.lock().unwrap();
        if sent > durable {
            self.violations
                .lock()
                .unwrap()
                .push(format!("{when}: {sent} calls sent, {durable} intents durable"));
        }
    }
}

impl ado_core::journal::Journal for CheckingJournal {
    fn intend<'a>(
        &'a self,
        calls: &'a [ado_core::journal::CallIntent],
    ) -> futures::future::BoxFuture<'a, Result<Vec<u64>, String>> {
        Box::pin(async move {
            self.check("intend");
            // A slow write: a call sent before this returns would be caught by `check`.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.check("intend after the write");
            if self.fail {
                return Err("the API server refused the write".into());
            }
            let mut d = self.durable.lock().unwrap();
            let first = *d;
            *d += calls.len() as u64;
            Ok((first..*d).collect())
        })
    }
    fn record(&self, id: u64, entry: &ado_core::execute::AuditEntry) {
        self.check("record");
        self.results.lock().unwrap().insert(id, entry.result.clone());
    }
    fn flush(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn no_call_is_sent_before_its_intent_is_durable_and_every_intent_gets_a_result() {
    let fake = Arc::new(FakeAccount::new(FakeState::rich(ACCT)));
    let j = CheckingJournal::new(&fake, false);
    let o = opts();
    for _ in 0..3 {
        let plan = plan_for(&fake, &o).await;
        let exec = ExecOptions {
            concurrency: 16,
            journal: Some(j.clone()),
            ..ExecOptions::default()
        };
        let report = run(fake.as_ref(), &plan, &exec).await;
        assert!(report.journal_error.is_none());
    }
    let v = j.violations.lock().unwrap().clone();
    assert!(v.is_empty(), "write-ahead broken: {v:#?}");
    let durable = *j.durable.lock().unwrap();
    let results = j.results.lock().unwrap().clone();
    assert!(durable > 20, "intents: {durable}");
    // Every intent but those of service-linked roles whose task was only polled has its result;
    // every call the account saw has an intent.
    assert_eq!(results.len() as u64, durable, "{results:?}");
    let sent = results.values().filter(|r| r.as_str() != "NOT_SENT").count() as u64;
    assert_eq!(sent, mutating(&fake));
}

#[tokio::test]
async fn a_journal_that_cannot_write_stops_every_call() {
    let fake = Arc::new(FakeAccount::new(FakeState::rich(ACCT)));
    let j = CheckingJournal::new(&fake, true);
    let plan = plan_for(&fake, &opts()).await;
    let exec = ExecOptions {
        journal: Some(j.clone()),
        ..ExecOptions::default()
    };
    let report = run(fake.as_ref(), &plan, &exec).await;
    assert!(report.journal_error.is_some());
    // Service-linked roles journal their own call and fail the same way: nothing was sent.
    assert_eq!(mutating(&fake), 0, "{report:?}");
}
