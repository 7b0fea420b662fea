"""Per-user IMS objects no documented DeleteUser conflict names (passkeys, service credentials;
alibaba-api.md §10.3-§10.4) and the account summary (§10.5), through the official SDKs. Both answers
of DeleteUser are tested: by default they go with their user; with the seed's `conflicts` the
delete refuses and names them."""

from __future__ import annotations

import re

from conftest import ACCESS_ROLE, account, assume, expect_error

A = account("conf-ram")
AID = A["accountId"]
DOMAIN = A["ram"]["defaultDomain"]
STRICT = account("conf-strict")["accountId"]
ALICE = f"alice@{DOMAIN}"


def _calls(flavour, mgmt, aid=AID):
    creds, _ = assume(flavour, mgmt, aid)
    return (lambda action, **p: flavour.call("ims", creds, action, p).body,
            lambda action, **p: flavour.call("ram", creds, action, p).body)


def test_passkeys(flavour, mgmt):
    ims, _ = _calls(flavour, mgmt)
    keys = ims("ListPasskeys", UserPrincipalName=ALICE).passkeys
    assert [(k.passkey_id, k.passkey_name) for k in keys] == [("PASSKEY-ConfAlice00000000001", "alice-yubikey")]
    assert re.match(r"^\d{10}$", keys[0].create_date), "epoch seconds as a string"
    # without UserPrincipalName: the caller's own passkeys (an assumed role has none)
    assert not ims("ListPasskeys").passkeys
    expect_error(lambda: ims("ListPasskeys", UserPrincipalName=f"nobody@{DOMAIN}"), "EntityNotExist.User", 404)
    expect_error(lambda: ims("DeletePasskey", UserPrincipalName=ALICE), "MissingPasskeyId", 400)
    ims("UpdatePasskey", UserPrincipalName=ALICE, PasskeyId="PASSKEY-ConfAlice00000000001", PasskeyName="renamed")
    assert ims("ListPasskeys", UserPrincipalName=ALICE).passkeys[0].passkey_name == "renamed"
    ims("DeletePasskey", UserPrincipalName=ALICE, PasskeyId="PASSKEY-ConfAlice00000000001")
    expect_error(lambda: ims("DeletePasskey", UserPrincipalName=ALICE, PasskeyId="PASSKEY-ConfAlice00000000001"),
                 "EntityNotExist.Passkey", 404)
    raw = flavour.call("ims", assume(flavour, mgmt, AID)[0], "ListPasskeys", {"UserPrincipalName": ALICE}).raw
    assert raw.get("Passkeys") == [], f"a plain array, no wrapper: {raw}"


def test_service_credentials(flavour, mgmt):
    ims, _ = _calls(flavour, mgmt)
    r = ims("ListServiceCredentials", AllUsers=True)
    assert r.is_truncated is False and r.max_results == 10
    by_id = {c.service_credential_id: c for c in r.service_credentials}
    assert set(by_id) == {"SCConfAlice0000000001", "SCConfPlain0000000001"}
    a = by_id["SCConfAlice0000000001"]
    assert (a.user_principal_name, a.service_name, a.status, a.service_credential_name) == (
        ALICE, "bailian.aliyuncs.com", "Active", "alice-bailian")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", a.create_time) and a.expiration_time
    assert by_id["SCConfPlain0000000001"].expiration_time is None, "never expires: no ExpirationTime"
    one = ims("ListServiceCredentials", UserPrincipalName=ALICE).service_credentials
    assert [c.service_credential_id for c in one] == ["SCConfAlice0000000001"]
    expect_error(lambda: ims("ListServiceCredentials", AllUsers=True, UserPrincipalName=ALICE),
                 "InvalidParameter.UserPrincipalName", 400)
    got = ims("GetServiceCredential", ServiceCredentialId="SCConfAlice0000000001", UserPrincipalName=ALICE)
    assert got.service_credential.service_name == "bailian.aliyuncs.com"
    # without UserPrincipalName the caller's own credential is meant: an assumed role has none
    expect_error(lambda: ims("DeleteServiceCredential", ServiceCredentialId="SCConfAlice0000000001"),
                 "EntityNotExist.ServiceCredential", 404)
    ims("DeleteServiceCredential", ServiceCredentialId="SCConfAlice0000000001", UserPrincipalName=ALICE)
    assert [c.service_credential_id for c in ims("ListServiceCredentials", AllUsers=True).service_credentials] == [
        "SCConfPlain0000000001"]
    made = ims("CreateServiceCredential", UserPrincipalName=ALICE, ServiceName="bailian.aliyuncs.com").service_credential
    assert made.service_credential_secret and made.service_credential_id.startswith("SC")


