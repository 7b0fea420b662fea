"""Every DeleteConflict of RAM, each on an entity that has exactly that one dependency, as the SDK
exception's code and HTTP status; then the prerequisite is done and the delete succeeds."""

from __future__ import annotations

import pytest

from conftest import account, assume, expect_error

AID = account("conf-ram")["accountId"]


@pytest.fixture
def ram(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    return lambda action, **p: flavour.call("ram", creds, action, p).body


def test_user_conflicts_one_each(ram):
    cases = [
        ("u-group", "DeleteConflict.User.Group", lambda: ram("RemoveUserFromGroup", UserName="u-group", GroupName="team")),
        ("u-ak", "DeleteConflict.User.AccessKey", lambda: [
            ram("DeleteAccessKey", UserName="u-ak", UserAccessKeyId=k)
            for k in ("LTAI5tConfUak00000000001", "LTAI5tConfUak00000000002")]),
        ("u-login", "DeleteConflict.User.LoginProfile", lambda: ram("DeleteLoginProfile", UserName="u-login")),
        ("u-mfa", "DeleteConflict.User.MFADevice", lambda: ram("UnbindMFADevice", UserName="u-mfa")),
        ("u-policy", "DeleteConflict.User.Policy", lambda: ram(
            "DetachPolicyFromUser", UserName="u-policy", PolicyName="user-policy", PolicyType="Custom")),
    ]
    for user, code, fix in cases:
        expect_error(lambda: ram("DeleteUser", UserName=user), code, 409)
        fix()
        ram("DeleteUser", UserName=user)
        expect_error(lambda: ram("GetUser", UserName=user), "EntityNotExist.User", 404)


def test_user_with_every_dependency_resolves_in_turn(ram):
    """alice has all five; each answer names one prerequisite, doing it makes progress, and the
    sequence ends in a successful delete without repeating a code."""
    fixes = {
        "DeleteConflict.User.Group": lambda: ram("RemoveUserFromGroup", UserName="alice", GroupName="admins"),
        "DeleteConflict.User.AccessKey": lambda: ram("DeleteAccessKey", UserName="alice", UserAccessKeyId="LTAI5tConfAlice000000001"),
        "DeleteConflict.User.LoginProfile": lambda: ram("DeleteLoginProfile", UserName="alice"),
        "DeleteConflict.User.MFADevice": lambda: ram("UnbindMFADevice", UserName="alice"),
        "DeleteConflict.User.Policy": lambda: [
            ram("DetachPolicyFromUser", UserName="alice", PolicyName="ReadOnlyAccess", PolicyType="System"),
            ram("DetachPolicyFromUser", UserName="alice", PolicyName="app-policy", PolicyType="Custom")],
    }
    from sdk import ApiError
    seen = []
    for _ in range(6):
        try:
            ram("DeleteUser", UserName="alice")
            break
        except ApiError as e:
            assert e.code in fixes and e.status == 409, e
            assert e.code not in seen, f"{e.code} repeated after its fix"
            seen.append(e.code)
            fixes[e.code]()
    else:
        raise AssertionError("alice could not be deleted")
    assert sorted(seen) == sorted(fixes), f"not every dependency was reported: {seen}"


def test_group_conflicts(ram):
    expect_error(lambda: ram("DeleteGroup", GroupName="team"), "DeleteConflict.Group.User", 409)
    ram("RemoveUserFromGroup", UserName="u-group", GroupName="team")
    ram("DeleteGroup", GroupName="team")
    expect_error(lambda: ram("DeleteGroup", GroupName="g-policy"), "DeleteConflict.Group.Policy", 409)
    ram("DetachPolicyFromGroup", GroupName="g-policy", PolicyName="group-policy", PolicyType="Custom")
    expect_error(lambda: ram("DeleteGroup", GroupName="g-policy"), "DeleteConflict.Group.Policy", 409)
    ram("DetachPolicyFromGroup", GroupName="g-policy", PolicyName="AliyunECSReadOnlyAccess", PolicyType="System")
    ram("DeleteGroup", GroupName="g-policy")
    expect_error(lambda: ram("DeleteGroup", GroupName="g-policy"), "EntityNotExist.Group", 404)


def test_role_conflict(ram):
    expect_error(lambda: ram("DeleteRole", RoleName="app-role"), "DeleteConflict.Role.Policy", 409)
    ram("DetachPolicyFromRole", RoleName="app-role", PolicyName="AdministratorAccess", PolicyType="System")
    ram("DeleteRole", RoleName="app-role")
    expect_error(lambda: ram("GetRole", RoleName="app-role"), "EntityNotExist.Role", 404)


def test_policy_conflicts(ram):
    # attached to a user
    expect_error(lambda: ram("DeletePolicy", PolicyName="user-policy"), "DeleteConflict.Policy.User", 409)
    ram("DetachPolicyFromUser", UserName="u-policy", PolicyName="user-policy", PolicyType="Custom")
    ram("DeletePolicy", PolicyName="user-policy")
    # attached to a group
    expect_error(lambda: ram("DeletePolicy", PolicyName="group-policy"), "DeleteConflict.Policy.Group", 409)
    ram("DetachPolicyFromGroup", GroupName="g-policy", PolicyName="group-policy", PolicyType="Custom")
    ram("DeletePolicy", PolicyName="group-policy")
    # extra versions
    expect_error(lambda: ram("DeletePolicy", PolicyName="spare-policy"), "DeleteConflict.Policy.Version", 409)
    expect_error(lambda: ram("DeletePolicyVersion", PolicyName="spare-policy", VersionId="v2"),
                 "DeleteConflict.Policy.Version.Default", 409)
    ram("DeletePolicyVersion", PolicyName="spare-policy", VersionId="v1")
    expect_error(lambda: ram("DeletePolicyVersion", PolicyName="spare-policy", VersionId="v1"),
                 "EntityNotExist.Policy.Version", 404)
    vers = ram("ListPolicyVersions", PolicyName="spare-policy", PolicyType="Custom").policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in vers] == [("v2", True)]
    ram("DeletePolicy", PolicyName="spare-policy")
    expect_error(lambda: ram("DeletePolicy", PolicyName="spare-policy"), "EntityNotExist.Policy", 404)


