//! Unit tests of one pass against an in-memory directory built around `plan::fake` (which enforces
//! the RAM conflict rules). The end-to-end tests on a real kube-apiserver and the emulator live in
//! `tests/`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;

use crate::crd::{AccountDeletion, AccountDeletionSpec, CheckItem, Mode, Phase, SecretRef};
use ado_testkit::fake::{FakeAccount, FakeError, FakeState};

use super::conditions::{Cond, status_of};
use super::directory::{AccountInfo, CheckResult, DeletionStatusInfo, Directory, DirectoryInfo};
use super::pass::{self, NoSink, PassOptions, PassOutcome};
use super::validate::validate;

const ID: &str = "1234567890123456";

#[derive(Default)]
struct Calls {
    check_started: u32,
    check_reads: u32,
    delete_account: Vec<Vec<String>>,
    status_reads: u32,
}

struct FakeDir {
    member: Arc<FakeAccount>,
    display_name: String,
    account_type: String,
    member_deletion: String,
    blocking: Vec<CheckItem>,
    abandonable: Vec<CheckItem>,
    deletion_type: i64,
    calls: Mutex<Calls>,
}

fn err(code: &str) -> FakeError {
    FakeError {
        code: code.into(),
        message: format!("{code} (fake)"),
        request_id: "REQ-1".into(),
    }
}

impl FakeDir {
    fn new() -> FakeDir {
        let mut state = FakeState::rich(ID);
        state.slr_in_use.clear();
        FakeDir::with_state(state)
    }
    fn with_state(state: FakeState) -> FakeDir {
        FakeDir {
            member: Arc::new(FakeAccount::new(state)),
            display_name: "legacy-prod".into(),
            account_type: "ResourceAccount".into(),
            member_deletion: "Enabled".into(),
            blocking: vec![],
            abandonable: vec![],
            deletion_type: 0,
            calls: Mutex::new(Calls::default()),
        }
    }
    fn calls<T>(&self, f: impl FnOnce(&mut Calls) -> T) -> T {
        f(&mut self.calls.lock().unwrap())
    }
    fn mutating(&self) -> u64 {
        self.member.state.lock().unwrap().mutating
    }
}

impl Directory for FakeDir {
    type Error = FakeError;
    type Member = FakeAccount;

    async fn resource_directory(&self) -> Result<DirectoryInfo, FakeError> {
        Ok(DirectoryInfo {
            id: "rd-test".into(),
            management_account_id: "1000000000000001".into(),
            member_deletion_status: self.member_deletion.as_str().into(),
        })
    }
    async fn get_account(&self, account_id: &str) -> Result<AccountInfo, FakeError> {
        if account_id != ID {
            return Err(err("EntityNotExists.Account"));
        }
        Ok(AccountInfo {
            display_name: self.display_name.clone(),
            account_type: self.account_type.as_str().into(),
            status: "CreateSuccess".into(),
        })
    }
    async fn check_account_delete(&self, _: &str) -> Result<(), FakeError> {
        self.calls(|c| c.check_started += 1);
        Ok(())
    }
    async fn deletion_check_result(&self, _: &str) -> Result<CheckResult, FakeError> {
        let (started, reads) = self.calls(|c| {
            c.check_reads += 1;
            (c.check_started, c.check_reads)
        });
        if started == 0 {
            return Err(err("EntityNotExists.CheckAccount"));
        }
        // The first read after a start sees the check still running.
        if reads % 2 == 1 {
            return Ok(CheckResult {
                status: "PreChecking".into(),
                ..Default::default()
            });
        }
        Ok(CheckResult {
            status: "PreCheckComplete".into(),
            allow_delete: self.blocking.is_empty() && self.abandonable.is_empty(),
            blocking: self.blocking.clone(),
            abandonable: self.abandonable.clone(),
        })
    }
    async fn delete_account(
        &self,
        _: &str,
        abandon: &[String],
    ) -> Result<(Option<i64>, Option<String>), FakeError> {
        self.calls(|c| c.delete_account.push(abandon.to_vec()));
        Ok((Some(self.deletion_type), Some("FAKE-REQUEST-ID".into())))
    }
    async fn deletion_status(&self, _: &str) -> Result<DeletionStatusInfo, FakeError> {
        let (n, reads) = self.calls(|c| {
            c.status_reads += 1;
            (c.delete_account.len(), c.status_reads)
        });
        if n == 0 {
            return Err(err("EntityNotExists.CheckAccount"));
        }
        let status = if reads >= 3 { "Success" } else { "Deleting" };
        Ok(DeletionStatusInfo {
            status: status.into(),
            deletion_type: Some(self.deletion_type),
            ..Default::default()
        })
    }
    async fn member(&self, _: &str, _: &str) -> Result<Arc<FakeAccount>, FakeError> {
        Ok(self.member.clone())
    }
}

