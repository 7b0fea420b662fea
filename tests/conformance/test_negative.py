"""Authentication failures as each SDK flavour sees them: wrong secret (with the server's string to
sign), unknown / disabled key, expired and malformed timestamp, reused nonce, expired STS token."""

from __future__ import annotations

import datetime
import uuid

from conftest import account, assume, expect_error
from sdk import Creds, StringToSignCapture

AID = account("conf-ram")["accountId"]
PREFIX = "Specified signature is not matched with our calculation. server string to sign is:"


def test_wrong_secret(flavour, mgmt, monkeypatch):
    bad = Creds(mgmt.access_key_id, mgmt.access_key_secret + "-wrong")
    if flavour.name == "legacy":
        # aliyun-python-sdk-core compares the server's string to sign (the text after the first ':' of
        # the message) with its own and, when they are equal, rewrites the error to
        # InvalidAccessKeySecret: so this code proves the emulator canonicalised exactly as the SDK did.
        e = expect_error(lambda: flavour.call("rm", bad, "ListAccounts", {"PageSize": 5}), "InvalidAccessKeySecret", 400)
        assert "AccessKeySecret is incorrect" in e.message
        return
    cap = StringToSignCapture()
    cap.install(monkeypatch)
    e = expect_error(lambda: flavour.call("rm", bad, "ListAccounts", {"PageSize": 5}), "SignatureDoesNotMatch", 400)
    assert e.message.startswith(PREFIX), e.message
    server_sts = e.message[len(PREFIX):]
    assert cap.last, "the SDK's string to sign was not captured"
    assert server_sts == cap.last, f"server:\n{server_sts!r}\nclient:\n{cap.last!r}"
    if flavour.name == "v3":
        assert server_sts.startswith("ACS3-HMAC-SHA256\n")
    else:
        assert server_sts.startswith("POST&%2F&")


def test_wrong_secret_with_odd_characters(flavour, mgmt, monkeypatch):
    """The string to sign still matches when values need percent-encoding (space, '*', '~', '/', UTF-8)."""
    creds, _ = assume(flavour, mgmt, AID)
    bad = Creds(creds.access_key_id, creds.access_key_secret + "x", creds.security_token)
    marker = "a b*c~d/\u00e9+&="
    if flavour.name == "legacy":
        expect_error(lambda: flavour.call("ram", bad, "ListUsers", {"Marker": marker, "MaxItems": 5}),
                     "InvalidAccessKeySecret", 400)
        return
    cap = StringToSignCapture()
    cap.install(monkeypatch)
    e = expect_error(lambda: flavour.call("ram", bad, "ListUsers", {"Marker": marker, "MaxItems": 5}),
                     "SignatureDoesNotMatch", 400)
    assert e.message[len(PREFIX):] == cap.last


def test_unknown_access_key(flavour):
    bad = Creds("LTAI5tNoSuchKey000000099", "whatever")
    e = expect_error(lambda: flavour.call("rm", bad, "ListAccounts"), "InvalidAccessKeyId.NotFound", 404)
    assert "access key is not found" in e.message.lower()


def test_disabled_access_key(flavour):
    from conftest import SEED
    k = next(k for k in SEED["accessKeys"] if not k.get("active", True))
    expect_error(lambda: flavour.call("rm", Creds(k["accessKeyId"], k["accessKeySecret"]), "ListAccounts"),
                 "InvalidAccessKeyId.Inactive", (400, 403))


def test_expired_timestamp(flavour, mgmt, emu):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=emu.clock.offset)
    emu.clock.pinned = (t - datetime.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expect_error(lambda: flavour.call("rm", mgmt, "ListAccounts"), "InvalidTimeStamp.Expired", 400)
    emu.clock.pinned = (t + datetime.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expect_error(lambda: flavour.call("rm", mgmt, "ListAccounts"), "InvalidTimeStamp.Expired", 400)
    emu.clock.pinned = (t - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    flavour.call("rm", mgmt, "ListAccounts")   # inside the 15-minute window


def test_malformed_timestamp(flavour, mgmt, emu):
    emu.clock.pinned = "2024/01/01 00:00:00"
    expect_error(lambda: flavour.call("rm", mgmt, "ListAccounts"), "InvalidTimeStamp.Format", 400)


def test_reused_nonce(flavour, mgmt, emu):
    emu.clock.nonce = uuid.uuid4().hex
    flavour.call("rm", mgmt, "ListAccounts")
    expect_error(lambda: flavour.call("rm", mgmt, "ListAccounts"), "SignatureNonceUsed", 400)
    emu.clock.nonce = uuid.uuid4().hex   # a fresh nonce is accepted again
    flavour.call("rm", mgmt, "ListAccounts")


def test_expired_sts_token(flavour, mgmt, emu):
    creds, r = assume(flavour, mgmt, AID, duration=900)
    flavour.call("ram", creds, "ListUsers")
    emu.advance(901)
    expect_error(lambda: flavour.call("ram", creds, "ListUsers"), "InvalidSecurityToken.Expired", (400, 403))
    # the management key itself still works at the new time (the SDK's timestamps follow the clock)
    flavour.call("rm", mgmt, "ListAccounts")
