"""List every kind with page size 1, walk the Markers to the end and compare with the full list;
read every sub-resource of the seeded member and check the SDK's typed models."""

from __future__ import annotations

import re

import pytest

from conftest import ACCESS_ROLE, SEED, account, assume, walk_marker

A = account("conf-ram")
AID = A["accountId"]
RAM = A["ram"]
DOMAIN = RAM["defaultDomain"]


def names(items, key):
    return [i[key] for i in items]


def seed_names(kind):
    return {x["name"] for x in RAM[kind]}


# (product, action, container, item, name key, extra params, expected names: exact set or subset)
MARKER_KINDS = {
    "ram-users": ("ram", "ListUsers", "Users", "User", "UserName", {}, ("eq", seed_names("users"))),
    "ram-groups": ("ram", "ListGroups", "Groups", "Group", "GroupName", {}, ("eq", seed_names("groups"))),
    "ram-roles": ("ram", "ListRoles", "Roles", "Role", "RoleName", {},
                  ("sub", seed_names("roles") | {ACCESS_ROLE})),
    "ram-custom-policies": ("ram", "ListPolicies", "Policies", "Policy", "PolicyName", {"PolicyType": "Custom"},
                            ("eq", seed_names("policies"))),
    "ram-users-for-group": ("ram", "ListUsersForGroup", "Users", "User", "UserName", {"GroupName": "admins"},
                            ("eq", {"alice"})),
    "ims-users-all": ("ims", "ListUsers", "Users", "User", "UserPrincipalName", {"Status": "active,freeze"},
                      ("eq", {f"{n}@{DOMAIN}" for n in seed_names("users")})),
    "ims-users-active": ("ims", "ListUsers", "Users", "User", "UserPrincipalName", {},
                         ("eq", {f"{u['name']}@{DOMAIN}" for u in RAM["users"] if u.get("status", "active") == "active"})),
    "ims-groups": ("ims", "ListGroups", "Groups", "Group", "GroupName", {}, ("eq", seed_names("groups"))),
    "ims-saml": ("ims", "ListSAMLProviders", "SAMLProviders", "SAMLProvider", "SAMLProviderName", {},
                 ("eq", {x["name"] for x in RAM["samlProviders"]})),
    "ims-oidc": ("ims", "ListOIDCProviders", "OIDCProviders", "OIDCProvider", "OIDCProviderName", {},
                 ("eq", {x["name"] for x in RAM["oidcProviders"]})),
    "ims-virtual-mfa": ("ims", "ListVirtualMFADevices", "VirtualMFADevices", "VirtualMFADevice", "SerialNumber", {},
                        ("eq", {f"acs:ram::{AID}:mfa/{x['name']}" for x in RAM["virtualMfaDevices"]})),
    "ims-recycle-bin": ("ims", "ListUsersInRecycleBin", "Users", "User", "UserPrincipalName", {},
                        ("eq", {f"bob@{DOMAIN}"})),
}


@pytest.mark.parametrize("kind", list(MARKER_KINDS))
def test_list_page_size_1(flavour, mgmt, kind):
    product, action, container, item, key, params, (mode, expected) = MARKER_KINDS[kind]
    creds, _ = assume(flavour, mgmt, AID)
    paged, pages, bodies = walk_marker(flavour, product, creds, action, container, item, params, page_size=1)
    full, full_pages, _ = walk_marker(flavour, product, creds, action, container, item, params, page_size=100)
    assert full_pages == 1
    assert names(paged, key) == names(full, key), "page-size-1 walk differs from the full list (order or content)"
    assert len(set(names(full, key))) == len(full), "duplicates in the list"
    assert pages == max(len(full), 1), f"{pages} pages for {len(full)} items"
    got = set(names(full, key))
    if mode == "eq":
        assert got == expected
    else:
        assert expected <= got, f"missing {expected - got}"
    for b in bodies:
        assert b.request_id, "every body carries a RequestId"


def test_list_accounts_page_size_1(flavour, mgmt):
    seen, total, page = [], None, 1
    while True:
        r = flavour.call("rm", mgmt, "ListAccounts", {"PageNumber": page, "PageSize": 1})
        b = r.body
        assert b.page_number == page and b.page_size == 1
        assert isinstance(b.total_count, int)
        total = b.total_count if total is None else total
        assert b.total_count == total
        accs = b.accounts.account if b.accounts and b.accounts.account else []
        assert len(accs) <= 1
        seen.extend(accs)
        if page * 1 >= total:
            break
        page += 1
    assert len(seen) == total
    ids = [a.account_id for a in seen]
    assert len(set(ids)) == len(ids)
    members = {a["accountId"]: a for a in SEED["accounts"]}
    assert set(members) <= set(ids)
    for a in seen:
        if a.account_id in members:
            m = members[a.account_id]
            assert a.display_name == m["displayName"]
            assert a.type == m["type"]
            assert a.resource_directory_id == "rd-Cf0001"
    full = flavour.call("rm", mgmt, "ListAccounts", {"PageSize": 100}).body
    assert [a.account_id for a in full.accounts.account] == ids