fn obj(mode: Mode) -> AccountDeletion {
    let mut o = AccountDeletion::new(
        "acd",
        AccountDeletionSpec {
            account_id: ID.into(),
            account_display_name: "legacy-prod".into(),
            mode,
            credentials_secret_ref: SecretRef { name: "creds".into() },
            access_role_name: "ResourceDirectoryAccountAccessRole".into(),
            endpoint: None,
            endpoints: None,
            ram: Default::default(),
            deletion: Default::default(),
            not_before: None,
            suspend: false,
            approved_plan_hash: None,
            audit: Default::default(),
        },
    );
    o.metadata.generation = Some(1);
    o
}

/// A clock that moves 2 s per pass, so time-based rules (empty confirmation) are exercised.
fn tick() -> jiff::Timestamp {
    let n = TICKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    jiff::Timestamp::from_second(1_800_000_000 + 2 * n).unwrap()
}

static TICKS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

async fn step(dir: &FakeDir, o: &mut AccountDeletion) -> PassOutcome {
    let v = validate(o, &super::validate::Guards::default()).expect("valid spec");
    let out = pass::run(
        dir,
        o,
        &v,
        &PassOptions::default(),
        &NoSink,
        tick(),
        &pass::Stop::new(),
    )
    .await;
    o.status = Some(out.status.clone());
    out
}

/// Runs passes until the phase is one of `until` (bounded).
async fn drive(dir: &FakeDir, o: &mut AccountDeletion, until: &[Phase]) -> PassOutcome {
    for _ in 0..30 {
        let out = step(dir, o).await;
        if out.status.phase.is_some_and(|p| until.contains(&p)) {
            return out;
        }
    }
    panic!("never reached {until:?}: {:#?}", o.status);
}

#[tokio::test]
async fn plan_mode_changes_nothing_and_runs_the_precheck() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::Plan);
    let out = drive(&dir, &mut o, &[Phase::Planned]).await;
    let st = &out.status;
    assert_eq!(dir.mutating(), 0, "Plan mode made a mutating call");
    let plan = st.plan.as_ref().unwrap();
    assert!(plan.actions > 10 && plan.hash.len() == 16, "{plan:?}");
    assert!(st.inventory.get("users").copied().unwrap_or(0) > 0);
    assert!(
        st.retained
            .iter()
            .any(|r| r == "roles/ResourceDirectoryAccountAccessRole"),
        "{:?}",
        st.retained
    );
    assert_eq!(dir.calls(|c| c.check_started), 1);
    assert!(dir.calls(|c| c.delete_account.is_empty()));
    // Second pass completes the pre-check and settles.
    let out = drive(&dir, &mut o, &[Phase::Planned]).await;
    let out = if status_of(&out.status.conditions, Cond::Ready) == Some("True") {
        out
    } else {
        step(&dir, &mut o).await
    };
    assert_eq!(
        status_of(&out.status.conditions, Cond::Ready),
        Some("True"),
        "{:#?}",
        out.status
    );
    assert_eq!(
        status_of(&out.status.conditions, Cond::DeletionAllowed),
        Some("True")
    );
    assert_eq!(dir.mutating(), 0);
}

