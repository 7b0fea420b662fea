"""AssumeRole from the management key into a member's ResourceDirectoryAccountAccessRole and use the
STS token; the token is bound to the member and to its key."""

from __future__ import annotations

import datetime
import re

from conftest import ACCESS_ROLE, MGMT_ID, account, assume, expect_error
from sdk import Creds

AID = account("conf-ram")["accountId"]


def test_assume_role_and_use_token(flavour, mgmt):
    creds, r = assume(flavour, mgmt, AID, session="conf-session")
    c = r.body.credentials
    assert c.access_key_id.startswith("STS."), c.access_key_id
    assert c.access_key_secret and c.security_token
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", c.expiration), c.expiration
    exp = datetime.datetime.strptime(c.expiration, "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.utcnow() + datetime.timedelta(seconds=0)
    assert 3000 < (exp - now).total_seconds() <= 3700, "default DurationSeconds is 3600"
    u = r.body.assumed_role_user
    assert u.arn.lower() == f"acs:ram::{AID}:role/{ACCESS_ROLE.lower()}/conf-session"
    assert u.assumed_role_id.endswith(":conf-session")

    me = flavour.call("sts", creds, "GetCallerIdentity").body
    assert me.account_id == AID
    assert me.identity_type == "AssumedRoleUser"
    assert me.arn.lower() == u.arn.lower()

    # RAM calls with the token act on the member, not on the management account
    users = flavour.call("ram", creds, "ListUsers", {"MaxItems": 100}).body.users.user
    assert "alice" in [x.user_name for x in users]
    mgmt_me = flavour.call("sts", mgmt, "GetCallerIdentity").body
    assert mgmt_me.account_id == MGMT_ID


def test_assume_role_errors(flavour, mgmt):
    expect_error(lambda: assume(flavour, mgmt, AID, role="NoSuchRole"), "EntityNotExist.Role", 404)
    expect_error(lambda: assume(flavour, mgmt, AID, duration=7200), "InvalidParameter.DurationSeconds", 400)
    expect_error(lambda: assume(flavour, mgmt, AID, duration=600), "InvalidParameter.DurationSeconds", 400)
    # a member's role allows 7200 s where maxSessionDuration says so
    silence = account("conf-silence")["accountId"]
    _, r = assume(flavour, mgmt, silence, duration=7200)
    assert r.body.credentials.access_key_id.startswith("STS.")


def test_token_is_bound_to_its_key(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, AID)
    other, _ = assume(flavour, mgmt, account("conf-delete-ok")["accountId"], session="other")
    mixed = Creds(creds.access_key_id, creds.access_key_secret, other.security_token)
    expect_error(lambda: flavour.call("ram", mixed, "ListUsers"), "InvalidSecurityToken.MismatchWithAccessKey", (400, 403))
    no_token = Creds(creds.access_key_id, creds.access_key_secret)
    expect_error(lambda: flavour.call("ram", no_token, "ListUsers"), "MissingSecurityToken", (400, 403))


def test_permission_denied_for_restricted_key(flavour):
    from conftest import SEED
    k = next(k for k in SEED["accessKeys"] if k["accessKeyId"] == "LTAI5tConfReadOnlyKey0001")
    ro = Creds(k["accessKeyId"], k["accessKeySecret"])
    users = flavour.call("ram", ro, "ListUsers").body   # allowed (the management account's own RAM)
    assert users.request_id
    expect_error(lambda: assume(flavour, ro, AID), "NoPermission", 403)


def test_caller_identity_shapes(flavour, mgmt):
    """The documented shapes: Account (UserId = the account ID), RAMUser (numeric UserId = RAM's
    UserId), AssumedRoleUser (RoleId = RAM's RoleId, PrincipalId = <RoleId>:<session>)."""
    from conftest import SEED
    root = flavour.call("sts", mgmt, "GetCallerIdentity").body
    assert (root.identity_type, root.account_id, root.user_id, root.principal_id) == ("Account", MGMT_ID, MGMT_ID, MGMT_ID)
    assert root.arn == f"acs:ram::{MGMT_ID}:root" and not root.role_id

    k = next(k for k in SEED["accessKeys"] if k["accessKeyId"] == "LTAI5tConfAliceApiKey0001")
    me = flavour.call("sts", Creds(k["accessKeyId"], k["accessKeySecret"]), "GetCallerIdentity").body
    assert me.identity_type == "RAMUser" and me.account_id == AID and me.arn == f"acs:ram::{AID}:user/alice"
    assert re.match(r"^\d{15,17}$", me.user_id) and me.principal_id == me.user_id and not me.role_id
    creds, r = assume(flavour, mgmt, AID, session="who-am-i")
    ram_id = flavour.call("ram", creds, "GetUser", {"UserName": "alice"}).body.user.user_id
    assert me.user_id == ram_id, "the same numeric ID RAM answers"

    # a RAM user of the management account with a read-only key may still ask who it is
    ro = next(k for k in SEED["accessKeys"] if k["accessKeyId"] == "LTAI5tConfReadOnlyKey0001")
    aud = flavour.call("sts", Creds(ro["accessKeyId"], ro["accessKeySecret"]), "GetCallerIdentity").body
    assert aud.identity_type == "RAMUser" and re.match(r"^\d{16}$", aud.user_id)

    role = flavour.call("ram", creds, "GetRole", {"RoleName": ACCESS_ROLE}).body.role
    listed = {x.role_name: x.role_id for x in flavour.call("ram", creds, "ListRoles", {"MaxItems": 1000}).body.roles.role}
    assert listed[ACCESS_ROLE] == role.role_id
    assert r.body.assumed_role_user.assumed_role_id == f"{role.role_id}:who-am-i"
    who = flavour.call("sts", creds, "GetCallerIdentity").body
    assert (who.identity_type, who.role_id, who.principal_id) == ("AssumedRoleUser", role.role_id, f"{role.role_id}:who-am-i")
    assert who.arn == f"acs:ram::{AID}:role/{ACCESS_ROLE.lower()}/who-am-i" == r.body.assumed_role_user.arn
    assert not who.user_id
    # the role ARN matches case-insensitively, and the identity is the same role
    _, r2 = assume(flavour, mgmt, AID, role=ACCESS_ROLE.upper(), session="upper")
    assert r2.body.assumed_role_user.assumed_role_id == f"{role.role_id}:upper"


def test_session_policy_narrows_the_token(flavour, mgmt):
    def with_policy(policy):
        r = flavour.call("sts", mgmt, "AssumeRole", {"RoleArn": f"acs:ram::{AID}:role/{ACCESS_ROLE}",
                                                     "RoleSessionName": "narrow", "Policy": policy})
        c = r.body.credentials
        return Creds(c.access_key_id, c.access_key_secret, c.security_token)

    deny = with_policy('{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}')
    e = expect_error(lambda: flavour.call("ram", deny, "ListUsers"), "NoPermission", 403)
    assert "session policy" in e.message.lower()
    assert flavour.call("sts", deny, "GetCallerIdentity").body.identity_type == "AssumedRoleUser"

    only_list = with_policy('{"Version":"1","Statement":[{"Effect":"Allow","Action":["ram:ListUsers","ram:ListRoles"],"Resource":"*"}]}')
    assert flavour.call("ram", only_list, "ListUsers").body.users.user
    assert flavour.call("ims", only_list, "ListUsers").body.users.user is not None   # IMS is authorized as ram:
    expect_error(lambda: flavour.call("ram", only_list, "ListGroups"), "NoPermission", 403)
    expect_error(lambda: flavour.call("ram", only_list, "DeleteUser", {"UserName": "u-plain"}), "NoPermission", 403)

    expect_error(lambda: with_policy("not json"), "InvalidParameter.PolicyGrammar", 400)
    expect_error(lambda: with_policy('{"Version":"1","Statement":[{"Effect":"Allow","Action":"' + "x" * 2100 + '","Resource":"*"}]}'),
                 "InvalidParameter.PolicySize", 400)


def test_role_session_name_rules(flavour, mgmt):
    for bad in ("a", "has space", "x" * 65, "slash/no"):
        expect_error(lambda: assume(flavour, mgmt, AID, session=bad), "InvalidParameter.RoleSessionName", 400)
    for ok in ("ab", "a.b@c-d_e", "x" * 64):
        assume(flavour, mgmt, AID, session=ok)
    _, r = assume(flavour, mgmt, AID, duration=900)
    assert r.body.credentials.access_key_id.startswith("STS.")
