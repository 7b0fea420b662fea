"""DeleteServiceLinkedRole: a task that succeeds and one that fails because the role is in use (with its
RoleUsages), polled with ResourceManager GetServiceLinkedRoleDeletionStatus."""

from __future__ import annotations

import re

from conftest import account, assume, expect_error

AID = account("conf-ram")["accountId"]


def _poll(flavour, creds, task_id):
    return flavour.call("rm", creds, "GetServiceLinkedRoleDeletionStatus", {"DeletionTaskId": task_id}).body


def test_slr_deletion_succeeds(flavour, mgmt, emu):
    creds, _ = assume(flavour, mgmt, AID)
    out = flavour.call("ram", creds, "DeleteServiceLinkedRole", {"RoleName": "AliyunServiceRoleForECS"}).body
    task = out.deletion_task_id
    assert task and 26 <= len(task) <= 255
    assert re.match(r"^task/acs-service-role/ecs\.aliyuncs\.com/AliyunServiceRoleForECS/", task), task
    first = _poll(flavour, creds, task)
    assert first.status in ("NOT_STARTED", "IN_PROGRESS")
    emu.advance(3)
    done = _poll(flavour, creds, task)
    assert done.status == "SUCCEEDED"
    expect_error(lambda: flavour.call("ram", creds, "GetRole", {"RoleName": "AliyunServiceRoleForECS"}),
                 "EntityNotExist.Role", 404)


def test_slr_deletion_fails_when_in_use(flavour, mgmt, emu):
    creds, _ = assume(flavour, mgmt, AID)
    out = flavour.call("rm", creds, "DeleteServiceLinkedRole", {"RoleName": "AliyunServiceRoleForHDR"}).body
    task = out.deletion_task_id
    assert task.startswith("task/acs-service-role/hdr.aliyuncs.com/AliyunServiceRoleForHDR/")
    emu.advance(3)
    st = _poll(flavour, creds, task)
    assert st.status == "FAILED"
    assert "in use" in st.reason.message, st.reason.message
    usages = st.reason.role_usages.role_usage
    assert [u.region for u in usages] == ["global"]
    assert usages[0].resources.resource == [
        "acs:hdr:cn-hangzhou:2000000000000001:site/s-1", "acs:hdr:cn-hangzhou:2000000000000001:site/s-2"]
    role = flavour.call("ram", creds, "GetRole", {"RoleName": "AliyunServiceRoleForHDR"}).body.role
    assert role.is_service_linked_role is True
    assert role.latest_deletion_task and role.latest_deletion_task.deletion_task_id == task


def test_slr_errors(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    expect_error(lambda: flavour.call("rm", creds, "DeleteServiceLinkedRole", {"RoleName": "r-plain"}),
                 "EntityNotExist.ServiceLinkedRole", 404)
    expect_error(lambda: flavour.call("rm", creds, "DeleteServiceLinkedRole", {"RoleName": "AliyunServiceRoleForNothing"}),
                 "EntityNotExist.Role", 404)
    expect_error(lambda: _poll(flavour, creds, "short"), "InvalidParameter.DeletionTaskId.Length", 400)
    expect_error(lambda: _poll(flavour, creds, "task/acs-service-role/ecs.aliyuncs.com/AliyunServiceRoleForECS/00000000-0000-0000-0000-000000000000"),
                 "EntityNotExist.ServiceLinkedRole.DeletionTask", 404)