#[tokio::test]
async fn delete_mode_empties_ram_then_deletes_once() {
    let mut dir = FakeDir::new();
    dir.abandonable = vec![CheckItem {
        check_id: "NON_SP_cs".into(),
        check_name: "ACK".into(),
        description: "".into(),
    }];
    let mut o = obj(Mode::Delete);
    o.spec.deletion.abandonable_check_ids = vec!["NON_SP_cs".into()];
    let out = drive(&dir, &mut o, &[Phase::Deleted, Phase::Blocked, Phase::Failed]).await;
    assert_eq!(out.status.phase, Some(Phase::Deleted), "{:#?}", out.status);
    assert!(dir.member.state.lock().unwrap().is_empty_except_access_role());
    assert_eq!(
        dir.calls(|c| c.delete_account.clone()),
        vec![vec!["NON_SP_cs".to_string()]]
    );
    assert_eq!(status_of(&out.status.conditions, Cond::Deleted), Some("True"));
    assert!(out.status.deleted.values().sum::<u64>() > 10);
    // A Deleted object makes no further calls.
    let before = dir.calls(|c| c.status_reads);
    step(&dir, &mut o).await;
    assert_eq!(dir.calls(|c| c.status_reads), before);
}

#[tokio::test]
async fn a_lagging_attachment_count_costs_a_pass_not_the_deletion() {
    // The counts say "attached nowhere", so discovery reads attachments per policy and finds none;
    // the service refuses the deletes with DeleteConflict.*.Policy, and the next pass reads the
    // attachments per principal and finishes.
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    state.stale_attachment_counts = true;
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::Delete);
    let mut saw_conflict = false;
    for _ in 0..30 {
        let out = step(&dir, &mut o).await;
        saw_conflict |= out
            .status
            .last_error
            .as_ref()
            .is_some_and(|e| e.code.starts_with("DeleteConflict.") && e.code.contains(".Policy"));
        if matches!(
            out.status.phase,
            Some(Phase::Deleted | Phase::Blocked | Phase::Failed)
        ) {
            break;
        }
    }
    assert!(
        saw_conflict,
        "the stale counts should have caused a policy conflict first"
    );
    assert_eq!(
        o.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Deleted),
        "{:#?}",
        o.status
    );
    assert!(dir.member.state.lock().unwrap().is_empty_except_access_role());
}

#[tokio::test]
async fn unwaived_abandonable_check_blocks_with_the_id_to_add() {
    let mut dir = FakeDir::new();
    dir.abandonable = vec![CheckItem {
        check_id: "NON_SP_cs".into(),
        check_name: "ACK".into(),
        description: "".into(),
    }];
    let mut o = obj(Mode::Delete);
    let out = drive(&dir, &mut o, &[Phase::Blocked]).await;
    let stalled = out
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == Cond::Stalled.as_str())
        .unwrap();
    assert_eq!(stalled.reason, "AbandonableChecksNotWaived");
    assert!(stalled.message.contains("NON_SP_cs") && stalled.message.contains("abandonableCheckIds"));
    assert!(dir.calls(|c| c.delete_account.is_empty()));
}

#[tokio::test]
async fn display_name_mismatch_blocks_before_any_member_call() {
    let mut dir = FakeDir::new();
    dir.display_name = "someone-else".into();
    let mut o = obj(Mode::Delete);
    let out = step(&dir, &mut o).await;
    assert_eq!(out.status.phase, Some(Phase::Blocked));
    assert_eq!(out.reason.as_deref(), Some("DisplayNameMismatch"));
    assert_eq!(dir.member.state.lock().unwrap().reads, 0);
    assert_eq!(dir.mutating(), 0);
    assert!(out.events.iter().any(|e| e.reason == "DisplayNameMismatch"));
}

#[tokio::test]
async fn a_changed_plan_waits_for_reapproval() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::PurgeRam);
    o.spec.approved_plan_hash = Some("0123456789abcdef".into());
    let out = step(&dir, &mut o).await;
    assert_eq!(out.reason.as_deref(), Some("PlanNotApproved"));
    assert_eq!(dir.mutating(), 0);
    let hash = out.status.plan.unwrap().hash;
    o.spec.approved_plan_hash = Some(hash);
    let out = drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    assert_eq!(status_of(&out.status.conditions, Cond::Ready), Some("True"));
}

#[tokio::test]
async fn retained_users_survive_a_purge() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::PurgeRam);
    let users: Vec<String> = dir.member.state.lock().unwrap().users.keys().cloned().collect();
    let keep = users[0].clone();
    o.spec.ram.retain.users = vec![keep.clone()];
    drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    let st = dir.member.state.lock().unwrap();
    assert_eq!(st.users.keys().cloned().collect::<Vec<_>>(), vec![keep]);
    assert!(st.roles.contains_key("ResourceDirectoryAccountAccessRole"));
}

