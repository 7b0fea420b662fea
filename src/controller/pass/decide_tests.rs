//! Table tests of the pass's decisions: one row per transition or block reason, plain values in,
//! the expected choice out. No fakes, no async, no clock.

use std::collections::BTreeSet;
use std::time::Duration;

use ado_core::api::SessionRole;
use ado_core::inventory::Attachments;
use ado_core::{ErrorClass, Kind};

use super::*;
use crate::controller::conditions::{self, Cond, Truth};
use crate::crd::{
    AccountDeletionStatus, AlibabaErrorStatus, CheckItem, ClaimHolder, ClaimWaiter, FailReason, Mode, Phase,
    SlrTaskStatus,
};

const ID: &str = "2000000000000001";

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn now() -> jiff::Timestamp {
    t("2026-12-02T10:00:00Z")
}

fn ram_empty(st: &mut AccountDeletionStatus) {
    conditions::set(
        &mut st.conditions,
        Cond::RamEmpty,
        Truth::True,
        "Empty",
        "",
        None,
        &now(),
    );
}

fn rd(member_deletion: &str) -> DirectoryInfo {
    DirectoryInfo {
        id: "rd-1".into(),
        management_account_id: "1000000000000001".into(),
        member_deletion_status: member_deletion.into(),
    }
}

fn acc(name: &str, kind: &str) -> AccountInfo {
    AccountInfo {
        display_name: name.into(),
        account_type: kind.into(),
        status: "CreateSuccess".into(),
    }
}

fn reason<T: std::fmt::Debug>(r: Result<T, Block>) -> Option<BlockReason> {
    r.err().map(|b| {
        assert!(!b.message.is_empty(), "{:?} has no words", b.reason);
        b.reason
    })
}

#[test]
fn where_a_pass_starts() {
    let deleted = AccountDeletionStatus {
        phase: Some(Phase::Deleted),
        delete_requested_time: Some("2026-12-01T00:00:00Z".into()),
        ..Default::default()
    };
    let requested = AccountDeletionStatus {
        phase: Some(Phase::Deleting),
        delete_requested_time: Some("2026-12-01T00:00:00Z".into()),
        ..Default::default()
    };
    let fresh = AccountDeletionStatus::default();
    let rows: &[(&AccountDeletionStatus, bool, Start)] = &[
        (&deleted, false, Start::Deleted),
        (&deleted, true, Start::Deleted),
        (&requested, true, Start::Suspended),
        (&requested, false, Start::FollowDeletion),
        (&fresh, true, Start::Suspended),
        (&fresh, false, Start::Verify),
    ];
    for (i, (st, suspend, want)) in rows.iter().enumerate() {
        assert_eq!(&start(st, *suspend), want, "row {i}");
    }
}

#[test]
fn the_target_must_be_the_right_member() {
    use BlockReason::*;
    let rows: &[(&str, &str, Mode, AccountInfo, Option<BlockReason>)] = &[
        (ID, "prod", Mode::Delete, acc("prod", "ResourceAccount"), None),
        (
            ID,
            "prod",
            Mode::Delete,
            acc("Prod", "ResourceAccount"),
            Some(DisplayNameMismatch),
        ),
        (
            ID,
            "prod",
            Mode::Plan,
            acc("other", "ResourceAccount"),
            Some(DisplayNameMismatch),
        ),
        (
            ID,
            "prod",
            Mode::Delete,
            acc("prod", "CloudAccount"),
            Some(NotDeletableMemberType),
        ),
        (ID, "prod", Mode::PurgeRam, acc("prod", "CloudAccount"), None),
        (ID, "prod", Mode::Plan, acc("prod", "CloudAccount"), None),
        (
            ID,
            "prod",
            Mode::Delete,
            acc("prod", "SomethingNew"),
            Some(NotDeletableMemberType),
        ),
    ];
    for (i, (id, name, mode, a, want)) in rows.iter().enumerate() {
        assert_eq!(reason(verify_account(id, name, *mode, a)), *want, "row {i}");
    }
    assert_eq!(
        reason(verify_directory("1000000000000001", &rd("Enabled"))),
        Some(ManagementAccount)
    );
    assert_eq!(reason(verify_directory(ID, &rd("Enabled"))), None);
}

