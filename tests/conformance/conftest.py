"""Fixtures for the official-SDK conformance suite.

The emulator is the one named by ADO_EMULATOR_URL (scripts/test.sh starts it); without that variable
the suite starts ``$ADO_BIN_DIR/aliyun-emulator`` (default target/debug) itself and stops it at the end.
Every test gets a fresh copy of seed.yaml (PUT /__emulator/seed), so tests are independent, and every
test that talks to the emulator runs once per SDK flavour (v3, v1, legacy).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

import sdk as sdkmod
from sdk import ApiError, Creds, Flavour

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED_PATH = HERE / "seed.yaml"
SEED_TEXT = SEED_PATH.read_text()
SEED = yaml.safe_load(SEED_TEXT)

MGMT_ID = SEED["resourceDirectory"]["managementAccountId"]
MGMT_KEY = next(k for k in SEED["accessKeys"] if k["accountId"] == MGMT_ID and k.get("active", True)
                and k.get("allow", ["*"]) == ["*"])
ACCOUNTS = {a["displayName"]: a for a in SEED["accounts"]}
ACCESS_ROLE = "ResourceDirectoryAccountAccessRole"


def account(display_name: str) -> dict:
    return ACCOUNTS[display_name]


# ---------------------------------------------------------------------- the emulator process / admin API
class Emulator:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        m = re.match(r"^https?://([^:/]+):(\d+)$", self.url)
        assert m, f"ADO_EMULATOR_URL must look like http://127.0.0.1:PORT, got {url!r}"
        self.host, self.port = m.group(1), int(m.group(2))
        self.clock = sdkmod.SdkClock()

    def admin(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                data = r.read()
                return r.status, data
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def load_seed(self, text: str = SEED_TEXT):
        st, data = self.admin("PUT", "/__emulator/seed", text.encode(), "application/yaml")
        assert st == 200, f"PUT /__emulator/seed -> {st}: {data[:500]!r}"
        self.clock.offset = 0.0
        self.clock.pinned = None
        self.clock.nonce = None
        self._sync_clock()

    def advance(self, seconds: int):
        st, data = self.admin("POST", f"/__emulator/clock/advance?seconds={int(seconds)}")
        assert st == 200, f"POST /__emulator/clock/advance -> {st}: {data[:500]!r}"
        self.clock.offset += seconds
        self._sync_clock(data)

    def _sync_clock(self, data: bytes | None = None):
        """Follow the emulator's clock when it tells it (JSON with an RFC 3339 'now'), so the SDKs'
        Timestamp / x-acs-date stay inside the emulator's 15-minute skew window after an advance."""
        if data is None:
            st, data = self.admin("GET", "/__emulator/clock")
            if st != 200:
                return
        try:
            now = json.loads(data).get("now")
            t = datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))
        except Exception:
            return
        self.clock.offset = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

    def dump(self, account_id: str):
        st, data = self.admin("GET", f"/__emulator/accounts/{account_id}")
        return json.loads(data) if st == 200 else None