#[tokio::test]
async fn not_before_in_the_future_holds_every_mutation() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::Delete);
    o.spec.not_before = Some("2999-01-01T00:00:00Z".into());
    let out = step(&dir, &mut o).await;
    assert_eq!(dir.mutating(), 0);
    assert_eq!(
        out.status
            .conditions
            .iter()
            .find(|c| c.type_ == Cond::Ready.as_str())
            .unwrap()
            .reason,
        "WaitingForNotBefore"
    );
    assert!(out.requeue.is_some());
}

#[tokio::test]
async fn a_service_linked_role_in_use_blocks_with_its_users() {
    let dir = FakeDir::with_state(FakeState::rich(ID));
    let mut o = obj(Mode::Delete);
    let out = drive(&dir, &mut o, &[Phase::Blocked]).await;
    assert_eq!(out.reason.as_deref(), Some("ServiceLinkedRoleInUse"));
    let msg = out.status.message.clone().unwrap();
    assert!(
        msg.contains("acs:hdr:") && msg.contains("spec.ram.retain.serviceLinkedRoles"),
        "{msg}"
    );
    assert!(dir.calls(|c| c.delete_account.is_empty()));
    // Retaining the role lets the deletion go on.
    let role = out
        .status
        .service_linked_role_tasks
        .iter()
        .find(|t| t.status == "FAILED")
        .unwrap()
        .role
        .clone();
    o.spec.ram.retain.service_linked_roles = vec![role];
    o.spec.mode = Mode::PurgeRam;
    let out = drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    assert_eq!(status_of(&out.status.conditions, Cond::RamEmpty), Some("True"));
}

#[tokio::test]
async fn ram_counts_as_empty_only_after_a_second_inventory_and_reappearing_objects_are_purged() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::PurgeRam);
    let mut saw_verifying = false;
    for _ in 0..30 {
        let out = step(&dir, &mut o).await;
        let ready = out
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == Cond::Ready.as_str())
            .unwrap();
        saw_verifying |= ready.reason == "VerifyingEmpty";
        if out.status.phase == Some(Phase::RamEmpty) {
            break;
        }
    }
    assert!(saw_verifying, "RamEmpty without a confirming inventory");
    assert_eq!(o.status.as_ref().unwrap().phase, Some(Phase::RamEmpty));
    // Someone recreates a user behind our back.
    dir.member
        .state
        .lock()
        .unwrap()
        .users
        .insert("intruder".into(), Default::default());
    let out = step(&dir, &mut o).await;
    assert!(
        out.events
            .iter()
            .any(|e| e.reason == "ResourcesReappeared" && e.note.contains("intruder")),
        "{:?}",
        out.events
    );
    drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    assert!(!dir.member.state.lock().unwrap().users.contains_key("intruder"));
}

#[tokio::test]
async fn odd_names_unicode_display_names_and_a_plan_of_tens_of_thousands_of_actions() {
    use ado_core::{PolicyRef, PolicyType};
    use ado_testkit::fake::{FakeGroup, FakeUser};
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    // Every character class RAM allows in names: letters, digits, '.', '-', '_', '@' (user names).
    for i in 0..4000 {
        let name = format!("u.{i}-x_y@corp");
        let mut keys = BTreeSet::new();
        keys.insert(format!("LTAI5tBulk{i:014}a"));
        keys.insert(format!("LTAI5tBulk{i:014}b"));
        let policies: BTreeSet<PolicyRef> = [PolicyRef {
            name: "ReadOnlyAccess".into(),
            policy_type: PolicyType::System,
        }]
        .into();
        state.users.insert(
            name,
            FakeUser {
                id: format!("3{i:015}"),
                keys,
                login: true,
                policies,
                ..Default::default()
            },
        );
    }
    let mut members = BTreeSet::new();
    for i in 0..4000 {
        members.insert(format!("u.{i}-x_y@corp"));
    }
    state.groups.insert(
        "bulk-group".into(),
        FakeGroup {
            members,
            ..Default::default()
        },
    );
    let mut dir = FakeDir::with_state(state);
    dir.display_name = "法务-生产 🚀 prod".into();
    let mut o = obj(Mode::Plan);
    o.spec.account_display_name = "法务-生产 🚀 prod".into();
    let out = step(&dir, &mut o).await;
    let plan = out.status.plan.clone().unwrap();
    assert!(plan.actions >= 20_000, "plan has {} actions", plan.actions);
    assert_eq!(plan.first.len(), 20, "status shows only the first entries");
    let status_size = serde_json::to_vec(&out.status).unwrap().len();
    assert!(status_size < 64 * 1024, "status is {status_size} bytes");
    o.spec.mode = Mode::PurgeRam;
    let out = drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    assert!(out.status.deleted.get("users").copied().unwrap_or(0) >= 4000);
    assert!(dir.member.state.lock().unwrap().users.is_empty());
}

