#!/usr/bin/env bash
# Stops what scripts/kube-up.sh started (by the PIDs recorded in its directory) and removes the directory.
#   bash scripts/kube-down.sh "$KUBE_DIR"
set -uo pipefail
DIR="${1:-${KUBE_DIR:-}}"
[[ -n "$DIR" && -d "$DIR" ]] || { echo "usage: kube-down.sh KUBE_DIR" >&2; exit 2; }
for name in apiserver etcd; do
    f="$DIR/$name.pid"
    [[ -f "$f" ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
done
case "$DIR" in
    /tmp/ado-kube.*|"${TMPDIR:-/tmp}"/ado-kube.*) rm -rf "$DIR" ;;
    *) echo "kube-down: stopped; left $DIR in place (not a kube-up temp dir)" >&2 ;;
esac