def _start_emulator():
    bin_dir = pathlib.Path(os.environ.get("ADO_BIN_DIR", ROOT / "target" / "debug"))
    exe = bin_dir / "aliyun-emulator"
    if not exe.exists():
        pytest.exit(f"ADO_EMULATOR_URL unset and no {exe}: run `cargo build --bins` or scripts/test.sh", 2)
    log = open(os.environ.get("TMPDIR", "/tmp") + f"/ado-conformance-emulator-{os.getpid()}.log", "w+")
    proc = subprocess.Popen([str(exe), "--listen", "127.0.0.1:0", "--seed", str(SEED_PATH)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on (http://[0-9.]+:\d+)", log.read())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    pytest.exit("aliyun-emulator did not start:\n" + log.read()[-3000:], 2)


@pytest.fixture(scope="session")
def emulator():
    url = os.environ.get("ADO_EMULATOR_URL")
    proc = None
    if not url:
        proc, url = _start_emulator()
    emu = Emulator(url)
    yield emu
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def emu(emulator, monkeypatch):
    """A freshly seeded emulator; the SDKs' timestamps follow its clock."""
    from alibabacloud_tea_openapi.utils import Utils as OAUtils
    from aliyunsdkcore.utils import parameter_helper
    emulator.load_seed()
    emulator.clock.install(monkeypatch, OAUtils.get_nonce, parameter_helper.get_uuid)
    return emulator


@pytest.fixture(params=sdkmod.FLAVOURS)
def flavour(request, emu) -> Flavour:
    return Flavour(request.param, emu.host, emu.port)


@pytest.fixture
def mgmt() -> Creds:
    return Creds(MGMT_KEY["accessKeyId"], MGMT_KEY["accessKeySecret"])


# ---------------------------------------------------------------------- helpers used by the tests
def assume(flavour: Flavour, mgmt: Creds, account_id: str, role: str = ACCESS_ROLE,
           session: str = "conformance", duration: int | None = None):
    """AssumeRole from the management key into a member; returns (Creds, Result)."""
    r = flavour.call("sts", mgmt, "AssumeRole", {
        "RoleArn": f"acs:ram::{account_id}:role/{role}",
        "RoleSessionName": session,
        "DurationSeconds": duration,
    })
    c = r.body.credentials
    return Creds(c.access_key_id, c.access_key_secret, c.security_token), r


def expect_error(fn, code: str, status: int | tuple[int, ...] | None = None) -> ApiError:
    with pytest.raises(ApiError) as ei:
        fn()
    e = ei.value
    assert e.code == code, f"expected {code}, got {e}"
    if status is not None:
        allowed = status if isinstance(status, tuple) else (status,)
        assert e.status in allowed, f"{code}: expected HTTP {status}, got {e.status}"
    assert e.request_id, f"{code}: the error body carries no RequestId"
    return e


def walk_marker(flavour: Flavour, product: str, creds: Creds, action: str, container: str, item: str,
                params: dict | None = None, page_size: int = 1):
    """Marker/IsTruncated pagination with a page size; returns (items as raw dicts, pages, bodies)."""
    items, bodies, marker = [], [], None
    for _ in range(1000):
        p = dict(params or {})
        p["MaxItems"] = page_size
        if marker:
            p["Marker"] = marker
        r = flavour.call(product, creds, action, p)
        bodies.append(r.body)
        page = ((r.raw.get(container) or {}).get(item)) or []
        assert len(page) <= page_size, f"{action}: page of {len(page)} > MaxItems {page_size}"
        items.extend(page)
        assert isinstance(r.body.is_truncated, bool), f"{action}: IsTruncated must be a JSON boolean"
        if not r.body.is_truncated:
            assert not r.body.marker, f"{action}: Marker present on the last page"
            return items, len(bodies), bodies
        assert r.body.marker, f"{action}: IsTruncated true but no Marker"
        marker = r.body.marker
    raise AssertionError(f"{action}: pagination did not end")


# ---------------------------------------------------------------------- per-flavour summary
def pytest_terminal_summary(terminalreporter):
    """Counts per SDK flavour, so the report shows how each official SDK fared."""
    rows: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for rep in terminalreporter.stats.get(outcome, []):
            if getattr(rep, "when", "call") not in ("call", "setup") or not hasattr(rep, "nodeid"):
                continue
            if outcome == "passed" and rep.when != "call":
                continue
            m = re.search(r"\[(?:.*-)?(v3|v1|legacy)(?:-.*)?\]$", rep.nodeid)
            key = m.group(1) if m else "sdk-specific"
            rows.setdefault(key, {}).setdefault(outcome, 0)
            rows[key][outcome] += 1
    if not rows:
        return
    out = os.environ.get("ADO_PY_SUMMARY")
    if out:   # scripts/test.sh prints these lines in its stage summary
        names_short = {"v3": "tea-v3", "v1": "tea-v1", "legacy": "legacy-core", "sdk-specific": "other"}
        with open(out, "w") as fh:
            for key in ("v3", "v1", "legacy", "sdk-specific"):
                if key in rows:
                    r = rows[key]
                    fh.write(f"{names_short[key]} {r.get('passed', 0)} passed, {r.get('failed', 0) + r.get('error', 0)} failed\n")
    terminalreporter.write_sep("-", "conformance cases per SDK flavour")
    names = {"v3": "tea-openapi V3 (ACS3-HMAC-SHA256)", "v1": "tea-openapi V1 (signature_algorithm='v2')",
             "legacy": "aliyun-python-sdk-core (legacy V1)", "sdk-specific": "credentials lib / raw / model checks"}
    for key in ("v3", "v1", "legacy", "sdk-specific"):
        if key in rows:
            r = rows[key]
            terminalreporter.write_line(f"{names[key]:45s} " + ", ".join(f"{r[k]} {k}" for k in ("passed", "failed", "error", "skipped") if r.get(k)))
