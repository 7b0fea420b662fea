"""Wire variants the SDKs produce besides the generated clients' POST-with-query: GET (the credentials
library's own AssumeRole, the legacy core on request), parameters in a form body, and the response
bodies' keys compared with the official models."""

from __future__ import annotations

import json

import pytest

from conftest import ACCESS_ROLE, account, assume
from sdk import Creds, Flavour

AID = account("conf-ram")["accountId"]


@pytest.mark.parametrize("signing", ["acs3", "rpcv1"])
def test_credentials_library_ram_role_arn(emu, mgmt, monkeypatch, signing):
    """alibabacloud-credentials' RamRoleArnCredentialsProvider signs its own GET AssumeRole (V1); a tea
    RAM client then uses the provider's STS credentials transparently."""
    from alibabacloud_credentials.client import Client as CredClient
    from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
    from alibabacloud_credentials.utils import parameter_helper as cred_ph
    from alibabacloud_ram20150501.client import Client as Ram
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions
    from Tea.core import TeaCore

    orig = TeaCore.compose_url
    monkeypatch.setattr(TeaCore, "compose_url", staticmethod(lambda req: orig(req).replace("https://", "http://", 1)))
    monkeypatch.setattr(cred_ph, "get_iso_8061_date", lambda: emu.clock.timestamp())
    provider = RamRoleArnCredentialsProvider(
        access_key_id=mgmt.access_key_id, access_key_secret=mgmt.access_key_secret,
        role_arn=f"acs:ram::{AID}:role/{ACCESS_ROLE}", role_session_name="cred-lib",
        sts_endpoint=f"{emu.host}:{emu.port}")
    cred = provider.get_credentials()
    assert cred.get_access_key_id().startswith("STS.") and cred.get_security_token()
    cfg = Config(credential=CredClient(provider=provider), endpoint=f"{emu.host}:{emu.port}", protocol="http")
    if signing == "rpcv1":
        cfg.signature_algorithm = "v2"
    users = Ram(cfg).list_users_with_options(ram_models.ListUsersRequest(max_items=100), RuntimeOptions()).body
    assert "alice" in [u.user_name for u in users.users.user]


def test_legacy_get_and_form_body(emu, mgmt):
    """The legacy core with method GET, and with the parameters in an x-www-form-urlencoded body
    (the way Terraform's client sends them): the server merges query and body parameters."""
    from aliyunsdkcore.request import CommonRequest
    fl = Flavour("legacy", emu.host, emu.port)
    creds, _ = assume(fl, mgmt, AID)
    client = fl._legacy_client(creds)

    get = CommonRequest(domain=emu.host, version="2015-05-01", action_name="ListUsers")
    get.set_method("GET")
    get.set_protocol_type("http")
    get.add_query_param("MaxItems", "100")
    users = json.loads(client.do_action_with_exception(get))["Users"]["User"]
    assert "alice" in [u["UserName"] for u in users]

    form = CommonRequest(domain=emu.host, version="2015-05-01", action_name="ListGroupsForUser")
    form.set_method("POST")
    form.set_protocol_type("http")
    form.add_body_params("UserName", "alice")
    groups = json.loads(client.do_action_with_exception(form))["Groups"]["Group"]
    assert [g["GroupName"] for g in groups] == ["admins"]


READS = [
    ("ram", "ListUsers", {"MaxItems": 2}),
    ("ram", "ListGroups", {}),
    ("ram", "ListRoles", {}),
    ("ram", "ListPolicies", {"PolicyType": "Custom"}),
    ("ram", "ListPolicyVersions", {"PolicyName": "app-policy", "PolicyType": "Custom"}),
    ("ram", "ListEntitiesForPolicy", {"PolicyName": "app-policy", "PolicyType": "Custom"}),
    ("ram", "ListPoliciesForUser", {"UserName": "alice"}),
    ("ram", "ListAccessKeys", {"UserName": "alice"}),
    ("ram", "ListGroupsForUser", {"UserName": "alice"}),
    ("ram", "ListUsersForGroup", {"GroupName": "admins"}),
    ("ram", "ListVirtualMFADevices", {}),
    ("ram", "GetLoginProfile", {"UserName": "alice"}),
    ("ram", "GetUserMFAInfo", {"UserName": "alice"}),
    ("ram", "GetRole", {"RoleName": "AliyunServiceRoleForECS"}),
    ("ims", "ListUsers", {"Status": "active,freeze"}),
    ("ims", "ListSAMLProviders", {}),
    ("ims", "ListOIDCProviders", {}),
    ("ims", "ListUsersInRecycleBin", {}),
    ("ims", "GetDefaultDomain", {}),
    ("sts", "GetCallerIdentity", {}),
]


