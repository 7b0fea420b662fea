"""Filters as the service applies them: to the whole listing before paging (a match behind many
non-matching items is found on the first page), tags filtering for real (RAM ListRoles/ListPolicies
`Tag` as JSON, IMS ListUsers and ResourceManager ListAccounts `Tag.N.*`), and a filter the emulator
does not implement answered with an error instead of everything. Also: every classified action is
answered (GetPolicyVersion, UpdateUser)."""

from __future__ import annotations

from conftest import account, assume, expect_error, walk_marker

A = account("conf-ram")
AID = A["accountId"]
BULK = account("conf-bulk")["accountId"]
DOMAIN = A["ram"]["defaultDomain"]


def test_recycle_bin_filter_finds_a_match_on_a_later_page(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, BULK)
    upn = f"gone-0120@{BULK}.onaliyun.com"
    # 120 users in the bin, the match is the last one: one call with the default MaxItems (100) finds it
    r = flavour.call("ims", creds, "ListUsersInRecycleBin", {"Filter": f"UserPrincipalName eq {upn}"})
    users = r.body.users.user
    assert [u.user_principal_name for u in users] == [upn]
    assert r.body.is_truncated is False
    # with one-item pages the walk ends after the match, never on an empty page
    items, pages, _ = walk_marker(flavour, "ims", creds, "ListUsersInRecycleBin", "Users", "User",
                                  {"Filter": f"UserPrincipalName eq {upn}"}, page_size=1)
    assert [u["UserPrincipalName"] for u in items] == [upn] and pages == 1
    expect_error(lambda: flavour.call("ims", creds, "ListUsersInRecycleBin", {"Filter": "DisplayName eq x"}),
                 "InvalidParameter.Filter", 400)


def test_ram_tag_filters(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, BULK)
    r = flavour.call("ram", creds, "ListRoles", {"MaxItems": 5, "Tag": [{"Key": "env", "Value": "late"}]}).body
    assert [x.role_name for x in r.roles.role] == ["late-role"] and r.is_truncated is False
    assert [(t.tag_key, t.tag_value) for t in r.roles.role[0].tags.tag] == [("env", "late")]
    r = flavour.call("ram", creds, "ListPolicies",
                     {"PolicyType": "Custom", "MaxItems": 5, "Tag": [{"Key": "env", "Value": "late"}]}).body
    assert [x.policy_name for x in r.policies.policy] == ["late-policy"]
    # without a type, system policies (untagged) are filtered out too
    r = flavour.call("ram", creds, "ListPolicies", {"Tag": [{"Key": "env"}]}).body
    assert [x.policy_name for x in r.policies.policy] == ["late-policy"]
    r = flavour.call("ram", creds, "ListRoles", {"Tag": [{"Key": "env", "Value": "other"}]}).body
    assert not r.roles.role
    # the conf-ram member: app-role and app-policy carry env=prod
    creds, _ = assume(flavour, mgmt, AID)
    r = flavour.call("ram", creds, "ListRoles", {"Tag": [{"Key": "env", "Value": "prod"}]}).body
    assert [x.role_name for x in r.roles.role] == ["app-role"]


def test_ims_user_tag_filter_lists_both_states(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, BULK)
    r = flavour.call("ims", creds, "ListUsers", {"MaxItems": 5, "Tag": [{"Key": "team", "Value": "late"}]}).body
    users = r.users.user
    assert [u.user_principal_name for u in users] == [f"late-user@{BULK}.onaliyun.com"]
    assert users[0].status == "freeze", "with a Tag filter frozen users are listed too"
    assert [(t.tag_key, t.tag_value) for t in users[0].tags.tag] == [("team", "late")]
    creds, _ = assume(flavour, mgmt, AID)
    r = flavour.call("ims", creds, "ListUsers", {"Tag": [{"Key": "team", "Value": "core"}]}).body
    assert sorted(u.user_principal_name for u in r.users.user) == [f"alice@{DOMAIN}", f"u-frozen@{DOMAIN}"]


def test_list_accounts_tag_filter(flavour, mgmt):
    silence = account("conf-silence")["accountId"]
    r = flavour.call("rm", mgmt, "ListAccounts",
                     {"PageSize": 1, "IncludeTags": True, "Tag": [{"Key": "env", "Value": "staging"}]}).body
    assert r.total_count == 1
    assert [a.account_id for a in r.accounts.account] == [silence]
    assert sorted((t.key, t.value) for t in r.accounts.account[0].tags.tag) == [("cost-center", "42"), ("env", "staging")]
    r = flavour.call("rm", mgmt, "ListAccounts", {"Tag": [{"Key": "env", "Value": "nowhere"}]}).body
    assert r.total_count == 0 and not r.accounts.account


def test_unimplemented_filters_are_refused(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    # (the product models drop parameters they do not know, so these go through the generic call)
    expect_error(lambda: flavour.call_generic("ram", creds, "ListUsers", {"QueryKeyword": "ali"}),
                 "InvalidParameter.Unsupported", 400)
    expect_error(lambda: flavour.call_generic("rm", mgmt, "ListAccounts", {"QueryKeyword": "conf"}),
                 "InvalidParameter.Unsupported", 400)
    expect_error(lambda: flavour.call_generic("ram", creds, "ListRoles", {"Tag.1.Key": "env"}),
                 "InvalidParameter.Unsupported", 400)
    ok = flavour.call_generic("ims", creds, "ListUsers", {"Tag.1.Key": "team", "Tag.1.Value": "core"}).raw
    assert len(ok["Users"]["User"]) == 2
    expect_error(lambda: flavour.call_generic("ram", creds, "ListRoles", {"Tag": "env=prod"}), "InvalidParameter.Tag", 400)


def test_get_policy_version_and_update_user_are_answered(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    ram = lambda action, **p: flavour.call("ram", creds, action, p).body  # noqa: E731
    v = ram("GetPolicyVersion", PolicyName="app-policy", PolicyType="Custom", VersionId="v3").policy_version
    assert v.version_id == "v3" and v.is_default_version is True and v.policy_document
    expect_error(lambda: ram("GetPolicyVersion", PolicyName="app-policy", PolicyType="Custom", VersionId="v9"),
                 "EntityNotExist.Policy.Version", 404)
    before = ram("GetUser", UserName="u-plain").user.user_id
    u = ram("UpdateUser", UserName="u-plain", NewUserName="u-plain2", NewDisplayName="Plain Two").user
    assert u.user_name == "u-plain2" and u.user_id == before and u.display_name == "Plain Two"
    expect_error(lambda: ram("GetUser", UserName="u-plain"), "EntityNotExist.User", 404)
    # its service credential follows the rename
    creds_list = flavour.call("ims", creds, "ListServiceCredentials",
                              {"UserPrincipalName": f"u-plain2@{DOMAIN}"}).body.service_credentials
    assert [c.service_credential_id for c in creds_list] == ["SCConfPlain0000000001"]