def test_cascading_delete_removes_versions_not_attachments(ram):
    expect_error(lambda: ram("DeletePolicy", PolicyName="app-policy", CascadingDelete=True),
                 "DeleteConflict.Policy.User", 409)
    ram("DetachPolicyFromUser", UserName="alice", PolicyName="app-policy", PolicyType="Custom")
    expect_error(lambda: ram("DeletePolicy", PolicyName="app-policy", CascadingDelete=True),
                 "DeleteConflict.Policy.Group", 409)
    ram("DetachPolicyFromGroup", GroupName="admins", PolicyName="app-policy", PolicyType="Custom")
    ram("DeletePolicy", PolicyName="app-policy", CascadingDelete=True)   # v1, v2 go with it
    expect_error(lambda: ram("ListPolicyVersions", PolicyName="app-policy", PolicyType="Custom"),
                 "EntityNotExist.Policy", 404)


def test_bound_virtual_mfa_device(ram):
    serial = f"acs:ram::{AID}:mfa/umfa-dev"
    expect_error(lambda: ram("DeleteVirtualMFADevice", SerialNumber=serial), "DeleteConflict.VirtualMFADevice.User", 409)
    out = ram("UnbindMFADevice", UserName="u-mfa")
    assert out.mfadevice.serial_number == serial
    expect_error(lambda: ram("GetUserMFAInfo", UserName="u-mfa"), "EntityNotExist.User.MFADevice", 404)
    ram("DeleteVirtualMFADevice", SerialNumber=serial)
    expect_error(lambda: ram("DeleteVirtualMFADevice", SerialNumber=serial), "EntityNotExist.VirtualMFADevice", 404)
    ram("DeleteVirtualMFADevice", SerialNumber=f"acs:ram::{AID}:mfa/orphan-mfa")   # never bound


def test_absent_sub_resources_are_404(ram):
    expect_error(lambda: ram("GetLoginProfile", UserName="u-plain"), "EntityNotExist.User.LoginProfile", 404)
    expect_error(lambda: ram("GetUserMFAInfo", UserName="u-plain"), "EntityNotExist.User.MFADevice", 404)
    expect_error(lambda: ram("DeleteUser", UserName="nobody"), "EntityNotExist.User", 404)
    expect_error(lambda: ram("DeleteAccessKey", UserName="u-plain", UserAccessKeyId="LTAI5tNoSuchKey000000001"),
                 "EntityNotExist.User.AccessKey", 404)
    expect_error(lambda: ram("RemoveUserFromGroup", UserName="u-plain", GroupName="team"), "EntityNotExist.User.Group", 404)
    expect_error(lambda: ram("DetachPolicyFromUser", UserName="u-plain", PolicyName="user-policy", PolicyType="Custom"),
                 "EntityNotExist.User.Policy", 404)
    expect_error(lambda: ram("ListPolicies", PolicyType="Bogus"), "InvalidParameter.PolicyType", 400)