@pytest.mark.parametrize("product,action,params", READS, ids=[f"{p}-{a}" for p, a, _ in READS])
def test_response_keys_known_to_models(emu, mgmt, product, action, params):
    """Every key the emulator sends is one the official model knows (the legacy core hands back the raw
    JSON; parsing it into the tea model and back must lose nothing)."""
    fl = Flavour("legacy", emu.host, emu.port)
    creds, _ = assume(fl, mgmt, AID)
    r = fl.call(product, creds, action, params)
    assert r.body.to_map() == r.raw, f"keys unknown to the SDK model:\nraw   {r.raw}\nmodel {r.body.to_map()}"


RM_READS = [
    ("ListAccounts", {"PageSize": 2}),
    ("GetResourceDirectory", {}),
    ("GetAccount", {"AccountId": AID}),
]


@pytest.mark.parametrize("action,params", RM_READS, ids=[a for a, _ in RM_READS])
def test_rm_response_keys_known_to_models(emu, mgmt, action, params):
    fl = Flavour("legacy", emu.host, emu.port)
    r = fl.call("rm", mgmt, action, params)
    assert r.body.to_map() == r.raw, f"keys unknown to the SDK model:\nraw   {r.raw}\nmodel {r.body.to_map()}"


def test_error_body_shape(emu, mgmt):
    """Error bodies carry RequestId, HostId, Code, Message (and Recommend), JSON with the right type."""
    import urllib.request
    import urllib.error
    req = urllib.request.Request(f"{emu.url}/?Action=ListUsers&Version=2015-05-01&AccessKeyId=LTAI5tNoSuchKey000000099"
                                 "&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=abc&Format=JSON"
                                 f"&Timestamp={emu.clock.timestamp()}&Signature=x", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=10)
    e = ei.value
    assert e.code == 404
    assert e.headers.get("Content-Type", "").startswith("application/json")
    body = json.loads(e.read())
    assert body["Code"] == "InvalidAccessKeyId.NotFound"
    for k in ("RequestId", "HostId", "Message", "Recommend"):
        assert body.get(k), f"error body lacks {k}: {body}"


def test_unknown_action(flavour, mgmt):
    from sdk import ApiError
    with pytest.raises(ApiError) as ei:
        _unknown(flavour, mgmt)
    assert ei.value.code in ("InvalidAction.NotFound", "InvalidApi.NotFound") and ei.value.status in (400, 404)


def _unknown(flavour, mgmt: Creds):
    """A legal action of another product/version: RAM 2015-05-01 has no CheckAccountDelete."""
    if flavour.name == "legacy":
        from aliyunsdkcore.request import CommonRequest
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        from sdk import ApiError
        req = CommonRequest(domain=flavour.host, version="2015-05-01", action_name="CheckAccountDelete")
        req.set_method("POST")
        req.set_protocol_type("http")
        try:
            flavour._legacy_client(mgmt).do_action_with_exception(req)
        except ServerException as e:
            raise ApiError("legacy", e.get_error_code(), e.get_http_status(), e.get_error_msg(), e.get_request_id())
        return
    from alibabacloud_tea_openapi import utils_models as m
    from alibabacloud_tea_openapi.client import Client
    from alibabacloud_tea_openapi import exceptions as oa_exc
    from darabonba.runtime import RuntimeOptions
    from sdk import ApiError
    cfg = m.Config(access_key_id=mgmt.access_key_id, access_key_secret=mgmt.access_key_secret,
                   endpoint=f"{flavour.host}:{flavour.port}", protocol="http")
    if flavour.name == "v1":
        cfg.signature_algorithm = "v2"
    params = m.Params(action="CheckAccountDelete", version="2015-05-01", protocol="HTTP", pathname="/",
                      method="POST", auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    try:
        Client(cfg).call_api(params, m.OpenApiRequest(query={"AccountId": AID}), RuntimeOptions())
    except oa_exc.AlibabaCloudException as e:
        data = e.data if isinstance(e.data, dict) else {}
        raise ApiError(flavour.name, e.code, e.status_code, data.get("Message", e.message), data.get("RequestId"))
