"""Build state with Create*/Attach*/Add* calls, hit the conflicts on it, and empty the member's RAM in
dependency order (alibaba-api.md §4.4) through the STS token, driven only by what the lists return."""

from __future__ import annotations

from conftest import ACCESS_ROLE, account, assume, expect_error, walk_marker
from sdk import ApiError

A = account("conf-ram")
AID = A["accountId"]

DOC = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}'
DOC2 = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:Get*","Resource":"*"}]}'
TRUST = '{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["acs:ram::1000000000000001:root"]}}],"Version":"1"}'


def test_build_state_with_create_calls(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    ram = lambda action, **p: flavour.call("ram", creds, action, p).body  # noqa: E731

    u = ram("CreateUser", UserName="carol", DisplayName="Carol").user
    assert u.user_name == "carol" and u.display_name == "Carol" and u.user_id
    expect_error(lambda: ram("CreateUser", UserName="carol"), "EntityAlreadyExists.User", 409)
    g = ram("CreateGroup", GroupName="ops").group
    assert g.group_name == "ops"
    ram("AddUserToGroup", UserName="carol", GroupName="ops")
    ak = ram("CreateAccessKey", UserName="carol").access_key
    assert ak.access_key_id and ak.access_key_secret and ak.status == "Active"
    lp = ram("CreateLoginProfile", UserName="carol", Password="Conf0rmance!Pass", PasswordResetRequired=False).login_profile
    assert lp.user_name == "carol"
    dev = ram("CreateVirtualMFADevice", VirtualMFADeviceName="carol-mfa").virtual_mfadevice
    assert dev.serial_number == f"acs:ram::{AID}:mfa/carol-mfa" and dev.base_32string_seed
    ram("BindMFADevice", UserName="carol", SerialNumber=dev.serial_number,
        AuthenticationCode1="123456", AuthenticationCode2="654321")
    p = ram("CreatePolicy", PolicyName="ops-policy", PolicyDocument=DOC, Description="conformance").policy
    assert p.policy_name == "ops-policy" and p.default_version == "v1" and p.policy_type == "Custom"
    v = ram("CreatePolicyVersion", PolicyName="ops-policy", PolicyDocument=DOC2, SetAsDefault=True).policy_version
    assert v.version_id == "v2" and v.is_default_version is True
    ram("AttachPolicyToUser", UserName="carol", PolicyName="ops-policy", PolicyType="Custom")
    ram("AttachPolicyToGroup", GroupName="ops", PolicyName="ops-policy", PolicyType="Custom")
    r = ram("CreateRole", RoleName="ops-role", AssumeRolePolicyDocument=TRUST).role
    assert r.role_name == "ops-role" and r.arn.lower() == f"acs:ram::{AID}:role/ops-role"
    ram("AttachPolicyToRole", RoleName="ops-role", PolicyName="ops-policy", PolicyType="Custom")

    ents = ram("ListEntitiesForPolicy", PolicyName="ops-policy", PolicyType="Custom")
    assert [x.user_name for x in ents.users.user] == ["carol"]
    assert [x.group_name for x in ents.groups.group] == ["ops"]
    assert [x.role_name for x in ents.roles.role] == ["ops-role"]

    # the conflicts on what was just built
    err = expect_error(lambda: ram("DeleteUser", UserName="carol"), "DeleteConflict.User.Group", 409)
    assert err.code.startswith("DeleteConflict.User.")
    expect_error(lambda: ram("DeleteGroup", GroupName="ops"), "DeleteConflict.Group.User", 409)
    expect_error(lambda: ram("DeleteRole", RoleName="ops-role"), "DeleteConflict.Role.Policy", 409)
    expect_error(lambda: ram("DeletePolicy", PolicyName="ops-policy"), "DeleteConflict.Policy.User", 409)
    expect_error(lambda: ram("DeleteVirtualMFADevice", SerialNumber=dev.serial_number),
                 "DeleteConflict.VirtualMFADevice.User", 409)
    expect_error(lambda: ram("DeletePolicyVersion", PolicyName="ops-policy", VersionId="v2"),
                 "DeleteConflict.Policy.Version.Default", 409)


def _all(flavour, product, creds, action, container, item, params=None):
    items, _, _ = walk_marker(flavour, product, creds, action, container, item, params, page_size=100)
    return items


def test_cleanup_in_dependency_order_to_empty(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    ram = lambda action, **p: flavour.call("ram", creds, action, p).body  # noqa: E731
    ims = lambda action, **p: flavour.call("ims", creds, action, p).body  # noqa: E731

    custom = [p["PolicyName"] for p in _all(flavour, "ram", creds, "ListPolicies", "Policies", "Policy", {"PolicyType": "Custom"})]
    # 1. non-default policy versions
    for name in custom:
        for v in ram("ListPolicyVersions", PolicyName=name, PolicyType="Custom").policy_versions.policy_version:
            if not v.is_default_version:
                ram("DeletePolicyVersion", PolicyName=name, VersionId=v.version_id)
    # 1b. service credentials, listed account-wide in one walk (alibaba-api.md §10.8)
    token = None
    while True:
        b = ims("ListServiceCredentials", AllUsers=True, **({"NextToken": token} if token else {}))
        for c in b.service_credentials:
            ims("DeleteServiceCredential", ServiceCredentialId=c.service_credential_id, UserPrincipalName=c.user_principal_name)
        if not b.is_truncated:
            break
        token = b.next_token
    # 2. users and everything hanging off them
    for u in _all(flavour, "ram", creds, "ListUsers", "Users", "User"):
        name = u["UserName"]
        for p in ram("ListPoliciesForUser", UserName=name).policies.policy or []:
            ram("DetachPolicyFromUser", UserName=name, PolicyName=p.policy_name, PolicyType=p.policy_type)
        for g in ram("ListGroupsForUser", UserName=name).groups.group or []:
            ram("RemoveUserFromGroup", UserName=name, GroupName=g.group_name)
        for k in ram("ListAccessKeys", UserName=name).access_keys.access_key or []:
            ram("DeleteAccessKey", UserName=name, UserAccessKeyId=k.access_key_id)
        try:
            ram("GetLoginProfile", UserName=name)
            ram("DeleteLoginProfile", UserName=name)
        except ApiError as e:
            assert e.code == "EntityNotExist.User.LoginProfile" and e.status == 404, e
        try:
            ram("GetUserMFAInfo", UserName=name)
            ram("UnbindMFADevice", UserName=name)
        except ApiError as e:
            assert e.code == "EntityNotExist.User.MFADevice" and e.status == 404, e
        ram("DeleteUser", UserName=name)
    # 3. virtual MFA devices (all unbound now)
    for d in ram("ListVirtualMFADevices").virtual_mfadevices.virtual_mfadevice or []:
        assert d.user is None, f"{d.serial_number} still bound"
        ram("DeleteVirtualMFADevice", SerialNumber=d.serial_number)
    # 4. groups
    for g in _all(flavour, "ram", creds, "ListGroups", "Groups", "Group"):
        for p in ram("ListPoliciesForGroup", GroupName=g["GroupName"]).policies.policy or []:
            ram("DetachPolicyFromGroup", GroupName=g["GroupName"], PolicyName=p.policy_name, PolicyType=p.policy_type)
        ram("DeleteGroup", GroupName=g["GroupName"])
    # 5. roles (the access role we are using stays; service-linked roles are test_service_linked_roles.py)
    for r in _all(flavour, "ram", creds, "ListRoles", "Roles", "Role"):
        name = r["RoleName"]
        if name == ACCESS_ROLE:
            continue
        if ram("GetRole", RoleName=name).role.is_service_linked_role:
            continue
        for p in ram("ListPoliciesForRole", RoleName=name).policies.policy or []:
            ram("DetachPolicyFromRole", RoleName=name, PolicyName=p.policy_name, PolicyType=p.policy_type)
        ram("DeleteRole", RoleName=name)
    # 6. custom policies
    for name in custom:
        ents = ram("ListEntitiesForPolicy", PolicyName=name, PolicyType="Custom")
        assert not (ents.users and ents.users.user) and not (ents.groups and ents.groups.group)
        ram("DeletePolicy", PolicyName=name)
    # 7. IMS: identity providers, recycle bin, default domain
    for p in _all(flavour, "ims", creds, "ListSAMLProviders", "SAMLProviders", "SAMLProvider"):
        ims("DeleteSAMLProvider", SAMLProviderName=p["SAMLProviderName"])
    for p in _all(flavour, "ims", creds, "ListOIDCProviders", "OIDCProviders", "OIDCProvider"):
        ims("DeleteOIDCProvider", OIDCProviderName=p["OIDCProviderName"])
    # OAuth applications: installed external ones, provisioned ServerApps, secrets, applications
    for i in ims("ListApplicationProvisionInfos", SourceType="external").application_provision_infos.application_provision_info:
        ims("DeprovisionExternalApplication", AppId=i.app_id)
    for i in ims("ListApplicationProvisionInfos", SourceType="inner").application_provision_infos.application_provision_info:
        ims("DeprovisionApplication", AppId=i.app_id)
    for a in ims("ListApplications").applications.application:
        for sec in ims("ListAppSecretIds", AppId=a.app_id).app_secrets.app_secret or []:
            ims("DeleteAppSecret", AppId=a.app_id, AppSecretId=sec.app_secret_id)
        ims("DeleteApplication", AppId=a.app_id)
    for u in _all(flavour, "ims", creds, "ListUsersInRecycleBin", "Users", "User"):
        for k in ims("ListAccessKeysInRecycleBin", UserId=u["UserId"]).access_keys.access_key or []:
            ims("DeleteAccessKeyInRecycleBin", UserId=u["UserId"], UserAccessKeyId=k.access_key_id)
        ims("DeleteUserInRecycleBin", UserId=u["UserId"])
    out = ims("SetDefaultDomain", DefaultDomainName=f"{AID}.onaliyun.com")
    assert out.default_domain_name == f"{AID}.onaliyun.com"

    # RAM is empty
    assert _all(flavour, "ram", creds, "ListUsers", "Users", "User") == []
    assert _all(flavour, "ims", creds, "ListUsers", "Users", "User", {"Status": "active,freeze"}) == []
    assert _all(flavour, "ram", creds, "ListGroups", "Groups", "Group") == []
    assert _all(flavour, "ram", creds, "ListPolicies", "Policies", "Policy", {"PolicyType": "Custom"}) == []
    roles = {r["RoleName"] for r in _all(flavour, "ram", creds, "ListRoles", "Roles", "Role")}
    assert roles - {ACCESS_ROLE} <= {"AliyunServiceRoleForECS", "AliyunServiceRoleForHDR"}
    assert not ram("ListVirtualMFADevices").virtual_mfadevices.virtual_mfadevice
    assert _all(flavour, "ims", creds, "ListSAMLProviders", "SAMLProviders", "SAMLProvider") == []
    assert _all(flavour, "ims", creds, "ListOIDCProviders", "OIDCProviders", "OIDCProvider") == []
    assert _all(flavour, "ims", creds, "ListUsersInRecycleBin", "Users", "User") == []
    assert ims("GetDefaultDomain").default_domain_name == f"{AID}.onaliyun.com"
    assert not ims("ListApplications").applications.application
    assert not ims("ListExternalApplications").external_applications.external_application
    assert not ims("ListServiceCredentials", AllUsers=True).service_credentials
    summary = ims("GetAccountSummary").summary_map
    assert (summary.users, summary.groups, summary.policies, summary.mfadevices) == (0, 0, 0, 0)
    # the empty wrapper is there, as the SDK models expect
    body = flavour.call("ram", creds, "ListUsers", {}).raw
    assert body.get("Users") == {"User": []}, body
