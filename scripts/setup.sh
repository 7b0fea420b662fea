#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) for the tests; idempotent and cached:
#   1. apt packages (etcd, Go and friends for the kube-apiserver build, promtool, lua, yamllint, ...)
#   2. a Python venv with the official Alibaba Cloud SDKs, pytest, PyYAML and helm-python-sdk:
#      ${ADO_CACHE}/venv, rebuilt whenever tests/conformance/requirements.txt changes
#   2b. the official Node.js SDKs of tests/conformance/node (npm ci from its package-lock.json):
#      ${ADO_CACHE}/node-conformance-<hash of the lockfile and node version>
#   3. Kubernetes v1.20.2 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, pause)
#      built from Debian's source package (scripts/build-kubernetes.sh), cached in
#      ${ADO_CACHE}/kubernetes-v1.20.2-r3
#   4. the test node's pause image from that pause binary (scripts/pause-image.sh), cached in
#      ${ADO_CACHE}/images
# ADO_CACHE defaults to $HOME/.cache/account-deletion-operator. Network: Debian, PyPI and npm only.
# Prints timings per step; on success the last lines are `export` statements for the caller.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ADO_CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
mkdir -p "$ADO_CACHE"

log() { printf '[setup %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
TIMINGS=()
step_start=0
begin() { step_start=$(date +%s); log "$1"; }
end() { TIMINGS+=("$(printf '%-26s %4ss  %s' "$1" "$(( $(date +%s) - step_start ))" "${2:-}")"); }

# ---------------------------------------------------------------- 1. apt packages
APT_PACKAGES=(etcd-server golang-go rsync make golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev openssl jq
              lua5.4 yamllint prometheus curl ca-certificates python3-venv
              containerd runc buildah musl-tools containernetworking-plugins)
# kubectl for poking at the test node by hand (the demo prints kubectl commands); only when no
# kubectl is installed already (another package may own /usr/bin/kubectl).
command -v kubectl >/dev/null 2>&1 || APT_PACKAGES+=(kubernetes-client)
begin "apt packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$st" == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing apt packages (${missing[*]}) and not root"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q >"$ADO_CACHE/apt-update.log" 2>&1 || { cat "$ADO_CACHE/apt-update.log" >&2; die "apt-get update failed"; }
    # Services (etcd, prometheus) must not be started by the package scripts: tests start their own.
    policy_rc=/usr/sbin/policy-rc.d
    created_policy=0
    if [[ ! -e $policy_rc ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"; chmod +x "$policy_rc"; created_policy=1
    fi
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >"$ADO_CACHE/apt-install.log" 2>&1 \
        || { ((created_policy)) && rm -f "$policy_rc"; tail -n 40 "$ADO_CACHE/apt-install.log" >&2; die "apt-get install failed"; }
    ((created_policy)) && rm -f "$policy_rc"
    # Debian's packages start daemons under systemd only; stop any that came up anyway.
    for svc in etcd prometheus prometheus-node-exporter; do
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
            systemctl stop "$svc" || true
        fi
    done
    end "apt packages" "installed ${#missing[@]}: ${missing[*]}"
else
    end "apt packages" "all ${#APT_PACKAGES[@]} present"
fi
ETCD_BIN="$(command -v etcd || true)"
[[ -x "$ETCD_BIN" ]] || ETCD_BIN=/usr/bin/etcd
[[ -x "$ETCD_BIN" ]] || die "etcd not found after installing etcd-server"
command -v promtool >/dev/null || die "promtool not found after installing prometheus"

# ---------------------------------------------------------------- 2. Python venv
begin "python venv"
REQ="$ROOT/tests/conformance/requirements.txt"
[[ -f "$REQ" ]] || die "$REQ missing"
PY="${ADO_PYTHON:-python3}"
req_hash=$( { sha256sum "$REQ" | cut -c1-16; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
VENV="$ADO_CACHE/venv"
stamp="$VENV/.ado-stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$req_hash" && -x "$VENV/bin/python" ]]; then
    end "python venv" "cached ($req_hash)"
else
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || die "cannot create venv with $PY (install python3-venv)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ" \
        >"$ADO_CACHE/pip.log" 2>&1 || { tail -n 40 "$ADO_CACHE/pip.log" >&2; die "pip install failed"; }
    "$VENV/bin/python" - <<'EOF' || die "venv smoke import failed"
import alibabacloud_ram20150501, alibabacloud_ims20190815, alibabacloud_resourcemanager20200331
import alibabacloud_sts20150401, alibabacloud_tea_openapi, alibabacloud_credentials
import aliyunsdkcore, aliyunsdkram, aliyunsdkresourcemanager, aliyunsdksts, pytest, yaml, helm_python
EOF
    echo "$req_hash" >"$stamp"
    end "python venv" "created ($req_hash)"
fi

# >>> node-conformance: official Node.js SDKs for tests/conformance/node (pinned by its package-lock.json)
begin "node sdk packages"
NODE_DIR="$ROOT/tests/conformance/node"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "node and npm missing and not root"
    { apt-get -o DPkg::Lock::Timeout=600 update -q \
        && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends nodejs npm; } >"$ADO_CACHE/apt-node.log" 2>&1 \
        || { tail -n 20 "$ADO_CACHE/apt-node.log" >&2; die "apt-get install nodejs npm failed"; }
fi
NODE_MODULES_DIR="$ADO_CACHE/node-conformance-$( { sha256sum "$NODE_DIR/package-lock.json" | cut -c1-16; node --version; } | sha256sum | cut -c1-16)"
if [[ -f "$NODE_MODULES_DIR/.ado-stamp" && -d "$NODE_MODULES_DIR/node_modules/@alicloud" ]]; then
    end "node sdk packages" "cached ($(basename "$NODE_MODULES_DIR"))"
else
    rm -rf "$NODE_MODULES_DIR"
    mkdir -p "$NODE_MODULES_DIR"
    cp "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" "$NODE_MODULES_DIR/"
    # --ignore-scripts: the only install script (openapi-core's) picks a TypeScript for Node 10/12 only.
    (cd "$NODE_MODULES_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
        >"$ADO_CACHE/npm.log" 2>&1 || { tail -n 40 "$ADO_CACHE/npm.log" >&2; die "npm ci failed"; }
    NODE_PATH="$NODE_MODULES_DIR/node_modules" node -e 'for (const m of ["@alicloud/pop-core", "@alicloud/openapi-core",
        "@alicloud/ram20150501", "@alicloud/ims20190815", "@alicloud/sts20150401", "@alicloud/resourcemanager20200331"]) require(m)' \
        || die "node sdk smoke require failed"
    touch "$NODE_MODULES_DIR/.ado-stamp"
    end "node sdk packages" "installed ($(basename "$NODE_MODULES_DIR"))"
fi
# <<< node-conformance

# ---------------------------------------------------------------- 3. Kubernetes binaries
begin "kubernetes v1.20.2"
KUBE_BIN_DIR="$ADO_CACHE/kubernetes-v1.20.2-r3"
if [[ -x "$KUBE_BIN_DIR/kubelet" && -x "$KUBE_BIN_DIR/kube-apiserver" && -x "$KUBE_BIN_DIR/pause" ]]; then
    end "kubernetes v1.20.2" "cached"
else
    KUBE_BIN_DIR=$(bash "$ROOT/scripts/build-kubernetes.sh" | tail -n1)
    end "kubernetes v1.20.2" "built"
fi
KUBE_APISERVER_BIN="$KUBE_BIN_DIR/kube-apiserver"
[[ -x "$KUBE_APISERVER_BIN" ]] || die "kube-apiserver binary missing"

# ---------------------------------------------------------------- 4. pause image (test node sandbox)
begin "pause image"
pause_out=$(KUBE_BIN_DIR="$KUBE_BIN_DIR" bash "$ROOT/scripts/pause-image.sh") || die "scripts/pause-image.sh failed"
end "pause image" "$(echo "$pause_out" | sed -n 's/^PAUSE_IMAGE_ARCHIVE=//p' | xargs basename)"

log "summary:"
for t in "${TIMINGS[@]}"; do log "  $t"; done
echo "export ADO_CACHE='$ADO_CACHE'"
echo "export ADO_VENV='$VENV'"
echo "export ETCD_BIN='$ETCD_BIN'"
echo "export KUBE_APISERVER_BIN='$KUBE_APISERVER_BIN'"
echo "export KUBE_BIN_DIR='$KUBE_BIN_DIR'"
echo "export ADO_NODE_MODULES='$NODE_MODULES_DIR/node_modules'"
