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
