"""ResourceManager member deletion: CheckAccountDelete, GetAccountDeletionCheckResult, DeleteAccount with
AbandonableCheckId, GetAccountDeletionStatus -- to Success, through a silence period, and to a blocked
check. Time moves through the emulator's admin clock, never by sleeping."""

from __future__ import annotations

import re

from conftest import account, expect_error

OK = account("conf-delete-ok")["accountId"]
BLOCKED = account("conf-blocked")["accountId"]
SILENCE = account("conf-silence")["accountId"]
INVITED = account("conf-invited")["accountId"]
RM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _rm(flavour, mgmt):
    return lambda action, **p: flavour.call("rm", mgmt, action, p).body


def _checked(emu, rm, account_id):
    expect_error(lambda: rm("GetAccountDeletionCheckResult", AccountId=account_id), "EntityNotExists.CheckAccount", 409)
    body = rm("CheckAccountDelete", AccountId=account_id)
    assert body.request_id
    info = rm("GetAccountDeletionCheckResult", AccountId=account_id).account_deletion_check_result_info
    assert info.status == "PreChecking"
    expect_error(lambda: rm("DeleteAccount", AccountId=account_id), "NotSupportedOperation.CheckingAccount", 409)
    emu.advance(3)
    info = rm("GetAccountDeletionCheckResult", AccountId=account_id).account_deletion_check_result_info
    assert info.status == "PreCheckComplete"
    assert info.allow_delete in ("true", "false"), f"AllowDelete must be the string 'true'/'false', got {info.allow_delete!r}"
    return info


def test_deletion_to_success(flavour, mgmt, emu):
    rm = _rm(flavour, mgmt)
    info = _checked(emu, rm, OK)
    assert not info.not_allow_reason
    assert [(c.check_id, c.check_name) for c in info.abandonable_checks] == [("NON_SP_cs", "Container Service for Kubernetes")]
    assert info.abandonable_checks[0].description

    out = rm("DeleteAccount", AccountId=OK, AbandonableCheckId=["NON_SP_cs"])
    assert out.deletion_type == "0", f"DeletionType must be the string '0', got {out.deletion_type!r}"
    st = rm("GetAccountDeletionStatus", AccountId=OK).rd_account_deletion_status
    assert st.account_id == OK and st.status == "Deleting" and st.deletion_type == "0"
    assert RM_TIME.match(st.create_time), st.create_time
    expect_error(lambda: rm("DeleteAccount", AccountId=OK, AbandonableCheckId=["NON_SP_cs"]),
                 "NotSupportedOperation.DeletingAccount", 409)
    emu.advance(4)
    st = rm("GetAccountDeletionStatus", AccountId=OK).rd_account_deletion_status
    assert st.status == "Success"
    assert st.create_time.endswith("+08:00") and st.deletion_time.endswith("+08:00"), (st.create_time, st.deletion_time)
    assert RM_TIME.match(st.deletion_time) and st.deletion_time >= st.create_time
    assert not st.fail_reason_list
    expect_error(lambda: rm("GetAccount", AccountId=OK), "EntityNotExists.Account", 404)


def test_deletion_with_silence_period(flavour, mgmt, emu):
    rm = _rm(flavour, mgmt)
    info = _checked(emu, rm, SILENCE)
    assert info.allow_delete == "true" and not info.not_allow_reason and not info.abandonable_checks
    out = rm("DeleteAccount", AccountId=SILENCE)
    assert out.deletion_type == "1"
    emu.advance(10)
    st = rm("GetAccountDeletionStatus", AccountId=SILENCE).rd_account_deletion_status
    assert st.status == "Deleting" and st.deletion_type == "1"
    emu.advance(25)
    st = rm("GetAccountDeletionStatus", AccountId=SILENCE).rd_account_deletion_status
    assert st.status == "Success"


def test_deletion_blocked_by_check(flavour, mgmt, emu):
    rm = _rm(flavour, mgmt)
    info = _checked(emu, rm, BLOCKED)
    assert info.allow_delete == "false"
    assert [(c.check_id, c.check_name) for c in info.not_allow_reason] == [("NON_SP_efc", "Enterprise finance")]
    assert info.not_allow_reason[0].description
    assert [c.check_id for c in info.abandonable_checks] == ["NON_SP_cs"]
    # the account is still there and not being deleted
    assert rm("GetAccount", AccountId=BLOCKED).account.status == "CreateSuccess"


def test_deletion_refusals(flavour, mgmt):
    rm = _rm(flavour, mgmt)
    expect_error(lambda: rm("CheckAccountDelete", AccountId="12345"), "InvalidParameter.AccountId", 400)
    expect_error(lambda: rm("CheckAccountDelete", AccountId="2999999999999999"), "EntityNotExists.Account", 404)
    expect_error(lambda: rm("GetAccountDeletionStatus", AccountId=OK), "EntityNotExists.CheckAccount", 409)
    expect_error(lambda: rm("CheckAccountDelete", AccountId=INVITED), "MemberTypeError.DeleteAccount", 409)