#[tokio::test]
async fn the_access_role_survives_whatever_spelling_the_spec_uses() {
    for spelling in [
        "resourcedirectoryaccountaccessrole",
        "RESOURCEDIRECTORYACCOUNTACCESSROLE",
    ] {
        let dir = FakeDir::new();
        let mut o = obj(Mode::PurgeRam);
        o.spec.access_role_name = spelling.into();
        let out = drive(&dir, &mut o, &[Phase::RamEmpty, Phase::Blocked]).await;
        assert_eq!(out.status.phase, Some(Phase::RamEmpty), "{:#?}", out.status);
        let st = dir.member.state.lock().unwrap();
        assert!(
            st.roles.contains_key("ResourceDirectoryAccountAccessRole"),
            "{spelling}: the access role was deleted"
        );
        assert!(
            st.is_empty_except_access_role(),
            "{spelling}: {:?}",
            st.roles.keys()
        );
        assert!(
            out.status
                .retained
                .iter()
                .any(|r| r == "roles/ResourceDirectoryAccountAccessRole"),
            "{spelling}: {:?}",
            out.status.retained
        );
    }
}

#[tokio::test]
async fn the_role_the_session_really_is_is_kept_even_under_another_name() {
    // The spec names the default role, but the session is app-role (say, a role chained through a
    // proxy): app-role is the operator's lifeline and must survive.
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    state.session_role = Some("app-role".into());
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::PurgeRam);
    let out = drive(&dir, &mut o, &[Phase::RamEmpty, Phase::Blocked]).await;
    assert_eq!(out.status.phase, Some(Phase::RamEmpty), "{:#?}", out.status);
    let st = dir.member.state.lock().unwrap();
    assert!(st.roles.contains_key("app-role"), "{:?}", st.roles.keys());
    assert!(
        out.status.retained.iter().any(|r| r == "roles/app-role"),
        "{:?}",
        out.status.retained
    );
}

#[tokio::test]
async fn a_session_in_another_account_touches_nothing() {
    let mut state = FakeState::rich("6543210987654321");
    state.slr_in_use.clear();
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::Delete);
    let out = step(&dir, &mut o).await;
    assert_eq!(out.status.phase, Some(Phase::Blocked));
    assert_eq!(out.reason.as_deref(), Some("WrongAccount"), "{:#?}", out.status);
    assert!(
        out.status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("6543210987654321")
    );
    assert_eq!(dir.mutating(), 0);
}

#[tokio::test]
async fn an_unidentified_session_blocks_role_changes() {
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    state.session_role = None;
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::PurgeRam);
    let out = step(&dir, &mut o).await;
    assert_eq!(
        out.reason.as_deref(),
        Some("AccessRoleUnidentified"),
        "{:#?}",
        out.status
    );
    assert_eq!(dir.mutating(), 0);
    // Without roles in the selection the purge may go on.
    o.spec.ram.kinds = Some(vec![ado_core::Kind::Users, ado_core::Kind::Groups]);
    let out = step(&dir, &mut o).await;
    assert_ne!(out.reason.as_deref(), Some("AccessRoleUnidentified"));
}