#[test]
fn a_missing_account_is_deleted_only_if_work_started_on_it_in_mode_delete() {
    let started = AccountDeletionStatus {
        started_account_id: Some(ID.into()),
        ..Default::default()
    };
    let other = AccountDeletionStatus {
        started_account_id: Some("2000000000000002".into()),
        ..Default::default()
    };
    let rows: &[(&AccountDeletionStatus, Mode, bool)] = &[
        (&started, Mode::Delete, true),
        (&started, Mode::PurgeRam, false),
        (&started, Mode::Plan, false),
        (&other, Mode::Delete, false),
        (&AccountDeletionStatus::default(), Mode::Delete, false),
    ];
    for (i, (st, mode, deleted)) in rows.iter().enumerate() {
        let got = account_missing(ID, st, *mode, &rd("Enabled"));
        match got {
            Missing::AlreadyDeleted => assert!(*deleted, "row {i}"),
            Missing::NotInDirectory(b) => {
                assert!(!*deleted, "row {i}");
                assert_eq!(b.reason, BlockReason::AccountNotInDirectory);
                assert!(b.message.contains("spec.accountId"), "{}", b.message);
            }
        }
    }
}

#[test]
fn the_session_must_be_in_the_account_and_say_which_role_it_is() {
    let mine = SessionRole {
        account_id: ID.into(),
        role_id: "300001".into(),
        role_name: "ResourceDirectoryAccountAccessRole".into(),
    };
    let elsewhere = SessionRole {
        account_id: "2000000000000009".into(),
        ..mine.clone()
    };
    let all: BTreeSet<Kind> = Kind::ALL.iter().copied().collect();
    let users: BTreeSet<Kind> = [Kind::Users].into_iter().collect();
    let slr: BTreeSet<Kind> = [Kind::ServiceLinkedRoles].into_iter().collect();
    type Row<'a> = (
        Option<&'a SessionRole>,
        Mode,
        &'a BTreeSet<Kind>,
        Result<Option<&'a str>, BlockReason>,
    );
    let rows: &[Row<'_>] = &[
        (Some(&mine), Mode::Delete, &all, Ok(Some("300001"))),
        (Some(&mine), Mode::Plan, &all, Ok(Some("300001"))),
        (Some(&elsewhere), Mode::Plan, &all, Err(BlockReason::WrongAccount)),
        (
            Some(&elsewhere),
            Mode::PurgeRam,
            &users,
            Err(BlockReason::WrongAccount),
        ),
        (None, Mode::Delete, &all, Err(BlockReason::AccessRoleUnidentified)),
        (
            None,
            Mode::PurgeRam,
            &slr,
            Err(BlockReason::AccessRoleUnidentified),
        ),
        (None, Mode::PurgeRam, &users, Ok(None)),
        (None, Mode::Plan, &all, Ok(None)),
    ];
    for (i, (s, mode, kinds, want)) in rows.iter().enumerate() {
        let got = verify_session(ID, *s, *mode, kinds).map_err(|b| b.reason);
        assert_eq!(
            got.as_ref().map(|o| o.as_deref()),
            want.as_ref().map(|o| *o),
            "row {i}"
        );
    }
}

#[test]
fn attachments_are_read_per_principal_after_a_policy_conflict() {
    let err = |code: &str| AlibabaErrorStatus {
        action: "DeleteUser".into(),
        code: code.into(),
        message: String::new(),
        request_id: None,
        hint: None,
        time: String::new(),
    };
    let rows = [
        (None, Attachments::Auto),
        (Some(err("DeleteConflict.User.Policy")), Attachments::ByPrincipal),
        (Some(err("DeleteConflict.Role.Policy")), Attachments::ByPrincipal),
        (Some(err("DeleteConflict.User.Group")), Attachments::Auto),
        (Some(err("Throttling.User")), Attachments::Auto),
    ];
    for (i, (e, want)) in rows.iter().enumerate() {
        assert_eq!(attachments(e.as_ref()), *want, "row {i}");
    }
}