def test_get_account_and_directory(flavour, mgmt):
    rd = flavour.call("rm", mgmt, "GetResourceDirectory").body.resource_directory
    assert rd.resource_directory_id == "rd-Cf0001"
    assert rd.root_folder_id == "r-Cf0001"
    assert rd.master_account_id == "1000000000000001"
    assert rd.member_deletion_status == "Enabled"
    acc = flavour.call("rm", mgmt, "GetAccount", {"AccountId": AID}).body.account
    assert acc.account_id == AID and acc.display_name == "conf-ram"
    assert acc.type == "ResourceAccount" and acc.status == "CreateSuccess"
    assert acc.resource_directory_path.startswith("rd-Cf0001/r-Cf0001")
    inv = flavour.call("rm", mgmt, "GetAccount", {"AccountId": account("conf-invited")["accountId"]}).body.account
    assert inv.type == "CloudAccount"


def test_user_sub_resources(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    call = lambda action, **p: flavour.call("ram", creds, action, p).body  # noqa: E731

    keys = call("ListAccessKeys", UserName="alice").access_keys.access_key
    assert [k.access_key_id for k in keys] == ["LTAI5tConfAlice000000001"]
    assert keys[0].status == "Active" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", keys[0].create_date)
    keys = call("ListAccessKeys", UserName="u-ak").access_keys.access_key
    assert sorted((k.access_key_id, k.status) for k in keys) == [
        ("LTAI5tConfUak00000000001", "Active"), ("LTAI5tConfUak00000000002", "Inactive")]

    groups = call("ListGroupsForUser", UserName="alice").groups.group
    assert [g.group_name for g in groups] == ["admins"]

    pols = call("ListPoliciesForUser", UserName="alice").policies.policy
    assert sorted((p.policy_name, p.policy_type) for p in pols) == [("ReadOnlyAccess", "System"), ("app-policy", "Custom")]
    pols = call("ListPoliciesForGroup", GroupName="g-policy").policies.policy
    assert sorted((p.policy_name, p.policy_type) for p in pols) == [("AliyunECSReadOnlyAccess", "System"), ("group-policy", "Custom")]
    pols = call("ListPoliciesForRole", RoleName="app-role").policies.policy
    assert [(p.policy_name, p.policy_type) for p in pols] == [("AdministratorAccess", "System")]

    lp = call("GetLoginProfile", UserName="alice").login_profile
    assert lp.user_name == "alice"
    mfa = call("GetUserMFAInfo", UserName="alice").mfadevice
    assert mfa.serial_number == f"acs:ram::{AID}:mfa/alice-mfa"

    vers = call("ListPolicyVersions", PolicyName="app-policy", PolicyType="Custom").policy_versions.policy_version
    assert [v.version_id for v in vers] == ["v1", "v2", "v3"]
    assert [v.is_default_version for v in vers] == [False, False, True]
    assert all(isinstance(v.policy_document, str) for v in vers)

    ents = call("ListEntitiesForPolicy", PolicyName="app-policy", PolicyType="Custom")
    assert [u.user_name for u in ents.users.user] == ["alice"]
    assert [g.group_name for g in ents.groups.group] == ["admins"]
    assert not (ents.roles and ents.roles.role)

    pol = [p for p in call("ListPolicies", PolicyType="Custom", MaxItems=100).policies.policy if p.policy_name == "app-policy"][0]
    assert pol.default_version == "v3" and pol.attachment_count == 2 and pol.policy_type == "Custom"

    devs = {d.serial_number: d for d in call("ListVirtualMFADevices").virtual_mfadevices.virtual_mfadevice}
    assert set(devs) == {f"acs:ram::{AID}:mfa/{n}" for n in ("alice-mfa", "umfa-dev", "orphan-mfa")}
    assert devs[f"acs:ram::{AID}:mfa/alice-mfa"].user.user_name == "alice"
    assert devs[f"acs:ram::{AID}:mfa/umfa-dev"].user.user_name == "u-mfa"
    assert devs[f"acs:ram::{AID}:mfa/orphan-mfa"].user is None

    role = call("GetRole", RoleName="AliyunServiceRoleForECS").role
    assert role.is_service_linked_role is True and role.role_name == "AliyunServiceRoleForECS"
    role = call("GetRole", RoleName="app-role").role
    assert role.is_service_linked_role is False
    assert role.arn.lower() == f"acs:ram::{AID}:role/app-role"
    ar = call("GetRole", RoleName=ACCESS_ROLE).role
    assert ar.max_session_duration == 3600 and isinstance(ar.max_session_duration, int)

    dom = flavour.call("ims", creds, "GetDefaultDomain").body
    assert dom.default_domain_name == DOMAIN

    oidc = {p.oidcprovider_name: p for p in flavour.call("ims", creds, "ListOIDCProviders").body.oidcproviders.oidcprovider}
    assert oidc["gitlab"].client_ids == "sts.aliyuncs.com,gitlab", "ClientIds is a comma-separated string"
    assert oidc["github"].issuer_url == "https://token.actions.githubusercontent.com"
    assert oidc["github"].arn == f"acs:ram::{AID}:oidc-provider/github"