def test_service_credentials_page_with_next_token(flavour, mgmt):
    creds, _ = assume(flavour, mgmt, account("conf-bulk")["accountId"])
    seen, token, pages = [], None, 0
    while True:
        p = {"AllUsers": True, "MaxResults": 7}
        if token:
            p["NextToken"] = token
        b = flavour.call("ims", creds, "ListServiceCredentials", p).body
        pages += 1
        assert len(b.service_credentials) <= 7 and isinstance(b.is_truncated, bool)
        seen.extend(c.service_credential_id for c in b.service_credentials)
        if not b.is_truncated:
            assert not b.next_token
            break
        token = b.next_token
    assert len(seen) == len(set(seen)) == 30 and pages == 5
    default = flavour.call("ims", creds, "ListServiceCredentials", {"AllUsers": True}).body
    assert len(default.service_credentials) == 10 and default.is_truncated is True


def test_a_ram_user_sees_its_own(flavour):
    from conftest import SEED
    from sdk import Creds
    k = next(k for k in SEED["accessKeys"] if k["accessKeyId"] == "LTAI5tConfAliceApiKey0001")
    alice = Creds(k["accessKeyId"], k["accessKeySecret"])
    keys = flavour.call("ims", alice, "ListPasskeys").body.passkeys
    assert [x.passkey_name for x in keys] == ["alice-yubikey"]
    own = flavour.call("ims", alice, "ListServiceCredentials").body.service_credentials
    assert [c.service_credential_id for c in own] == ["SCConfAlice0000000001"]


def test_delete_user_takes_passkeys_and_credentials_by_default(flavour, mgmt):
    ims, ram = _calls(flavour, mgmt)
    ram("RemoveUserFromGroup", UserName="alice", GroupName="admins")
    ram("DeleteAccessKey", UserName="alice", UserAccessKeyId="LTAI5tConfAlice000000001")
    ram("DeleteLoginProfile", UserName="alice")
    ram("UnbindMFADevice", UserName="alice")
    ram("DetachPolicyFromUser", UserName="alice", PolicyName="ReadOnlyAccess", PolicyType="System")
    ram("DetachPolicyFromUser", UserName="alice", PolicyName="app-policy", PolicyType="Custom")
    ram("DeleteUser", UserName="alice")   # passkey and service credential still there: no conflict
    left = [c.service_credential_id for c in ims("ListServiceCredentials", AllUsers=True).service_credentials]
    assert left == ["SCConfPlain0000000001"]


def test_delete_user_names_them_when_the_seed_says_so(flavour, mgmt):
    ims, ram = _calls(flavour, mgmt, STRICT)
    upn = f"keyholder@{STRICT}.onaliyun.com"
    expect_error(lambda: ram("DeleteUser", UserName="keyholder"), "DeleteConflict.User.Passkey", 409)
    for k in ims("ListPasskeys", UserPrincipalName=upn).passkeys:
        ims("DeletePasskey", UserPrincipalName=upn, PasskeyId=k.passkey_id)
    expect_error(lambda: ims("DeleteUser", UserPrincipalName=upn), "DeleteConflict.User.ServiceCredential", 409)
    for c in ims("ListServiceCredentials", AllUsers=True).service_credentials:
        ims("DeleteServiceCredential", ServiceCredentialId=c.service_credential_id, UserPrincipalName=c.user_principal_name)
    ims("DeleteUser", UserPrincipalName=upn)


def test_account_summary(flavour, mgmt):
    ims, ram = _calls(flavour, mgmt)
    m = ims("GetAccountSummary").summary_map
    r = A["ram"]
    assert m.users == len(r["users"])                        # the recycle bin (bob) is not counted
    assert m.groups == len(r["groups"])
    assert m.roles == len(r["roles"]) + len(r["serviceLinkedRoles"]) + 1   # + the access role
    assert m.policies == len(r["policies"])                  # custom only
    assert m.mfadevices == len(r["virtualMfaDevices"])
    assert m.mfadevices_in_use == sum(1 for u in r["users"] if u.get("mfaDevice"))
    assert m.users_quota > 0 and m.access_keys_per_user_quota == 2 and m.versions_per_policy_quota == 5
    ram("UnbindMFADevice", UserName="u-mfa")
    ram("DeleteUser", UserName="u-mfa")
    ram("DeleteRole", RoleName="r-plain")
    m2 = ims("GetAccountSummary").summary_map
    assert (m2.users, m2.roles, m2.mfadevices, m2.mfadevices_in_use) == (m.users - 1, m.roles - 1, m.mfadevices,
                                                                          m.mfadevices_in_use - 1)
    assert ACCESS_ROLE in {x.role_name for x in ram("ListRoles", MaxItems=1000).roles.role}