#[test]
fn the_cheap_check_needs_every_kind_a_recorded_inventory_and_a_settled_emptiness() {
    let all: BTreeSet<Kind> = Kind::ALL.iter().copied().collect();
    let some: BTreeSet<Kind> = [Kind::Users].into_iter().collect();
    let mut confirmed = AccountDeletionStatus::default();
    confirmed.inventory.insert("users".into(), 0);
    ram_empty(&mut confirmed);
    let seen_long_ago = AccountDeletionStatus {
        empty_observed_time: Some("2026-12-02T09:59:00Z".into()),
        inventory: [("users".to_string(), 0)].into_iter().collect(),
        ..Default::default()
    };
    let seen_just_now = AccountDeletionStatus {
        empty_observed_time: Some("2026-12-02T09:59:59Z".into()),
        ..seen_long_ago.clone()
    };
    let mut slr_running = confirmed.clone();
    slr_running.service_linked_role_tasks.push(SlrTaskStatus {
        role: "AliyunServiceRoleForX".into(),
        task_id: "task".into(),
        status: "IN_PROGRESS".into(),
        reason: None,
        used_by: vec![],
    });
    let confirm = Duration::from_secs(5);
    let rows: &[(&AccountDeletionStatus, Mode, &BTreeSet<Kind>, bool)] = &[
        (&confirmed, Mode::Delete, &all, true),
        (&confirmed, Mode::PurgeRam, &all, true),
        (&confirmed, Mode::Plan, &all, false),
        (&confirmed, Mode::Delete, &some, false),
        (&seen_long_ago, Mode::Delete, &all, true),
        (&seen_just_now, Mode::Delete, &all, false),
        (&slr_running, Mode::Delete, &all, false),
        (&AccountDeletionStatus::default(), Mode::Delete, &all, false),
    ];
    for (i, (st, mode, kinds, want)) in rows.iter().enumerate() {
        assert_eq!(cheap_check(st, *mode, kinds, now(), confirm), *want, "row {i}");
    }
}

#[test]
fn guards_before_the_first_change() {
    let resync = Duration::from_secs(600);
    let later = Some(t("2026-12-02T10:01:40Z"));
    let much_later = Some(t("2026-12-03T10:00:00Z"));
    let earlier = Some(t("2026-12-02T09:00:00Z"));
    /// Mode, member deletion, notBefore → open (None), wait seconds, or the block.
    type Row<'a> = (
        Mode,
        &'a str,
        Option<jiff::Timestamp>,
        Result<Option<u64>, BlockReason>,
    );
    let rows: &[Row<'_>] = &[
        (Mode::Delete, "Enabled", None, Ok(None)),
        (
            Mode::Delete,
            "Disabled",
            None,
            Err(BlockReason::MemberDeletionDisabled),
        ),
        (
            Mode::Delete,
            "Disabled",
            later,
            Err(BlockReason::MemberDeletionDisabled),
        ),
        (Mode::PurgeRam, "Disabled", None, Ok(None)),
        (Mode::PurgeRam, "Enabled", later, Ok(Some(100))),
        (Mode::Delete, "Enabled", much_later, Ok(Some(600))),
        (Mode::Delete, "Enabled", earlier, Ok(None)),
    ];
    for (i, (mode, md, nb, want)) in rows.iter().enumerate() {
        let got = match before_first_change(*mode, &rd(md), *nb, now(), resync, "abc") {
            Gate::Open => Ok(None),
            Gate::NotBefore { message, after } => {
                assert!(
                    message.contains("spec.notBefore") && message.contains("abc"),
                    "{message}"
                );
                Ok(Some(after.as_secs()))
            }
            Gate::Blocked(b) => Err(b.reason),
        };
        assert_eq!(&got, want, "row {i}");
    }
}

