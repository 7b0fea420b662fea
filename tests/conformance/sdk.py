"""One calling surface over three official Alibaba Cloud SDK flavours.

* ``v3``     -- tea-openapi product clients with the default Config (signature V3, ACS3-HMAC-SHA256)
* ``v1``     -- the same clients with ``Config(signature_algorithm='v2')`` (RPC signature V1, HMAC-SHA1)
* ``legacy`` -- ``aliyun-python-sdk-core`` ``AcsClient`` with the legacy product request classes
  (``aliyun-python-sdk-ram`` / ``-resourcemanager`` / ``-sts``; IMS has no legacy product package in
  scope, so IMS goes through ``CommonRequest``)

``Flavour.call(product, creds, action, params)`` returns a ``Result`` whose ``body`` is a typed model:
for the tea flavours the SDK's own response-body model (parsed by the SDK), for the legacy core --
which has no response models and hands back raw JSON -- the raw JSON parsed into the tea model of the
same action (and ``raw`` keeps the JSON as the legacy core returned it). Errors from the server become
``ApiError`` with the code, HTTP status and *server* message as the SDK reported them.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import inspect
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

FLAVOURS = ("v3", "v1", "legacy")

PRODUCTS = {
    "ram": {"version": "2015-05-01", "tea": "alibabacloud_ram20150501",
            "legacy": "aliyunsdkram.request.v20150501"},
    "ims": {"version": "2019-08-15", "tea": "alibabacloud_ims20190815", "legacy": None},
    "rm": {"version": "2020-03-31", "tea": "alibabacloud_resourcemanager20200331",
           "legacy": "aliyunsdkresourcemanager.request.v20200331"},
    "sts": {"version": "2015-04-01", "tea": "alibabacloud_sts20150401",
            "legacy": "aliyunsdksts.request.v20150401"},
}


@dataclass
class Creds:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None


class ApiError(Exception):
    """An error answer of the server, as one SDK flavour surfaced it."""

    def __init__(self, flavour: str, code: str, status: int | None, message: str, request_id: str | None):
        super().__init__(f"[{flavour}] HTTP {status} {code}: {message} (RequestId {request_id})")
        self.flavour = flavour
        self.code = code
        self.status = status
        self.message = message
        self.request_id = request_id


@dataclass
class Result:
    body: Any                   # typed response-body model
    raw: dict                   # wire-keyed dict (legacy: as received; tea: model.to_map())
    request_id: str | None = None
    headers: dict = field(default_factory=dict)


def pct(s: str) -> str:
    """RFC 3986 percent-encoding (only A-Z a-z 0-9 - _ . ~ literal)."""
    return urllib.parse.quote(str(s), safe="-_.~")


def rfc3339_now(offset_seconds: float = 0.0) -> str:
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Flavour:
    """One SDK flavour bound to one emulator address."""

    def __init__(self, name: str, host: str, port: int):
        assert name in FLAVOURS, name
        self.name = name
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"Flavour({self.name})"

    @property
    def signature(self) -> str:
        return {"v3": "V3 ACS3-HMAC-SHA256", "v1": "V1 HMAC-SHA1 (tea)", "legacy": "V1 HMAC-SHA1 (legacy core)"}[self.name]

    # ------------------------------------------------------------------ public
    def call(self, product: str, creds: Creds, action: str, params: dict | None = None) -> Result:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        if self.name == "legacy":
            return self._call_legacy(product, creds, action, params)
        return self._call_tea(product, creds, action, params)

    def call_generic(self, product: str, creds: Creds, action: str, params: dict) -> Result:
        """The action with exactly these query parameters, through each flavour's generic path
        (tea-openapi ``call_api``, the legacy ``CommonRequest``): for parameters a product model
        would drop."""
        if self.name == "legacy":
            from aliyunsdkcore.acs_exception.exceptions import ServerException
            from aliyunsdkcore.request import CommonRequest
            req = CommonRequest(domain=self.host, version=PRODUCTS[product]["version"], action_name=action)
            req.set_method("POST")
            req.set_protocol_type("http")
            for k, v in params.items():
                req.add_query_param(k, v)
            try:
                raw = json.loads(self._legacy_client(creds).do_action_with_exception(req))
            except ServerException as e:
                raise ApiError(self.name, e.get_error_code(), e.get_http_status(), e.get_error_msg(),
                               e.get_request_id()) from None
            return Result(body=raw, raw=raw, request_id=raw.get("RequestId"))
        from alibabacloud_tea_openapi import exceptions as oa_exc
        from alibabacloud_tea_openapi import utils_models as oa_models
        from darabonba.runtime import RuntimeOptions
        client = self._tea_client(product, creds)
        api = oa_models.Params(action=action, version=PRODUCTS[product]["version"], protocol="HTTPS", pathname="/",
                               method="POST", auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
        try:
            out = client.call_api(api, oa_models.OpenApiRequest(query={k: str(v) for k, v in params.items()}),
                                  RuntimeOptions())
        except oa_exc.AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            raise ApiError(self.name, e.code, e.status_code, data.get("Message", e.message),
                           data.get("RequestId", e.request_id)) from None
        body = out.get("body") or {}
        return Result(body=body, raw=body, request_id=body.get("RequestId"))

    def tea_models(self, product: str):
        return importlib.import_module(PRODUCTS[product]["tea"] + ".models")

    # ------------------------------------------------------------------ tea-openapi (V3 and V1)
    def _tea_client(self, product: str, creds: Creds):
        from alibabacloud_tea_openapi import utils_models as oa_models
        client_mod = importlib.import_module(PRODUCTS[product]["tea"] + ".client")
        cfg = oa_models.Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
            endpoint=f"{self.host}:{self.port}",
            protocol="http",
            connect_timeout=5000,
            read_timeout=15000,
        )
        if self.name == "v1":
            cfg.signature_algorithm = "v2"
        return client_mod.Client(cfg)

    @staticmethod
    def _tea_method(client, action: str):
        want = action.lower() + "withoptions"
        for name in dir(client):
            if name.endswith("_async"):
                continue
            if name.replace("_", "").lower() == want:
                return getattr(client, name)
        raise AttributeError(f"{type(client).__module__} has no method for {action}")

    def _call_tea(self, product: str, creds: Creds, action: str, params: dict) -> Result:
        from alibabacloud_tea_openapi import exceptions as oa_exc
        from darabonba.runtime import RuntimeOptions

        client = self._tea_client(product, creds)
        models = self.tea_models(product)
        method = self._tea_method(client, action)
        takes_request = len(inspect.signature(method).parameters) >= 2
        try:
            if takes_request:
                req = getattr(models, action + "Request")().from_map(params)
                resp = method(req, RuntimeOptions())
            else:
                assert not params, f"{action} takes no parameters in the SDK"
                resp = method(RuntimeOptions())
        except oa_exc.AlibabaCloudException as e:  # Client/Server/Throttling
            data = e.data if isinstance(e.data, dict) else {}
            raise ApiError(self.name, e.code, e.status_code, data.get("Message", e.message),
                           data.get("RequestId", e.request_id)) from None
        body = resp.body
        return Result(body=body, raw=body.to_map(), request_id=getattr(body, "request_id", None),
                      headers=dict(resp.headers or {}))

    # ------------------------------------------------------------------ legacy aliyun-python-sdk-core
    def _legacy_client(self, creds: Creds):
        from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
        from aliyunsdkcore.client import AcsClient
        if creds.security_token:
            cred = StsTokenCredential(creds.access_key_id, creds.access_key_secret, creds.security_token)
        else:
            cred = AccessKeyCredential(creds.access_key_id, creds.access_key_secret)
        return AcsClient(region_id="cn-hangzhou", credential=cred, auto_retry=False, max_retry_time=0,
                         port=self.port, connect_timeout=5, timeout=15)

    def _legacy_request(self, product: str, action: str, params: dict):
        from aliyunsdkcore.request import CommonRequest
        pkg = PRODUCTS[product]["legacy"]
        req = None
        if pkg:
            try:
                mod = importlib.import_module(f"{pkg}.{action}Request")
                req = getattr(mod, f"{action}Request")()
            except ModuleNotFoundError:
                req = None
        if req is None:
            req = CommonRequest(domain=self.host, version=PRODUCTS[product]["version"], action_name=action)
            req.set_method("POST")
            for k, v in params.items():
                if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                    # repeat-list parameters (IMS Tag): what a CommonRequest user writes by hand
                    for i, item in enumerate(v, 1):
                        for sub, sv in item.items():
                            req.add_query_param(f"{k}.{i}.{sub}", sv)
                else:
                    req.add_query_param(k, _legacy_str(v))
        else:
            for k, v in params.items():
                setter = getattr(req, "set_" + k, None)
                if setter is not None:
                    setter(v)   # product setters apply the SDK's own encodings (e.g. JSON lists)
                else:
                    req.add_query_param(k, _legacy_str(v))
        req.set_endpoint(self.host)
        req.set_protocol_type("http")
        return req

    def _call_legacy(self, product: str, creds: Creds, action: str, params: dict) -> Result:
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        client = self._legacy_client(creds)
        req = self._legacy_request(product, action, params)
        try:
            out = client.do_action_with_exception(req)
        except ServerException as e:
            raise ApiError(self.name, e.get_error_code(), e.get_http_status(), e.get_error_msg(),
                           e.get_request_id()) from None
        raw = json.loads(out)
        body_cls = getattr(self.tea_models(product), action + "ResponseBody")
        return Result(body=body_cls().from_map(raw), raw=raw, request_id=raw.get("RequestId"))


def _legacy_str(v: Any) -> Any:
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return v


# ---------------------------------------------------------------------- pinning and capture helpers
class SdkClock:
    """Controls the Timestamp / x-acs-date / SignatureNonce the SDKs put on requests.

    ``offset`` follows the emulator's clock (tests advance it through the admin API), ``pinned`` fixes
    the timestamp outright, ``nonce`` fixes the nonce (all flavours).
    """

    def __init__(self):
        self.offset = 0.0
        self.pinned: str | None = None
        self.nonce: str | None = None

    def timestamp(self) -> str:
        return self.pinned or rfc3339_now(self.offset)

    def install(self, monkeypatch, real_nonce_tea, real_nonce_legacy):
        from alibabacloud_tea_openapi.utils import Utils as OAUtils
        from aliyunsdkcore.utils import parameter_helper
        clock = self
        monkeypatch.setattr(OAUtils, "get_timestamp", staticmethod(lambda: clock.timestamp()))
        monkeypatch.setattr(OAUtils, "get_nonce", staticmethod(lambda: clock.nonce or real_nonce_tea()))
        monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: clock.timestamp())
        monkeypatch.setattr(parameter_helper, "get_uuid", lambda: clock.nonce or real_nonce_legacy())


class StringToSignCapture:
    """Records the string to sign each flavour computed for its last request (from the SDK's own
    canonicalisation inputs), to compare with the one the server reports in SignatureDoesNotMatch."""

    def __init__(self):
        self.last: str | None = None

    def install(self, monkeypatch):
        from alibabacloud_tea_openapi import utils as oa_utils
        from alibabacloud_tea_openapi.utils import Utils as OAUtils
        cap = self
        orig_rpc = OAUtils.get_rpcsignature
        orig_auth = OAUtils.get_authorization

        def rpc(signed_params, method, secret):
            q = {k: v for k, v in signed_params.items() if v is not None and k != "Signature"}
            canon = "&".join(pct(k) + "=" + pct(v) for k, v in sorted(q.items()))
            cap.last = method + "&" + pct("/") + "&" + pct(canon)
            return orig_rpc(signed_params, method, secret)

        def auth(request, sign_type, payload, ak, secret):
            canonical_uri = request.pathname or "/"
            query = oa_utils.get_canonical_query_string(request.query)
            headers, signed = oa_utils.get_canonicalized_headers(request.headers)
            creq = f"{request.method}\n{canonical_uri}\n{query}\n{headers}\n{signed}\n{payload}"
            cap.last = sign_type + "\n" + hashlib.sha256(creq.encode()).hexdigest()
            return orig_auth(request, sign_type, payload, ak, secret)

        monkeypatch.setattr(OAUtils, "get_rpcsignature", staticmethod(rpc))
        monkeypatch.setattr(OAUtils, "get_authorization", staticmethod(auth))
        # The legacy core keeps its own string to sign on the request (request.string_to_sign) and
        # compares it with the server's itself; see test_negative.py.
