#!/usr/bin/env bash
# THE test command (README, CI): bash scripts/test.sh
#
# Stages, fail-fast, each timed:
#   setup      scripts/setup.sh (apt packages, SDK venv, kube-apiserver build; all cached)
#   fmt        cargo fmt --all -- --check
#   clippy     cargo clippy --all-targets -- -D warnings
#   build      cargo build --bins
#   image      the operator image, scripts/build-image.sh (static musl release binary, FROM scratch,
#              buildah, no registry) as a docker-archive for the test node
#   test       cargo test (unit, integration, e2e on a real etcd + kube-apiserver, and on a real
#              one-node cluster with the image in a pod: tests/e2e_node.rs)
#   conformance  the official Alibaba Cloud Python and Node.js SDKs against target/debug/aliyun-emulator
#
# Exported for the tests: KUBE_APISERVER_BIN, ETCD_BIN, ADO_VENV, ADO_CACHE, ADO_BIN_DIR (the built
# binaries), ADO_IMAGE / ADO_IMAGE_ARCHIVE (image stage), ADO_EMULATOR_URL (conformance stage only).
# Options (env): ADO_SKIP_SETUP=1 (reuse an already set-up machine), ADO_STAGES="fmt clippy ..." (subset).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ "${CI:-}" == true ]] && export CARGO_TERM_COLOR=never
export ADO_CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
STAGES="${ADO_STAGES:-setup fmt clippy build image test conformance}"

SUMMARY=()
CURRENT=""
STAGE_START=0
T0=$(date +%s)
EMU_PID=""
EMU_LOG=""