#[test]
fn emptiness_is_confirmed_by_a_second_look_after_the_window() {
    let confirm = Duration::from_secs(5);
    let at = |s: &str| AccountDeletionStatus {
        empty_observed_time: Some(s.into()),
        ..Default::default()
    };
    let mut confirmed = AccountDeletionStatus::default();
    ram_empty(&mut confirmed);
    let rows = [
        (AccountDeletionStatus::default(), Emptiness::FirstSeen),
        (
            at("2026-12-02T09:59:58Z"),
            Emptiness::Verifying(Duration::from_secs(3)),
        ),
        (at("2026-12-02T09:59:55Z"), Emptiness::Confirmed),
        (at("2026-12-02T09:50:00Z"), Emptiness::Confirmed),
        // A look within the last 200 ms still waits at least 200 ms.
        (
            at("2026-12-02T09:59:55.100Z"),
            Emptiness::Verifying(Duration::from_millis(200)),
        ),
        (confirmed, Emptiness::Confirmed),
    ];
    for (i, (st, want)) in rows.iter().enumerate() {
        assert_eq!(&emptiness(st, now(), confirm), want, "row {i}");
    }
}

fn item(id: &str) -> CheckItem {
    CheckItem {
        check_id: id.into(),
        check_name: format!("{id} name"),
        description: format!("{id} in use"),
    }
}

fn waiter(mode: Mode) -> ClaimWaiter {
    ClaimWaiter {
        object: ClaimHolder {
            namespace: "team-b".into(),
            name: "keep".into(),
            uid: "u".into(),
            since: "2026-12-01T00:00:00Z".into(),
        },
        mode,
        retain: Default::default(),
    }
}

#[test]
fn the_pre_check_and_the_waiters_decide_whether_delete_account_is_sent() {
    use BlockReason::*;
    let check = |allow: bool, blocking: &[&str], abandonable: &[&str]| CheckResult {
        status: "PreCheckComplete".into(),
        allow_delete: allow,
        blocking: blocking.iter().map(|c| item(c)).collect(),
        abandonable: abandonable.iter().map(|c| item(c)).collect(),
    };
    let waived = vec!["SP_fc".to_string()];
    let none: Vec<ClaimWaiter> = vec![];
    type Row = (
        CheckResult,
        Vec<ClaimWaiter>,
        Result<Vec<&'static str>, BlockReason>,
    );
    let rows: Vec<Row> = vec![
        (check(true, &[], &[]), none.clone(), Ok(vec![])),
        (
            check(false, &["NON_SP_efc"], &[]),
            none.clone(),
            Err(DeletionBlocked),
        ),
        (
            check(false, &["NON_SP_efc"], &["SP_fc"]),
            none.clone(),
            Err(DeletionBlocked),
        ),
        (check(false, &[], &["SP_fc"]), none.clone(), Ok(vec!["SP_fc"])),
        (
            check(false, &[], &["SP_fc", "SP_oss"]),
            none.clone(),
            Err(AbandonableChecksNotWaived),
        ),
        (check(false, &[], &[]), none.clone(), Err(DeletionBlocked)),
        (check(true, &[], &[]), vec![waiter(Mode::Delete)], Ok(vec![])),
        (
            check(true, &[], &[]),
            vec![waiter(Mode::PurgeRam)],
            Err(ConflictingAccountDeletion),
        ),
        (
            check(true, &[], &[]),
            vec![waiter(Mode::Plan)],
            Err(ConflictingAccountDeletion),
        ),
        // What ResourceManager refuses is reported before what another object wants.
        (
            check(false, &["NON_SP_efc"], &[]),
            vec![waiter(Mode::Plan)],
            Err(DeletionBlocked),
        ),
    ];
    for (i, (c, w, want)) in rows.iter().enumerate() {
        let got = deletion(ID, c, &waived, w).map_err(|b| b.reason);
        let want = want
            .clone()
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, want, "row {i}");
    }
    let (ok, why, _) = deletion_allowed(&check(false, &[], &["SP_fc", "SP_oss"]), &waived);
    assert_eq!((ok, why), (false, "AbandonableChecksNotWaived"));
    let (ok, why, _) = deletion_allowed(&check(true, &[], &["SP_fc"]), &waived);
    assert_eq!((ok, why), (true, "Allowed"));
    let (ok, why, _) = deletion_allowed(&check(false, &["x"], &[]), &waived);
    assert_eq!((ok, why), (false, "DeletionBlocked"));
}