#[tokio::test]
async fn a_stop_request_starts_no_new_call() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::Delete);
    let v = validate(&o, &super::validate::Guards::default()).unwrap();
    let stop = pass::Stop::new();
    stop.request("the AccountDeletion is being deleted");
    let out = pass::run(&dir, &o, &v, &PassOptions::default(), &NoSink, tick(), &stop).await;
    assert_eq!(dir.mutating(), 0, "a stopped pass made a mutating call");
    assert!(
        out.status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("being deleted"),
        "{:#?}",
        out.status
    );
    assert!(out.events.iter().any(|e| e.reason == "Stopped"));
    // Without the request the same object purges.
    o.status = None;
    let out = pass::run(
        &dir,
        &o,
        &v,
        &PassOptions::default(),
        &NoSink,
        tick(),
        &pass::Stop::new(),
    )
    .await;
    assert_eq!(out.status.phase, Some(Phase::PurgingRam));
    assert!(dir.mutating() > 0);
}

#[tokio::test]
async fn oauth_applications_are_emptied_in_order_and_retained_by_pattern() {
    let dir = FakeDir::new();
    let mut o = obj(Mode::PurgeRam);
    o.spec.ram.retain.applications = vec!["BILLING-*".into()];
    let out = drive(&dir, &mut o, &[Phase::RamEmpty, Phase::Blocked]).await;
    assert_eq!(out.status.phase, Some(Phase::RamEmpty), "{:#?}", out.status);
    let st = dir.member.state.lock().unwrap();
    // The retained enterprise app and its secrets stay; the installed ServerApp was uninstalled
    // before its deletion (the fake refuses otherwise); the third-party app is uninstalled.
    let names: Vec<&str> = st.apps.values().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["billing-portal"]);
    assert_eq!(st.apps.values().next().unwrap().secrets.len(), 2);
    assert!(st.external_apps.is_empty());
    assert!(
        out.status
            .retained
            .iter()
            .any(|r| r == "applications/billing-portal"),
        "{:?}",
        out.status.retained
    );
    assert_eq!(
        out.status.deleted.get("applications"),
        Some(&2),
        "{:?}",
        out.status.deleted
    );
    assert_eq!(out.status.inventory.get("applications"), Some(&1));
    // alice's service credential went before alice.
    assert!(!st.users.contains_key("alice"));
}

#[tokio::test]
async fn passkeys_are_deleted_when_the_service_refuses_a_user_because_of_them() {
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    state.passkeys_block_delete_user = true;
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::PurgeRam);
    let mut saw = false;
    for _ in 0..30 {
        let out = step(&dir, &mut o).await;
        saw |= out.status.users_with_passkeys.iter().any(|u| u == "alice");
        if out.status.phase == Some(Phase::RamEmpty) {
            break;
        }
    }
    assert!(saw, "the passkey conflict was never recorded");
    let st = dir.member.state.lock().unwrap();
    assert!(st.is_empty_except_access_role(), "{:?}", st.users.keys());
    assert_eq!(o.status.as_ref().unwrap().phase, Some(Phase::RamEmpty));
    assert!(o.status.as_ref().unwrap().users_with_passkeys.is_empty());
}

#[tokio::test]
async fn progress_reaches_100_percent_and_large_accounts_announce_milestones() {
    let mut state = FakeState::rich(ID);
    state.slr_in_use.clear();
    for i in 0..150 {
        state.users.insert(
            format!("bulk-{i:03}"),
            ado_testkit::fake::FakeUser {
                id: format!("29{i:014}"),
                keys: [format!("LTAI5tBulk{i:014}")].into(),
                ..Default::default()
            },
        );
    }
    let dir = FakeDir::with_state(state);
    let mut o = obj(Mode::PurgeRam);
    let first = step(&dir, &mut o).await;
    let p0 = o.status.as_ref().unwrap().progress.clone().unwrap();
    assert!(p0.total > 150, "{p0:?}");
    let mut events = first.events;
    let out = drive(&dir, &mut o, &[Phase::RamEmpty]).await;
    events.extend(out.events);
    let g = out.status.progress.unwrap();
    assert_eq!((g.percent, g.display.as_str()), (100, "100%"), "{g:?}");
    assert_eq!(g.deleted, g.total);
    let notes: Vec<&String> = events
        .iter()
        .filter(|e| e.reason == "Progress")
        .map(|e| &e.note)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("100% of RAM emptied")),
        "{notes:?}"
    );
}