say() { printf '\n==> [test.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
print_summary() {
    echo
    echo "==================== test.sh summary ===================="
    local s
    for s in "${SUMMARY[@]}"; do echo "  $s"; done
    echo "  total: $(( $(date +%s) - T0 )) s"
    echo "========================================================="
}
on_exit() {
    local rc=$?
    if [[ -n "$EMU_PID" ]]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
        EMU_PID=""
    fi
    if [[ -n "$CURRENT" ]]; then
        SUMMARY+=("$(printf '%-12s FAILED  %5ss' "$CURRENT" "$(( $(date +%s) - STAGE_START ))")")
        print_summary
        echo "test.sh: FAILED at stage '$CURRENT' (exit $rc). The first failing stage's output is above." >&2
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

stage() { CURRENT=$1; STAGE_START=$(date +%s); say "stage $1: ${*:2}"; }
done_stage() {
    SUMMARY+=("$(printf '%-12s ok      %5ss%s' "$CURRENT" "$(( $(date +%s) - STAGE_START ))" "${1:+  $1}")")
    CURRENT=""
}
wants() { [[ " $STAGES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- setup
if wants setup && [[ "${ADO_SKIP_SETUP:-}" != 1 ]]; then
    stage setup "scripts/setup.sh"
    exports=$(bash scripts/setup.sh)
    eval "$exports"
    done_stage
else
    # Same exports, from what is already on the machine.
    export ADO_VENV="${ADO_VENV:-$ADO_CACHE/venv}"
    export ETCD_BIN="${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}"
    export KUBE_APISERVER_BIN="${KUBE_APISERVER_BIN:-$ADO_CACHE/kubernetes-v1.20.2-r3/kube-apiserver}"
    export KUBE_BIN_DIR="${KUBE_BIN_DIR:-$ADO_CACHE/kubernetes-v1.20.2-r3}"
    # >>> node-conformance (the same directory scripts/setup.sh installs into)
    if [[ -z "${ADO_NODE_MODULES:-}" ]] && command -v node >/dev/null; then
        ADO_NODE_MODULES="$ADO_CACHE/node-conformance-$( { sha256sum tests/conformance/node/package-lock.json | cut -c1-16; node --version; } | sha256sum | cut -c1-16)/node_modules"
    fi
    export ADO_NODE_MODULES="${ADO_NODE_MODULES:-}"
    # <<< node-conformance
fi
export ADO_CACHE ADO_VENV ETCD_BIN KUBE_APISERVER_BIN KUBE_BIN_DIR ADO_NODE_MODULES
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET_DIR"
export ADO_BIN_DIR="$TARGET_DIR/debug"

# ---------------------------------------------------------------- Rust
if wants fmt; then
    stage fmt "cargo fmt --all -- --check"
    if [[ "${CI:-}" == true ]]; then
        cargo fmt --all -- --check --color never
    else
        cargo fmt --all -- --check
    fi
    done_stage
fi
if wants clippy; then
    stage clippy "cargo clippy --all-targets -- -D warnings"
    cargo clippy --all-targets -- -D warnings
    done_stage
fi
if wants build; then
    stage build "cargo build --bins"
    cargo build --bins
    done_stage
fi
if wants image; then
    stage image "scripts/build-image.sh --archive $TARGET_DIR/image/account-deletion-operator.tar"
    img=$(bash scripts/build-image.sh --archive "$TARGET_DIR/image/account-deletion-operator.tar")
    eval "export ${img//$'\n'/ }"
    done_stage "$ADO_IMAGE, $(du -h "$ADO_IMAGE_ARCHIVE" | cut -f1) archive"
fi
if wants test; then
    stage test "cargo test (KUBE_APISERVER_BIN=$KUBE_APISERVER_BIN ETCD_BIN=$ETCD_BIN ADO_BIN_DIR=$ADO_BIN_DIR)"
    cargo test 2>&1 | tee "$TARGET_DIR/cargo-test.log"
    counts=$(grep -E '^test result:' "$TARGET_DIR/cargo-test.log" \
        | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d ignored", p, f, i}')
    done_stage "$counts"
fi

# ---------------------------------------------------------------- conformance (official SDKs)
if wants conformance; then
    stage conformance "official Alibaba Cloud SDKs vs aliyun-emulator"
    EMU="$ADO_BIN_DIR/aliyun-emulator"
    [[ -x "$EMU" ]] || { echo "no $EMU: the build stage must run first" >&2; exit 1; }
    [[ -x "$ADO_VENV/bin/python" ]] || { echo "no venv at $ADO_VENV: the setup stage must run first" >&2; exit 1; }
    EMU_LOG=$(mktemp -t ado-emulator.XXXXXX.log)
    "$EMU" --listen 127.0.0.1:0 --seed tests/conformance/seed.yaml >"$EMU_LOG" 2>&1 </dev/null &
    EMU_PID=$!
    addr=""
    for _ in $(seq 1 300); do
        addr=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$EMU_LOG" | head -n1 | sed 's/^listening on //' || true)
        [[ -n "$addr" ]] && break
        kill -0 "$EMU_PID" 2>/dev/null || { cat "$EMU_LOG" >&2; echo "aliyun-emulator exited at start" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n "$addr" ]] || { cat "$EMU_LOG" >&2; echo "aliyun-emulator printed no 'listening on' line in 30 s" >&2; exit 1; }
    export ADO_EMULATOR_URL="$addr"
    echo "aliyun-emulator (pid $EMU_PID) at $ADO_EMULATOR_URL, log $EMU_LOG"
    rc=0
    ADO_PY_SUMMARY="$TARGET_DIR/conformance-python.txt" "$ADO_VENV/bin/python" -m pytest tests/conformance -q -p no:cacheprovider -rfE 2>&1 \
        | tee "$TARGET_DIR/conformance.log" || rc=$?
    # >>> node-conformance: the same scenario through the official Node.js SDKs (node --test)
    if ((rc == 0)); then
        [[ -d "${ADO_NODE_MODULES:-}/@alicloud" ]] || { echo "no Node SDKs at '${ADO_NODE_MODULES:-}': the setup stage must run first" >&2; exit 1; }
        say "conformance: Node.js SDKs (pop-core, openapi-core V3 and V1)"
        rm -f "$TARGET_DIR/conformance-node.txt"
        NODE_PATH="$ADO_NODE_MODULES" node --test --test-concurrency=1 \
            --test-reporter=spec --test-reporter-destination=stdout \
            --test-reporter=./tests/conformance/node/reporter.mjs --test-reporter-destination="$TARGET_DIR/conformance-node.txt" \
            tests/conformance/node/ 2>&1 | tee "$TARGET_DIR/conformance-node.log" || rc=$?
    fi
    # <<< node-conformance
    # pipefail gives pytest's status through tee
    kill "$EMU_PID" 2>/dev/null || true
    wait "$EMU_PID" 2>/dev/null || true
    EMU_PID=""
    if ((rc != 0)); then
        echo "--- tail of the emulator log ($EMU_LOG) ---" >&2
        tail -n 40 "$EMU_LOG" >&2
        exit "$rc"
    fi
    rm -f "$EMU_LOG"
    counts="python: $(paste -sd';' "$TARGET_DIR/conformance-python.txt" | sed 's/;/; /g')"
    counts+=" | node: $(paste -sd';' "$TARGET_DIR/conformance-node.txt" | sed 's/;/; /g')"
    echo "conformance per SDK: $counts"
    done_stage "$counts"
fi

print_summary
echo "test.sh: all stages passed"