#[test]
fn failed_calls_are_retried_or_block_with_a_reason_that_says_what_to_fix() {
    use BlockReason::*;
    let rows = [
        (
            ErrorClass::Throttled,
            "Throttling.User",
            Failure::RetryWithBackoff,
        ),
        (
            ErrorClass::Transient,
            "ServiceUnavailable",
            Failure::RetryWithBackoff,
        ),
        (
            ErrorClass::InvalidInput,
            "NotSupportedOperation.CheckingAccount",
            Failure::RetrySoon,
        ),
        (ErrorClass::Other, "UnknownError.Account", Failure::RetrySoon),
        (
            ErrorClass::Auth,
            "SignatureDoesNotMatch",
            Failure::Block(CredentialsRejected),
        ),
        (
            ErrorClass::Auth,
            "InvalidAccessKeyId.NotFound",
            Failure::Block(CredentialsRejected),
        ),
        (
            ErrorClass::Auth,
            "InvalidSecurityToken.Expired",
            Failure::Block(CredentialsRejected),
        ),
        (ErrorClass::Auth, "NoPermission", Failure::Block(PermissionDenied)),
        (
            ErrorClass::Auth,
            "Forbidden.RAM",
            Failure::Block(PermissionDenied),
        ),
        (
            ErrorClass::InvalidInput,
            "InvalidParameter",
            Failure::Block(DeleteAccountRejected),
        ),
        (
            ErrorClass::NotFound,
            "EntityNotExist.Role",
            Failure::Block(DeleteAccountRejected),
        ),
    ];
    for (i, (class, code, want)) in rows.iter().enumerate() {
        assert_eq!(failure(*class, code, DeleteAccountRejected), *want, "row {i}");
    }
    let retried = [
        (ErrorClass::Throttled, true),
        (ErrorClass::Transient, true),
        (ErrorClass::Conflict, true),
        (ErrorClass::Auth, false),
        (ErrorClass::InvalidInput, false),
        (ErrorClass::Other, false),
    ];
    for (class, want) in retried {
        assert_eq!(plan_call_retried(class), want, "{class}");
    }
}

#[test]
fn a_requested_deletion_ends_deleted_failed_or_waits() {
    let ds = |status: &str, kind: Option<i64>| DeletionStatusInfo {
        status: status.into(),
        deletion_type: kind,
        create_time: Some("2026-12-01T00:00:00Z".into()),
        deletion_time: None,
        fail_reasons: vec![FailReason {
            name: "Billing".into(),
            description: "unpaid".into(),
        }],
    };
    let estimate = Some(("2027-01-15T00:00:00Z".to_string(), true));
    let rows = [
        (ds("Success", Some(0)), DeletionStep::Deleted),
        (ds("Success", Some(1)), DeletionStep::Deleted),
        (
            ds("DeleteFailed", Some(0)),
            DeletionStep::Failed(vec!["Billing: unpaid".into()]),
        ),
        (
            ds("CheckFailed", Some(1)),
            DeletionStep::Failed(vec!["Billing: unpaid".into()]),
        ),
        (ds("Deleting", Some(0)), DeletionStep::Deleting),
        (ds("Checking", None), DeletionStep::Deleting),
        (ds("Deleting", Some(1)), DeletionStep::Silence(estimate.clone())),
        (ds("SomethingNew", Some(1)), DeletionStep::Silence(estimate)),
    ];
    for (i, (d, want)) in rows.iter().enumerate() {
        assert_eq!(&deletion_step(d), want, "row {i}");
    }
    let given = DeletionStatusInfo {
        deletion_time: Some("2027-01-10T08:00:00Z".into()),
        ..ds("Deleting", Some(1))
    };
    assert_eq!(
        silence_end(&given),
        Some(("2027-01-10T08:00:00Z".to_string(), false)),
        "the service's date wins over the estimate"
    );
}

#[test]
fn every_block_reason_is_named_by_its_variant() {
    for r in BlockReason::ALL {
        assert_eq!(format!("{r:?}"), r.as_str());
    }
}

#[test]
fn slr_tasks_in_flight() {
    let rows = [
        ("IN_PROGRESS", true),
        ("NOT_STARTED", true),
        ("UNKNOWN", true),
        ("SUCCEEDED", false),
        ("FAILED", false),
    ];
    for (s, want) in rows {
        assert_eq!(slr_in_flight(s), want, "{s}");
    }
}
