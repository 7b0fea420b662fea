#!/usr/bin/env python3
"""The way people empty a RAM account today, for `bench`: a sequential script on the official
Alibaba Cloud Python SDK (alibabacloud_tea_openapi product clients, signature V3) that follows the
dependency order of alibaba-api.md section 4.4, one object at a time, one call at a time.

Prints one JSON line: {"seconds": wall time, "objects": top-level objects deleted, "calls": calls made}.
The management secret is read from BENCH_KEY_SECRET (never a flag, so it stays out of `ps`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import urllib.parse

ACCESS_ROLE = "ResourceDirectoryAccountAccessRole"
PRODUCTS = {
    "ram": "alibabacloud_ram20150501",
    "ims": "alibabacloud_ims20190815",
    "sts": "alibabacloud_sts20150401",
}


class Api:
    """One cached SDK client per product; `call` returns the wire-keyed body dict."""

    def __init__(self, endpoint: str, key_id: str, secret: str, token: str | None = None):
        from alibabacloud_tea_openapi import utils_models as oa_models
        from darabonba.runtime import RuntimeOptions

        self.runtime = RuntimeOptions()
        self.clients = {}
        self.models = {}
        for product, mod in PRODUCTS.items():
            cfg = oa_models.Config(access_key_id=key_id, access_key_secret=secret, security_token=token,
                                   endpoint=endpoint, protocol="http", connect_timeout=5000, read_timeout=15000)
            self.clients[product] = importlib.import_module(mod + ".client").Client(cfg)
            self.models[product] = importlib.import_module(mod + ".models")
        self.calls = 0

    def call(self, product: str, action: str, **params) -> dict:
        from alibabacloud_tea_openapi import exceptions as oa_exc

        client = self.clients[product]
        want = action.lower() + "withoptions"
        method = next(getattr(client, n) for n in dir(client)
                      if not n.endswith("_async") and n.replace("_", "").lower() == want)
        self.calls += 1
        req_cls = getattr(self.models[product], action + "Request", None)
        try:
            if req_cls is not None:
                resp = method(req_cls().from_map(params), self.runtime)
            else:
                resp = method(self.runtime)
        except oa_exc.AlibabaCloudException as e:
            raise ApiError(e.code) from None
        return resp.body.to_map()


class ApiError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def walk(api: Api, product: str, action: str, container: str, item: str, **params) -> list[dict]:
    out, marker = [], None
    while True:
        p = dict(params, MaxItems=100)
        if marker:
            p["Marker"] = marker
        body = api.call(product, action, **p)
        out.extend((body.get(container) or {}).get(item) or [])
        if not body.get("IsTruncated"):
            return out
        marker = body.get("Marker")


def items(body: dict, container: str, item: str) -> list[dict]:
    return (body.get(container) or {}).get(item) or []


def purge(api: Api) -> int:
    objects = 0
    custom = [p["PolicyName"] for p in walk(api, "ram", "ListPolicies", "Policies", "Policy", PolicyType="Custom")]
    # 1. non-default policy versions
    for name in custom:
        for v in items(api.call("ram", "ListPolicyVersions", PolicyName=name, PolicyType="Custom"),
                       "PolicyVersions", "PolicyVersion"):
            if not v.get("IsDefaultVersion"):
                api.call("ram", "DeletePolicyVersion", PolicyName=name, VersionId=v["VersionId"])
    # 2. users and everything hanging off them
    for u in walk(api, "ram", "ListUsers", "Users", "User"):
        name = u["UserName"]
        for p in items(api.call("ram", "ListPoliciesForUser", UserName=name), "Policies", "Policy"):
            api.call("ram", "DetachPolicyFromUser", UserName=name, PolicyName=p["PolicyName"], PolicyType=p["PolicyType"])
        for g in items(api.call("ram", "ListGroupsForUser", UserName=name), "Groups", "Group"):
            api.call("ram", "RemoveUserFromGroup", UserName=name, GroupName=g["GroupName"])
        for k in items(api.call("ram", "ListAccessKeys", UserName=name), "AccessKeys", "AccessKey"):
            api.call("ram", "DeleteAccessKey", UserName=name, UserAccessKeyId=k["AccessKeyId"])
        try:
            api.call("ram", "GetLoginProfile", UserName=name)
            api.call("ram", "DeleteLoginProfile", UserName=name)
        except ApiError as e:
            if not e.code.startswith("EntityNotExist"):
                raise
        try:
            api.call("ram", "GetUserMFAInfo", UserName=name)
            api.call("ram", "UnbindMFADevice", UserName=name)
        except ApiError as e:
            if not e.code.startswith("EntityNotExist"):
                raise
        api.call("ram", "DeleteUser", UserName=name)
        objects += 1
    # 3. virtual MFA devices (all unbound now)
    for d in items(api.call("ram", "ListVirtualMFADevices"), "VirtualMFADevices", "VirtualMFADevice"):
        api.call("ram", "DeleteVirtualMFADevice", SerialNumber=d["SerialNumber"])
        objects += 1
    # 4. groups
    for g in walk(api, "ram", "ListGroups", "Groups", "Group"):
        for p in items(api.call("ram", "ListPoliciesForGroup", GroupName=g["GroupName"]), "Policies", "Policy"):
            api.call("ram", "DetachPolicyFromGroup", GroupName=g["GroupName"], PolicyName=p["PolicyName"],
                     PolicyType=p["PolicyType"])
        api.call("ram", "DeleteGroup", GroupName=g["GroupName"])
        objects += 1
    # 5. roles (the access role in use stays; service-linked roles through DeleteServiceLinkedRole)
    for r in walk(api, "ram", "ListRoles", "Roles", "Role"):
        name = r["RoleName"]
        if name == ACCESS_ROLE:
            continue
        if r.get("IsServiceLinkedRole") or name.startswith("AliyunServiceRoleFor"):
            api.call("ram", "DeleteServiceLinkedRole", RoleName=name)
            objects += 1
            continue
        for p in items(api.call("ram", "ListPoliciesForRole", RoleName=name), "Policies", "Policy"):
            api.call("ram", "DetachPolicyFromRole", RoleName=name, PolicyName=p["PolicyName"], PolicyType=p["PolicyType"])
        api.call("ram", "DeleteRole", RoleName=name)
        objects += 1
    # 6. custom policies (no attachments are left)
    for name in custom:
        api.call("ram", "ListEntitiesForPolicy", PolicyName=name, PolicyType="Custom")
        api.call("ram", "DeletePolicy", PolicyName=name)
        objects += 1
    # 7. IMS identity providers
    for p in walk(api, "ims", "ListSAMLProviders", "SAMLProviders", "SAMLProvider"):
        api.call("ims", "DeleteSAMLProvider", SAMLProviderName=p["SAMLProviderName"])
        objects += 1
    for p in walk(api, "ims", "ListOIDCProviders", "OIDCProviders", "OIDCProvider"):
        api.call("ims", "DeleteOIDCProvider", OIDCProviderName=p["OIDCProviderName"])
        objects += 1
    return objects


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", required=True, help="emulator URL, http://127.0.0.1:PORT")
    ap.add_argument("--account", required=True)
    ap.add_argument("--key-id", required=True)
    args = ap.parse_args()
    secret = os.environ.get("BENCH_KEY_SECRET")
    if not secret:
        print("BENCH_KEY_SECRET is not set", file=sys.stderr)
        return 2
    host = urllib.parse.urlparse(args.endpoint).netloc
    mgmt = Api(host, args.key_id, secret)
    t0 = time.monotonic()
    c = mgmt.call("sts", "AssumeRole", RoleArn=f"acs:ram::{args.account}:role/{ACCESS_ROLE}",
                  RoleSessionName="sequential-baseline")["Credentials"]
    member = Api(host, c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"])
    objects = purge(member)
    seconds = time.monotonic() - t0
    print(json.dumps({"seconds": seconds, "objects": objects, "calls": member.calls + mgmt.calls}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
